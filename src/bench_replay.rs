//! `scanbench bench replay FILE`: replay throughput on a real (or generated)
//! capture, against `tcpdump -nn -r FILE -w /dev/null` reading the same file
//! in the same run. Not a test: the figures depend on the machine and its load.
//!
//! Two figures, each the full `replay` path (read, hash, parse once, ground
//! truth, detectors on all cores):
//! - all default detector configurations together, as a ratio to tcpdump;
//! - the five threshold detectors (scanlogd, portsentry, suricata-et, psad,
//!   screenos) together, in M packets/s (psad reads a firewall's drop log, so
//!   on a wire capture it sees nothing: it is listed, as the issue asks, and
//!   costs nothing).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant as Wall;

use scanbench_capture::{PcapFormat, PcapWriter};
use scanbench_detector::Duration;

use crate::bench::detector_capture;
use crate::detect::default_suite;
use crate::error::{Error, Result};
use crate::replay::{ReplayOptions, replay_capture};

/// The five threshold detectors of the replay goal.
pub const THRESHOLD_FIVE: [&str; 5] = ["scanlogd", "portsentry", "suricata-et", "psad", "screenos"];

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a classic pcap of at least `frames` frames at `path`: the
/// `bench detectors` workload (T3 SYN scans among web clients) repeated,
/// each copy shifted past the previous one in time. Streams to disk: memory
/// holds one copy of the workload only.
///
/// # Errors
/// The file cannot be written.
pub fn generate(path: &Path, frames: u64) -> Result<u64> {
    let base = detector_capture(20, 200)?;
    let span = base.last().map_or(0, |f| f.0.total_micros()) + 1_000_000;
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        PcapFormat::default(),
    )
    .map_err(io_err(path))?;
    let mut written = 0u64;
    let mut copy = 0i64;
    while written < frames && !base.is_empty() {
        let shift = Duration::from_micros((copy * span) as u64);
        for (at, bytes, _) in &base {
            w.write_frame(*at + shift, bytes, None)
                .map_err(io_err(path))?;
            written += 1;
        }
        copy += 1;
    }
    w.finish()
        .map_err(io_err(path))?
        .into_inner()
        .map_err(|e| io_err(path)(e.into_error()))?;
    Ok(written)
}

/// CPU seconds (user + system) used so far by this process (`children`:
/// false) or by its waited-for children (true), from `/proc/self/stat`; 0
/// where that file does not exist. Wall time alone misleads on a loaded
/// machine: the CPU time says what the work costs.
fn cpu_seconds(children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime is field 14.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let at = if children { 13 } else { 11 };
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on every Linux this runs on.
    (ticks(at) + ticks(at + 1)) / 100.0
}

/// Wall and CPU seconds of a run of `f`.
fn timed<T>(children: bool, f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Wall::now(), cpu_seconds(children));
    let r = f();
    (r, t.elapsed().as_secs_f64(), cpu_seconds(children) - c)
}

/// (wall, CPU) seconds of `tcpdump -nn -r FILE -w /dev/null`, best of `runs`.
fn tcpdump(file: &Path, runs: u32) -> std::result::Result<(f64, f64), String> {
    let mut best = (f64::INFINITY, f64::INFINITY);
    for _ in 0..runs.max(1) {
        let (t, c) = (Wall::now(), cpu_seconds(true));
        let status = Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(file)
            .args(["-w", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run tcpdump: {e}"))?;
        if !status.success() {
            return Err(format!("tcpdump exited with {status}"));
        }
        best.0 = best.0.min(t.elapsed().as_secs_f64());
        best.1 = best.1.min(cpu_seconds(true) - c);
    }
    Ok(best)
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One replay of `file` with `specs` on `threads` threads: (frames, wall
/// seconds, CPU seconds).
fn timed_replay(file: &Path, specs: &[String], threads: usize) -> Result<(u64, f64, f64)> {
    let opts = ReplayOptions {
        specs: specs.to_vec(),
        threads,
        ..ReplayOptions::default()
    };
    let (r, wall, cpu) = timed(false, || replay_capture(file, &opts));
    let r = r?;
    if let Some(e) = r.error {
        return Err(e);
    }
    Ok((r.run.summary.taps[0].frames, wall, cpu))
}

/// Runs the replay benchmark on `file`, printing one line per figure;
/// `threads` 0 means one per core.
///
/// # Errors
/// The file cannot be read as a capture.
pub fn run(file: &Path, threads: usize, out: &mut dyn FnMut(&str)) -> Result<()> {
    let size = std::fs::metadata(file).map_err(io_err(file))?.len();
    out(&format!(
        "replay: {} ({:.2} GB), {} cores",
        file.display(),
        size as f64 / 1e9,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ));
    let reference = tcpdump(file, 2);
    match &reference {
        Ok((w, c)) => out(&format!(
            "reference tcpdump: {w:.2} s wall, {c:.2} s CPU (`tcpdump -nn -r FILE -w /dev/null`, best of 2)"
        )),
        Err(why) => out(&format!("reference tcpdump: skipped ({why})")),
    }
    let mut figure = |what: &str, (n, wall, cpu): (u64, f64, f64)| {
        let vs = match &reference {
            Ok((w, c)) => format!(
                "; {:.2}x tcpdump's wall time, {:.2}x its CPU time (goal <= 1)",
                wall / w,
                cpu / c.max(0.01)
            ),
            Err(_) => String::new(),
        };
        out(&format!(
            "replay, {what}: {n} frames in {wall:.2} s wall = {:.2} M pkt/s ({cpu:.2} s CPU = {:.2} M pkt/s per core){vs}; peak RSS {:.0} MiB",
            n as f64 / wall / 1e6,
            n as f64 / cpu.max(0.01) / 1e6,
            peak_rss_mib().unwrap_or(0.0)
        ));
    };
    let five: Vec<String> = THRESHOLD_FIVE.iter().map(|s| s.to_string()).collect();
    figure(
        "the five threshold detectors (goal >= 10 M pkt/s)",
        timed_replay(file, &five, threads)?,
    );
    let all = default_suite();
    let what = format!("all {} default configurations", all.len());
    figure(&what, timed_replay(file, &all, threads)?);
    Ok(())
}
