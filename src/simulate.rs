//! Running a scenario: the network streams frames from its taps into sinks
//! (pcap writers, labels files, counters, detectors) as they happen, so memory
//! does not grow with simulated time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use scanbench_capture::labels::{LabelRecord, PacketSummary};
use scanbench_capture::{PcapFormat, PcapWriter};
use scanbench_detector::PacketView;
use scanbench_sim::{Frame, Instant};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::scenario::Scenario;

/// Limits on the work of one run. Past either, the run stops with
/// [`Error::Budget`], after the captures and labels written so far are
/// flushed (complete and readable up to that point). Budgets never change the
/// frames of a run that stays within them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Packets handed to links (the run summary's "packets sent").
    pub max_packets: u64,
    /// Wall-clock time of the simulation.
    pub max_wall: std::time::Duration,
}

impl Budget {
    /// Default `--max-packets`: 10^4 times the largest suite scenario (6,360).
    pub const DEFAULT_MAX_PACKETS: u64 = 100_000_000;
    /// Default `--max-wall`: the whole suite runs in about one second.
    pub const DEFAULT_MAX_WALL: std::time::Duration = std::time::Duration::from_secs(3600);
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_packets: Self::DEFAULT_MAX_PACKETS,
            max_wall: Self::DEFAULT_MAX_WALL,
        }
    }
}

/// Where to write captures.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// Capture path. With several taps, the tap name is inserted before the
    /// extension (`out.pcap` -> `out.perimeter.pcap`).
    pub pcap: Option<PathBuf>,
    /// Labels path (JSON lines); defaults to the capture path with `.labels.jsonl`.
    pub labels: Option<PathBuf>,
    /// Capture format.
    pub format: PcapFormat,
    /// Limits on the run's work.
    pub budget: Budget,
}

/// Frames and ground truth seen on one tap.
#[derive(Clone, Debug, Default)]
pub struct TapSummary {
    /// Tap name.
    pub name: String,
    /// Frames recorded.
    pub frames: u64,
    /// Frames per (class, cause).
    pub by_cause: BTreeMap<(String, String), u64>,
    /// SHA-256 of the classic-pcap (µs) rendering of this tap: the determinism fingerprint.
    pub sha256: String,
    /// Files written for this tap.
    pub files: Vec<PathBuf>,
    /// SHA-256 of the capture as written (its format may be pcapng or
    /// nanosecond pcap, unlike the fingerprint), when one was written.
    pub capture_sha256: Option<String>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// Seed used.
    pub seed: u64,
    /// Simulated time.
    pub duration: scanbench_sim::Duration,
    /// One entry per tap.
    pub taps: Vec<TapSummary>,
    /// Fabric counters.
    pub fabric: scanbench_sim::FabricStats,
    /// (node, app kind, counters).
    pub apps: Vec<scanbench_sim::fabric::NodeCounters>,
}

/// Called with (tap index, frame) for every frame: the hook detectors use.
pub trait TapObserver {
    /// Called once before the first frame with the scenario's sensor taps:
    /// the one wire detectors read and the one drop-log detectors read.
    fn sensors(&mut self, _wire: Option<usize>, _drop_log: Option<usize>) {}

    /// One frame on tap `tap`.
    fn frame(&mut self, tap: usize, frame: &Frame<'_>);
}

impl TapObserver for () {
    fn frame(&mut self, _: usize, _: &Frame<'_>) {}
}

/// Hashes every byte written through it on the way to `inner`.
pub(crate) struct HashWriter<W> {
    inner: W,
    pub(crate) hash: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> HashWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hash: Sha256::new(),
        }
    }
}

/// Where a capture goes: a file, or standard output (`-`).
type CaptureOut = HashWriter<Box<dyn Write>>;

struct TapSink {
    summary: TapSummary,
    hash: PcapWriter<HashWriter<std::io::Sink>>,
    pcap: Option<(PathBuf, PcapWriter<CaptureOut>)>,
    labels: Option<(PathBuf, BufWriter<File>)>,
    error: Option<Error>,
}

/// True for the path `-`: standard output (or input), as tcpdump has it.
pub fn is_stdio(path: &Path) -> bool {
    path == Path::new("-")
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inserts `.tap` before the extension when there are several taps.
pub fn per_tap_path(base: &Path, tap: &str, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|s| format!(".{}", s.to_string_lossy()))
        .unwrap_or_default();
    base.with_file_name(format!("{stem}.{tap}{ext}"))
}

/// The default labels path for a capture path: `x.pcap` -> `x.labels.jsonl`.
pub fn labels_path_for(pcap: &Path) -> PathBuf {
    scanbench_capture::labels::path_for(pcap)
}

pub(crate) fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 16, f))
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })
}

/// One JSON line describing a labelled frame.
pub fn label_line(frame_no: u64, tap: &str, f: &Frame<'_>) -> String {
    let packet = PacketView::parse(frame_no, f.bytes)
        .ok()
        .map(|v| PacketSummary {
            protocol: v.protocol,
            src: v.src,
            dst: v.dst,
            ports: v.ports(),
            tcp_flags: v.tcp().map(|t| t.flags.to_string()),
        });
    LabelRecord {
        frame: frame_no,
        tap,
        time_us: f.at.total_micros(),
        packet,
        label: f.label,
    }
    .line()
}

/// Opens one sink per tap, labels files first (so a bad `--labels` path
/// fails before any capture exists); every file created is pushed to `created`.
fn open_sinks(
    taps: &[String],
    outputs: &Outputs,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<TapSink>> {
    let several = taps.len() > 1;
    if several && outputs.pcap.as_deref().is_some_and(is_stdio) {
        return Err(Error::Input {
            path: "-".into(),
            line: None,
            message: format!(
                "standard output holds one capture, but this scenario has {} taps ({}); write them to files",
                taps.len(),
                taps.join(", ")
            ),
        });
    }
    let mut sinks = Vec::new();
    for name in taps {
        let hash = PcapWriter::new(
            HashWriter::new(std::io::sink()),
            PcapFormat::Pcap { nanos: false },
        )
        .expect("hashing never fails");
        let pcap_path = outputs
            .pcap
            .as_ref()
            .map(|b| per_tap_path(b, name, several));
        let labels = match (&outputs.labels, &pcap_path) {
            (Some(l), _) => Some(per_tap_path(l, name, several)),
            (None, Some(p)) if !is_stdio(p) => Some(labels_path_for(p)),
            _ => None,
        };
        let labels = match labels {
            Some(p) => {
                let w = create(&p)?;
                created.push(p.clone());
                Some((p, w))
            }
            None => None,
        };
        let pcap = match pcap_path {
            Some(path) => {
                let out: Box<dyn Write> = if is_stdio(&path) {
                    Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout()))
                } else {
                    let w = create(&path)?;
                    created.push(path.clone());
                    Box::new(w)
                };
                let w = PcapWriter::new(HashWriter::new(out), outputs.format).map_err(|e| {
                    Error::Io {
                        path: path.clone(),
                        source: e,
                    }
                })?;
                Some((path, w))
            }
            None => None,
        };
        sinks.push(TapSink {
            summary: TapSummary {
                name: name.clone(),
                ..TapSummary::default()
            },
            hash,
            pcap,
            labels,
            error: None,
        });
    }
    Ok(sinks)
}

/// The sinks of every tap: its fingerprint, its capture and labels files
/// (when asked for) and its counters, fed frame by frame.
pub struct TapSinks {
    sinks: Vec<TapSink>,
}

impl TapSinks {
    /// Sinks for taps named `taps` (by tap id), creating the files `outputs`
    /// asks for; if one cannot be created, none is left behind.
    ///
    /// # Errors
    /// A file that cannot be created, or several taps for standard output.
    pub fn create(taps: &[String], outputs: &Outputs) -> Result<Self> {
        let mut created = Vec::new();
        match open_sinks(taps, outputs, &mut created) {
            Ok(sinks) => Ok(TapSinks { sinks }),
            Err(e) => {
                // Nothing was written yet: leave no header-only file behind.
                for p in &created {
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        }
    }

    /// Records one frame on its tap. A write error is kept and returned by
    /// [`TapSinks::finish`]; that tap's files get nothing more.
    pub fn frame(&mut self, f: &Frame<'_>) {
        let s = &mut self.sinks[f.tap.0 as usize];
        let frame_no = s.summary.frames;
        s.summary.frames += 1;
        *s.summary
            .by_cause
            .entry((f.label.class.to_string(), f.label.cause.clone()))
            .or_default() += 1;
        let _ = s.hash.write_frame(f.at, f.bytes, None);
        if s.error.is_some() {
            return;
        }
        if let Some((path, w)) = &mut s.pcap {
            let comment = f.label.to_string();
            if let Err(e) = w.write_frame(f.at, f.bytes, Some(&comment)) {
                s.error = Some(Error::Io {
                    path: path.clone(),
                    source: e,
                });
            }
        }
        if let Some((path, w)) = &mut s.labels
            && let Err(e) = w.write_all(label_line(frame_no, &s.summary.name, f).as_bytes())
        {
            s.error = Some(Error::Io {
                path: path.clone(),
                source: e,
            });
        }
    }

    /// Flushes every file and returns the taps' summaries.
    ///
    /// # Errors
    /// The first write error of any tap.
    pub fn finish(self) -> Result<Vec<TapSummary>> {
        let mut taps = Vec::new();
        for mut s in self.sinks {
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            let h = s.hash.finish().expect("hashing never fails");
            s.summary.sha256 = hex(&h.hash.finalize());
            if let Some((path, w)) = s.pcap {
                // `finish` flushes through the hasher into the file's buffer.
                let mut out = w.finish().map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                out.flush().map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                s.summary.capture_sha256 = Some(hex(&out.hash.finalize()));
                if !is_stdio(&path) {
                    s.summary.files.push(path);
                }
            }
            if let Some((path, mut w)) = s.labels {
                w.flush().map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                s.summary.files.push(path);
            }
            taps.push(s.summary);
        }
        Ok(taps)
    }
}

/// Simulates `scenario` with `seed`, writing `outputs` and feeding `observer`.
///
/// # Errors
/// I/O errors creating or writing outputs (naming the file), or a topology the
/// simulator rejects.
pub fn simulate(
    scenario: &Scenario,
    seed: u64,
    outputs: &Outputs,
    observer: &mut dyn TapObserver,
) -> Result<RunSummary> {
    let mut built = scenario.build(seed)?;
    let mut sinks = TapSinks::create(&built.taps, outputs)?;
    observer.sensors(built.sensor, built.drop_log_sensor);
    let end = Instant::ZERO + scenario.duration;
    let mut stopped = None;
    {
        let mut sink = |f: &Frame<'_>| {
            sinks.frame(f);
            observer.frame(f.tap.0 as usize, f);
        };
        let mut slices = Slices::new(end);
        let wall = std::time::Instant::now();
        'slices: while let Some(until) = slices.next(built.net.stats().events) {
            // A slice runs in pieces of a bounded number of events, the
            // budgets checked after each: a slice whose step grew over idle
            // time may turn busy (a scan starting) and would otherwise
            // overshoot --max-packets many times over.
            loop {
                let limit = built.net.stats().events.saturating_add(Slices::PIECE);
                let reached = built
                    .net
                    .run_until_at_most(until, &mut sink, limit)
                    .map_err(|e| Error::Sim {
                        path: scenario.path.clone(),
                        source: e,
                    })?;
                let sent = built.net.stats().sent;
                let b = outputs.budget;
                let over = if sent > b.max_packets {
                    Some(format!(
                        "{sent} packets sent, more than --max-packets {}",
                        b.max_packets
                    ))
                } else if wall.elapsed() > b.max_wall {
                    Some(format!(
                        "more than --max-wall {} s of wall time",
                        b.max_wall.as_secs_f64()
                    ))
                } else {
                    None
                };
                if let Some(why) = over {
                    stopped = Some(format!(
                        "run stopped at {:.6} s of {:.6} s simulated: {why}; captures and labels are flushed up to there",
                        built.net.now().total_micros() as f64 / 1e6,
                        end.total_micros() as f64 / 1e6,
                    ));
                    break 'slices;
                }
                if reached {
                    break;
                }
            }
        }
    }
    let taps = sinks.finish()?;
    if let Some(message) = stopped {
        return Err(Error::Budget {
            path: scenario.path.clone(),
            message,
        });
    }
    Ok(RunSummary {
        scenario: scenario.name.clone(),
        seed,
        duration: scenario.duration,
        taps,
        fabric: built.net.stats().clone(),
        apps: built.net.app_stats(),
    })
}

/// Virtual-time slices to run the network in, so budgets are checked between
/// them. A slice is sized to hold about [`Slices::EVENTS`] events: it doubles
/// while slices run fewer and halves when they run more, down to one µs.
/// Cutting a run into slices does not change it: `run_until` resumes exactly
/// where it stopped.
struct Slices {
    end: Instant,
    at: Option<Instant>,
    step_us: i64,
    events: u64,
}

impl Slices {
    const EVENTS: u64 = 10_000;
    /// Events a slice runs at most between two budget checks.
    const PIECE: u64 = Self::EVENTS / 10;

    fn new(end: Instant) -> Self {
        Slices {
            end,
            at: None,
            step_us: 1_000,
            events: 0,
        }
    }

    /// The end of the next slice, given the fabric's event count so far;
    /// `None` once `end` has been run.
    fn next(&mut self, events: u64) -> Option<Instant> {
        let at = match self.at {
            None => Instant::ZERO,
            Some(at) if at >= self.end => return None,
            Some(at) => {
                let ran = events.saturating_sub(self.events);
                if ran < Self::EVENTS / 4 {
                    self.step_us = self.step_us.saturating_mul(2);
                } else if ran > Self::EVENTS * 4 {
                    self.step_us = (self.step_us / 2).max(1);
                }
                Instant::from_micros(at.total_micros().saturating_add(self.step_us))
            }
        };
        self.events = events;
        let until = at.min(self.end);
        self.at = Some(until);
        Some(until)
    }
}
