//! CLI behaviour: the documented commands work, bad input fails with a clear
//! message and exit code 1 (a bad flag value: 2), and generated captures are
//! clean in tshark. The conventions of issue 14 (pipes, exit codes, specs,
//! times, input checks) are tested in `cli_conventions.rs`.

mod common;

use std::process::Output;

use common::{have_tshark, run, scenario, stderr, stdout, tshark_matches};

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
    // A bad flag value is a usage error (README "Exit codes").
    assert_eq!(o.status.code(), Some(2));
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

/// The capture of the acceptance check: tshark reads a complete
/// handshake, the HTTP exchange, a FIN exchange, 1000 probes answered by
/// RST-ACK (closed) or SYN-ACK (open), and reports nothing malformed, no bad
/// checksum, and no expert warning except the expected "Connection reset".
#[test]
fn tshark_reads_the_capture_clean() {
    if !have_tshark() {
        common::skip(
            "tshark_reads_the_capture_clean",
            "tshark is not installed (.ci/run installs it)",
        );
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
    let tshark = |filter: &str| tshark_matches(&pcap, filter).len();
    assert_eq!(
        tshark(
            "_ws.malformed or tcp.checksum.status == 0 or ip.checksum.status == 0 or tcp.ack.nonzero or (_ws.expert.severity >= warning and not tcp.connection.rst)"
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

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The JSON report carries, for every alert, the fields docs/report-format.md
/// promises, and links it to the labelled causes of its packets.
#[test]
fn json_report_has_the_documented_alert_fields() {
    let o = run(&[
        "run",
        "--scenarios",
        "syn-scan-t3,web-*",
        "--detectors",
        "scanlogd+sfportscan:sense_level=medium",
        "--format",
        "json",
    ]);
    let v = json(&o);
    assert_eq!(v["format"], "scanbench-report");
    assert_eq!(v["version"], 1);
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["syn-scan-t3", "web-and-scan"]);
    let det = &runs[0]["detectors"][1];
    assert_eq!(det["spec"], "sfportscan:sense_level=medium");
    assert!(
        det["detector"]["config"]
            .as_str()
            .unwrap()
            .contains("sense_level=medium")
    );
    let alert = &runs[0]["detectors"][0]["alerts"][0];
    for field in [
        "detector",
        "scanner",
        "victim",
        "kind",
        "time",
        "first_seen",
        "evidence",
    ] {
        assert!(!alert[field].is_null(), "{field} missing in {alert}");
    }
    assert_eq!(alert["detector"]["name"], "scanlogd");
    assert_eq!(alert["scanner"], "203.0.113.66");
    assert!(alert["evidence"]["log_line"].as_str().unwrap().len() > 10);
    assert_eq!(alert["causes"][0]["class"], "malicious");
    assert_eq!(alert["causes"][0]["cause"], "scan");
    let score = &runs[0]["detectors"][0]["score"];
    assert_eq!(score["tp"], 1);
    assert_eq!(score["recall"], 1.0);
    assert!(score["latency"][0]["probes"].as_u64().unwrap() > 0);
    // Chatter went to standard error, not into the JSON.
    assert!(stderr(&o).contains("syn-scan-t3: seed 33"));
}

#[test]
fn seeds_give_one_csv_row_per_run_and_mean_spread_in_the_table() {
    let o = run(&[
        "run",
        "--scenarios",
        "syn-scan-t4",
        "--seeds",
        "3",
        "--detectors",
        "scanlogd+screenos",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("scenario,seed,detector,config,vantage,alerts"));
    assert_eq!(lines.len(), 1 + 3 * 2, "{out}");
    for seed in ["34", "35", "36"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("syn-scan-t4,{seed},scanlogd,"))),
            "{out}"
        );
    }
    let o = run(&[
        "run",
        "--scenarios",
        "syn-scan-t4",
        "--seeds",
        "3",
        "--detectors",
        "scanlogd",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("over 3 seeds") && out.contains("1.0±0.0 1.0/0.0"),
        "{out}"
    );
    let o = run(&["run", "--scenarios", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("known: connect-scan"), "{}", stderr(&o));
}

#[test]
fn check_exits_3_when_a_claim_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sc = common::scenario_with_failing_claim(dir.path());
    let o = run(&[
        "run",
        sc.to_str().unwrap(),
        "--check",
        "--detectors",
        "scanlogd",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"scanlogd catches T0\": scanlogd: 1 of 1 scanner(s) not flagged"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "run",
        "--scenarios",
        "syn-scan-t0",
        "--check",
        "--detectors",
        "scanlogd",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `replay` with the labels `run` wrote scores the capture exactly as `run` did.
#[test]
fn replay_with_labels_and_home_net_matches_run() {
    let dir = tempfile::tempdir().unwrap();
    let dets = "scanlogd+trw+zeek-scan+sfportscan";
    let o = run(&[
        "run",
        "--scenarios",
        "sweep",
        "--detectors",
        dets,
        "--out",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let ran = json(&o);
    assert!(dir.path().join("report.csv").exists() && dir.path().join("report.md").exists());
    let pcap = dir.path().join("sweep.pcap");
    let labels = dir.path().join("sweep.labels.jsonl");
    let o = run(&[
        "replay",
        pcap.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--home-net",
        "198.51.100.0/24",
        "--detectors",
        dets,
        "--format",
        "json",
    ]);
    let replayed = json(&o);
    let strip = |v: &serde_json::Value| -> Vec<(String, serde_json::Value, serde_json::Value)> {
        v["runs"][0]["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["spec"].to_string(),
                    d["alerts"].clone(),
                    d["score"]["tp"].clone(),
                )
            })
            .collect()
    };
    let (a, b) = (strip(&ran), strip(&replayed));
    assert_eq!(a, b);
    assert!(
        a.iter()
            .any(|(s, al, _)| s.contains("trw") && !al.as_array().unwrap().is_empty())
    );
    assert_eq!(replayed["runs"][0]["seed"], serde_json::Value::Null);
}

#[test]
fn replay_reads_an_iptables_log_and_skips_a_bad_line_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    let mut text = String::new();
    for (i, port) in [22, 23, 25, 80, 110, 143].iter().enumerate() {
        text.push_str(&format!(
            "Nov 21 14:35:0{i} fw kernel: [12345.678901] DROP IN=eth0 OUT= SRC=203.0.113.66 \
             DST=198.51.100.10 LEN=44 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=40000 DPT={port} \
             WINDOW=1024 RES=0x00 SYN URGP=0\n"
        ));
    }
    std::fs::write(&log, &text).unwrap();
    let o = run(&[
        "replay",
        "--iptables-log",
        log.to_str().unwrap(),
        "--detectors",
        "psad",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Five SYNs in the first 5 s check interval (DL1), the sixth in the
    // next: psad's ALERT_ALL Y writes a `scan detected` line for each.
    assert!(
        out.contains("6 logged packets") && out.contains("psad: 2 alert(s)"),
        "{out}"
    );
    assert!(out.contains("203.0.113.66"), "{out}");
    text.push_str(
        "Nov 21 14:36:00 fw kernel: DROP IN=eth0 OUT= SRC=203.0.113.66 DST=nowhere PROTO=TCP\n",
    );
    std::fs::write(&log, &text).unwrap();
    let o = run(&[
        "replay",
        "--iptables-log",
        log.to_str().unwrap(),
        "--detectors",
        "psad",
    ]);
    // psad skips a line it cannot parse; so does the reader, with a count and
    // a warning naming the first bad line.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: 1 malformed iptables line(s) skipped")
            && stderr(&o).contains("fw.log: line 7"),
        "{}",
        stderr(&o)
    );
    // The six good lines give the same two alerts as above.
    assert!(stdout(&o).contains("psad: 2 alert(s)"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 malformed"), "{}", stdout(&o));
    // psad on a plain capture is not applicable rather than silent.
    let o = run(&[
        "replay",
        scenario("../tests/fixtures/real/nmap-syn.pcap")
            .to_str()
            .unwrap(),
        "--detectors",
        "psad",
    ]);
    assert!(
        stdout(&o).contains("psad: not applicable"),
        "{}",
        stdout(&o)
    );
}

/// Parallel runs give the same report as serial ones, in the same order.
#[test]
fn parallel_runs_report_like_serial_ones() {
    let args = |jobs: &'static str| {
        run(&[
            "run",
            "--scenarios",
            "syn-scan-t3,sweep,misconfigured-balancer-burst",
            "--seeds",
            "2",
            "--format",
            "json",
            "--jobs",
            jobs,
        ])
    };
    let (a, b) = (args("1"), args("3"));
    assert!(a.status.success() && b.status.success());
    assert_eq!(stdout(&a), stdout(&b));
}
