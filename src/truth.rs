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
//!
//! All of it is capped per vantage point ([`TruthLimits`]), so no capture
//! makes the truth outgrow a fixed bound: past a cap a frame's label,
//! position or new source is not kept, and the frame is counted in
//! [`VantageTruth::untracked_frames`] (the report shows the count).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;

use scanbench_detector::{Instant, PacketView, Vantage};
use scanbench_sim::label::{Class, Label};

/// Canonical (direction-free) TCP connection key.
type ConnKey = ((Ipv4Addr, u16), (Ipv4Addr, u16));

fn conn_key(a: (Ipv4Addr, u16), b: (Ipv4Addr, u16)) -> ConnKey {
    if a <= b { (a, b) } else { (b, a) }
}

/// How much the truth keeps at one vantage point at most. The defaults
/// bound it to about 300 MiB per vantage point in the worst case
/// (`docs/robustness.md`) and are far above any built-in scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruthLimits {
    /// Frames whose label and position are kept (frame numbers `0..frames`).
    pub frames: u64,
    /// Distinct sources kept (the scanners given up front always are).
    pub sources: usize,
    /// Benign TCP connections kept to tell in-session segments from
    /// sessionless ones.
    pub connections: usize,
}

impl Default for TruthLimits {
    fn default() -> Self {
        TruthLimits {
            frames: 1 << 23,
            sources: 1 << 20,
            connections: 1 << 20,
        }
    }
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
    /// Frames a [`TruthLimits`] cap kept from being fully recorded (their
    /// label, their position in their source's frames, their new source or
    /// their new connection): 0 unless the input was huge.
    pub untracked_frames: u64,
    opened: HashSet<ConnKey>,
    /// Sources known to be in [`Self::sources`], so most frames skip the
    /// ordered set.
    recent: RecentSources,
}

/// A direct-mapped cache of addresses known to be in a set that only grows:
/// a hit proves membership without searching the set (a capture's frames
/// come from a few sources in bursts), a miss says nothing.
#[derive(Clone)]
struct RecentSources(Box<[Option<Ipv4Addr>]>);

impl RecentSources {
    /// Slots (a power of two).
    const SLOTS: usize = 1 << 10;

    fn slot(addr: Ipv4Addr) -> usize {
        // Fibonacci hashing: the top bits of the product mix every byte.
        (u32::from(addr).wrapping_mul(0x9e37_79b9) >> (32 - Self::SLOTS.trailing_zeros())) as usize
    }

    fn contains(&self, addr: Ipv4Addr) -> bool {
        self.0[Self::slot(addr)] == Some(addr)
    }

    /// Notes `addr`, which must be in the set from now on.
    fn insert(&mut self, addr: Ipv4Addr) {
        self.0[Self::slot(addr)] = Some(addr);
    }
}

impl Default for RecentSources {
    fn default() -> Self {
        RecentSources(vec![None; Self::SLOTS].into_boxed_slice())
    }
}

impl std::fmt::Debug for RecentSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.iter().filter(|a| a.is_some()).count();
        write!(f, "RecentSources({held} of {})", self.0.len())
    }
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
    /// The caps on what is kept per vantage point.
    pub limits: TruthLimits,
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

    /// Whether any frame at `vantage` has its label recorded.
    pub fn labelled(&self, vantage: Vantage) -> bool {
        !self.at(vantage).frame_labels.is_empty()
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
        let limits = self.limits;
        let mut full = true;
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
        // Whether every part of the frame's bookkeeping fit under the caps.
        let full = 'track: {
            // Frames are numbered from 0 per tap (a caller may skip some).
            v.frames = v.frames.max(index.saturating_add(1));
            let in_frames = index < limits.frames;
            if label.is_some() && v.frame_labels.len() as u64 <= index {
                if in_frames {
                    // Pad the unlabelled frames before this one.
                    v.frame_labels.resize(index as usize, u32::MAX);
                    v.frame_labels.push(id);
                } else {
                    full = false;
                }
            }
            let Some(p) = view else {
                break 'track full;
            };
            let scanner = self.scanners.contains(&p.src);
            if v.recent.contains(p.src) {
                // Known already.
            } else if v.sources.len() < limits.sources || scanner {
                v.sources.insert(p.src);
                v.recent.insert(p.src);
            } else if v.sources.contains(&p.src) {
                v.recent.insert(p.src);
            } else {
                // A source past the cap is not known here at all: no frames,
                // no first time, never a probing source.
                break 'track false;
            }
            if label.is_some() || scanner {
                if in_frames {
                    v.sent.entry(p.src).or_default().push(index);
                } else {
                    full = false;
                }
                v.first_seen.entry(p.src).or_insert(at);
            }
            let Some(label) = label else {
                break 'track full;
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
                break 'track full;
            }
            if let (Some(t), Some((sp, dp))) = (p.tcp(), p.ports()) {
                let key = conn_key((p.src, sp), (p.dst, dp));
                if t.flags.syn() && !t.flags.ack() {
                    if v.opened.len() >= limits.connections && !v.opened.contains(&key) {
                        full = false;
                    } else if v.opened.insert(key) {
                        v.benign_connections += 1;
                    }
                } else if !v.opened.contains(&key) {
                    v.sessionless_packets += 1;
                }
            }
            full
        };
        if !full {
            v.untracked_frames += 1;
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

    /// Frames a cap kept from being fully recorded, at either vantage point.
    pub fn untracked_frames(&self) -> u64 {
        self.wire.untracked_frames + self.drop_log.untracked_frames
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
#[cfg(test)]
mod tests {
    use super::*;
    use scanbench_testkit::shorthand::{S, ip, tcp};

    /// SYN number `i` from `src` to its own port of one target.
    fn syn(src: &str, i: u16) -> Vec<u8> {
        tcp(ip(src), 40000, ip("198.51.100.1"), 1000 + i, S)
    }

    /// Past each cap the truth stops growing and counts the frames it could
    /// not fully record; below them it records as before.
    #[test]
    fn caps_bound_the_truth_and_count_what_they_kept_out() {
        let scanner = ip("203.0.113.9");
        let mut t = GroundTruth::new(BTreeSet::from([scanner]));
        t.limits = TruthLimits {
            frames: 6,
            sources: 2,
            connections: 2,
        };
        let benign = Label::new("client", Class::Benign, "browse");
        let probe = Label::new("scanner", Class::Malicious, "syn-scan");
        let frames = [
            ("192.0.2.1", &benign),  // 0: source 1, connection 1
            ("192.0.2.1", &benign),  // 1: connection 2
            ("192.0.2.2", &benign),  // 2: source 2; a third connection: cap
            ("192.0.2.3", &benign),  // 3: a third source: cap
            ("203.0.113.9", &probe), // 4: the scanner is always kept
            ("192.0.2.1", &benign),  // 5: a known source, a connection past the cap
            ("203.0.113.9", &probe), // 6: past the frame cap: no label, no position
            ("203.0.113.9", &probe), // 7: the same
        ];
        for (i, (src, label)) in frames.iter().enumerate() {
            let bytes = syn(src, i as u16);
            t.record(
                Vantage::Wire,
                i as u64,
                Instant::from_micros(i as i64),
                &bytes,
                Some(label),
            );
        }
        let w = &t.wire;
        assert_eq!(w.frames(), 8);
        assert_eq!(w.frame_labels.len(), 6);
        assert_eq!(t.label(Vantage::Wire, 5), Some(&benign));
        assert_eq!(t.label(Vantage::Wire, 6), None);
        let sources: Vec<String> = w.sources.iter().map(|a| a.to_string()).collect();
        assert_eq!(sources, ["192.0.2.1", "192.0.2.2", "203.0.113.9"]);
        assert_eq!(w.sent[&scanner], [4]);
        assert_eq!(w.benign_connections, 2);
        // Frames 2, 3, 5, 6 and 7.
        assert_eq!(w.untracked_frames, 5);
        assert_eq!(t.untracked_frames(), 5);
        assert_eq!(t.inferred_scanners(), BTreeSet::from([scanner]));
    }

    /// A source whose cache slot another source took is still known (past
    /// the cap as before it), and a new source past the cap still is not.
    #[test]
    fn the_source_cache_changes_nothing_when_sources_collide() {
        let a = ip("192.0.2.1");
        let slot = RecentSources::slot(a);
        let b = (0..=u16::MAX)
            .map(|i| Ipv4Addr::from(0xc612_0000 | u32::from(i)))
            .find(|x| RecentSources::slot(*x) == slot)
            .expect("198.18.0.0/16 has an address in every slot");
        let mut t = GroundTruth::default();
        t.limits.sources = 2;
        let benign = Label::new("client", Class::Benign, "browse");
        for (i, src) in [a, b, a, ip("192.0.2.3")].iter().enumerate() {
            let bytes = syn(&src.to_string(), i as u16);
            t.record(
                Vantage::Wire,
                i as u64,
                Instant::ZERO,
                &bytes,
                Some(&benign),
            );
        }
        assert_eq!(t.wire.sources, BTreeSet::from([a, b]));
        assert_eq!(t.wire.sent[&a], [0, 2]);
        // Only the third source's frame.
        assert_eq!(t.untracked_frames(), 1);
    }

    /// The default caps hold every frame of a capture below them.
    #[test]
    fn below_the_caps_nothing_is_left_out() {
        let mut t = GroundTruth::default();
        let benign = Label::new("client", Class::Benign, "browse");
        for i in 0..1000u16 {
            let src = format!("192.0.2.{}", i % 200);
            t.record(
                Vantage::Wire,
                u64::from(i),
                Instant::ZERO,
                &syn(&src, i),
                Some(&benign),
            );
        }
        assert_eq!(t.untracked_frames(), 0);
        assert_eq!(t.wire.sources.len(), 200);
        assert_eq!(t.wire.benign_connections, 1000);
        assert_eq!(t.wire.sent.values().map(Vec::len).sum::<usize>(), 1000);
    }
}
