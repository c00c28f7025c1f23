//! A router's one change to every packet it forwards: TTL down by one and a
//! fresh header checksum.

/// Decrements the TTL of the IPv4 packet `pkt` (already checked by
/// `Ipv4Packet::new_checked`, TTL above 1) and recomputes its header
/// checksum: the same bytes as smoltcp's `set_hop_limit` and
/// `fill_checksum`, with the header summed four bytes at a time, since
/// every forwarded packet pays for it.
pub(super) fn forward(pkt: &mut [u8]) {
    pkt[8] -= 1;
    pkt[10] = 0;
    pkt[11] = 0;
    let header_len = usize::from(pkt[0] & 0x0f) * 4;
    let checksum = !fold(&pkt[..header_len]);
    pkt[10..12].copy_from_slice(&checksum.to_be_bytes());
}

/// The ones' complement sum of `header` (a multiple of four bytes) as 16-bit
/// words, folded as smoltcp's `checksum::data` folds it: 0 only when every
/// word is 0. Summing 32-bit words gives the same value, as 2^16 = 1 modulo
/// 0xffff, and folding never turns a non-zero sum into 0.
fn fold(header: &[u8]) -> u16 {
    let word = |w: &[u8]| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    // The usual header without options, as five loads the compiler unrolls.
    let mut sum: u64 = match header.first_chunk::<20>() {
        Some(h) if header.len() == 20 => h.chunks_exact(4).map(word).sum(),
        _ => header.chunks_exact(4).map(word).sum(),
    };
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use smoltcp::wire::Ipv4Packet;

    use super::*;

    proptest! {
        /// Any header smoltcp's checked parse accepts, options included:
        /// the same bytes as smoltcp's own TTL and checksum update.
        #[test]
        fn same_bytes_as_smoltcp(
            ihl in 5u8..16,
            mut bytes in proptest::collection::vec(any::<u8>(), 60..80),
            ttl in 2u8..=255,
        ) {
            bytes[0] = 0x40 | ihl;
            let len = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            bytes[8] = ttl;
            prop_assume!(Ipv4Packet::new_checked(&bytes[..]).is_ok());
            let mut want = bytes.clone();
            let mut ip = Ipv4Packet::new_unchecked(&mut want[..]);
            ip.set_hop_limit(ttl - 1);
            ip.fill_checksum();
            forward(&mut bytes);
            prop_assert_eq!(bytes, want);
        }
    }

    /// The edges of the fold: all-zero words, a sum of 0xffff, a carry.
    #[test]
    fn folds_as_ones_complement() {
        assert_eq!(fold(&[0; 20]), 0);
        assert_eq!(fold(&[0xff; 20]), 0xffff);
        // 0xffff + 1 carries round to 1.
        assert_eq!(fold(&[0, 0, 0xff, 0xff, 0, 0, 0, 1]), 1);
    }
}
