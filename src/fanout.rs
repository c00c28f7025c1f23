//! One replay's detectors on all cores, with results identical to one core.
//!
//! Detectors are independent of each other and each sees every frame in
//! capture order, so splitting a [`DetectorSet`] into groups, one thread each,
//! changes nothing but the wall time. The reading thread parses each frame
//! once (for the ground truth, and to count and drop malformed frames) and
//! gathers the good ones into batches, each beside its parsed view; every
//! batch goes to every group, whose detectors all read the same view.
//!
//! A batch is the frames of one of the capture reader's blocks
//! ([`crate::blocks`]): it holds the block itself, shared, and each frame's
//! place in it, so the frames' bytes are not copied. A frame the reader
//! copied out of the input (a pcapng block, a record larger than a block,
//! an iptables log line's packet) is copied into the batch instead. A batch
//! is sent once the reader has moved on to the next block (a block is
//! frozen only once retired), or, with no block, at [`BATCH_FRAMES`] frames
//! or [`BATCH_BYTES`] bytes.
//!
//! A view borrows the bytes it was parsed from, and a batch that held views
//! of its own bytes would be self-referential, which safe Rust does not
//! give. So a batch holds each view detached ([`DetachedView`]: its fields,
//! and its payload as a range of the frame's bytes), and the group's thread
//! attaches it to the frame's bytes in the batch: no frame is parsed twice.
//!
//! Memory is bounded: a batch holds one block (or at most [`BATCH_BYTES`]
//! bytes of copies beside it), and at most [`IN_FLIGHT`] batches wait per
//! group. The thread that finishes a batch last hands it back to the reader,
//! which fills it again: batches are allocated only until the pipeline is
//! full.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use scanbench_capture::FramePlace;
use scanbench_detector::view::DetachedView;
use scanbench_detector::{Alert, Instant, PacketView, Vantage};

use crate::blocks::{Block, Retired};
use crate::detect::{DetectorSet, Unit, observe_all};

/// Frames per batch handed to the detector threads, when the batch holds
/// no block (a block's frames go together, however many).
pub const BATCH_FRAMES: usize = 4096;
/// Bytes of copied frame data per batch without a block (a batch closes at
/// whichever limit comes first).
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
    /// The block the batch's frames in place lie in, if any.
    batch_block: Option<u64>,
    /// The reader's retired blocks in which it handed out frames, in order.
    blocks: Option<(Sender<Retired>, Receiver<Retired>)>,
    /// Batches every thread is done with, to fill again.
    spent: Option<Receiver<Batch>>,
    last: Instant,
}

struct Worker {
    tx: SyncSender<Arc<Batch>>,
    handle: JoinHandle<Group>,
}

/// The detectors one thread runs, and their alerts at their positions in
/// the set (the other positions stay empty).
struct Group {
    units: Vec<Unit>,
    alerts: Vec<Vec<Alert>>,
}

#[derive(Default)]
struct Batch {
    /// The reader's block the frames in place lie in.
    block: Option<Arc<Block>>,
    /// Copies of the frames that are not in the block.
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
    /// Whether the bytes are in the batch's block (else in its copies).
    in_block: bool,
    /// Where the bytes are.
    range: Range<usize>,
}

impl Fanout {
    /// Runs `set` on `threads` threads (1: on the caller's thread, no copies).
    /// Detectors are dealt to the threads in turn by their positions in the
    /// set, so the heavier ones, which the default suite lists next to each
    /// other as variants, are spread. Detectors that share a connection
    /// tracker are one unit and go together, to the thread of the first of
    /// them; a thread that would get no unit is not started.
    pub fn new(mut set: DetectorSet, threads: usize) -> Self {
        let n = set.specs.len();
        let threads = threads.clamp(1, set.units().max(1));
        let mut workers = Vec::new();
        let mut spent = None;
        if threads > 1 {
            let mut groups: Vec<Group> = (0..threads)
                .map(|_| Group {
                    units: Vec::new(),
                    alerts: vec![Vec::new(); n],
                })
                .collect();
            for unit in set.take_units() {
                let g = &mut groups[unit.first() % threads];
                for i in unit.ids() {
                    g.alerts[i] = std::mem::take(&mut set.alerts[i]);
                }
                g.units.push(unit);
            }
            groups.retain(|g| !g.units.is_empty());
            let (back, spent_rx) = channel();
            spent = Some(spent_rx);
            for group in groups {
                let (tx, rx) = sync_channel(IN_FLIGHT);
                let back = back.clone();
                let handle = std::thread::spawn(move || run_group(group, rx, back));
                workers.push(Worker { tx, handle });
            }
        }
        let blocks = (!workers.is_empty()).then(channel);
        Fanout {
            set,
            workers,
            batch: Batch::default(),
            batch_block: None,
            blocks,
            spent,
            last: Instant::ZERO,
        }
    }

    /// Where the capture reader's retired blocks go
    /// ([`crate::blocks::BlockShare`]), if the detectors run on other
    /// threads: frames handed out in place are then passed on in them.
    pub fn block_sender(&self) -> Option<Sender<Retired>> {
        self.blocks.as_ref().map(|(tx, _)| tx.clone())
    }

    /// Feeds one frame, parsed by the caller as `view` from `bytes`, to the
    /// detectors that read `vantage`. `place`: where the bytes lie in the
    /// capture reader's blocks, if they do.
    pub fn observe(
        &mut self,
        vantage: Vantage,
        at: Instant,
        view: &PacketView<'_>,
        bytes: &[u8],
        place: Option<FramePlace>,
    ) {
        if self.workers.is_empty() {
            self.set.observe_view(vantage, at, view, bytes);
            return;
        }
        self.last = self.last.max(at);
        let (in_block, range) = match place {
            Some(p) => {
                self.enter_block(p.block);
                (true, p.start..p.start + bytes.len())
            }
            None => {
                let start = self.batch.bytes.len();
                self.batch.bytes.extend_from_slice(bytes);
                (false, start..self.batch.bytes.len())
            }
        };
        self.batch.frames.push(BatchFrame {
            vantage,
            at,
            view: view.detach(bytes),
            index: view.frame,
            in_block,
            range,
        });
        if self.batch_block.is_none()
            && (self.batch.frames.len() >= BATCH_FRAMES || self.batch.bytes.len() >= BATCH_BYTES)
        {
            self.send();
        }
    }

    /// Counts a frame that is not an IPv4 packet (`place` as for
    /// [`Self::observe`]).
    pub fn malformed(&mut self, place: Option<FramePlace>) {
        self.set.malformed += 1;
        if let (Some(p), false) = (place, self.workers.is_empty()) {
            self.enter_block(p.block);
        }
    }

    /// The next frame lies in block `seq`: a batch of an earlier block is
    /// complete (the reader has retired that block) and is sent.
    fn enter_block(&mut self, seq: u64) {
        if self.batch_block.is_some_and(|b| b != seq) {
            self.send();
        }
        self.batch_block = Some(seq);
    }

    /// The retired block `seq`, dropping the earlier ones no frame was
    /// observed in (their frames were malformed).
    fn retired(&mut self, seq: u64) -> Option<Arc<Block>> {
        let (_, rx) = self.blocks.as_ref()?;
        while let Ok(r) = rx.try_recv() {
            if r.seq == seq {
                return Some(r.block);
            }
        }
        None
    }

    fn send(&mut self) {
        if let Some(seq) = self.batch_block.take() {
            self.batch.block = self.retired(seq);
        }
        if self.batch.frames.is_empty() {
            self.batch.block = None;
            return;
        }
        let mut next = self
            .spent
            .as_ref()
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        next.block = None;
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
        if !self.batch.frames.is_empty() || self.batch_block.is_some() {
            self.send();
        }
        let n = self.set.specs.len();
        let mut units: Vec<Unit> = Vec::new();
        let mut alerts: Vec<Vec<Alert>> = vec![Vec::new(); n];
        for w in std::mem::take(&mut self.workers) {
            drop(w.tx);
            let mut group = match w.handle.join() {
                Ok(g) => g,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            for unit in group.units {
                for i in unit.ids() {
                    alerts[i] = std::mem::take(&mut group.alerts[i]);
                }
                units.push(unit);
            }
        }
        // Back in the set's order (each unit stands where its first detector does).
        units.sort_by_key(Unit::first);
        self.set.restore(units, alerts, self.last);
        self.set
    }
}

fn run_group(mut g: Group, rx: Receiver<Arc<Batch>>, back: Sender<Batch>) -> Group {
    while let Ok(batch) = rx.recv() {
        // A batch without a block has no frames in one.
        let block = batch.block.as_deref().map_or(&[][..], Block::bytes);
        for f in &batch.frames {
            let data = if f.in_block { block } else { &batch.bytes };
            let Some(bytes) = data.get(f.range.clone()) else {
                continue;
            };
            let view = match f.view.and_then(|v| v.attach(bytes)) {
                Some(v) => v,
                // The reader already dropped frames that do not parse.
                None => match PacketView::parse(f.index, bytes) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            observe_all(&mut g.units, &mut g.alerts, f.vantage, f.at, &view, bytes);
        }
        // The last thread done with a batch returns it (exactly one gets it
        // from `into_inner`; if the reader has finished, it is dropped).
        if let Some(b) = Arc::into_inner(batch) {
            let _ = back.send(b);
        }
    }
    g
}
