//! `scanbench gen`: a labelled capture at scale from one scenario.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::Context;
use clap::Args;
use scanbench::generate::{GenOptions, generate_reporting};
use scanbench::report::duration_text;
use scanbench_capture::PcapFormat;
use scanbench_sim::units;

use super::progress::Progress;
use super::{at_least_one, one_scenario, term, usage};

/// `scanbench gen`.
#[derive(Args)]
pub struct GenArgs {
    /// The scenario file, or the name of a built-in scenario (`syn-scan-t3`).
    scenario: PathBuf,
    /// Write the capture here (per tap, `NAME.<tap>.pcap`; a `.pcapng` name writes pcapng).
    #[arg(long)]
    pcap: PathBuf,
    /// Run the scenario N times back to back (seeds seed, seed+1, ...),
    /// each shifted by one scenario duration, into the same capture.
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with = "duration",
          value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Simulate this long instead of the scenario's duration (a number with
    /// a unit: `90s`, `30m`, `1d`).
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Copy the scenario's benign client hosts until there are N (background
    /// at scale; see docs/gen.md for how copies are placed and started).
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    hosts: Option<usize>,
    /// Seed of the first repetition (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Only these taps (comma-separated; default: every tap).
    #[arg(long, value_delimiter = ',')]
    tap: Vec<String>,
    /// Labels file (JSON lines; default beside the capture, `NAME.labels.jsonl`).
    #[arg(long, conflicts_with = "no_labels")]
    labels: Option<PathBuf>,
    /// Write no labels file (pcapng comments still carry the labels).
    #[arg(long)]
    no_labels: bool,
    /// Write pcapng with per-packet label comments instead of classic pcap.
    #[arg(long)]
    pcapng: bool,
    /// Nanosecond timestamps.
    #[arg(long)]
    nanos: bool,
    /// Repetitions simulated at once (default: the number of cores; output
    /// is the same for any value).
    #[arg(long, short, value_parser = at_least_one::<usize>)]
    jobs: Option<usize>,
}

/// `scanbench gen`.
pub fn generate_cmd(a: GenArgs) -> anyhow::Result<ExitCode> {
    if a.pcap.as_os_str() == "-" {
        return Err(usage(
            "gen",
            "--pcap: gen writes one file per tap; give a file name, not `-`",
        ));
    }
    let duration = match &a.duration {
        Some(d) => {
            let d = units::duration(d).map_err(|m| usage("gen", format!("--duration: {m}")))?;
            if d == scanbench_sim::Duration::ZERO {
                return Err(usage("gen", "--duration: must be longer than zero"));
            }
            Some(d)
        }
        None => None,
    };
    let mut sc = one_scenario(&a.scenario)?;
    if let Some(d) = duration {
        sc.duration = d;
    }
    if let Some(n) = a.hosts {
        sc = sc.with_hosts(n)?;
    }
    let options = GenOptions {
        format: PcapFormat::for_path(&a.pcap, a.pcapng, a.nanos),
        pcap: a.pcap,
        labels: a.labels,
        no_labels: a.no_labels,
        repeat: a.repeat,
        seed: a.seed,
        taps: a.tap,
        jobs: a.jobs.unwrap_or_else(scanbench::parallel::default_threads),
    };
    let started = WallClock::now();
    // Progress per repetition written (a single repetition shows none).
    let mut progress =
        (options.repeat > 1).then(|| Progress::new(options.repeat.into(), "repetition"));
    let s = generate_reporting(&sc, &options, &mut |k| {
        if let Some(p) = progress.as_mut() {
            p.finished_up_to(
                u64::from(k),
                &format!("{k}/{} repetitions written", options.repeat),
            );
        }
    })
    .with_context(|| format!("gen {}", sc.path.display()))?;
    drop(progress);
    let wall = started.elapsed().as_secs_f64();
    let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
    term::note(format_args!(
        "{}: seed {}, {} x {} simulated, {} link transmissions, {frames} frames in {wall:.2} s wall ({:.2} M frames/s)",
        sc.name,
        s.seed,
        options.repeat,
        duration_text(sc.duration.total_micros()),
        s.transmissions,
        frames as f64 / wall.max(1e-9) / 1e6
    ));
    let mut out = term::stdout();
    for t in &s.taps {
        writeln!(
            out,
            "{}: {} frames, {} bytes of packets, sha256 {}",
            t.path.display(),
            t.frames,
            t.packet_bytes,
            t.sha256
        )?;
        if let Some(l) = &t.labels {
            writeln!(out, "{}: labels", l.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
