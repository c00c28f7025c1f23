//! Reader tests. Fixtures are generated here (by scanbench's own writer or by
//! the small hand builders below), never committed as binaries, so every byte
//! a test depends on is visible in the test.

use super::*;
use crate::write::{PcapFormat, PcapWriter};
use proptest::prelude::*;

/// A 28-byte IPv4/ICMP-ish packet whose last byte tells packets apart.
fn ip(tag: u8) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 0, 0,
    ];
    p.push(tag);
    p
}

/// Everything a reader yields for `bytes`: frames, the error if any, stats.
fn read_all(bytes: &[u8]) -> (Vec<Frame>, Option<CaptureError>, Option<CaptureStats>) {
    let mut r = match CaptureReader::new(bytes, "t.cap") {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e), None),
    };
    let mut frames = Vec::new();
    let mut err = None;
    while let Some(item) = r.next_frame() {
        match item {
            Ok(f) => frames.push(f),
            Err(e) => {
                assert!(err.is_none(), "a second error after {e}");
                err = Some(e);
            }
        }
    }
    assert!(r.next_frame().is_none(), "reader must stay done");
    (frames, err, Some(r.stats().clone()))
}

fn write(format: PcapFormat, frames: &[(i64, Vec<u8>, Option<&str>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), format).unwrap();
    for (at, bytes, comment) in frames {
        w.write_frame(Instant::from_micros(*at), bytes, *comment)
            .unwrap();
    }
    w.finish().unwrap()
}

fn sample() -> Vec<(i64, Vec<u8>, Option<&'static str>)> {
    vec![
        (0, ip(1), Some("actor=scanner kind=malicious cause=scan")),
        (1_000_001, ip(2), None),
        (-7, ip(3), Some("ünïcode label")),
        (86_400_000_000, ip(4), Some("")),
    ]
}

const ALL_FORMATS: [PcapFormat; 4] = [
    PcapFormat::Pcap { nanos: false },
    PcapFormat::Pcap { nanos: true },
    PcapFormat::Pcapng { nanos: false },
    PcapFormat::Pcapng { nanos: true },
];

// ---------- round trips through scanbench's own writer ----------

#[test]
fn round_trip_every_format() {
    let sample = sample();
    for format in ALL_FORMATS {
        let (frames, err, stats) = read_all(&write(format, &sample));
        assert!(err.is_none(), "{format:?}: {err:?}");
        assert_eq!(frames.len(), sample.len());
        for (i, (f, (at, bytes, comment))) in frames.iter().zip(&sample).enumerate() {
            assert_eq!(f.index, i as u64);
            assert_eq!(f.at(), Instant::from_micros((*at).max(0)), "{format:?}");
            assert_eq!(f.ts_nanos, i128::from((*at).max(0)) * 1_000);
            assert_eq!(&f.bytes, bytes);
            let want = if format.has_comments() {
                comment.filter(|c| !c.is_empty()).map(str::to_owned)
            } else {
                None
            };
            assert_eq!(f.comment, want, "{format:?}");
        }
        let stats = stats.unwrap();
        assert_eq!(
            (stats.records, stats.ipv4_frames, stats.skipped_non_ipv4),
            (4, 4, 0)
        );
        assert_eq!(stats.link_types, [link::RAW]);
        let expected = match format {
            PcapFormat::Pcap { nanos } => CaptureFormat::Pcap {
                nanos,
                big_endian: false,
            },
            PcapFormat::Pcapng { .. } => CaptureFormat::Pcapng,
        };
        assert_eq!(stats.format, expected);
    }
}

#[test]
fn open_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pcapng");
    let mut bytes = write(PcapFormat::Pcapng { nanos: false }, &sample());
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&path, &bytes).unwrap();
    let mut r = CaptureReader::open(&path).unwrap();
    let mut ok = 0;
    let err = loop {
        match r.next_frame().unwrap() {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(ok, 3, "frames before the damage are kept");
    assert_eq!(err.file(), path.display().to_string());
    assert!(err.to_string().starts_with(&path.display().to_string()));

    let missing = CaptureReader::open(&dir.path().join("nope.pcap")).unwrap_err();
    assert!(matches!(missing.kind(), ErrorKind::Open { .. }));
    // "no such file", not a read error at an offset of a file that is not there.
    assert!(
        missing.to_string().contains("No such file") && !missing.to_string().contains("offset"),
        "{missing}"
    );
}

// ---------- hand-built classic pcap ----------

/// A classic pcap file: `records` are (seconds, fraction, captured bytes, original length).
fn pcap_file(be: bool, nanos: bool, linktype: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&w32(262_144));
    f.extend_from_slice(&w32(linktype));
    for (secs, frac, data, orig) in records {
        f.extend_from_slice(&w32(*secs));
        f.extend_from_slice(&w32(*frac));
        f.extend_from_slice(&w32(data.len() as u32));
        f.extend_from_slice(&w32(*orig));
        f.extend_from_slice(data);
    }
    f
}

#[test]
fn big_endian_pcap_micros_and_nanos() {
    let p = ip(9);
    for nanos in [false, true] {
        let f = pcap_file(true, nanos, link::RAW, &[(5, 250, &p, 28)]);
        let (frames, err, stats) = read_all(&f);
        assert!(err.is_none());
        let want = 5_000_000_000 + if nanos { 250 } else { 250_000 };
        assert_eq!(frames[0].ts_nanos, want);
        assert_eq!(frames[0].bytes, p);
        assert_eq!(
            stats.unwrap().format,
            CaptureFormat::Pcap {
                nanos,
                big_endian: true
            }
        );
    }
}

#[test]
fn link_layers_in_classic_pcap() {
    let p = ip(7);
    let eth_vlan = [
        &[0xff; 12][..],
        &[0x81, 0x00, 0x00, 0x0a, 0x88, 0xa8, 0x00, 0x14, 0x08, 0x00],
        &p,
        &[0; 14], // padding + FCS
    ]
    .concat();
    let arp = [&[0xff; 12][..], &[0x08, 0x06], &[0; 28]].concat();
    let sll = [
        &[0u8, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00][..],
        &p,
    ]
    .concat();
    let sll2 = [
        &[
            0x08u8, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ][..],
        &p,
    ]
    .concat();
    let null_le = [&[2u8, 0, 0, 0][..], &p].concat();
    let null_be = [&[0u8, 0, 0, 2][..], &p].concat();
    let null_v6 = [&[24u8, 0, 0, 0][..], &p].concat();

    let cases: [(u32, Vec<&[u8]>, usize); 5] = [
        (link::ETHERNET, vec![&eth_vlan, &arp, &eth_vlan], 2),
        (link::LINUX_SLL, vec![&sll], 1),
        (link::LINUX_SLL2, vec![&sll2], 1),
        (link::NULL, vec![&null_le, &null_v6, &null_be], 2),
        (link::LOOP, vec![&null_be], 1),
    ];
    for (linktype, frames, ipv4) in cases {
        let recs: Vec<_> = frames.iter().map(|f| (1, 0, *f, f.len() as u32)).collect();
        let (out, err, stats) = read_all(&pcap_file(false, false, linktype, &recs));
        assert!(err.is_none(), "{linktype}: {err:?}");
        assert_eq!(out.len(), ipv4, "link type {linktype}");
        assert!(out.iter().all(|f| f.bytes == p), "link type {linktype}");
        let stats = stats.unwrap();
        assert_eq!(stats.skipped_non_ipv4, (frames.len() - ipv4) as u64);
        assert_eq!(stats.link_types, [linktype]);
        // The frame after a skipped one keeps its ordinal in the file.
        assert_eq!(out.last().unwrap().index, frames.len() as u64 - 1);
    }
}

#[test]
fn snapped_frames_are_counted() {
    let p = ip(1);
    let (frames, _, stats) = read_all(&pcap_file(false, false, link::RAW, &[(0, 0, &p[..20], 28)]));
    assert_eq!(frames[0].bytes, &p[..20]);
    assert_eq!(stats.unwrap().snapped, 1);
}

// ---------- hand-built pcapng ----------

/// A pcapng builder in either byte order.
struct Ng {
    be: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(be: bool) -> Self {
        let mut ng = Ng {
            be,
            out: Vec::new(),
        };
        ng.shb(be);
        ng
    }
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn w16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn opt(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = [&self.w16(code)[..], &self.w16(value.len() as u16), value].concat();
        o.resize(o.len().div_ceil(4) * 4, 0);
        o
    }
    fn options(&self, opts: &[(u16, &[u8])]) -> Vec<u8> {
        if opts.is_empty() {
            return Vec::new();
        }
        let mut v: Vec<u8> = opts.iter().flat_map(|(c, o)| self.opt(*c, o)).collect();
        v.extend_from_slice(&[0; 4]);
        v
    }
    fn block(&mut self, ty: u32, body: &[u8]) -> &mut Self {
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(4) * 4, 0);
        let len = (body.len() + 12) as u32;
        let b = [&self.w32(ty)[..], &self.w32(len), &body, &self.w32(len)].concat();
        self.out.extend_from_slice(&b);
        self
    }
    fn shb(&mut self, be: bool) -> &mut Self {
        self.be = be;
        let body = [
            &self.w32(0x1a2b_3c4d)[..],
            &self.w16(1),
            &self.w16(0),
            &[0xff; 8],
            &self.options(&[(4, b"test")]),
        ]
        .concat();
        self.block(0x0a0d_0d0a, &body)
    }
    fn idb(&mut self, linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> &mut Self {
        let mut opts: Vec<(u16, Vec<u8>)> = Vec::new();
        if let Some(r) = tsresol {
            opts.push((9, vec![r]));
        }
        if let Some(o) = tsoffset {
            let b = if self.be {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            opts.push((14, b.to_vec()));
        }
        let opts: Vec<(u16, &[u8])> = opts.iter().map(|(c, v)| (*c, v.as_slice())).collect();
        let body = [
            &self.w16(linktype)[..],
            &[0, 0],
            &self.w32(0),
            &self.options(&opts),
        ]
        .concat();
        self.block(1, &body)
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], comments: &[&str]) -> &mut Self {
        let mut d = data.to_vec();
        d.resize(d.len().div_ceil(4) * 4, 0);
        let opts: Vec<(u16, &[u8])> = comments.iter().map(|c| (1, c.as_bytes())).collect();
        let body = [
            &self.w32(iface)[..],
            &self.w32((ts >> 32) as u32),
            &self.w32(ts as u32),
            &self.w32(data.len() as u32),
            &self.w32(data.len() as u32),
            &d,
            &self.options(&opts),
        ]
        .concat();
        self.block(6, &body)
    }
    fn opb(&mut self, iface: u16, ts: u64, data: &[u8]) -> &mut Self {
        let body = [
            &self.w16(iface)[..],
            &self.w16(0),
            &self.w32((ts >> 32) as u32),
            &self.w32(ts as u32),
            &self.w32(data.len() as u32),
            &self.w32(data.len() as u32),
            data,
        ]
        .concat();
        self.block(2, &body)
    }
    fn spb(&mut self, data: &[u8]) -> &mut Self {
        let body = [&self.w32(data.len() as u32)[..], data].concat();
        self.block(3, &body)
    }
}

#[test]
fn pcapng_big_endian_interfaces_and_block_kinds() {
    let p = ip(1);
    let eth = [&[0u8; 12][..], &[0x08, 0x00], &p].concat();
    let mut ng = Ng::new(true);
    ng.idb(101, None, None) // default: microseconds
        .idb(1, Some(9), None) // Ethernet, nanoseconds
        .idb(228, Some(0x80 | 10), Some(100)) // 2^-10 s units, +100 s
        .block(4, &[1, 2, 3, 4, 5]) // name resolution block: skipped
        .epb(0, 1_500_000, &p, &["first", "second"])
        .epb(1, 7, &eth, &[])
        .block(0x0000_0bad, &[9; 7]) // custom block: skipped
        .epb(2, 512, &p, &[])
        .opb(1, 9, &eth)
        .spb(&p);
    let (frames, err, stats) = read_all(&ng.out);
    assert!(err.is_none(), "{err:?}");
    let ts: Vec<i128> = frames.iter().map(|f| f.ts_nanos).collect();
    assert_eq!(
        ts,
        [1_500_000_000, 7, 100_500_000_000, 9, 9],
        "SPB reuses the last time"
    );
    assert!(frames.iter().all(|f| f.bytes == p));
    assert_eq!(frames[0].comment.as_deref(), Some("first\nsecond"));
    let stats = stats.unwrap();
    assert_eq!(stats.link_types, [101, 1, 228]);
    assert_eq!(stats.records, 5);
    assert_eq!(stats.format, CaptureFormat::Pcapng);
}

#[test]
fn pcapng_new_section_resets_interfaces_and_byte_order() {
    let p = ip(1);
    let mut ng = Ng::new(false);
    ng.idb(101, None, None)
        .idb(101, None, None)
        .epb(1, 1, &p, &[])
        .shb(true)
        .idb(101, None, None)
        .epb(0, 2, &p, &[]);
    let last = ng.out.len() as u64;
    ng.epb(1, 3, &p, &[]); // interface 1 belonged to the first section
    let (frames, err, _) = read_all(&ng.out);
    assert_eq!(frames.len(), 2);
    let err = err.unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Corrupted {
                what: "interface id",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.offset(), last);
}

#[test]
fn pcapng_unsupported_link_type_is_an_error_at_its_first_packet() {
    let p = ip(1);
    let mut ng = Ng::new(false);
    ng.idb(101, None, None)
        .idb(127, None, None)
        .epb(0, 1, &p, &[]);
    let at = ng.out.len();
    ng.epb(1, 2, &p, &[]);
    let (frames, err, _) = read_all(&ng.out);
    assert_eq!(
        frames.len(),
        1,
        "unused interfaces of other types are harmless"
    );
    let err = err.unwrap();
    assert_eq!(
        err.to_string(),
        format!("t.cap: unsupported link type 127 (IEEE802_11_RADIOTAP) at byte offset {at}")
    );
}

// ---------- errors ----------

#[test]
fn error_messages_name_file_and_offset() {
    let p = ip(1);
    let mut f = pcap_file(false, false, link::RAW, &[(0, 0, &p, 28), (0, 0, &p, 28)]);
    f.truncate(24 + 44 + 16 + 12);
    let (frames, err, _) = read_all(&f);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        err.unwrap().to_string(),
        "t.cap: truncated record at byte offset 68 (record header says 28 bytes, 12 present)"
    );

    let err = read_all(b"GIF89a......").1.unwrap();
    assert_eq!(
        err.to_string(),
        "t.cap: not a pcap or pcapng file (magic 0x47494638) at byte offset 0"
    );
    assert_eq!(err.offset(), 0);

    let err = read_all(&[0xd4, 0xc3]).1.unwrap();
    assert_eq!(
        err.to_string(),
        "t.cap: truncated file header at byte offset 0 (4 bytes needed, 2 present)"
    );

    let err = read_all(&pcap_file(false, false, 127, &[])).1.unwrap();
    assert_eq!(
        err.to_string(),
        "t.cap: unsupported link type 127 (IEEE802_11_RADIOTAP) at byte offset 20"
    );
}

#[test]
fn absurd_record_length_is_corruption_not_allocation() {
    let p = ip(1);
    let mut f = pcap_file(false, false, link::RAW, &[(0, 0, &p, 28), (0, 0, &p, 28)]);
    f[24 + 44 + 8..24 + 44 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (frames, err, _) = read_all(&f);
    assert_eq!(frames.len(), 1);
    let err = err.unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Corrupted {
                offset: 68,
                what: "record length",
                ..
            }
        ),
        "{err}"
    );

    // Just under the limit but the file is short: truncated, without
    // allocating the claimed 200 MiB up front.
    f[24 + 44 + 8..24 + 44 + 12].copy_from_slice(&(200u32 << 20).to_le_bytes());
    let err = read_all(&f).1.unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::TruncatedRecord { offset: 68, .. }),
        "{err}"
    );
}

#[test]
fn corrupted_pcapng_block_lengths() {
    let p = ip(1);
    let mut ng = Ng::new(false);
    ng.idb(101, None, None).epb(0, 1, &p, &[]);
    let second = ng.out.len();
    ng.epb(0, 2, &p, &[]).epb(0, 3, &p, &[]);

    let mut odd = ng.out.clone();
    odd[second + 4] = 0x31; // not a multiple of 4
    let (frames, err, _) = read_all(&odd);
    assert_eq!(frames.len(), 1);
    let err = err.unwrap();
    assert!(
        err.to_string()
            .contains(&format!("corrupted block length at byte offset {second}")),
        "{err}"
    );

    let mut mismatch = ng.out.clone();
    mismatch[second + 4] += 4; // leading length now disagrees with the trailing one
    let (frames, err, _) = read_all(&mismatch);
    assert_eq!(frames.len(), 1);
    let err = err.unwrap();
    assert_eq!(err.offset(), second as u64);
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Corrupted {
                what: "block length",
                ..
            }
        ),
        "{err}"
    );

    let mut huge = ng.out.clone();
    huge[second + 4..second + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let err = read_all(&huge).1.unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Corrupted {
                what: "block length",
                ..
            }
        ),
        "{err}"
    );

    let mut caplen = ng.out.clone();
    caplen[second + 20..second + 24].copy_from_slice(&1000u32.to_le_bytes());
    let err = read_all(&caplen).1.unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Corrupted {
                what: "captured length",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn frame_at_rounds_down_and_saturates() {
    let f = |ts_nanos| Frame {
        index: 0,
        ts_nanos,
        bytes: Vec::new(),
        comment: None,
    };
    assert_eq!(f(1_999).at(), Instant::from_micros(1));
    assert_eq!(f(-1).at(), Instant::from_micros(-1));
    assert_eq!(f(i128::MAX).at(), Instant::from_micros(i64::MAX));
}

// ---------- truncation and robustness ----------

/// Where a well-formed file can end cleanly, and where each packet record
/// ends, found by walking its structure independently of the reader.
fn boundaries(file: &[u8]) -> (Vec<usize>, Vec<usize>) {
    let (mut clean, mut packets) = (Vec::new(), Vec::new());
    if file.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut at = 0;
        while at < file.len() {
            let ty = u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
            at += u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
            clean.push(at);
            if ty == 6 {
                packets.push(at);
            }
        }
    } else {
        let be = file[0] == 0xa1;
        let u32_at = |at: usize| {
            let b = file[at..at + 4].try_into().unwrap();
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let mut at = 24;
        clean.push(at);
        while at < file.len() {
            at += 16 + u32_at(at + 8) as usize;
            clean.push(at);
            packets.push(at);
        }
    }
    (clean, packets)
}

/// Cuts `file` at every offset and checks the reader's contract: exactly the
/// frames whose records end at or before the cut, then, unless the cut falls
/// on a block or record boundary, an error at an offset no later than the cut.
fn check_every_truncation(file: &[u8]) {
    let (all, err, _) = read_all(file);
    assert!(err.is_none(), "{err:?}");
    let (clean, packets) = boundaries(file);
    assert_eq!(packets.len(), all.len());
    for cut in 0..=file.len() {
        let (frames, err, _) = read_all(&file[..cut]);
        let complete = packets.iter().filter(|&&end| end <= cut).count();
        assert_eq!(frames, all[..complete], "cut {cut}");
        match err {
            Some(e) => {
                assert!(!clean.contains(&cut), "cut {cut} is clean, got {e}");
                assert!(e.offset() <= cut as u64, "cut {cut}: {e}");
            }
            None => assert!(
                clean.contains(&cut),
                "cut {cut} inside a record went unnoticed"
            ),
        }
    }
}

#[test]
fn truncation_at_every_offset() {
    for format in ALL_FORMATS {
        check_every_truncation(&write(format, &sample()));
    }
    let p = ip(1);
    check_every_truncation(&pcap_file(
        true,
        true,
        link::RAW,
        &[(1, 2, &p, 28), (3, 4, &p, 28)],
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No byte sequence panics, with or without a valid magic in front.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::sample::select(vec![
            vec![],
            vec![0xd4, 0xc3, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0x3c, 0x4d],
            vec![0x0a, 0x0d, 0x0d, 0x0a],
        ]),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let bytes = [prefix, body].concat();
        let _ = read_all(&bytes);
    }

    /// Valid files with random bytes overwritten: never a panic, and an error
    /// (if any) names an offset inside the file.
    #[test]
    fn corrupted_valid_files_never_panic(
        format in prop::sample::select(ALL_FORMATS.to_vec()),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = write(format, &sample());
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if let (_, Some(e), _) = read_all(&bytes) {
            prop_assert!(e.offset() <= bytes.len() as u64);
        }
    }

    /// Random captures cut at a random point: the frames whose records are
    /// complete come out unchanged, then an error at or before the cut.
    #[test]
    fn truncated_random_captures(
        format in prop::sample::select(ALL_FORMATS.to_vec()),
        frames in prop::collection::vec(
            (0i64..1 << 42, prop::collection::vec(any::<u8>(), 0..60), prop::option::of("[a-z=]{1,12}")),
            1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        // Make every frame IPv4 with a total length that fits.
        let frames: Vec<(i64, Vec<u8>, Option<&str>)> = frames
            .iter()
            .map(|(t, b, c)| {
                let mut p = ip(0);
                p.extend_from_slice(b);
                let len = p.len() as u16;
                p[2..4].copy_from_slice(&len.to_be_bytes());
                (*t, p, c.as_deref())
            })
            .collect();
        let file = write(format, &frames);
        let (all, err, _) = read_all(&file);
        prop_assert!(err.is_none());
        prop_assert_eq!(all.len(), frames.len());
        let cut = cut.index(file.len() + 1);
        let (clean, packets) = boundaries(&file);
        let complete = packets.iter().filter(|&&end| end <= cut).count();
        let (got, err, _) = read_all(&file[..cut]);
        prop_assert_eq!(&got[..], &all[..complete]);
        match err {
            Some(e) => prop_assert!(e.offset() <= cut as u64 && !clean.contains(&cut)),
            None => prop_assert!(clean.contains(&cut)),
        }
    }
}

/// A reader that returns at most `step` bytes per read, as a pipe may.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// 3,000 UDP packets of lengths 20-1519 (so records straddle a read-ahead
/// buffer's end everywhere), and one record of `big` bytes in the middle
/// (the IPv4 packet inside is its first 64 KiB).
fn straddling_frames(big: usize) -> Vec<(i64, Vec<u8>, Option<&'static str>)> {
    let mut frames = Vec::new();
    for i in 0..3000u32 {
        let len = 20 + (i as usize * 37) % 1500;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.resize(len, (i % 251) as u8);
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        frames.push((i64::from(i), p, None));
    }
    let mut long = frames[5].1.clone();
    long.resize(big, 7);
    frames.insert(1500, (1500, long, None));
    frames
}

/// Records far more than the read-ahead buffer holds, of lengths that
/// straddle its end everywhere, and records longer than the buffer, read
/// in reads of any size: the same frames, stats and offsets as one read.
#[test]
fn read_ahead_is_invisible_at_any_read_size() {
    let frames = straddling_frames(READ_AHEAD + 1000);
    for format in ALL_FORMATS {
        let file = write(format, &frames);
        let (want, err, stats) = read_all(&file);
        assert!(err.is_none(), "{format:?}: {err:?}");
        assert_eq!(want.len(), frames.len());
        for step in [1, 7, 1000, READ_AHEAD - 3, usize::MAX] {
            let mut r = CaptureReader::new(Trickle { bytes: &file, step }, "t.cap").unwrap();
            let mut got = Vec::new();
            while let Some(f) = r.next_frame() {
                got.push(f.unwrap());
            }
            assert_eq!(got, want, "{format:?}, reads of {step}");
            assert_eq!(Some(r.stats().clone()), stats);
            assert_eq!(r.offset(), file.len() as u64);
        }
    }
}

/// A cut inside a long capture is reported at the damaged record's offset,
/// whatever was read ahead.
#[test]
fn truncation_after_the_read_ahead_names_the_record() {
    let frames: Vec<_> = (0..20_000u32)
        .map(|i| (i64::from(i), ip((i % 251) as u8), None))
        .collect();
    let file = write(PcapFormat::Pcap { nanos: false }, &frames);
    // Record i starts at 24 + i * (16 + 28); cut record 15,000 in its bytes.
    let start = 24 + 15_000 * 44;
    let (got, err, _) = read_all(&file[..start + 20]);
    assert_eq!(got.len(), 15_000);
    let err = err.unwrap();
    assert_eq!(err.offset(), start as u64, "{err}");
}

/// A retired block as [`BlockSink::retire`] is given it.
type Retired = (u64, Vec<u8>, std::ops::Range<usize>, bool);

/// A sink that keeps every retired block.
struct Keep(std::sync::Arc<std::sync::Mutex<Vec<Retired>>>);

impl BlockSink for Keep {
    fn next_block(&mut self, len: usize) -> Vec<u8> {
        // Stale bytes, as a recycled block has: the reader must overwrite them.
        vec![0xee; len]
    }

    fn retire(&mut self, seq: u64, block: Vec<u8>, fresh: std::ops::Range<usize>, handed: bool) {
        self.0.lock().unwrap().push((seq, block, fresh, handed));
    }
}

/// Handing the blocks on changes nothing the reader yields; the blocks'
/// fresh ranges are the input, every byte once and in order, and every
/// frame handed out in place is where its place says, in a block retired
/// as holding frames: for every format, at any read size, with records
/// longer than a block, and for a capture cut short.
#[test]
fn blocks_hold_every_byte_once_and_every_frame_where_it_says() {
    let frames = straddling_frames(2 * READ_AHEAD + 1000);
    for format in ALL_FORMATS {
        let whole = write(format, &frames);
        for file in [&whole[..], &whole[..whole.len() * 2 / 3]] {
            let (want, want_err, stats) = read_all(file);
            for step in [7, 1000, READ_AHEAD - 3, usize::MAX] {
                let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                let sink = Box::new(Keep(std::sync::Arc::clone(&kept)));
                let input = Trickle { bytes: file, step };
                let mut r = CaptureReader::with_blocks(input, "t.cap", sink).unwrap();
                let mut got = Vec::new();
                let mut places = Vec::new();
                let mut err = None;
                while let Some(f) = r.next_frame_ref() {
                    match f {
                        Ok(f) => {
                            places.push(f.place.map(|p| (p, f.bytes.to_vec())));
                            got.push(f.to_owned());
                        }
                        Err(e) => err = Some(e.to_string()),
                    }
                }
                assert_eq!(got, want, "{format:?}, reads of {step}");
                assert_eq!(err, want_err.as_ref().map(|e| e.to_string()));
                assert_eq!(Some(r.stats().clone()), stats);
                let rest = r.into_inner();
                let blocks = kept.lock().unwrap();
                let mut read: Vec<u8> = Vec::new();
                for (i, (seq, block, fresh, _)) in blocks.iter().enumerate() {
                    assert_eq!(*seq, i as u64);
                    read.extend_from_slice(&block[fresh.clone()]);
                }
                read.extend_from_slice(rest.bytes);
                assert_eq!(read, file, "{format:?}, reads of {step}");
                let mut in_place = 0;
                for (p, bytes) in places.into_iter().flatten() {
                    let (_, block, fresh, handed) = &blocks[p.block as usize];
                    assert!(*handed);
                    assert!(p.start + bytes.len() <= fresh.end);
                    assert_eq!(&block[p.start..p.start + bytes.len()], &bytes[..]);
                    in_place += 1;
                }
                if format == (PcapFormat::Pcap { nanos: false }) {
                    // Every classic pcap record but the long one is in place.
                    assert!(in_place + 1 >= want.len(), "{in_place} of {}", want.len());
                }
            }
        }
    }
}
