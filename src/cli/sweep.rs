//! `scanbench sweep`: one detector over a grid of parameter values.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use scanbench::parallel::default_threads;
use scanbench::report::{html, plot};
use scanbench::shard::Shard;
use scanbench::sweep::{Grid, JobStore, SweepReport, render};

use std::io::Write;

use super::progress::Progress;
use super::{load_scenarios, term, usage};

/// Report format of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SweepFormat {
    /// Aligned text, one row per point.
    Table,
    /// One row per point.
    Csv,
    /// Every point's figures and every run's score (docs/sweep.md).
    Json,
    /// One self-contained HTML page with the figures, plots and matrix.
    Html,
}

/// `scanbench sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// The detector, optionally with fixed parameters (`sfportscan:proto=all`).
    detector: String,
    /// Scenario files or directories (default: the built-in suite).
    paths: Vec<PathBuf>,
    /// A swept parameter: `NAME=FROM..TO[:STEP]` or `NAME=V1,V2,...`
    /// (upstream names, as `list` shows them). Repeat for a grid.
    #[arg(long = "param", value_name = "NAME=VALUES", required = true)]
    params: Vec<String>,
    /// Only these scenarios (comma-separated names; `*` matches any text).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Override every scenario's seed (with --seeds: the first seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run each point on this many consecutive seeds per scenario.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = SweepFormat::Table)]
    format: SweepFormat,
    /// Write the plots (ROC-style trade-off, recall and FP rate against the
    /// parameter, latency against the parameter) to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Write every job's result into DIR/jobs (a rerun skips finished jobs)
    /// and the reports into DIR (sweep.json, sweep.csv, sweep.svg, report.html; a shard writes
    /// sweep.shard-K-of-N.json).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run only shard K of N of the (scenario, seed, point) jobs; merge the
    /// shards' JSON with `scanbench merge` (docs/scale-out.md).
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Parallel simulations (default: the number of cores).
    #[arg(long, short, value_parser = super::at_least_one::<usize>)]
    jobs: Option<usize>,
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Renders `report` in `format`.
pub fn rendered(report: &SweepReport, format: SweepFormat) -> anyhow::Result<String> {
    Ok(match format {
        SweepFormat::Table => render::table(report),
        SweepFormat::Csv => render::csv(report),
        SweepFormat::Json => render::json(report),
        SweepFormat::Html => html::sweep(report)?,
    })
}

/// Writes the reports of a complete sweep into `dir`.
pub fn write_outputs(report: &SweepReport, dir: &Path) -> anyhow::Result<()> {
    write(&dir.join("sweep.json"), &render::json(report))?;
    write(&dir.join("sweep.csv"), &render::csv(report))?;
    write(&dir.join("sweep.svg"), &plot::sweep_svg(report)?)?;
    write(&dir.join("report.html"), &html::sweep(report)?)
}

/// `scanbench sweep`.
pub fn sweep(a: SweepArgs) -> anyhow::Result<ExitCode> {
    // The grid first: a bad parameter fails before any scenario is read.
    // Every grid error is about the detector argument or a --param.
    let grid = Grid::new(&a.detector, &a.params).map_err(|e| usage("sweep", e.to_string()))?;
    let scenarios = load_scenarios("sweep", &a.paths, &a.scenarios)?;
    let store = match &a.out {
        Some(dir) => Some(JobStore::open(dir)?),
        None => None,
    };
    let mut report = SweepReport::plan(grid, &scenarios, a.seed, a.seeds)?;
    let mut progress: Option<Progress> = None;
    let done = report.execute(
        &scenarios,
        a.shard,
        a.jobs.unwrap_or_else(default_threads),
        store.as_ref(),
        &mut |n, total| {
            progress
                .get_or_insert_with(|| Progress::new(total as u64, "simulation"))
                .finished(&format!("{n}/{total} simulations"))
        },
    )?;
    drop(progress);
    term::note(format_args!(
        "{} job(s) run, {} found in {}",
        done.ran,
        done.reused,
        a.out
            .as_ref()
            .map_or("no store (no --out)".to_string(), |d| d
                .join("jobs")
                .display()
                .to_string())
    ));
    // With --out, the HTML page goes to DIR/report.html only.
    if !(a.format == SweepFormat::Html && a.out.is_some()) {
        let mut out = term::stdout();
        write!(out, "{}", rendered(&report, a.format)?)?;
        out.flush()?;
    }
    if let Some(path) = &a.plot {
        write(path, &plot::sweep_svg(&report)?)?;
    }
    if let Some(dir) = &a.out {
        match a.shard {
            Some(s) => write(
                &dir.join(format!("sweep.shard-{}-of-{}.json", s.index, s.count)),
                &render::json(&report),
            )?,
            None => write_outputs(&report, dir)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
