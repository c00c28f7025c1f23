//! What `explain` keeps of a run: a compact summary of every frame of every
//! tap (addresses, ports, flags, sequence numbers, label), so that an alert's
//! frame numbers can be shown as packets, matched with the drop logs that
//! saw the same packets, and read for the mechanism behind them.
//!
//! Frames are numbered per tap from 0, as detectors number them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use scanbench_detector::{Instant, PacketView, TcpFlags, Transport};
use scanbench_sim::Frame;
use scanbench_sim::label::Label;

use crate::simulate::TapObserver;

/// One frame as `explain` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Frame number on its tap.
    pub index: u64,
    /// Capture time.
    pub at: Instant,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub proto: u8,
    /// Source port (TCP, UDP).
    pub sport: Option<u16>,
    /// Destination port (TCP, UDP).
    pub dport: Option<u16>,
    /// TCP flags.
    pub flags: Option<TcpFlags>,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgment number.
    pub ack: u32,
    /// Transport payload bytes.
    pub payload: u32,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// Index into [`Recording::labels`], if the frame is labelled.
    pub label: Option<u32>,
}

impl FrameInfo {
    /// Summarises one IPv4 frame; `None` if it does not parse.
    pub fn parse(index: u64, at: Instant, bytes: &[u8], label: Option<u32>) -> Option<Self> {
        let v = PacketView::parse(index, bytes).ok()?;
        let (sport, dport, flags, seq, ack, payload, icmp_type) = match &v.transport {
            Transport::Tcp(t) => (
                Some(t.src_port),
                Some(t.dst_port),
                Some(t.flags),
                t.seq,
                t.ack,
                t.payload.len(),
                None,
            ),
            Transport::Udp(u) => (
                Some(u.src_port),
                Some(u.dst_port),
                None,
                0,
                0,
                u.payload.len(),
                None,
            ),
            Transport::Icmp(i) => (None, None, None, 0, 0, 0, Some(i.icmp_type)),
            _ => (None, None, None, 0, 0, 0, None),
        };
        Some(FrameInfo {
            index,
            at,
            src: v.src,
            dst: v.dst,
            proto: v.protocol,
            sport,
            dport,
            flags,
            seq,
            ack,
            payload: u32::try_from(payload).unwrap_or(u32::MAX),
            icmp_type,
            label,
        })
    }

    /// `src:sport -> dst:dport` (addresses alone without ports).
    pub fn endpoints(&self) -> String {
        match (self.sport, self.dport) {
            (Some(s), Some(d)) => format!("{}:{s} -> {}:{d}", self.src, self.dst),
            _ => format!("{} -> {}", self.src, self.dst),
        }
    }

    /// `tcp`, `udp`, `icmp` or the protocol number.
    pub fn proto_name(&self) -> String {
        match self.proto {
            1 => "icmp".into(),
            6 => "tcp".into(),
            17 => "udp".into(),
            n => n.to_string(),
        }
    }

    /// The key that finds the same packet on another tap (a drop log): the
    /// sender's side, flags and sequence numbers, which a NAT on the way does
    /// not touch for a packet coming in (it rewrites the destination). For
    /// anything but TCP the destination takes the sequence numbers' place.
    fn identity(&self) -> PacketKey {
        let (x, y) = match self.flags {
            Some(_) => (self.seq, self.ack),
            None => (u32::from(self.dst), u32::from(self.dport.unwrap_or(0))),
        };
        (
            self.src,
            self.sport.unwrap_or(0),
            self.proto,
            self.flags.map_or(0, |f| f.0),
            x,
            y,
        )
    }
}

/// Source, source port, protocol, flags, seq and ack (or destination): a
/// packet's identity across taps.
type PacketKey = (Ipv4Addr, u16, u8, u8, u32, u32);

/// The frames of one tap.
#[derive(Clone, Debug, Default)]
pub struct TapFrames {
    /// Tap name.
    pub name: String,
    /// The router whose drop log this is, for a drop-log tap.
    pub drop_log_of: Option<String>,
    /// Frames in capture order; slot `i` holds frame `i` (`None`: not IPv4).
    pub frames: Vec<Option<FrameInfo>>,
}

impl TapFrames {
    /// Frame number `index`, if recorded and IPv4.
    pub fn get(&self, index: u64) -> Option<&FrameInfo> {
        self.frames.get(usize::try_from(index).ok()?)?.as_ref()
    }

    /// The recorded IPv4 frames, in order.
    pub fn iter(&self) -> impl Iterator<Item = &FrameInfo> {
        self.frames.iter().flatten()
    }
}

/// Every tap's frames and the labels they carry.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// One entry per tap, by tap index.
    pub taps: Vec<TapFrames>,
    /// Interned labels.
    pub labels: Vec<Label>,
    /// The tap wire detectors read.
    pub wire: Option<usize>,
    /// The tap drop-log detectors read.
    pub drop_log: Option<usize>,
}

/// Where a packet seen at a sensor ended: logged as dropped by a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fate {
    /// The router that dropped it (or the drop-log tap's name).
    pub dropped_by: String,
    /// Its frame number on that drop log.
    pub frame: u64,
    /// The label it carried there (a middlebox may have changed its cause,
    /// e.g. to `state-loss`).
    pub label: Option<Label>,
}

impl Recording {
    /// A recording whose taps are named `names`; `drop_logs` maps tap index to
    /// the router whose drop log it records.
    pub fn new(names: &[String], drop_logs: &BTreeMap<usize, String>) -> Self {
        Recording {
            taps: names
                .iter()
                .enumerate()
                .map(|(i, n)| TapFrames {
                    name: n.clone(),
                    drop_log_of: drop_logs.get(&i).cloned(),
                    frames: Vec::new(),
                })
                .collect(),
            ..Recording::default()
        }
    }

    /// Interns `label`.
    pub fn intern(&mut self, label: &Label) -> u32 {
        match self.labels.iter().position(|l| l == label) {
            Some(i) => i as u32,
            None => {
                self.labels.push(label.clone());
                self.labels.len() as u32 - 1
            }
        }
    }

    /// Appends the next frame of tap `tap`.
    pub fn push(&mut self, tap: usize, at: Instant, bytes: &[u8], label: Option<&Label>) {
        let label = label.map(|l| self.intern(l));
        if self.taps.len() <= tap {
            self.taps.resize_with(tap + 1, TapFrames::default);
        }
        let t = &mut self.taps[tap];
        let index = t.frames.len() as u64;
        t.frames.push(FrameInfo::parse(index, at, bytes, label));
    }

    /// The label of a frame.
    pub fn label(&self, f: &FrameInfo) -> Option<&Label> {
        f.label.and_then(|i| self.labels.get(i as usize))
    }

    /// The tap a detector at the wire (`true`) or drop-log vantage reads.
    pub fn sensor(&self, wire: bool) -> Option<&TapFrames> {
        let i = if wire { self.wire } else { self.drop_log }?;
        self.taps.get(i)
    }

    /// Drop-log entries for the same packets as `frames` (seen at tap `from`):
    /// the first identical packet each drop log recorded within a second
    /// after it. Frames of a drop log itself are their own fate.
    pub fn fates(&self, from: usize, frames: &[FrameInfo]) -> BTreeMap<u64, Fate> {
        let mut out = BTreeMap::new();
        if let Some(router) = self.taps.get(from).and_then(|t| t.drop_log_of.as_ref()) {
            for f in frames {
                out.insert(
                    f.index,
                    Fate {
                        dropped_by: router.clone(),
                        frame: f.index,
                        label: self.label(f).cloned(),
                    },
                );
            }
            return out;
        }
        for (ti, tap) in self.taps.iter().enumerate() {
            let Some(router) = &tap.drop_log_of else {
                continue;
            };
            let twins = self.twins(ti, frames, false);
            for f in frames {
                if let (Some(d), false) = (twins.get(&f.index), out.contains_key(&f.index)) {
                    out.insert(
                        f.index,
                        Fate {
                            dropped_by: router.clone(),
                            frame: d.index,
                            label: self.label(d).cloned(),
                        },
                    );
                }
            }
        }
        out
    }

    /// The same packets as `frames` on tap `on`: for each, the identical
    /// packet nearest in time within a second after it (`earlier`: before it).
    pub fn twins(
        &self,
        on: usize,
        frames: &[FrameInfo],
        earlier: bool,
    ) -> BTreeMap<u64, FrameInfo> {
        let mut out = BTreeMap::new();
        let Some(tap) = self.taps.get(on) else {
            return out;
        };
        let mut index: BTreeMap<PacketKey, Vec<&FrameInfo>> = BTreeMap::new();
        for f in tap.iter() {
            index.entry(f.identity()).or_default().push(f);
        }
        let second = scanbench_detector::Duration::from_secs(1);
        for f in frames {
            let Some(cands) = index.get(&f.identity()) else {
                continue;
            };
            let found = if earlier {
                cands
                    .iter()
                    .rev()
                    .find(|d| d.at <= f.at && d.at + second >= f.at)
            } else {
                cands.iter().find(|d| d.at >= f.at && d.at <= f.at + second)
            };
            if let Some(d) = found {
                out.insert(f.index, **d);
            }
        }
        out
    }
}

/// Records every frame of a simulation into a [`Recording`].
pub struct Recorder<'a> {
    /// Where frames go.
    pub recording: &'a mut Recording,
}

impl TapObserver for Recorder<'_> {
    fn sensors(&mut self, wire: Option<usize>, drop_log: Option<usize>) {
        self.recording.wire = wire;
        self.recording.drop_log = drop_log;
    }

    fn frame(&mut self, tap: usize, f: &Frame<'_>) {
        self.recording.push(tap, f.at, f.bytes, Some(f.label));
    }
}
