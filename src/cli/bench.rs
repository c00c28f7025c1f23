//! `scanbench bench`: simulator and detector throughput.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{at_least_one, term, usage};

/// A `bench` workload (docs/performance.md describes each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Every workload below except `memory` and `replay`.
    All,
    /// 200 x 1000-port SYN scans at T5.
    Scan,
    /// A 100 MiB HTTP download at 1 Gbit/s.
    Bulk,
    /// Web clients polling one server for a simulated day (--clients).
    Pollers,
    /// `gen` of bench/gen-office.toml with 2,000 client hosts, against Scapy.
    Gen,
    /// Every detector over one capture, with tshark/tcpdump reference ratios.
    Detectors,
    /// 1,000 pollers over 4 simulated days, resident memory after each.
    Memory,
    /// Replay of a capture FILE (--generate, --threads), against tcpdump.
    Replay,
}

impl Workload {
    fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// `scanbench bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which workload.
    #[arg(value_enum, default_value_t = Workload::All)]
    workload: Workload,
    /// For `replay`: the capture to replay.
    file: Option<PathBuf>,
    /// For `replay`: first write FILE, a capture of at least this many frames
    /// (the `detectors` workload repeated).
    #[arg(long, value_name = "FRAMES", value_parser = at_least_one::<u64>)]
    generate: Option<u64>,
    /// For `replay`: detector threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    threads: Option<usize>,
    /// Client counts for the `pollers` workload (comma-separated, each at
    /// least 1; default 100,1000,10000).
    #[arg(long, value_delimiter = ',', value_parser = at_least_one::<u32>, value_name = "N,...")]
    clients: Vec<u32>,
}

/// `scanbench bench`.
pub fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let w = a.workload;
    // One line per measurement, as it is made. A reader that went away is
    // no error; any other write error stops the run with it.
    let mut failed: Option<std::io::Error> = None;
    let mut line = |text: &str| {
        if failed.is_none()
            && let Err(e) = writeln!(term::stdout(), "{text}")
        {
            failed = Some(e);
        }
    };
    if !a.clients.is_empty() && !matches!(w, Workload::Pollers | Workload::All) {
        return Err(usage(
            "bench",
            format!(
                "--clients sets the `pollers` workload's clients; `{}` has none",
                w.name()
            ),
        ));
    }
    if w != Workload::Replay {
        for (given, what) in [
            (a.file.is_some(), "a FILE"),
            (a.generate.is_some(), "--generate"),
            (a.threads.is_some(), "--threads"),
        ] {
            if given {
                return Err(usage(
                    "bench",
                    format!("{what} is for the `replay` workload, not `{}`", w.name()),
                ));
            }
        }
    }
    if w == Workload::Replay {
        let Some(file) = &a.file else {
            return Err(usage("bench", "bench replay needs a capture FILE"));
        };
        if let Some(n) = a.generate {
            let written = scanbench::bench_replay::generate(file, n)?;
            writeln!(
                term::stdout(),
                "wrote {written} frames to {}",
                file.display()
            )?;
        }
        scanbench::bench_replay::run(file, a.threads.unwrap_or(0), &mut line)?;
        return finish(failed);
    }
    let clients: Vec<String> = if a.clients.is_empty() {
        vec!["100".into(), "1000".into(), "10000".into()]
    } else {
        a.clients.iter().map(u32::to_string).collect()
    };
    scanbench::bench::run(&w.name(), &clients.join(","), &mut line)?;
    finish(failed)
}

fn finish(failed: Option<std::io::Error>) -> anyhow::Result<ExitCode> {
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
