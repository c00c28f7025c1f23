//! scanbench: simulated networks, scripted scenarios and port-scan detectors, scored.
//!
//! One path from file to verdict, used by every command:
//! [`Scenario::load`] -> [`simulate::simulate`] (frames streamed from taps, with labels)
//! -> pcap / pcapng / labels files, and detectors.
//! Real captures enter through [`capture::CaptureReader`] and take the same
//! detector path. Capture formats and labels files live in `scanbench-capture`
//! (re-exported as [`capture`] and [`labels`]).
//!
//! Modules: [`scenario`] (TOML -> network), [`simulate`](mod@simulate) (run + outputs),
//! [`capture`] (pcap/pcapng writing and reading, labels), [`scanbench_sim::units`] (durations, bandwidths),
//! [`error`], [`sweep`] (detector parameters over a grid), [`shard`] (sliced
//! runs and their merge), [`parallel`] (jobs on threads, results in order);
//! with the `live` feature (on by default), `live` (the simulated network
//! bridged to a TUN device, in real time).

pub mod bench;
pub mod bench_replay;
pub mod bench_sim;
pub mod blocks;
pub mod check;
pub(crate) mod chunk_thread;
pub mod detect;
pub mod digest;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod external;
pub mod fanout;
pub mod generate;
#[cfg(feature = "live")]
pub mod live;
pub mod parallel;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod score;
pub mod shard;
pub mod simulate;
pub mod sweep;
pub mod time_text;
pub mod truth;
pub(crate) mod write_behind;

pub use scanbench_capture as capture;
pub use scanbench_capture::labels;

pub use error::{Error, Result};
pub use evaluate::{ScenarioRun, evaluate};
pub use report::{Format, Report};
pub use scenario::Scenario;
pub use simulate::{Budget, Outputs, RunSummary, simulate};
