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
