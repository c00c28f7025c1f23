//! `scanbench-fuzz TARGET [--cases N] [--seed S] [--minutes M] [--out DIR]
//! [--run-captures]`:
//! a long seeded mutation run of one target (`packets`, `capture`,
//! `iptables`, `scenario`, or `all`); prints inputs, inputs/s and findings,
//! and writes each finding's input to `DIR` (default `fuzz-findings/`).
//! `--run-captures` adds the captures `run` writes for the suite's
//! scenarios to the capture seeds. Exit 1 when anything was found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use scanbench_fuzz::{Corpus, Target, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut targets = Vec::new();
    let (mut cases, mut seed, mut minutes) = (1_000u64, 1u64, 60u64);
    let mut out = PathBuf::from("fuzz-findings");
    let mut run_captures = false;
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--cases" => cases = val(i).parse().unwrap_or(cases),
            "--seed" => seed = val(i).parse().unwrap_or(seed),
            "--minutes" => minutes = val(i).parse().unwrap_or(minutes),
            "--out" => out = PathBuf::from(val(i)),
            "all" => targets.extend(Target::ALL),
            "--run-captures" => run_captures = true,
            t => match Target::parse(t) {
                Some(t) => targets.push(t),
                None => {
                    eprintln!(
                        "usage: scanbench-fuzz packets|capture|iptables|scenario|all [--cases N] [--seed S] [--minutes M] [--out DIR] [--run-captures]"
                    );
                    return ExitCode::from(2);
                }
            },
        }
        i += if args[i].starts_with("--") && args[i] != "--run-captures" {
            2
        } else {
            1
        };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut corpus = Corpus::load(&root);
    if run_captures {
        corpus.add_suite_captures(&root);
        println!("{} capture seeds", corpus.captures.len());
    }
    let mut found = 0;
    for t in targets {
        let s = run(t, &corpus, seed, cases, Duration::from_secs(minutes * 60));
        let rate = s.inputs as f64 / s.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{}: {} inputs in {:.1} s ({:.0} inputs/s), {} scenarios accepted, {} findings (seed {seed})",
            t.name(),
            s.inputs,
            s.elapsed.as_secs_f64(),
            rate,
            s.accepted,
            s.findings.len()
        );
        if let Some((_, f)) = &s.slowest {
            let _ = std::fs::create_dir_all(&out);
            let p = out.join(format!("slowest-{}-{seed}-{}.bin", t.name(), f.case));
            let _ = std::fs::write(&p, &f.input);
            println!("  slowest: case {}, {} ({})", f.case, f.what, p.display());
        }
        for f in &s.findings {
            found += 1;
            let _ = std::fs::create_dir_all(&out);
            let p = out.join(format!("{}-{seed}-{}.bin", t.name(), f.case));
            let _ = std::fs::write(&p, &f.input);
            println!("  case {}: {} ({})", f.case, f.what, p.display());
        }
    }
    if found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
