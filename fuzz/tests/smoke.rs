//! The CI smoke of every fuzz target: a bounded number of seeded cases each
//! (a few seconds), built with the overflow checks `cargo test` uses, so an
//! arithmetic overflow is a finding. Long runs: `docs/robustness.md`.
//!
//! See: issue 16 (robustness).

use std::path::Path;
use std::time::Duration;

use scanbench_fuzz::{Corpus, Target, run};

fn smoke(target: Target, cases: u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = Corpus::load(&root);
    assert!(!corpus.captures.is_empty() && !corpus.log_lines.is_empty());
    assert!(!corpus.scenarios.is_empty());
    // The seed varies with nothing: CI reruns the same inputs.
    let s = run(target, &corpus, 16, cases, Duration::from_secs(120));
    assert!(s.inputs > 0);
    for f in &s.findings {
        eprintln!(
            "{} case {}: {}\n{}",
            target.name(),
            f.case,
            f.what,
            String::from_utf8_lossy(&f.input[..f.input.len().min(2000)])
        );
    }
    assert!(s.findings.is_empty(), "{} findings", s.findings.len());
}

#[test]
fn packets_through_every_detector() {
    smoke(Target::Packets, 300);
}

#[test]
fn captures() {
    smoke(Target::Capture, 600);
}

#[test]
fn iptables_logs() {
    smoke(Target::Iptables, 5000);
}

#[test]
fn scenario_files() {
    smoke(Target::Scenario, 200);
}
