//! Helpers shared by the middleboxes: reading a packet's 5-tuple and flags,
//! rewriting addresses and ports (checksums refilled), CIDR blocks, a TCP
//! connection-state tracker in the style of Linux conntrack, timeout profiles,
//! and a table whose entries expire, indexed by deadline so the next expiry is
//! found without scanning.

use std::collections::BTreeSet;
use std::hash::Hash;
use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv4Packet;

use scanbench_testkit::checksum::refill as refill_checksums;

pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;

/// A directed 5-tuple (ports 0 for protocols without ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Tuple {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

impl Tuple {
    pub(crate) fn reversed(&self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

/// What middleboxes read of a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parsed {
    pub t: Tuple,
    /// TCP flag byte (0 for other protocols).
    pub flags: u8,
    /// TCP acknowledgment number (0 for other protocols).
    pub ack: u32,
}

impl Parsed {
    pub(crate) fn is_tcp(&self) -> bool {
        self.t.proto == TCP
    }
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// SYN without ACK or RST: a connection attempt.
    pub(crate) fn is_pure_syn(&self) -> bool {
        self.is_tcp() && self.flags & (SYN | ACK | RST) == SYN
    }
}

/// Reads an IPv4 packet's tuple; `None` for anything that is not IPv4, and for
/// fragments (middleboxes pass those through).
pub(crate) fn parse(bytes: &[u8]) -> Option<Parsed> {
    let ip = Ipv4Packet::new_checked(bytes).ok()?;
    if ip.frag_offset() != 0 {
        return None;
    }
    let proto = u8::from(ip.next_header());
    let p = ip.payload();
    let (sport, dport) = if (proto == TCP || proto == UDP) && p.len() >= 4 {
        (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        )
    } else {
        (0, 0)
    };
    let (flags, ack) = if proto == TCP && p.len() >= 20 {
        (p[13], u32::from_be_bytes([p[8], p[9], p[10], p[11]]))
    } else {
        (0, 0)
    };
    Some(Parsed {
        t: Tuple {
            proto,
            src: ip.src_addr(),
            sport,
            dst: ip.dst_addr(),
            dport,
        },
        flags,
        ack,
    })
}

fn rewrite(bytes: &mut [u8], src: bool, addr: Ipv4Addr, port: Option<u16>) {
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut bytes[..]) else {
        return;
    };
    if src {
        ip.set_src_addr(addr);
    } else {
        ip.set_dst_addr(addr);
    }
    let proto = u8::from(ip.next_header());
    let hl = usize::from(ip.header_len());
    if let Some(port) = port
        && (proto == TCP || proto == UDP)
        && bytes.len() >= hl + 4
    {
        let at = if src { hl } else { hl + 2 };
        bytes[at..at + 2].copy_from_slice(&port.to_be_bytes());
    }
    refill_checksums(bytes);
}

/// Rewrites the source address (and port, for TCP/UDP), refilling checksums.
pub(crate) fn set_src(bytes: &mut [u8], addr: Ipv4Addr, port: Option<u16>) {
    rewrite(bytes, true, addr, port);
}

/// Rewrites the destination address (and port, for TCP/UDP), refilling checksums.
pub(crate) fn set_dst(bytes: &mut [u8], addr: Ipv4Addr, port: Option<u16>) {
    rewrite(bytes, false, addr, port);
}

/// An IPv4 block, `198.51.100.0/24` or a bare address (`/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: u32,
    mask: u32,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("`{s}` is not an address or CIDR block (e.g. 198.51.100.0/24)");
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), "32"));
        let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let p: u32 = p.trim().parse().map_err(|_| bad())?;
        if p > 32 {
            return Err(bad());
        }
        let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
        Ok(Cidr {
            net: u32::from(a) & mask,
            mask,
        })
    }

    pub(crate) fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask == self.net
    }
}

/// Parses `addr` or `addr:port` (port `*` or absent = any).
pub(crate) fn parse_endpoint(s: &str) -> Result<(Ipv4Addr, Option<u16>), String> {
    let bad = || format!("`{s}` is not `addr` or `addr:port`");
    let (a, p) = match s.trim().split_once(':') {
        Some((a, p)) => (a, Some(p.trim())),
        None => (s.trim(), None),
    };
    let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let p = match p {
        None | Some("*") => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
    };
    Ok((a, p))
}

/// Parses `lo-hi` (or a single port).
pub(crate) fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{s}` is not a port or a range `lo-hi`");
    let (a, b) = s.trim().split_once('-').unwrap_or((s.trim(), s.trim()));
    let lo: u16 = a.trim().parse().map_err(|_| bad())?;
    let hi: u16 = b.trim().parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(format!("range `{s}` is reversed"));
    }
    Ok((lo, hi))
}

/// Parses an optional duration field, naming it in the message.
pub(crate) fn opt_duration(v: &Option<String>, field: &str) -> Result<Option<Duration>, String> {
    match v {
        None => Ok(None),
        Some(s) => crate::units::duration(s)
            .map(Some)
            .map_err(|m| format!("`{field}`: {m}")),
    }
}

/// TCP connection state, as Linux conntrack names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpState {
    SynSent,
    SynRecv,
    Established,
    /// One side sent FIN (`orig`: the originator did).
    FinWait {
        orig: bool,
    },
    /// The first FIN was acknowledged; the other side has not closed yet.
    CloseWait {
        orig: bool,
    },
    /// Both sides sent FIN; `orig`: the originator sent the last one.
    LastAck {
        orig: bool,
    },
    TimeWait,
    /// RST seen.
    Close,
}

impl TcpState {
    /// The state after a segment with `flags`, sent by the originator if `orig`.
    pub(crate) fn advance(self, orig: bool, flags: u8) -> TcpState {
        use TcpState::*;
        if flags & RST != 0 {
            return Close;
        }
        let fin = flags & FIN != 0;
        let ack = flags & ACK != 0;
        let syn = flags & SYN != 0;
        match self {
            SynSent if !orig && syn && ack => SynRecv,
            SynRecv if orig && ack && !syn => {
                if fin {
                    FinWait { orig: true }
                } else {
                    Established
                }
            }
            Established if fin => FinWait { orig },
            FinWait { orig: o } if orig != o && fin => LastAck { orig },
            FinWait { orig: o } if orig != o && ack => CloseWait { orig: o },
            CloseWait { orig: o } if orig != o && fin => LastAck { orig },
            LastAck { orig: o } if orig != o && ack && !fin => TimeWait,
            s => s,
        }
    }
}

/// Idle timeouts per connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub syn_sent: Duration,
    pub syn_recv: Duration,
    pub established: Duration,
    pub fin_wait: Duration,
    pub close_wait: Duration,
    pub last_ack: Duration,
    pub time_wait: Duration,
    pub close: Duration,
    pub udp: Duration,
    pub other: Duration,
}

impl Timeouts {
    /// Linux `nf_conntrack` defaults (`nf_conntrack_tcp_timeout_*`,
    /// `nf_conntrack_udp_timeout_stream`, `nf_conntrack_icmp_timeout`).
    pub(crate) fn linux() -> Timeouts {
        let s = Duration::from_secs;
        Timeouts {
            syn_sent: s(120),
            syn_recv: s(60),
            established: s(432_000),
            fin_wait: s(120),
            close_wait: s(60),
            last_ack: s(30),
            time_wait: s(120),
            close: s(10),
            udp: s(120),
            other: s(30),
        }
    }

    /// ScreenOS: TCP sessions age out after 30 minutes idle; a session that saw
    /// FIN or RST is removed about 10 s later; UDP 1 minute.
    pub(crate) fn screenos() -> Timeouts {
        let s = Duration::from_secs;
        Timeouts {
            syn_sent: s(1800),
            syn_recv: s(1800),
            established: s(1800),
            fin_wait: s(10),
            close_wait: s(10),
            last_ack: s(10),
            time_wait: s(10),
            close: s(10),
            udp: s(60),
            other: s(60),
        }
    }

    /// RFC 5382 / RFC 4787 NAT behaviour as many home and enterprise NATs ship
    /// it: established TCP 24 h (the RFC's floor is 2 h 4 min), transitory
    /// (handshake or closing) 4 min, UDP 5 min.
    pub(crate) fn rfc_nat() -> Timeouts {
        let s = Duration::from_secs;
        let transitory = s(240);
        Timeouts {
            syn_sent: transitory,
            syn_recv: transitory,
            established: s(86_400),
            fin_wait: transitory,
            close_wait: transitory,
            last_ack: transitory,
            time_wait: transitory,
            close: transitory,
            udp: s(300),
            other: s(60),
        }
    }

    /// Every state except established (handshake and closing).
    pub(crate) fn set_transitory(&mut self, d: Duration) {
        self.syn_sent = d;
        self.syn_recv = d;
        self.fin_wait = d;
        self.close_wait = d;
        self.last_ack = d;
        self.time_wait = d;
        self.close = d;
    }

    pub(crate) fn tcp(&self, s: TcpState) -> Duration {
        match s {
            TcpState::SynSent => self.syn_sent,
            TcpState::SynRecv => self.syn_recv,
            TcpState::Established => self.established,
            TcpState::FinWait { .. } => self.fin_wait,
            TcpState::CloseWait { .. } => self.close_wait,
            TcpState::LastAck { .. } => self.last_ack,
            TcpState::TimeWait => self.time_wait,
            TcpState::Close => self.close,
        }
    }

    pub(crate) fn by_name(name: &str, field: &str) -> Result<Timeouts, String> {
        match name {
            "linux" => Ok(Timeouts::linux()),
            "screenos" => Ok(Timeouts::screenos()),
            "rfc" => Ok(Timeouts::rfc_nat()),
            other => Err(format!(
                "`{field}`: unknown profile `{other}` (linux, screenos, rfc)"
            )),
        }
    }
}

/// A map whose entries carry a deadline, with an index by deadline.
/// Iteration (key order, deadline order) is deterministic. Lookups, several
/// per packet through a firewall, hash; the rare walks over every entry
/// (faults that drop sessions) sort by key.
pub(crate) struct Timed<K: Ord + Copy + Hash, V> {
    map: FxHashMap<K, (V, Instant)>,
    index: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Copy + Hash, V> Default for Timed<K, V> {
    fn default() -> Self {
        Timed {
            map: FxHashMap::default(),
            index: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy + Hash, V> Timed<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|(v, _)| v)
    }

    pub(crate) fn insert(&mut self, k: K, v: V, deadline: Instant) {
        if let Some((_, old)) = self.map.insert(k, (v, deadline)) {
            self.index.remove(&(old, k));
        }
        self.index.insert((deadline, k));
    }

    pub(crate) fn set_deadline(&mut self, k: &K, deadline: Instant) {
        if let Some((_, d)) = self.map.get_mut(k) {
            self.index.remove(&(*d, *k));
            *d = deadline;
            self.index.insert((deadline, *k));
        }
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let (v, d) = self.map.remove(k)?;
        self.index.remove(&(d, *k));
        Some(v)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.index.first().map(|(d, _)| *d)
    }

    /// Removes and returns one entry whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(K, V)> {
        let &(d, k) = self.index.first()?;
        if d > now {
            return None;
        }
        self.index.remove(&(d, k));
        let (v, _) = self.map.remove(&k)?;
        Some((k, v))
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut all: Vec<(&K, &V)> = self.map.iter().map(|(k, (v, _))| (k, v)).collect();
        all.sort_unstable_by_key(|&(k, _)| *k);
        all.into_iter()
    }

    /// Empties the table; returns the keys it held, in key order.
    pub(crate) fn clear(&mut self) -> Vec<K> {
        let mut keys: Vec<K> = self.map.keys().copied().collect();
        keys.sort_unstable();
        self.map.clear();
        self.index.clear();
        keys
    }
}

/// Test helpers: hand-built packets.
#[cfg(test)]
pub(crate) mod testpkt {
    use super::*;
    use scanbench_testkit::{Ipv4, Tcp};

    pub(crate) fn seg(src: &str, dst: &str, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let (s, sp) = parse_endpoint(src).unwrap();
        let (d, dp) = parse_endpoint(dst).unwrap();
        Tcp {
            src_port: sp.unwrap(),
            dst_port: dp.unwrap(),
            seq,
            ack,
            flags,
            window: 1024,
            ..Tcp::default()
        }
        .packet(&Ipv4 {
            ident: 1,
            ..Ipv4::new(s, d)
        })
    }

    pub(crate) use scanbench_testkit::checksum::tcp_verifies as checksums_ok;
}

#[cfg(test)]
mod tests {
    use super::testpkt::*;
    use super::*;

    #[test]
    fn rewrite_keeps_checksums() {
        let mut p = seg("192.0.2.10:40000", "198.51.100.80:80", SYN, 7, 0);
        set_dst(&mut p, Ipv4Addr::new(198, 51, 100, 11), Some(8080));
        set_src(&mut p, Ipv4Addr::new(203, 0, 113, 1), Some(1024));
        assert!(checksums_ok(&p));
        let t = parse(&p).unwrap().t;
        assert_eq!(t.dst, Ipv4Addr::new(198, 51, 100, 11));
        assert_eq!((t.sport, t.dport), (1024, 8080));
    }

    #[test]
    fn tcp_state_walk() {
        use TcpState::*;
        let s = SynSent.advance(true, SYN);
        assert_eq!(s, SynSent);
        let s = s.advance(false, SYN | ACK);
        assert_eq!(s, SynRecv);
        let s = s.advance(true, ACK);
        assert_eq!(s, Established);
        let s = s.advance(false, FIN | ACK);
        assert_eq!(s, FinWait { orig: false });
        let s = s.advance(true, FIN | ACK);
        assert_eq!(s, LastAck { orig: true });
        assert_eq!(s.advance(false, ACK), TimeWait);
        assert_eq!(Established.advance(true, RST), Close);
    }

    #[test]
    fn timed_expires_in_deadline_order() {
        let mut t: Timed<u32, &str> = Timed::default();
        t.insert(1, "a", Instant::from_secs(5));
        t.insert(2, "b", Instant::from_secs(3));
        t.set_deadline(&1, Instant::from_secs(2));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(2)));
        assert_eq!(t.pop_expired(Instant::from_secs(4)), Some((1, "a")));
        assert_eq!(t.pop_expired(Instant::from_secs(4)), Some((2, "b")));
        assert_eq!(t.pop_expired(Instant::from_secs(4)), None);
    }

    #[test]
    fn cidr_and_endpoints() {
        let c = Cidr::parse("198.51.100.0/24").unwrap();
        assert!(c.contains(Ipv4Addr::new(198, 51, 100, 7)));
        assert!(!c.contains(Ipv4Addr::new(198, 51, 101, 7)));
        assert!(Cidr::parse("1.2.3.4/33").is_err());
        assert_eq!(
            parse_endpoint("192.0.2.1:*").unwrap(),
            (Ipv4Addr::new(192, 0, 2, 1), None)
        );
        assert_eq!(parse_port_range("1024-2047").unwrap(), (1024, 2047));
    }
}
