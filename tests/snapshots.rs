//! The snapshot suite: one insta snapshot per scenario in `scenarios/`, with
//! the verdict of every detector configuration of the default suite (alerts,
//! entities, benign-triggered alerts, latency, the labelled causes behind the
//! alerts) and the SHA-256 and frame count of every tap's capture.
//!
//! A snapshot is a claim: review every changed line before accepting it
//! (`cargo insta review`, or `INSTA_UPDATE=always` then `git diff`). CI runs
//! with `INSTA_UPDATE=no`, so a changed or missing snapshot fails, and
//! `no_unreferenced_snapshots` fails on a snapshot whose scenario is gone.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use scanbench::detect::default_suite;
use scanbench::report::short;
use scanbench::{Outputs, Scenario, ScenarioRun, evaluate};

/// Latency and other times are printed in milliseconds with 3 decimals:
/// virtual time is exact, so they are stable.
fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1e3)
}

/// `class/cause (actor, ...)` per distinct class and cause of an alert's packets.
fn causes(a: &scanbench::score::ScoredAlert) -> String {
    let mut by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in &a.causes {
        let actors = by
            .entry(format!("{}/{}", c.label.class, c.label.cause))
            .or_default();
        actors.push(&c.label.actor);
        actors.sort_unstable();
        actors.dedup();
    }
    by.iter()
        .map(|(k, v)| format!("{k} ({})", v.join(", ")))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn render(run: &ScenarioRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} seed {} duration {}",
        run.scenario,
        run.summary.seed,
        ms(run.truth.duration_us)
    );
    for t in &run.summary.taps {
        let _ = writeln!(
            out,
            "tap {}: {} frames sha256 {}",
            t.name, t.frames, t.sha256
        );
    }
    let base = run.truth.base();
    let _ = writeln!(
        out,
        "truth: scanners [{}], benign sources {}, benign connections {}, sessionless packets {}",
        run.truth
            .scanners
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        run.truth.benign_sources().len(),
        base.benign_connections,
        base.sessionless_packets
    );
    for d in &run.detectors {
        let s = &d.score;
        let _ = write!(out, "\n{}", short(&d.spec));
        if !d.applicable {
            let _ = writeln!(out, ": n/a");
            continue;
        }
        let _ = writeln!(
            out,
            ": alerts {} | tp {} fp {} fn {} | benign-triggered {} | fp alerts {}",
            s.alerts, s.tp, s.fp, s.fn_, s.benign_alerts, s.fp_alerts
        );
        for l in &s.latency {
            let _ = writeln!(
                out,
                "  latency {}: {} / {} probes",
                l.scanner,
                ms(l.micros),
                l.probes.map_or("-".to_string(), |p| p.to_string())
            );
        }
        let mut by: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for a in &d.alerts {
            *by.entry((
                a.alert.kind.to_string(),
                a.alert.scanner.to_string(),
                causes(a),
            ))
            .or_default() += 1;
        }
        for ((kind, scanner, causes), n) in by {
            let _ = writeln!(out, "  {n} x {kind} blaming {scanner}, caused by {causes}");
        }
        if let Some(a) = d.alerts.first() {
            let _ = writeln!(out, "  first: {}", a.alert.evidence.log_line);
        }
    }
    out
}

#[test]
fn verdicts() {
    let specs = default_suite();
    insta::glob!("../scenarios", "*.toml", |path| {
        let sc = Scenario::load(path).unwrap();
        let run = evaluate(&sc, sc.seed, &specs, &Outputs::default()).unwrap();
        insta::assert_snapshot!(render(&run));
    });
}

#[test]
fn no_unreferenced_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenarios: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    let dir = root.join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("snapshots__verdicts@") else {
            continue;
        };
        let scenario = rest.trim_end_matches(".snap");
        assert!(
            scenarios.iter().any(|s| s == scenario),
            "tests/snapshots/{name} belongs to no scenario in scenarios/: delete it"
        );
        assert!(
            !name.ends_with(".snap.new") && !name.ends_with(".pending-snap"),
            "unreviewed snapshot tests/snapshots/{name}"
        );
    }
}
