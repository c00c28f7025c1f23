//! The `scanbench` command line.

use std::io::Write;
use std::process::ExitCode;

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
    Run(cli::run::RunArgs),
    /// Run a pcap or pcapng capture through detectors.
    Replay(cli::replay::ReplayArgs),
    /// List scenarios, applications and detectors with their parameters.
    List(cli::list::ListArgs),
    /// Measure simulator and detector speed (see docs/performance.md).
    Bench(cli::bench::BenchArgs),
    /// Explain why each alert fired and what would have prevented it (see docs/explain.md).
    Explain(cli::explain::ExplainArgs),
    /// Sweep one detector's parameters over a grid: recall, FP rate and
    /// latency per point (see docs/sweep.md).
    Sweep(cli::sweep::SweepArgs),
    /// Merge the JSON reports of `--shard K/N` runs into one (see docs/scale-out.md).
    Merge(cli::merge::MergeArgs),
    /// Bridge a scenario's network to a TUN device, in real time, so real
    /// tools (nmap, curl, an IDS) can talk to it (see docs/live.md; needs root).
    #[cfg(feature = "live")]
    Live(cli::live::LiveArgs),
    /// Compare re-implementations with the real tools (scanlogd, PortSentry,
    /// psad) on the same scenarios; root for live replay (docs/fidelity.md).
    Fidelity(cli::fidelity::FidelityArgs),
    /// Write a labelled capture at scale from one scenario: repeated,
    /// longer, or with more background hosts (see docs/gen.md).
    #[command(name = "gen")]
    Generate(cli::generate::GenArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Run(a) => cli::run::run(a),
        Command::Replay(a) => cli::replay::replay(a),
        Command::List(a) => cli::list::list(a),
        Command::Bench(a) => cli::bench::bench(a),
        Command::Explain(a) => cli::explain::explain(a),
        Command::Sweep(a) => cli::sweep::sweep(a),
        Command::Merge(a) => cli::merge::merge(a),
        #[cfg(feature = "live")]
        Command::Live(a) => cli::live::live(a),
        Command::Fidelity(a) => cli::fidelity::fidelity(a),
        Command::Generate(a) => cli::generate::generate_cmd(a),
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
