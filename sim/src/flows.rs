//! Flow labels: which actor a 5-tuple belongs to, so replies inherit the label
//! of the packet that caused them (a victim's RST to a probe is the scanner's
//! doing; a server's response is the client's).

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpProtocol;

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
///
/// The same checks as smoltcp's `Ipv4Packet::new_checked` and `payload`
/// (header and total lengths), read straight from the bytes: this runs twice
/// for every packet a host sends or receives.
pub(crate) fn tuple(pkt: &[u8]) -> Option<Tuple> {
    let head: &[u8; 20] = pkt.first_chunk()?;
    let header_len = usize::from(head[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if header_len < 20 || header_len > total_len || total_len > pkt.len() {
        return None;
    }
    let proto = IpProtocol::from(head[9]);
    let p = &pkt[header_len..total_len];
    let unfragmented = u16::from_be_bytes([head[6], head[7]]) & 0x1fff == 0;
    let (sport, dport, opens, closes) = match proto {
        IpProtocol::Tcp | IpProtocol::Udp if unfragmented && p.len() >= 4 => {
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
    let src = u32::from_be_bytes([head[12], head[13], head[14], head[15]]);
    let dst = u32::from_be_bytes([head[16], head[17], head[18], head[19]]);
    // Ordered as (Ipv4Addr, port) pairs are: by address octets, then port.
    let (a, b) = if (src, sport) <= (dst, dport) {
        ((src, sport), (dst, dport))
    } else {
        ((dst, dport), (src, sport))
    };
    Some(Tuple {
        key: FlowKey {
            proto: head[9],
            a: (Ipv4Addr::from(a.0), a.1),
            b: (Ipv4Addr::from(b.0), b.1),
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use smoltcp::wire::Ipv4Packet;

    use super::*;

    /// The tuple as smoltcp's parser reads it: what `tuple` must agree with.
    fn reference(pkt: &[u8]) -> Option<(FlowKey, u16, bool, bool)> {
        let ip = Ipv4Packet::new_checked(pkt).ok()?;
        let proto = ip.next_header();
        let p = ip.payload();
        let (sport, dport, opens, closes) = match proto {
            IpProtocol::Tcp | IpProtocol::Udp if ip.frag_offset() == 0 && p.len() >= 4 => {
                let flags = (proto == IpProtocol::Tcp && p.len() >= 14).then(|| p[13]);
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                    flags.is_some_and(|f| f & 0x12 == 0x02),
                    flags.is_some_and(|f| f & 0x05 != 0),
                )
            }
            _ => (0, 0, false, false),
        };
        let s = (ip.src_addr(), sport);
        let d = (ip.dst_addr(), dport);
        let (a, b) = if s <= d { (s, d) } else { (d, s) };
        let key = FlowKey {
            proto: u8::from(proto),
            a,
            b,
        };
        Some((key, sport, opens, closes))
    }

    fn read(pkt: &[u8]) -> Option<(FlowKey, u16, bool, bool)> {
        tuple(pkt).map(|t| (t.key, t.src_port, t.opens, t.closes))
    }

    /// An IPv4 header with the given fields, then `payload`.
    fn packet(
        ihl: u8,
        total: u16,
        frag: u16,
        proto: u8,
        addrs: [u8; 8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut p = vec![0x40 | ihl, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0]);
        p.extend_from_slice(&addrs);
        p.extend_from_slice(payload);
        p
    }

    proptest! {
        /// Any bytes at all: the same answer as smoltcp's checked parse.
        #[test]
        fn agrees_with_smoltcp_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(read(&bytes), reference(&bytes));
        }

        /// Headers that are nearly right (lengths, options, fragments,
        /// protocols and address orders varied around valid values).
        #[test]
        fn agrees_with_smoltcp_on_near_valid_headers(
            ihl in 0u8..16,
            extra in 0usize..48,
            slack in -3i32..4,
            frag in prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), any::<u16>()],
            proto in prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()],
            addrs in any::<[u8; 8]>(),
            same_addr in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let mut addrs = addrs;
            if same_addr {
                addrs.copy_within(0..4, 4);
            }
            let options = vec![1u8; extra.min(usize::from(ihl.saturating_sub(5)) * 4)];
            let mut body = options;
            body.extend_from_slice(&payload);
            let len = 20 + body.len();
            let total = u16::try_from((len as i32 + slack).max(0)).unwrap_or(0);
            let pkt = packet(ihl, total, frag, proto, addrs, &body);
            prop_assert_eq!(read(&pkt), reference(&pkt));
        }
    }
}
