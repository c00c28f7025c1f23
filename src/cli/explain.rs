//! `scanbench explain`: why each alert fired, from the rule the detector
//! states, the packets behind it and their labelled causes.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::Scenario;
use scanbench::detect::default_suite;
use scanbench::explain::{ExplainFormat, Filters, explain_scenario, specs_with};

/// `scanbench explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// A scenario file (simulated and labelled).
    input: PathBuf,
    /// Only alerts of this detector spec (repeatable; the short form
    /// `screenos[no-session-any]` works too). A spec outside the default
    /// suite is run as well.
    #[arg(long = "detector", value_name = "SPEC")]
    detectors: Vec<String>,
    /// Only alert N (its number in the unfiltered listing).
    #[arg(long, value_name = "N")]
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
}

/// `scanbench explain`.
pub fn explain(a: ExplainArgs) -> anyhow::Result<ExitCode> {
    let alert = match &a.alert {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .with_context(|| format!("--alert `{s}`: expected an alert number (1, 2, ...)"))?,
        ),
    };
    let filters = Filters {
        detectors: a.detectors.clone(),
        alert,
        source: a.source,
    };
    if !a.input.exists() {
        bail!("{}: no such file", a.input.display());
    }
    let scenario = Scenario::load(&a.input)?;
    let seed = a.seed.unwrap_or(scenario.seed);
    let specs = specs_with(&default_suite(), &filters);
    let e = explain_scenario(&scenario, seed, &specs, &filters)?;
    let mut out = std::io::stdout().lock();
    out.write_all(e.render(a.format).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
