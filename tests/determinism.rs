//! Property: for random seeds and small random scenarios, two runs give
//! byte-identical captures and labels, a different seed changes them (ISNs and
//! ephemeral ports are seeded), and no run panics.

use std::path::Path;

use proptest::prelude::*;
use scanbench::simulate::{Outputs, TapSummary};
use scanbench::{Scenario, simulate};

fn scenario_text(clients: usize, ports: &str, timing: u8, loss: f64, jitter_ms: u32) -> String {
    let mut s = format!(
        "seed = 1\nduration = \"20s\"\n\n[[host]]\nname = \"server\"\naddr = \"198.51.100.10\"\ndrop_ports = [22]\n\n\
         [[host]]\nname = \"scanner\"\naddr = \"203.0.113.66\"\n\n[[router]]\nname = \"r\"\n\n\
         [[link]]\nbetween = [\"r\", \"server\"]\nloss = {loss}\njitter = \"{jitter_ms}ms\"\n\n\
         [[link]]\nbetween = [\"scanner\", \"r\"]\n\n[[tap]]\nname = \"t\"\nlink = [\"r\", \"server\"]\n\n\
         [[web-server]]\nhost = \"server\"\n\n\
         [[syn-scan]]\nhost = \"scanner\"\ntargets = [\"198.51.100.10\"]\nports = \"{ports}\"\ntiming = \"T{timing}\"\n"
    );
    for i in 0..clients {
        s.push_str(&format!(
            "\n[[host]]\nname = \"c{i}\"\naddr = \"192.0.2.{}\"\n\n[[link]]\nbetween = [\"c{i}\", \"r\"]\n\n\
             [[poller]]\nhost = \"c{i}\"\nserver = \"198.51.100.10\"\nevery = \"2s..5s\"\n",
            i + 10
        ));
    }
    s
}

fn run(text: &str, seed: u64) -> (Vec<TapSummary>, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let sc = Scenario::parse(Path::new("prop.toml"), text.to_string()).unwrap();
    let pcap = dir.path().join("x.pcap");
    let out = Outputs {
        pcap: Some(pcap.clone()),
        ..Outputs::default()
    };
    let summary = simulate(&sc, seed, &out, &mut ()).unwrap();
    let labels = std::fs::read_to_string(dir.path().join("x.labels.jsonl")).unwrap();
    (summary.taps, std::fs::read(pcap).unwrap(), labels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn same_seed_same_bytes(seed in any::<u64>(), clients in 0usize..4, timing in 3u8..=5,
                            loss in prop_oneof![Just(0.0), Just(0.05)], jitter in 0u32..3,
                            ports in prop_oneof![Just("20-30,80"), Just("1-100")]) {
        let text = scenario_text(clients, ports, timing, loss, jitter);
        let a = run(&text, seed);
        let b = run(&text, seed);
        prop_assert_eq!(&a.1, &b.1);
        prop_assert_eq!(&a.2, &b.2);
        // Every frame has a label line.
        prop_assert_eq!(a.2.lines().count() as u64, a.0[0].frames);
        let c = run(&text, seed.wrapping_add(1));
        prop_assert_ne!(&a.1, &c.1, "another seed must change ISNs, ports and probe order");
    }
}

/// The JSON report of one evaluation of `text` with `seed` through every detector.
fn report(text: &str, seed: u64) -> (scanbench::ScenarioRun, String) {
    let sc = Scenario::parse(Path::new("prop.toml"), text.to_string()).unwrap();
    let specs = scanbench::detect::default_suite();
    let run = scanbench::evaluate(&sc, seed, &specs, &Outputs::default()).unwrap();
    let json = scanbench::Report {
        specs,
        runs: vec![run.clone()],
    }
    .render(scanbench::Format::Json);
    (run, json)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Same seed, same report; and the scoring counts add up for every
    /// detector: TP + FN = scanners, FP <= benign sources, flagged = TP + FP,
    /// benign-triggered and FP alerts <= alerts, latency only for flagged
    /// scanners, and every frame a detector read has a label.
    #[test]
    fn reports_repeat_and_counts_add_up(seed in any::<u64>(), clients in 0usize..4,
                                        timing in 3u8..=5,
                                        ports in prop_oneof![Just("20-30,80"), Just("1-100")]) {
        let text = scenario_text(clients, ports, timing, 0.0, 0);
        let (run, json) = report(&text, seed);
        let (_, again) = report(&text, seed);
        prop_assert_eq!(&json, &again);
        let truth = &run.truth;
        for i in 0..truth.wire.frames() {
            prop_assert!(truth.label(scanbench_detector::Vantage::Wire, i).is_some(), "frame {i} unlabelled");
        }
        prop_assert_eq!(truth.wire.frames(), run.summary.taps[0].frames);
        for d in &run.detectors {
            let s = &d.score;
            prop_assert_eq!(s.tp + s.fn_, s.scanners, "{}", d.spec);
            prop_assert!(s.fp <= s.benign_sources, "{}", d.spec);
            prop_assert_eq!(s.flagged, s.tp + s.fp, "{}", d.spec);
            prop_assert!(s.benign_alerts <= s.alerts && s.fp_alerts <= s.alerts, "{}", d.spec);
            prop_assert_eq!(s.latency.len() as u64, s.tp, "{}", d.spec);
            prop_assert_eq!(s.alerts, d.alerts.len() as u64);
        }
    }
}

/// Every scenario of the suite gives byte-identical captures (per-tap
/// SHA-256) and an identical JSON report when run twice with its seed.
#[test]
fn every_suite_scenario_repeats_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let seed = Scenario::parse(&path, text.clone()).unwrap().seed;
        let (a, ja) = report(&text, seed);
        let (b, jb) = report(&text, seed);
        let hashes = |r: &scanbench::ScenarioRun| {
            r.summary
                .taps
                .iter()
                .map(|t| t.sha256.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(hashes(&a), hashes(&b), "{}", path.display());
        assert_eq!(ja, jb, "{}", path.display());
        n += 1;
    }
    assert!(n >= 16, "only {n} scenarios found");
}
