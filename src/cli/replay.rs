//! `scanbench replay`: a capture or an iptables log through the detectors.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use scanbench::labels::FrameLabels;
use scanbench::replay::{ReplayOptions, Replayed, replay_capture, replay_iptables_log};
use scanbench::report::short;
use scanbench::{Format, Report};
use scanbench_detector::Cidr;

use super::{detector_specs, externals, print_alerts};

/// `scanbench replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// A pcap or pcapng file (gzip'd or not); `-` reads standard input.
    #[arg(
        required_unless_present = "iptables_log",
        conflicts_with = "iptables_log"
    )]
    file: Option<PathBuf>,
    /// Read an iptables LOG file (kernel or ulogd text, as psad parses) as a
    /// firewall drop log instead of a capture.
    #[arg(long, value_name = "FILE")]
    iptables_log: Option<PathBuf>,
    /// The site's networks (CIDR, comma-separated), for detectors with a
    /// `home_net` parameter.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    home_net: Vec<Cidr>,
    /// Ground-truth labels (the JSON lines `run` writes); enables scoring.
    /// Default: `X.labels.jsonl` next to capture `X.pcap`, when present.
    /// pcapng files written by `run --pcapng` carry their labels already.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// The scanners' addresses (comma-separated); default: the sources of
    /// packets the labels call malicious probes.
    #[arg(long, value_delimiter = ',', value_name = "ADDR")]
    scanners: Vec<Ipv4Addr>,
    /// Detectors (as for `run`).
    #[arg(long)]
    detectors: Option<String>,
    /// External detector definitions (`[[detector]]` TOML, see
    /// docs/external-detectors.md) that `ext:NAME` specs can name; repeatable.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
    /// Treat the capture as a firewall drop log (what psad reads).
    #[arg(long)]
    drop_log: bool,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Threads running the detectors (default: one per core). Results are
    /// identical for any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// `scanbench replay`.
pub fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let specs = detector_specs(&a.detectors);
    // Without --labels, the labels `run` writes next to a capture are used
    // when they are there (and the output says so).
    let beside = match (&a.labels, &a.file, &a.iptables_log) {
        (None, Some(f), None) if !scanbench::simulate::is_stdio(f) => {
            Some(scanbench::labels::beside(f)).filter(|p| p.is_file())
        }
        _ => None,
    };
    let labels = match a.labels.as_ref().or(beside.as_ref()) {
        Some(p) => Some(FrameLabels::load(p)?),
        None => None,
    };
    let opts = ReplayOptions {
        specs: specs.clone(),
        home_net: a.home_net.clone(),
        drop_log: a.drop_log,
        labels,
        scanners: (!a.scanners.is_empty())
            .then(|| a.scanners.iter().copied().collect::<BTreeSet<_>>()),
        threads: a.threads.map_or(0, usize::from),
        externals: externals(&a.detector_file)?,
    };
    let replayed: Replayed = match (&a.file, &a.iptables_log) {
        (_, Some(log)) => replay_iptables_log(log, &opts)?,
        (Some(file), None) => replay_capture(file, &opts)?,
        (None, None) => bail!("replay needs a capture FILE or --iptables-log FILE"),
    };
    let mut chatter: Box<dyn Write> = if a.format == Format::Table {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    };
    let run = &replayed.run;
    if let Some(p) = &beside {
        writeln!(
            chatter,
            "labels: {} (found next to the capture; --labels FILE to choose another)",
            p.display()
        )?;
    }
    let input = run.file.display();
    match &replayed.stats {
        Some(st) => writeln!(
            chatter,
            "{input}: {} records, {} IPv4 frames, {} non-IPv4 skipped, {} cut by snaplen",
            st.records, st.ipv4_frames, st.skipped_non_ipv4, st.snapped
        )?,
        None => writeln!(
            chatter,
            "{input}: {} logged packets",
            run.summary.taps.first().map_or(0, |t| t.frames)
        )?,
    }
    if run.clamped_timestamps > 0 {
        let n = run.clamped_timestamps;
        writeln!(
            chatter,
            "{input}: {n} frame(s) stamped outside 1970..=9999 had their time clamped into it"
        )?;
    }
    let untracked = run.truth.untracked_frames();
    if untracked > 0 {
        writeln!(
            chatter,
            "{input}: {untracked} frame(s) past the ground truth's caps were not fully recorded (their labels or sources are missing from the scores; see docs/robustness.md)"
        )?;
    }
    print_alerts(&mut chatter, run)?;
    for d in &run.detectors {
        if d.applicable {
            writeln!(chatter, "{}: {} alert(s)", short(&d.spec), d.alerts.len())?;
        } else {
            writeln!(chatter, "{}: not applicable", short(&d.spec))?;
        }
    }
    let scored = replayed.labelled || !opts.scanners.as_ref().is_none_or(|s| s.is_empty());
    let report = Report {
        specs,
        runs: vec![replayed.run.clone()],
    };
    if a.format == Format::Table {
        if scored {
            writeln!(chatter)?;
            write!(chatter, "{}", report.render(Format::Table))?;
        } else {
            writeln!(
                chatter,
                "(no labels: alerts are not scored; give --labels FILE or --scanners ADDR)"
            )?;
            write!(chatter, "{}", scanbench::report::cut_short_notes(&report))?;
            write!(chatter, "{}", scanbench::report::eviction_notes(&report))?;
        }
    } else {
        drop(chatter);
        print!("{}", report.render(a.format));
    }
    if let Some(e) = replayed.error {
        eprintln!("error: {e} (alerts above come from the input before the damage)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
