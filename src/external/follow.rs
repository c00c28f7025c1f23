//! Follow feed: a daemon that reads its firewall log from a file (psad
//! with `ENABLE_SYSLOG_FILE`/`IPT_SYSLOG_FILE`), fed by the bench appending
//! the drop log's lines to that file in step with the daemon's checks.
//!
//! Such a daemon reads the file to its end once per check, sleeps its
//! check interval, and reads again; what it can tell of a line's timing is
//! only the check that read it (psad stamps a scan's start with `time()`
//! when it reads the line, not with the line's own date). So the lines are
//! grouped by the check interval of the bench's counterpart: interval `k`
//! holds the lines dated in `[k·interval, (k+1)·interval)`, and the daemon's
//! check `k + 1` (its first check after start-up, with nothing to read, is
//! check 0) reads exactly interval `k`: the bench appends the interval's
//! lines while the daemon sleeps after check `k` and waits for check `k + 1`
//! to end before appending the next. Empty intervals cost one (empty)
//! check each; a run of more than `idle_checks` of them is shortened by a
//! multiple of `period_checks` (psad: `delete_old_scans` runs every
//! `PERSISTENCE_CTR_THRESHOLD` checks, so the phase is kept).
//!
//! A check has ended when the daemon has rewritten the definition's
//! `checked` file (psad's `packet_ctr`, written by every check) since the
//! previous one, has read the followed file to its end (its file offset, in
//! `/proc/<pid>/fdinfo`), and sleeps (`/proc/<pid>/wchan`); a batch
//! appended while the daemon was not in that same sleep fails the run (its
//! next check might have read part of it). The daemon runs
//! in a sensor namespace ([`Sandbox`], `sbpd<pid><n>`, no addresses) and a
//! private mount namespace with the sandbox's `/dev`, whose `log` is the
//! daemon's syslog; every process left in the namespace is stopped by
//! process id at the end, also on failure. A syslog message is dated with
//! the capture time of the last line appended before it arrived.

#![cfg_attr(not(feature = "live"), allow(unused_imports, dead_code))]

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration as WallDuration, Instant as WallClock, SystemTime};

use scanbench_detector::{Duration, Instant};

use super::definition::{Definition, Feed};
use super::live::{refuse_long, unavailable};
use super::parse::ExtAlert;
#[cfg(feature = "live")]
use super::sandbox::Sandbox;
use crate::error::{Error, Result};

/// How long the daemon gets to start and finish its first check.
const STARTUP: WallDuration = WallDuration::from_secs(60);
/// How long one check may take before the replay gives up (a large batch
/// of lines on a loaded machine takes psad a few seconds).
const CHECK_TIMEOUT: WallDuration = WallDuration::from_secs(120);
/// After a check ends, how long the syslog collector gets to take the
/// check's messages before the next lines are appended (they were sent
/// before the daemon went to sleep; this only covers the collector thread's
/// scheduling on a loaded machine).
const COLLECT: WallDuration = WallDuration::from_millis(20);
/// How often the daemon's state is polled.
const POLL: WallDuration = WallDuration::from_millis(2);

/// The daemon checks a follow feed runs: for each, the range of lines
/// appended before it (empty for an interval without lines).
///
/// `times` are the lines' capture times in order (a time earlier than its
/// predecessor's counts in the predecessor's interval). Interval `k` is
/// `[k·interval, (k+1)·interval)`; a run of more than `idle_checks` empty
/// intervals is shortened by a multiple of `period_checks`, and when the
/// lines span fewer than half of `timeout_checks` intervals (the daemon's
/// scan timeout, in checks) no empty interval is kept: nothing can time
/// out, so an empty check changes nothing the daemon reports.
pub fn plan(
    times: &[Instant],
    interval: Duration,
    idle_checks: u64,
    period_checks: u64,
    timeout_checks: u64,
) -> Vec<Range<usize>> {
    let iv = interval.total_micros().max(1) as i64;
    let period = period_checks.max(1);
    // A log spanning less than half the timeout can have nothing timed out,
    // even if every check took twice its interval: empty checks do nothing.
    let span = times
        .iter()
        .map(|t| t.total_micros().div_euclid(iv).saturating_add(1))
        .max()
        .unwrap_or(0);
    let idle_checks = if span.unsigned_abs().saturating_mul(2) < timeout_checks {
        0
    } else {
        idle_checks
    };
    let mut checks = Vec::new();
    let mut next_k: i64 = 0;
    let mut i = 0;
    while i < times.len() {
        let k = times[i].total_micros().div_euclid(iv).max(next_k);
        let idle = k.saturating_sub(next_k).unsigned_abs();
        let keep = match idle_checks {
            0 => 0,
            bound if idle > bound => bound + (idle - bound) % period,
            _ => idle,
        };
        checks.extend((0..keep).map(|_| i..i));
        let mut j = i + 1;
        while j < times.len() && times[j].total_micros().div_euclid(iv) <= k {
            j += 1;
        }
        checks.push(i..j);
        next_k = k.saturating_add(1);
        i = j;
    }
    checks
}

/// Runs `def`'s daemon (`argv` and `setup`, placeholders filled in, the
/// followed file `file` and the per-check file `checked`) over the drop-log
/// lines in `log` (dated `times`), appending them check by check; returns
/// the alerts of its syslog messages, dated in capture time, and the
/// messages (one a line). A run longer than `max_replay_secs` of daemon
/// checks is refused.
///
/// # Errors
/// Not root or a missing facility, a run too long, an unreadable log, a
/// daemon that does not start or whose check does not end, or a log line
/// that cannot be read.
#[allow(clippy::too_many_arguments)]
pub fn replay(
    def: &Definition,
    argv: &[String],
    setup: &str,
    log: &Path,
    times: &[Instant],
    file: &Path,
    checked: &Path,
    max_replay_secs: Option<u64>,
) -> Result<(Vec<ExtAlert>, String)> {
    let fail = |message: String| Error::External {
        tool: def.name.clone(),
        message,
    };
    let Feed::Follow {
        interval,
        check_wall,
        idle_checks,
        period_checks,
        timeout_checks,
        ..
    } = def.feed
    else {
        return Err(fail("not a follow definition".into()));
    };
    if let Some(why) = unavailable() {
        return Err(fail(why));
    }
    let checks = plan(times, interval, idle_checks, period_checks, timeout_checks);
    let length = (checks.len() as u64).saturating_mul(check_wall.total_micros()) / 1_000_000;
    if let Some(why) = refuse_long(length, max_replay_secs) {
        return Err(fail(why));
    }
    let text = std::fs::read_to_string(log).map_err(|e| Error::Io {
        path: log.to_path_buf(),
        source: e,
    })?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != times.len() {
        return Err(fail(format!(
            "{} lines in {} for {} dates",
            lines.len(),
            log.display(),
            times.len()
        )));
    }

    #[cfg(not(feature = "live"))]
    {
        let _ = (argv, setup, file, checked, lines);
        Err(fail("a followed log needs the `live` feature".into()))
    }
    #[cfg(feature = "live")]
    {
        std::fs::write(file, b"").map_err(|e| Error::Io {
            path: file.to_path_buf(),
            source: e,
        })?;
        let sandbox = Sandbox::create("sbpd", &[]).map_err(fail)?;
        let (dev, collector) = sandbox.dev_with_log().map_err(fail)?;
        let stderr_path = file.with_extension("stderr");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| Error::Io {
            path: stderr_path.clone(),
            source: e,
        })?;
        let mut child = super::live::daemon_command(&sandbox, &dev, argv, setup)
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| fail(format!("starting `{}`: {e}", argv.join(" "))))?;
        // `ip netns exec`, `unshare` and `sh` each exec the next: the
        // child becomes the daemon, whatever else the set-up runs.
        let daemon = Daemon {
            pid: child.id(),
            file: file.to_path_buf(),
            checked: checked.to_path_buf(),
            argv,
            stderr: &stderr_path,
        };
        let fed = daemon.feed(&lines, &checks, &collector);
        // Stops the daemon (TERM, then KILL) and deletes the namespace.
        drop(sandbox);
        let _ = child.kill();
        let _ = child.wait();
        let (first_msg, sent_at) = fed.map_err(fail)?;
        let msgs = collector.finish();
        let sent: Vec<(WallClock, Instant)> =
            sent_at.into_iter().map(|(w, l)| (w, times[l])).collect();
        super::live::syslog_alerts(def, msgs, first_msg, &sent)
    }
}

/// The daemon being fed, and the files that show its checks.
#[cfg(feature = "live")]
struct Daemon<'a> {
    pid: u32,
    file: PathBuf,
    checked: PathBuf,
    argv: &'a [String],
    stderr: &'a Path,
}

#[cfg(feature = "live")]
impl Daemon<'_> {
    /// Appends each check's lines and waits for the check; returns how many
    /// syslog messages came before the first line (start-up chatter) and,
    /// for each append, when it was made and its last line.
    fn feed(
        &self,
        lines: &[&str],
        checks: &[Range<usize>],
        collector: &super::sandbox::Collector,
    ) -> std::result::Result<(usize, Vec<(WallClock, usize)>), String> {
        let pid = self.pid;
        let mut last = self.check_ended(pid, None, STARTUP, collector)?;
        std::thread::sleep(COLLECT);
        let first_msg = collector.len();
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.file)
            .map_err(|e| format!("{}: {e}", self.file.display()))?;
        let mut sent_at = Vec::with_capacity(checks.len());
        for range in checks {
            if !range.is_empty() {
                let mut batch = String::new();
                for l in &lines[range.clone()] {
                    batch.push_str(l);
                    batch.push('\n');
                }
                // One write: the daemon sleeps, and reads the whole batch at its next check.
                out.write_all(batch.as_bytes())
                    .map_err(|e| format!("{}: {e}", self.file.display()))?;
                // Still in the same sleep (no check ended since): the next
                // check reads the whole batch, not a part of it.
                if !(sleeping(pid) && self.stamp() == Some(last)) {
                    return Err(format!(
                        "`{}` woke while a check's lines were appended (a loaded machine?)",
                        self.argv.join(" ")
                    ));
                }
                sent_at.push((WallClock::now(), range.end - 1));
            }
            last = self.check_ended(pid, Some(last), CHECK_TIMEOUT, collector)?;
            std::thread::sleep(COLLECT);
        }
        Ok((first_msg, sent_at))
    }

    /// Waits until the daemon has ended a check after the one whose
    /// `checked` file time was `after`; returns this check's.
    fn check_ended(
        &self,
        pid: u32,
        after: Option<SystemTime>,
        timeout: WallDuration,
        collector: &super::sandbox::Collector,
    ) -> std::result::Result<SystemTime, String> {
        let from = WallClock::now();
        loop {
            if let Some(t) = self.stamp().filter(|t| Some(*t) != after) {
                if sleeping(pid) && read_to_end(pid, &self.file) {
                    return Ok(t);
                }
            }
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return Err(self.not_running(collector));
            }
            if from.elapsed() > timeout {
                return Err(format!(
                    "`{}` did not end a check within {} s (no new {})",
                    self.argv.join(" "),
                    timeout.as_secs(),
                    self.checked.display()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// When the daemon last rewrote its per-check file.
    fn stamp(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.checked)
            .and_then(|m| m.modified())
            .ok()
    }

    fn not_running(&self, collector: &super::sandbox::Collector) -> String {
        let err = std::fs::read_to_string(self.stderr).unwrap_or_default();
        format!(
            "`{}` is not running in the sensor namespace (its stderr: {}; last log lines: {})",
            self.argv.join(" "),
            err.trim(),
            collector.last(3).join(" | ")
        )
    }
}

/// Whether `pid` sleeps in `nanosleep` (psad between checks): the kernel
/// function it waits in (`/proc/<pid>/wchan`), or where the kernel does not
/// name it (no kallsyms: `0`), the system call it is in.
fn sleeping(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/wchan")) {
        Ok(w) if !matches!(w.trim(), "" | "0") => w.contains("nanosleep"),
        _ => std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| NANOSLEEP_SYSCALLS.contains(&n))
        }),
    }
}

/// `nanosleep` and `clock_nanosleep` system call numbers.
#[cfg(target_arch = "x86_64")]
const NANOSLEEP_SYSCALLS: [u32; 2] = [35, 230];
#[cfg(target_arch = "aarch64")]
const NANOSLEEP_SYSCALLS: [u32; 2] = [101, 115];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NANOSLEEP_SYSCALLS: [u32; 0] = [];

/// Whether `pid` has `file` open and has read it to its end.
fn read_to_end(pid: u32, file: &Path) -> bool {
    let Ok(size) = std::fs::metadata(file).map(|m| m.len()) else {
        return false;
    };
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|t| t == file)
            && std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("pos:"))
                    .and_then(|p| p.trim().parse::<u64>().ok())
            }) == Some(size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_process_and_a_file_read_to_its_end_are_seen() {
        use std::io::Read;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let seen = (0..500).any(|_| {
            std::thread::sleep(WallDuration::from_millis(10));
            sleeping(child.id())
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen, "`sleep 5` never seen in nanosleep");
        assert!(!sleeping(std::process::id()), "this test is running");

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("messages");
        std::fs::write(&p, "one\ntwo\n").unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        assert!(!read_to_end(std::process::id(), &p));
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        assert!(read_to_end(std::process::id(), &p));
        std::fs::write(&p, "one\ntwo\nthree\n").unwrap();
        assert!(!read_to_end(std::process::id(), &p), "a line appended");
    }

    #[test]
    fn lines_go_to_their_interval_and_long_idle_runs_keep_their_phase() {
        let t = Instant::from_secs;
        let iv = Duration::from_secs(5);
        // Intervals 0, 0, 2, then 20 (17 empty between, kept: 17 <= 20).
        let p = plan(&[t(1), t(4), t(10), t(100)], iv, 20, 5, 40);
        assert_eq!(p[0], 0..2);
        assert_eq!(p[1], 2..2);
        assert_eq!(p[2], 2..3);
        assert_eq!(p.len(), 3 + 17 + 1);
        assert_eq!(p[20], 3..4);
        // 99 empty intervals before interval 99, bound 20: 20 + 79 % 5 = 24.
        let p = plan(&[t(495)], iv, 20, 5, 100);
        assert_eq!(p.len(), 24 + 1);
        assert_eq!((p.len() - 1) % 5, 99 % 5);
        // Out-of-order dates stay in their predecessor's interval.
        assert_eq!(plan(&[t(12), t(3)], iv, 20, 5, 4)[2], 0..2);
        assert!(plan(&[], iv, 20, 5, 720).is_empty());
        // 100 intervals, timeout 720 checks: nothing can time out, empty
        // intervals are skipped.
        assert_eq!(plan(&[t(1), t(495)], iv, 20, 5, 720), vec![0..1, 1..2]);
    }
}
