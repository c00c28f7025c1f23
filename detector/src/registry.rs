//! The registry: every detector by name, with its parameters and defaults.
//!
//! Adding a detector is one line in [`DETECTORS`]: each detector module exports
//! a `pub static INFO: DetectorInfo`.

use crate::Detector;
use crate::params::{ConfigError, ParamSpec, Params, split_spec};

/// Static description of one detector, and how to build it from parameters.
pub struct DetectorInfo {
    /// Registry name, used on the command line (`screenos`, `scanlogd`, ...).
    pub name: &'static str,
    /// One line: what upstream tool or paper this re-implements.
    pub summary: &'static str,
    /// Parameters with upstream defaults, in the order they are printed.
    pub params: &'static [ParamSpec],
    /// Builds an instance from resolved parameters.
    pub build: fn(&Params) -> Result<Box<dyn Detector>, ConfigError>,
}

/// All registered detectors, in the order reports list them.
pub static DETECTORS: &[&DetectorInfo] = &[
    &crate::screenos::INFO,
    &crate::scanlogd::INFO,
    &crate::trw::INFO,
    &crate::trw::PACKET_INFO,
    &crate::zeek_scan::INFO,
    &crate::bro1_scan::INFO,
    &crate::sfportscan::INFO,
    &crate::psad::INFO,
    &crate::portsentry::INFO,
    &crate::threshold_rules::INFO,
];

/// A configured detector instance, with its full configuration text.
pub struct Instance {
    /// The detector.
    pub detector: Box<dyn Detector>,
    /// `name:param=value,...` with every parameter (defaults filled in).
    pub config: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.config)
    }
}

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
    let info = info(&name)?;
    let params = Params::resolve(info.name, info.params, &pairs)?;
    Ok(Instance {
        detector: (info.build)(&params)?,
        config: params.describe(),
    })
}
