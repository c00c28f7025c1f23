//! Capture reader: real pcap and pcapng files in, IPv4 packets with
//! timestamps out (what `scanbench replay` reads).
//!
//! Layers:
//! - [`CaptureReader`] sniffs the format from the first four bytes and
//!   streams [`Frame`]s: one record is read, decoded and handed out at a time,
//!   so memory does not grow with the file (a 256 KiB read-ahead buffer, out
//!   of which classic pcap records are handed without a copy, and one scratch
//!   buffer, sized by the largest record that is copied). The read-ahead
//!   buffers can be handed on to other threads instead of reused
//!   ([`BlockSink`], [`CaptureReader::with_blocks`]).
//! - `pcap` (classic libpcap, both byte orders, µs and ns magics) and `pcapng`
//!   (sections of either byte order, several interfaces, EPB/SPB/OPB,
//!   `if_tsresol`/`if_tsoffset`) turn bytes into link-layer records.
//! - [`crate::link`] strips the link-layer header (Ethernet with stacked VLAN tags,
//!   Linux SLL/SLL2, BSD loopback, raw IP) and keeps only IPv4; anything else is
//!   counted in [`CaptureStats`] and skipped, because detectors read IPv4 only.
//!
//! Guarantees: no byte sequence makes the reader panic or allocate more than
//! [`MAX_RECORD`] at once; damage is a [`CaptureError`] naming the file and the
//! byte offset where the damaged record or block starts. Frames before the
//! damage have already been yielded, and after an error the reader is done.

mod blocks;
mod pcap;
mod pcapng;

pub use blocks::{BlockSink, FramePlace};

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use smoltcp::time::Instant;

use crate::link;

/// Largest record or block accepted. A length beyond this is treated as
/// corruption rather than allocated: real snaplens stop at 256 KiB, and a
/// flipped bit in a length field must not make the reader grab gigabytes.
pub const MAX_RECORD: u32 = 256 << 20;

/// Records up to this length are read into a buffer sized up front.
const EAGER_FILL: usize = 64 << 10;

/// One captured IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Ordinal of the record in the file, 0-based, counting records that were
    /// skipped (non-IPv4), so it equals Wireshark's frame number minus 1.
    pub index: u64,
    /// Capture time in nanoseconds since the Unix epoch (or since the
    /// scenario's epoch for scanbench's own files). Signed and wide so that
    /// `if_tsoffset` and odd resolutions cannot overflow.
    pub ts_nanos: i128,
    /// The IPv4 packet, link-layer header removed and trimmed to the IPv4
    /// total length (dropping Ethernet padding and FCS). May be shorter than
    /// the packet on the wire if the capture's snaplen cut it.
    pub bytes: Vec<u8>,
    /// The pcapng packet comment (`opt_comment`; several are joined with a
    /// newline). scanbench writes its ground-truth labels here.
    pub comment: Option<String>,
}

/// One captured IPv4 packet, borrowed from the reader (see
/// [`CaptureReader::next_frame_ref`]); fields as in [`Frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Ordinal of the record in the file (see [`Frame::index`]).
    pub index: u64,
    /// Capture time in nanoseconds (see [`Frame::ts_nanos`]).
    pub ts_nanos: i128,
    /// The IPv4 packet (see [`Frame::bytes`]).
    pub bytes: &'a [u8],
    /// The pcapng packet comment (see [`Frame::comment`]).
    pub comment: Option<&'a str>,
    /// Where the bytes lie in the reader's blocks, if the reader hands its
    /// blocks on ([`CaptureReader::with_blocks`]) and the frame was handed
    /// out in place; `None` for a frame copied out of the input (pcapng
    /// blocks, records larger than a block).
    pub place: Option<FramePlace>,
}

impl FrameRef<'_> {
    /// The capture time as the detectors' clock (see [`Frame::at`]).
    /// Inline: a replay asks once per frame, from another crate.
    #[inline]
    pub fn at(&self) -> Instant {
        at(self.ts_nanos)
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Frame {
        Frame {
            index: self.index,
            ts_nanos: self.ts_nanos,
            bytes: self.bytes.to_vec(),
            comment: self.comment.map(str::to_string),
        }
    }
}

/// Nanoseconds to the detectors' clock: microseconds rounded down, saturating
/// far outside ±292,000 years.
#[inline]
fn at(ts_nanos: i128) -> Instant {
    if let Ok(n) = i64::try_from(ts_nanos) {
        // Every real timestamp (±292 years): 64-bit division, same result.
        return Instant::from_micros(n.div_euclid(1_000));
    }
    let micros = ts_nanos.div_euclid(1_000);
    let micros = micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Instant::from_micros(micros)
}

impl Frame {
    /// The capture time as the detectors' clock (microseconds, rounded down;
    /// saturates far outside ±292,000 years).
    pub fn at(&self) -> Instant {
        at(self.ts_nanos)
    }
}

/// Which container format was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap.
    Pcap {
        /// Nanosecond magic (`0xa1b23c4d`) rather than microseconds.
        nanos: bool,
        /// Written by a big-endian machine.
        big_endian: bool,
    },
    /// pcapng (byte order may change per section).
    Pcapng,
}

/// Counters kept while reading, for the replay summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureStats {
    /// Container format.
    pub format: CaptureFormat,
    /// Packet records read (pcap records; pcapng EPB, SPB and OPB).
    pub records: u64,
    /// Records that held an IPv4 packet and were yielded as frames.
    pub ipv4_frames: u64,
    /// Records skipped because they held something other than IPv4 (ARP,
    /// IPv6, LLC, other ethertypes, empty frames).
    pub skipped_non_ipv4: u64,
    /// Yielded frames whose captured length was below the original length
    /// (cut by the capture's snaplen): their IPv4 packet is incomplete.
    pub snapped: u64,
    /// Distinct link types declared by the file, in order of appearance
    /// (see [`link::name`]).
    pub link_types: Vec<u32>,
}

impl CaptureStats {
    fn new(format: CaptureFormat) -> Self {
        CaptureStats {
            format,
            records: 0,
            ipv4_frames: 0,
            skipped_non_ipv4: 0,
            snapped: 0,
            link_types: Vec::new(),
        }
    }

    fn saw_link_type(&mut self, linktype: u32) {
        if !self.link_types.contains(&linktype) {
            self.link_types.push(linktype);
        }
    }
}

/// A capture that cannot be read (further), naming the file and where.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {kind}")]
pub struct CaptureError {
    file: String,
    kind: ErrorKind,
}

impl CaptureError {
    /// The file name given to the reader.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Byte offset of the damaged record, block or field.
    pub fn offset(&self) -> u64 {
        match self.kind {
            ErrorKind::NotACapture { offset, .. }
            | ErrorKind::TruncatedHeader { offset, .. }
            | ErrorKind::TruncatedRecord { offset, .. }
            | ErrorKind::UnsupportedLinkType { offset, .. }
            | ErrorKind::UnsupportedVersion { offset, .. }
            | ErrorKind::Corrupted { offset, .. }
            | ErrorKind::Io { offset, .. } => offset,
            ErrorKind::Open { .. } => 0,
        }
    }
}

/// What is wrong with a capture, and the byte offset where it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first four bytes match neither pcap magic nor the pcapng SHB type.
    #[error("not a pcap or pcapng file (magic {magic:#010x}) at byte offset {offset}")]
    NotACapture {
        /// Always 0.
        offset: u64,
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// A fixed-size structure (file header, record header, block header) is cut.
    #[error("truncated {what} at byte offset {offset} ({needed} bytes needed, {present} present)")]
    TruncatedHeader {
        /// Start of the structure.
        offset: u64,
        /// Which structure.
        what: &'static str,
        /// Its size.
        needed: u64,
        /// Bytes left in the file.
        present: u64,
    },
    /// A record or block is cut: its header promised more bytes than the file has.
    #[error(
        "truncated {what} at byte offset {offset} ({what} header says {needed} bytes, {present} present)"
    )]
    TruncatedRecord {
        /// Start of the record or block.
        offset: u64,
        /// `record` or `block`.
        what: &'static str,
        /// Length its header gives (pcap: captured bytes after the 16-byte
        /// record header; pcapng: total block length).
        needed: u64,
        /// Bytes present from the same starting point.
        present: u64,
    },
    /// The link layer cannot be decoded, so its frames cannot be judged
    /// IPv4 or not. Reported for the pcap file header, or for the first
    /// pcapng packet on an interface of that type.
    #[error("unsupported link type {linktype} ({name}) at byte offset {offset}")]
    UnsupportedLinkType {
        /// The file header, or the packet block.
        offset: u64,
        /// The `LINKTYPE_*` value.
        linktype: u32,
        /// Its name if known.
        name: &'static str,
    },
    /// A format version this reader does not understand.
    #[error("unsupported {what} version {major}.{minor} at byte offset {offset}")]
    UnsupportedVersion {
        /// The header carrying the version.
        offset: u64,
        /// `pcap` or `pcapng`.
        what: &'static str,
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A length or reference that cannot be right.
    #[error("corrupted {what} at byte offset {offset} ({detail})")]
    Corrupted {
        /// Start of the damaged record or block.
        offset: u64,
        /// What is damaged (`record length`, `block length`, ...).
        what: &'static str,
        /// The evidence.
        detail: String,
    },
    /// The file could not be opened (it does not exist, or may not be read).
    #[error("{source}")]
    Open {
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The operating system failed to read.
    #[error("read error at byte offset {offset}: {source}")]
    Io {
        /// Where reading stopped.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// gzip's magic: the first two bytes of a `.pcap.gz`.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An input as read: the bytes themselves, or gzip decompressed on the fly
/// (`tcpdump -w - | gzip > x.pcap.gz` is common).
pub enum Input<R: Read> {
    /// Not compressed.
    Plain(R),
    /// gzip (one or more members, as `cat a.gz b.gz` makes).
    Gzip(Box<flate2::read::MultiGzDecoder<R>>),
}

impl<R: std::io::BufRead> Input<R> {
    /// Looks at the first bytes of `r` (without consuming them) and
    /// decompresses if they are gzip's magic.
    ///
    /// # Errors
    /// The first read fails.
    pub fn sniff(mut r: R) -> io::Result<Self> {
        let head = r.fill_buf()?;
        Ok(if head.starts_with(&GZIP_MAGIC) {
            Input::Gzip(Box::new(flate2::read::MultiGzDecoder::new(r)))
        } else {
            Input::Plain(r)
        })
    }
}

impl<R: Read> Input<R> {
    /// True if decompressing: byte offsets in errors then count
    /// decompressed bytes.
    pub fn is_gzip(&self) -> bool {
        matches!(self, Input::Gzip(_))
    }

    /// The underlying reader (the compressed one for gzip).
    pub fn into_inner(self) -> R {
        match self {
            Input::Plain(r) => r,
            Input::Gzip(d) => d.into_inner(),
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(d) => d.read(buf),
        }
    }
}

/// A link-layer record as stored in the file, before link decoding.
/// The captured bytes are in the source's read-ahead or the reader's
/// scratch buffer.
struct RawRecord {
    /// Byte offset of the record or block (for error messages).
    offset: u64,
    ts_nanos: i128,
    linktype: u32,
    orig_len: u64,
    comment: Option<String>,
    /// Where the captured link-layer bytes sit.
    data: Place,
}

/// Bytes a [`Source`] reads ahead; records up to this length are handed out
/// where they were read, without a copy.
const READ_AHEAD: usize = 256 << 10;

/// A byte source that knows its offset, so every error can name it.
///
/// It reads ahead into its own buffer (at most what one read of `r` returns,
/// and never waits for more bytes than the record in hand needs, so a pipe
/// still yields each frame as soon as it has arrived), and a record that
/// fits in the buffer is handed out in place ([`Self::record`]).
struct Source<R> {
    r: R,
    /// Bytes consumed so far (the unconsumed read-ahead not counted).
    offset: u64,
    /// Bytes read from `r`: `buf[pos..end]` are not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Where full buffers go instead of being reused in place.
    sink: Option<Box<dyn BlockSink + Send>>,
    /// Sequence number of `buf` among the blocks handed to `sink`.
    seq: u64,
    /// `buf[..carried]` came from the previous block (already handed on).
    carried: usize,
    /// Whether a frame in `buf` was handed out in place.
    handed_out: bool,
}

/// Where a record's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    /// In the source's read-ahead buffer.
    InPlace(std::ops::Range<usize>),
    /// In the reader's scratch buffer.
    Scratch(std::ops::Range<usize>),
}

impl<R: Read> Source<R> {
    fn new(r: R, mut sink: Option<Box<dyn BlockSink + Send>>) -> Self {
        let buf = match &mut sink {
            Some(s) => s.next_block(READ_AHEAD),
            None => vec![0; READ_AHEAD],
        };
        Source {
            r,
            offset: 0,
            buf,
            pos: 0,
            end: 0,
            sink,
            seq: 0,
            carried: 0,
            handed_out: false,
        }
    }

    /// Moves the unconsumed bytes to the front of a buffer: of this one, or,
    /// when blocks are handed on, of the sink's next block (retiring this one).
    fn move_to_front(&mut self) {
        let left = self.end - self.pos;
        match &mut self.sink {
            None => self.buf.copy_within(self.pos..self.end, 0),
            Some(sink) => {
                let mut next = sink.next_block(self.buf.len());
                next[..left].copy_from_slice(&self.buf[self.pos..self.end]);
                let full = std::mem::replace(&mut self.buf, next);
                sink.retire(self.seq, full, self.carried..self.end, self.handed_out);
                self.seq += 1;
                self.carried = left;
                self.handed_out = false;
            }
        }
        self.end = left;
        self.pos = 0;
    }

    /// Makes at least `len` (at most the buffer's size) bytes available
    /// unless the input ends first; returns how many are.
    fn ensure(&mut self, len: usize) -> Result<usize, ErrorKind> {
        let len = len.min(self.buf.len());
        if self.end - self.pos >= len {
            return Ok(self.end - self.pos);
        }
        if self.pos + len > self.buf.len() {
            self.move_to_front();
        }
        while self.end - self.pos < len {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ErrorKind::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        Ok(self.end - self.pos)
    }

    /// Consumes up to `n` available bytes; returns their place in the buffer.
    fn consume(&mut self, n: usize) -> std::ops::Range<usize> {
        let n = n.min(self.end - self.pos);
        let start = self.pos;
        self.pos += n;
        self.offset += n as u64;
        start..self.pos
    }

    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let mut n = 0;
        while n < buf.len() {
            if self.ensure(buf.len() - n)? == 0 {
                break;
            }
            let got = self.consume(buf.len() - n);
            buf[n..n + got.len()].copy_from_slice(&self.buf[got.clone()]);
            n += got.len();
        }
        Ok(n)
    }

    /// Reads up to `len` bytes into `buf` (replacing its contents); returns
    /// the bytes read. Past [`EAGER_FILL`] bytes the buffer grows only as
    /// bytes arrive (std's `read_to_end` through `take`, which also skips
    /// zero-filling), so a lying length field on a short file costs no more
    /// than the file holds.
    fn fill_vec(&mut self, buf: &mut Vec<u8>, len: usize) -> Result<usize, ErrorKind> {
        // A read error names where the record's bytes start.
        let offset = self.offset;
        let at_start = |e| match e {
            ErrorKind::Io { source, .. } => ErrorKind::Io { offset, source },
            other => other,
        };
        if len <= EAGER_FILL {
            // Every byte is overwritten or cut off below: only bytes the
            // buffer never held are zeroed (not each record's).
            if buf.len() < len {
                buf.resize(len, 0);
            } else {
                buf.truncate(len);
            }
            let n = self.fill(buf).map_err(at_start)?;
            buf.truncate(n);
            return Ok(n);
        }
        buf.clear();
        if self.sink.is_some() {
            // Every byte passes through the blocks, so the sink sees it.
            let mut left = len;
            while left > 0 {
                let step = left.min(self.buf.len());
                if self.ensure(step).map_err(at_start)? == 0 {
                    break;
                }
                let got = self.consume(step);
                left -= got.len();
                buf.extend_from_slice(&self.buf[got]);
            }
            return Ok(buf.len());
        }
        // What was read ahead, then the rest straight from the input.
        let ahead = self.consume(len);
        buf.extend_from_slice(&self.buf[ahead]);
        let rest = (len - buf.len()) as u64;
        match (&mut self.r).take(rest).read_to_end(buf) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(buf.len())
            }
            Err(source) => Err(ErrorKind::Io { offset, source }),
        }
    }

    /// Reads a record of `len` bytes: in place if it fits in the read-ahead
    /// buffer, else into `scratch` (as [`Self::fill_vec`]). Returns where,
    /// and how many bytes the input had (fewer than `len` if it ended).
    fn record(&mut self, scratch: &mut Vec<u8>, len: usize) -> Result<(Place, usize), ErrorKind> {
        if len > self.buf.len() {
            let n = self.fill_vec(scratch, len)?;
            return Ok((Place::Scratch(0..n), n));
        }
        // Most records are read ahead already.
        if self.end - self.pos >= len {
            let range = self.consume(len);
            return Ok((Place::InPlace(range), len));
        }
        // A read error names where the record's bytes start (nothing of
        // it is consumed yet).
        self.ensure(len)?;
        let range = self.consume(len);
        let n = range.len();
        Ok((Place::InPlace(range), n))
    }

    /// Reads a fixed-size header into `h`: `false` at a clean end of input
    /// (no byte left), an error naming `what` if the input ends inside it.
    fn header(&mut self, h: &mut [u8], what: &'static str) -> Result<bool, ErrorKind> {
        // Most headers are read ahead already: one copy, no loop.
        if let Some(ahead) = self.buf[self.pos..self.end].get(..h.len()) {
            h.copy_from_slice(ahead);
            self.consume(h.len());
            return Ok(true);
        }
        let offset = self.offset;
        match self.fill(h)? {
            0 => Ok(false),
            n if n == h.len() => Ok(true),
            n => Err(ErrorKind::TruncatedHeader {
                offset,
                what,
                needed: h.len() as u64,
                present: n as u64,
            }),
        }
    }

    /// Discards `len` bytes; returns how many were there.
    fn skip(&mut self, len: u64) -> Result<u64, ErrorKind> {
        let mut left = len;
        while left > 0 {
            let step = left.min(self.buf.len() as u64) as usize;
            if self.ensure(step)? == 0 {
                break;
            }
            left -= self.consume(step).len() as u64;
        }
        Ok(len - left)
    }

    /// The input, after what was read ahead; the last block is retired to
    /// the sink first.
    fn into_inner(mut self) -> R {
        if let Some(sink) = &mut self.sink {
            let last = std::mem::take(&mut self.buf);
            sink.retire(self.seq, last, self.carried..self.end, self.handed_out);
        }
        self.r
    }
}

enum Format {
    Pcap(pcap::Reader),
    Pcapng(pcapng::Reader),
}

/// Streams IPv4 frames out of a pcap or pcapng file.
///
/// Also an [`Iterator`] over `Result<Frame, CaptureError>`, ending after the
/// first error.
pub struct CaptureReader<R: Read> {
    src: Source<R>,
    name: String,
    format: Format,
    scratch: Vec<u8>,
    /// The comment of the frame last handed out by reference.
    comment: Option<String>,
    stats: CaptureStats,
    done: bool,
}

impl CaptureReader<BufReader<File>> {
    /// Opens `path` and reads its file header.
    ///
    /// # Errors
    /// The file cannot be opened, or its header is not pcap or pcapng (see
    /// [`CaptureReader::new`]).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        CaptureReader::open_with(path, |f| f)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Opens `path`, wraps the (buffered) file with `wrap` (to count or hash
    /// the bytes as they are read), and reads the file header.
    ///
    /// # Errors
    /// As [`CaptureReader::open`].
    pub fn open_with(
        path: &Path,
        wrap: impl FnOnce(BufReader<File>) -> R,
    ) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CaptureError {
            file: name.clone(),
            kind: ErrorKind::Open { source },
        })?;
        CaptureReader::new(wrap(BufReader::with_capacity(1 << 16, file)), name)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header from `r`, telling pcap from pcapng by its magic.
    /// `name` is used in error messages (usually the path).
    ///
    /// # Errors
    /// Unknown magic, a truncated header, an unsupported version, or a classic
    /// pcap whose link type cannot be decoded.
    pub fn new(r: R, name: impl Into<String>) -> Result<Self, CaptureError> {
        Self::start(r, name.into(), None)
    }

    /// As [`Self::new`], handing every read-ahead block to `sink` once the
    /// reader has moved past it, and the last one at [`Self::into_inner`]
    /// (see [`BlockSink`]): every byte read from `r` is in exactly one
    /// block, in order, and frames handed out in place say where they lie
    /// ([`FrameRef::place`]).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn with_blocks(
        r: R,
        name: impl Into<String>,
        sink: Box<dyn BlockSink + Send>,
    ) -> Result<Self, CaptureError> {
        Self::start(r, name.into(), Some(sink))
    }

    fn start(
        r: R,
        name: String,
        sink: Option<Box<dyn BlockSink + Send>>,
    ) -> Result<Self, CaptureError> {
        let mut src = Source::new(r, sink);
        let mut stats = CaptureStats::new(CaptureFormat::Pcapng);
        let format = Self::sniff(&mut src, &mut stats).map_err(|kind| CaptureError {
            file: name.clone(),
            kind,
        })?;
        Ok(CaptureReader {
            src,
            name,
            format,
            scratch: Vec::new(),
            comment: None,
            stats,
            done: false,
        })
    }

    fn sniff(src: &mut Source<R>, stats: &mut CaptureStats) -> Result<Format, ErrorKind> {
        let mut magic = [0u8; 4];
        let n = src.fill(&mut magic)?;
        if n < 4 {
            return Err(ErrorKind::TruncatedHeader {
                offset: 0,
                what: "file header",
                needed: 4,
                present: n as u64,
            });
        }
        if magic == crate::format::block::SHB.to_le_bytes() {
            let r = pcapng::Reader::start(src, &mut Vec::new())?;
            stats.format = CaptureFormat::Pcapng;
            Ok(Format::Pcapng(r))
        } else if let Some((big_endian, nanos)) = pcap::sniff(magic) {
            let r = pcap::Reader::start(src, big_endian, nanos)?;
            stats.format = CaptureFormat::Pcap { nanos, big_endian };
            stats.saw_link_type(r.linktype());
            Ok(Format::Pcap(r))
        } else {
            Err(ErrorKind::NotACapture {
                offset: 0,
                magic: u32::from_be_bytes(magic),
            })
        }
    }

    /// The next IPv4 frame; `None` at the end of the file or after an error.
    /// Records holding anything but IPv4 are skipped and counted.
    pub fn next_frame(&mut self) -> Option<Result<Frame, CaptureError>> {
        self.next_frame_ref().map(|r| r.map(|f| f.to_owned()))
    }

    /// The next IPv4 frame, borrowed from the reader's buffers (no copy of
    /// a classic pcap record, no allocation): the fast path for `replay`. `None` at the end
    /// of the file or after an error.
    pub fn next_frame_ref(&mut self) -> Option<Result<FrameRef<'_>, CaptureError>> {
        while !self.done {
            match self.next_record() {
                Ok(None) => self.done = true,
                Ok(Some(rec)) => {
                    let index = self.stats.records;
                    self.stats.records += 1;
                    let data = match &rec.data {
                        Place::InPlace(r) => &self.src.buf[r.clone()],
                        Place::Scratch(r) => &self.scratch[r.clone()],
                    };
                    let Some(ip) = link::ipv4_range(rec.linktype, data) else {
                        self.stats.skipped_non_ipv4 += 1;
                        continue;
                    };
                    self.stats.ipv4_frames += 1;
                    if (data.len() as u64) < rec.orig_len {
                        self.stats.snapped += 1;
                    }
                    self.comment = rec.comment;
                    let (bytes, place) = match rec.data {
                        Place::InPlace(r) => {
                            let place = self.src.sink.as_ref().map(|_| FramePlace {
                                block: self.src.seq,
                                start: r.start + ip.start,
                            });
                            self.src.handed_out |= place.is_some();
                            (&self.src.buf[r][ip], place)
                        }
                        Place::Scratch(r) => (&self.scratch[r][ip], None),
                    };
                    return Some(Ok(FrameRef {
                        index,
                        ts_nanos: rec.ts_nanos,
                        bytes,
                        comment: self.comment.as_deref(),
                        place,
                    }));
                }
                Err(kind) => {
                    self.done = true;
                    return Some(Err(CaptureError {
                        file: self.name.clone(),
                        kind,
                    }));
                }
            }
        }
        None
    }

    fn next_record(&mut self) -> Result<Option<RawRecord>, ErrorKind> {
        let rec = match &mut self.format {
            Format::Pcap(r) => r.next(&mut self.src, &mut self.scratch)?,
            Format::Pcapng(r) => r.next(&mut self.src, &mut self.scratch, &mut self.stats)?,
        };
        if let Some(rec) = &rec {
            if !link::is_supported(rec.linktype) {
                return Err(ErrorKind::UnsupportedLinkType {
                    offset: rec.offset,
                    linktype: rec.linktype,
                    name: link::name(rec.linktype),
                });
            }
        }
        Ok(rec)
    }

    /// Counters so far (complete once `next_frame` has returned `None`).
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// The name used in error messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// The underlying reader, positioned after the bytes read so far: the
    /// reader reads ahead, up to 256 KiB past the last byte consumed
    /// ([`Self::offset`]). To hash a whole input after an error, hash what
    /// passes through the reader given to [`Self::new`] (or the blocks given
    /// to the sink of [`Self::with_blocks`], the last one retired here) and
    /// then the rest.
    pub fn into_inner(self) -> R {
        self.src.into_inner()
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}

impl<R: Read> std::fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("offset", &self.src.offset)
            .field("stats", &self.stats)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
