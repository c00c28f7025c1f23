//! `scanbench explain`: why each alert fired, from the rule the detector
//! states, the packets behind it and their labelled causes.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use scanbench::Scenario;
use scanbench::detect::default_suite;
use scanbench::explain::{
    CaptureOptions, ExplainFormat, Filters, explain_capture, explain_log_line, explain_scenario,
    field, specs_with,
};
use scanbench::labels::FrameLabels;
use scanbench::report::short;
use scanbench_detector::Cidr;

use super::{detector_specs, one_scenario, term, usage};

/// `scanbench explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// A scenario file (`*.toml`: simulated, labelled, with counterfactual
    /// reruns; or the name of a built-in scenario) or a pcap/pcapng capture
    /// (real traffic). Without it, `--alert`
    /// gives a detector's log line to explain (a field report).
    input: Option<PathBuf>,
    /// Only alerts of this detector spec (repeatable), e.g.
    /// `screenos:count_mode=no-session-any`. A spec outside the default suite
    /// is run as well.
    #[arg(long = "detector", value_name = "SPEC")]
    detectors: Vec<String>,
    /// With INPUT: only alert N (its number in the unfiltered listing).
    /// Without: a detector's log line (ScreenOS system-alert-00016,
    /// scanlogd, psad "scan detected", Snort sfPortscan), tried against the
    /// library of hypotheses.
    #[arg(long, value_name = "N|LOG LINE")]
    alert: Option<String>,
    /// Only alerts blaming this address.
    #[arg(long, value_name = "ADDR")]
    source: Option<Ipv4Addr>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    format: ExplainFormat,
    /// Capture only: ground-truth labels (the JSON lines `run` writes).
    /// pcapng files written by `run --pcapng` carry their labels already.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Capture only: the site's networks (CIDR, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    home_net: Vec<Cidr>,
    /// Capture only: read it as a firewall drop log (what psad reads).
    #[arg(long)]
    drop_log: bool,
    /// Capture only, without labels: read every source's mechanism, not only
    /// the flagged ones'.
    #[arg(long)]
    all_sources: bool,
    /// Log line only: write every reproducing hypothesis's scenario here.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
}

/// `scanbench explain`.
pub fn explain(a: ExplainArgs) -> anyhow::Result<ExitCode> {
    let Some(input) = a.input.clone() else {
        return field_report(&a);
    };
    if a.write.is_some() {
        return Err(usage(
            "explain",
            format!(
                "--write goes with a log line (`explain --alert 'LINE' --write DIR`), not with {}",
                input.display()
            ),
        ));
    }
    let alert = match &a.alert {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    usage(
                        "explain",
                        format!("--alert `{s}`: expected an alert number (1, 2, ...)"),
                    )
                })?,
        ),
    };
    let filters = Filters {
        detectors: a.detectors.clone(),
        alert,
        source: a.source,
    };
    for d in &a.detectors {
        // The checks (and hints) of --detectors; the reports' labels pass too.
        if !default_suite().iter().any(|s| s == d || short(s) == *d) {
            detector_specs(
                "explain",
                &Some(d.clone()),
                scanbench::external::Externals::builtin(),
            )
            .map_err(|e| {
                usage(
                    "explain",
                    e.to_string().replace("--detectors", "--detector"),
                )
            })?;
        }
    }
    // A built-in scenario by name (the suite is in the binary).
    let builtin = if input.exists() {
        None
    } else {
        Some(one_scenario(&input)?)
    };
    let specs = specs_with(&default_suite(), &filters);
    let is_scenario = builtin.is_some() || input.extension().is_some_and(|x| x == "toml");
    let (e, damage) = if is_scenario {
        let scenario = match builtin {
            Some(s) => s,
            None => Scenario::load(&input)?,
        };
        let seed = a.seed.unwrap_or(scenario.seed);
        (explain_scenario(&scenario, seed, &specs, &filters)?, None)
    } else {
        if a.seed.is_some() {
            return Err(usage(
                "explain",
                "--seed applies to scenarios; a capture has no seed",
            ));
        }
        let labels = match &a.labels {
            Some(p) => Some(FrameLabels::load(p)?),
            None => None,
        };
        let opts = CaptureOptions {
            specs,
            home_net: a.home_net.clone(),
            labels,
            drop_log: a.drop_log,
            all_sources: a.all_sources,
        };
        explain_capture(&input, &opts, &filters)?
    };
    let mut out = term::stdout();
    out.write_all(e.render(a.format).as_bytes())?;
    out.flush()?;
    if let Some(err) = damage {
        term::error(format_args!(
            "{err} (the explanation covers the capture before the damage)"
        ));
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    }
    Ok(ExitCode::SUCCESS)
}

/// `explain --alert 'LOG LINE' [--write DIR]`.
fn field_report(a: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let Some(line) = &a.alert else {
        return Err(usage(
            "explain",
            "explain needs a scenario file, a capture, or --alert 'LOG LINE'",
        ));
    };
    if line.trim().parse::<usize>().is_ok() {
        return Err(usage(
            "explain",
            format!(
                "--alert {line}: an alert number needs a scenario or capture to number the alerts of"
            ),
        ));
    }
    for (set, name) in [
        (!a.detectors.is_empty(), "--detector"),
        (a.source.is_some(), "--source"),
        (a.seed.is_some(), "--seed"),
        (a.labels.is_some(), "--labels"),
        (a.all_sources, "--all-sources"),
        (a.drop_log, "--drop-log"),
    ] {
        if set {
            return Err(usage(
                "explain",
                format!("{name} goes with a scenario or capture, not with a log line"),
            ));
        }
    }
    let e = explain_log_line(line)?;
    let mut out = term::stdout();
    out.write_all(e.render(a.format).as_bytes())?;
    out.flush()?;
    if let (Some(dir), Some(report)) = (&a.write, &e.field) {
        for p in field::write_scenarios(report, dir)? {
            term::note(format_args!("wrote {}", p.display()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
