//! scanbench: simulated networks, scripted scenarios and port-scan detectors, scored.
//!
//! One path from file to verdict, used by every command:
//! [`Scenario::load`] -> [`simulate::simulate`] (frames streamed from taps, with labels)
//! -> pcap / pcapng / labels files, and detectors.
//! Real captures enter through [`capture::CaptureReader`] and take the same
//! detector path.
//!
//! Modules: [`scenario`] (TOML -> network), [`simulate`] (run + outputs),
//! [`capture`] (pcap/pcapng reading), [`scanbench_sim::units`] (durations, bandwidths),
//! [`error`].

pub mod bench;
pub mod capture;
pub mod detect;
pub mod error;
pub mod scenario;
pub mod simulate;

pub use error::{Error, Result};
pub use scenario::Scenario;
pub use simulate::{Outputs, RunSummary, simulate};
