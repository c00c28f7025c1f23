//! Classic libpcap files: a 24-byte file header, then records of a 16-byte
//! header plus the captured bytes.
//!
//! The magic gives both the byte order of the writer and the timestamp unit:
//! `a1b2c3d4` microseconds, `a1b23c4d` nanoseconds, each either way round.
//! `thiszone` and `sigfigs` are ignored, as libpcap does (timestamps are UTC).

use super::{ErrorKind, MAX_RECORD, RawRecord, Source};
use crate::format::{PCAP_MAGIC_MICROS as MAGIC_MICROS, PCAP_MAGIC_NANOS as MAGIC_NANOS, order};
use crate::link;
use std::io::Read;

/// `(big_endian, nanos)` if the first four bytes are a classic pcap magic.
pub(super) fn sniff(magic: [u8; 4]) -> Option<(bool, bool)> {
    match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
        (MAGIC_MICROS, _) => Some((false, false)),
        (MAGIC_NANOS, _) => Some((false, true)),
        (_, MAGIC_MICROS) => Some((true, false)),
        (_, MAGIC_NANOS) => Some((true, true)),
        _ => None,
    }
}

/// State after the file header.
pub(super) struct Reader {
    big_endian: bool,
    nanos: bool,
    linktype: u32,
}

impl Reader {
    /// Reads the rest of the file header (the magic is already consumed).
    pub(super) fn start<R: Read>(
        src: &mut Source<R>,
        big_endian: bool,
        nanos: bool,
    ) -> Result<Self, ErrorKind> {
        let mut h = [0u8; 20];
        let n = src.fill(&mut h)?;
        if n < h.len() {
            return Err(ErrorKind::TruncatedHeader {
                offset: 0,
                what: "file header",
                needed: 24,
                present: 4 + n as u64,
            });
        }
        let r = Reader {
            big_endian,
            nanos,
            linktype: 0,
        };
        let (major, minor) = (r.u16(&h[0..2]), r.u16(&h[2..4]));
        // 2.4 is the only version written since 1998; libpcap also reads 2.x
        // with x < 4 and treats the records identically.
        if major != 2 {
            return Err(ErrorKind::UnsupportedVersion {
                offset: 4,
                what: "pcap",
                major,
                minor,
            });
        }
        // Upper bits of the link-type field carry FCS information; the link
        // type itself is the low 16 bits. Any FCS is trimmed later by cutting
        // the packet to its IPv4 total length.
        let linktype = r.u32(&h[16..20]) & 0xffff;
        if !link::is_supported(linktype) {
            return Err(ErrorKind::UnsupportedLinkType {
                offset: 20,
                linktype,
                name: link::name(linktype),
            });
        }
        Ok(Reader { linktype, ..r })
    }

    pub(super) fn linktype(&self) -> u32 {
        self.linktype
    }

    #[inline]
    fn u16(&self, b: &[u8]) -> u16 {
        order::u16(self.big_endian, b)
    }

    #[inline]
    fn u32(&self, b: &[u8]) -> u32 {
        order::u32(self.big_endian, b)
    }

    /// The next record, its bytes in `buf`; `None` at a clean end of file.
    pub(super) fn next<R: Read>(
        &mut self,
        src: &mut Source<R>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<RawRecord>, ErrorKind> {
        let offset = src.offset;
        let mut h = [0u8; 16];
        if !src.header(&mut h, "record header")? {
            return Ok(None);
        }
        let secs = self.u32(&h[0..4]);
        let frac = self.u32(&h[4..8]);
        let incl_len = self.u32(&h[8..12]);
        let orig_len = self.u32(&h[12..16]);
        if incl_len > MAX_RECORD {
            return Err(ErrorKind::Corrupted {
                offset,
                what: "record length",
                detail: format!(
                    "record header says {incl_len} bytes, more than the {MAX_RECORD}-byte limit"
                ),
            });
        }
        let (data, got) = src.record(buf, incl_len as usize)?;
        if got < incl_len as usize {
            return Err(ErrorKind::TruncatedRecord {
                offset,
                what: "record",
                needed: u64::from(incl_len),
                present: got as u64,
            });
        }
        let unit: i128 = if self.nanos { 1 } else { 1_000 };
        Ok(Some(RawRecord {
            offset,
            ts_nanos: i128::from(secs) * 1_000_000_000 + i128::from(frac) * unit,
            linktype: self.linktype,
            orig_len: u64::from(orig_len),
            comment: None,
            data,
        }))
    }
}
