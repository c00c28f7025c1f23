//! `scanbench bench`: simulator and detector throughput.

use std::process::ExitCode;

use clap::Args;

/// `scanbench bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which workload: `scan`, `bulk`, `pollers`, `detectors`, or `all`.
    #[arg(default_value = "all")]
    workload: String,
    /// Clients for the `pollers` workload (repeatable list, comma-separated).
    #[arg(long, default_value = "100,1000,10000")]
    clients: String,
}

/// `scanbench bench`.
pub fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    scanbench::bench::run(&a.workload, &a.clients)?;
    Ok(ExitCode::SUCCESS)
}
