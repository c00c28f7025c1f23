//! Scenario files a user gets wrong are refused with an error that names the
//! file, the line and the field (issue 14, "Input checks"); a valid base file
//! is changed one field at a time.

use std::path::Path;

use scanbench::Scenario;

mod common;

use common::{run, stderr};

/// A small valid scenario: a client, a server, a scanner, one tap.
const BASE: &str = r#"name = "base"
seed = 1
duration = "1m"

[[host]]
name = "client"
addr = "192.0.2.10"

[[host]]
name = "server"
addr = "198.51.100.10"

[[host]]
name = "scanner"
addr = "203.0.113.66"

[[router]]
name = "r"

[[link]]
between = ["client", "r"]

[[link]]
between = ["r", "server"]
latency = "1ms"

[[link]]
between = ["scanner", "r"]

[[tap]]
name = "server"
link = ["r", "server"]

[[web-server]]
host = "server"

[[http-client]]
host = "client"
server = "198.51.100.10"
at = "1s"

[[syn-scan]]
host = "scanner"
targets = ["198.51.100.10"]
ports = "1-100"
start = "2s"
"#;

/// The error `BASE` with `from` replaced by `to` gets, as text.
fn error_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    let text = BASE.replacen(from, to, 1);
    match Scenario::parse(Path::new("x.toml"), text) {
        Ok(_) => panic!("accepted with `{to}`"),
        Err(e) => e.to_string(),
    }
}

/// The 1-based line of the first line of `BASE` that contains `text`.
fn line_of(text: &str) -> usize {
    BASE.lines()
        .position(|l| l.contains(text))
        .expect("in BASE")
        + 1
}

#[test]
fn the_base_scenario_is_valid() {
    Scenario::parse(Path::new("x.toml"), BASE.to_string()).unwrap();
}

#[test]
fn a_prefix_beyond_32_is_refused() {
    let e = error_with(
        "addr = \"192.0.2.10\"\n",
        "addr = \"192.0.2.10\"\nprefix = 99\n",
    );
    let line = line_of("addr = \"192.0.2.10\"") + 1;
    assert!(
        e.starts_with(&format!(
            "x.toml:{line}: `prefix`: 99 is not a prefix length 0..=32"
        )),
        "{e}"
    );
}

#[test]
fn a_client_of_an_address_nobody_has_is_refused() {
    let e = error_with("server = \"198.51.100.10\"", "server = \"198.51.100.99\"");
    let line = line_of("server = \"198.51.100.10\"");
    assert!(e.starts_with(&format!("x.toml:{line}: `server`")), "{e}");
    assert!(
        e.contains("no host, balancer VIP or NAT address is 198.51.100.99")
            && e.contains("198.51.100.10"),
        "{e}"
    );
}

#[test]
fn a_zero_duration_and_a_unitless_one_are_refused() {
    let e = error_with("duration = \"1m\"", "duration = \"0s\"");
    assert!(
        e.starts_with("x.toml:3: `duration`: must be longer than 0s"),
        "{e}"
    );
    let e = error_with("duration = \"1m\"", "duration = \"30\"");
    assert!(
        e.starts_with("x.toml:3: `duration`: `30` has no unit"),
        "{e}"
    );
}

#[test]
fn a_start_after_the_end_is_refused() {
    let e = error_with("at = \"1s\"", "at = \"2h\"");
    let line = line_of("at = \"1s\"");
    assert!(
        e.starts_with(&format!(
            "x.toml:{line}: `at`: 2h is not before the end of the scenario (`duration` = 1m)"
        )),
        "{e}"
    );
    let e = error_with("start = \"2s\"", "start = \"1m\"");
    assert!(e.contains("`start`: 1m is not before the end"), "{e}");
}

#[test]
fn a_jitter_longer_than_the_scenario_is_refused() {
    let e = error_with("latency = \"1ms\"", "latency = \"1ms\"\njitter = \"1000d\"");
    let line = line_of("latency = \"1ms\"") + 1;
    assert!(
        e.starts_with(&format!(
            "x.toml:{line}: `jitter`: 1000d is longer than the whole scenario"
        )),
        "{e}"
    );
}

#[test]
fn a_scenario_without_a_tap_is_refused() {
    let e = error_with(
        "[[tap]]\nname = \"server\"\nlink = [\"r\", \"server\"]\n",
        "",
    );
    assert!(e.starts_with("x.toml: no `[[tap]]`"), "{e}");
}

#[test]
fn a_name_that_is_not_a_file_name_is_refused() {
    for bad in ["../x", "a/b", "a b", ".hidden", ""] {
        let e = error_with("name = \"base\"", &format!("name = \"{bad}\""));
        assert!(e.starts_with("x.toml:1: `name`:"), "{bad}: {e}");
    }
}

#[test]
fn a_too_large_target_block_names_the_limit() {
    let e = error_with(
        "targets = [\"198.51.100.10\"]",
        "targets = [\"10.0.0.0/8\"]",
    );
    assert!(
        e.contains("`10.0.0.0/8` is too large: a CIDR block must be /16 or narrower"),
        "{e}"
    );
}

#[test]
fn rust_type_names_stay_out_of_messages_and_tables_get_a_suggestion() {
    let e = error_with("seed = 1", "seed = \"one\"");
    assert!(
        e.starts_with("x.toml:2: `seed`:") && !e.contains("u64"),
        "{e}"
    );
    let e = error_with("[[web-server]]", "[[web-serverr]]");
    assert!(e.contains("did you mean `web-server`?"), "{e}");
}

/// Two files with one scenario name would be averaged as if they were seeds
/// of one scenario; `run` refuses them (a bad input: exit 1).
#[test]
fn two_scenarios_with_one_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.toml", "b.toml"] {
        std::fs::write(dir.path().join(f), BASE).unwrap();
    }
    let o = run(&["run", dir.path().to_str().unwrap(), "--no-detectors"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("b.toml: scenario name `base` is already used by") && e.contains("a.toml"),
        "{e}"
    );
}
