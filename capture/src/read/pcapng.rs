//! pcapng files: a sequence of blocks `type, length, body, length`.
//!
//! Read: section headers (either byte order; a new section resets the
//! interfaces and may switch byte order), interface descriptions (link type,
//! snaplen, `if_tsresol` in powers of 10 or 2, `if_tsoffset`), and the three
//! packet blocks: enhanced (EPB), simple (SPB) and the obsolete packet block
//! (OPB) that old Wireshark versions wrote. Every other block (name
//! resolution, statistics, secrets, custom, ...) is skipped after its length
//! has been checked.
//!
//! Block lengths are checked strictly (multiple of 4, at least 12, the leading
//! and trailing copies equal) because a wrong length desynchronises every block
//! after it. Options are metadata and are read leniently: a malformed option
//! list ends the list, it does not reject the packet.

use super::{CaptureStats, ErrorKind, MAX_RECORD, Place, RawRecord, Source};
use crate::format::block::{
    BYTE_ORDER_MAGIC, EPB as EPB_TYPE, IDB as IDB_TYPE, OPB as OPB_TYPE, SHB as SHB_TYPE,
    SPB as SPB_TYPE,
};
use crate::format::opt::{COMMENT as OPT_COMMENT, END as OPT_END, IF_TSOFFSET, IF_TSRESOL};
use crate::format::{order, padded};
use std::io::Read;

/// More interfaces than an OPB can even name is corruption, and the cap keeps
/// memory bounded on hostile input.
const MAX_INTERFACES: usize = 1 << 16;

/// Timestamp unit of an interface: 10^-e or 2^-e seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolution {
    Pow10(u8),
    Pow2(u8),
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    resolution: Resolution,
    offset_secs: i64,
}

/// State within the current section.
pub(super) struct Reader {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp of the last timed packet, given to SPBs (which carry none) so
    /// that time never runs backwards for the detectors.
    last_ts: i128,
}

impl Reader {
    /// Reads the first section header; `magic` (the block type) is consumed.
    pub(super) fn start<R: Read>(
        src: &mut Source<R>,
        buf: &mut Vec<u8>,
    ) -> Result<Self, ErrorKind> {
        let mut r = Reader {
            big_endian: false,
            interfaces: Vec::new(),
            last_ts: 0,
        };
        let mut len_raw = [0u8; 4];
        let n = src.fill(&mut len_raw)?;
        if n < 4 {
            return Err(truncated_shb(0, 4 + n));
        }
        r.section(src, 0, len_raw, buf)?;
        Ok(r)
    }

    #[inline]
    fn u16(&self, b: &[u8]) -> u16 {
        order::u16(self.big_endian, b)
    }

    #[inline]
    fn u32(&self, b: &[u8]) -> u32 {
        order::u32(self.big_endian, b)
    }

    fn i64(&self, b: &[u8]) -> i64 {
        order::i64(self.big_endian, b)
    }

    /// Reads the rest of a section header block starting at `offset`, whose
    /// type and (not yet decodable) length are consumed, and starts a new
    /// section.
    fn section<R: Read>(
        &mut self,
        src: &mut Source<R>,
        offset: u64,
        len_raw: [u8; 4],
        buf: &mut Vec<u8>,
    ) -> Result<(), ErrorKind> {
        let mut bom = [0u8; 4];
        let n = src.fill(&mut bom)?;
        if n < 4 {
            return Err(truncated_shb(offset, 8 + n));
        }
        self.big_endian = match (u32::from_le_bytes(bom), u32::from_be_bytes(bom)) {
            (BYTE_ORDER_MAGIC, _) => false,
            (_, BYTE_ORDER_MAGIC) => true,
            _ => {
                return Err(ErrorKind::Corrupted {
                    offset,
                    what: "section header block",
                    detail: format!(
                        "byte-order magic {:#010x}, expected 0x1a2b3c4d",
                        u32::from_be_bytes(bom)
                    ),
                });
            }
        };
        let len = self.u32(&len_raw);
        // Type, length, magic, version (4), section length (8), trailing length.
        check_len(offset, len, 28)?;
        let rest = (len - 12) as usize;
        let got = src.fill_vec(buf, rest)?;
        if got < rest {
            return Err(truncated_block(offset, len, 12 + got));
        }
        self.check_trailer(offset, len, buf)?;
        let (major, minor) = (self.u16(&buf[0..2]), self.u16(&buf[2..4]));
        if major != 1 {
            return Err(ErrorKind::UnsupportedVersion {
                offset,
                what: "pcapng",
                major,
                minor,
            });
        }
        self.interfaces.clear();
        Ok(())
    }

    /// Checks the trailing copy of the block length (the last 4 bytes of
    /// `buf`) and cuts it off, leaving the block's own fields in `buf`.
    fn check_trailer(&self, offset: u64, len: u32, buf: &mut Vec<u8>) -> Result<(), ErrorKind> {
        let at = buf.len() - 4;
        let trailing = self.u32(&buf[at..]);
        if trailing != len {
            return Err(ErrorKind::Corrupted {
                offset,
                what: "block length",
                detail: format!("leading length {len}, trailing length {trailing}"),
            });
        }
        buf.truncate(at);
        Ok(())
    }

    /// The next packet, its block body in `buf`; `None` at a clean end of file.
    pub(super) fn next<R: Read>(
        &mut self,
        src: &mut Source<R>,
        buf: &mut Vec<u8>,
        stats: &mut CaptureStats,
    ) -> Result<Option<RawRecord>, ErrorKind> {
        loop {
            let offset = src.offset;
            let mut h = [0u8; 8];
            if !src.header(&mut h, "block header")? {
                return Ok(None);
            }
            let ty = self.u32(&h[0..4]);
            if ty == SHB_TYPE {
                self.section(src, offset, [h[4], h[5], h[6], h[7]], buf)?;
                continue;
            }
            let len = self.u32(&h[4..8]);
            check_len(offset, len, 12)?;
            if !matches!(ty, IDB_TYPE | EPB_TYPE | SPB_TYPE | OPB_TYPE) {
                // Skip the body without keeping it, but still insist on the
                // trailing length: it is the only check that we stay in sync.
                let body = u64::from(len) - 12;
                let skipped = src.skip(body)?;
                let mut t = [0u8; 4];
                let n = src.fill(&mut t)?;
                if skipped < body || n < 4 {
                    return Err(truncated_block(offset, len, 8 + skipped as usize + n));
                }
                let mut tail = t.to_vec();
                self.check_trailer(offset, len, &mut tail)?;
                continue;
            }
            let rest = (len - 8) as usize;
            let got = src.fill_vec(buf, rest)?;
            if got < rest {
                return Err(truncated_block(offset, len, 8 + got));
            }
            self.check_trailer(offset, len, buf)?;
            match ty {
                IDB_TYPE => self.interface(offset, buf, stats)?,
                EPB_TYPE | OPB_TYPE => return self.timed_packet(offset, ty, buf).map(Some),
                _ => return self.simple_packet(offset, buf).map(Some),
            }
        }
    }

    fn interface(
        &mut self,
        offset: u64,
        body: &[u8],
        stats: &mut CaptureStats,
    ) -> Result<(), ErrorKind> {
        if body.len() < 8 {
            return Err(too_short(
                offset,
                "interface description block",
                body.len(),
                8,
            ));
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(ErrorKind::Corrupted {
                offset,
                what: "interface description block",
                detail: format!("more than {MAX_INTERFACES} interfaces in one section"),
            });
        }
        let mut iface = Interface {
            linktype: u32::from(self.u16(&body[0..2])),
            snaplen: self.u32(&body[4..8]),
            resolution: Resolution::Pow10(6),
            offset_secs: 0,
        };
        for (code, value) in self.options(&body[8..]) {
            match (code, value.len()) {
                (IF_TSRESOL, 1..) => {
                    let v = value[0];
                    iface.resolution = if v & 0x80 == 0 {
                        Resolution::Pow10(v)
                    } else {
                        Resolution::Pow2(v & 0x7f)
                    };
                }
                (IF_TSOFFSET, 8..) => iface.offset_secs = self.i64(value),
                _ => {}
            }
        }
        stats.saw_link_type(iface.linktype);
        self.interfaces.push(iface);
        Ok(())
    }

    fn lookup(&self, offset: u64, id: u32) -> Result<Interface, ErrorKind> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or_else(|| ErrorKind::Corrupted {
                offset,
                what: "interface id",
                detail: format!(
                    "packet names interface {id}, but the section describes {}",
                    self.interfaces.len()
                ),
            })
    }

    /// EPB or OPB: same layout except that an OPB's interface id is 16 bits
    /// followed by a 16-bit drop count.
    fn timed_packet(&mut self, offset: u64, ty: u32, body: &[u8]) -> Result<RawRecord, ErrorKind> {
        let what = if ty == EPB_TYPE {
            "enhanced packet block"
        } else {
            "packet block"
        };
        if body.len() < 20 {
            return Err(too_short(offset, what, body.len(), 20));
        }
        let id = if ty == EPB_TYPE {
            self.u32(&body[0..4])
        } else {
            u32::from(self.u16(&body[0..2]))
        };
        let iface = self.lookup(offset, id)?;
        let units = (u64::from(self.u32(&body[4..8])) << 32) | u64::from(self.u32(&body[8..12]));
        let cap_len = self.u32(&body[12..16]) as usize;
        let orig_len = self.u32(&body[16..20]);
        if cap_len > body.len() - 20 {
            return Err(ErrorKind::Corrupted {
                offset,
                what: "captured length",
                detail: format!(
                    "{what} says {cap_len} captured bytes, but holds {}",
                    body.len() - 20
                ),
            });
        }
        let ts_nanos = to_nanos(units, iface.resolution, iface.offset_secs);
        self.last_ts = ts_nanos;
        let opts_at = (20 + padded(cap_len)).min(body.len());
        Ok(RawRecord {
            offset,
            ts_nanos,
            linktype: iface.linktype,
            orig_len: u64::from(orig_len),
            comment: self.comment(&body[opts_at..]),
            data: Place::Scratch(20..20 + cap_len),
        })
    }

    /// SPB: interface 0, no timestamp (the previous packet's is reused), and
    /// the captured length implied by the block length and the snaplen.
    fn simple_packet(&mut self, offset: u64, body: &[u8]) -> Result<RawRecord, ErrorKind> {
        if body.len() < 4 {
            return Err(too_short(offset, "simple packet block", body.len(), 4));
        }
        let iface = self.lookup(offset, 0)?;
        let orig_len = self.u32(&body[0..4]);
        let mut cap_len = (orig_len as usize).min(body.len() - 4);
        if iface.snaplen != 0 {
            cap_len = cap_len.min(iface.snaplen as usize);
        }
        Ok(RawRecord {
            offset,
            ts_nanos: self.last_ts,
            linktype: iface.linktype,
            orig_len: u64::from(orig_len),
            comment: None,
            data: Place::Scratch(4..4 + cap_len),
        })
    }

    /// The options in `b` as `(code, value)`, stopping at `opt_endofopt` or at
    /// the first option that does not fit.
    fn options<'a>(&self, mut b: &'a [u8]) -> Vec<(u16, &'a [u8])> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let code = self.u16(&b[0..2]);
            let len = usize::from(self.u16(&b[2..4]));
            if code == OPT_END || 4 + len > b.len() {
                break;
            }
            out.push((code, &b[4..4 + len]));
            b = &b[(4 + padded(len)).min(b.len())..];
        }
        out
    }

    /// All `opt_comment`s of a packet, joined by newlines.
    fn comment(&self, opts: &[u8]) -> Option<String> {
        let mut comment: Option<String> = None;
        for (_, value) in self
            .options(opts)
            .into_iter()
            .filter(|&(code, _)| code == OPT_COMMENT)
        {
            let text = String::from_utf8_lossy(value);
            match &mut comment {
                Some(c) => {
                    c.push('\n');
                    c.push_str(&text);
                }
                None => comment = Some(text.into_owned()),
            }
        }
        comment
    }
}

/// Converts a timestamp in interface units to nanoseconds, exactly for every
/// resolution down to 1 ns and rounded down below that. Cannot overflow:
/// 2^64 units times 10^9 fits easily in an `i128`.
fn to_nanos(units: u64, resolution: Resolution, offset_secs: i64) -> i128 {
    let u = i128::from(units);
    let ns = match resolution {
        Resolution::Pow10(e) if e <= 9 => u * 10i128.pow(u32::from(9 - e)),
        Resolution::Pow10(e) => match 10i128.checked_pow(u32::from(e - 9)) {
            Some(div) => u / div,
            None => 0,
        },
        Resolution::Pow2(e) if e < 100 => (u * 1_000_000_000) >> e,
        Resolution::Pow2(_) => 0,
    };
    ns + i128::from(offset_secs) * 1_000_000_000
}

fn check_len(offset: u64, len: u32, min: u32) -> Result<(), ErrorKind> {
    if len < min || len % 4 != 0 || len > MAX_RECORD {
        return Err(ErrorKind::Corrupted {
            offset,
            what: "block length",
            detail: format!(
                "block header says {len} bytes; must be a multiple of 4 from {min} to {MAX_RECORD}"
            ),
        });
    }
    Ok(())
}

fn truncated_shb(offset: u64, present: usize) -> ErrorKind {
    ErrorKind::TruncatedHeader {
        offset,
        what: "section header block",
        needed: 28,
        present: present as u64,
    }
}

fn truncated_block(offset: u64, len: u32, present: usize) -> ErrorKind {
    ErrorKind::TruncatedRecord {
        offset,
        what: "block",
        needed: u64::from(len),
        present: present as u64,
    }
}

fn too_short(offset: u64, what: &'static str, body: usize, needed: usize) -> ErrorKind {
    ErrorKind::Corrupted {
        offset,
        what,
        detail: format!("block body of {body} bytes, at least {needed} needed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions() {
        assert_eq!(to_nanos(1_500_000, Resolution::Pow10(6), 0), 1_500_000_000);
        assert_eq!(to_nanos(7, Resolution::Pow10(9), 0), 7);
        assert_eq!(to_nanos(3, Resolution::Pow10(0), 0), 3_000_000_000);
        assert_eq!(to_nanos(12_345, Resolution::Pow10(12), 0), 12);
        assert_eq!(to_nanos(u64::MAX, Resolution::Pow10(127), 0), 0);
        // 2^-10 s units: 1024 units are one second.
        assert_eq!(to_nanos(1024, Resolution::Pow2(10), 0), 1_000_000_000);
        assert_eq!(to_nanos(1, Resolution::Pow2(1), 0), 500_000_000);
        assert_eq!(to_nanos(u64::MAX, Resolution::Pow2(127), 0), 0);
        assert_eq!(to_nanos(0, Resolution::Pow10(6), -2), -2_000_000_000);
        assert_eq!(to_nanos(u64::MAX, Resolution::Pow10(0), i64::MAX), {
            i128::from(u64::MAX) * 1_000_000_000 + i128::from(i64::MAX) * 1_000_000_000
        });
    }
}
