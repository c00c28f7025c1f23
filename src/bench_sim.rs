//! Simulator figures of `scanbench bench` besides the throughput workloads
//! in [`crate::bench`]: process CPU time and memory, memory against simulated
//! duration, and `gen` against Scapy. Linux figures come from `/proc`; where
//! it is missing they are printed as unknown.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant as Wall;

use scanbench_capture::PcapFormat;
use scanbench_detector::PacketView;
use scanbench_sim::{Frame, Instant};

use crate::bench::{pollers_network, sim};
use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::generate::{GenOptions, generate};
use crate::scenario::Scenario;

/// CPU time of the calling thread in seconds (`/proc/thread-self/schedstat`,
/// nanoseconds): under load from other processes, a steadier figure than wall time.
pub fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resident memory now, bytes.
pub fn rss() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// The process's peak resident memory so far, bytes.
pub fn peak_rss() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// `123.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `clients` pollers run one simulated day at a time for `days` days; the
/// resident memory after each day shows whether it grows with simulated time.
pub fn memory_over_time(clients: u32, days: i64, out: &mut dyn FnMut(&str)) -> Result<()> {
    let mut net = pollers_network(clients)?;
    let mut sink = |_: &Frame<'_>| {};
    for day in 1..=days {
        let t = Wall::now();
        net.run_until(Instant::from_secs(86_400 * day), &mut sink)
            .map_err(sim)?;
        out(&format!(
            "memory: {clients} pollers, after simulated day {day}: {} packets so far, RSS {} (day took {:.2} s)",
            net.stats().sent,
            rss().map_or("unknown".into(), mib),
            t.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// The scenario of the `gen` workload.
const GEN_SCENARIO: &str = "bench/gen-office.toml";
/// Packets Scapy builds (its rate is per packet; more only takes longer).
const SCAPY_PACKETS: usize = 50_000;
/// The goal of issue 17 for `gen`.
const GEN_GOAL: f64 = 1000.0;

/// `gen` of `GEN_SCENARIO` with `hosts` client hosts, with and without a
/// labels file, then Scapy writing the same packets (headers and sizes) with
/// `PcapWriter`, if a Python with Scapy is found (`SCANBENCH_SCAPY_PYTHON`,
/// else `bench/.venv/bin/python` as `bench/scapy-venv.sh` makes it).
pub fn generation(hosts: usize, out: &mut dyn FnMut(&str)) -> Result<()> {
    let sc = Scenario::load(Path::new(GEN_SCENARIO))?.with_hosts(hosts)?;
    let dir = std::env::temp_dir().join(format!("scanbench-bench-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let result = gen_in(&sc, hosts, &dir, out);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn gen_in(sc: &Scenario, hosts: usize, dir: &Path, out: &mut dyn FnMut(&str)) -> Result<()> {
    let pcap = dir.join("gen.pcap");
    let mut rate = 0.0;
    for no_labels in [false, true] {
        let options = GenOptions {
            pcap: pcap.clone(),
            labels: None,
            no_labels,
            format: PcapFormat::Pcap { nanos: false },
            repeat: 1,
            seed: None,
            taps: vec![],
            jobs: 1,
        };
        let t = Wall::now();
        let s = generate(sc, &options)?;
        let wall = t.elapsed().as_secs_f64();
        let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
        rate = frames as f64 / wall;
        out(&format!(
            "gen: {GEN_SCENARIO} with {hosts} client hosts, {:.0} s simulated, {}: {frames} frames ({} link transmissions) in {wall:.2} s = {:.3} M frames/s",
            s.simulated.total_micros() as f64 / 1e6,
            if no_labels {
                "--no-labels"
            } else {
                "with labels file"
            },
            s.transmissions,
            rate / 1e6
        ));
    }
    let recipe = dir.join("recipe.txt");
    let n = write_recipe(&pcap, &recipe, SCAPY_PACKETS)?;
    match scapy(&recipe, &dir.join("scapy.pcap")) {
        Ok(scapy_rate) => out(&format!(
            "reference scapy: {n} of the same packets built and written with PcapWriter at {scapy_rate:.0} packets/s (bench/scapy_pcap.py); gen without labels file is {:.0}x (goal >= {GEN_GOAL:.0}x: {})",
            rate / scapy_rate,
            if rate / scapy_rate >= GEN_GOAL {
                "met"
            } else {
                "not met"
            }
        )),
        Err(why) => out(&format!("reference scapy: skipped ({why})")),
    }
    Ok(())
}

/// Writes the first `limit` frames of `pcap` as the lines `bench/scapy_pcap.py`
/// reads: time_us src dst proto sport dport flags ip_len.
fn write_recipe(pcap: &Path, recipe: &Path, limit: usize) -> Result<usize> {
    let io = |e| Error::Io {
        path: recipe.to_path_buf(),
        source: e,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(recipe).map_err(io)?);
    let mut reader = CaptureReader::open(pcap)?;
    let mut n = 0;
    while n < limit
        && let Some(f) = reader.next_frame()
    {
        let f = f?;
        let Ok(v) = PacketView::parse(f.index, &f.bytes) else {
            continue;
        };
        let (sport, dport) = v.ports().unwrap_or((0, 0));
        let flags = v.tcp().map_or("-".to_string(), |t| scapy_flags(t.flags.0));
        writeln!(
            out,
            "{} {} {} {} {sport} {dport} {flags} {}",
            f.at().total_micros(),
            v.src,
            v.dst,
            v.protocol,
            f.bytes.len()
        )
        .map_err(io)?;
        n += 1;
    }
    out.flush().map_err(io)?;
    Ok(n)
}

/// TCP flag bits as Scapy's letters (`-` for none).
fn scapy_flags(bits: u8) -> String {
    let s: String = "FSRPAUEC"
        .chars()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| c)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// Scapy's packets per second over `recipe`, or why it did not run.
fn scapy(recipe: &Path, out: &Path) -> std::result::Result<f64, String> {
    let python = std::env::var_os("SCANBENCH_SCAPY_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("bench/.venv/bin/python")).filter(|p| p.exists()))
        .ok_or("no Python with Scapy: run bench/scapy-venv.sh or set SCANBENCH_SCAPY_PYTHON")?;
    let o = Command::new(&python)
        .arg("bench/scapy_pcap.py")
        .arg(recipe)
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(format!(
            "{} exited with {}: {}",
            python.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    // "scapy: N packets in S s = R packets/s"
    text.split("= ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| format!("unexpected output from bench/scapy_pcap.py: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_scapy_writes_them() {
        assert_eq!(scapy_flags(0x12), "SA");
        assert_eq!(scapy_flags(0x29), "FPU");
        assert_eq!(scapy_flags(0), "-");
    }
}
