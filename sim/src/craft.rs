//! Hand-built packets, for the few actors that craft raw packets as nmap does
//! (the SYN scanner) and for middleboxes that emit their own. Checksums are
//! always filled in.

use std::net::Ipv4Addr;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket};

/// Fields of a crafted TCP segment.
#[derive(Clone, Debug)]
pub struct TcpFields<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Raw flag byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Raw TCP options, padded by this function to a multiple of 4.
    pub options: &'a [u8],
    /// IP TTL.
    pub ttl: u8,
    /// IP identification.
    pub ident: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// Builds a complete IPv4+TCP packet with valid checksums.
pub fn tcp(f: &TcpFields<'_>) -> Vec<u8> {
    let opt_len = f.options.len().div_ceil(4) * 4;
    let tcp_len = 20 + opt_len + f.payload.len();
    let total = 20 + tcp_len;
    let mut buf = vec![0u8; total];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_dscp(0);
        ip.set_ecn(0);
        ip.set_total_len(total as u16);
        ip.set_ident(f.ident);
        ip.clear_flags();
        ip.set_dont_frag(false);
        ip.set_frag_offset(0);
        ip.set_hop_limit(f.ttl);
        ip.set_next_header(IpProtocol::Tcp);
        ip.set_src_addr(f.src);
        ip.set_dst_addr(f.dst);
        ip.fill_checksum();
    }
    {
        let seg = &mut buf[20..];
        seg[20..20 + f.options.len()].copy_from_slice(f.options);
        seg[20 + opt_len..].copy_from_slice(f.payload);
        let mut t = TcpPacket::new_unchecked(seg);
        t.set_src_port(f.src_port);
        t.set_dst_port(f.dst_port);
        t.set_seq_number(smoltcp::wire::TcpSeqNumber(f.seq as i32));
        t.set_ack_number(smoltcp::wire::TcpSeqNumber(f.ack as i32));
        t.set_header_len((20 + opt_len) as u8);
        t.set_window_len(f.window);
        t.set_urgent_at(0);
        t.fill_checksum(&IpAddress::Ipv4(f.src), &IpAddress::Ipv4(f.dst));
    }
    // Flags last: `set_header_len` rewrites the byte that holds NS/reserved bits,
    // and the flag byte is written raw so any mix (SYN|FIN, NULL, XMAS) survives.
    buf[20 + 13] = f.flags;
    refill_tcp_checksum(&mut buf);
    buf
}

/// Recomputes the TCP checksum of an IPv4+TCP packet in place (after a rewrite).
/// Does nothing if the packet is not a well-formed IPv4/TCP packet.
pub fn refill_tcp_checksum(buf: &mut [u8]) {
    let Ok(ip) = Ipv4Packet::new_checked(&buf[..]) else {
        return;
    };
    if ip.next_header() != IpProtocol::Tcp || ip.frag_offset() != 0 {
        return;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let hl = usize::from(ip.header_len());
    let tl = usize::from(ip.total_len());
    if let Ok(mut t) = TcpPacket::new_checked(&mut buf[hl..tl]) {
        t.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    }
}

/// Recomputes every checksum of an IPv4 packet after its addresses or ports
/// were rewritten (NAT, balancer): IP header, and TCP or UDP.
pub fn refill_checksums(buf: &mut [u8]) {
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut buf[..]) else {
        return;
    };
    ip.fill_checksum();
    let proto = ip.next_header();
    if proto == IpProtocol::Tcp {
        refill_tcp_checksum(buf);
    } else if proto == IpProtocol::Udp {
        let ip = Ipv4Packet::new_unchecked(&buf[..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let hl = usize::from(ip.header_len());
        let tl = usize::from(ip.total_len());
        if let Ok(mut u) = smoltcp::wire::UdpPacket::new_checked(&mut buf[hl..tl]) {
            u.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::IpAddress;

    #[test]
    fn crafted_syn_verifies() {
        let p = tcp(&TcpFields {
            src: Ipv4Addr::new(203, 0, 113, 5),
            dst: Ipv4Addr::new(198, 51, 100, 10),
            src_port: 45000,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 0,
            flags: 0x02,
            window: 1024,
            options: &[2, 4, 0x05, 0xb4],
            ttl: 44,
            ident: 7,
            payload: &[],
        });
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(ip.verify_checksum());
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(t.syn() && !t.ack());
        assert_eq!(t.seq_number().0 as u32, 0xdead_beef);
        assert!(t.verify_checksum(
            &IpAddress::Ipv4(ip.src_addr()),
            &IpAddress::Ipv4(ip.dst_addr())
        ));
    }
}
