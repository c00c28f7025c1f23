//! The SHA-256 of an input, computed while it is read, on its own thread.
//!
//! Hashing a capture costs about as much as parsing it (some 2 GB/s with the
//! CPU's SHA extensions), and a replay's reading thread is its busiest, so the
//! bytes read are handed to a hashing thread: the capture reader's own
//! blocks where its bytes are the file's ([`BlockHasher`], no copy), or a
//! copy of each read below a decompressor ([`HashingReader`]). The digest is
//! of the bytes exactly as read, in order; nothing else depends on the thread.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::blocks::HashJob;
use crate::chunk_thread::{ChunkThread, QUEUED, joined};

/// A hashing thread fed the capture reader's retired blocks
/// ([`crate::blocks::BlockShare`]).
pub struct BlockHasher {
    jobs: SyncSender<HashJob>,
    hasher: JoinHandle<Sha256>,
}

impl BlockHasher {
    /// Starts the hashing thread.
    pub fn new() -> Self {
        let (jobs, rx) = sync_channel::<HashJob>(QUEUED);
        let hasher = std::thread::spawn(move || {
            let mut h = Sha256::new();
            while let Ok((block, fresh)) = rx.recv() {
                // The reader hands out ranges of the block it read into.
                if let Some(bytes) = block.bytes().get(fresh) {
                    h.update(bytes);
                }
            }
            h
        });
        BlockHasher { jobs, hasher }
    }

    /// Where the reader's blocks go (the digest is complete once every
    /// sender has been dropped and [`Self::finish`] called).
    pub fn jobs(&self) -> SyncSender<HashJob> {
        self.jobs.clone()
    }

    /// Hashes `rest`, the input after the reader's last block (what is left
    /// after damage stopped the capture reader), and returns the hex digest
    /// of the whole input; empty if reading failed.
    pub fn finish(self, mut rest: impl Read) -> String {
        drop(self.jobs);
        let mut hash = joined(self.hasher);
        match io::copy(&mut rest, &mut hash) {
            Ok(_) => crate::simulate::hex(&hash.finalize()),
            Err(_) => String::new(),
        }
    }
}

impl Default for BlockHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader that hashes every byte it passes on.
pub struct HashingReader<R> {
    inner: R,
    /// Copies of what was read go to the hashing thread, which hands the
    /// copies back to fill again.
    hasher: ChunkThread<Sha256>,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what is read from `inner`.
    pub fn new(inner: R) -> Self {
        let hasher = ChunkThread::spawn(
            Sha256::new(),
            |h, chunk| {
                h.update(chunk);
                ControlFlow::Continue(())
            },
            |h| h,
        );
        HashingReader { inner, hasher }
    }

    /// Reads what is left (after damage stopped the capture reader) and
    /// returns the hex digest of the whole input; empty if reading failed.
    pub fn finish(mut self) -> String {
        let complete = io::copy(&mut self, &mut io::sink()).is_ok();
        let Some(hash) = self.hasher.join() else {
            return String::new();
        };
        if complete {
            crate::simulate::hex(&hash.finalize())
        } else {
            String::new()
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && self.hasher.is_running() {
            let mut chunk = self.hasher.empty_chunk(n);
            chunk.extend_from_slice(&buf[..n]);
            // The hashing thread only stops when this side hangs up.
            self.hasher.send(chunk);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_everything_read_and_the_rest() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = HashingReader::new(&data[..]);
        let mut first = vec![0u8; 70_000];
        r.read_exact(&mut first).unwrap();
        let want: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.finish(), want);
    }
}
