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
