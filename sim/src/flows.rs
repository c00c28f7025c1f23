//! Flow labels: which actor a 5-tuple belongs to, so replies inherit the label
//! of the packet that caused them (a victim's RST to a probe is the scanner's
//! doing; a server's response is the client's).

use std::collections::HashMap;
use std::net::Ipv4Addr;

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
}

/// Reads the tuple of an IPv4 packet (ports 0 for non-TCP/UDP).
pub(crate) fn tuple(pkt: &[u8]) -> Option<Tuple> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    let proto = ip.next_header();
    let p = ip.payload();
    let (sport, dport, opens) = match proto {
        IpProtocol::Tcp | IpProtocol::Udp if ip.frag_offset() == 0 && p.len() >= 4 => {
            let opens = proto == IpProtocol::Tcp && p.len() >= 14 && p[13] & 0x12 == 0x02;
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
                opens,
            )
        }
        _ => (0, 0, false),
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
    })
}

/// Label per flow, forgotten after `IDLE` without packets.
pub(crate) struct FlowLabels {
    // Lookup only; never iterated in an order-dependent way (retain only removes).
    map: HashMap<FlowKey, (LabelId, Instant)>,
    next_sweep: Instant,
}

impl Default for FlowLabels {
    fn default() -> Self {
        FlowLabels {
            map: HashMap::new(),
            next_sweep: Instant::ZERO,
        }
    }
}

impl FlowLabels {
    const IDLE: Duration = Duration::from_secs(600);
    const SWEEP: Duration = Duration::from_secs(60);

    pub(crate) fn get(&mut self, key: &FlowKey, now: Instant) -> Option<LabelId> {
        let e = self.map.get_mut(key)?;
        e.1 = now;
        Some(e.0)
    }

    pub(crate) fn set(&mut self, key: FlowKey, label: LabelId, now: Instant) {
        self.map.insert(key, (label, now));
        if now >= self.next_sweep {
            self.next_sweep = now + Self::SWEEP;
            self.map.retain(|_, (_, seen)| now - *seen < Self::IDLE);
        }
    }

    pub(crate) fn set_if_absent(&mut self, key: FlowKey, label: LabelId, now: Instant) {
        if self.get(&key, now).is_none() {
            self.set(key, label, now);
        }
    }
}
