//! `PacketView`: a parsed, borrowed view of one raw IPv4 packet.
//!
//! Detectors read packets only through this view, exactly as they would from a
//! real capture. It reads the smoltcp *Packet* layer (checked views), never
//! `TcpRepr`: `TcpRepr::parse` rejects port 0 and flag mixes such as SYN|FIN and
//! folds XMAS into FIN, and those odd probes are what scan detectors must see.
//!
//! Parsing never panics; anything that is not a well-formed IPv4 packet is a
//! [`Malformed`] value that the caller counts and skips.

use core::fmt;
use core::net::Ipv4Addr;

use smoltcp::wire::{Ipv4Packet, TcpPacket};

mod detached;
pub use detached::DetachedView;

/// IP protocol numbers the detectors care about.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// Raw TCP flag bits, as in byte 13 of the TCP header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// True if every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// FIN set.
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// SYN set and ACK, RST, FIN clear: a connection opening.
    pub fn is_pure_syn(self) -> bool {
        self.0 & (Self::SYN | Self::ACK | Self::RST | Self::FIN) == Self::SYN
    }
    /// SYN and ACK set, RST and FIN clear.
    pub fn is_syn_ack(self) -> bool {
        self.0 & (Self::SYN | Self::ACK | Self::RST | Self::FIN) == Self::SYN | Self::ACK
    }
}

impl fmt::Debug for TcpFlags {
    /// tcpdump-like letters: `S`, `S.`, `R.`, `FP.`, `none` for a NULL probe.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (bit, ch) in [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::ACK, '.'),
        ] {
            if self.has(bit) {
                write!(f, "{ch}")?;
            }
        }
        Ok(())
    }
}

/// The TCP part of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp<'a> {
    /// Source port (0 is kept).
    pub src_port: u16,
    /// Destination port (0 is kept).
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful only with ACK).
    pub ack: u32,
    /// Raw flag bits.
    pub flags: TcpFlags,
    /// Advertised window.
    pub window: u16,
    /// Segment payload.
    pub payload: &'a [u8],
}

/// The UDP part of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Datagram payload.
    pub payload: &'a [u8],
}

/// The header an ICMP error quotes: the packet that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Protocol of the quoted packet.
    pub protocol: u8,
    /// Source of the quoted packet (the host the error goes back to).
    pub src: Ipv4Addr,
    /// Destination of the quoted packet (the host that was unreachable).
    pub dst: Ipv4Addr,
    /// Quoted source port, for TCP and UDP.
    pub src_port: Option<u16>,
    /// Quoted destination port, for TCP and UDP.
    pub dst_port: Option<u16>,
}

/// The ICMP part of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    /// ICMP type (0 echo reply, 3 unreachable, 8 echo request, 11 time exceeded, ...).
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// For error messages (types 3, 4, 5, 11, 12): the quoted header, if present and long enough.
    pub quoted: Option<Quoted>,
}

impl Icmp {
    /// Echo request (ping).
    pub fn is_echo_request(&self) -> bool {
        self.icmp_type == 8
    }
    /// Destination unreachable.
    pub fn is_unreachable(&self) -> bool {
        self.icmp_type == 3
    }
}

/// What the IPv4 payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// TCP segment (header fully present).
    Tcp(Tcp<'a>),
    /// UDP datagram.
    Udp(Udp<'a>),
    /// ICMP message.
    Icmp(Icmp),
    /// A non-first fragment: no transport header in this packet.
    Fragment,
    /// Any other protocol, or a transport header too short to read.
    Other,
}

/// One parsed IPv4 packet with its capture time and frame number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// Frame number in the capture (0-based), so alerts can point at their evidence.
    pub frame: u64,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type-of-service byte (DSCP and ECN).
    pub tos: u8,
    /// IP identification.
    pub ident: u16,
    /// Transport-layer view.
    pub transport: Transport<'a>,
}

/// Why a frame is not a usable IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than an IPv4 header, or the header/total length fields do not fit the buffer.
    Truncated,
    /// IP version is not 4.
    NotIpv4,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("truncated IPv4 packet"),
            Malformed::NotIpv4 => f.write_str("not an IPv4 packet"),
        }
    }
}

impl<'a> PacketView<'a> {
    /// Parses one raw IPv4 packet. Never panics.
    ///
    /// Bytes after the IP total length (link padding) are ignored. A TCP header
    /// that is cut short makes the transport [`Transport::Other`], so the IP
    /// addresses are still usable.
    pub fn parse(frame: u64, bytes: &'a [u8]) -> Result<Self, Malformed> {
        match bytes.first() {
            None => return Err(Malformed::Truncated),
            Some(b) if b >> 4 != 4 => return Err(Malformed::NotIpv4),
            Some(_) => {}
        }
        let ip = Ipv4Packet::new_checked(bytes).map_err(|_| Malformed::Truncated)?;
        let header_len = usize::from(ip.header_len());
        let total_len = usize::from(ip.total_len());
        let payload: &'a [u8] = &bytes[header_len..total_len];
        let protocol = u8::from(ip.next_header());
        let transport = if ip.frag_offset() != 0 {
            Transport::Fragment
        } else {
            parse_transport(protocol, payload)
        };
        Ok(PacketView {
            frame,
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            protocol,
            ttl: ip.hop_limit(),
            tos: (ip.dscp() << 2) | ip.ecn(),
            ident: ip.ident(),
            transport,
        })
    }

    /// The TCP part, if this is a TCP segment.
    pub fn tcp(&self) -> Option<&Tcp<'a>> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// The UDP part, if this is a UDP datagram.
    pub fn udp(&self) -> Option<&Udp<'a>> {
        match &self.transport {
            Transport::Udp(u) => Some(u),
            _ => None,
        }
    }

    /// The ICMP part, if this is an ICMP message.
    pub fn icmp(&self) -> Option<&Icmp> {
        match &self.transport {
            Transport::Icmp(i) => Some(i),
            _ => None,
        }
    }

    /// (source port, destination port) for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }
}

fn parse_transport(protocol: u8, payload: &[u8]) -> Transport<'_> {
    match protocol {
        proto::TCP => match TcpPacket::new_checked(payload) {
            Ok(tcp) => {
                let header_len = usize::from(tcp.header_len());
                Transport::Tcp(Tcp {
                    src_port: tcp.src_port(),
                    dst_port: tcp.dst_port(),
                    seq: tcp.seq_number().0 as u32,
                    ack: tcp.ack_number().0 as u32,
                    flags: TcpFlags(payload[13]),
                    window: tcp.window_len(),
                    payload: &payload[header_len..],
                })
            }
            Err(_) => Transport::Other,
        },
        proto::UDP => match payload {
            [a, b, c, d, _, _, _, _, rest @ ..] => Transport::Udp(Udp {
                src_port: u16::from_be_bytes([*a, *b]),
                dst_port: u16::from_be_bytes([*c, *d]),
                payload: rest,
            }),
            _ => Transport::Other,
        },
        proto::ICMP => match payload {
            [icmp_type, code, _, _, _, _, _, _, rest @ ..] => {
                let is_error = matches!(icmp_type, 3 | 4 | 5 | 11 | 12);
                Transport::Icmp(Icmp {
                    icmp_type: *icmp_type,
                    code: *code,
                    quoted: if is_error { parse_quoted(rest) } else { None },
                })
            }
            _ => Transport::Other,
        },
        _ => Transport::Other,
    }
}

/// Reads the IPv4 header (plus the first 4 transport bytes) quoted in an ICMP
/// error. The quoted packet is cut short by design, so this reads it by hand
/// with bounds checks instead of through a checked view.
fn parse_quoted(bytes: &[u8]) -> Option<Quoted> {
    let first = *bytes.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || bytes.len() < ihl {
        return None;
    }
    let protocol = bytes[9];
    let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
    let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
    let (src_port, dst_port) = match (protocol, bytes.get(ihl..ihl + 4)) {
        (proto::TCP | proto::UDP, Some(p)) => (
            Some(u16::from_be_bytes([p[0], p[1]])),
            Some(u16::from_be_bytes([p[2], p[3]])),
        ),
        _ => (None, None),
    };
    Some(Quoted {
        protocol,
        src,
        dst,
        src_port,
        dst_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10.0.0.2:40000 -> 10.0.0.1:80, flags SYN|FIN (a probe TcpRepr would reject).
    static SYN_FIN: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 2, 10, 0,
        0, 1, 0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x03, 0x04, 0x00, 0, 0, 0, 0,
    ];

    #[test]
    fn keeps_odd_flag_mixes() {
        let v = PacketView::parse(7, &SYN_FIN).unwrap();
        let t = v.tcp().unwrap();
        assert_eq!(v.frame, 7);
        assert_eq!(v.src, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((t.src_port, t.dst_port), (40000, 80));
        assert!(t.flags.syn() && t.flags.fin() && !t.flags.is_pure_syn());
        assert_eq!(t.flags.to_string(), "FS");
    }

    #[test]
    fn port_zero_survives() {
        let mut p = SYN_FIN;
        p[22] = 0;
        p[23] = 0;
        assert_eq!(PacketView::parse(0, &p).unwrap().tcp().unwrap().dst_port, 0);
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        for n in 0..SYN_FIN.len() {
            let r = PacketView::parse(0, &SYN_FIN[..n]);
            if n < 20 {
                assert!(r.is_err(), "{n} bytes");
            }
        }
        assert_eq!(PacketView::parse(0, &[0x60; 40]), Err(Malformed::NotIpv4));
    }

    #[test]
    fn icmp_unreachable_quotes_inner_header() {
        let mut p = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&SYN_FIN[..28]);
        let v = PacketView::parse(0, &p).unwrap();
        let q = v.icmp().unwrap().quoted.unwrap();
        assert_eq!(q.dst, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(q.dst_port, Some(80));
    }
}
