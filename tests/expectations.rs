//! The claims in the scenario files (`[[expect]]`) hold: they must survive
//! any snapshot update. A failing claim names the file, the line and the
//! detector.

use std::path::Path;

use scanbench::detect::default_suite;
use scanbench::{Outputs, Scenario, evaluate};

fn scenario_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_states_claims_and_they_hold() {
    let mut failures = Vec::new();
    for path in scenario_files() {
        let sc = Scenario::load(&path).unwrap();
        assert!(
            !sc.expectations.is_empty(),
            "{}: no [[expect]] claims",
            path.display()
        );
        let mut specs = default_suite();
        for e in &sc.expectations {
            for d in &e.detectors {
                if !specs.contains(d) {
                    specs.push(d.clone());
                }
            }
        }
        let run = evaluate(&sc, sc.seed, &specs, &Outputs::default()).unwrap();
        for e in &sc.expectations {
            for msg in scanbench::check::check(e, &run) {
                failures.push(format!(
                    "{}:{}: \"{}\": {msg}",
                    path.display(),
                    e.line,
                    e.claim
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The checker is not vacuous: claims that contradict the verdicts fail,
/// each with a message naming the detector.
#[test]
fn contradicting_claims_fail() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/syn-scan-t0.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n[[expect]]\nclaim = \"wrong\"\ndetectors = [\"scanlogd\", \"portsentry\"]\n\
         flags_scanners = true\nwithin_probes = 0\nmax_alerts = 0\nmin_fp = 1\n",
    );
    let sc = Scenario::parse(&path, text).unwrap();
    let wrong = sc.expectations.last().unwrap();
    let run = evaluate(&sc, sc.seed, &wrong.detectors, &Outputs::default()).unwrap();
    let msgs = scanbench::check::check(wrong, &run);
    for needle in [
        "scanlogd: 1 of 1 scanner(s) not flagged",
        "scanlogd: flagged 0 benign source(s) (expected >= 1)",
        "portsentry: flagged 203.0.113.66 after",
        "portsentry: 2 alerts (expected <= 0)",
    ] {
        assert!(
            msgs.iter().any(|m| m.starts_with(needle)),
            "{needle:?} not in {msgs:#?}"
        );
    }
}

#[test]
fn a_bad_claim_names_file_line_and_field() {
    let text =
        "seed = 1\nduration = \"1s\"\n\n[[expect]]\nclaim = \"x\"\ndetectors = [\"nosuch\"]\n";
    let e = Scenario::parse(Path::new("c.toml"), text.to_string()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("c.toml:6: `expect.detectors`") && msg.contains("unknown detector"),
        "{msg}"
    );
    let text = "seed = 1\nduration = \"1s\"\n\n[[expect]]\nclaim = \"x\"\ndetectors = [\"scanlogd\"]\nwithin_probes = 3\n";
    let msg = Scenario::parse(Path::new("c.toml"), text.to_string())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("flags_scanners"), "{msg}");
}
