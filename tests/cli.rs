//! CLI behaviour: the documented commands work, bad input fails with a clear
//! message and exit code 1, and generated captures are clean in tshark.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scanbench runs")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_writes_pcap_and_labels_and_prints_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("was.pcap");
    let o = run(&[
        "run",
        scenario("web-and-scan.toml").to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("web-and-scan: seed 1"), "{out}");
    assert!(out.contains("Verdicts"), "{out}");
    let labels = std::fs::read_to_string(dir.path().join("was.labels.jsonl")).unwrap();
    let pcap_bytes = std::fs::read(&pcap).unwrap();
    // 24-byte header + one record per labelled frame.
    let frames = labels.lines().count();
    assert!(frames > 2000, "{frames} frames");
    assert_eq!(&pcap_bytes[..4], &0xa1b2c3d4u32.to_le_bytes());
    assert!(labels.lines().all(|l| l.contains("\"class\":\"")));
}

#[test]
fn same_seed_is_byte_identical_and_seed_flag_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let sc = scenario("web-and-scan.toml");
    let sc = sc.to_str().unwrap();
    for (name, seed) in [("a.pcap", "7"), ("b.pcap", "7"), ("c.pcap", "8")] {
        let o = run(&[
            "run",
            sc,
            "--no-detectors",
            "--seed",
            seed,
            "--pcap",
            &path(name),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |n: &str| std::fs::read(path(n)).unwrap();
    assert_eq!(read("a.pcap"), read("b.pcap"));
    assert_eq!(read("a.labels.jsonl"), read("b.labels.jsonl"));
    assert_ne!(read("a.pcap"), read("c.pcap"));
}

#[test]
fn bad_scenario_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "seed = 1\nduration = \"10s\"\n\n[[host]]\nname = \"a\"\naddr = \"192.0.2.1\"\ncolour = \"red\"\n").unwrap();
    let o = run(&["run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.toml:7"), "{err}");
    assert!(err.contains("colour"), "{err}");

    std::fs::write(&bad, "seed = 1\nduration = \"10s\"\n\n[[host]]\nname = \"a\"\naddr = \"192.0.2.1\"\n\n[[link]]\nbetween = [\"a\", \"nowhere\"]\n").unwrap();
    let err = stderr(&run(&["run", bad.to_str().unwrap()]));
    assert!(
        err.contains("bad.toml:9") && err.contains("nowhere") && err.contains("known: a"),
        "{err}"
    );

    std::fs::write(&bad, "seed = 1\nduration = \"ten seconds\"\n").unwrap();
    let err = stderr(&run(&["run", bad.to_str().unwrap()]));
    assert!(
        err.contains("bad.toml:2") && err.contains("duration"),
        "{err}"
    );
}

#[test]
fn unknown_detector_lists_valid_ones() {
    let o = run(&[
        "run",
        scenario("web-and-scan.toml").to_str().unwrap(),
        "--detectors",
        "snortish",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("unknown detector `snortish`") && err.contains("scanlogd"),
        "{err}"
    );
    let o = run(&[
        "run",
        scenario("web-and-scan.toml").to_str().unwrap(),
        "--detectors",
        "scanlogd:nope=1",
    ]);
    assert!(stderr(&o).contains("valid parameters"), "{}", stderr(&o));
}

#[test]
fn list_shows_scenarios_and_detectors_with_defaults() {
    let o = run(&["list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("web-and-scan") && out.contains("screenos") && out.contains("threshold"),
        "{out}"
    );
}

#[test]
fn replay_of_a_run_capture_gives_the_same_alerts_and_truncation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let o = run(&[
        "run",
        scenario("web-and-scan.toml").to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--detectors",
        "scanlogd+screenos",
    ]);
    assert!(o.status.success());
    let o = run(&[
        "replay",
        pcap.to_str().unwrap(),
        "--detectors",
        "scanlogd+screenos",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("scanlogd: 1 alert(s)"), "{out}");
    // Cut the file mid-record: an error with a byte offset, exit 1, alerts still printed.
    let bytes = std::fs::read(&pcap).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 3]).unwrap();
    let o = run(&["replay", cut.to_str().unwrap(), "--detectors", "scanlogd"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("offset"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("scanlogd: 1 alert(s)"),
        "{}",
        stdout(&o)
    );
}

/// The capture of the issue's acceptance check: tshark reads a complete
/// handshake, the HTTP exchange, a FIN exchange, 1000 probes answered by
/// RST-ACK (closed) or SYN-ACK (open), and reports nothing malformed, no bad
/// checksum, and no expert warning except the expected "Connection reset".
#[test]
fn tshark_reads_the_capture_clean() {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("SKIPPED: tshark is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("out.pcap");
    let o = run(&[
        "run",
        scenario("web-and-scan.toml").to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--no-detectors",
    ]);
    assert!(o.status.success());
    let tshark = |filter: &str| {
        let o = Command::new("tshark")
            .args([
                "-r",
                pcap.to_str().unwrap(),
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
                "-Y",
                filter,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert_eq!(
        tshark(
            "_ws.malformed or tcp.checksum.status == 0 or ip.checksum.status == 0 or (_ws.expert.severity >= warning and not tcp.connection.rst)"
        ),
        0
    );
    assert_eq!(
        tshark("tcp.flags == 0x002 and tcp.dstport == 80 and ip.src == 192.0.2.10"),
        1
    );
    assert_eq!(tshark("http.request.method == \"GET\""), 1);
    assert_eq!(tshark("http.response.code == 200"), 1);
    assert!(tshark("tcp.flags.fin == 1") >= 2);
    assert_eq!(
        tshark("ip.src == 203.0.113.66 and tcp.flags == 0x002"),
        1000
    );
    assert_eq!(tshark("ip.dst == 203.0.113.66 and tcp.flags == 0x014"), 999);
    assert_eq!(tshark("ip.dst == 203.0.113.66 and tcp.flags == 0x012"), 1);
    assert_eq!(tshark("ip.src == 203.0.113.66 and tcp.flags == 0x004"), 1);
}
