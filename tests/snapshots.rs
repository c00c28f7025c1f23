//! The snapshot suite: one insta snapshot per scenario in `scenarios/`, with
//! the verdict of every detector configuration of the default suite (alerts,
//! entities, benign-triggered alerts, latency, the labelled causes behind the
//! alerts) and the SHA-256 and frame count of every tap's capture.
//!
//! A snapshot is a claim: review every changed line before accepting it
//! (`cargo insta review`, or `INSTA_UPDATE=always` then `git diff`). CI runs
//! with `INSTA_UPDATE=no`, so a changed or missing snapshot fails, and
//! `no_unreferenced_snapshots` fails on a snapshot whose scenario is gone.

use std::path::Path;

use scanbench::detect::default_suite;
use scanbench::report;
use scanbench::{Outputs, Scenario, evaluate};

#[test]
fn verdicts() {
    let specs = default_suite();
    insta::glob!("../scenarios", "*.toml", |path| {
        let sc = Scenario::load(path).unwrap();
        let run = evaluate(&sc, sc.seed, &specs, &Outputs::default()).unwrap();
        insta::assert_snapshot!(report::verdicts(&run));
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
