//! Every input in `tests/fixtures/findings/` (failures found by fuzzing from
//! outside the repository, see its README) ends in a clear error or a normal
//! run, within a watchdog's time, with the overflow checks `cargo test`
//! builds with: never a panic, a hang, an abort or an arithmetic overflow.
//!
//! One test per class of input: each walks its directory, so a new finding
//! dropped there is covered without code. Each `scanbench` run gets 10 s of
//! CPU time (read from `/proc`, so a loaded machine does not fail it; wall
//! time is the fallback elsewhere) and a wall-clock backstop: a hang
//! detector, not a performance claim. Scenario runs carry `--max-packets`,
//! the run budget that ends any long simulation with a clear error.
//!
//! See: issue 16 (robustness).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant as WallClock};

use scanbench::capture::CaptureReader;
use scanbench::detect::default_suite;
use scanbench_detector::iptables_log::{LogOptions, LogParser, TimeSource};
use scanbench_detector::{Instant, PacketView, registry};

/// CPU time one `scanbench` run may use before it counts as a hang.
const CPU_LIMIT: Duration = Duration::from_secs(10);
/// Wall time before a run or an in-process check counts as a hang whatever
/// the load of the machine.
const WALL_LIMIT: Duration = Duration::from_secs(120);
/// The packet budget given to scenario runs (the default is 10^8).
const MAX_PACKETS: &str = "20000";

/// User plus system CPU time of process `pid`, if `/proc` tells.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (USER_HZ, 100 on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let ticks = f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn dir(class: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/findings")
        .join(class)
}

/// The files of `class` whose name ends in one of `exts`, sorted.
fn inputs(class: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(class))
        .expect("findings directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no {class} findings");
    v
}

/// Runs `scanbench args` under the watchdog; returns (exit code, stderr).
fn scanbench(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scanbench starts");
    // Drain stderr on a thread so a chatty child never blocks on a full pipe.
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = WallClock::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        let cpu = cpu_time(child.id()).unwrap_or_else(|| started.elapsed());
        if cpu > CPU_LIMIT || started.elapsed() > WALL_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "scanbench {args:?} did not finish: {cpu:?} CPU, {:?} wall",
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().expect("stderr reader");
    (status.code().unwrap_or(-1), stderr)
}

/// Exit 0, or exit 1 with an `error:` line naming `file`; never a panic.
fn assert_clean(args: &[&str], file: &Path) {
    let (code, stderr) = scanbench(args);
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    match code {
        0 => {}
        1 => {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert!(
                stderr.contains("error:") && stderr.contains(name),
                "{args:?}: exit 1 without an error naming the file:\n{stderr}"
            );
        }
        c => panic!("{args:?}: exit code {c}:\n{stderr}"),
    }
}

/// Runs `f` on a thread; fails if it panics or outlives [`WALL_LIMIT`].
fn watched<F: FnOnce() + Send + 'static>(what: String, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(WALL_LIMIT) {
        Ok(()) => h.join().expect("worker"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked: re-raise its message here.
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {WALL_LIMIT:?}")
        }
    }
}

/// `scanbench replay` (wire and drop-log vantage) of every capture finding.
#[test]
fn captures_replay_to_a_clear_end() {
    for f in inputs("captures", &["bin", "pcapng", "pcap"]) {
        let p = f.to_str().expect("utf-8 path");
        assert_clean(&["replay", p], &f);
        assert_clean(&["replay", p, "--drop-log"], &f);
    }
}

/// The same captures straight into every default detector, with the frames'
/// own timestamps (no clamping: extreme, jumping and backwards times reach the
/// detectors), then timers flushed at the end of time.
#[test]
fn captures_through_every_detector_with_raw_timestamps() {
    for f in inputs("captures", &["bin", "pcapng", "pcap"]) {
        watched(format!("{}", f.display()), move || {
            let mut frames = Vec::new();
            if let Ok(reader) = CaptureReader::open(&f) {
                frames.extend(reader.map_while(Result::ok).map(|fr| (fr.at(), fr.bytes)));
            }
            for spec in default_suite() {
                let mut d = registry::build(&spec).expect("default spec").detector;
                let mut out = Vec::new();
                for (i, (at, bytes)) in frames.iter().enumerate() {
                    if let Ok(v) = PacketView::parse(i as u64, bytes) {
                        d.observe(*at, &v, &mut out);
                    }
                }
                if let Some((at, _)) = frames.last() {
                    d.flush(*at, &mut out);
                }
                d.flush(Instant::from_micros(i64::MAX), &mut out);
            }
        });
    }
}

/// Parser options recorded beside a finding (`options LogOptions { search:
/// "DROP", year: 9999, time: KernelUptime }`), or the defaults.
fn log_options(log: &Path) -> LogOptions {
    let mut o = LogOptions::default();
    let Ok(txt) = std::fs::read_to_string(log.with_extension("txt")) else {
        return o;
    };
    if let Some(y) = txt
        .split("year: ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit() && c != '-').next())
        .and_then(|y| y.parse().ok())
    {
        o.year = y;
    }
    if txt.contains("time: KernelUptime") {
        o.time = TimeSource::KernelUptime;
    }
    o
}

/// Every iptables finding through the parser, with the options it was found
/// with and with the defaults, and through `scanbench replay --iptables-log`.
#[test]
fn iptables_logs_parse_or_name_the_bad_line() {
    for f in inputs("iptables", &["log"]) {
        let bytes = std::fs::read(&f).expect("readable");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for opts in [log_options(&f), LogOptions::default()] {
            let what = format!("{} with {opts:?}", f.display());
            let text = text.clone();
            watched(what, move || {
                let mut p = LogParser::new(opts);
                for (i, line) in text.lines().enumerate() {
                    if let Err(e) = p.parse_line(i + 1, line) {
                        assert!(e.to_string().starts_with(&format!("line {}:", i + 1)));
                    }
                }
            });
        }
        let p = f.to_str().expect("utf-8 path");
        assert_clean(&["replay", "--iptables-log", p], &f);
    }
}
/// Every scenario finding through `scanbench run` with the default detectors:
/// rejected with an error naming the file, or simulated to its end.
#[test]
fn scenarios_are_rejected_or_run() {
    let out = tempfile::tempdir().expect("temp dir");
    for f in inputs("scenarios", &["toml"]) {
        let p = f.to_str().expect("utf-8 path");
        let pcap = out.path().join("finding.pcap");
        let pcap = pcap.to_str().expect("utf-8");
        assert_clean(
            &["run", p, "--pcap", pcap, "--max-packets", MAX_PACKETS],
            &f,
        );
    }
}
