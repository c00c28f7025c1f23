//! The `scanbench` command line.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;

use cli::term::{self, ColorChoice};

/// `0.1.0 (commit abc1234)`: the commit comes from `build.rs`.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SCANBENCH_COMMIT"),
    ")"
);

const AFTER_HELP: &str = "\
Examples:
  scanbench run                                   the built-in suite against every detector
  scanbench run --scenarios 'syn-scan-*' -v       some scenarios, every detector variant
  scanbench run my.toml --pcap was.pcap           one scenario file: capture, labels, alerts
  scanbench replay capture.pcap --detectors scanlogd+zeek-scan
  scanbench list sfportscan                       one detector with every parameter
  scanbench completions bash > /etc/bash_completion.d/scanbench

Lists: `+` joins detector specs (--detectors a+b:x=1,y=2); `,` separates the
items of every other list (--scenarios, --home-net, --scanners) and the
parameters of a spec; `;` separates the values of a list parameter inside a
spec (home_net=192.0.2.0/24;198.51.100.0/24).

Exit codes:
  0  success
  1  bad input: a scenario, capture, labels or log file (the message names the
     file and the line or byte offset; output from before the damage is kept)
  2  usage: an unknown flag, a bad flag value or a flag combination that does
     not work
  3  `run --check`: a claim of a scenario's [[expect]] tables failed";

/// A test bench for port-scan detectors: simulated networks with real TCP/IP
/// stacks in virtual time, scripted scenarios, faithful detectors, scored verdicts.
#[derive(Parser)]
#[command(name = "scanbench", version = VERSION, about, long_about = None, after_help = AFTER_HELP)]
struct Args {
    /// No progress, per-run lines or notes; errors and warnings still print.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour on standard error: auto (when it is a terminal and NO_COLOR is
    /// unset), always, never.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate scenarios, write captures and labels, run detectors, print verdicts.
    ///
    /// With no argument, runs the built-in suite (embedded in the binary; a
    /// directory or file argument overrides it) against every detector.
    Run(cli::run::RunArgs),
    /// Run a pcap or pcapng capture, or an iptables log, through detectors.
    Replay(cli::replay::ReplayArgs),
    /// List scenarios, applications and detectors, or show one in full.
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::shell::CompletionsArgs),
    /// Print the manual page (roff) on standard output.
    Man,
}

/// The `--color` value, read before clap parses so that clap's own messages
/// (usage errors, help) follow it too.
fn color_from_argv() -> ColorChoice {
    let args: Vec<String> = std::env::args().collect();
    let mut value = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--color=") {
            value = Some(v.to_string());
        } else if a == "--color" {
            value = args.get(i + 1).cloned();
        }
    }
    match value.as_deref() {
        Some("always") => ColorChoice::Always,
        Some("never") => ColorChoice::Never,
        _ => ColorChoice::Auto,
    }
}

fn main() -> ExitCode {
    let mut command = Args::command().color(color_from_argv().for_clap());
    let args = match Args::from_arg_matches_mut(&mut command.get_matches_mut()) {
        Ok(a) => a,
        Err(e) => e.format(&mut command).exit(),
    };
    term::init(args.quiet, args.color);
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
        Command::Completions(a) => cli::shell::completions(a, &mut Args::command()),
        Command::Man => cli::shell::man(&Args::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => cli::exit_with(&e),
    }
}
