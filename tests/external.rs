//! External detectors without root: a tool defined in a `--detector-file`
//! runs offline over a run's sensor capture and its alerts are scored like a
//! built-in detector's, in `run` and in `replay`; a live definition without
//! root fails with a clear error; the alert parsers read the fixtures
//! (documented formats, and real output captured from the Debian tools).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scanbench;
use scanbench::external::comparable_line;
use scanbench::external::parse::{ExtAlert, Format, parse};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A definition file whose tool checks it was given a non-empty capture and
/// prints one Snort `alert_fast` line blaming syn-scan-t3's scanner at 1.5 s.
fn fake_tool(dir: &Path) -> PathBuf {
    let p = dir.join("fake.toml");
    std::fs::write(
        &p,
        r#"[[detector]]
name = "fake-ids"
summary = "a stand-in IDS: one alert_fast line"
command = ["sh", "-c", "test -s {pcap} && echo '01/01-00:00:01.500000  [**] [1:9:1] fake scan [**] [Priority: 2] {TCP} 203.0.113.66:40000 -> 198.51.100.10:22'"]
format = "snort-fast"
"#,
    )
    .unwrap();
    p
}

fn detector<'a>(doc: &'a serde_json::Value, spec: &str) -> &'a serde_json::Value {
    doc["runs"][0]["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["spec"] == spec)
        .unwrap_or_else(|| panic!("no {spec} in {doc}"))
}

#[test]
fn a_tool_from_a_definition_file_is_scored_like_a_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let defs = fake_tool(dir.path());
    let pcap = dir.path().join("t3.pcap");
    let o = scanbench(&[
        "run",
        "scenarios/syn-scan-t3.toml",
        "--detector-file",
        defs.to_str().unwrap(),
        "--detectors",
        "scanlogd+ext:fake-ids",
        "--format",
        "json",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ext = detector(&doc, "ext:fake-ids");
    assert_eq!(ext["score"]["tp"], 1, "{ext}");
    assert_eq!(ext["score"]["fp"], 0, "{ext}");
    let alert = &ext["alerts"][0];
    assert_eq!(alert["blames_scanner"], true, "{alert}");
    assert_eq!(alert["causes"][0]["cause"], "scan", "{alert}");
    // Tied to the scanner's last probe of port 22 at or before 1.5 s.
    assert!(!alert["evidence"]["frames"].as_array().unwrap().is_empty());
    assert_eq!(alert["evidence"]["ports"][0], 22, "{alert}");

    // The same definition over the written capture, in `replay`.
    let o = scanbench(&[
        "replay",
        pcap.to_str().unwrap(),
        "--detector-file",
        defs.to_str().unwrap(),
        "--detectors",
        "ext:fake-ids",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(detector(&doc, "ext:fake-ids")["score"]["tp"], 1);

    // Without the file the name is unknown: a bad flag value (exit 2), and
    // the error lists the known ones.
    let o = scanbench(&[
        "run",
        "scenarios/syn-scan-t3.toml",
        "--detectors",
        "ext:fake-ids",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no external detector `fake-ids`; known: scanlogd, portsentry"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_bad_definition_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[[detector]]\nname = \"x\"\ncommand = \"true {pcap}\"\nformat = \"nosuch\"\n",
    )
    .unwrap();
    let o = scanbench(&[
        "run",
        "scenarios/syn-scan-t3.toml",
        "--detector-file",
        p.to_str().unwrap(),
        "--detectors",
        "ext:x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("bad.toml:4"), "{}", text(&o));
}

#[test]
fn live_replay_without_root_is_a_clear_error() {
    // Run as `nobody` when we are root (CI); as an ordinary user, directly.
    let root_now = scanbench::external::live::is_root();
    if root_now && !common::on_path("setpriv") {
        common::skip(
            "live_replay_without_root_is_a_clear_error",
            "no `setpriv` to drop root",
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_scanbench");
    let scenario = root().join("scenarios/syn-scan-t3.toml");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--detectors",
        "ext:scanlogd",
    ];
    let mut cmd = if root_now {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        Command::new(bin)
    };
    let o = cmd
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    if text(&o).contains("Permission denied") {
        common::skip(
            "live_replay_without_root_is_a_clear_error",
            "`nobody` cannot read the build tree",
        );
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("ext:scanlogd: live replay needs root"),
        "{}",
        text(&o)
    );
}

fn fixture(name: &str) -> String {
    let p = root().join("tests/fixtures/external").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parsed(format: Format, name: &str) -> Vec<ExtAlert> {
    parse(format, &fixture(name), 1970).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn documented_formats_parse_from_fixtures() {
    let fast = parsed(Format::SnortFast, "doc/snort-alert_fast.txt");
    assert_eq!(fast.len(), 2);
    assert_eq!(fast[1].port, Some(22));
    let csv = parsed(Format::SnortCsv, "doc/snort3-alert_csv.txt");
    assert_eq!(csv.len(), 2);
    let json = parsed(Format::SnortJson, "doc/snort3-alert_json.txt");
    assert_eq!(json.len(), 2);
    let tsv = parsed(Format::ZeekNotice, "doc/zeek-notice.log");
    assert_eq!(tsv.len(), 2);
    assert_eq!(tsv[0].src.to_string(), "203.0.113.5");
    let zjson = parsed(Format::ZeekNotice, "doc/zeek-notice.json");
    assert_eq!(zjson.len(), 2);
    let eve = parsed(Format::SuricataEve, "doc/suricata-eve.json");
    assert_eq!(eve.len(), 1, "flow and stats events are not alerts");
    assert_eq!(eve[0].port, Some(22));
}

/// The re-implementation `spec` on `scenario`: its alerts' comparable lines
/// (sorted) and their highest danger level.
fn bench_lines(scenario: &str, spec: &str, tool: &str) -> (Vec<String>, Option<i64>) {
    let sc = scanbench::Scenario::load(&root().join(scenario)).unwrap();
    let run = scanbench::evaluate(
        &sc,
        sc.seed,
        &[spec.to_string()],
        &scanbench::Outputs::default(),
    )
    .unwrap();
    let alerts = &run.detectors[0].alerts;
    let mut lines: Vec<String> = alerts
        .iter()
        .map(|a| comparable_line(tool, &a.alert.evidence.log_line))
        .collect();
    lines.sort();
    let dl = alerts
        .iter()
        .flat_map(|a| a.alert.evidence.counters.iter())
        .filter(|(k, _)| *k == "danger_level")
        .map(|(_, v)| *v)
        .max();
    (lines, dl)
}

fn real_lines(format: Format, name: &str, tool: &str) -> (Vec<String>, Option<i64>) {
    let alerts = parsed(format, name);
    let mut lines: Vec<String> = alerts
        .iter()
        .map(|a| comparable_line(tool, &a.line))
        .collect();
    lines.sort();
    let dl = alerts
        .iter()
        .filter_map(|a| a.danger_level.map(i64::from))
        .max();
    (lines, dl)
}

#[test]
fn real_tool_output_parses_and_matches_the_reimplementations() {
    for (scenario, tool, spec, format, n) in [
        (
            "scenarios/syn-scan-t3.toml",
            "scanlogd",
            "scanlogd",
            Format::Scanlogd,
            1,
        ),
        (
            "scenarios/syn-scan-t3.toml",
            "portsentry",
            "portsentry:mode=stcp",
            Format::Portsentry,
            15,
        ),
        (
            "scenarios/syn-scan-t3.toml",
            "portsentry-atcp",
            "portsentry:mode=atcp",
            Format::Portsentry,
            154,
        ),
        (
            "scenarios/mixed-office.toml",
            "psad",
            "psad:mode=analysis",
            Format::PsadReport,
            1,
        ),
        (
            "tests/fixtures/fidelity/psad-signatures.toml",
            "psad",
            "psad:mode=analysis",
            Format::PsadReport,
            1,
        ),
        (
            "scenarios/mixed-office.toml",
            "psad-daemon",
            "psad:mode=daemon",
            Format::PsadSyslog,
            6,
        ),
        (
            "tests/fixtures/fidelity/psad-signatures.toml",
            "psad-daemon",
            "psad:mode=daemon",
            Format::PsadSyslog,
            1,
        ),
        (
            "tests/fixtures/fidelity/psad-daemon.toml",
            "psad-daemon",
            "psad:mode=daemon",
            Format::PsadSyslog,
            41,
        ),
        (
            "tests/fixtures/fidelity/psad-daemon.toml",
            "psad",
            "psad:mode=analysis",
            Format::PsadReport,
            25,
        ),
    ] {
        let stem = Path::new(scenario).file_stem().unwrap().to_str().unwrap();
        let name = format!("real/{stem}/{tool}.txt");
        let real = real_lines(format, &name, tool);
        assert_eq!(real.0.len(), n, "{name}: {:?}", real.0);
        let bench = bench_lines(scenario, spec, tool);
        assert_eq!(bench, real, "{spec} on {scenario} vs {name}");
    }
}
