//! Helpers every integration test shares: running the binary, reading its
//! output, querying tshark, and skipping a test (or part of one) with a
//! reason that shows in normal `cargo test` output.
//!
//! Include with `mod common;` (each file under `tests/` is its own crate).

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `scanbench` binary, run from the checkout.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scanbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs `scanbench ARGS` from the checkout and collects its output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("scanbench runs")
}

/// A built-in scenario file by its file name.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes into `dir` a copy of `syn-scan-t0` with one claim that fails
/// (scanlogd does not catch the 5-minute probe gaps of T0) and returns its path.
pub fn scenario_with_failing_claim(dir: &Path) -> PathBuf {
    let sc = dir.join("t0.toml");
    let mut text = std::fs::read_to_string(scenario("syn-scan-t0.toml")).unwrap();
    text.push_str("\n[[expect]]\nclaim = \"scanlogd catches T0\"\ndetectors = [\"scanlogd\"]\nflags_scanners = true\n");
    std::fs::write(&sc, text).unwrap();
    sc
}

/// Reports that (part of) a test is skipped and why, so that the reason shows
/// in the normal `cargo test` output. libtest captures only the `print!`
/// family of macros; a write through the `std::io::stderr()` handle goes
/// straight to the terminal, as this does. Every skip goes through here.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

pub mod netns;

/// Runs the `scanbench` binary with `args` in the package root.
pub fn scanbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scanbench runs")
}

/// Whether tshark can be run here (`.ci/run` installs it).
pub fn have_tshark() -> bool {
    Command::new("tshark").arg("-v").output().is_ok()
}

/// The packets of `capture` that match the display filter `filter`, one
/// summary line each, read with IP and TCP checksum validation on (so
/// `ip.checksum.status == 0` and `tcp.checksum.status == 0` find bad ones).
///
/// # Panics
/// If tshark cannot run or fails (a broken capture, a bad filter).
pub fn tshark_matches(capture: &Path, filter: &str) -> Vec<String> {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            filter,
        ])
        .output()
        .expect("tshark runs");
    assert!(
        o.status.success(),
        "tshark on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Prints past the test harness's capture, so a skip (and its reason)
/// shows in normal `cargo test` output.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether `tool` is a file in one of `PATH`'s directories (or `/usr/sbin`,
/// where Debian puts daemons, which a non-login `PATH` may lack).
pub fn on_path(tool: &str) -> bool {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.iter().any(|d| d.join(tool).is_file())
}
