//! `scanbench replay`: a capture or an iptables log through the detectors.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use scanbench::labels::FrameLabels;
use scanbench::replay::{ReplayOptions, Replayed, replay_capture, replay_iptables_log};
use scanbench::report::{TableLayout, duration_text, short, table_with, utc_text};
use scanbench::{Format, Report};
use scanbench_detector::Cidr;
use scanbench_detector::iptables_log::LogOptions;

use super::{at_least_one, detector_specs, externals, print_alerts, term, usage};

const REPLAY_EXAMPLES: &str = "\
Examples:
  scanbench replay capture.pcap --home-net 198.51.100.0/24 --detectors scanlogd+zeek-scan
  scanbench replay out/sweep.pcap --labels out/sweep.labels.jsonl --format json
  scanbench replay --iptables-log /var/log/kern.log --year 2025 --detectors psad";

/// `scanbench replay`.
#[derive(Args)]
#[command(
    after_help = REPLAY_EXAMPLES,
    group(ArgGroup::new("input").args(["file", "iptables_log"]).required(true))
)]
pub struct ReplayArgs {
    /// A pcap or pcapng file (gzip'd or not); `-` reads standard input.
    file: Option<PathBuf>,
    /// Read an iptables LOG file (kernel or ulogd text, as psad parses) as a
    /// firewall drop log instead of a capture.
    #[arg(long, value_name = "FILE")]
    iptables_log: Option<PathBuf>,
    /// With --iptables-log: only lines whose log prefix contains this text
    /// are dropped packets (psad.conf FW_MSG_SEARCH, default `DROP`; empty:
    /// every iptables line).
    #[arg(long, value_name = "TEXT")]
    fw_msg_search: Option<String>,
    /// With --iptables-log: the year of the log's first line, since syslog
    /// stamps (`Nov 21 14:35:01`) carry none (default: the current year, UTC).
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(1970..=9999))]
    year: Option<i32>,
    /// The site's networks (CIDR, comma-separated), for detectors with a
    /// `home_net` parameter.
    #[arg(long, value_delimiter = ',', value_name = "CIDRS", value_parser = cidr)]
    home_net: Vec<Cidr>,
    /// Ground-truth labels (the JSON lines `run` writes); enables scoring.
    /// Default: `X.labels.jsonl` next to capture `X.pcap`, when present.
    /// pcapng files written by `run --pcapng` carry their labels already.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// The scanners' addresses (comma-separated); enables scoring against
    /// them. Default: the sources of packets the labels call malicious probes.
    #[arg(long, value_delimiter = ',', value_name = "ADDRS")]
    scanners: Vec<Ipv4Addr>,
    /// Detectors (as for `run`).
    #[arg(long, value_name = "SPECS")]
    detectors: Option<String>,
    /// External detector definitions (`[[detector]]` TOML, see
    /// docs/external-detectors.md) that `ext:NAME` specs can name; repeatable.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
    /// Treat the capture as a firewall drop log (what psad reads).
    #[arg(long, conflicts_with = "iptables_log")]
    drop_log: bool,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Threads running the detectors (default: one per core). Results are
    /// identical for any number.
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    threads: Option<usize>,
}

/// A `--home-net` item, with a hint when `;` (the separator inside a
/// detector spec) was used on the command line.
fn cidr(s: &str) -> Result<Cidr, String> {
    if s.contains(';') {
        return Err(format!(
            "`{s}`: separate networks with `,` on the command line (`;` is for lists inside a detector spec)"
        ));
    }
    s.parse()
}

/// The current year, UTC: what a syslog reader assumes for stamps without one.
fn this_year() -> i32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    scanbench::time_text::utc_year(now).unwrap_or(1970)
}

/// `scanbench replay`.
pub fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    if a.iptables_log.is_none() {
        for (given, flag) in [
            (a.year.is_some(), "--year"),
            (a.fw_msg_search.is_some(), "--fw-msg-search"),
        ] {
            if given {
                return Err(usage(
                    "replay",
                    format!("{flag} reads an iptables log: give --iptables-log FILE"),
                ));
            }
        }
    }
    let externals = externals(&a.detector_file)?;
    let specs = detector_specs("replay", &a.detectors, &externals)?;
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
        threads: a.threads.unwrap_or(0),
        externals,
    };
    let replayed: Replayed = match (&a.file, &a.iptables_log) {
        (_, Some(log)) => {
            let year = a.year.unwrap_or_else(this_year);
            let log_opts = LogOptions {
                search: a
                    .fw_msg_search
                    .clone()
                    .unwrap_or_else(|| LogOptions::default().search),
                year,
                ..LogOptions::default()
            };
            replay_iptables_log(log, &opts, log_opts)?
        }
        (Some(file), None) => replay_capture(file, &opts)?,
        (None, None) => unreachable!("clap requires FILE or --iptables-log"),
    };
    let table = a.format == Format::Table;
    let mut chatter = term::chatter(table);
    if let Some(p) = &beside {
        writeln!(
            chatter,
            "labels: {} (found next to the capture; --labels FILE to choose another)",
            p.display()
        )?;
    }
    print_input(&mut chatter, &replayed, a.year.is_none())?;
    let run = &replayed.run;
    if run.clamped_timestamps > 0 {
        let n = run.clamped_timestamps;
        writeln!(
            chatter,
            "{}: {n} frame(s) stamped outside 1970..=9999 had their time clamped into it",
            run.file.display()
        )?;
    }
    let untracked = run.truth.untracked_frames();
    if untracked > 0 {
        writeln!(
            chatter,
            "{}: {untracked} frame(s) past the ground truth's caps were not fully recorded (their labels or sources are missing from the scores; see docs/robustness.md)",
            run.file.display()
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
    let report = Report {
        specs,
        runs: vec![replayed.run],
    };
    let mut out = term::stdout();
    if table {
        if !term::quiet() {
            writeln!(out)?;
        }
        let layout = TableLayout {
            width: term::width(),
            columns: None,
        };
        write!(out, "{}", table_with(&report, &layout))?;
    } else {
        write!(out, "{}", report.render(a.format))?;
    }
    out.flush()?;
    drop(chatter);
    // The process ends once this returns: freeing every alert of a long
    // replay one by one costs a few per cent of the run (146,000 alerts of
    // a 10 M-frame capture), and the kernel takes the memory back at once.
    std::mem::forget(report);
    if let Some(log) = &replayed.log
        && let Some(e) = &log.first_malformed
    {
        crate::warn!(
            "{} malformed iptables line(s) skipped, as psad skips them; the first: {e}",
            log.malformed
        );
    }
    if let Some(e) = replayed.error {
        term::error(format_args!(
            "{e} (the alerts above come from the input before the damage)"
        ));
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    }
    Ok(ExitCode::SUCCESS)
}

/// What was read: record counts, the time span (UTC), skipped lines.
fn print_input(w: &mut dyn Write, r: &Replayed, year_assumed: bool) -> std::io::Result<()> {
    let run = &r.run;
    let input = run.file.display();
    let span = match r.first {
        Some(first) => format!(
            ", {} to {} ({})",
            utc_text(first.total_micros()),
            utc_text(run.end.total_micros()),
            duration_text(run.truth.duration_us)
        ),
        None => String::new(),
    };
    if let Some(st) = &r.stats {
        writeln!(
            w,
            "{input}: {} records, {} IPv4 frames, {} non-IPv4 skipped, {} cut by snaplen{span}",
            st.records, st.ipv4_frames, st.skipped_non_ipv4, st.snapped
        )?;
    }
    if let Some(log) = &r.log {
        writeln!(
            w,
            "{input}: {} logged packets (lines with `{}` in the prefix){span}",
            log.packets, log.search
        )?;
        let sk = &log.skipped;
        if sk.no_search_text + sk.not_iptables + log.malformed > 0 {
            writeln!(
                w,
                "  skipped: {} iptables line(s) without `{}` in the prefix (--fw-msg-search sets it), {} other line(s), {} malformed",
                sk.no_search_text, log.search, sk.not_iptables, log.malformed
            )?;
        }
        if year_assumed && log.packets > 0 {
            writeln!(
                w,
                "  syslog stamps carry no year: read as {} (--year sets it)",
                log.year
            )?;
        }
    }
    Ok(())
}
