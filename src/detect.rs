//! Running detectors over frames, from a simulation or a capture, and scoring
//! their alerts against ground truth per source entity.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use scanbench_detector::registry::{self, Instance};
use scanbench_detector::{Alert, Instant, PacketView, Vantage};

use crate::error::Result;

/// Default configurations every registered detector runs in, plus the named
/// variants the verdict table compares (sense levels, count modes, psad with
/// its conntrack-bug filter off).
pub fn default_suite() -> Vec<String> {
    let mut v: Vec<String> = registry::DETECTORS
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    let variants = [
        "screenos:count_mode=syn-only",
        "screenos:count_mode=no-session-any",
        "sfportscan:sense_level=medium",
        "sfportscan:sense_level=high",
        "psad:ignore_conntrack_bug_pkts=n",
    ];
    for s in variants {
        if registry::build(s).is_ok() {
            v.push(s.to_string());
        }
    }
    v
}

/// A set of configured detectors with the alerts they raised.
pub struct DetectorSet {
    /// The spec each was built from (short form, as given).
    pub specs: Vec<String>,
    instances: Vec<Instance>,
    vantages: Vec<Vantage>,
    /// Alerts per detector.
    pub alerts: Vec<Vec<Alert>>,
    /// Frames that were not IPv4 packets.
    pub malformed: u64,
    last: Instant,
}

impl DetectorSet {
    /// Builds every spec (`name[:param=value,...]`).
    ///
    /// # Errors
    /// An unknown detector or parameter, listing the valid ones.
    pub fn new(specs: &[String]) -> Result<Self> {
        let mut instances = Vec::new();
        for s in specs {
            instances.push(registry::build(s)?);
        }
        let vantages = instances.iter().map(|i| i.detector.vantage()).collect();
        Ok(DetectorSet {
            specs: specs.to_vec(),
            alerts: vec![Vec::new(); instances.len()],
            instances,
            vantages,
            malformed: 0,
            last: Instant::ZERO,
        })
    }

    /// Full configuration text of detector `i`.
    pub fn config(&self, i: usize) -> &str {
        &self.instances[i].config
    }

    /// Whether detector `i` reads the wire or a drop log.
    pub fn vantage(&self, i: usize) -> Vantage {
        self.vantages[i]
    }

    /// Feeds one frame seen at `vantage` to the detectors that read it.
    pub fn observe(&mut self, vantage: Vantage, at: Instant, frame: u64, bytes: &[u8]) {
        let Ok(view) = PacketView::parse(frame, bytes) else {
            self.malformed += 1;
            return;
        };
        self.last = self.last.max(at);
        for (i, inst) in self.instances.iter_mut().enumerate() {
            if self.vantages[i] == vantage {
                inst.detector.observe(at, &view, &mut self.alerts[i]);
            }
        }
    }

    /// How long past the end of the input timers still run: real sensors keep
    /// running after the last packet, so checks due shortly after it (psad's
    /// 5 s check interval, Zeek's 5 s attempt delay and 5 min inactivity
    /// timeout) still report.
    pub const DRAIN: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(600);

    /// Runs pending timers at the end of the input (plus [`Self::DRAIN`]).
    pub fn finish(&mut self, at: Instant) {
        let at = at.max(self.last) + Self::DRAIN;
        for (i, inst) in self.instances.iter_mut().enumerate() {
            inst.detector.flush(at, &mut self.alerts[i]);
        }
    }
}

/// Ground truth per source entity: which addresses are scanners.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// Addresses of malicious actors.
    pub scanners: BTreeSet<Ipv4Addr>,
    /// Every address that sent a packet the sensor saw.
    pub sources: BTreeSet<Ipv4Addr>,
    /// First time each scanner's traffic was seen by the sensor.
    pub scan_start: BTreeMap<Ipv4Addr, Instant>,
}

/// One detector's score on one run, per source entity (the TRW tradition).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Alerts raised.
    pub alerts: u64,
    /// Distinct addresses blamed.
    pub flagged: u64,
    /// Blamed addresses that are scanners.
    pub tp: u64,
    /// Blamed addresses that are benign.
    pub fp: u64,
    /// Scanners never blamed.
    pub fn_: u64,
    /// Benign sources seen by the sensor.
    pub benign_sources: u64,
    /// Microseconds from each flagged scanner's first packet to its first alert (first scanner).
    pub latency_us: Option<i64>,
}

/// Scores alerts against ground truth.
pub fn score(alerts: &[Alert], truth: &Truth) -> Score {
    let mut flagged: BTreeMap<Ipv4Addr, Instant> = BTreeMap::new();
    for a in alerts {
        let e = flagged.entry(a.scanner).or_insert(a.time);
        *e = (*e).min(a.time);
    }
    let tp = flagged
        .keys()
        .filter(|a| truth.scanners.contains(a))
        .count() as u64;
    let fp = flagged.len() as u64 - tp;
    let latency_us = flagged
        .iter()
        .filter_map(|(a, t)| {
            truth
                .scan_start
                .get(a)
                .map(|s| (*t - *s).total_micros() as i64)
        })
        .min();
    Score {
        alerts: alerts.len() as u64,
        flagged: flagged.len() as u64,
        tp,
        fp,
        fn_: truth.scanners.len() as u64 - tp,
        benign_sources: truth
            .sources
            .iter()
            .filter(|a| !truth.scanners.contains(a))
            .count() as u64,
        latency_us,
    }
}
