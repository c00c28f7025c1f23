//! Replaying real captures (pcap, pcapng) and firewall logs (iptables LOG
//! lines) through the same detectors and scoring as simulated runs.
//!
//! A capture that is truncated or corrupted still yields the alerts of the
//! frames before the damage: the error is returned beside the run.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::Path;

use scanbench_detector::iptables_log::{LogOptions, LogParser, Skipped};
use scanbench_detector::{Cidr, Instant, PacketView, Vantage};
use scanbench_sim::label::Label;
use sha2::{Digest, Sha256};

use crate::blocks::BlockShare;
use crate::capture::read::GZIP_MAGIC;
use crate::capture::{CaptureReader, CaptureStats, FramePlace, Input};
use crate::detect::{DetectorSet, with_home_net};
use crate::digest::{BlockHasher, HashingReader};
use crate::error::{Error, Result};
use crate::evaluate::{ScenarioRun, Sensing, score_set};
use crate::external::Externals;
use crate::fanout::{Fanout, default_threads};
use crate::labels::{FrameLabel, FrameLabels, LabelCount};
use crate::simulate::{RunSummary, TapSummary};
use crate::simulate::{hex, is_stdio};
use crate::truth::GroundTruth;

/// A labels file as a replay reads it.
type LabelStream = crate::labels::LabelStream<BufReader<File>>;

/// Capture times replay accepts, in µs since the Unix epoch: 1970-01-01
/// through 9999-12-31T23:59:59.999999Z. A frame stamped outside (a corrupt
/// pcapng `if_tsoffset` or `if_tsresol` can reach ±292,000 years) is clamped
/// to the nearer end and counted in [`ScenarioRun::clamped_timestamps`], so
/// the detectors' windows and the run's duration stay meaningful arithmetic.
pub const TIME_RANGE_US: std::ops::RangeInclusive<i64> = 0..=253_402_300_799_999_999;

/// How to replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Detector specs.
    pub specs: Vec<String>,
    /// The site's networks, given to detectors with a `home_net` parameter.
    pub home_net: Vec<Cidr>,
    /// Read the capture as a firewall drop log (psad's vantage point).
    pub drop_log: bool,
    /// Ground-truth labels by frame, read as a stream alongside the input;
    /// without them (and without pcapng label comments) the run reports
    /// alerts but cannot score them.
    pub labels: Option<FrameLabels>,
    /// The scanners; default: the sources of malicious probes per the labels.
    pub scanners: Option<BTreeSet<Ipv4Addr>>,
    /// Threads running the detectors (0: one per core, at most one per
    /// detector). Results are identical for any number.
    pub threads: usize,
    /// What `ext:NAME` specs can name (`--detector-file`).
    pub externals: Externals,
}

/// A replayed input: the run (alerts, and scores when labelled), and the
/// error that stopped reading early, if any.
pub struct Replayed {
    /// Alerts and scores.
    pub run: ScenarioRun,
    /// Whether any frame carried a label.
    pub labelled: bool,
    /// Capture counters (captures only).
    pub stats: Option<CaptureStats>,
    /// Log counters (iptables logs only).
    pub log: Option<LogStats>,
    /// The time of the first frame, if any.
    pub first: Option<Instant>,
    /// What stopped the reading before the end of the input.
    pub error: Option<Error>,
}

/// What reading an iptables log found besides packets.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Lines that became packets.
    pub packets: u64,
    /// Lines skipped without an error, by reason.
    pub skipped: Skipped,
    /// The text a log prefix must contain (psad `FW_MSG_SEARCH`).
    pub search: String,
    /// The year given to syslog stamps (they carry none).
    pub year: i32,
    /// Malformed iptables lines, skipped as psad skips them.
    pub malformed: u64,
    /// The first malformed line's error, naming its line and field.
    pub first_malformed: Option<Error>,
}

/// Frames fed so far, and the truth gathered from their labels.
struct Feed {
    set: Fanout,
    truth: GroundTruth,
    vantage: Vantage,
    first: Option<Instant>,
    last: Instant,
    labelled: bool,
    frames: u64,
    clamped: u64,
}

impl Feed {
    fn new(opts: &ReplayOptions, vantage: Vantage) -> Result<Self> {
        let specs: Vec<String> = opts
            .specs
            .iter()
            .map(|s| with_home_net(s, &opts.home_net))
            .collect::<Result<_>>()?;
        let set = DetectorSet::with_externals(&specs, &opts.externals)?;
        let threads = match opts.threads {
            0 => default_threads(specs.len()),
            n => n,
        };
        Ok(Feed {
            set: Fanout::new(set, threads),
            // Scanners given up front are tracked from the first frame.
            truth: GroundTruth::new(opts.scanners.clone().unwrap_or_default()),
            vantage,
            first: None,
            last: Instant::ZERO,
            labelled: false,
            frames: 0,
            clamped: 0,
        })
    }

    /// One frame: parsed once, for the ground truth and every detector.
    /// `listed` is the labels file (`path`) and its line for this frame;
    /// `place`, where the bytes lie in the capture reader's blocks.
    ///
    /// # Errors
    /// The labels file names other addresses for this frame: it belongs to
    /// another capture.
    fn frame(
        &mut self,
        index: u64,
        at: Instant,
        bytes: &[u8],
        place: Option<FramePlace>,
        listed: Option<(&Path, FrameLabel<'_>)>,
        label: Option<&Label>,
    ) -> Result<()> {
        let view = PacketView::parse(index, bytes).ok();
        if let (Some((path, l)), Some(v)) = (listed, &view) {
            check_addresses(path, l, index, v)?;
        }
        self.take(index, at, bytes, place, view, label);
        Ok(())
    }

    /// [`Self::frame`] for a frame without a label (most replays): nothing
    /// to check, so nothing can fail.
    fn unlabelled(&mut self, index: u64, at: Instant, bytes: &[u8], place: Option<FramePlace>) {
        let view = PacketView::parse(index, bytes).ok();
        self.take(index, at, bytes, place, view, None);
    }

    /// Feeds a parsed frame (`view`; `None`: not an IPv4 packet) to the
    /// ground truth and the detectors.
    fn take(
        &mut self,
        index: u64,
        at: Instant,
        bytes: &[u8],
        place: Option<FramePlace>,
        view: Option<PacketView<'_>>,
        label: Option<&Label>,
    ) {
        let us = at.total_micros();
        let clamped = us.clamp(*TIME_RANGE_US.start(), *TIME_RANGE_US.end());
        if clamped != us {
            self.clamped += 1;
        }
        let at = Instant::from_micros(clamped);
        self.first.get_or_insert(at);
        self.last = self.last.max(at);
        self.frames += 1;
        self.labelled |= label.is_some();
        self.truth
            .record_view(self.vantage, index, at, view.as_ref(), label);
        match &view {
            Some(v) => self.set.observe(self.vantage, at, v, bytes, place),
            None => self.set.malformed(place),
        }
    }

    /// Scores the run; `sha256` is the input's digest, `error` what cut it
    /// short. Also returns whether any frame was labelled, the first frame's
    /// time, and an external tool's failure.
    fn finish(
        mut self,
        name: &str,
        path: &Path,
        sha256: String,
        error: Option<&Error>,
        opts: &ReplayOptions,
    ) -> (ScenarioRun, bool, Option<Instant>, Option<Error>) {
        let mut set = self.set.finish();
        set.finish(self.last);
        let tool_error = set.take_error();
        self.truth.scanners = match &opts.scanners {
            Some(s) => s.clone(),
            None => self.truth.inferred_scanners(),
        };
        let first = self.first.unwrap_or(Instant::ZERO);
        self.truth.duration_us = (self.last - first).total_micros();
        let sensing = Sensing {
            wire: self.vantage == Vantage::Wire,
            drop_log: self.vantage == Vantage::DropLog,
        };
        let detectors = score_set(&mut set, &opts.specs, &self.truth, sensing);
        let summary = RunSummary {
            scenario: name.to_string(),
            seed: 0,
            duration: self.last - first,
            taps: vec![TapSummary {
                name: "capture".into(),
                frames: self.frames,
                sha256,
                files: if is_stdio(path) {
                    Vec::new()
                } else {
                    vec![path.to_path_buf()]
                },
                ..TapSummary::default()
            }],
            fabric: Default::default(),
            apps: Vec::new(),
        };
        let run = ScenarioRun {
            scenario: name.to_string(),
            file: path.to_path_buf(),
            summary,
            truth: self.truth,
            detectors,
            malformed: set.malformed,
            replayed: true,
            input_error: error.map(|e| e.to_string()),
            clamped_timestamps: self.clamped,
            scored: self.labelled || opts.scanners.as_ref().is_some_and(|s| !s.is_empty()),
            end: self.last,
        };
        (run, self.labelled, self.first, tool_error)
    }
}

/// Refuses labels whose line for frame `index` names other addresses than
/// the frame has: they were written for another capture.
fn check_addresses(path: &Path, l: FrameLabel<'_>, index: u64, v: &PacketView<'_>) -> Result<()> {
    match l.addrs {
        Some((src, dst)) if (src, dst) != (v.src, v.dst) => Err(Error::Input {
            path: path.to_path_buf(),
            line: None,
            message: format!(
                "frame {index} is labelled {src} -> {dst}, but the capture's frame {index} is {} -> {}: these labels belong to another capture",
                v.src, v.dst
            ),
        }),
        _ => Ok(()),
    }
}

/// Refuses labels for a different number of frames than the input has
/// (`records`, counting every record or logged packet), reading the rest of
/// the labels file to count it.
fn check_count(labels: Option<LabelStream>, records: u64) -> Result<()> {
    let Some(labels) = labels else {
        return Ok(());
    };
    let path = labels.path().to_path_buf();
    let LabelCount {
        frames: n,
        last_frame,
    } = labels.finish()?;
    let beyond = last_frame.is_some_and(|f| f >= records);
    if n == records && !beyond {
        return Ok(());
    }
    Err(Error::Input {
        path,
        line: None,
        message: format!(
            "{n} labelled frames (last frame {}), but the input has {records}: these labels belong to another capture",
            last_frame.unwrap_or(0)
        ),
    })
}

/// The labels file's line for frame `index`, if labels were given.
fn line_for(labels: &mut Option<LabelStream>, index: u64) -> Result<Option<FrameLabel<'_>>> {
    match labels {
        Some(l) => Ok(l.frame(index)?),
        None => Ok(None),
    }
}

fn name_of(path: &Path) -> String {
    if is_stdio(path) {
        return "stdin".to_string();
    }
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A capture's bytes as the capture reader reads them, and where they are
/// hashed.
enum Hashed<R: Read> {
    /// The file's bytes: the reader's blocks are hashed ([`BlockHasher`]).
    Plain(R),
    /// gzip: decompressed for the reader, hashed compressed below it.
    Gzip(Input<BufReader<HashingReader<R>>>),
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Hashed::Plain(r) => r.read(buf),
            Hashed::Gzip(d) => d.read(buf),
        }
    }
}

/// Replays a pcap or pcapng capture.
///
/// # Errors
/// A bad detector spec, or a file that cannot be opened or has no valid
/// header. Damage after the header is returned in [`Replayed::error`].
pub fn replay_capture(path: &Path, opts: &ReplayOptions) -> Result<Replayed> {
    let vantage = if opts.drop_log {
        Vantage::DropLog
    } else {
        Vantage::Wire
    };
    let mut feed = Feed::new(opts, vantage)?;
    let raw: Box<dyn Read> = if is_stdio(path) {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?)
    };
    let io_err = |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let gzip = raw.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
    // Offsets in a gzip'd capture's errors count decompressed bytes.
    let name = match (is_stdio(path), gzip) {
        (true, false) => "stdin".to_string(),
        (true, true) => "stdin (gzip, offsets decompressed)".to_string(),
        (false, false) => path.display().to_string(),
        (false, true) => format!("{} (gzip, offsets decompressed)", path.display()),
    };
    // The reader's blocks hold the file's bytes, unless decompressed: then
    // the compressed bytes are hashed (copied) below the decompressor.
    let (input, block_hasher) = if gzip {
        let hashing = HashingReader::new(raw);
        let input = Input::sniff(BufReader::with_capacity(1 << 16, hashing)).map_err(io_err)?;
        (Hashed::Gzip(input), None)
    } else {
        (Hashed::Plain(raw), Some(BlockHasher::new()))
    };
    let sink = BlockShare::new(
        block_hasher.as_ref().map(BlockHasher::jobs),
        feed.set.block_sender(),
    );
    let mut reader = CaptureReader::with_blocks(input, name, Box::new(sink))?;
    let path_of_labels = opts.labels.as_ref().map(|l| l.path());
    let mut labels = opts.labels.as_ref().map(|l| l.stream()).transpose()?;
    let mut error = None;
    while let Some(r) = reader.next_frame_ref() {
        match r {
            // No labels file and no comment: the common case, kept free of
            // the labels' `Result`s (a tenth of the reading thread's time).
            Ok(f) if labels.is_none() && f.comment.is_none() => {
                feed.unlabelled(f.index, f.at(), f.bytes, f.place);
            }
            Ok(f) => {
                let comment = f.comment.and_then(Label::from_comment);
                let line = line_for(&mut labels, f.index)?;
                let label = line.map(|l| l.label).or(comment.as_ref());
                let listed = path_of_labels.zip(line);
                feed.frame(f.index, f.at(), f.bytes, f.place, listed, label)?;
            }
            Err(e) => {
                error = Some(Error::Capture(e));
                break;
            }
        }
    }
    let stats = reader.stats().clone();
    if error.is_none() {
        check_count(labels, stats.records)?;
    }
    let sha256 = match (reader.into_inner(), block_hasher) {
        (Hashed::Plain(rest), Some(hasher)) => hasher.finish(rest),
        (Hashed::Gzip(input), _) => input.into_inner().into_inner().finish(),
        (Hashed::Plain(_), None) => String::new(),
    };
    let (run, labelled, first, tool_error) =
        feed.finish(&name_of(path), path, sha256, error.as_ref(), opts);
    Ok(Replayed {
        run,
        labelled,
        stats: Some(stats),
        log: None,
        first,
        error: error.or(tool_error),
    })
}

/// Replays an iptables LOG file (kernel or ulogd text, the lines psad parses)
/// as a drop log: every line whose prefix contains `log.search` (psad's
/// `FW_MSG_SEARCH`, default `DROP`) is one dropped packet. Frame numbers are
/// 0-based record numbers; line numbers appear in errors. A malformed line is
/// skipped, as psad skips it, and counted in [`LogStats`] (the first one's
/// error kept).
///
/// # Errors
/// A bad detector spec, an unreadable file, or labels of another log.
pub fn replay_iptables_log(path: &Path, opts: &ReplayOptions, log: LogOptions) -> Result<Replayed> {
    let text = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let sha256 = hex(&Sha256::digest(&text));
    let text = String::from_utf8_lossy(&text);
    let mut feed = Feed::new(opts, Vantage::DropLog)?;
    let path_of_labels = opts.labels.as_ref().map(|l| l.path());
    let mut labels = opts.labels.as_ref().map(|l| l.stream()).transpose()?;
    let mut stats = LogStats {
        search: log.search.clone(),
        year: log.year,
        ..LogStats::default()
    };
    let mut parser = LogParser::new(log);
    let mut index = 0;
    for (i, line) in text.lines().enumerate() {
        match parser.parse_line(i + 1, line) {
            Ok(Some(rec)) => {
                let listed = line_for(&mut labels, index)?;
                let label = listed.map(|l| l.label);
                feed.frame(
                    index,
                    rec.at,
                    &rec.packet,
                    None,
                    path_of_labels.zip(listed),
                    label,
                )?;
                index += 1;
            }
            Ok(None) => {}
            Err(e) => {
                stats.malformed += 1;
                // The parser's message names the line and the field.
                stats.first_malformed.get_or_insert(Error::Input {
                    path: path.to_path_buf(),
                    line: None,
                    message: e.to_string(),
                });
            }
        }
    }
    check_count(labels, index)?;
    stats.packets = index;
    stats.skipped = parser.skipped().clone();
    let (run, labelled, first, tool_error) = feed.finish(&name_of(path), path, sha256, None, opts);
    Ok(Replayed {
        run,
        labelled,
        stats: None,
        log: Some(stats),
        first,
        error: tool_error,
    })
}
