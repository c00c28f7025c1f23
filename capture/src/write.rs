//! Capture writer: classic pcap and pcapng, for the simulator's taps.
//!
//! Every frame the simulator captures is a raw IPv4 packet, so both formats use
//! `LINKTYPE_RAW` (101): no fake Ethernet header is invented, and a frame
//! written here is byte for byte what the detectors saw.
//!
//! Rules this module keeps, so that the same seed gives a byte-identical file on
//! any machine:
//! - timestamps come only from the caller's virtual [`Instant`] (microseconds
//!   since the scenario's epoch); negative instants clamp to 0;
//! - nothing describes the host: the pcapng section header carries only
//!   `shb_userappl = "scanbench"` (no OS, hardware or version strings);
//! - nothing is flushed per frame: buffering is the caller's (wrap the sink in
//!   a [`std::io::BufWriter`]), and [`PcapWriter::finish`] flushes once.
//!
//! Ground-truth labels travel as pcapng per-packet comments (`opt_comment`),
//! which tshark shows as `frame.comment`. Classic pcap has nowhere to put them,
//! so comments are ignored there; use the labels side file instead.

use std::io::{self, Write};

use smoltcp::time::Instant;

use crate::format::{PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS, PCAP_VERSION, block, opt, padded};

/// `LINKTYPE_RAW`: each frame is a raw IPv4 (or IPv6) packet, no link header.
pub const LINKTYPE_RAW: u16 = crate::link::RAW as u16;

/// Largest frame stored whole. IPv4 packets never exceed it (the total-length
/// field is 16 bits), so in practice nothing is ever cut.
pub const SNAPLEN: u32 = 65_535;

/// Written as `shb_userappl`. Deliberately version-free: a version string would
/// make the same scenario produce different bytes after an upgrade.
const USER_APPL: &str = "scanbench";

/// Which file format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PcapFormat {
    /// Classic libpcap format, little-endian. `nanos` selects the nanosecond
    /// magic (`0xa1b23c4d`); otherwise microseconds (`0xa1b2c3d4`), which every
    /// tool reads. Per-packet comments are dropped.
    Pcap {
        /// Nanosecond timestamps instead of microseconds.
        nanos: bool,
    },
    /// pcapng with one interface and per-packet comments. `nanos` sets
    /// `if_tsresol` to 9 (nanoseconds); otherwise 6 (microseconds, the
    /// resolution of the virtual clock).
    Pcapng {
        /// Nanosecond timestamps instead of microseconds.
        nanos: bool,
    },
}

impl Default for PcapFormat {
    /// Classic pcap with microsecond timestamps: the most portable choice.
    fn default() -> Self {
        PcapFormat::Pcap { nanos: false }
    }
}

impl PcapFormat {
    /// The usual file extension, without the dot (`pcap` or `pcapng`).
    pub fn extension(self) -> &'static str {
        match self {
            PcapFormat::Pcap { .. } => "pcap",
            PcapFormat::Pcapng { .. } => "pcapng",
        }
    }

    /// True if the format stores per-packet comments (ground-truth labels).
    pub fn has_comments(self) -> bool {
        matches!(self, PcapFormat::Pcapng { .. })
    }

    /// The format to write at `path`: pcapng if asked (`pcapng`) or if the
    /// file name ends in `.pcapng` or `.ntar`, else classic pcap; `nanos`
    /// selects nanosecond timestamps in either.
    pub fn for_path(path: &std::path::Path, pcapng: bool, nanos: bool) -> PcapFormat {
        let by_name = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pcapng") || e.eq_ignore_ascii_case("ntar"));
        if pcapng || by_name {
            PcapFormat::Pcapng { nanos }
        } else {
            PcapFormat::Pcap { nanos }
        }
    }
}

/// Streams frames into a pcap or pcapng file.
///
/// The writer holds no per-frame state, so memory stays constant however long
/// the simulation runs.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    format: PcapFormat,
    frames: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header (for pcapng: the section header and the single
    /// interface description) and returns a writer ready for frames.
    ///
    /// # Errors
    /// Any error from `out`.
    pub fn new(mut out: W, format: PcapFormat) -> io::Result<Self> {
        match format {
            PcapFormat::Pcap { nanos } => {
                let magic = if nanos {
                    PCAP_MAGIC_NANOS
                } else {
                    PCAP_MAGIC_MICROS
                };
                let mut h = [0u8; 24];
                h[0..4].copy_from_slice(&magic.to_le_bytes());
                h[4..6].copy_from_slice(&PCAP_VERSION.0.to_le_bytes());
                h[6..8].copy_from_slice(&PCAP_VERSION.1.to_le_bytes());
                // thiszone (8..12) and sigfigs (12..16) stay 0: timestamps are UTC.
                h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
                h[20..24].copy_from_slice(&u32::from(LINKTYPE_RAW).to_le_bytes());
                out.write_all(&h)?;
            }
            PcapFormat::Pcapng { nanos } => {
                write_shb(&mut out)?;
                write_idb(&mut out, nanos)?;
            }
        }
        Ok(PcapWriter {
            out,
            format,
            frames: 0,
        })
    }

    /// Appends one frame (a raw IPv4 packet) captured at virtual time `at`.
    ///
    /// `comment` becomes the packet's `opt_comment` in pcapng (this is where
    /// ground-truth labels go); classic pcap has no comments and ignores it.
    /// An empty comment is not written.
    ///
    /// # Errors
    /// Any error from the sink; `InvalidInput` if the frame is longer than
    /// `u32::MAX` bytes, a pcapng comment is longer than 65535 bytes (the
    /// option length field is 16 bits; cutting a label would corrupt ground
    /// truth silently), or a classic pcap timestamp passes year 2106 (32-bit
    /// seconds). Nothing is written when an error is returned for bad input.
    pub fn write_frame(
        &mut self,
        at: Instant,
        bytes: &[u8],
        comment: Option<&str>,
    ) -> io::Result<()> {
        let micros = u64::try_from(at.total_micros()).unwrap_or(0);
        let orig_len = u32::try_from(bytes.len())
            .map_err(|_| invalid(format!("frame of {} bytes is too long", bytes.len())))?;
        let cap_len = orig_len.min(SNAPLEN);
        let data = &bytes[..cap_len as usize];
        match self.format {
            PcapFormat::Pcap { nanos } => {
                let secs = u32::try_from(micros / 1_000_000).map_err(|_| {
                    invalid(format!(
                        "timestamp {micros} us does not fit classic pcap's 32-bit seconds"
                    ))
                })?;
                let sub = (micros % 1_000_000) as u32;
                let frac = if nanos { sub * 1_000 } else { sub };
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&secs.to_le_bytes());
                h[4..8].copy_from_slice(&frac.to_le_bytes());
                h[8..12].copy_from_slice(&cap_len.to_le_bytes());
                h[12..16].copy_from_slice(&orig_len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(data)?;
            }
            PcapFormat::Pcapng { nanos } => {
                let units = if nanos {
                    micros.checked_mul(1_000).ok_or_else(|| {
                        invalid(format!(
                            "timestamp {micros} us does not fit pcapng's 64-bit nanoseconds"
                        ))
                    })?
                } else {
                    micros
                };
                let comment = comment.filter(|c| !c.is_empty());
                let comment_len = match comment {
                    Some(c) => Some(u16::try_from(c.len()).map_err(|_| {
                        invalid(format!(
                            "comment of {} bytes exceeds the pcapng option limit of 65535",
                            c.len()
                        ))
                    })?),
                    None => None,
                };
                // Body: 20 fixed bytes, padded data, then options if any.
                let mut total = 12 + 20 + padded(cap_len as usize);
                if let Some(n) = comment_len {
                    total += 4 + padded(usize::from(n)) + 4; // option + opt_endofopt
                }
                let total = u32::try_from(total)
                    .map_err(|_| invalid("enhanced packet block too long".to_string()))?;
                let mut h = [0u8; 28];
                h[0..4].copy_from_slice(&block::EPB.to_le_bytes());
                h[4..8].copy_from_slice(&total.to_le_bytes());
                h[8..12].copy_from_slice(&0u32.to_le_bytes()); // interface 0
                h[12..16].copy_from_slice(&((units >> 32) as u32).to_le_bytes());
                h[16..20].copy_from_slice(&(units as u32).to_le_bytes());
                h[20..24].copy_from_slice(&cap_len.to_le_bytes());
                h[24..28].copy_from_slice(&orig_len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(data)?;
                self.out.write_all(padding(data.len()))?;
                if let Some(c) = comment {
                    write_option(&mut self.out, opt::COMMENT, c.as_bytes())?;
                    write_option(&mut self.out, opt::END, &[])?;
                }
                self.out.write_all(&total.to_le_bytes())?;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Number of frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The format being written.
    pub fn format(&self) -> PcapFormat {
        self.format
    }

    /// Flushes the sink and hands it back (for a `BufWriter<File>`, call
    /// `into_inner` on it to surface a failed final write).
    ///
    /// # Errors
    /// Any error from flushing the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The zero bytes that pad `len` up to a multiple of 4.
fn padding(len: usize) -> &'static [u8] {
    &[0u8; 3][..padded(len) - len]
}

/// One pcapng option: code, length, value, zero padding.
fn write_option<W: Write>(out: &mut W, code: u16, value: &[u8]) -> io::Result<()> {
    // Callers pass values shorter than 64 KiB (checked or constant).
    let len = value.len() as u16;
    let mut h = [0u8; 4];
    h[0..2].copy_from_slice(&code.to_le_bytes());
    h[2..4].copy_from_slice(&len.to_le_bytes());
    out.write_all(&h)?;
    out.write_all(value)?;
    out.write_all(padding(value.len()))
}

/// Section Header Block, little-endian, version 1.0, section length unknown (-1).
fn write_shb<W: Write>(out: &mut W) -> io::Result<()> {
    let opts = 4 + padded(USER_APPL.len()) + 4;
    let total = (12 + 16 + opts) as u32;
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&block::SHB.to_le_bytes());
    h[4..8].copy_from_slice(&total.to_le_bytes());
    h[8..12].copy_from_slice(&block::BYTE_ORDER_MAGIC.to_le_bytes());
    h[12..14].copy_from_slice(&1u16.to_le_bytes());
    h[14..16].copy_from_slice(&0u16.to_le_bytes());
    h[16..24].copy_from_slice(&(-1i64).to_le_bytes());
    out.write_all(&h)?;
    write_option(out, opt::SHB_USERAPPL, USER_APPL.as_bytes())?;
    write_option(out, opt::END, &[])?;
    out.write_all(&total.to_le_bytes())
}

/// The single Interface Description Block: raw IPv4, microsecond (or
/// nanosecond) timestamps.
fn write_idb<W: Write>(out: &mut W, nanos: bool) -> io::Result<()> {
    let opts = 4 + 4 + 4; // if_tsresol (1 byte + 3 padding) + opt_endofopt
    let total = (12 + 8 + opts) as u32;
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&block::IDB.to_le_bytes());
    h[4..8].copy_from_slice(&total.to_le_bytes());
    h[8..10].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    // 10..12 reserved.
    h[12..16].copy_from_slice(&SNAPLEN.to_le_bytes());
    out.write_all(&h)?;
    write_option(out, opt::IF_TSRESOL, &[if nanos { 9 } else { 6 }])?; // 10^-n s
    write_option(out, opt::END, &[])?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16le(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32le(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn write(format: PcapFormat, frames: &[(i64, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), format).unwrap();
        for &(at, bytes, comment) in frames {
            w.write_frame(Instant::from_micros(at), bytes, comment)
                .unwrap();
        }
        assert_eq!(w.frames(), frames.len() as u64);
        w.finish().unwrap()
    }

    /// A minimal pcapng walker: (block type, body) per block, checking that
    /// both copies of every block length agree and are 32-bit aligned.
    fn blocks(b: &[u8]) -> Vec<(u32, &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let ty = u32le(b, at);
            let len = u32le(b, at + 4) as usize;
            assert_eq!(len % 4, 0, "block at {at} not aligned");
            assert_eq!(u32le(b, at + len - 4) as usize, len, "trailing length");
            out.push((ty, &b[at + 8..at + len - 4]));
            at += len;
        }
        assert_eq!(at, b.len());
        out
    }

    /// Options as (code, value), checking padding and the end marker.
    fn options(mut b: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        loop {
            let code = u16le(b, 0);
            let len = usize::from(u16le(b, 2));
            if code == opt::END {
                assert_eq!(len, 0);
                assert_eq!(b.len(), 4, "bytes after opt_endofopt");
                return out;
            }
            out.push((code, &b[4..4 + len]));
            assert!(b[4 + len..4 + padded(len)].iter().all(|&x| x == 0));
            b = &b[4 + padded(len)..];
        }
    }

    #[test]
    fn classic_header_bytes() {
        let b = write(PcapFormat::Pcap { nanos: false }, &[]);
        assert_eq!(
            b,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101,
                0, 0, 0
            ]
        );
        let b = write(PcapFormat::Pcap { nanos: true }, &[]);
        assert_eq!(&b[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(b.len(), 24);
    }

    #[test]
    fn classic_record_micros_and_nanos() {
        let pkt = [0x45u8, 0, 0, 20, 1, 2, 3];
        let b = write(
            PcapFormat::Pcap { nanos: false },
            &[(3_000_123, &pkt, Some("ignored"))],
        );
        assert_eq!(b.len(), 24 + 16 + pkt.len(), "comment must not be written");
        assert_eq!(u32le(&b, 24), 3);
        assert_eq!(u32le(&b, 28), 123);
        assert_eq!(u32le(&b, 32), 7);
        assert_eq!(u32le(&b, 36), 7);
        assert_eq!(&b[40..], &pkt);

        let b = write(PcapFormat::Pcap { nanos: true }, &[(3_000_123, &pkt, None)]);
        assert_eq!(u32le(&b, 24), 3);
        assert_eq!(u32le(&b, 28), 123_000);
    }

    #[test]
    fn negative_time_clamps_to_zero() {
        let b = write(PcapFormat::Pcap { nanos: false }, &[(-5, &[0x45], None)]);
        assert_eq!((u32le(&b, 24), u32le(&b, 28)), (0, 0));
        let b = write(PcapFormat::Pcapng { nanos: false }, &[(-5, &[0x45], None)]);
        let epb = blocks(&b)[2].1;
        assert_eq!((u32le(epb, 4), u32le(epb, 8)), (0, 0));
    }

    #[test]
    fn classic_rejects_timestamps_past_2106() {
        let mut w = PcapWriter::new(Vec::new(), PcapFormat::default()).unwrap();
        let at = Instant::from_secs(i64::from(u32::MAX) + 1);
        let err = w.write_frame(at, &[0x45], None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.frames(), 0);
        assert_eq!(w.finish().unwrap().len(), 24, "nothing written on error");
    }

    #[test]
    fn pcapng_section_and_interface() {
        let b = write(PcapFormat::Pcapng { nanos: false }, &[]);
        let bl = blocks(&b);
        assert_eq!(bl.len(), 2);

        let (ty, shb) = bl[0];
        assert_eq!(ty, block::SHB);
        assert_eq!(u32le(shb, 0), block::BYTE_ORDER_MAGIC);
        assert_eq!((u16le(shb, 4), u16le(shb, 6)), (1, 0));
        assert_eq!(&shb[8..16], &[0xff; 8], "section length unknown");
        assert_eq!(
            options(&shb[16..]),
            [(opt::SHB_USERAPPL, &b"scanbench"[..])]
        );

        let (ty, idb) = bl[1];
        assert_eq!(ty, block::IDB);
        assert_eq!(u16le(idb, 0), 101);
        assert_eq!(u16le(idb, 2), 0);
        assert_eq!(u32le(idb, 4), 65_535);
        assert_eq!(options(&idb[8..]), [(opt::IF_TSRESOL, &[6u8][..])]);
    }

    #[test]
    fn pcapng_packets_with_and_without_comment() {
        let p1 = [0x45u8, 1, 2, 3, 4];
        let p2 = [0x45u8, 9, 9, 9];
        let at = (7u64 << 32) + 42; // exercises the high timestamp word
        let b = write(
            PcapFormat::Pcapng { nanos: false },
            &[
                (at as i64, &p1, Some("actor=scanner cause=scan")),
                (1, &p2, None),
                (2, &p2, Some("")),
            ],
        );
        let bl = blocks(&b);
        assert_eq!(bl.len(), 5);

        let (ty, epb) = bl[2];
        assert_eq!(ty, block::EPB);
        assert_eq!(u32le(epb, 0), 0, "interface id");
        assert_eq!((u32le(epb, 4), u32le(epb, 8)), (7, 42));
        assert_eq!((u32le(epb, 12), u32le(epb, 16)), (5, 5));
        assert_eq!(&epb[20..25], &p1);
        assert_eq!(&epb[25..28], &[0, 0, 0], "data padding");
        assert_eq!(
            options(&epb[28..]),
            [(opt::COMMENT, &b"actor=scanner cause=scan"[..])]
        );

        // No comment (or an empty one): no options at all, data only padded.
        for (_, epb) in &bl[3..] {
            assert_eq!(epb.len(), 20 + 4);
            assert_eq!(&epb[20..24], &p2);
        }
    }

    #[test]
    fn pcapng_rejects_oversized_comment() {
        let mut w = PcapWriter::new(Vec::new(), PcapFormat::Pcapng { nanos: false }).unwrap();
        let long = "x".repeat(70_000);
        let err = w
            .write_frame(Instant::ZERO, &[0x45], Some(&long))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Classic pcap ignores comments, so the same frame is fine there.
        let mut w = PcapWriter::new(Vec::new(), PcapFormat::default()).unwrap();
        w.write_frame(Instant::ZERO, &[0x45], Some(&long)).unwrap();
    }

    #[test]
    fn pcapng_nanos_resolution_and_units() {
        let b = write(
            PcapFormat::Pcapng { nanos: true },
            &[(3_000_123, &[0x45], None)],
        );
        let bl = blocks(&b);
        assert_eq!(options(&bl[1].1[8..]), [(opt::IF_TSRESOL, &[9u8][..])]);
        let epb = bl[2].1;
        let ts = (u64::from(u32le(epb, 4)) << 32) | u64::from(u32le(epb, 8));
        assert_eq!(ts, 3_000_123_000);
    }

    #[test]
    fn format_from_path() {
        use std::path::Path;
        let f = |p: &str, ng, ns| PcapFormat::for_path(Path::new(p), ng, ns);
        assert_eq!(f("x.pcap", false, false), PcapFormat::Pcap { nanos: false });
        assert_eq!(
            f("x.pcapng", false, false),
            PcapFormat::Pcapng { nanos: false }
        );
        assert_eq!(
            f("x.PCAPNG", false, true),
            PcapFormat::Pcapng { nanos: true }
        );
        assert_eq!(f("x.pcap", true, true), PcapFormat::Pcapng { nanos: true });
        assert_eq!(f("-", false, true), PcapFormat::Pcap { nanos: true });
    }

    #[test]
    fn extensions_and_default() {
        assert_eq!(PcapFormat::default(), PcapFormat::Pcap { nanos: false });
        assert_eq!(PcapFormat::default().extension(), "pcap");
        assert_eq!(PcapFormat::Pcapng { nanos: false }.extension(), "pcapng");
        assert!(PcapFormat::Pcapng { nanos: false }.has_comments());
    }

    proptest::proptest! {
        /// Same input, same bytes; and the pcapng block structure always
        /// parses with matching lengths and alignment, whatever the sizes.
        #[test]
        fn deterministic_and_well_formed(
            frames in proptest::collection::vec(
                (-10i64..1i64 << 40,
                 proptest::collection::vec(proptest::num::u8::ANY, 0..70),
                 proptest::option::of("[ -~]{0,9}")),
                0..8),
        ) {
            let frames: Vec<(i64, &[u8], Option<&str>)> = frames
                .iter()
                .map(|(t, b, c)| (*t, b.as_slice(), c.as_deref()))
                .collect();
            let a = write(PcapFormat::Pcapng { nanos: false }, &frames);
            proptest::prop_assert_eq!(&a, &write(PcapFormat::Pcapng { nanos: false }, &frames));
            let bl = blocks(&a);
            proptest::prop_assert_eq!(bl.len(), 2 + frames.len());
            for ((_, epb), (t, bytes, comment)) in bl[2..].iter().zip(&frames) {
                let ts = (u64::from(u32le(epb, 4)) << 32) | u64::from(u32le(epb, 8));
                proptest::prop_assert_eq!(ts, (*t).max(0) as u64);
                let n = u32le(epb, 12) as usize;
                proptest::prop_assert_eq!(&epb[20..20 + n], *bytes);
                let opts = if epb.len() > 20 + padded(n) {
                    options(&epb[20 + padded(n)..])
                } else {
                    Vec::new()
                };
                let want: Vec<(u16, &[u8])> = comment
                    .filter(|c| !c.is_empty())
                    .map(|c| (opt::COMMENT, c.as_bytes()))
                    .into_iter()
                    .collect();
                proptest::prop_assert_eq!(opts, want);
            }
        }
    }
}
