//! A capture's SHA-256 and its copy into the file, on a second thread.
//!
//! `gen` simulates on one thread and writes what its taps see. Hashing the
//! capture and the kernel's copy of it into the page cache were a fifth of
//! that thread's time (`perf record` of `gen bench/gen-office.toml --hosts
//! 2000`: SHA-256 11.5%, `write` and its page allocation about 8%), work
//! that does not depend on the simulation. [`WriteBehind`] collects the
//! bytes in 256 KiB blocks and hands each full block to a thread that
//! hashes it and writes it, in order, so the simulating thread only copies
//! bytes into a block. The bytes and the digest are those of writing and
//! hashing in place.
//!
//! Memory is bounded: at most [`QUEUED`](crate::chunk_thread::QUEUED)
//! blocks wait for the thread, and the thread hands written blocks back for
//! reuse ([`ChunkThread`]). The first I/O error stops the thread; the next
//! block handed over, or [`WriteBehind::finish`], returns it, so a failing
//! disk stops `gen` within a block (what was written before stays on disk).

use std::io::{self, Write};
use std::ops::ControlFlow;

use sha2::{Digest, Sha256};

use crate::chunk_thread::ChunkThread;
#[cfg(test)]
use crate::chunk_thread::QUEUED;

/// Bytes per block handed to the thread (as the capture reader's read-ahead).
const BLOCK: usize = 256 * 1024;

/// What the thread gives back when it ends: the writer, the digest so far,
/// and the first I/O error, if any.
type Ended<W> = (W, Sha256, io::Result<()>);

/// A [`Write`] whose bytes are hashed and written by a second thread.
pub(crate) struct WriteBehind<W: Write + Send + 'static> {
    block: Vec<u8>,
    thread: ChunkThread<Ended<W>>,
}

impl<W: Write + Send + 'static> WriteBehind<W> {
    /// Starts the thread that hashes and writes into `out`.
    pub(crate) fn new(out: W) -> Self {
        let thread = ChunkThread::spawn(
            (out, Sha256::new(), Ok(())),
            |(out, hash, result): &mut Ended<W>, block| {
                hash.update(block);
                match out.write_all(block) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        *result = Err(e);
                        ControlFlow::Break(())
                    }
                }
            },
            |(mut out, hash, result)| {
                let result = result.and_then(|()| out.flush());
                (out, hash, result)
            },
        );
        WriteBehind {
            block: Vec::with_capacity(BLOCK),
            thread,
        }
    }

    /// Hands the block collected so far to the thread.
    fn hand_over(&mut self) -> io::Result<()> {
        let next = self.thread.empty_chunk(BLOCK);
        let block = std::mem::replace(&mut self.block, next);
        if self.thread.send(block) {
            return Ok(());
        }
        // The thread stopped at an I/O error: return it.
        match self.end() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the capture's writing thread stopped")),
        }
    }

    /// Stops the thread and returns what it gave back (a panic of the
    /// thread is carried on).
    fn end(&mut self) -> io::Result<(W, Sha256)> {
        let (out, hash, result) = self
            .thread
            .join()
            .ok_or_else(|| io::Error::other("the capture's writing thread already ended"))?;
        result.map(|()| (out, hash))
    }

    /// Writes and hashes the rest, flushes, and returns the writer and the
    /// SHA-256 of every byte written.
    pub(crate) fn finish(mut self) -> io::Result<(W, [u8; 32])> {
        if !self.block.is_empty() {
            self.hand_over()?;
        }
        let (out, hash) = self.end()?;
        Ok((out, hash.finalize().into()))
    }
}

impl<W: Write + Send + 'static> Write for WriteBehind<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.block.extend_from_slice(bytes);
        if self.block.len() >= BLOCK {
            self.hand_over()?;
        }
        Ok(bytes.len())
    }

    /// Hands over what is collected; the thread writes it in turn (a flush
    /// does not wait for the disk: [`WriteBehind::finish`] does).
    fn flush(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.hand_over()
    }
}

impl<W: Write + Send + 'static> Drop for WriteBehind<W> {
    /// Hands over the block being filled and lets the thread write all it
    /// holds and end, so a `gen` that stops at an error keeps every byte
    /// produced before it (errors then have no one to go to, as with a
    /// dropped `BufWriter`).
    fn drop(&mut self) {
        if self.thread.is_running() && !self.block.is_empty() {
            let _ = self.hand_over();
        }
        if self.thread.is_running() {
            let _ = self.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails once `limit` bytes are in.
    #[derive(Debug)]
    struct Full {
        got: Vec<u8>,
        limit: usize,
    }

    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.got.len() + b.len() > self.limit {
                return Err(io::Error::other("disk full"));
            }
            self.got.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_and_hashes_every_byte_in_order() {
        let mut w = WriteBehind::new(Vec::new());
        let mut all = Vec::new();
        // Pieces of every size around a block's, so blocks end mid-piece.
        for i in 0..3000u32 {
            let piece: Vec<u8> = (0..(i * 37 % 1500)).map(|j| (i ^ j) as u8).collect();
            w.write_all(&piece).unwrap();
            all.extend_from_slice(&piece);
            if i % 700 == 0 {
                w.flush().unwrap();
            }
        }
        assert!(all.len() > 4 * BLOCK, "the test crosses several blocks");
        let (out, digest) = w.finish().unwrap();
        assert_eq!(out, all);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&all)));
    }

    /// A writer whose bytes the test can still read after it is dropped.
    #[derive(Clone, Debug, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_dropped_writer_keeps_every_byte_written() {
        let out = Shared::default();
        let mut w = WriteBehind::new(out.clone());
        let bytes: Vec<u8> = (0..(3 * BLOCK + 12_345)).map(|i| i as u8).collect();
        w.write_all(&bytes).unwrap();
        drop(w);
        assert_eq!(*out.0.lock().unwrap(), bytes);
    }

    #[test]
    fn an_empty_capture_hashes_as_nothing() {
        let (out, digest) = WriteBehind::new(Vec::new()).finish().unwrap();
        assert!(out.is_empty());
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn an_io_error_reaches_the_writer_within_a_few_blocks() {
        let mut w = WriteBehind::new(Full {
            got: Vec::new(),
            limit: BLOCK,
        });
        let piece = vec![7u8; 1000];
        let mut failed_at = None;
        for i in 0..(20 * BLOCK / piece.len()) {
            if let Err(e) = w.write_all(&piece) {
                assert_eq!(e.to_string(), "disk full");
                failed_at = Some(i * piece.len());
                break;
            }
        }
        let at = failed_at.expect("the error came back");
        assert!(at <= (QUEUED + 3) * BLOCK, "came back after {at} bytes");
    }

    #[test]
    fn an_io_error_in_the_last_block_reaches_finish() {
        let mut w = WriteBehind::new(Full {
            got: Vec::new(),
            limit: 10,
        });
        w.write_all(&[1u8; 100]).unwrap();
        let e = w.finish().unwrap_err();
        assert_eq!(e.to_string(), "disk full");
    }
}
