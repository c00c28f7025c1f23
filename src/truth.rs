//! Ground truth as the sensors saw it: the label of every frame a detector
//! read, who the scanners are, and the base counts per-event rates divide by.
//!
//! Detectors name frames by their index on the tap they read, so the truth
//! is kept per vantage point, one label id (4 bytes) per labelled frame.
//!
//! Memory: without labels (a replayed capture, no `--labels`), nothing is
//! kept per frame and, per source, only its address in the set of distinct
//! sources (about 12 bytes): the frames a source sent and when it was first
//! seen are kept only for the scanners given up front (`--scanners`, a
//! scenario's malicious actors). With labels, 4 bytes per frame plus, per
//! source, its frame numbers (8 bytes a frame) and first time, so scanners
//! inferred from the labels at the end still get their latency.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;

use scanbench_detector::{Instant, PacketView, Vantage};
use scanbench_sim::label::{Class, Label};

/// Canonical (direction-free) TCP connection key.
type ConnKey = ((Ipv4Addr, u16), (Ipv4Addr, u16));

fn conn_key(a: (Ipv4Addr, u16), b: (Ipv4Addr, u16)) -> ConnKey {
    if a <= b { (a, b) } else { (b, a) }
}

/// Labels of the frames seen at one vantage point, and what was learnt from them.
#[derive(Clone, Debug, Default)]
pub struct VantageTruth {
    /// Label id of frame `i` (an index into [`GroundTruth::labels`]), up to
    /// the last labelled frame.
    frame_labels: Vec<u32>,
    /// Frames recorded.
    frames: u64,
    /// Every address that sent a frame here.
    pub sources: BTreeSet<Ipv4Addr>,
    /// Per source address, the indices of the frames it sent, in order (for
    /// a scanner: its probes).
    pub sent: BTreeMap<Ipv4Addr, Vec<u64>>,
    /// Per source address, the time of its first frame here.
    pub first_seen: BTreeMap<Ipv4Addr, Instant>,
    /// Sources of malicious frames that start something (a pure SYN, a TCP
    /// segment without ACK, UDP, an ICMP echo request): the scanners as the
    /// labels alone tell them apart from the victims answering them.
    pub probing: BTreeSet<Ipv4Addr>,
    /// Benign TCP connections opened (distinct 5-tuples with a benign SYN).
    pub benign_connections: u64,
    /// Benign TCP segments that belong to no connection this vantage saw open
    /// (no SYN ever seen on their 5-tuple): what a stateful device calls
    /// "sessionless" or "out of state".
    pub sessionless_packets: u64,
    opened: HashSet<ConnKey>,
}

impl VantageTruth {
    /// Frames recorded.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

/// Ground truth for one run, filled frame by frame.
#[derive(Clone, Debug, Default)]
pub struct GroundTruth {
    /// Interned labels.
    pub labels: Vec<Label>,
    /// Addresses of the scenario's malicious actors (the entities that should be flagged).
    pub scanners: BTreeSet<Ipv4Addr>,
    /// What the wire sensor saw.
    pub wire: VantageTruth,
    /// What the drop-log sensor saw.
    pub drop_log: VantageTruth,
    /// Simulated (or captured) duration, for per-hour rates.
    pub duration_us: u64,
}

impl GroundTruth {
    /// Truth for a run whose malicious actors have `scanners` addresses.
    pub fn new(scanners: BTreeSet<Ipv4Addr>) -> Self {
        GroundTruth {
            scanners,
            ..GroundTruth::default()
        }
    }

    /// The truth at `vantage`.
    pub fn at(&self, vantage: Vantage) -> &VantageTruth {
        match vantage {
            Vantage::Wire => &self.wire,
            Vantage::DropLog => &self.drop_log,
        }
    }

    /// The label of frame `frame` at `vantage`, if recorded.
    pub fn label(&self, vantage: Vantage, frame: u64) -> Option<&Label> {
        let id = *self
            .at(vantage)
            .frame_labels
            .get(usize::try_from(frame).ok()?)?;
        self.labels.get(id as usize)
    }

    /// Records frame number `index` seen at `vantage` at time `at` with
    /// `label` (`None`: unknown; the frame counts as a source but in no
    /// class-dependent figure).
    pub fn record(
        &mut self,
        vantage: Vantage,
        index: u64,
        at: Instant,
        bytes: &[u8],
        label: Option<&Label>,
    ) {
        let view = PacketView::parse(index, bytes).ok();
        self.record_view(vantage, index, at, view.as_ref(), label);
    }

    /// [`Self::record`] for a frame the caller has parsed already (`None`:
    /// not an IPv4 packet), so a replay parses each frame once.
    pub fn record_view(
        &mut self,
        vantage: Vantage,
        index: u64,
        at: Instant,
        view: Option<&PacketView<'_>>,
        label: Option<&Label>,
    ) {
        // Unlabelled frames (a replayed capture without labels) get no id.
        let id = match label {
            None => u32::MAX,
            Some(label) => match self.labels.iter().position(|l| l == label) {
                Some(i) => i as u32,
                None => {
                    self.labels.push(label.clone());
                    self.labels.len() as u32 - 1
                }
            },
        };
        let v = match vantage {
            Vantage::Wire => &mut self.wire,
            Vantage::DropLog => &mut self.drop_log,
        };
        // Frames are numbered from 0 per tap (a caller may skip some).
        v.frames = v.frames.max(index.saturating_add(1));
        if label.is_some() && v.frame_labels.len() as u64 <= index {
            // Pad the unlabelled frames before this one.
            v.frame_labels.resize(index as usize, u32::MAX);
            v.frame_labels.push(id);
        }
        let Some(p) = view else {
            return;
        };
        v.sources.insert(p.src);
        if label.is_some() || self.scanners.contains(&p.src) {
            v.sent.entry(p.src).or_default().push(index);
            v.first_seen.entry(p.src).or_insert(at);
        }
        let Some(label) = label else {
            return;
        };
        if label.class != Class::Benign {
            let probe = match (p.tcp(), p.icmp()) {
                (Some(t), _) => !t.flags.ack(),
                (None, Some(i)) => i.is_echo_request(),
                (None, None) => p.udp().is_some(),
            };
            if probe {
                v.probing.insert(p.src);
            }
            return;
        }
        if let (Some(t), Some((sp, dp))) = (p.tcp(), p.ports()) {
            let key = conn_key((p.src, sp), (p.dst, dp));
            if t.flags.syn() && !t.flags.ack() {
                if v.opened.insert(key) {
                    v.benign_connections += 1;
                }
            } else if !v.opened.contains(&key) {
                v.sessionless_packets += 1;
            }
        }
    }

    /// The scanners as the labels tell: sources of malicious probes at either
    /// vantage point (for captures whose labels name no actor addresses).
    pub fn inferred_scanners(&self) -> BTreeSet<Ipv4Addr> {
        self.wire
            .probing
            .union(&self.drop_log.probing)
            .copied()
            .collect()
    }

    /// Benign sources seen at either vantage point.
    pub fn benign_sources(&self) -> BTreeSet<Ipv4Addr> {
        self.wire
            .sources
            .union(&self.drop_log.sources)
            .filter(|a| !self.scanners.contains(a))
            .copied()
            .collect()
    }

    /// The vantage whose traffic the per-event base counts come from: the
    /// wire sensor when there is one (it sees the whole conversation), else
    /// the drop log.
    pub fn base(&self) -> &VantageTruth {
        if self.wire.frames() > 0 {
            &self.wire
        } else {
            &self.drop_log
        }
    }
}
