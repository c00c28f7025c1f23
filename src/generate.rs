//! `scanbench gen`: labelled captures at scale, streamed to disk.
//!
//! A scenario is simulated `repeat` times back to back: repetition `k` runs
//! with seed `seed + k` and its frames are shifted by `k` scenario durations,
//! so a 30-second scan scenario repeated a thousand times is an eight-hour
//! capture of a thousand different scans, each in its own background. Each
//! tap gets one capture (named as `run --pcap` names them) and, unless
//! switched off, one labels file whose frame numbers and times run on across
//! repetitions. The background is scaled with [`Scenario::with_hosts`] and
//! the length with the scenario's duration.
//!
//! Output is a pure function of the scenario and the options: repetitions
//! may run on several threads (`jobs`), but they are written in order and a
//! repetition's frames go through the same writer either way, so the bytes
//! do not depend on `jobs`. With one job every frame goes straight to disk
//! (memory independent of the capture's length); with more, each repetition
//! being simulated ahead of the writer keeps its frames in memory until its
//! turn, so memory grows with `jobs` times one repetition's capture.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use rustc_hash::FxHashMap;
use scanbench_capture::{PcapFormat, PcapWriter};
use scanbench_sim::{Duration, Frame, Instant, Label, TapId};

use crate::error::{Error, Result};
use crate::scenario::Scenario;
use crate::simulate::{create, hex, label_line, labels_path_for, per_tap_path};
use crate::write_behind::WriteBehind;

/// What to write.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Capture path (per tap, `.<tap>` before the extension when several are written).
    pub pcap: PathBuf,
    /// Labels path; default beside the capture (`x.labels.jsonl`).
    pub labels: Option<PathBuf>,
    /// Write no labels file (pcapng comments still carry the labels).
    pub no_labels: bool,
    /// Capture format.
    pub format: PcapFormat,
    /// Repetitions, at least 1.
    pub repeat: u32,
    /// Seed of the first repetition (default: the scenario's).
    pub seed: Option<u64>,
    /// Only these taps (default: all).
    pub taps: Vec<String>,
    /// Repetitions simulated at the same time.
    pub jobs: usize,
}

/// One capture written.
#[derive(Clone, Debug)]
pub struct GenTap {
    /// Tap name.
    pub name: String,
    /// Frames written.
    pub frames: u64,
    /// Bytes of IP packets written (not counting file headers).
    pub packet_bytes: u64,
    /// The capture file.
    pub path: PathBuf,
    /// SHA-256 of the capture file.
    pub sha256: String,
    /// The labels file, if one was written.
    pub labels: Option<PathBuf>,
}

/// What a `gen` wrote.
#[derive(Clone, Debug)]
pub struct GenSummary {
    /// Seed of the first repetition.
    pub seed: u64,
    /// Simulated time in all (repetitions x duration).
    pub simulated: Duration,
    /// Link transmissions simulated in all (every hop counts).
    pub transmissions: u64,
    /// Captures written.
    pub taps: Vec<GenTap>,
}

/// One tap's outputs.
struct TapOut {
    name: String,
    path: PathBuf,
    pcap: PcapWriter<WriteBehind<BufWriter<std::fs::File>>>,
    labels: Option<(PathBuf, BufWriter<std::fs::File>)>,
    frames: u64,
    packet_bytes: u64,
}

impl TapOut {
    fn write(&mut self, at: Instant, bytes: &[u8], label: &Label) -> Result<()> {
        let comment = self.pcap.format().has_comments().then(|| label.to_string());
        self.pcap
            .write_frame(at, bytes, comment.as_deref())
            .map_err(|e| io(&self.path, e))?;
        if let Some((path, w)) = &mut self.labels {
            let frame = Frame {
                tap: TapId(0),
                at,
                bytes,
                label,
            };
            w.write_all(label_line(self.frames, &self.name, &frame).as_bytes())
                .map_err(|e| io(path, e))?;
        }
        self.frames += 1;
        self.packet_bytes += bytes.len() as u64;
        Ok(())
    }
}

fn io(path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A frame kept in memory while its repetition waits for the writer.
struct Held {
    out: usize,
    at: Instant,
    label: u32,
    bytes: Vec<u8>,
}

/// One repetition simulated ahead of the writer.
struct Ahead {
    frames: Vec<Held>,
    labels: Vec<Label>,
    transmissions: u64,
}

/// Writes the captures for `sc` (already scaled and with its duration set).
///
/// # Errors
/// [`Error::Argument`] for an unknown tap or a repeat of 0, the scenario's
/// build errors, and I/O errors naming the file (what was written before
/// stays on disk).
pub fn generate(sc: &Scenario, o: &GenOptions) -> Result<GenSummary> {
    generate_reporting(sc, o, &mut |_| {})
}

/// [`generate`], calling `written(k)` each time the first `k` repetitions
/// are on disk (for progress; the output does not depend on it).
///
/// # Errors
/// As [`generate`].
pub fn generate_reporting(
    sc: &Scenario,
    o: &GenOptions,
    written: &mut dyn FnMut(u32),
) -> Result<GenSummary> {
    if o.repeat == 0 {
        return Err(Error::Argument("--repeat: at least 1".into()));
    }
    let seed = o.seed.unwrap_or(sc.seed);
    // The first repetition's network, built here to learn the taps.
    let built = sc.build(seed)?;
    let all = built.taps.clone();
    let mut first = Some(built);
    for t in &o.taps {
        if !all.contains(t) {
            return Err(Error::Argument(format!(
                "--tap {t}: {} has no such tap; taps: {}",
                sc.path.display(),
                all.join(", ")
            )));
        }
    }
    // Built tap index -> output index.
    let mut route: Vec<Option<usize>> = Vec::new();
    let mut names: Vec<&String> = Vec::new();
    for t in &all {
        let chosen = o.taps.is_empty() || o.taps.contains(t);
        route.push(chosen.then_some(names.len()));
        if chosen {
            names.push(t);
        }
    }
    let several = names.len() > 1;
    let mut outs = Vec::new();
    for name in names {
        let path = per_tap_path(&o.pcap, name, several);
        let labels = if o.no_labels {
            None
        } else {
            let p = match &o.labels {
                Some(l) => per_tap_path(l, name, several),
                None => labels_path_for(&path),
            };
            Some((p.clone(), create(&p)?))
        };
        let file = create(&path)?;
        let pcap = PcapWriter::new(WriteBehind::new(file), o.format).map_err(|e| io(&path, e))?;
        outs.push(TapOut {
            name: name.clone(),
            path,
            pcap,
            labels,
            frames: 0,
            packet_bytes: 0,
        });
    }
    let duration = sc.duration;
    let end = Instant::ZERO + duration;
    let offset = |k: u32| Duration::from_micros(duration.total_micros() * u64::from(k));
    let mut transmissions = 0u64;
    let jobs = o.jobs.clamp(1, o.repeat as usize);
    if jobs > 1 {
        // Each repetition is built on its own thread.
        first = None;
    }
    let mut k = 0u32;
    while k < o.repeat {
        if jobs == 1 {
            // Straight to disk.
            let mut built = match first.take() {
                Some(b) => b,
                None => sc.build(seed.wrapping_add(u64::from(k)))?,
            };
            let shift = offset(k);
            let mut failed: Option<Error> = None;
            let mut sink = |f: &Frame<'_>| {
                if failed.is_none()
                    && let Some(i) = route[f.tap.0 as usize]
                    && let Err(e) = outs[i].write(f.at + shift, f.bytes, f.label)
                {
                    failed = Some(e);
                }
            };
            built
                .net
                .run_until(end, &mut sink)
                .map_err(|e| Error::Sim {
                    path: sc.path.clone(),
                    source: e,
                })?;
            if let Some(e) = failed {
                return Err(e);
            }
            transmissions += built.net.stats().sent;
            k += 1;
            written(k);
            continue;
        }
        let batch: Vec<u32> = (k..o.repeat.min(k.saturating_add(jobs as u32))).collect();
        let ahead: Vec<Result<Ahead>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&r| {
                    let route = &route;
                    s.spawn(move || simulate_ahead(sc, seed.wrapping_add(u64::from(r)), end, route))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a repetition's thread does not panic"))
                .collect()
        });
        for (r, a) in batch.iter().zip(ahead) {
            let a = a?;
            let shift = offset(*r);
            for h in &a.frames {
                outs[h.out].write(h.at + shift, &h.bytes, &a.labels[h.label as usize])?;
            }
            transmissions += a.transmissions;
        }
        k = batch.last().map_or(o.repeat, |l| l + 1);
        written(k);
    }
    let mut taps = Vec::new();
    for t in outs {
        let (_, digest) = t
            .pcap
            .finish()
            .and_then(WriteBehind::finish)
            .map_err(|e| io(&t.path, e))?;
        let sha256 = hex(&digest);
        let labels = match t.labels {
            Some((p, mut w)) => {
                w.flush().map_err(|e| io(&p, e))?;
                Some(p)
            }
            None => None,
        };
        taps.push(GenTap {
            name: t.name,
            frames: t.frames,
            packet_bytes: t.packet_bytes,
            path: t.path,
            sha256,
            labels,
        });
    }
    Ok(GenSummary {
        seed,
        simulated: offset(o.repeat),
        transmissions,
        taps,
    })
}

/// Simulates one repetition, keeping the frames of the chosen taps.
fn simulate_ahead(
    sc: &Scenario,
    seed: u64,
    end: Instant,
    route: &[Option<usize>],
) -> Result<Ahead> {
    let mut built = sc.build(seed)?;
    let mut frames = Vec::new();
    let mut labels: Vec<Label> = Vec::new();
    let mut ids: FxHashMap<Label, u32> = FxHashMap::default();
    let mut sink = |f: &Frame<'_>| {
        let Some(out) = route[f.tap.0 as usize] else {
            return;
        };
        let label = match ids.get(f.label) {
            Some(&i) => i,
            None => {
                let i = labels.len() as u32;
                labels.push(f.label.clone());
                ids.insert(f.label.clone(), i);
                i
            }
        };
        frames.push(Held {
            out,
            at: f.at,
            label,
            bytes: f.bytes.to_vec(),
        });
    };
    built
        .net
        .run_until(end, &mut sink)
        .map_err(|e| Error::Sim {
            path: sc.path.clone(),
            source: e,
        })?;
    Ok(Ahead {
        frames,
        labels,
        transmissions: built.net.stats().sent,
    })
}
