//! One replay's detectors on all cores, with results identical to one core.
//!
//! Detectors are independent of each other and each sees every frame in
//! capture order, so splitting a [`DetectorSet`] into groups, one thread each,
//! changes nothing but the wall time. The reading thread parses each frame
//! once (for the ground truth, and to count and drop malformed frames) and
//! copies the good ones into batches, each beside its parsed view; every
//! batch goes to every group, whose detectors all read the same view.
//!
//! A view borrows the bytes it was parsed from, and a batch that held views
//! of its own bytes would be self-referential, which safe Rust does not
//! give. So a batch holds each view detached ([`DetachedView`]: its fields,
//! and its payload as a range of the frame's bytes), and the group's thread
//! attaches it to the batch's copy of the bytes: no frame is parsed twice.
//!
//! Memory is bounded: a batch holds at most [`BATCH_FRAMES`] frames or
//! [`BATCH_BYTES`] bytes, and at most [`IN_FLIGHT`] batches wait per group.
//! The thread that finishes a batch last hands it back to the reader, which
//! fills it again: batches are allocated only until the pipeline is full.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use scanbench_detector::view::DetachedView;
use scanbench_detector::{Alert, Instant, PacketView, Vantage};

use crate::detect::{DetectorSet, Slot, observe_all};

/// Frames per batch handed to the detector threads.
pub const BATCH_FRAMES: usize = 4096;
/// Bytes of frame data per batch (a batch closes at whichever limit comes first).
pub const BATCH_BYTES: usize = 1 << 20;
/// Batches queued per detector thread before the reader waits.
pub const IN_FLIGHT: usize = 4;

/// The threads to use by default: one per core, at most one per detector.
pub fn default_threads(detectors: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(detectors)
        .max(1)
}

/// A [`DetectorSet`] fed on the calling thread or on worker threads.
pub struct Fanout {
    set: DetectorSet,
    workers: Vec<Worker>,
    batch: Batch,
    /// Batches every thread is done with, to fill again.
    spent: Option<Receiver<Batch>>,
    last: Instant,
}

struct Worker {
    tx: SyncSender<Arc<Batch>>,
    handle: JoinHandle<Group>,
}

/// The detectors one thread runs, with their positions in the set.
struct Group {
    ids: Vec<usize>,
    instances: Vec<Slot>,
    vantages: Vec<Vantage>,
    alerts: Vec<Vec<Alert>>,
}

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    frames: Vec<BatchFrame>,
}

struct BatchFrame {
    vantage: Vantage,
    at: Instant,
    /// The reader's view of the frame (`None`: its payload is not part of
    /// the bytes it came with, so the group parses the bytes itself).
    view: Option<DetachedView>,
    index: u64,
    /// End of this frame's bytes in `Batch::bytes` (it starts where the
    /// previous one ends).
    end: usize,
}

impl Fanout {
    /// Runs `set` on `threads` threads (1: on the caller's thread, no copies).
    /// Detectors are dealt to the threads in turn, so the heavier ones, which
    /// the default suite lists next to each other as variants, are spread.
    pub fn new(mut set: DetectorSet, threads: usize) -> Self {
        let n = set.specs.len();
        let threads = threads.clamp(1, n.max(1));
        let mut workers = Vec::new();
        let mut spent = None;
        if threads > 1 {
            let vantages: Vec<Vantage> = (0..n).map(|i| set.vantage(i)).collect();
            let mut groups: Vec<Group> = (0..threads)
                .map(|_| Group {
                    ids: Vec::new(),
                    instances: Vec::new(),
                    vantages: Vec::new(),
                    alerts: Vec::new(),
                })
                .collect();
            for (i, inst) in set.take_instances().into_iter().enumerate() {
                let g = &mut groups[i % threads];
                g.ids.push(i);
                g.instances.push(inst);
                g.vantages.push(vantages[i]);
                g.alerts.push(std::mem::take(&mut set.alerts[i]));
            }
            let (back, spent_rx) = channel();
            spent = Some(spent_rx);
            for group in groups {
                let (tx, rx) = sync_channel(IN_FLIGHT);
                let back = back.clone();
                let handle = std::thread::spawn(move || run_group(group, rx, back));
                workers.push(Worker { tx, handle });
            }
        }
        Fanout {
            set,
            workers,
            batch: Batch::default(),
            spent,
            last: Instant::ZERO,
        }
    }

    /// Feeds one frame, parsed by the caller as `view` from `bytes`, to the
    /// detectors that read `vantage`.
    pub fn observe(&mut self, vantage: Vantage, at: Instant, view: &PacketView<'_>, bytes: &[u8]) {
        if self.workers.is_empty() {
            self.set.observe_view(vantage, at, view, bytes);
            return;
        }
        self.last = self.last.max(at);
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.frames.push(BatchFrame {
            vantage,
            at,
            view: view.detach(bytes),
            index: view.frame,
            end: self.batch.bytes.len(),
        });
        if self.batch.frames.len() >= BATCH_FRAMES || self.batch.bytes.len() >= BATCH_BYTES {
            self.send();
        }
    }

    /// Counts a frame that is not an IPv4 packet.
    pub fn malformed(&mut self) {
        self.set.malformed += 1;
    }

    fn send(&mut self) {
        let mut next = self
            .spent
            .as_ref()
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        next.bytes.clear();
        next.frames.clear();
        let batch = Arc::new(std::mem::replace(&mut self.batch, next));
        for w in &self.workers {
            // A worker only stops early by panicking; its join reports it.
            let _ = w.tx.send(Arc::clone(&batch));
        }
    }

    /// Waits for the threads and returns the set, alerts in place, as if it
    /// had been fed on one thread.
    ///
    /// # Panics
    /// If a detector panicked on a worker thread (the panic is passed on).
    pub fn finish(mut self) -> DetectorSet {
        if self.workers.is_empty() {
            return self.set;
        }
        if !self.batch.frames.is_empty() {
            self.send();
        }
        let n = self.set.specs.len();
        let mut instances: Vec<Option<Slot>> = (0..n).map(|_| None).collect();
        let mut alerts: Vec<Vec<Alert>> = vec![Vec::new(); n];
        for w in std::mem::take(&mut self.workers) {
            drop(w.tx);
            let group = match w.handle.join() {
                Ok(g) => g,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            for ((id, inst), a) in group.ids.into_iter().zip(group.instances).zip(group.alerts) {
                instances[id] = Some(inst);
                alerts[id] = a;
            }
        }
        let instances = instances
            .into_iter()
            .map(|i| i.expect("every detector comes back from its thread"))
            .collect();
        self.set.restore(instances, alerts, self.last);
        self.set
    }
}

fn run_group(mut g: Group, rx: Receiver<Arc<Batch>>, back: Sender<Batch>) -> Group {
    while let Ok(batch) = rx.recv() {
        let mut start = 0;
        for f in &batch.frames {
            let bytes = &batch.bytes[start..f.end];
            start = f.end;
            let view = match f.view.and_then(|v| v.attach(bytes)) {
                Some(v) => v,
                // The reader already dropped frames that do not parse.
                None => match PacketView::parse(f.index, bytes) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            observe_all(
                &mut g.instances,
                &g.vantages,
                &mut g.alerts,
                f.vantage,
                f.at,
                &view,
                bytes,
            );
        }
        // The last thread done with a batch returns it (exactly one gets it
        // from `into_inner`; if the reader has finished, it is dropped).
        if let Some(b) = Arc::into_inner(batch) {
            let _ = back.send(b);
        }
    }
    g
}
