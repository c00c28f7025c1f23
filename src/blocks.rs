//! The capture reader's read-ahead blocks, shared by the threads of a replay
//! instead of copied to each.
//!
//! The reader reads the input into blocks of [`capture::read`]'s read-ahead
//! size and, once it has moved past one, retires it here
//! ([`BlockShare`], the reader's [`BlockSink`]). A retired block is frozen
//! and shared by `Arc`: the hashing thread hashes the bytes read into it
//! ([`crate::digest::BlockHasher`]) and the detector threads read the frames
//! that lie in it ([`crate::fanout`]), each where it was read. The last
//! thread to let go of a block sends its buffer back, and the reader fills
//! it again, so blocks are allocated only until the pipeline is full and
//! memory stays bounded by the queues' depths, whatever the input's length.
//!
//! [`capture::read`]: scanbench_capture::read

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel};

use scanbench_capture::BlockSink;

/// A retired block: bytes read from the input, never written again.
pub struct Block {
    bytes: Vec<u8>,
    /// Where the buffer goes when the last reference is dropped.
    pool: Option<Sender<Vec<u8>>>,
}

impl Block {
    /// A block that is not recycled.
    pub fn detached(bytes: Vec<u8>) -> Self {
        Block { bytes, pool: None }
    }

    /// The whole buffer (frames index into it).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            // The reader may be gone: then the buffer is freed.
            let _ = pool.send(std::mem::take(&mut self.bytes));
        }
    }
}

/// A block the hashing thread hashes: the bytes in `fresh`.
pub type HashJob = (Arc<Block>, Range<usize>);

/// A block in which frames were handed out, for the detector threads.
pub struct Retired {
    /// The block's sequence number ([`scanbench_capture::FramePlace::block`]).
    pub seq: u64,
    /// The block.
    pub block: Arc<Block>,
}

/// The reader's [`BlockSink`]: retired blocks to the hashing thread (if the
/// input's bytes are the file's, i.e. not decompressed) and, if the
/// detectors run on other threads, to the fanout.
pub struct BlockShare {
    pool: Sender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    hash: Option<SyncSender<HashJob>>,
    frames: Option<Sender<Retired>>,
}

impl BlockShare {
    /// Retired blocks go to `hash` and `frames`, where given.
    pub fn new(hash: Option<SyncSender<HashJob>>, frames: Option<Sender<Retired>>) -> Self {
        let (pool, recycled) = channel();
        BlockShare {
            pool,
            recycled,
            hash,
            frames,
        }
    }
}

impl BlockSink for BlockShare {
    fn next_block(&mut self, len: usize) -> Vec<u8> {
        match self.recycled.try_recv() {
            Ok(b) if b.len() >= len => b,
            _ => vec![0; len],
        }
    }

    fn retire(&mut self, seq: u64, block: Vec<u8>, fresh: Range<usize>, handed_out: bool) {
        let block = Arc::new(Block {
            bytes: block,
            pool: Some(self.pool.clone()),
        });
        if let Some(hash) = &self.hash {
            // The hashing thread only stops when its sender hangs up.
            let _ = hash.send((Arc::clone(&block), fresh));
        }
        if let (true, Some(frames)) = (handed_out, &self.frames) {
            // The fanout takes every block it was handed frames of.
            let _ = frames.send(Retired { seq, block });
        }
    }
}
