//! Captures for the `capture` target beyond byte-wise mutation: files built
//! from scratch (any supported or unsupported link type, either pcap magic
//! and byte order, pcapng with several interfaces and sections, extreme
//! timestamp fields, label comments) and seeds mutated field by field (a
//! pcap's snaplen, link type, record lengths and times; a pcapng's block
//! lengths, interface options, captured lengths, interface ids, inserted
//! and reordered blocks).
//!
//! Byte flips rarely hit a length or a timestamp field in a way the reader
//! then follows; these mutations aim at exactly those fields.

use crate::{Rng, ipv4, timestamp};

/// Link types the reader supports, and some it does not (FCS bits set,
/// 802.11, IPv6, PPP, out of range).
const LINK_TYPES: &[u32] = &[
    0,
    1,
    101,
    108,
    113,
    228,
    276,
    1,
    1,
    101,
    9,
    12,
    14,
    105,
    127,
    229,
    0x1000_0001,
    0xffff,
    0x0400_0001,
];

/// `if_tsresol` values: the usual ones, the edges of both bases, nonsense.
const TSRESOL: &[u8] = &[
    0, 3, 6, 9, 10, 12, 18, 19, 38, 63, 127, 0x80, 0x8a, 0x9e, 0xbf, 0xff,
];

/// `if_tsoffset` values (seconds).
const TSOFFSET: &[i64] = &[
    0,
    1,
    -1,
    i64::MAX,
    i64::MIN,
    253_402_300_800,
    -62_135_596_800,
    1 << 40,
    -(1 << 40),
    9_223_372_036,
];

/// Label comments as `run --pcapng` writes them, and broken ones.
const COMMENTS: &[&str] = &[
    "actor=scanner class=malicious cause=scan",
    "actor=client-1 class=benign cause=poll",
    "actor= class=malicious cause=",
    "actor=x class=weird cause=y",
    "actor=a=b class=benign cause=c",
    "class=malicious",
    "",
    "actor=scanner class=malicious cause=scan extra=1",
    "actor=\u{fffd}\u{0} class=benign cause=\n",
];

/// A 32-bit value for a length or time field: near `near`, or an edge.
fn field32(rng: &mut Rng, near: u32) -> u32 {
    match rng.below(6) {
        0 => near.wrapping_add(1),
        1 => near.wrapping_sub(1),
        2 => near.wrapping_add(4),
        3 => near.wrapping_sub(4),
        _ => *rng.pick(&[
            0u32,
            1,
            12,
            19,
            20,
            40,
            65_535,
            262_144,
            (256 << 20) - 4,
            256 << 20,
            (256 << 20) + 4,
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX - 3,
            u32::MAX,
        ]),
    }
}

/// Writes integers in one byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn read32(self, b: &[u8]) -> u32 {
        let a: [u8; 4] = b[..4].try_into().unwrap_or([0; 4]);
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
}

/// `ip` behind the link header of `linktype` (sometimes a wrong one: an
/// unknown ethertype, a cut header, many VLAN tags, trailing padding).
fn frame(rng: &mut Rng, linktype: u32, ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    match linktype & 0xffff {
        1 => {
            f.extend((0..12).map(|_| rng.next_u64() as u8));
            let tags = if rng.one_in(20) {
                rng.below(400)
            } else {
                rng.below(3)
            };
            for _ in 0..tags {
                f.extend(rng.pick(&[0x8100u16, 0x88a8, 0x9100]).to_be_bytes());
                f.extend((rng.next_u64() as u16).to_be_bytes());
            }
            let ethertype = if rng.one_in(10) {
                *rng.pick(&[0x86ddu16, 0x0806, 0x0040, 0x8100])
            } else {
                0x0800
            };
            f.extend(ethertype.to_be_bytes());
        }
        113 => {
            f.extend([0, 0, 0, 1, 0, 6]);
            f.extend((0..8).map(|_| rng.next_u64() as u8));
            f.extend([0x08, 0x00]);
        }
        276 => {
            f.extend([0x08, 0x00, 0, 0]);
            f.extend((rng.next_u64() as u32).to_be_bytes());
            f.extend([0, 1, 0, 6]);
            f.extend((0..8).map(|_| rng.next_u64() as u8));
        }
        0 => f.extend(rng.pick(&[[2u8, 0, 0, 0], [0, 0, 0, 2], [30, 0, 0, 0]])),
        108 => f.extend(rng.pick(&[[0u8, 0, 0, 2], [2, 0, 0, 0]])),
        _ => {}
    }
    f.extend_from_slice(ip);
    if rng.one_in(5) {
        f.extend((0..rng.below(40)).map(|_| rng.next_u64() as u8));
    }
    if rng.one_in(15) {
        let cut = rng.below(f.len() + 1);
        f.truncate(cut);
    }
    f
}

/// Packets for a built capture: times in µs (jumping, extreme, repeated,
/// backwards) and IPv4 packets between a few addresses.
fn packets(rng: &mut Rng) -> Vec<(i64, Vec<u8>)> {
    let addrs: Vec<[u8; 4]> = (0..rng.below(6) + 2).map(|_| crate::address(rng)).collect();
    let mut t = if rng.one_in(2) {
        1_700_000_000_000_000
    } else {
        rng.next_u64() as i64
    };
    let n = if rng.one_in(10) {
        rng.below(3000)
    } else {
        rng.below(120) + 1
    };
    (0..n)
        .map(|_| {
            t = timestamp(rng, t);
            (t, ipv4(rng, &addrs))
        })
        .collect()
}

/// A capture built from scratch: pcap or pcapng, any link type, extreme
/// time fields.
pub fn build(rng: &mut Rng) -> Vec<u8> {
    let pkts = packets(rng);
    let o = Order { big: rng.one_in(3) };
    if rng.one_in(2) {
        build_pcap(rng, o, &pkts)
    } else {
        build_pcapng(rng, o, &pkts)
    }
}

fn build_pcap(rng: &mut Rng, o: Order, pkts: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let nanos = rng.one_in(2);
    let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let linktype = *rng.pick(LINK_TYPES);
    let snaplen = if rng.one_in(4) {
        field32(rng, 65_535)
    } else {
        65_535
    };
    let mut b = Vec::new();
    b.extend(o.u32(magic));
    b.extend(o.u16(2));
    b.extend(o.u16(if rng.one_in(10) { 1 } else { 4 }));
    b.extend([0; 8]);
    b.extend(o.u32(snaplen));
    b.extend(o.u32(linktype));
    for (t, ip) in pkts {
        let f = frame(rng, linktype, ip);
        let (secs, frac) = if rng.one_in(10) {
            (field32(rng, 0), field32(rng, 999_999))
        } else {
            let us = t.rem_euclid(1 << 50);
            let secs = (us / 1_000_000) as u32;
            let sub = (us % 1_000_000) as u32;
            (secs, if nanos { sub * 1000 } else { sub })
        };
        let mut incl = f.len() as u32;
        let mut orig = incl;
        if rng.one_in(8) {
            // Cut by a snaplen: orig beyond incl, or the other way round.
            orig = field32(rng, incl);
        }
        if rng.one_in(40) {
            incl = field32(rng, incl);
        }
        b.extend(o.u32(secs));
        b.extend(o.u32(frac));
        b.extend(o.u32(incl));
        b.extend(o.u32(orig));
        b.extend(&f);
    }
    b
}

/// One pcapng block: type, total length, body padded to 4, length again.
fn block(o: Order, ty: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend(o.u32(ty));
    b.extend(o.u32(len));
    b.extend(body);
    b.resize(8 + padded, 0);
    b.extend(o.u32(len));
    b
}

/// One option: code, length, value padded to 4.
fn option(o: Order, code: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(o.u16(code));
    b.extend(o.u16(value.len() as u16));
    b.extend(value);
    b.resize(4 + value.len().div_ceil(4) * 4, 0);
    b
}

/// An `if_tsoffset` option with one of [`TSOFFSET`].
fn tsoffset_option(rng: &mut Rng, o: Order) -> Vec<u8> {
    let off = *rng.pick(TSOFFSET);
    let bytes = if o.big {
        off.to_be_bytes()
    } else {
        off.to_le_bytes()
    };
    option(o, 14, &bytes)
}

fn shb(o: Order) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(o.u32(0x1a2b_3c4d));
    body.extend(o.u16(1));
    body.extend(o.u16(0));
    body.extend([0xff; 8]);
    block(o, 0x0a0d_0d0a, &body)
}

fn idb(rng: &mut Rng, o: Order, linktype: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(o.u16(linktype as u16));
    body.extend(o.u16(0));
    body.extend(o.u32(if rng.one_in(5) {
        field32(rng, 65_535)
    } else {
        0
    }));
    if rng.one_in(2) {
        body.extend(option(o, 9, &[*rng.pick(TSRESOL)]));
    }
    if rng.one_in(3) {
        body.extend(tsoffset_option(rng, o));
    }
    if rng.one_in(4) {
        body.extend(option(o, 0, &[]));
    }
    block(o, 1, &body)
}

fn build_pcapng(rng: &mut Rng, o: Order, pkts: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut b = shb(o);
    let links: Vec<u32> = (0..rng.below(3) + 1)
        .map(|_| *rng.pick(LINK_TYPES))
        .collect();
    for &l in &links {
        b.extend(idb(rng, o, l));
    }
    for (t, ip) in pkts {
        let extra = usize::from(rng.one_in(30));
        let id = rng.below(links.len() + extra);
        let linktype = links.get(id).copied().unwrap_or(1);
        let f = frame(rng, linktype, ip);
        match rng.below(20) {
            0 => {
                // Simple packet block: interface 0, no time.
                let mut body = o.u32(field32(rng, f.len() as u32)).to_vec();
                body.extend(&f);
                b.extend(block(o, 3, &body));
            }
            1 => b.extend(block(o, 0x0000_0bad, &f)),
            2 => {
                // A new section, maybe in the other byte order: the
                // interfaces are forgotten.
                let o2 = Order { big: rng.one_in(2) };
                b.extend(shb(o2));
                if rng.one_in(2) {
                    b.extend(idb(rng, o2, linktype));
                }
            }
            _ => {
                let units = if rng.one_in(10) {
                    rng.next_u64()
                } else {
                    *t as u64
                };
                let mut body = Vec::new();
                let ty = if rng.one_in(15) {
                    body.extend(o.u16(id as u16));
                    body.extend(o.u16(0));
                    2
                } else {
                    body.extend(o.u32(id as u32));
                    6
                };
                body.extend(o.u32((units >> 32) as u32));
                body.extend(o.u32(units as u32));
                let cap = f.len() as u32;
                body.extend(o.u32(if rng.one_in(40) {
                    field32(rng, cap)
                } else {
                    cap
                }));
                body.extend(o.u32(if rng.one_in(6) {
                    field32(rng, cap)
                } else {
                    cap
                }));
                body.extend(&f);
                body.resize(body.len().div_ceil(4) * 4, 0);
                if rng.one_in(3) {
                    body.extend(option(o, 1, rng.pick(COMMENTS).as_bytes()));
                }
                b.extend(block(o, ty, &body));
            }
        }
    }
    b
}

/// A seed mutated in one of its format's fields (or byte-wise when it is
/// not a capture this knows).
pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    if b.len() < 24 {
        return b;
    }
    let magic_le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if magic_le == 0x0a0d_0d0a {
        mutate_pcapng(rng, &mut b);
    } else {
        let big = matches!(magic_le, 0xd4c3_b2a1 | 0x4d3c_b2a1);
        mutate_pcap(rng, Order { big }, &mut b);
    }
    b
}

/// Byte offsets of a pcap's record headers.
fn pcap_records(o: Order, b: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() && out.len() < 100_000 {
        out.push(at);
        at += 16 + o.read32(&b[at + 8..]) as usize;
    }
    out
}

fn mutate_pcap(rng: &mut Rng, o: Order, b: &mut [u8]) {
    let recs = pcap_records(o, b);
    for _ in 0..rng.below(4) + 1 {
        match rng.below(6) {
            0 => b[16..20].copy_from_slice(&o.u32(field32(rng, 65_535))),
            1 => b[20..24].copy_from_slice(&o.u32(*rng.pick(LINK_TYPES))),
            _ if recs.is_empty() => {}
            2 => {
                // A jump in time: this record's seconds, or all from here.
                let from = rng.below(recs.len());
                let secs = field32(rng, 0);
                let all = rng.one_in(2);
                for &r in recs
                    .iter()
                    .skip(from)
                    .take(if all { usize::MAX } else { 1 })
                {
                    b[r..r + 4].copy_from_slice(&o.u32(secs));
                }
            }
            3 => {
                let r = *rng.pick(&recs);
                let v = field32(rng, 999_999);
                b[r + 4..r + 8].copy_from_slice(&o.u32(v));
            }
            4 => {
                let r = *rng.pick(&recs);
                let v = field32(rng, o.read32(&b[r + 12..]));
                b[r + 12..r + 16].copy_from_slice(&o.u32(v));
            }
            _ => {
                let r = *rng.pick(&recs);
                let v = field32(rng, o.read32(&b[r + 8..]));
                b[r + 8..r + 12].copy_from_slice(&o.u32(v));
            }
        }
    }
}

/// A pcapng block: its type and its body (without the length fields).
type Block = (u32, Vec<u8>);

/// A pcapng seed as blocks (type, body without the length fields), in the
/// first section's byte order; the bytes past the first block that does not
/// parse are kept as they are.
fn pcapng_blocks(b: &[u8]) -> (Order, Vec<Block>, Vec<u8>) {
    let big = b.len() >= 12 && b[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
    let o = Order { big };
    let mut at = 0;
    let mut out = Vec::new();
    while at + 12 <= b.len() {
        let len = o.read32(&b[at + 4..]) as usize;
        if len < 12 || len % 4 != 0 || at + len > b.len() {
            break;
        }
        out.push((o.read32(&b[at..]), b[at + 8..at + len - 4].to_vec()));
        at += len;
    }
    (o, out, b[at..].to_vec())
}

fn mutate_pcapng(rng: &mut Rng, b: &mut Vec<u8>) {
    let (o, mut blocks, tail) = pcapng_blocks(b);
    if blocks.is_empty() {
        return;
    }
    let mut raw_len: Option<(usize, u32)> = None;
    for _ in 0..rng.below(3) + 1 {
        let i = rng.below(blocks.len());
        let (ty, body) = &mut blocks[i];
        match (rng.below(8), *ty) {
            (0, _) => {
                // A wrong total length (leading copy, or both).
                let len = 12 + body.len() as u32;
                raw_len = Some((i, field32(rng, len)));
            }
            (1, 1) if body.len() >= 8 => {
                body[0..2].copy_from_slice(&o.u16(*rng.pick(LINK_TYPES) as u16));
                if rng.one_in(2) {
                    body[4..8].copy_from_slice(&o.u32(field32(rng, 65_535)));
                }
            }
            (2, 1) if body.len() >= 8 => {
                // New timestamp options, placed first so they are read.
                let mut opts = option(o, 9, &[*rng.pick(TSRESOL)]);
                opts.extend(tsoffset_option(rng, o));
                body.splice(8..8, opts);
            }
            (3, 6) if body.len() >= 20 => {
                let cap = o.read32(&body[12..]);
                let f = if rng.one_in(2) { 12 } else { 16 };
                body[f..f + 4].copy_from_slice(&o.u32(field32(rng, cap)));
            }
            (4, 6 | 2) if body.len() >= 12 => {
                let v = rng.next_u64() >> rng.below(64);
                body[4..8].copy_from_slice(&o.u32((v >> 32) as u32));
                body[8..12].copy_from_slice(&o.u32(v as u32));
            }
            (5, 6) if body.len() >= 4 => {
                body[0..4].copy_from_slice(&o.u32(field32(rng, 0)));
            }
            (6, _) => {
                // A block repeated (an interface described many times, a
                // packet twice) or moved.
                let copy = blocks[i].clone();
                let at = rng.below(blocks.len() + 1);
                let times = if rng.one_in(10) { 300 } else { 1 };
                for _ in 0..times {
                    blocks.insert(at, copy.clone());
                }
                if rng.one_in(2) {
                    blocks.remove(if at <= i { i + times } else { i });
                }
            }
            _ => {
                let at = rng.below(blocks.len() + 1);
                let new = match rng.below(3) {
                    0 => {
                        let linktype = *rng.pick(LINK_TYPES);
                        (1, idb(rng, o, linktype)[8..].to_vec())
                    }
                    1 => (3, o.u32(field32(rng, 40)).to_vec()),
                    _ => (0x0000_0005, vec![0; rng.below(3) * 4]),
                };
                let body_len = new.1.len() - if new.0 == 1 { 4 } else { 0 };
                blocks.insert(at, (new.0, new.1[..body_len].to_vec()));
            }
        }
    }
    b.clear();
    for (i, (ty, body)) in blocks.iter().enumerate() {
        let mut bl = block(o, *ty, body);
        if let Some((j, len)) = raw_len
            && i == j
        {
            bl[4..8].copy_from_slice(&o.u32(len));
        }
        b.extend(bl);
    }
    b.extend(tail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use scanbench_capture::CaptureReader;

    /// Frames the reader yields from `bytes` before its first error.
    fn frames(bytes: &[u8]) -> usize {
        CaptureReader::new(bytes, "t").map_or(0, |r| r.map_while(Result::ok).count())
    }

    /// Built captures are mostly readable (so the mutations reach the
    /// detectors), and each format and a broken one occur.
    #[test]
    fn built_captures_reach_the_detectors() {
        let mut rng = Rng::new(5);
        let built: Vec<Vec<u8>> = (0..300).map(|_| build(&mut rng)).collect();
        let readable = built.iter().filter(|b| frames(b) > 0).count();
        assert!(
            readable > 150,
            "{readable} of 300 built captures yield frames"
        );
        assert!(
            built
                .iter()
                .any(|b| b.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]))
        );
        assert!(
            built
                .iter()
                .any(|b| b.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1]))
        );
    }

    /// Field mutations of a built pcapng keep most of it readable: they
    /// change one field, not the framing of every block.
    #[test]
    fn field_mutations_keep_captures_readable() {
        let mut rng = Rng::new(9);
        let mut kept = 0;
        let mut changed = 0;
        for _ in 0..300 {
            let seed = build(&mut rng);
            let m = mutate(&mut rng, &seed);
            changed += usize::from(m != seed);
            kept += usize::from(frames(&m) > 0);
        }
        assert!(changed > 250, "{changed} of 300 mutated");
        assert!(kept > 100, "{kept} of 300 still yield frames");
    }
}
