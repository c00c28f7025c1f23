//! Recomputing checksums after a packet was rewritten in place (a NAT or a
//! balancer changing addresses or ports). Packets that are not well-formed
//! IPv4 are left alone: a middlebox passes garbage on unchanged.

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

/// Recomputes the TCP checksum of an IPv4+TCP packet in place. Does nothing
/// if the packet is not a well-formed, unfragmented IPv4/TCP packet.
pub fn refill_tcp(buf: &mut [u8]) {
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

/// Recomputes every checksum of an IPv4 packet: the IP header, and TCP or UDP.
pub fn refill(buf: &mut [u8]) {
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut buf[..]) else {
        return;
    };
    ip.fill_checksum();
    let proto = ip.next_header();
    if proto == IpProtocol::Tcp {
        refill_tcp(buf);
    } else if proto == IpProtocol::Udp {
        let ip = Ipv4Packet::new_unchecked(&buf[..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let hl = usize::from(ip.header_len());
        let tl = usize::from(ip.total_len());
        if let Ok(mut u) = UdpPacket::new_checked(&mut buf[hl..tl]) {
            u.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
        }
    }
}

/// True if `buf` is an IPv4/TCP packet whose IP and TCP checksums verify
/// (false for anything else): what tests of rewriting code assert.
pub fn tcp_verifies(buf: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(buf) else {
        return false;
    };
    let Ok(t) = TcpPacket::new_checked(ip.payload()) else {
        return false;
    };
    ip.verify_checksum()
        && t.verify_checksum(
            &IpAddress::Ipv4(ip.src_addr()),
            &IpAddress::Ipv4(ip.dst_addr()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ipv4, Tcp};
    use core::net::Ipv4Addr;

    #[test]
    fn rewritten_addresses_verify_again() {
        let mut p = Tcp {
            src_port: 1,
            dst_port: 2,
            flags: 0x12,
            ..Tcp::default()
        }
        .packet(&Ipv4::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        ));
        let fresh = p.clone();
        Ipv4Packet::new_unchecked(&mut p[..]).set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        assert!(!tcp_verifies(&p));
        refill(&mut p);
        assert!(tcp_verifies(&p));
        assert_ne!(p, fresh);
        // Garbage is left as it is.
        let mut junk = vec![0x45, 0, 0];
        refill(&mut junk);
        assert_eq!(junk, [0x45, 0, 0]);
    }
}
