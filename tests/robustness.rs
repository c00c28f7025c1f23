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

/// A budget stops a run within a piece of work past it, also when the
/// traffic starts after a long idle time (the simulator's slices had grown
/// to seconds, and a full-port connect scan starting inside one sent 10x the
/// budget before it was checked: two fuzz findings).
#[test]
fn packet_budget_holds_when_a_scan_starts_after_idle_time() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/findings/scenarios");
    for name in [
        "scenario-budget-overshoot-allports.toml",
        "scenario-budget-overshoot-late-start.toml",
    ] {
        let file = dir.join(name);
        let o = scanbench(&[
            "run",
            file.to_str().expect("utf-8"),
            "--max-packets",
            "20000",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        let sent: u64 = err
            .split(" packets sent, more than --max-packets 20000")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {err}"));
        // Budgets are checked every 1,000 simulator events.
        assert!(
            (20_000..=22_000).contains(&sent),
            "{name}: {sent} packets: {err}"
        );
    }
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
        write_flood(path, n, |x| (x >> 32) as u32 | 0x0100_0000, None);
    }

    /// SYNs as [`syn_flood`] writes them, from the source `source` gives
    /// for each random number, and with `labels` the labels file `run`
    /// would write: sources ending in .64 `background`, benign, `noise`, the
    /// others `flood`, malicious, `scan`.
    fn write_flood(
        path: &std::path::Path,
        n: u32,
        source: fn(u64) -> u32,
        labels: Option<&std::path::Path>,
    ) {
        use scanbench::capture::{Class, Label};
        use scanbench::labels::{LabelRecord, PacketSummary};
        let scan = Label::new("flood", Class::Malicious, "scan");
        let noise = Label::new("background", Class::Benign, "noise");
        let mut lines = labels
            .map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("create labels")));
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
            p[12..16].copy_from_slice(&source(x).to_be_bytes());
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
            if let Some(w) = lines.as_mut() {
                let src = std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&p[12..16]).expect("4"));
                let dport = u16::from_be_bytes([p[22], p[23]]);
                let record = LabelRecord {
                    frame: u64::from(i),
                    tap: "perimeter",
                    time_us: i64::from(i),
                    packet: Some(PacketSummary {
                        protocol: 6,
                        src,
                        dst: std::net::Ipv4Addr::new(198, 51, 100, p[19]),
                        ports: Some((40000, dport)),
                        tcp_flags: Some("S".into()),
                    }),
                    label: if src.octets()[3] == 64 { &noise } else { &scan },
                };
                w.write_all(record.line().as_bytes()).expect("label");
            }
        }
        f.flush().expect("flush");
        if let Some(mut w) = lines {
            w.flush().expect("flush labels");
        }
    }

    /// `scanbench replay FILE ARGS` under an address-space limit of `bytes`:
    /// a run whose memory grew past it would fail to allocate and abort.
    fn replay_within(file: &std::path::Path, args: &[&str], bytes: u64) -> std::process::Output {
        Command::new("prlimit")
            .arg(format!("--as={bytes}"))
            .arg(env!("CARGO_BIN_EXE_scanbench"))
            .args(["replay", file.to_str().expect("utf-8"), "--threads", "1"])
            .args(args)
            .args(["--format", "json"])
            .output()
            .expect("prlimit runs")
    }

    fn prlimit_missing() -> bool {
        let missing = Command::new("prlimit").arg("--version").output().is_err();
        if missing {
            println!("skipped: prlimit (util-linux) is not installed");
        }
        missing
    }

    /// 10^6 random-source SYNs replay through scanlogd in 160 MiB of address
    /// space (its table is fixed; the ground truth keeps about 12 bytes per
    /// source without labels). Before the fix this took 245 MB of memory.
    #[test]
    fn a_million_random_sources_replay_in_bounded_memory() {
        if prlimit_missing() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("flood.pcap");
        syn_flood(&file, 1_000_000);
        let o = replay_within(&file, &["--detectors", "scanlogd"], 160 << 20);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["runs"][0]["taps"][0]["frames"], 1_000_000);
    }

    /// 10^6 SYNs from eight sources replay with their labels file (about 200
    /// bytes a line, 190 MiB) through scanlogd in 96 MiB of address space:
    /// the file is read as a stream beside the capture, its labels interned.
    /// Reading it whole, as replay did before, held the text and about 150
    /// bytes per frame: over 300 MiB. (Eight sources keep the labelled
    /// ground truth small: 12 bytes per frame; random sources would make it
    /// hold a benign connection per frame, see docs/robustness.md.)
    #[test]
    fn a_million_labelled_frames_replay_in_bounded_memory() {
        if prlimit_missing() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (file, labels) = (
            dir.path().join("flood.pcap"),
            dir.path().join("flood.labels.jsonl"),
        );
        // 203.0.113.64-71.
        let eight = |x: u64| 0xcb00_7140 | (x >> 32) as u32 & 7;
        write_flood(&file, 1_000_000, eight, Some(&labels));
        assert!(std::fs::metadata(&labels).expect("labels").len() > 96 << 20);
        let o = replay_within(&file, &["--detectors", "scanlogd"], 96 << 20);
        let v = report(&o);
        assert_eq!(v["runs"][0]["taps"][0]["frames"], 1_000_000);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("found next to the capture"), "{err}");
        // The scanners come from the labels: every source but .64.
        let scanners = &v["runs"][0]["truth"]["scanners"];
        let expected: Vec<String> = (65..72).map(|i| format!("203.0.113.{i}")).collect();
        assert_eq!(scanners, &serde_json::json!(expected));
    }

    /// Address space a replay needs besides its detectors' state: the
    /// binary's mappings, stacks, allocator arenas, the reader's buffers,
    /// the report, and an unlabelled ground truth (about 12 bytes per
    /// source, at most 2^20 sources). A replay through scanlogd alone (a
    /// 176 kB table) runs in 48 MiB.
    const BASE_ADDRESS_SPACE: u64 = 64 << 20;

    /// Random-source SYNs flood every default configuration, at both vantage
    /// points (the wire, and as a drop log for psad): each replay runs in an
    /// address space of the sum of its applicable detectors' memcaps plus
    /// [`BASE_ADDRESS_SPACE`], each detector's peak stays under its memcap,
    /// and the table-based ones evict (their caps bind). 10^5 SYNs by default
    /// (about 30 s of CPU in a debug build); `SCANBENCH_FLOOD_SYNS=1000000`
    /// runs the full flood.
    #[test]
    fn a_flood_through_every_default_detector_stays_within_their_memcaps() {
        if prlimit_missing() {
            return;
        }
        let n: u32 = std::env::var("SCANBENCH_FLOOD_SYNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let dir = tempfile::tempdir().expect("temp dir");
        let (small, file) = (dir.path().join("small.pcap"), dir.path().join("flood.pcap"));
        syn_flood(&small, 100);
        syn_flood(&file, n);
        for (vantage, evicting) in [
            (
                &[][..],
                &[
                    "scanlogd",
                    "trw",
                    "trw-packet",
                    "zeek-scan",
                    "bro1-scan",
                    "sfportscan",
                ][..],
            ),
            (&["--drop-log"][..], &[][..]),
        ] {
            // Memcaps follow from the configuration alone: read them off a
            // replay of a few packets.
            let caps: u64 = applicable(&report(&replay_within(&small, vantage, u64::MAX)))
                .map(|d| d["memory"]["memcap_bytes"].as_u64().expect("memcap"))
                .sum();
            let limit = caps + BASE_ADDRESS_SPACE;
            let v = report(&replay_within(&file, vantage, limit));
            assert_eq!(v["runs"][0]["taps"][0]["frames"], n);
            for d in applicable(&v) {
                let m = &d["memory"];
                let spec = d["spec"].as_str().expect("spec");
                assert!(
                    m["peak_bytes"].as_u64() <= m["memcap_bytes"].as_u64(),
                    "{spec}: {m}"
                );
                let name = spec.split(':').next().unwrap_or(spec);
                if evicting.contains(&name) && n >= 50_000 {
                    assert!(
                        m["evictions"].as_u64() > Some(0),
                        "{spec} never evicted: {m}"
                    );
                }
            }
            println!("{vantage:?}: {n} SYNs in {limit} bytes of address space ({caps} of memcaps)");
        }
    }

    /// The JSON report of a replay that must have succeeded.
    fn report(o: &std::process::Output) -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("json")
    }

    /// The detectors of `v`'s run that had a sensor to read.
    fn applicable(v: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
        v["runs"][0]["detectors"]
            .as_array()
            .expect("detectors")
            .iter()
            .filter(|d| d["applicable"] == true)
    }
}
