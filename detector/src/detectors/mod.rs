//! One module per detection algorithm. Each exports a `pub static INFO:`
//! [`DetectorInfo`](crate::DetectorInfo) (name, upstream parameters and
//! defaults, constructor) that [`crate::registry::DETECTORS`] lists; its docs
//! cite the upstream source, list every parameter and state the deviations.

pub mod bro1_scan;
pub mod portsentry;
pub mod psad;
pub mod psad_signatures;
pub mod scanlogd;
pub mod screenos;
pub mod sfportscan;
pub mod threshold_rules;
pub mod trw;
pub mod zeek_scan;
