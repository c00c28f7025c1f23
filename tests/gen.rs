//! `scanbench gen`: the same bytes as `run --pcap` for one repetition, the
//! same bytes for any `--jobs`, repetitions back to back in time, background
//! hosts copied into the subnet, and clear errors. Each test runs the binary.

use std::path::Path;
use std::process::{Command, Output};

use scanbench::capture::CaptureReader;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("scanbench runs")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error of a run that fails with exit `code` (1 bad input, 2 a
/// flag value the scenario cannot take).
fn err(code: i32, args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// Frame times in microseconds.
fn times(path: &str) -> Vec<i64> {
    CaptureReader::open(Path::new(path))
        .unwrap()
        .map(|f| f.unwrap().at().total_micros())
        .collect()
}

/// One repetition is what `run --pcap` writes, capture and labels.
#[test]
fn one_repetition_is_a_run() {
    let d = tempfile::tempdir().unwrap();
    let sc = "scenarios/mixed-office.toml";
    ok(&["gen", sc, "--pcap", &p(d.path(), "g.pcap")]);
    ok(&[
        "run",
        sc,
        "--no-detectors",
        "--pcap",
        &p(d.path(), "r.pcap"),
    ]);
    for f in [
        "perimeter.pcap",
        "gwlog.pcap",
        "perimeter.labels.jsonl",
        "gwlog.labels.jsonl",
    ] {
        let g = std::fs::read(d.path().join(format!("g.{f}"))).unwrap();
        let r = std::fs::read(d.path().join(format!("r.{f}"))).unwrap();
        assert!(!g.is_empty());
        assert!(g == r, "{f} differs from run's");
    }
}

/// Repetitions follow each other, each one scenario duration later and with
/// the next seed; the bytes are the same for any number of jobs.
#[test]
fn repetitions_are_back_to_back_and_independent_of_jobs() {
    let d = tempfile::tempdir().unwrap();
    let sc = "scenarios/syn-scan-t5.toml"; // 60 s
    let one = p(d.path(), "one.pcap");
    ok(&["gen", sc, "--pcap", &one, "--no-labels"]);
    let mut outputs = Vec::new();
    for j in ["1", "3"] {
        let out = p(d.path(), &format!("j{j}.pcap"));
        let printed = ok(&["gen", sc, "--pcap", &out, "--repeat", "4", "-j", j]);
        assert!(printed.contains("sha256"), "{printed}");
        outputs.push((
            std::fs::read(&out).unwrap(),
            std::fs::read(d.path().join(format!("j{j}.labels.jsonl"))).unwrap(),
        ));
    }
    assert!(outputs[0] == outputs[1], "--jobs changed the output");
    let first = times(&one);
    let all = times(&p(d.path(), "j1.pcap"));
    assert!(all.len() > 3 * first.len(), "four scans' worth of frames");
    assert_eq!(
        all[..first.len()],
        first[..],
        "repetition 0 is the scenario"
    );
    assert!(all.windows(2).all(|w| w[0] <= w[1]), "time never goes back");
    for k in 0..4 {
        let in_k = all
            .iter()
            .filter(|&&t| t >= k * 60_000_000 && t < (k + 1) * 60_000_000)
            .count();
        assert!(in_k > 1000, "repetition {k} has its scan: {in_k} frames");
    }
    // Another seed: repetition 1 is not a copy of repetition 0.
    let rep1: Vec<i64> = all
        .iter()
        .filter(|&&t| (60_000_000..120_000_000).contains(&t))
        .map(|t| t - 60_000_000)
        .collect();
    assert_ne!(rep1, first);
    // The labels run on: the last line's frame number is the frame count - 1.
    let labels = String::from_utf8(outputs[0].1.clone()).unwrap();
    let last = labels.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("{{\"frame\":{},", all.len() - 1)),
        "{last}"
    );
}

/// `--hosts` copies client hosts into their subnet, behind the same NAT:
/// more polls on the perimeter, all from the NAT's address, each copy its
/// own actor; `--duration` sets the length.
#[test]
fn hosts_copies_the_background() {
    let d = tempfile::tempdir().unwrap();
    let sc = "scenarios/webmail-poller.toml"; // two pollers behind a NAT
    let base = p(d.path(), "base.pcap");
    let big = p(d.path(), "big.pcap");
    ok(&[
        "gen",
        sc,
        "--pcap",
        &base,
        "--duration",
        "1h",
        "--tap",
        "perimeter",
    ]);
    ok(&[
        "gen",
        sc,
        "--pcap",
        &big,
        "--duration",
        "1h",
        "--tap",
        "perimeter",
        "--hosts",
        "40",
    ]);
    let (b, g) = (times(&base).len(), times(&big).len());
    assert!(
        g > 10 * b,
        "40 pollers make far more frames than 2: {g} vs {b}"
    );
    let labels = std::fs::read_to_string(d.path().join("big.labels.jsonl")).unwrap();
    for actor in [
        "\"laptop\"",
        "\"desktop\"",
        "\"laptop-2\"",
        "\"desktop-20\"",
    ] {
        assert!(labels.contains(actor), "{actor} polls");
    }
    assert!(!labels.contains("\"desktop-21\""), "40 client hosts in all");
    assert!(
        labels.contains("\"src\":\"203.0.113.1\""),
        "copies are translated by the NAT like their originals"
    );
    assert!(
        !labels.contains("\"src\":\"192.0.2."),
        "no inside address on the perimeter"
    );
    // Deterministic.
    let again = p(d.path(), "again.pcap");
    ok(&[
        "gen",
        sc,
        "--pcap",
        &again,
        "--duration",
        "1h",
        "--tap",
        "perimeter",
        "--hosts",
        "40",
    ]);
    assert!(std::fs::read(&big).unwrap() == std::fs::read(&again).unwrap());
}

/// The `bench gen` workload's scenario loads and scales (benchmarks are
/// not run in CI, so this is where a broken file would show).
#[test]
fn the_bench_scenario_scales() {
    let d = tempfile::tempdir().unwrap();
    let out = p(d.path(), "b.pcap");
    let printed = ok(&[
        "gen",
        "bench/gen-office.toml",
        "--pcap",
        &out,
        "--hosts",
        "300",
        "--duration",
        "15m",
        "--no-labels",
    ]);
    assert!(printed.contains("sha256"), "{printed}");
    assert!(
        times(&out).len() > 1000,
        "polls and the scan on the perimeter"
    );
}

#[test]
fn bad_requests_are_named() {
    let d = tempfile::tempdir().unwrap();
    let out = p(d.path(), "x.pcap");
    let e = err(
        2,
        &[
            "gen",
            "scenarios/syn-scan-t5.toml",
            "--pcap",
            &out,
            "--hosts",
            "5",
        ],
    );
    assert!(e.contains("no benign client host"), "{e}");
    let e = err(
        2,
        &[
            "gen",
            "scenarios/webmail-poller.toml",
            "--pcap",
            &out,
            "--hosts",
            "1",
        ],
    );
    assert!(
        e.contains("already has 2 client hosts (laptop, desktop)"),
        "{e}"
    );
    let e = err(
        1,
        &[
            "gen",
            "scenarios/webmail-poller.toml",
            "--pcap",
            &out,
            "--hosts",
            "400",
        ],
    );
    assert!(
        e.contains("webmail-poller.toml:") && e.contains("no free address left in laptop's /24"),
        "{e}"
    );
    let e = err(
        2,
        &[
            "gen",
            "scenarios/webmail-poller.toml",
            "--pcap",
            &out,
            "--tap",
            "nope",
        ],
    );
    assert!(
        e.contains("--tap nope") && e.contains("taps: perimeter, gwlog"),
        "{e}"
    );
    // A bad flag value is a usage error (exit 2), named with its flag.
    let o = run(&[
        "gen",
        "scenarios/webmail-poller.toml",
        "--pcap",
        &out,
        "--duration",
        "soon",
    ]);
    assert_eq!(o.status.code(), Some(2), "usage error");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--duration"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --repeat and --duration are two ways to make it longer: one at a time.
    let o = run(&[
        "gen",
        "scenarios/webmail-poller.toml",
        "--pcap",
        &out,
        "--repeat",
        "2",
        "--duration",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(2), "usage error");
}

/// A disk that fills up stops `gen` with the file named, though the
/// capture is hashed and written on a thread of its own.
#[test]
fn a_full_disk_is_named() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped a_full_disk_is_named: no /dev/full on this machine");
        return;
    }
    let e = err(
        1,
        &[
            "gen",
            "bench/gen-office.toml",
            "--hosts",
            "50",
            "--no-labels",
            "--pcap",
            "/dev/full",
        ],
    );
    assert!(
        e.contains("/dev/full: No space left on device"),
        "stderr: {e}"
    );
}
