//! The command-line conventions a tshark, nmap or Snort user expects (issue
//! 14): closed pipes, exit codes, one spec syntax, the embedded suite, times,
//! unscored replays, iptables logs, shell integration. Bad input: message and
//! exit code asserted.

use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};

mod common;

use common::{bin, run, scenario, stderr, stdout};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Asserts a usage error: exit 2 and a message containing `want`.
fn assert_usage(args: &[&str], want: &str) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
}

/// Runs `args` with standard output a pipe whose reading end is already
/// closed, as after `| head -1` has read its line: the first write meets
/// EPIPE. The command must end quietly, without a panic.
fn with_closed_stdout(args: &[&str]) -> Output {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scanbench starts");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("stderr readable");
    let status = child.wait().expect("scanbench ends");
    Output {
        status,
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    for args in [
        &["list"][..],
        &["run", "--scenarios", "sweep,syn-scan-t3"],
        &["run", "--scenarios", "sweep", "--format", "json"],
        &[
            "replay",
            &fixture("nmap-syn.pcap"),
            "--detectors",
            "scanlogd",
        ],
        &["completions", "bash"],
        &["list", "ext:psad"],
    ] {
        let o = with_closed_stdout(args);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_pipe_keeps_the_check_result() {
    // The reader went away; the claims were still checked and their exit code stands.
    let dir = tempfile::tempdir().unwrap();
    let sc = common::scenario_with_failing_claim(dir.path());
    let o = with_closed_stdout(&[
        "run",
        sc.to_str().unwrap(),
        "--check",
        "--detectors",
        "scanlogd",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn bad_flag_values_and_combinations_exit_2() {
    assert_usage(&["run", "--jobs", "0"], "must be at least 1");
    assert_usage(&["run", "--seeds", "0"], "must be at least 1");
    assert_usage(&["run", "--pcapng"], "add --pcap FILE or --out DIR");
    assert_usage(&["run", "--nanos"], "add --pcap FILE or --out DIR");
    assert_usage(
        &["run", "--no-detectors", "--detectors", "scanlogd"],
        "cannot be used with",
    );
    assert_usage(&["run", "--check", "--no-detectors"], "cannot be used with");
    assert_usage(
        &["run", "--detectors", "scanlogd+scanlogd"],
        "`scanlogd` and `scanlogd` are the same configuration",
    );
    assert_usage(
        &["run", "--detectors", "scanlogd+scanlogd:port_weight_priv=3"],
        "are the same configuration",
    );
    assert_usage(&["run", "--detectors", "scanlogd++trw"], "an empty spec");
    assert_usage(
        &["run", "--detectors", "scanlogd,zeek-scan"],
        "join them with `+`: `scanlogd+zeek-scan`",
    );
    assert_usage(
        &[
            "run",
            "--detectors",
            "sfportscan:sense_level=medium,scanlogd",
        ],
        "`sfportscan:sense_level=medium+scanlogd`",
    );
    assert_usage(
        &["run", "--detectors", "scanlog"],
        "did you mean `scanlogd`?",
    );
    assert_usage(
        &["run", "--detectors", "scanlogd:port_weigth_priv=3"],
        "did you mean `port_weight_priv`?",
    );
    assert_usage(
        &["run", "--scenarios", "syn-scan-t9"],
        "no scenario matches `syn-scan-t9`",
    );
    assert_usage(
        &[
            "run",
            "--scenarios",
            "sweep,syn-scan-t3",
            "--pcap",
            "x.pcap",
        ],
        "--pcap names one capture",
    );
    assert_usage(
        &["bench", "nosuch"],
        "possible values: all, scan, bulk, pollers, gen, detectors, memory, replay",
    );
    assert_usage(
        &["bench", "scan", "--clients", "5"],
        "--clients sets the `pollers`",
    );
    assert_usage(
        &["bench", "pollers", "--clients", "0"],
        "must be at least 1",
    );
    assert_usage(&["list", "scanlogdd"], "did you mean `scanlogd`?");
    assert_usage(
        &[
            "replay",
            "x.pcap",
            "--home-net",
            "192.0.2.0/24;198.51.100.0/24",
        ],
        "separate networks with `,`",
    );
    assert_usage(&["replay"], "<FILE|--iptables-log <FILE>>");
    assert_usage(
        &["replay", "x.pcap", "--year", "2024"],
        "give --iptables-log FILE",
    );
    assert_usage(
        &["replay", "x.pcap", "--fw-msg-search", "X"],
        "give --iptables-log FILE",
    );
}

#[test]
fn bad_input_files_exit_1_with_the_os_error_once() {
    let o = run(&["replay", "/nonexistent/x.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("/nonexistent/x.pcap: No such file or directory") && !e.contains("offset"),
        "{e}"
    );
    assert_eq!(e.matches("os error 2").count(), 1, "{e}");
    let o = run(&["run", "/nonexistent/x.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
    let o = run(&["run", "sweep"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is selected with --scenarios sweep"),
        "{}",
        stderr(&o)
    );
    let o = run(&["replay", "--iptables-log", "/nonexistent/kern.log"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).matches("os error 2").count(),
        1,
        "{}",
        stderr(&o)
    );
}

/// Every detector's full configuration, as `list NAME` and reports print it,
/// pastes back into `--detectors` and gives the same configuration.
#[test]
fn every_printed_config_pastes_back_into_detectors() {
    let mut configs = Vec::new();
    let listed = stdout(&run(&["list"]));
    let names: Vec<&str> = listed
        .lines()
        .skip_while(|l| !l.starts_with("Detectors"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("      "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let o = run(&["list", name]);
        assert!(o.status.success(), "{}", stderr(&o));
        let full = stdout(&o);
        let config = full
            .lines()
            .skip_while(|l| !l.starts_with("Full default configuration"))
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: {full}"))
            .trim()
            .to_string();
        configs.push(config);
    }
    let o = run(&[
        "replay",
        &fixture("nmap-syn.pcap"),
        "--detectors",
        &configs.join("+"),
        "--format",
        "json",
    ]);
    let v = json(&o);
    let got: Vec<&str> = v["runs"][0]["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["detector"]["config"].as_str().unwrap())
        .collect();
    assert_eq!(got, configs);
}

#[test]
fn check_counts_its_claims_and_refuses_to_check_nothing() {
    let o = run(&["run", "--scenarios", "netscreen-webmail", "--check", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // `-q` silences the count; without it, it is stated.
    assert!(!stderr(&o).contains("claim check"), "{}", stderr(&o));
    let o = run(&["run", "--scenarios", "netscreen-webmail", "--check"]);
    assert!(
        stderr(&o).contains("--check: all 3 claim check(s) hold (3 claim(s) over 1 run(s))"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("noclaims.toml");
    let text = std::fs::read_to_string(scenario("sweep.toml")).unwrap();
    let text = &text[..text.find("[[expect]]").unwrap()];
    std::fs::write(&sc, text).unwrap();
    let o = run(&["run", sc.to_str().unwrap(), "--check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to check"), "{}", stderr(&o));
}

/// The suite is in the binary: it runs and lists from any directory; a
/// directory argument replaces it.
#[test]
fn the_built_in_suite_works_outside_the_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(dir.path())
        .args([
            "run",
            "--scenarios",
            "sweep",
            "--detectors",
            "scanlogd",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sweep"), "{}", stdout(&o));
    let o = bin().current_dir(dir.path()).arg("list").output().unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("syn-scan-t3"), "{}", stdout(&o));
    // A directory of one's own replaces the suite.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let text = std::fs::read_to_string(scenario("sweep.toml")).unwrap();
    std::fs::write(
        mine.join("mine.toml"),
        text.replacen("name = \"sweep\"", "name = \"mine\"", 1),
    )
    .unwrap();
    let o = bin()
        .current_dir(dir.path())
        .args([
            "run",
            "mine",
            "--detectors",
            "scanlogd",
            "--format",
            "csv",
            "-q",
        ])
        .output()
        .unwrap();
    let rows: Vec<String> = stdout(&o).lines().skip(1).map(String::from).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("mine,"), "{rows:?}");
    let o = bin()
        .current_dir(dir.path())
        .args(["list", "--scenarios", "mine"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("Scenarios (mine"), "{}", stdout(&o));
}

/// Without ground truth there is no TP or FP: the alerts are reported, every
/// score figure is absent, in every format.
#[test]
fn an_unlabelled_replay_reports_alerts_and_no_scores() {
    let pcap = fixture("nmap-syn.pcap");
    let v = json(&run(&[
        "replay",
        &pcap,
        "--detectors",
        "scanlogd+trw",
        "--format",
        "json",
    ]));
    let run0 = &v["runs"][0];
    let d = &run0["detectors"][0];
    assert_eq!(d["score"]["alerts"], 1);
    assert_eq!(d["score"]["flagged"], 1);
    for k in [
        "tp",
        "fp",
        "fn",
        "recall",
        "fp_rate",
        "benign_sources",
        "latency",
    ] {
        assert!(d["score"][k].is_null(), "{k}: {}", d["score"]);
    }
    assert!(d["alerts"][0]["blames_scanner"].is_null());
    assert!(run0["truth"]["scanners"].is_null());
    let csv = stdout(&run(&[
        "replay",
        &pcap,
        "--detectors",
        "scanlogd",
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    // The `config` cell is quoted (it holds commas): split outside quotes.
    let mut row: Vec<String> = vec![String::new()];
    let mut quoted = false;
    for c in lines[1].chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => row.push(String::new()),
            c => row.last_mut().unwrap().push(c),
        }
    }
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()].as_str();
    assert_eq!(cell("alerts"), "1");
    assert_eq!(cell("tp"), "");
    assert_eq!(cell("fp_rate"), "");
    let md = stdout(&run(&[
        "replay",
        &pcap,
        "--detectors",
        "scanlogd",
        "--format",
        "markdown",
    ]));
    assert!(md.contains("Not scored") && !md.contains("1/0"), "{md}");
    let table = stdout(&run(&["replay", &pcap, "--detectors", "scanlogd"]));
    assert!(
        table.contains("capture ") && table.contains("Not scored"),
        "{table}"
    );
    assert!(!table.contains("scenario"), "{table}");
    // With the scanner named there is truth, and scores again.
    let v = json(&run(&[
        "replay",
        &pcap,
        "--detectors",
        "scanlogd",
        "--scanners",
        "198.51.100.1",
        "--format",
        "json",
    ]));
    assert_eq!(v["runs"][0]["detectors"][0]["score"]["tp"], 1);
}

#[test]
fn times_say_which_clock() {
    // A real capture: ISO 8601 UTC, as recorded.
    let out = stdout(&run(&[
        "replay",
        &fixture("nmap-syn.pcap"),
        "--detectors",
        "scanlogd",
    ]));
    assert!(out.contains("times UTC"), "{out}");
    assert!(
        out.contains("] 2026-11-21T15:14:33.329854Z portscan"),
        "{out}"
    );
    // A simulation: seconds after its start; an alert raised by a timer after
    // the end of the input is marked.
    let out = stdout(&run(&["run", "--scenarios", "sweep", "--detectors", "trw"]));
    assert!(out.contains("after the start of the simulation"), "{out}");
    assert!(
        out.contains("[trw] +5m1s [after the end of the input: detector timers] scanner"),
        "{out}"
    );
    assert!(out.contains("sweep: seed 50, 30s simulated"), "{out}");
}

#[test]
fn iptables_logs_count_what_they_skip_and_take_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kern.log");
    let mut text = String::new();
    for (i, port) in [22, 23, 25, 80, 110, 143].iter().enumerate() {
        text.push_str(&format!(
            "Nov 21 14:35:0{i} fw kernel: [12345.678901] DROP IN=eth0 OUT= SRC=203.0.113.66 \
             DST=198.51.100.10 LEN=44 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=40000 DPT={port} \
             WINDOW=1024 RES=0x00 SYN URGP=0\n"
        ));
    }
    text.push_str(
        "Nov 21 14:35:09 fw kernel: [12345.7] ACCEPT IN=eth0 OUT= SRC=203.0.113.66 \
         DST=198.51.100.10 LEN=44 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=40000 DPT=443 \
         WINDOW=1024 RES=0x00 SYN URGP=0\nNov 21 14:35:10 fw sshd[1]: unrelated\n",
    );
    std::fs::write(&log, &text).unwrap();
    let log = log.to_str().unwrap();
    let o = run(&[
        "replay",
        "--iptables-log",
        log,
        "--detectors",
        "psad",
        "--year",
        "2024",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("6 logged packets (lines with `DROP` in the prefix)")
            && out.contains("1 iptables line(s) without `DROP` in the prefix")
            && out.contains("1 other line(s)"),
        "{out}"
    );
    assert!(out.contains("2024-11-21T14:35:0"), "{out}");
    assert!(!out.contains("1970"), "{out}");
    // FW_MSG_SEARCH is psad's to set: with ACCEPT, only that line counts.
    let out = stdout(&run(&[
        "replay",
        "--iptables-log",
        log,
        "--fw-msg-search",
        "ACCEPT",
        "--year",
        "2024",
    ]));
    assert!(
        out.contains("1 logged packets (lines with `ACCEPT`"),
        "{out}"
    );
    // Without --year, the current year is assumed, and said.
    let out = stdout(&run(&[
        "replay",
        "--iptables-log",
        log,
        "--detectors",
        "psad",
    ]));
    assert!(
        out.contains("syslog stamps carry no year: read as"),
        "{out}"
    );
}

#[test]
fn shell_integration_version_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(stdout(&o).contains("replay"), "{shell}");
    }
    let o = run(&["man"]);
    assert!(
        o.status.success() && stdout(&o).starts_with(".ie"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains(".TH scanbench"), "{}", stdout(&o));
    let v = stdout(&run(&["--version"]));
    assert!(v.starts_with("scanbench ") && v.contains("(commit "), "{v}");
    let h = stdout(&run(&["--help"]));
    assert!(h.contains("Examples:") && h.contains("Exit codes:"), "{h}");
    assert!(h.contains("3  `run --check`"), "{h}");
    let h = stdout(&run(&["run", "--help"]));
    assert!(h.contains("Examples:"), "{h}");
}

#[test]
fn quiet_and_color() {
    let o = run(&[
        "run",
        "--scenarios",
        "sweep",
        "--detectors",
        "scanlogd",
        "-q",
    ]);
    assert!(o.status.success());
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Verdicts"), "{out}");
    assert!(!out.contains("seed 50"), "{out}");
    let o = run(&["--color", "always", "run", "--jobs", "0"]);
    assert!(stderr(&o).contains("\x1b["), "{:?}", stderr(&o));
    let o = run(&["--color", "never", "run", "--detectors", "nosuch"]);
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{:?}", stderr(&o));
}

#[test]
fn list_shows_one_scenario_or_detector_in_full() {
    let out = stdout(&run(&["list", "sfportscan"]));
    for want in [
        "sense_level",
        "default `low`",
        "spp_sfportscan.c",
        "docs/detectors/sfportscan.md",
        "Full default configuration",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = stdout(&run(&["list", "netscreen-webmail"]));
    assert!(
        out.contains("scenarios/netscreen-webmail.toml")
            && out.contains("duration 40m")
            && out.contains("Claims"),
        "{out}"
    );
    // Every detector, built in or external, is listed and shown in full.
    let all = stdout(&run(&["list"]));
    for d in scanbench_detector::registry::DETECTORS {
        let out = stdout(&run(&["list", d.name]));
        assert!(
            out.starts_with(&format!("{}: ", d.name)) && out.contains("Full default configuration"),
            "{}: {out}",
            d.name
        );
        assert!(
            all.contains(&format!("  {:<12} {}", d.name, d.summary)),
            "{}",
            d.name
        );
    }
    for d in scanbench::external::Externals::builtin().definitions() {
        let name = format!("ext:{}", d.name);
        let o = run(&["list", &name]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let out = stdout(&o);
        for want in ["command: ", "reads: ", "feed: ", "Full configuration"] {
            assert!(out.contains(want), "{name} lacks {want}: {out}");
        }
        assert!(all.contains(&name), "{name} not in `list`");
    }
    assert_usage(&["list", "ext:scanlog"], "did you mean `ext:scanlogd`?");
    assert_usage(&["list", "sfportscn"], "did you mean `sfportscan`?");
}

/// The subcommands added beside `run` follow the same conventions: built-in
/// scenarios by name, "did you mean", bad flag values exit 2, bad inputs 1.
#[test]
fn gen_sweep_fidelity_and_merge_follow_the_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("g.pcap");
    let pcap = pcap.to_str().unwrap();
    // gen takes a built-in scenario by name, outside the checkout too.
    let o = bin()
        .current_dir(dir.path())
        .args(["gen", "syn-scan-t5", "--pcap", pcap, "--repeat", "2", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("frames") && stderr(&o).is_empty(),
        "{}",
        stderr(&o)
    );
    let o = run(&["gen", "syn-scan-t", "--pcap", pcap]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no built-in scenario of that name (did you mean `syn-scan-t"),
        "{}",
        stderr(&o)
    );
    assert_usage(
        &["gen", "syn-scan-t5", "--pcap", pcap, "--jobs", "0"],
        "must be at least 1",
    );
    assert_usage(
        &["gen", "syn-scan-t5", "--pcap", pcap, "--hosts", "0"],
        "must be at least 1",
    );
    assert_usage(
        &["gen", "syn-scan-t5", "--pcap", pcap, "--duration", "30"],
        "--duration",
    );
    assert_usage(
        &["gen", "syn-scan-t5", "--pcap", pcap, "--tap", "nope"],
        "taps: target",
    );
    assert_usage(&["gen", "syn-scan-t5", "--pcap", "-"], "not `-`");
    // fidelity checks its tools before anything needs root.
    assert_usage(
        &["fidelity", "--tools", "scanlog"],
        "did you mean `scanlogd`?",
    );
    assert_usage(&["fidelity", "--jobs", "0"], "must be at least 1");
    // ext: specs go through the one --detectors parser.
    assert_usage(
        &["run", "--detectors", "scanlogd+ext:scanlog"],
        "(did you mean `ext:scanlogd`?)",
    );
    assert_usage(
        &["run", "--detectors", "ext:psad+ext:psad"],
        "the same configuration",
    );
    // merge without any report is a usage error.
    let o = run(&["merge"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// The default table fits the terminal: columns wrap into blocks, variants
/// wait for `-v`.
#[test]
fn the_default_table_fits_the_terminal() {
    let o = bin()
        .env("COLUMNS", "100")
        .args(["run", "-q"])
        .output()
        .unwrap();
    let out = stdout(&o);
    let widest = out.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest}:\n{out}");
    assert!(out.contains("-v shows them"), "{out}");
    assert!(!out.contains("psad:ignore_conntrack_bug_pkts=n |"), "{out}");
    let o = bin()
        .env("COLUMNS", "100")
        .args(["run", "-q", "-v"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("psad:ignore_conntrack_bug_pkts=n"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
}

/// Docs, scenario files, code comments and `list` cite upstream sources and
/// the repo's own docs, never the developers' notes a user does not have.
#[test]
fn nothing_cites_notes_a_user_does_not_have() {
    // Spelt in pieces so this file does not match itself.
    let banned = [
        format!("{}.md", "DETECTORS"),
        format!("{}-NOTES", "SMOLTCP"),
        format!("{}/", "shared"),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut dirs: Vec<std::path::PathBuf> = [
        "docs",
        "scenarios",
        "src",
        "sim",
        "detector",
        "capture",
        "testkit",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    dirs.push(p);
                }
            } else if p
                .extension()
                .is_some_and(|x| x == "md" || x == "rs" || x == "toml")
            {
                files.push(p);
            }
        }
    }
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if banned.iter().any(|b| line.contains(b.as_str())) {
                hits.push(format!("{}:{}: {line}", f.display(), i + 1));
            }
        }
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
    let mut listed = stdout(&run(&["list"]));
    for d in ["screenos", "sfportscan", "psad", "trw", "bro1-scan"] {
        listed.push_str(&stdout(&run(&["list", d])));
    }
    assert!(
        !banned.iter().any(|b| listed.contains(b.as_str())),
        "{listed}"
    );
}

/// A full disk behind standard output is an error, named as standard
/// output's (exit 1), unlike a reader that went away.
#[test]
fn a_failing_stdout_is_named() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        common::skip("a_failing_stdout_is_named", "no /dev/full on this machine");
        return;
    };
    let o = bin().arg("list").stdout(full).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: writing to standard output: No space left on device"),
        "{}",
        stderr(&o)
    );
}

/// `run` suggests only what `run` has: a scenario without a drop log gets
/// the `[[tap]]` that makes one, not replay's flags.
#[test]
fn run_suggests_only_its_own_remedies() {
    let o = run(&["run", "--scenarios", "syn-scan-t3", "--detectors", "psad"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("[psad] not applicable: it reads a firewall drop log (a `[[tap]]` with `drop_log = ROUTER`)"),
        "{out}"
    );
    assert!(
        !out.contains("--drop-log") && !out.contains("--iptables-log"),
        "{out}"
    );
}
