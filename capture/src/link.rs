//! Link layers: from a captured frame to the IPv4 packet inside it.
//!
//! Values are tcpdump.org `LINKTYPE_*` numbers (what files store), not the
//! platform-dependent `DLT_*` ones. Only link types whose header says, for
//! every frame, whether an IPv4 packet follows are supported; for anything
//! else the reader cannot tell IPv4 from noise, so it refuses the file rather
//! than hiding traffic from the detectors.

/// `LINKTYPE_NULL`: BSD loopback, a 4-byte address family in the byte order
/// of the capturing machine.
pub const NULL: u32 = 0;
/// `LINKTYPE_ETHERNET`: Ethernet II, possibly with 802.1Q/802.1ad tags.
pub const ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: a raw IPv4 or IPv6 packet (what scanbench writes).
pub const RAW: u32 = 101;
/// `LINKTYPE_LOOP`: OpenBSD loopback, address family in network byte order.
pub const LOOP: u32 = 108;
/// `LINKTYPE_LINUX_SLL`: Linux "cooked" capture v1 (`tcpdump -i any`).
pub const LINUX_SLL: u32 = 113;
/// `LINKTYPE_IPV4`: a raw IPv4 packet.
pub const IPV4: u32 = 228;
/// `LINKTYPE_LINUX_SLL2`: Linux "cooked" capture v2 (newer `-i any`).
pub const LINUX_SLL2: u32 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
/// 802.1Q C-tag, 802.1ad S-tag, and the pre-standard Q-in-Q tag types.
const ETHERTYPE_VLAN: [u16; 4] = [0x8100, 0x88a8, 0x9100, 0x9200];
const AF_INET: u32 = 2;

/// True if frames of this link type can be decoded.
pub fn is_supported(linktype: u32) -> bool {
    matches!(
        linktype,
        NULL | ETHERNET | RAW | LOOP | LINUX_SLL | IPV4 | LINUX_SLL2
    )
}

/// A short name for messages and summaries.
pub fn name(linktype: u32) -> &'static str {
    match linktype {
        NULL => "NULL",
        ETHERNET => "ETHERNET",
        RAW => "RAW",
        LOOP => "LOOP",
        LINUX_SLL => "LINUX_SLL",
        IPV4 => "IPV4",
        LINUX_SLL2 => "LINUX_SLL2",
        9 => "PPP",
        105 => "IEEE802_11",
        127 => "IEEE802_11_RADIOTAP",
        229 => "IPV6",
        _ => "unknown",
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The IPv4 packet carried by `frame`, or `None` if it carries something
/// else (or nothing: a frame too short for its link header).
///
/// The packet is cut to its IPv4 total length when the frame holds more
/// (Ethernet padding to 60 bytes, a trailing FCS), so detectors see exactly
/// the packet. A packet whose total length is below 20 or beyond the bytes
/// present is passed on as is: it is the detector's job to count it malformed.
pub fn ipv4_packet(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    ipv4_range(linktype, frame).map(|r| &frame[r])
}

/// Where in `frame` the IPv4 packet of [`ipv4_packet`] sits.
pub fn ipv4_range(linktype: u32, frame: &[u8]) -> Option<core::ops::Range<usize>> {
    let start = match linktype {
        RAW | IPV4 => 0,
        ETHERNET => {
            let mut ethertype = be16(frame, 12)?;
            let mut at = 14;
            // Each tag is 4 bytes: TCI, then the next ethertype. Stacked tags
            // (Q-in-Q) just repeat; the loop ends because `at` grows.
            while ETHERTYPE_VLAN.contains(&ethertype) {
                ethertype = be16(frame, at + 2)?;
                at += 4;
            }
            if ethertype != ETHERTYPE_IPV4 || at > frame.len() {
                return None;
            }
            at
        }
        LINUX_SLL => {
            // packet type, ARPHRD, address length, 8-byte address, protocol.
            if be16(frame, 14)? != ETHERTYPE_IPV4 {
                return None;
            }
            16
        }
        LINUX_SLL2 => {
            // protocol, reserved, ifindex, ARPHRD, packet type, address length, 8-byte address.
            if be16(frame, 0)? != ETHERTYPE_IPV4 || frame.len() < 20 {
                return None;
            }
            20
        }
        NULL | LOOP => {
            let af: [u8; 4] = frame.get(..4)?.try_into().ok()?;
            let ipv4 = u32::from_be_bytes(af) == AF_INET
                || (linktype == NULL && u32::from_le_bytes(af) == AF_INET);
            if !ipv4 {
                return None;
            }
            4
        }
        _ => return None,
    };
    let ip = &frame[start..];
    if ip.first()? >> 4 != 4 {
        return None;
    }
    match be16(ip, 2) {
        Some(total) if total >= 20 && usize::from(total) <= ip.len() => {
            Some(start..start + usize::from(total))
        }
        _ => Some(start..frame.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 24-byte IPv4 packet (total length 24) with recognisable payload.
    const IP: [u8; 24] = [
        0x45, 0, 0, 24, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef,
    ];

    fn eth(ethertypes: &[u16], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xaa; 12];
        for (i, t) in ethertypes.iter().enumerate() {
            f.extend_from_slice(&t.to_be_bytes());
            if i + 1 < ethertypes.len() {
                f.extend_from_slice(&[0x00, 0x2a]); // TCI: VLAN 42
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn raw_and_ipv4() {
        assert_eq!(ipv4_packet(RAW, &IP), Some(&IP[..]));
        assert_eq!(ipv4_packet(IPV4, &IP), Some(&IP[..]));
        let mut v6 = IP;
        v6[0] = 0x60;
        assert_eq!(ipv4_packet(RAW, &v6), None);
        assert_eq!(ipv4_packet(RAW, &[]), None);
    }

    #[test]
    fn ethernet_plain_and_padded() {
        assert_eq!(ipv4_packet(ETHERNET, &eth(&[0x0800], &IP)), Some(&IP[..]));
        // Padding to the 60-byte minimum plus a 4-byte FCS: trimmed away.
        let mut f = eth(&[0x0800], &IP);
        f.resize(64, 0x55);
        assert_eq!(ipv4_packet(ETHERNET, &f), Some(&IP[..]));
        assert_eq!(ipv4_packet(ETHERNET, &eth(&[0x0806], &IP)), None, "ARP");
        assert_eq!(ipv4_packet(ETHERNET, &eth(&[0x86dd], &IP)), None, "IPv6");
        assert_eq!(
            ipv4_packet(ETHERNET, &eth(&[0x0040], &IP)),
            None,
            "802.3 length"
        );
        assert_eq!(ipv4_packet(ETHERNET, &[0; 13]), None);
    }

    #[test]
    fn ethernet_vlan_tags() {
        let q = eth(&[0x8100, 0x0800], &IP);
        assert_eq!(ipv4_packet(ETHERNET, &q), Some(&IP[..]));
        let qinq = eth(&[0x88a8, 0x8100, 0x0800], &IP);
        assert_eq!(ipv4_packet(ETHERNET, &qinq), Some(&IP[..]));
        let old = eth(&[0x9100, 0x8100, 0x8100, 0x0800], &IP);
        assert_eq!(ipv4_packet(ETHERNET, &old), Some(&IP[..]));
        // A tag cut off before its inner ethertype.
        assert_eq!(ipv4_packet(ETHERNET, &eth(&[0x8100], &[0, 1])), None);
        assert_eq!(ipv4_packet(ETHERNET, &eth(&[0x8100, 0x86dd], &IP)), None);
    }

    #[test]
    fn linux_cooked() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&IP);
        assert_eq!(ipv4_packet(LINUX_SLL, &sll), Some(&IP[..]));
        sll[14..16].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(ipv4_packet(LINUX_SLL, &sll), None);

        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&IP);
        assert_eq!(ipv4_packet(LINUX_SLL2, &sll2), Some(&IP[..]));
        sll2[0..2].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(ipv4_packet(LINUX_SLL2, &sll2), None);
        assert_eq!(ipv4_packet(LINUX_SLL2, &[0x08, 0x00, 0]), None);
    }

    #[test]
    fn loopback_both_byte_orders() {
        for af in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let f = [&af[..], &IP].concat();
            assert_eq!(ipv4_packet(NULL, &f), Some(&IP[..]));
        }
        let le = [&[2u8, 0, 0, 0][..], &IP].concat();
        assert_eq!(ipv4_packet(LOOP, &le), None, "LOOP is network byte order");
        let be = [&[0u8, 0, 0, 2][..], &IP].concat();
        assert_eq!(ipv4_packet(LOOP, &be), Some(&IP[..]));
        let v6 = [&[30u8, 0, 0, 0][..], &IP].concat();
        assert_eq!(ipv4_packet(NULL, &v6), None, "AF_INET6 on macOS");
    }

    #[test]
    fn bad_total_length_passes_through() {
        let mut short = IP;
        short[3] = 10; // below the header size
        assert_eq!(ipv4_packet(RAW, &short), Some(&short[..]));
        let mut long = IP;
        long[3] = 200; // beyond the bytes present (snaplen)
        assert_eq!(ipv4_packet(RAW, &long), Some(&long[..]));
    }

    #[test]
    fn unsupported() {
        assert!(!is_supported(127));
        assert_eq!(ipv4_packet(127, &IP), None);
        assert_eq!(name(127), "IEEE802_11_RADIOTAP");
        assert!(is_supported(LINUX_SLL2));
    }
}
