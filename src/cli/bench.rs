//! `scanbench bench`: simulator and detector throughput.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// `scanbench bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which workload: `scan`, `bulk`, `pollers`, `gen`, `detectors`, `all`,
    /// or (not part of `all`) `memory` (1,000 pollers over 4 simulated days,
    /// resident memory after each) and `replay FILE`.
    #[arg(default_value = "all")]
    workload: String,
    /// For `replay`: the capture to replay.
    file: Option<PathBuf>,
    /// For `replay`: first write FILE, a capture of at least this many frames
    /// (the `detectors` workload repeated).
    #[arg(long, value_name = "FRAMES")]
    generate: Option<u64>,
    /// For `replay`: detector threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Clients for the `pollers` workload (repeatable list, comma-separated).
    #[arg(long, default_value = "100,1000,10000")]
    clients: String,
}

/// `scanbench bench`.
pub fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if a.workload == "replay" {
        let Some(file) = &a.file else {
            anyhow::bail!("bench replay needs a capture FILE");
        };
        if let Some(n) = a.generate {
            let written = scanbench::bench_replay::generate(file, n)?;
            println!("wrote {written} frames to {}", file.display());
        }
        scanbench::bench_replay::run(file, a.threads.unwrap_or(0))?;
        return Ok(ExitCode::SUCCESS);
    }
    scanbench::bench::run(&a.workload, &a.clients)?;
    Ok(ExitCode::SUCCESS)
}
