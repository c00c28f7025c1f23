//! Capture handling on the command line: replay threads, standard input and
//! output, compressed captures, labels files beside captures, formats picked
//! by extension. Each test runs the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scanbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("scanbench runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `run SCENARIO --pcap DIR/NAME` (plus `extra`), asserting success.
fn capture(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let pcap = dir.join(name);
    let mut args = vec!["run", "--no-detectors", "--pcap", pcap.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--scenarios");
    args.push("web-and-scan");
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    pcap
}

/// A replay's report does not depend on how many threads run the detectors.
#[test]
fn replay_threads_give_identical_reports() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "t.pcap", &[]);
    let labels = dir.path().join("t.labels.jsonl");
    let json = |threads: &str| {
        let o = run(&[
            "replay",
            pcap.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--threads",
            threads,
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let one = json("1");
    assert!(one.contains("\"alerts\""), "{one}");
    for t in ["2", "3", "16"] {
        assert_eq!(one, json(t), "--threads {t}");
    }
    let o = run(&["replay", pcap.to_str().unwrap(), "--threads", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scanbench runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Feed from another thread so a full stdout pipe cannot deadlock us.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Every detector's alerts and score, without the input's name.
fn verdicts(v: &serde_json::Value) -> serde_json::Value {
    v["runs"][0]["detectors"].clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `cat x.pcap | scanbench replay -` reads standard input, as tcpdump does.
#[test]
fn replay_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "s.pcap", &[]);
    let labels = dir.path().join("s.labels.jsonl");
    let args = |input: &str| {
        vec![
            "replay".to_string(),
            input.to_string(),
            "--labels".into(),
            labels.to_str().unwrap().into(),
            "--detectors".into(),
            "scanlogd+screenos".into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let a: Vec<String> = args(pcap.to_str().unwrap());
    let from_file = json(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let a = args("-");
    let bytes = std::fs::read(&pcap).unwrap();
    let from_stdin = json(&run_stdin(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &bytes,
    ));
    assert_eq!(verdicts(&from_file), verdicts(&from_stdin));
    assert_eq!(from_stdin["runs"][0]["scenario"], "stdin");
    // The digest is of the bytes read, computed on the fly for a pipe too.
    assert_eq!(
        from_stdin["runs"][0]["taps"][0]["sha256"],
        sha256_hex(&bytes)
    );
    assert_eq!(
        from_file["runs"][0]["taps"][0]["sha256"],
        sha256_hex(&bytes)
    );
}

/// `run --pcap -` writes the capture to standard output and everything else
/// to standard error.
#[test]
fn run_writes_the_capture_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "f.pcap", &[]);
    let o = run(&[
        "run",
        "--scenarios",
        "web-and-scan",
        "--detectors",
        "scanlogd",
        "--pcap",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, std::fs::read(&pcap).unwrap());
    assert!(stderr(&o).contains("Verdicts"), "{}", stderr(&o));
    // A scenario with several taps cannot share one standard output.
    let o = run(&[
        "run",
        "--scenarios",
        "netscreen-webmail",
        "--no-detectors",
        "--pcap",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("standard output holds one capture"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

/// A gzip'd capture is read as is; errors count decompressed bytes and say so.
#[test]
fn replay_reads_a_gzipped_capture() {
    if Command::new("gzip").arg("--version").output().is_err() {
        common::skip("replay_reads_a_gzipped_capture", "gzip is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "g.pcap", &[]);
    let replay = |f: &Path| {
        run(&[
            "replay",
            f.to_str().unwrap(),
            "--detectors",
            "scanlogd",
            "--format",
            "json",
        ])
    };
    let plain = json(&replay(&pcap));
    let o = Command::new("gzip").arg("-k").arg(&pcap).output().unwrap();
    assert!(o.status.success());
    let gz = dir.path().join("g.pcap.gz");
    let zipped = json(&replay(&gz));
    assert_eq!(verdicts(&plain), verdicts(&zipped));
    assert_eq!(
        zipped["runs"][0]["taps"][0]["sha256"],
        sha256_hex(&std::fs::read(&gz).unwrap()),
        "the digest is of the file as given"
    );
    // Cut the compressed file: the frames before the cut still count.
    let bytes = std::fs::read(&gz).unwrap();
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = replay(&cut);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("gzip, offsets decompressed"),
        "{}",
        stderr(&o)
    );
}

/// `replay x.pcap` uses `x.labels.jsonl` beside it, and says so.
#[test]
fn replay_picks_up_the_labels_next_to_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "p.pcap", &[]);
    let o = run(&["replay", pcap.to_str().unwrap(), "--detectors", "scanlogd"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("p.labels.jsonl (found next to the capture"),
        "{out}"
    );
    assert!(
        out.contains("Totals over all runs"),
        "scored with the labels: {out}"
    );
    std::fs::remove_file(dir.path().join("p.labels.jsonl")).unwrap();
    let out = stdout(&run(&[
        "replay",
        pcap.to_str().unwrap(),
        "--detectors",
        "scanlogd",
    ]));
    assert!(
        out.contains("Not scored: the input has no ground truth"),
        "{out}"
    );
}

/// Labels written for another capture are refused: other addresses, or
/// another number of frames. An empty labels file is an error too.
#[test]
fn labels_of_another_capture_or_empty_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "a.pcap", &[]);
    let other = dir.path().join("b.pcap");
    let o = run(&[
        "run",
        "--no-detectors",
        "--scenarios",
        "syn-scan-t4",
        "--pcap",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let replay = |labels: &Path| {
        run(&[
            "replay",
            pcap.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--detectors",
            "scanlogd",
        ])
    };
    let o = replay(&dir.path().join("b.labels.jsonl"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("b.labels.jsonl") && stderr(&o).contains("belong to another capture"),
        "{}",
        stderr(&o)
    );
    // The right labels, cut to half the frames: the count gives it away.
    let text = std::fs::read_to_string(dir.path().join("a.labels.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = dir.path().join("half.labels.jsonl");
    std::fs::write(&half, lines[..lines.len() / 2].join("\n")).unwrap();
    let o = replay(&half);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{} labelled frames (last frame {}), but the input has {}",
            lines.len() / 2,
            lines.len() / 2 - 1,
            lines.len()
        )),
        "{}",
        stderr(&o)
    );
    let empty = dir.path().join("empty.labels.jsonl");
    std::fs::write(&empty, "").unwrap();
    let o = replay(&empty);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("empty labels file"), "{}", stderr(&o));
}

/// `--pcap x.pcapng` writes pcapng; `--nanos` gives it nanosecond
/// timestamps; the printed sha256 is the written file's.
#[test]
fn pcapng_by_extension_nanos_and_its_own_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let ng = capture(dir.path(), "x.pcapng", &["-v"]);
    let bytes = std::fs::read(&ng).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "pcapng section header"
    );
    // if_tsresol (code 9, length 1) = 6: microseconds.
    assert!(bytes.windows(8).any(|w| w == [9, 0, 1, 0, 6, 0, 0, 0]));
    let o = run(&[
        "run",
        "--no-detectors",
        "-v",
        "--scenarios",
        "web-and-scan",
        "--pcap",
        dir.path().join("y.pcapng").to_str().unwrap(),
    ]);
    assert!(
        stdout(&o).contains(&format!("sha256 {} (as written", sha256_hex(&bytes))),
        "{}",
        stdout(&o)
    );
    let ns = capture(dir.path(), "n.pcap", &["--pcapng", "--nanos"]);
    let nbytes = std::fs::read(&ns).unwrap();
    assert_eq!(
        &nbytes[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "--pcapng wins over .pcap"
    );
    assert!(
        nbytes.windows(8).any(|w| w == [9, 0, 1, 0, 9, 0, 0, 0]),
        "if_tsresol 9"
    );
    // Same instants either way, as the reader sees them.
    let times = |p: &Path| -> Vec<i128> {
        scanbench::capture::CaptureReader::open(p)
            .unwrap()
            .map(|f| f.unwrap().ts_nanos)
            .collect()
    };
    assert_eq!(times(&ng), times(&ns));
}

/// A report from a cut capture says so, in JSON, CSV and the table.
#[test]
fn report_of_a_truncated_capture_says_it_was_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path(), "c.pcap", &[]);
    let bytes = std::fs::read(&pcap).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 3]).unwrap();
    let replay = |format: &str| {
        let o = run(&[
            "replay",
            cut.to_str().unwrap(),
            "--detectors",
            "scanlogd",
            "--scanners",
            "203.0.113.66",
            "--format",
            format,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        stdout(&o)
    };
    let v: serde_json::Value = serde_json::from_str(&replay("json")).unwrap();
    let e = v["runs"][0]["input_error"].as_str().unwrap();
    assert!(e.contains("truncated") && e.contains("offset"), "{e}");
    // The digest still covers the whole (cut) file, not the frames read.
    assert_eq!(
        v["runs"][0]["taps"][0]["sha256"],
        sha256_hex(&bytes[..bytes.len() / 2 + 3])
    );
    let csv = replay("csv");
    let mut rows = csv.lines();
    assert!(rows.next().unwrap().ends_with(",input_error"));
    assert!(rows.next().unwrap().contains("truncated record"), "{csv}");
    let table = replay("table");
    assert!(table.contains("Input cut short: cut.pcap: "), "{table}");
    // A complete replay says nothing of the kind, and JSON says null.
    let o = run(&[
        "replay",
        pcap.to_str().unwrap(),
        "--format",
        "json",
        "--detectors",
        "scanlogd",
    ]);
    assert!(json(&o)["runs"][0]["input_error"].is_null());
}

/// A `--labels` path that cannot be created leaves no header-only capture.
#[test]
fn failed_labels_leave_no_capture_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let o = run(&[
        "run",
        "--no-detectors",
        "--scenarios",
        "web-and-scan",
        "--pcap",
        pcap.to_str().unwrap(),
        "--labels",
        dir.path().join("no/such/dir/x.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("x.jsonl"), "{}", stderr(&o));
    assert!(!pcap.exists(), "a header-only capture was left behind");
}
