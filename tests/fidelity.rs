//! `scanbench fidelity` over the suite: scanlogd, PortSentry (`-stcp` and
//! `-atcp`) and psad (`-A`) run for real next to their re-implementations,
//! with zero disagreements beyond the documented deviations; psad's daemon
//! (`ext:psad-daemon`, one check per 5 s of drop log) on the suite's short
//! drop-log scenarios.
//!
//! Needs root, network namespaces, `/dev/net/tun` and the Debian packages
//! scanlogd, portsentry and psad (`.ci/run` installs them); skipped with the
//! reason printed otherwise. Live replays longer than [`MAX_REPLAY`] seconds
//! are skipped (and listed) so the test stays within minutes; `sudo
//! scanbench fidelity` compares the whole suite (docs/fidelity.md).

mod common;

use common::{on_path, say, scanbench};
use scanbench::external::live::unavailable;

/// Longest live replay the test runs, in seconds of replay time.
const MAX_REPLAY: &str = "150";

fn skip_reason() -> Option<String> {
    if let Some(why) = unavailable() {
        return Some(why);
    }
    for tool in ["scanlogd", "portsentry", "psad"] {
        if !on_path(tool) {
            return Some(format!(
                "no `{tool}` (Debian package {tool}; .ci/run installs it)"
            ));
        }
    }
    None
}

/// Runs `scanbench fidelity ARGS`; its exit code and the table it printed.
fn fidelity(args: &[&str]) -> (Option<i32>, String) {
    let o = scanbench(&[&["fidelity"], args].concat());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), out)
}

/// The table rows (after the header) that say `word`.
fn rows<'a>(table: &'a str, word: &str) -> Vec<&'a str> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(' ') && l.contains(word))
        .collect()
}

#[test]
fn the_real_tools_agree_with_their_reimplementations_on_the_suite() {
    if let Some(why) = skip_reason() {
        common::skip(
            "the_real_tools_agree_with_their_reimplementations_on_the_suite",
            &why,
        );
        return;
    }
    let (code, table) = fidelity(&[
        "scenarios",
        "--tools",
        "scanlogd,portsentry,portsentry-atcp,psad",
        "--max-replay",
        MAX_REPLAY,
        "--jobs",
        "3",
    ]);
    say(&format!("fidelity over the suite:\n{table}"));
    assert_eq!(code, Some(0), "{table}");
    assert!(rows(&table, "DIFFER").is_empty(), "{table}");
    assert!(rows(&table, "FAILED").is_empty(), "{table}");
    // Each tool is really compared, not skipped: most pairs ran.
    for tool in ["scanlogd", "portsentry ", "portsentry-atcp", "psad"] {
        let agreed = rows(&table, "agree")
            .into_iter()
            .filter(|r| r.split_whitespace().nth(1) == Some(tool.trim()))
            .count();
        let least = if tool == "psad" { 5 } else { 10 };
        assert!(agreed >= least, "{tool}: {agreed} agreeing pairs\n{table}");
    }
    // The advanced mode flags the T3 scan's every probe below 1024.
    assert!(
        rows(&table, "syn-scan-t3")
            .iter()
            .any(|r| r.contains("portsentry-atcp") && r.contains("154/154") && r.contains("agree")),
        "{table}"
    );
}

#[test]
fn psad_signature_probes_get_danger_level_2_from_both() {
    if let Some(why) = skip_reason() {
        common::skip("psad_signature_probes_get_danger_level_2_from_both", &why);
        return;
    }
    let (code, table) = fidelity(&[
        "tests/fixtures/fidelity/psad-signatures.toml",
        "--tools",
        "psad",
    ]);
    say(&format!("fidelity, psad signatures:\n{table}"));
    assert_eq!(code, Some(0), "{table}");
    // Two SYNs to 3389 (psad_id 100077, psad_dl:2) flag the RDP prober at
    // DL2; two to 22 (no signature, no port range) flag nothing.
    let row = rows(&table, "psad-signatures");
    assert_eq!(row.len(), 1, "{table}");
    let cols: Vec<&str> = row[0].split_whitespace().collect();
    assert_eq!(cols[2..7], ["1/1", "1/1", "2", "2", "agree"], "{table}");
}

#[test]
fn psads_daemon_agrees_with_mode_daemon_on_the_short_drop_log_scenarios() {
    if let Some(why) = skip_reason() {
        common::skip(
            "psads_daemon_agrees_with_mode_daemon_on_the_short_drop_log_scenarios",
            &why,
        );
        return;
    }
    // A case spread over many 5 s intervals (tests/fixtures/fidelity/
    // psad-daemon.toml), the signature case, and the suite's drop-log
    // scenarios whose follow replay takes seconds (one check per interval
    // with lines; the longer ones in docs/fidelity.md).
    let (code, table) = fidelity(&[
        "tests/fixtures/fidelity/psad-daemon.toml",
        "tests/fixtures/fidelity/psad-signatures.toml",
        "scenarios/dropped-state-many.toml",
        "scenarios/misconfigured-balancer-burst.toml",
        "--tools",
        "psad-daemon",
        "--max-replay",
        "60",
        "--jobs",
        "4",
    ]);
    say(&format!("fidelity, psad daemon:\n{table}"));
    assert_eq!(code, Some(0), "{table}");
    assert_eq!(
        rows(&table, "agree").len(),
        4,
        "every pair ran and agreed\n{table}"
    );
    // One SYN pair to 3389: DL2 from the signature in psad's first check.
    let row = rows(&table, "psad-signatures");
    let cols: Vec<&str> = row[0].split_whitespace().collect();
    assert_eq!(cols[2..7], ["1/1", "1/1", "2", "2", "agree"], "{table}");
    // The slow scan rises DL1 -> DL2 over intervals, the sweep is DL2 by
    // destinations per interval; with ALERT_ALL a line per destination and
    // interval, many more than one per level.
    let row = rows(&table, "agree")
        .into_iter()
        .find(|r| r.split_whitespace().next() == Some("psad-daemon"))
        .unwrap_or_else(|| panic!("no psad-daemon row\n{table}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[2], "2/2", "{table}");
    assert_eq!(cols[4..7], ["2", "2", "agree"], "{table}");
    let (b, r) = cols[3].split_once('/').unwrap();
    assert!(b == r && b.parse::<u32>().unwrap() > 20, "{table}");
}
