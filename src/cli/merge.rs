//! `scanbench merge`: the JSON reports of shard runs back into one report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use scanbench::report::json;
use scanbench::shard;
use scanbench::sweep::render;

use super::sweep::{SweepFormat, rendered, write_outputs};
use super::{term, usage};

/// `scanbench merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// JSON reports of `run --shard K/N` or `sweep --shard K/N`, one per shard.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Report format on standard output. Merged `run` reports are JSON
    /// only; merged sweeps take any sweep format.
    #[arg(long, value_enum, default_value_t = SweepFormat::Json)]
    format: SweepFormat,
    /// Also write the merged reports into DIR, as the unsharded command
    /// with `--out DIR` would (report.json; for a sweep sweep.json, sweep.csv,
    /// sweep.svg, report.html).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// `scanbench merge`.
pub fn merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    for f in &a.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{}:{}:{}: not JSON: {e}", f.display(), e.line(), e.column())
        })?;
        docs.push((f.clone(), doc));
    }
    let merged = shard::merge(&docs)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if merged["format"] == render::FORMAT {
        let report = render::from_json(&a.files[0], &merged)?;
        write!(term::stdout(), "{}", rendered(&report, a.format)?)?;
        if let Some(dir) = &a.out {
            write_outputs(&report, dir)?;
        }
    } else {
        if a.format != SweepFormat::Json {
            return Err(usage(
                "merge",
                "merged `run` reports are JSON only; render other formats from an unsharded run",
            ));
        }
        let text = json::text(&merged);
        write!(term::stdout(), "{text}")?;
        if let Some(dir) = &a.out {
            let p = dir.join("report.json");
            std::fs::write(&p, &text).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
