//! Expectations that must survive any snapshot update. They live in the
//! scenario file (`[[expect]]`), are checked (by [`crate::check`]) in
//! `tests/expectations.rs` and by `scanbench run --check`, and state claims such as "no detector in its
//! default configuration flags the poller" or "sfPortscan low flags the T3
//! scanner within 10 probes".
//!
//! ```toml
//! [[expect]]
//! claim = "sfPortscan low flags the T3 scanner within 10 probes"
//! detectors = ["sfportscan"]     # specs as for --detectors; "defaults" = every detector's default
//! flags_scanners = true          # every scanner is flagged
//! within_probes = 10             # ... by an alert triggered at or before its 10th packet
//! within = "5s"                  # ... and within 5 s of its first packet
//! max_fp = 0                     # at most 0 benign sources flagged
//! min_fp = 1                     # at least 1 benign source flagged (a reproduced false positive)
//! max_alerts = 3                 # at most 3 alerts
//! min_alerts = 1                 # at least 1 alert
//! ```

use serde::Deserialize;
use toml::Spanned;

/// The serde form of one `[[expect]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// The claim in words, printed when it fails.
    pub claim: String,
    /// Detector specs the claim is about; `defaults` stands for every
    /// registered detector in its default configuration.
    pub detectors: Spanned<Vec<String>>,
    /// Every scanner must be flagged.
    #[serde(default)]
    pub flags_scanners: bool,
    /// ... by an alert whose trigger is at most this many of its probes in.
    pub within_probes: Option<u64>,
    /// ... and at most this long after its first packet (`5s`, `2m`).
    pub within: Option<Spanned<String>>,
    /// At most this many benign sources flagged.
    pub max_fp: Option<u64>,
    /// At least this many benign sources flagged: a false positive the
    /// scenario exists to reproduce.
    pub min_fp: Option<u64>,
    /// At most this many alerts.
    pub max_alerts: Option<u64>,
    /// At least this many alerts.
    pub min_alerts: Option<u64>,
}

/// A validated expectation.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// The claim in words.
    pub claim: String,
    /// Detector specs (with `defaults` expanded).
    pub detectors: Vec<String>,
    /// Every scanner must be flagged.
    pub flags_scanners: bool,
    /// Latency bound in probes.
    pub within_probes: Option<u64>,
    /// Latency bound in microseconds of virtual time.
    pub within_us: Option<u64>,
    /// Bound on benign sources flagged.
    pub max_fp: Option<u64>,
    /// Lower bound on benign sources flagged.
    pub min_fp: Option<u64>,
    /// Bound on alerts.
    pub max_alerts: Option<u64>,
    /// Lower bound on alerts.
    pub min_alerts: Option<u64>,
    /// 1-based line of the `[[expect]]` table's `detectors` key.
    pub line: usize,
}
