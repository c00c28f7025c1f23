//! Live replay: a capture replayed into a sensor network namespace where a
//! real daemon (scanlogd, PortSentry) reads its raw socket, with the
//! daemon's syslog collected on a private `/dev/log`.
//!
//! The namespace and everything in it are made by [`Sandbox`] and torn down
//! afterwards, also on failure. The daemon is started through `ip netns
//! exec` and `unshare --mount`, in a private mount namespace whose `/dev` is
//! the sandbox's, after the definition's `setup` commands.
//!
//! Packets are written to the TUN device at their original spacing, except
//! that a gap longer than the definition's bound is shortened to the bound
//! (each built-in definition says why its tool cannot notice). A daemon that
//! falls behind loses packets: the kernel drops what no longer fits its raw
//! socket's receive buffer (about 200 KiB; `net.core.rmem_default` cannot be
//! set per namespace). So the sockets' queues and drop counters are read
//! from `/proc/<pid>/net/raw`: under the definition's [`Pacing`], a packet
//! waits while more than [`PACE_QUEUE_BYTES`] are queued; a replay that
//! lost packets, or fell further behind its schedule than the pacing
//! allows, is an error, not a result. A syslog message is dated with the
//! capture time of the last packet written before it arrived.

// Without the `live` feature only the no-root checks and the error remain.
#![cfg_attr(not(feature = "live"), allow(unused_imports, dead_code))]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration as WallDuration, Instant as WallClock};

use scanbench_detector::view::Transport;
use scanbench_detector::{Duration, Instant, PacketView};

use super::definition::{Definition, Feed, Pacing};
use super::parse::{ExtAlert, Format, parse};
#[cfg(feature = "live")]
use super::sandbox::{Collector, Sandbox, raw_socket_state};
use crate::capture::CaptureReader;
use crate::error::{Error, Result};

/// How the error of a replay refused for its length begins (`scanbench
/// fidelity` reports such a pair as skipped, not as a failure).
pub const SKIPPED: &str = "skipped:";

/// A paced replay holds the next packet while the daemon's raw sockets hold
/// more than this many bytes (a quarter of the default receive buffer).
pub const PACE_QUEUE_BYTES: u64 = 48 << 10;
/// How long a replay waits for the daemon to read before giving up.
const PACE_TIMEOUT: WallDuration = WallDuration::from_secs(30);
/// How long after the last packet the daemon's log is still read.
const DRAIN: WallDuration = WallDuration::from_millis(1500);
/// How long a daemon gets to start before the first packet.
const STARTUP: WallDuration = WallDuration::from_millis(1500);
/// After the daemon has read its queue, how long it gets to finish with
/// the last packet before a listener changes what it would see.
const SETTLE: WallDuration = WallDuration::from_millis(5);

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Why live replay cannot run here, if it cannot: not root, no TUN
/// device, no `ip`, `unshare`, `mount` or `iptables`.
pub fn unavailable() -> Option<String> {
    if cfg!(not(feature = "live")) {
        return Some(
            "live replay needs scanbench built with its `live` feature (the default)".into(),
        );
    }
    if !is_root() {
        return Some("live replay needs root (network and mount namespaces, a TUN device)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("live replay needs /dev/net/tun".into());
    }
    for tool in ["ip", "unshare", "mount", "iptables"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            return Some(format!("live replay needs `{tool}` on PATH"));
        }
    }
    None
}

/// The capture time to schedule each frame at, relative to the first
/// frame, after shortening every gap longer than `bound` to `bound`.
pub fn schedule(times: &[Instant], bound: Duration) -> Vec<Duration> {
    let mut out = Vec::with_capacity(times.len());
    let mut acc = Duration::ZERO;
    for (i, t) in times.iter().enumerate() {
        if i > 0 {
            let gap = if *t > times[i - 1] {
                *t - times[i - 1]
            } else {
                Duration::ZERO
            };
            acc += gap.min(bound);
        }
        out.push(acc);
    }
    out
}

/// The server a frame shows: the source of a TCP SYN-ACK.
#[cfg(feature = "live")]
fn server_of(bytes: &[u8]) -> Option<(Ipv4Addr, u16)> {
    let v = PacketView::parse(0, bytes).ok()?;
    match v.transport {
        Transport::Tcp(t) if t.flags.is_syn_ack() => Some((v.src, t.src_port)),
        _ => None,
    }
}

/// Replays `pcap` into a sensor namespace running `def`'s daemon (`argv`
/// and `setup`, placeholders filled in), and returns the alerts of its
/// syslog messages, dated in capture time, and the messages themselves (one
/// a line, as received). A replay whose shortened schedule is longer than
/// `max_replay_secs` is refused.
///
/// # Errors
/// Not root or a missing facility (a clear message), a replay too long, a
/// set-up step that fails, an unreadable capture, packets the daemon's
/// socket dropped, a replay late beyond its pacing, or a log line that
/// cannot be read.
pub fn replay(
    def: &Definition,
    argv: &[String],
    setup: &str,
    pcap: &Path,
    max_replay_secs: Option<u64>,
) -> Result<(Vec<ExtAlert>, String)> {
    let fail = |message: String| Error::External {
        tool: def.name.clone(),
        message,
    };
    let Feed::Live {
        gap_bound,
        pacing,
        listeners,
    } = def.feed
    else {
        return Err(fail("not a live definition".into()));
    };
    if let Some(why) = unavailable() {
        return Err(fail(why));
    }
    // The capture, in memory (the bench's sensor captures are small enough).
    let mut reader = CaptureReader::open(pcap)?;
    let mut frames: Vec<(Instant, Vec<u8>)> = Vec::new();
    while let Some(f) = reader.next_frame() {
        let f = f?;
        frames.push((f.at(), f.bytes.to_vec()));
    }
    let times: Vec<Instant> = frames.iter().map(|(t, _)| *t).collect();
    let plan = schedule(&times, gap_bound);
    let length = plan.last().map_or(0, |d| d.secs());
    if let Some(why) = refuse_long(length, max_replay_secs) {
        return Err(fail(why));
    }
    let mut addrs: Vec<Ipv4Addr> = frames
        .iter()
        .filter_map(|(_, b)| PacketView::parse(0, b).ok())
        .flat_map(|p| [p.src, p.dst])
        .collect();
    addrs.sort();
    addrs.dedup();

    #[cfg(not(feature = "live"))]
    {
        let _ = (argv, setup, gap_bound, pacing, listeners, addrs, plan);
        Err(fail("live replay needs the `live` feature".into()))
    }
    #[cfg(feature = "live")]
    {
        let mut sandbox = Sandbox::create("sbx", &addrs).map_err(fail)?;
        let (dev, log) = sandbox.dev_with_log().map_err(fail)?;
        let daemon = start(&sandbox, &dev, &log, argv, setup, def.format).map_err(fail)?;
        let first_msg = log.len();
        let feed = Feeder {
            sandbox: &mut sandbox,
            daemon,
            pacing,
            listeners,
        };
        let sent_at = feed.run(&frames, &plan).map_err(fail)?;
        let msgs = log.finish();
        drop(sandbox);
        let sent: Vec<(WallClock, Instant)> = sent_at.into_iter().zip(times).collect();
        syslog_alerts(def, msgs, first_msg, &sent)
    }
}

/// Refuses a replay of `length` seconds longer than `max_replay_secs`,
/// with the message `scanbench fidelity` reports as skipped.
pub(super) fn refuse_long(length: u64, max_replay_secs: Option<u64>) -> Option<String> {
    max_replay_secs.filter(|l| length > *l).map(|limit| {
        format!("{SKIPPED} the replay would take {length} s (limit {limit} s, --max-replay)")
    })
}

/// The alerts of a daemon's syslog messages (each with its arrival), each
/// dated with the capture time of the last input sent before it arrived
/// (`sent`: when, and the input's capture time, in order), and the messages
/// one a line. The first `first_msg` messages (start-up chatter) are kept
/// in the raw text only.
///
/// # Errors
/// A message that starts like an alert and cannot be read.
pub(super) fn syslog_alerts(
    def: &Definition,
    msgs: Vec<(WallClock, String)>,
    first_msg: usize,
    sent: &[(WallClock, Instant)],
) -> Result<(Vec<ExtAlert>, String)> {
    let mut out = Vec::new();
    let mut raw = String::new();
    for (i, (arrived, text)) in msgs.into_iter().enumerate() {
        raw.push_str(&text);
        raw.push('\n');
        if i < first_msg {
            continue;
        }
        let parsed = parse(def.format, &text, 1970).map_err(|e| Error::External {
            tool: def.name.clone(),
            message: format!("syslog message {}: {e}", i + 1),
        })?;
        let k = sent.partition_point(|(s, _)| *s <= arrived);
        let at = k.checked_sub(1).map(|k| sent[k].1.total_micros());
        for mut a in parsed {
            a.at_us = a.at_us.or(at);
            out.push(a);
        }
    }
    Ok((out, raw))
}

/// The command that runs `argv` in `sandbox`'s network namespace and in a
/// private mount namespace whose `/dev` is `dev` (the real `null`, `zero`,
/// `random` and `urandom` bound into it), after `setup`; `TZ=UTC`, no
/// input, standard output discarded.
#[cfg(feature = "live")]
pub(super) fn daemon_command(
    sandbox: &Sandbox,
    dev: &Path,
    argv: &[String],
    setup: &str,
) -> Command {
    let d = dev.to_string_lossy();
    let script = format!(
        "set -e; for f in null zero random urandom; do mount --bind /dev/$f {d}/$f; done; \
         mount --bind {d} /dev; {setup}\n exec \"$@\""
    );
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &sandbox.netns, "unshare", "--mount"])
        .args(["--propagation", "private", "sh", "-c", &script, "sh"])
        .args(argv)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

#[cfg(feature = "live")]
/// Starts the daemon in the sandbox and waits until it runs (PortSentry:
/// until it says it is active); returns a process id in the namespace.
fn start(
    sandbox: &Sandbox,
    dev: &Path,
    log: &Collector,
    argv: &[String],
    setup: &str,
    format: Format,
) -> std::result::Result<u32, String> {
    let child = daemon_command(sandbox, dev, argv, setup)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting `{}`: {e}", argv.join(" ")))?;
    let started = WallClock::now();
    // Daemons fork and the parent exits; wait for that.
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let ready = || format != Format::Portsentry || log.any_contains("now active");
    while started.elapsed() < STARTUP * 4 && !(started.elapsed() >= STARTUP && ready()) {
        std::thread::sleep(WallDuration::from_millis(20));
    }
    sandbox.pids().first().copied().ok_or_else(|| {
        format!(
            "`{}` is not running in the sensor namespace (last log lines: {})",
            argv.join(" "),
            log.last(3).join(" | ")
        )
    })
}

/// Writes the capture into the sandbox on its schedule.
#[cfg(feature = "live")]
struct Feeder<'a> {
    sandbox: &'a mut Sandbox,
    daemon: u32,
    pacing: Pacing,
    listeners: bool,
}

#[cfg(feature = "live")]
impl Feeder<'_> {
    /// Waits until the daemon's sockets hold at most `queued` bytes.
    fn wait_for_reader(&self, queued: u64) -> std::result::Result<(), String> {
        let from = WallClock::now();
        while raw_socket_state(self.daemon).is_some_and(|(q, _)| q > queued) {
            if from.elapsed() > PACE_TIMEOUT {
                return Err(format!(
                    "the daemon read nothing from its socket for {} s",
                    PACE_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(WallDuration::from_micros(500));
        }
        Ok(())
    }

    /// Sends every frame at `plan` (relative to the start, later by the
    /// time spent waiting for the daemon); returns when each was sent.
    fn run(
        self,
        frames: &[(Instant, Vec<u8>)],
        plan: &[Duration],
    ) -> std::result::Result<Vec<WallClock>, String> {
        let drops_before = raw_socket_state(self.daemon).map_or(0, |(_, d)| d);
        let slip = match self.pacing {
            Pacing::UpTo(b) => Some(WallDuration::from_micros(b.total_micros())),
            Pacing::Never | Pacing::Always => None,
        };
        let start = WallClock::now();
        let mut t0 = start;
        let mut late = WallDuration::ZERO;
        let mut sent_at = Vec::with_capacity(frames.len());
        for ((_, bytes), rel) in frames.iter().zip(plan) {
            let rel = WallDuration::from_micros(rel.total_micros());
            let waited = WallClock::now();
            if self.listeners {
                if let Some((addr, port)) = server_of(bytes) {
                    self.wait_for_reader(0)?;
                    std::thread::sleep(SETTLE);
                    self.sandbox.listen(addr, port)?;
                }
            }
            if self.pacing != Pacing::Never {
                self.wait_for_reader(PACE_QUEUE_BYTES)?;
            }
            t0 += waited.elapsed();
            let due = t0 + rel;
            let now = WallClock::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if let Err(e) = self.sandbox.send(bytes) {
                // A frame the kernel refuses (not IPv4) is not one the daemon would see.
                if e.kind() != std::io::ErrorKind::InvalidInput {
                    return Err(format!("writing to the TUN device: {e}"));
                }
            }
            let sent = WallClock::now();
            late = late.max(sent.saturating_duration_since(start + rel));
            if let Some(bound) = slip.filter(|b| late > *b) {
                return Err(format!(
                    "the replay fell {} ms behind its schedule (at most {} ms keep this tool's \
                     time windows intact: a loaded machine?)",
                    late.as_millis(),
                    bound.as_millis()
                ));
            }
            sent_at.push(sent);
        }
        std::thread::sleep(DRAIN);
        let dropped =
            raw_socket_state(self.daemon).map_or(0, |(_, d)| d.saturating_sub(drops_before));
        if dropped > 0 {
            return Err(format!(
                "the daemon's raw socket dropped {dropped} of {} packets (it fell behind: a \
                 loaded machine?); its alerts would be incomplete",
                frames.len()
            ));
        }
        Ok(sent_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_gaps_are_shortened_to_the_bound_and_order_is_kept() {
        let t = |s: i64| Instant::from_millis(s);
        let plan = schedule(
            &[t(0), t(100), t(10_100), t(10_100), t(9_000)],
            Duration::from_millis(500),
        );
        let ms: Vec<u64> = plan.iter().map(|d| d.total_millis()).collect();
        assert_eq!(ms, vec![0, 100, 600, 600, 600]);
    }
}
