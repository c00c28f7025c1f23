//! A parsed packet that borrows nothing, so it can be handed to another
//! thread beside a copy of the packet's bytes and turned back into a
//! [`PacketView`] there without parsing again.
//!
//! A view borrows the bytes it was parsed from (its TCP or UDP payload is a
//! slice of them); everything else in it is plain values. A
//! [`DetachedView`] keeps those values and the payload's place in the bytes.

use super::{PacketView, Tcp, Transport, Udp};

/// A [`PacketView`] with its payload slice replaced by its position in the
/// packet's bytes (see [`PacketView::detach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetachedView {
    /// The view, with an empty payload.
    view: PacketView<'static>,
    /// Start of the payload in the packet's bytes.
    start: usize,
    /// End of the payload in the packet's bytes.
    end: usize,
}

impl PacketView<'_> {
    /// This view without its borrow of `bytes`, the bytes it was parsed
    /// from; `None` if its payload is not a part of `bytes`.
    pub fn detach(&self, bytes: &[u8]) -> Option<DetachedView> {
        let (transport, payload): (Transport<'static>, &[u8]) = match self.transport {
            Transport::Tcp(t) => (
                Transport::Tcp(Tcp {
                    src_port: t.src_port,
                    dst_port: t.dst_port,
                    seq: t.seq,
                    ack: t.ack,
                    flags: t.flags,
                    window: t.window,
                    payload: &[],
                }),
                t.payload,
            ),
            Transport::Udp(u) => (
                Transport::Udp(Udp {
                    src_port: u.src_port,
                    dst_port: u.dst_port,
                    payload: &[],
                }),
                u.payload,
            ),
            Transport::Icmp(i) => (Transport::Icmp(i), &[]),
            Transport::Fragment => (Transport::Fragment, &[]),
            Transport::Other => (Transport::Other, &[]),
        };
        // The payload's offset in `bytes`, from the two slices' addresses
        // (0 for an empty payload that is not a slice of `bytes`).
        let start = match (payload.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize) {
            Some(s) => s,
            None if payload.is_empty() => 0,
            None => return None,
        };
        let end = start.checked_add(payload.len())?;
        if end > bytes.len() {
            return None;
        }
        Some(DetachedView {
            view: PacketView {
                frame: self.frame,
                src: self.src,
                dst: self.dst,
                protocol: self.protocol,
                ttl: self.ttl,
                tos: self.tos,
                ident: self.ident,
                transport,
            },
            start,
            end,
        })
    }
}

impl DetachedView {
    /// The view again, its payload borrowed from `bytes` (a copy of the bytes
    /// it was detached from); `None` if `bytes` is too short to hold it.
    pub fn attach<'a>(&self, bytes: &'a [u8]) -> Option<PacketView<'a>> {
        let payload = bytes.get(self.start..self.end)?;
        let mut view: PacketView<'a> = self.view;
        match &mut view.transport {
            Transport::Tcp(t) => t.payload = payload,
            Transport::Udp(u) => u.payload = payload,
            Transport::Icmp(_) | Transport::Fragment | Transport::Other => {}
        }
        Some(view)
    }

    /// The frame number of the view.
    pub fn frame(&self) -> u64 {
        self.view.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header (20 bytes) for `protocol` carrying `rest`.
    fn ipv4(protocol: u8, rest: &[u8]) -> Vec<u8> {
        let total = (20 + rest.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 7, 0, 0, 64, protocol, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(rest);
        p
    }

    /// Detached and attached to a copy of its bytes, every kind of packet
    /// is the view a fresh parse of the copy gives.
    #[test]
    fn attach_to_a_copy_equals_a_parse_of_it() {
        let mut tcp = vec![
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 4, 0, 0, 0, 0, 0,
        ];
        tcp.extend_from_slice(b"GET / HTTP/1.0\r\n");
        let udp = [0x13, 0x88, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4];
        let icmp = [8, 0, 0, 0, 0, 1, 0, 1];
        let mut fragment = ipv4(6, &tcp);
        fragment[6..8].copy_from_slice(&[0x00, 0x10]);
        let packets = [
            ipv4(6, &tcp),
            ipv4(6, &tcp[..20]),
            ipv4(17, &udp),
            ipv4(1, &icmp),
            ipv4(6, &tcp[..10]),
            ipv4(47, b"gre"),
            fragment,
        ];
        for (i, p) in packets.iter().enumerate() {
            let view = PacketView::parse(i as u64, p).unwrap();
            let d = view.detach(p).unwrap();
            let copy = p.clone();
            assert_eq!(
                d.attach(&copy),
                Some(PacketView::parse(i as u64, &copy).unwrap())
            );
            assert_eq!(d.frame(), i as u64);
        }
    }

    /// A view is not detached from bytes its payload is not part of, nor
    /// attached to bytes too short for its payload.
    #[test]
    fn mismatched_bytes_are_refused() {
        let mut tcp = vec![
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 4, 0, 0, 0, 0, 0,
        ];
        tcp.extend_from_slice(b"payload");
        let p = ipv4(6, &tcp);
        let view = PacketView::parse(0, &p).unwrap();
        let other = p.clone();
        assert_eq!(view.detach(&other[..10]), None);
        let d = view.detach(&p).unwrap();
        assert_eq!(d.attach(&p[..p.len() - 1]), None);
    }
}
