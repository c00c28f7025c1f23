//! The registry: every detector by name, with its parameters and defaults.
//!
//! This is the one list of detectors: adding one is a line in [`DETECTORS`]
//! (each detector module exports a `pub static INFO:` [`DetectorInfo`]).
//! Detectors depend on the descriptor type in [`crate::detector`], never on
//! this module, so the dependency runs one way.

use crate::detector::{DetectorInfo, Instance};
use crate::detectors;
use crate::params::{ConfigError, split_spec};

/// All registered detectors, in the order reports list them.
pub static DETECTORS: &[&DetectorInfo] = &[
    &detectors::screenos::INFO,
    &detectors::scanlogd::INFO,
    &detectors::trw::INFO,
    &detectors::trw::PACKET_INFO,
    &detectors::zeek_scan::INFO,
    &detectors::bro1_scan::INFO,
    &detectors::sfportscan::INFO,
    &detectors::psad::INFO,
    &detectors::portsentry::INFO,
    &detectors::threshold_rules::INFO,
];

/// Looks a detector up by name.
pub fn info(name: &str) -> Result<&'static DetectorInfo, ConfigError> {
    DETECTORS
        .iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| ConfigError::UnknownDetector {
            name: name.to_string(),
            valid: DETECTORS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Builds a detector from `name[:param=value,...]`.
pub fn build(spec: &str) -> Result<Instance, ConfigError> {
    let (name, pairs) = split_spec(spec)?;
    info(&name)?.configure(&pairs)
}
