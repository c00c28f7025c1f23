//! `scanbench run`: scenarios simulated, captures written, detectors scored.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::detect::DetectorSet;
use scanbench::evaluate::ScenarioRun;
use scanbench::simulate::Outputs;
use scanbench::{Format, Report, Scenario, evaluate};
use scanbench_capture::PcapFormat;

use super::{detector_specs, print_alerts, print_summary, scenario_files};

/// Exit code when `--check` finds a scenario expectation violated.
pub const EXIT_EXPECTATION_FAILED: u8 = 3;

/// `scanbench run`.
#[derive(Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: `scenarios/`).
    paths: Vec<PathBuf>,
    /// Only these scenarios (comma-separated names; `*` matches any text).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Detectors: specs joined by `+`, e.g.
    /// `scanlogd+sfportscan:sense_level=medium` (default: every detector and variant).
    #[arg(long)]
    detectors: Option<String>,
    /// Override every scenario's seed (with --seeds: the first seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run each scenario with this many consecutive seeds and report mean and spread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write captures, labels and the report (report.json, report.csv,
    /// report.md) for every run into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the capture here (one scenario, one seed; per tap: `NAME.<tap>.pcap`);
    /// `-` is standard output. A `.pcapng` name writes pcapng.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write labels (JSON lines) here; default: next to the capture.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Write pcapng with per-packet label comments instead of classic pcap.
    #[arg(long)]
    pcapng: bool,
    /// Nanosecond timestamps (classic pcap or pcapng).
    #[arg(long)]
    nanos: bool,
    /// Skip detectors: simulate and write captures only.
    #[arg(long)]
    no_detectors: bool,
    /// Check each scenario's `[[expect]]` claims; exit 3 if any fails.
    #[arg(long)]
    check: bool,
    /// Parallel runs (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Print per-tap and per-app details for each run.
    #[arg(long, short)]
    verbose: bool,
}

/// `*`-wildcard match of a whole name.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// One (scenario, seed) job.
struct Job<'a> {
    scenario: &'a Scenario,
    seed: u64,
    outputs: Outputs,
}

/// Progress on standard error, only when it is a terminal.
struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            enabled: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, what: &str) {
        self.done += 1;
        if self.enabled {
            let width = 30;
            let filled = width * self.done / self.total.max(1);
            eprint!(
                "\r[{}{}] {}/{} {:<40.40}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.done,
                self.total,
                what
            );
            if self.done == self.total {
                eprint!("\r{:78}\r", "");
            }
            let _ = std::io::stderr().flush();
        }
    }
}

/// `scanbench run`.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        a.paths.clone()
    };
    let files = scenario_files(&paths)?;
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push(Scenario::load(f)?);
    }
    if !a.scenarios.is_empty() {
        for pat in &a.scenarios {
            if !scenarios.iter().any(|s| matches(pat, &s.name)) {
                let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "--scenarios: no scenario matches `{pat}`; known: {}",
                    names.join(", ")
                );
            }
        }
        scenarios.retain(|s| a.scenarios.iter().any(|p| matches(p, &s.name)));
    }
    if scenarios.is_empty() {
        bail!(
            "no scenario files (*.toml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if a.pcap.is_some() && (scenarios.len() > 1 || a.seeds > 1) {
        bail!("--pcap names one capture; with several scenarios or seeds use --out DIR");
    }
    // `--pcap x.pcapng` writes pcapng without being told; `--nanos` applies to both.
    let format = match &a.pcap {
        Some(p) => PcapFormat::for_path(p, a.pcapng, a.nanos),
        None if a.pcapng => PcapFormat::Pcapng { nanos: a.nanos },
        None => PcapFormat::Pcap { nanos: a.nanos },
    };
    // `--pcap -`: the capture owns standard output, everything else goes to stderr.
    let pcap_on_stdout = a.pcap.as_deref().is_some_and(scanbench::simulate::is_stdio);
    let mut specs = if a.no_detectors {
        Vec::new()
    } else {
        detector_specs(&a.detectors)
    };
    if a.check {
        // Every detector an expectation names must run.
        for sc in &scenarios {
            for e in &sc.expectations {
                for d in &e.detectors {
                    if !specs.contains(d) {
                        specs.push(d.clone());
                    }
                }
            }
        }
    }
    // Validate detector specs before simulating anything.
    DetectorSet::new(&specs)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut jobs = Vec::new();
    for sc in &scenarios {
        for k in 0..a.seeds {
            let seed = a.seed.unwrap_or(sc.seed).wrapping_add(k);
            let stem = if a.seeds > 1 {
                format!("{}.seed{seed}", sc.name)
            } else {
                sc.name.clone()
            };
            let pcap = match (&a.pcap, &a.out) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(dir)) => Some(dir.join(format!("{stem}.{}", format.extension()))),
                _ => None,
            };
            jobs.push(Job {
                scenario: sc,
                seed,
                outputs: Outputs {
                    pcap,
                    labels: a.labels.clone(),
                    format,
                },
            });
        }
    }
    let started = WallClock::now();
    let runs = run_jobs(&jobs, &specs, a.jobs)?;
    let wall = started.elapsed();
    // Chatter goes to standard error when standard output carries a
    // machine-readable report.
    let mut chatter: Box<dyn Write> = if a.format == Format::Table && !pcap_on_stdout {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    };
    for r in &runs {
        print_summary(&mut chatter, &r.summary, a.verbose || runs.len() == 1)?;
    }
    writeln!(
        chatter,
        "{} run(s) in {:.2} s wall",
        runs.len(),
        wall.as_secs_f64()
    )?;
    let report = Report { specs, runs };
    if !a.no_detectors {
        if report.runs.len() == 1 && a.format == Format::Table {
            print_alerts(&mut chatter, &report.runs[0])?;
        }
        drop(chatter);
        if pcap_on_stdout {
            eprint!("\n{}", report.render(a.format));
        } else {
            if a.format == Format::Table {
                println!();
            }
            print!("{}", report.render(a.format));
        }
    }
    if let Some(dir) = &a.out
        && !a.no_detectors
    {
        for (name, f) in [
            ("report.json", Format::Json),
            ("report.csv", Format::Csv),
            ("report.md", Format::Markdown),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, report.render(f))
                .with_context(|| format!("writing {}", p.display()))?;
        }
    }
    if a.check {
        let failures = check(&scenarios, &report);
        if failures > 0 {
            eprintln!("{failures} expectation(s) failed");
            return Ok(ExitCode::from(EXIT_EXPECTATION_FAILED));
        }
        eprintln!("all expectations hold");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every job on `jobs` threads (default: the cores), keeping job order.
fn run_jobs(
    jobs: &[Job<'_>],
    specs: &[String],
    threads: Option<usize>,
) -> anyhow::Result<Vec<ScenarioRun>> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut results: Vec<Option<scanbench::Result<ScenarioRun>>> =
        (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = evaluate(job.scenario, job.seed, specs, &job.outputs);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut progress = Progress::new(jobs.len());
        for (i, r) in rx {
            progress.tick(&format!("{} seed {}", jobs[i].scenario.name, jobs[i].seed));
            results[i] = Some(r);
        }
    });
    let mut out = Vec::with_capacity(jobs.len());
    for r in results {
        out.push(r.context("a run did not finish")??);
    }
    Ok(out)
}

/// Checks every scenario's expectations against its runs; prints failures.
fn check(scenarios: &[Scenario], report: &Report) -> usize {
    let mut failures = 0;
    for sc in scenarios {
        for run in report.runs.iter().filter(|r| r.file == sc.path) {
            for e in &sc.expectations {
                for msg in scanbench::check::check(e, run) {
                    failures += 1;
                    eprintln!(
                        "{}:{}: seed {}: \"{}\": {msg}",
                        sc.path.display(),
                        e.line,
                        run.summary.seed,
                        e.claim
                    );
                }
            }
        }
    }
    failures
}
