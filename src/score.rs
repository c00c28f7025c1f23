//! Scoring alerts against ground truth, with the unit of every number stated
//! (`docs/metrics.md` defines each figure).
//!
//! - per source entity: TP, FP, FN, recall, FP rate over benign sources;
//! - per alert: alerts whose triggering packets are all benign, per benign hour;
//! - per event: FP alerts per benign connection and per sessionless packet;
//! - detection latency: virtual time and probes from a scanner's first packet
//!   to the first alert naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use scanbench_detector::{Alert, Vantage};
use scanbench_sim::label::{Class, Label};

use crate::truth::GroundTruth;

/// How many of an alert's packets one labelled cause produced.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CauseCount {
    /// The actor, class and cause of the packets.
    pub label: Label,
    /// Packets (frames) of the alert with that label.
    pub packets: u64,
}

/// An alert with the labelled causes of the packets behind it.
#[derive(Clone, Debug)]
pub struct ScoredAlert {
    /// The alert as the detector raised it.
    pub alert: Alert,
    /// Causes of the triggering frame and the evidence frames, most packets first.
    pub causes: Vec<CauseCount>,
    /// The label of the frame that triggered it, if a frame did.
    pub trigger: Option<Label>,
    /// The blamed address is one of the scenario's malicious actors.
    pub blames_scanner: bool,
}

impl ScoredAlert {
    /// Every packet behind the alert is benign (and at least one is known):
    /// the alert was raised by legitimate traffic alone.
    pub fn benign_trigger(&self) -> bool {
        !self.causes.is_empty() && self.causes.iter().all(|c| c.label.class == Class::Benign)
    }
}

/// Time and probes from a scanner's first packet to the first alert naming it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// The scanner.
    pub scanner: Ipv4Addr,
    /// Microseconds of virtual time.
    pub micros: u64,
    /// Packets the scanner had sent past the detector's vantage point up to
    /// and including the triggering one; `None` when the alert names no frame.
    pub probes: Option<u64>,
}

/// One detector's score on one run. Every field is an integer, so the
/// serde form (sweep results, shards) round-trips exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// Alerts raised.
    pub alerts: u64,
    /// Distinct addresses blamed.
    pub flagged: u64,
    /// Blamed addresses that are scanners (entities).
    pub tp: u64,
    /// Blamed addresses that are benign (entities).
    pub fp: u64,
    /// Scanners never blamed (entities).
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Scanners in the ground truth (entities).
    pub scanners: u64,
    /// Benign source addresses the sensors saw (entities).
    pub benign_sources: u64,
    /// Alerts whose packets are all benign.
    pub benign_alerts: u64,
    /// Alerts blaming a benign address.
    pub fp_alerts: u64,
    /// Benign TCP connections the sensor saw open (the per-event base).
    pub benign_connections: u64,
    /// Benign sessionless TCP segments the sensor saw (the other per-event base).
    pub sessionless_packets: u64,
    /// Simulated or captured time, in microseconds.
    pub duration_us: u64,
    /// One entry per flagged scanner, in address order.
    pub latency: Vec<Latency>,
}

impl Score {
    /// Scanners flagged / scanners; `None` without scanners.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.scanners)
    }

    /// Benign sources flagged / benign sources; `None` without benign sources.
    pub fn fp_rate(&self) -> Option<f64> {
        ratio(self.fp, self.benign_sources)
    }

    /// Benign-triggered alerts per hour of benign traffic (the run's duration).
    pub fn benign_alerts_per_hour(&self) -> Option<f64> {
        (self.duration_us > 0)
            .then(|| self.benign_alerts as f64 / (self.duration_us as f64 / 3.6e9))
    }

    /// FP alerts per benign connection.
    pub fn fp_per_benign_connection(&self) -> Option<f64> {
        ratio(self.fp_alerts, self.benign_connections)
    }

    /// FP alerts per benign sessionless packet.
    pub fn fp_per_sessionless_packet(&self) -> Option<f64> {
        ratio(self.fp_alerts, self.sessionless_packets)
    }

    /// The worst (largest) latency over flagged scanners.
    pub fn worst_latency(&self) -> Option<&Latency> {
        self.latency.iter().max_by_key(|l| (l.micros, l.probes))
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Scores pooled over several runs: entities and alerts summed, latencies
/// collected. The suite totals and every sweep point are figures of this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pooled {
    /// Runs added.
    pub runs: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Scanners flagged (entities, summed over runs).
    pub tp: u64,
    /// Scanners (entities, summed over runs).
    pub scanners: u64,
    /// Benign sources flagged (entities, summed over runs).
    pub fp: u64,
    /// Benign sources (entities, summed over runs).
    pub benign_sources: u64,
    /// Alerts whose packets are all benign.
    pub benign_alerts: u64,
    /// Simulated or captured time, in microseconds, summed over runs.
    pub duration_us: u64,
    /// Probes to detection of every flagged scanner, ascending.
    pub probes: Vec<u64>,
    /// Microseconds to detection of every flagged scanner, ascending.
    pub latency_us: Vec<u64>,
}

impl Pooled {
    /// Pools `scores`.
    pub fn of<'a>(scores: impl IntoIterator<Item = &'a Score>) -> Self {
        let mut p = Pooled::default();
        for s in scores {
            p.runs += 1;
            p.alerts += s.alerts;
            p.tp += s.tp;
            p.scanners += s.scanners;
            p.fp += s.fp;
            p.benign_sources += s.benign_sources;
            p.benign_alerts += s.benign_alerts;
            p.duration_us = p.duration_us.saturating_add(s.duration_us);
            p.probes.extend(s.latency.iter().filter_map(|l| l.probes));
            p.latency_us.extend(s.latency.iter().map(|l| l.micros));
        }
        p.probes.sort_unstable();
        p.latency_us.sort_unstable();
        p
    }

    /// Scanners flagged / scanners; `None` without scanners.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.scanners)
    }

    /// Benign sources flagged / benign sources; `None` without benign sources.
    pub fn fp_rate(&self) -> Option<f64> {
        ratio(self.fp, self.benign_sources)
    }

    /// Hours of traffic (the runs' durations summed).
    pub fn hours(&self) -> f64 {
        self.duration_us as f64 / 3.6e9
    }

    /// Benign-triggered alerts per hour of traffic; `None` for no time.
    pub fn benign_alerts_per_hour(&self) -> Option<f64> {
        (self.duration_us > 0).then(|| self.benign_alerts as f64 / self.hours())
    }

    /// Median probes to detection (the lower median), `None` when nothing was flagged.
    pub fn median_probes(&self) -> Option<u64> {
        lower_median(&self.probes)
    }

    /// Median microseconds to detection (the lower median), `None` when nothing was flagged.
    pub fn median_latency_us(&self) -> Option<u64> {
        lower_median(&self.latency_us)
    }
}

/// The lower median of ascending `xs`: an element of the data, so integer
/// figures stay integers.
fn lower_median(xs: &[u64]) -> Option<u64> {
    xs.get(xs.len().checked_sub(1)? / 2).copied()
}

/// Links `alert` (read at `vantage`) to the labels of its packets.
pub fn explain(alert: Alert, vantage: Vantage, truth: &GroundTruth) -> ScoredAlert {
    let mut counts: BTreeMap<&Label, u64> = BTreeMap::new();
    // Without labels at this vantage point no frame has a cause.
    if truth.labelled(vantage) {
        let mut frames: BTreeSet<u64> = alert.evidence.frames.iter().copied().collect();
        frames.extend(alert.trigger_frame);
        for f in frames {
            if let Some(l) = truth.label(vantage, f) {
                *counts.entry(l).or_default() += 1;
            }
        }
    }
    let mut causes: Vec<CauseCount> = counts
        .into_iter()
        .map(|(l, n)| CauseCount {
            label: l.clone(),
            packets: n,
        })
        .collect();
    causes.sort_by(|a, b| {
        b.packets
            .cmp(&a.packets)
            .then_with(|| a.label.cmp(&b.label))
    });
    ScoredAlert {
        trigger: alert
            .trigger_frame
            .and_then(|f| truth.label(vantage, f))
            .cloned(),
        blames_scanner: truth.scanners.contains(&alert.scanner),
        alert,
        causes,
    }
}

/// Scores one detector's alerts (read at `vantage`) against `truth`.
pub fn score(alerts: &[ScoredAlert], vantage: Vantage, truth: &GroundTruth) -> Score {
    let mut first: BTreeMap<Ipv4Addr, &ScoredAlert> = BTreeMap::new();
    for a in alerts {
        let e = first.entry(a.alert.scanner).or_insert(a);
        if a.alert.time < e.alert.time {
            *e = a;
        }
    }
    let tp = first.keys().filter(|a| truth.scanners.contains(a)).count() as u64;
    let here = truth.at(vantage);
    let latency = first
        .iter()
        .filter(|(a, _)| truth.scanners.contains(a))
        .filter_map(|(addr, a)| {
            let start = here
                .first_seen
                .get(addr)
                .or_else(|| truth.wire.first_seen.get(addr))?;
            let last_frame = a
                .alert
                .trigger_frame
                .or_else(|| a.alert.evidence.frames.iter().copied().max());
            let probes = last_frame.map(|f| {
                here.sent
                    .get(addr)
                    .map_or(0, |p| p.partition_point(|&x| x <= f) as u64)
            });
            Some(Latency {
                scanner: *addr,
                micros: if a.alert.time >= *start {
                    (a.alert.time - *start).total_micros()
                } else {
                    0
                },
                probes,
            })
        })
        .collect();
    let base = truth.base();
    Score {
        alerts: alerts.len() as u64,
        flagged: first.len() as u64,
        tp,
        fp: first.len() as u64 - tp,
        fn_: truth.scanners.len() as u64 - tp,
        scanners: truth.scanners.len() as u64,
        benign_sources: truth.benign_sources().len() as u64,
        benign_alerts: alerts.iter().filter(|a| a.benign_trigger()).count() as u64,
        fp_alerts: alerts.iter().filter(|a| !a.blames_scanner).count() as u64,
        benign_connections: base.benign_connections,
        sessionless_packets: base.sessionless_packets,
        duration_us: truth.duration_us,
        latency,
    }
}
