//! One-line builders for tests: `tcp(src, sport, dst, dport, S)` and friends,
//! on top of [`crate::packet`].
//!
//! - [`ip`]`("10.0.0.1")` parses an address (panics on typos: tests only).
//! - [`tcp`]`(src, sport, dst, dport, flags)`: a 40-byte TCP segment with any
//!   raw flag byte (SYN|FIN, NULL, XMAS are all kept), port 0 allowed.
//! - [`TcpSeg`]: the same with seq/ack/payload/TTL/TOS control.
//! - [`udp`]`(src, sport, dst, dport, payload)`.
//! - [`icmp_echo`]`(src, dst)`, [`icmp`]`(src, dst, type, code, body)`,
//!   [`icmp_unreach`]`(src, dst, code, quoted)` (quoted = the offending packet's bytes).
//! - flag constants [`S`], [`SA`], [`A`], [`R`], [`RA`], [`F`], [`FA`], [`PA`].

use core::net::Ipv4Addr;

use crate::packet::{Icmp, Ipv4, Tcp, Udp};

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

/// Parses a dotted-quad address.
///
/// # Panics
/// On a typo (test code only).
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// The IP header tests use unless told otherwise: TTL 64, ident 1.
fn test_ip(src: Ipv4Addr, dst: Ipv4Addr) -> Ipv4 {
    Ipv4 {
        ident: 1,
        ..Ipv4::new(src, dst)
    }
}

/// A TCP segment for tests. Build with [`TcpSeg::new`], adjust, call [`TcpSeg::bytes`].
#[derive(Clone, Debug)]
pub struct TcpSeg {
    /// The IP header (TTL 64, TOS 0, ident 1 by default).
    pub ip: Ipv4,
    /// Source port.
    pub sport: u16,
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
}

impl TcpSeg {
    /// Defaults: seq 1000, ack 0, window 64240, no payload, TTL 64, TOS 0.
    pub fn new(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Self {
        TcpSeg {
            ip: test_ip(src, dst),
            sport,
            dport,
            flags,
            seq: 1000,
            ack: 0,
            payload: Vec::new(),
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
        Tcp {
            src_port: self.sport,
            dst_port: self.dport,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: 64240,
            payload: &self.payload,
            ..Tcp::default()
        }
        .packet(&self.ip)
    }
}

/// A bare 40-byte TCP segment with the raw `flags` byte.
pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    TcpSeg::new(src, sport, dst, dport, flags).bytes()
}

/// A UDP datagram with a valid checksum.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    Udp {
        src_port: sport,
        dst_port: dport,
        payload,
    }
    .packet(&test_ip(src, dst))
}

/// An ICMP message: type, code, 4 bytes of zero "rest of header", then `body`; valid checksum.
pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8, body: &[u8]) -> Vec<u8> {
    Icmp {
        icmp_type,
        code,
        rest: [0; 4],
        body,
    }
    .packet(&test_ip(src, dst))
}

/// An ICMP echo request (ping), identifier 1, sequence 1.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    Icmp::echo_request(1, 1).packet(&test_ip(src, dst))
}

/// An ICMP destination-unreachable quoting the first 28 bytes of `quoted`.
pub fn icmp_unreach(src: Ipv4Addr, dst: Ipv4Addr, code: u8, quoted: &[u8]) -> Vec<u8> {
    icmp(src, dst, 3, code, &quoted[..quoted.len().min(28)])
}
