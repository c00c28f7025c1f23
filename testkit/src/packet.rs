//! IPv4 packets carrying TCP, UDP or ICMP, with valid checksums.
//!
//! An [`Ipv4`] header describes the outer packet; a transport value
//! ([`Tcp`], [`Udp`], [`Icmp`]) builds its message and wraps it with
//! `packet(&ip)`. Any other payload goes in with [`Ipv4::packet`] as is.

use core::net::Ipv4Addr;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket, TcpSeqNumber, UdpPacket};

/// IP protocol numbers.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// Length of the IPv4 header written here (no IP options).
pub const IPV4_HEADER_LEN: usize = 20;

/// The fields of a 20-byte IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Type-of-service byte (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (stored in 8-byte units, so the low 3 bits
    /// are dropped).
    pub frag_offset: u16,
}

impl Ipv4 {
    /// A header from `src` to `dst`: TTL 64, TOS 0, ident 0, not fragmented.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Ipv4 {
            src,
            dst,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// The header bytes for a packet of `total_len` bytes carrying
    /// `protocol`, header checksum filled. `total_len` is written as given,
    /// so a caller can describe a packet longer than the bytes it keeps (the
    /// quoted header inside an ICMP error).
    pub fn header(&self, protocol: u8, total_len: u16) -> [u8; IPV4_HEADER_LEN] {
        let mut b = [0u8; IPV4_HEADER_LEN];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(IPV4_HEADER_LEN as u8);
        p.set_dscp(self.tos >> 2);
        p.set_ecn(self.tos & 3);
        p.set_total_len(total_len);
        p.set_ident(self.ident);
        p.set_dont_frag(self.dont_frag);
        p.set_more_frags(self.more_frags);
        p.set_frag_offset(self.frag_offset);
        p.set_hop_limit(self.ttl);
        p.set_next_header(IpProtocol::from(protocol));
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
        b
    }

    /// The header followed by `payload` as is (no transport checksum is
    /// touched). The total length is capped at 65535.
    pub fn packet(&self, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = (IPV4_HEADER_LEN + payload.len()).min(usize::from(u16::MAX));
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&self.header(protocol, total as u16));
        b.extend_from_slice(&payload[..total - IPV4_HEADER_LEN]);
        b
    }

    fn addrs(&self) -> (IpAddress, IpAddress) {
        (IpAddress::Ipv4(self.src), IpAddress::Ipv4(self.dst))
    }
}

/// A TCP segment. `flags` is the raw flag byte (FIN 0x01, SYN 0x02, RST
/// 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80): any mix is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcp<'a> {
    /// Source port (0 is allowed).
    pub src_port: u16,
    /// Destination port (0 is allowed).
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Raw flag byte.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Raw TCP options, zero-padded to a multiple of 4 (at most 40 bytes).
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

impl Tcp<'_> {
    /// The header length: 20 bytes plus the padded options.
    pub fn header_len(&self) -> usize {
        20 + self.options.len().min(40).div_ceil(4) * 4
    }

    /// The segment (header, options, payload) with its checksum left 0.
    pub fn segment(&self) -> Vec<u8> {
        let mut seg = vec![0u8; self.header_len() + self.payload.len()];
        self.write_segment(&mut seg);
        seg
    }

    /// Writes the header, options and as much payload as fits into `seg`,
    /// which holds zeros and is at least [`Tcp::header_len`] bytes long; the
    /// checksum is left 0.
    fn write_segment(&self, seg: &mut [u8]) {
        let hl = self.header_len();
        let opts = &self.options[..self.options.len().min(40)];
        seg[20..20 + opts.len()].copy_from_slice(opts);
        let payload = seg.len().saturating_sub(hl);
        seg[hl..].copy_from_slice(&self.payload[..payload]);
        let mut t = TcpPacket::new_unchecked(&mut seg[..]);
        t.set_src_port(self.src_port);
        t.set_dst_port(self.dst_port);
        t.set_seq_number(TcpSeqNumber(self.seq as i32));
        t.set_ack_number(TcpSeqNumber(self.ack as i32));
        t.set_header_len(hl as u8);
        t.set_window_len(self.window);
        t.set_urgent_at(self.urgent);
        // Written raw, after the header length (which shares byte 12 with the
        // reserved bits), so that any flag mix survives.
        seg[13] = self.flags;
    }

    /// The complete IPv4 packet, IP and TCP checksums filled.
    pub fn packet(&self, ip: &Ipv4) -> Vec<u8> {
        let mut b = ip.packet(proto::TCP, &self.segment());
        let (src, dst) = ip.addrs();
        TcpPacket::new_unchecked(&mut b[IPV4_HEADER_LEN..]).fill_checksum(&src, &dst);
        b
    }

    /// Length of [`Tcp::packet`]'s packet (capped at 65535 as it is).
    pub fn packet_len(&self) -> usize {
        (IPV4_HEADER_LEN + self.header_len() + self.payload.len()).min(usize::from(u16::MAX))
    }

    /// Writes [`Tcp::packet`]'s bytes into `buf`, whatever it held, without
    /// allocating: for a sender that builds packets straight into a socket's
    /// buffer (a scanner sends one per probe).
    ///
    /// # Panics
    /// If `buf` is not [`Tcp::packet_len`] bytes long.
    pub fn write_packet(&self, ip: &Ipv4, buf: &mut [u8]) {
        let total = self.packet_len();
        assert_eq!(buf.len(), total, "a buffer of the packet's length");
        buf.fill(0);
        buf[..IPV4_HEADER_LEN].copy_from_slice(&ip.header(proto::TCP, total as u16));
        let seg = &mut buf[IPV4_HEADER_LEN..];
        self.write_segment(seg);
        let (src, dst) = ip.addrs();
        TcpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
    }
}

/// A UDP datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Udp<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl Udp<'_> {
    /// The 8-byte header (length covering the payload, checksum 0).
    pub fn header(&self) -> [u8; 8] {
        let mut h = [0u8; 8];
        let len = (8 + self.payload.len()).min(usize::from(u16::MAX)) as u16;
        let mut u = UdpPacket::new_unchecked(&mut h[..]);
        u.set_src_port(self.src_port);
        u.set_dst_port(self.dst_port);
        u.set_len(len);
        h
    }

    /// The complete IPv4 packet, IP and UDP checksums filled.
    pub fn packet(&self, ip: &Ipv4) -> Vec<u8> {
        let mut d = self.header().to_vec();
        d.extend_from_slice(self.payload);
        let mut b = ip.packet(proto::UDP, &d);
        let (src, dst) = ip.addrs();
        if let Ok(mut u) = UdpPacket::new_checked(&mut b[IPV4_HEADER_LEN..]) {
            u.fill_checksum(&src, &dst);
        }
        b
    }
}

/// An ICMP message: type, code, the 4 bytes after the checksum (identifier
/// and sequence for echo; unused, zero, for errors), then `body` (for an
/// error: the quoted packet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Icmp<'a> {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Bytes 4..8 of the message.
    pub rest: [u8; 4],
    /// Everything after the 8-byte header.
    pub body: &'a [u8],
}

impl Icmp<'_> {
    /// An echo request (ping) with `ident` and `seq`.
    pub fn echo_request(ident: u16, seq: u16) -> Icmp<'static> {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        Icmp {
            icmp_type: 8,
            code: 0,
            rest: [a, b, c, d],
            body: &[],
        }
    }

    /// The message with its checksum filled.
    pub fn message(&self) -> Vec<u8> {
        let mut m = vec![self.icmp_type, self.code, 0, 0];
        m.extend_from_slice(&self.rest);
        m.extend_from_slice(self.body);
        let sum = !smoltcp::wire::checksum::data(&m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// The complete IPv4 packet, IP and ICMP checksums filled.
    pub fn packet(&self, ip: &Ipv4) -> Vec<u8> {
        ip.packet(proto::ICMP, &self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Icmpv4Packet, IpAddress};

    const A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    use crate::checksum::tcp_verifies as tcp_ok;

    /// Writing into a reused buffer gives `packet`'s bytes: an MSS SYN, and
    /// an XMAS segment with odd-length options and a payload.
    #[test]
    fn write_packet_matches_packet() {
        let ip = Ipv4 {
            ttl: 41,
            ident: 0xbeef,
            ..Ipv4::new(A, B)
        };
        for t in [
            Tcp {
                src_port: 40000,
                dst_port: 80,
                seq: 7,
                flags: 0x02,
                window: 1024,
                options: &[2, 4, 0x05, 0xb4],
                ..Tcp::default()
            },
            Tcp {
                dst_port: 0,
                flags: 0x29,
                options: &[1, 1, 1],
                payload: b"xyz",
                ..Tcp::default()
            },
        ] {
            let want = t.packet(&ip);
            let mut buf = vec![0xa5; t.packet_len()];
            t.write_packet(&ip, &mut buf);
            assert_eq!(buf, want);
            assert!(tcp_ok(&buf));
        }
    }

    /// A SYN with an MSS option, byte for byte (checksums as tcpdump shows them).
    #[test]
    fn syn_bytes() {
        let p = Tcp {
            src_port: 45000,
            dst_port: 80,
            seq: 0xdead_beef,
            flags: 0x02,
            window: 1024,
            options: &[2, 4, 0x05, 0xb4],
            ..Tcp::default()
        }
        .packet(&Ipv4 {
            ttl: 44,
            ident: 7,
            ..Ipv4::new(A, B)
        });
        assert_eq!(p.len(), 44);
        assert_eq!(&p[..4], &[0x45, 0, 0, 44]);
        assert_eq!((p[8], p[9]), (44, 6));
        assert_eq!(&p[20..24], &[0xaf, 0xc8, 0, 80]);
        assert_eq!(&p[24..28], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!((p[32], p[33]), (0x60, 0x02), "data offset 6, SYN");
        assert_eq!(&p[40..44], &[2, 4, 0x05, 0xb4]);
        assert!(tcp_ok(&p));
    }

    #[test]
    fn odd_flags_ports_and_padding_survive() {
        for flags in [0x00, 0x03, 0x29, 0xff] {
            let p = Tcp {
                flags,
                options: &[1, 1, 1],
                payload: b"x",
                ..Tcp::default()
            }
            .packet(&Ipv4::new(A, B));
            let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
            let t = TcpPacket::new_checked(ip.payload()).unwrap();
            assert_eq!(p[33], flags);
            assert_eq!((t.src_port(), t.dst_port()), (0, 0));
            assert_eq!(t.header_len(), 24);
            assert_eq!(t.payload(), b"x");
            assert!(tcp_ok(&p));
        }
    }

    #[test]
    fn ip_fields_and_fragments() {
        let ip = Ipv4 {
            tos: 0x11,
            dont_frag: true,
            more_frags: true,
            frag_offset: 64,
            ..Ipv4::new(A, B)
        };
        let p = ip.packet(6, &[0; 8]);
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(v.verify_checksum() && v.dont_frag() && v.more_frags());
        assert_eq!((v.frag_offset(), v.dscp(), v.ecn()), (64, 4, 1));
        // A header describing a longer packet than the bytes kept.
        let h = ip.header(17, 1500);
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 1500);
    }

    #[test]
    fn udp_and_icmp_verify() {
        let u = Udp {
            src_port: 53,
            dst_port: 9,
            payload: b"hi",
        }
        .packet(&Ipv4::new(A, B));
        let ip = Ipv4Packet::new_checked(&u[..]).unwrap();
        let d = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(d.len(), 10);
        assert!(d.verify_checksum(&IpAddress::Ipv4(A), &IpAddress::Ipv4(B)));

        let e = Icmp::echo_request(1, 1).packet(&Ipv4::new(A, B));
        let ip = Ipv4Packet::new_checked(&e[..]).unwrap();
        let m = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(m.verify_checksum());
        assert_eq!(&ip.payload()[4..8], &[0, 1, 0, 1]);
    }
}
