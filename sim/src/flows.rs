//! Flow labels: which actor a 5-tuple belongs to, so replies inherit the label
//! of the packet that caused them (a victim's RST to a probe is the scanner's
//! doing; a server's response is the client's).

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

use crate::label::LabelId;

/// Canonical (direction-free) 5-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FlowKey {
    proto: u8,
    a: (Ipv4Addr, u16),
    b: (Ipv4Addr, u16),
}

/// What the fabric needs to know of a packet to label it.
pub(crate) struct Tuple {
    pub key: FlowKey,
    pub src_port: u16,
    /// A TCP segment with SYN set and ACK clear: a new connection attempt.
    pub opens: bool,
    /// A TCP segment with FIN or RST: the connection is ending.
    pub closes: bool,
}

/// Reads the tuple of an IPv4 packet (ports 0 for non-TCP/UDP).
pub(crate) fn tuple(pkt: &[u8]) -> Option<Tuple> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    let proto = ip.next_header();
    let p = ip.payload();
    let (sport, dport, opens, closes) = match proto {
        IpProtocol::Tcp | IpProtocol::Udp if ip.frag_offset() == 0 && p.len() >= 4 => {
            let tcp_flags = (proto == IpProtocol::Tcp && p.len() >= 14).then(|| p[13]);
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
                tcp_flags.is_some_and(|f| f & 0x12 == 0x02),
                tcp_flags.is_some_and(|f| f & 0x05 != 0),
            )
        }
        _ => (0, 0, false, false),
    };
    let s = (ip.src_addr(), sport);
    let d = (ip.dst_addr(), dport);
    let (a, b) = if s <= d { (s, d) } else { (d, s) };
    Some(Tuple {
        key: FlowKey {
            proto: u8::from(proto),
            a,
            b,
        },
        src_port: sport,
        opens,
        closes,
    })
}

/// Label per flow. Ground truth must follow a connection for as long as either
/// end may still send on it, so an open flow is remembered as long as Linux
/// conntrack keeps an established entry (5 days: a server push after hours of
/// idle still belongs to the client's session), and a flow that has seen FIN or
/// RST for a further 2 x 120 s (retransmitted FINs, late ACKs, TIME_WAIT).
/// UDP and other flows are forgotten after 600 s of idle.
pub(crate) struct FlowLabels {
    // Lookup only; never iterated in an order-dependent way (retain only
    // removes). Fx hashing: two lookups per packet, keys from the simulation.
    map: FxHashMap<FlowKey, FlowEntry>,
    next_sweep: Instant,
}

#[derive(Clone, Copy)]
struct FlowEntry {
    label: LabelId,
    seen: Instant,
    /// How long after `seen` the entry may be forgotten.
    keep: Duration,
}

impl Default for FlowLabels {
    fn default() -> Self {
        FlowLabels {
            map: FxHashMap::default(),
            next_sweep: Instant::ZERO,
        }
    }
}

impl FlowLabels {
    const TCP_OPEN: Duration = Duration::from_secs(5 * 24 * 3600);
    const TCP_CLOSING: Duration = Duration::from_secs(240);
    const OTHER: Duration = Duration::from_secs(600);
    const SWEEP: Duration = Duration::from_secs(60);

    fn keep(t: &Tuple, previous: Option<Duration>) -> Duration {
        if t.closes {
            Self::TCP_CLOSING
        } else if t.key.proto == u8::from(IpProtocol::Tcp) {
            // A late segment after FIN/RST does not reopen the flow.
            previous.unwrap_or(Self::TCP_OPEN)
        } else {
            Self::OTHER
        }
    }

    /// The flow's label, refreshing its idle timer with packet `t`.
    pub(crate) fn get(&mut self, t: &Tuple, now: Instant) -> Option<LabelId> {
        let e = self.map.get_mut(&t.key)?;
        if now - e.seen >= e.keep {
            // Expired but not yet swept: a new flow on a reused tuple.
            self.map.remove(&t.key);
            return None;
        }
        e.seen = now;
        e.keep = Self::keep(t, Some(e.keep));
        Some(e.label)
    }

    /// Starts (or restarts) the flow of packet `t` with `label`.
    pub(crate) fn set(&mut self, t: &Tuple, label: LabelId, now: Instant) {
        let keep = Self::keep(t, None);
        self.map.insert(
            t.key,
            FlowEntry {
                label,
                seen: now,
                keep,
            },
        );
        if now >= self.next_sweep {
            self.next_sweep = now + Self::SWEEP;
            self.map.retain(|_, e| now - e.seen < e.keep);
        }
    }

    /// The label of packet `t` sent by a node whose own label for it is
    /// `own`: a packet that opens a connection starts a flow with `own`; any
    /// other packet belongs to its flow (or starts one with `own`).
    pub(crate) fn label_sent(&mut self, t: &Tuple, own: LabelId, now: Instant) -> LabelId {
        if !t.opens
            && let Some(l) = self.get(t, now)
        {
            return l;
        }
        self.set(t, own, now);
        own
    }

    pub(crate) fn set_if_absent(&mut self, t: &Tuple, label: LabelId, now: Instant) {
        if self.get(t, now).is_none() {
            self.set(t, label, now);
        }
    }
}
