//! Test-only helpers: build valid IPv4 packets (correct IP and transport
//! checksums, via `smoltcp::wire`) and drive a detector over them.
//!
//! Small API, shared by every detector's inline tests:
//!
//! - [`ip`]`("10.0.0.1")` parses an address (panics on typos: tests only).
//! - [`tcp`]`(src, sport, dst, dport, flags)`: a 40-byte TCP segment with any
//!   raw flag byte (SYN|FIN, NULL, XMAS are all kept), port 0 allowed.
//! - [`TcpSeg`]: the same with seq/ack/payload/TTL/TOS/ident control.
//! - [`udp`]`(src, sport, dst, dport, payload)`.
//! - [`icmp_echo`]`(src, dst)`, [`icmp`]`(src, dst, type, code, body)`,
//!   [`icmp_unreach`]`(src, dst, code, quoted)` (quoted = the offending packet's bytes).
//! - [`Run`]: a detector built from a registry spec, fed packets with
//!   timestamps in microseconds and auto-numbered frames; alerts accumulate.
//! - flag constants [`S`], [`SA`], [`A`], [`R`], [`RA`], [`F`], [`FA`], [`PA`].

#![allow(dead_code)] // a shared toolbox: not every test uses every helper

use core::net::Ipv4Addr;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

use crate::{Alert, Detector, Instant, PacketView, registry};

/// SYN.
pub const S: u8 = 0x02;
/// SYN|ACK.
pub const SA: u8 = 0x12;
/// ACK.
pub const A: u8 = 0x10;
/// RST.
pub const R: u8 = 0x04;
/// RST|ACK.
pub const RA: u8 = 0x14;
/// FIN.
pub const F: u8 = 0x01;
/// FIN|ACK.
pub const FA: u8 = 0x11;
/// PSH|ACK.
pub const PA: u8 = 0x18;

/// Parses a dotted-quad address. Panics on a typo (test code only).
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// IP header fields a test may want to set.
#[derive(Clone, Copy, Debug)]
pub struct IpOpts {
    /// Time to live (default 64).
    pub ttl: u8,
    /// TOS byte (default 0).
    pub tos: u8,
    /// Identification (default 1).
    pub ident: u16,
}

impl Default for IpOpts {
    fn default() -> Self {
        IpOpts {
            ttl: 64,
            tos: 0,
            ident: 1,
        }
    }
}

/// Wraps `payload` in a 20-byte IPv4 header with a valid checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, o: IpOpts, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + payload.len()];
    buf[20..].copy_from_slice(payload);
    let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
    p.set_version(4);
    p.set_header_len(20);
    p.set_dscp(o.tos >> 2);
    p.set_ecn(o.tos & 3);
    p.set_total_len(u16::try_from(20 + payload.len()).expect("test packet too long"));
    p.set_ident(o.ident);
    p.set_dont_frag(false);
    p.set_more_frags(false);
    p.set_frag_offset(0);
    p.set_hop_limit(o.ttl);
    p.set_next_header(IpProtocol::from(protocol));
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    p.fill_checksum();
    buf
}

/// A TCP segment with every field under control. Build with [`TcpSeg::new`], adjust, call [`TcpSeg::bytes`].
#[derive(Clone, Debug)]
pub struct TcpSeg {
    /// Source address.
    pub src: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Destination port.
    pub dport: u16,
    /// Raw flag byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// IP header fields.
    pub ip: IpOpts,
}

impl TcpSeg {
    /// Defaults: seq 1000, ack 0, no payload, TTL 64, TOS 0.
    pub fn new(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Self {
        TcpSeg {
            src,
            sport,
            dst,
            dport,
            flags,
            seq: 1000,
            ack: 0,
            payload: Vec::new(),
            ip: IpOpts::default(),
        }
    }

    /// Sets the payload.
    pub fn payload(mut self, p: &[u8]) -> Self {
        self.payload = p.to_vec();
        self
    }

    /// Sets TTL and TOS.
    pub fn ttl_tos(mut self, ttl: u8, tos: u8) -> Self {
        self.ip.ttl = ttl;
        self.ip.tos = tos;
        self
    }

    /// Raw IPv4 bytes with valid checksums.
    pub fn bytes(&self) -> Vec<u8> {
        let mut seg = vec![0u8; 20 + self.payload.len()];
        seg[20..].copy_from_slice(&self.payload);
        {
            let mut t = TcpPacket::new_unchecked(&mut seg[..]);
            t.set_src_port(self.sport);
            t.set_dst_port(self.dport);
            t.set_seq_number(smoltcp::wire::TcpSeqNumber(self.seq as i32));
            t.set_ack_number(smoltcp::wire::TcpSeqNumber(self.ack as i32));
            t.set_header_len(20);
            t.set_window_len(64240);
        }
        seg[13] = self.flags;
        TcpPacket::new_unchecked(&mut seg[..])
            .fill_checksum(&IpAddress::Ipv4(self.src), &IpAddress::Ipv4(self.dst));
        ipv4(self.src, self.dst, 6, self.ip, &seg)
    }
}

/// A bare 40-byte TCP segment with the raw `flags` byte.
pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    TcpSeg::new(src, sport, dst, dport, flags).bytes()
}

/// A UDP datagram with a valid checksum.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 8 + payload.len()];
    d[8..].copy_from_slice(payload);
    {
        let mut u = UdpPacket::new_unchecked(&mut d[..]);
        u.set_src_port(sport);
        u.set_dst_port(dport);
        u.set_len(u16::try_from(8 + payload.len()).expect("test datagram too long"));
        u.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    }
    ipv4(src, dst, 17, IpOpts::default(), &d)
}

/// An ICMP message: type, code, 4 bytes of zero "rest of header", then `body`; valid checksum.
pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + body.len()];
    m[0] = icmp_type;
    m[1] = code;
    m[8..].copy_from_slice(body);
    let sum = !smoltcp::wire::checksum::data(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, 1, IpOpts::default(), &m)
}

/// An ICMP echo request (ping), identifier 1, sequence 1.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut m = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    let sum = !smoltcp::wire::checksum::data(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, 1, IpOpts::default(), &m)
}

/// An ICMP destination-unreachable quoting the first 28 bytes of `quoted`.
pub fn icmp_unreach(src: Ipv4Addr, dst: Ipv4Addr, code: u8, quoted: &[u8]) -> Vec<u8> {
    icmp(src, dst, 3, code, &quoted[..quoted.len().min(28)])
}

/// A detector fed packets in order, collecting its alerts.
pub struct Run {
    /// The detector under test.
    pub det: Box<dyn Detector>,
    /// All alerts so far.
    pub alerts: Vec<Alert>,
    /// Next frame number.
    pub frame: u64,
}

impl Run {
    /// Builds from a registry spec such as `scanlogd` or `screenos:threshold=2000`.
    pub fn new(spec: &str) -> Self {
        Run::with(registry::build(spec).expect("test spec").detector)
    }

    /// Wraps an already-built detector.
    pub fn with(det: Box<dyn Detector>) -> Self {
        Run {
            det,
            alerts: Vec::new(),
            frame: 0,
        }
    }

    /// Feeds one packet at `t_us` microseconds; returns the number of new alerts.
    pub fn push(&mut self, t_us: i64, bytes: &[u8]) -> usize {
        let before = self.alerts.len();
        let v = PacketView::parse(self.frame, bytes).expect("test packet parses");
        self.frame += 1;
        self.det
            .observe(Instant::from_micros(t_us), &v, &mut self.alerts);
        self.alerts.len() - before
    }

    /// Runs timers up to `t_us`; returns the number of new alerts.
    pub fn flush(&mut self, t_us: i64) -> usize {
        let before = self.alerts.len();
        self.det.flush(Instant::from_micros(t_us), &mut self.alerts);
        self.alerts.len() - before
    }
}

/// Builds `info`'s detector from a full spec (`name:param=value,...`), as the
/// registry would, without going through the registry.
pub fn configure(
    info: &crate::DetectorInfo,
    spec: &str,
) -> Result<crate::Instance, crate::ConfigError> {
    let (name, pairs) = crate::params::split_spec(spec)?;
    assert_eq!(name, info.name, "spec for another detector");
    info.configure(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_packets_parse_with_valid_checksums() {
        let b = tcp(ip("10.0.0.2"), 0, ip("10.0.0.1"), 0, 0x03);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        let t = TcpPacket::new_checked(p.payload()).unwrap();
        assert!(t.verify_checksum(
            &IpAddress::Ipv4(p.src_addr()),
            &IpAddress::Ipv4(p.dst_addr())
        ));
        let v = PacketView::parse(0, &b).unwrap();
        assert_eq!(v.tcp().unwrap().flags.0, 0x03);
        let u = udp(ip("1.2.3.4"), 53, ip("5.6.7.8"), 9, b"hi");
        assert_eq!(PacketView::parse(0, &u).unwrap().ports(), Some((53, 9)));
        let e = icmp_echo(ip("1.2.3.4"), ip("5.6.7.8"));
        assert!(
            PacketView::parse(0, &e)
                .unwrap()
                .icmp()
                .unwrap()
                .is_echo_request()
        );
        let q = icmp_unreach(ip("5.6.7.8"), ip("1.2.3.4"), 3, &u);
        let qv = PacketView::parse(0, &q).unwrap();
        assert_eq!(qv.icmp().unwrap().quoted.unwrap().dst_port, Some(9));
        let s = TcpSeg::new(ip("1.1.1.1"), 1, ip("2.2.2.2"), 2, S)
            .ttl_tos(33, 0x10)
            .bytes();
        let sv = PacketView::parse(0, &s).unwrap();
        assert_eq!((sv.ttl, sv.tos), (33, 0x10));
    }
}
