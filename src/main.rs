//! The `scanbench` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod cli;

/// A test bench for port-scan detectors: simulated networks with real TCP/IP
/// stacks in virtual time, scripted scenarios, faithful detectors, scored verdicts.
#[derive(Parser)]
#[command(name = "scanbench", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate scenarios, write captures and labels, run detectors, print verdicts.
    ///
    /// With no argument, runs the built-in suite (`scenarios/`) against every detector.
    Run(cli::RunArgs),
    /// Run a pcap or pcapng capture through detectors.
    Replay(cli::ReplayArgs),
    /// List scenarios, applications and detectors with their parameters.
    List(cli::ListArgs),
    /// Measure simulator and detector speed (see docs/performance.md).
    Bench(cli::BenchArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Run(a) => cli::run(a),
        Command::Replay(a) => cli::replay(a),
        Command::List(a) => cli::list(a),
        Command::Bench(a) => cli::bench(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`| head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Scenario files named by `paths` (files, or directories searched recursively for `*.toml`).
fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect_toml(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_toml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}
