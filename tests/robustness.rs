//! Robustness properties of whole runs: budgets end a run cleanly with what
//! it produced flushed.
//!
//! See: issue 16 (robustness).

use std::path::Path;
use std::process::Command;

use scanbench::capture::CaptureReader;

fn scanbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scanbench runs")
}

/// A run past `--max-packets` exits 1 naming the file and the budget, and
/// the capture and labels written up to there are complete and agree.
#[test]
fn packet_budget_stops_a_run_and_flushes_its_capture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pcap = dir.path().join("t.pcap");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/syn-scan-t2.toml");
    let o = scanbench(&[
        "run",
        scenario.to_str().expect("utf-8"),
        "--max-packets",
        "100",
        "--pcap",
        pcap.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("syn-scan-t2.toml: run stopped at")
            && err.contains("more than --max-packets 100"),
        "{err}"
    );
    let mut frames = 0;
    for f in CaptureReader::open(&pcap).expect("capture readable") {
        f.expect("no damage");
        frames += 1;
    }
    let labels = std::fs::read_to_string(dir.path().join("t.labels.jsonl")).expect("labels");
    assert!(frames > 0);
    assert_eq!(
        frames,
        labels.lines().count(),
        "one label per frame written"
    );
    // The full run has 2002 frames: the budget cut it short.
    assert!(frames < 2002, "{frames}");
}

mod truncation {
    use std::path::Path;

    use proptest::prelude::*;
    use scanbench::Scenario;
    use scanbench::replay::{ReplayOptions, replay_capture};
    use scanbench::simulate::{Outputs, simulate};
    use scanbench_detector::Alert;

    /// A classic pcap of a suite scenario, and the byte offsets where its
    /// records end.
    fn capture() -> (Vec<u8>, Vec<usize>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.pcap");
        let sc = Scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/web-and-scan.toml"),
        )
        .expect("suite scenario");
        let out = Outputs {
            pcap: Some(path.clone()),
            ..Outputs::default()
        };
        simulate(&sc, sc.seed, &out, &mut ()).expect("simulates");
        let bytes = std::fs::read(&path).expect("capture");
        let mut ends = vec![24];
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
            at += 16 + caplen as usize;
            ends.push(at);
        }
        (bytes, ends)
    }

    /// Alerts of every detector of a replay of `bytes`, and whether it was cut short.
    fn replay(bytes: &[u8]) -> (Vec<Vec<Alert>>, Option<String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cut.pcap");
        std::fs::write(&path, bytes).expect("write");
        let opts = ReplayOptions {
            specs: vec!["scanlogd".into(), "sfportscan".into(), "zeek-scan".into()],
            ..ReplayOptions::default()
        };
        let r = replay_capture(&path, &opts).expect("header intact");
        let alerts = r
            .run
            .detectors
            .iter()
            .map(|d| d.alerts.iter().map(|a| a.alert.clone()).collect())
            .collect();
        (alerts, r.run.input_error.clone())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Replaying a capture cut at any byte gives exactly the alerts of
        /// replaying the records before the cut, and says it was cut short
        /// (naming the byte offset) unless the cut fell on a record boundary.
        #[test]
        fn a_cut_capture_gives_the_alerts_of_its_complete_records(frac in 0.0f64..1.0) {
            let (bytes, ends) = capture();
            let cut = 24 + ((bytes.len() - 24) as f64 * frac) as usize;
            let whole = *ends.iter().filter(|e| **e <= cut).max().expect("header");
            let (cut_alerts, cut_error) = replay(&bytes[..cut]);
            let (whole_alerts, whole_error) = replay(&bytes[..whole]);
            prop_assert_eq!(cut_alerts, whole_alerts);
            prop_assert!(whole_error.is_none());
            if cut == whole {
                prop_assert!(cut_error.is_none());
            } else {
                let e = cut_error.expect("cut short");
                prop_assert!(e.contains(&format!("byte offset {whole}")), "{}", e);
            }
        }
    }
}

mod flood {
    use std::io::Write;
    use std::process::Command;

    /// A classic pcap (raw IPv4) of `n` SYNs from uniformly random sources
    /// to random ports of 198.51.100.0/24, 1 µs apart.
    fn syn_flood(path: &std::path::Path, n: u32) {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
        let mut hdr = Vec::new();
        hdr.extend(0xa1b2_c3d4u32.to_le_bytes());
        hdr.extend(2u16.to_le_bytes());
        hdr.extend(4u16.to_le_bytes());
        hdr.extend([0u8; 8]);
        hdr.extend(65535u32.to_le_bytes());
        hdr.extend(101u32.to_le_bytes()); // LINKTYPE_RAW
        f.write_all(&hdr).expect("header");
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut p = [0u8; 40];
            p[..4].copy_from_slice(&[0x45, 0, 0, 40]);
            p[8] = 64;
            p[9] = 6;
            p[12..16].copy_from_slice(&((x >> 32) as u32 | 0x0100_0000).to_be_bytes());
            p[16..20].copy_from_slice(&[198, 51, 100, x as u8]);
            p[20..22].copy_from_slice(&40000u16.to_be_bytes());
            p[22..24].copy_from_slice(&((x >> 8) as u16 | 1).to_be_bytes());
            p[32] = 0x50;
            p[33] = 0x02;
            let (s, us) = (i / 1_000_000, i % 1_000_000);
            let mut rec = Vec::with_capacity(56);
            for v in [s, us, 40, 40] {
                rec.extend(v.to_le_bytes());
            }
            rec.extend(p);
            f.write_all(&rec).expect("record");
        }
        f.flush().expect("flush");
    }

    /// `scanbench replay` under an address-space limit of `mib` MiB: a run
    /// whose memory grew with the capture would fail to allocate and abort.
    fn replay_within(file: &std::path::Path, detectors: &str, mib: u64) -> std::process::Output {
        Command::new("prlimit")
            .arg(format!("--as={}", mib << 20))
            .arg(env!("CARGO_BIN_EXE_scanbench"))
            .args(["replay", file.to_str().expect("utf-8"), "--threads", "1"])
            .args(["--detectors", detectors, "--format", "json"])
            .output()
            .expect("prlimit runs")
    }

    /// 10^6 random-source SYNs replay through scanlogd in 160 MiB of address
    /// space (its table is fixed; the ground truth keeps about 12 bytes per
    /// source without labels). Before the fix this took 245 MB of memory.
    #[test]
    fn a_million_random_sources_replay_in_bounded_memory() {
        if Command::new("prlimit").arg("--version").output().is_err() {
            println!("skipped: prlimit (util-linux) is not installed");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("flood.pcap");
        syn_flood(&file, 1_000_000);
        let o = replay_within(&file, "scanlogd", 160);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["runs"][0]["taps"][0]["frames"], 1_000_000);
    }
}
