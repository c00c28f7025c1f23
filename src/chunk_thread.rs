//! A thread that takes byte chunks in order and hands them back for reuse.
//!
//! Hashing what a replay reads below a decompressor ([`crate::digest`]) and
//! hashing and writing what `gen` produces ([`crate::write_behind`]) are the
//! same shape: the busy thread copies bytes into a chunk, a second thread
//! consumes the chunks in order, and spent chunks come back so that no
//! chunk is allocated per read or write (a chunk above the allocator's mmap
//! threshold would cost a system call and fresh pages each time). At most
//! [`QUEUED`] chunks wait for the second thread, which bounds memory; the
//! busy thread blocks on a full queue rather than let work pile up.

use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

/// Chunks or blocks waiting for the consuming thread before the busy one
/// waits (a chunk is one read of the buffered reader above, at most its
/// capacity; a block is one of the capture reader's, 256 KiB). Four: at 16,
/// a hashing thread starved of CPU let 4 MiB of blocks pile up, enough to
/// push the 96 MiB replay of `tests/robustness.rs` over its limit; deeper
/// queues were no faster (docs/performance.md).
pub(crate) const QUEUED: usize = 4;

/// The consuming thread and the two channels to it.
pub(crate) struct ChunkThread<T> {
    full: Option<SyncSender<Vec<u8>>>,
    spent: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> ChunkThread<T> {
    /// Starts a thread that runs `each` on every chunk sent, in order, until
    /// the sending side ends or `each` breaks, and then `end` on its state;
    /// [`Self::join`] returns what `end` made.
    pub(crate) fn spawn<S: Send + 'static>(
        mut state: S,
        mut each: impl FnMut(&mut S, &[u8]) -> ControlFlow<()> + Send + 'static,
        end: impl FnOnce(S) -> T + Send + 'static,
    ) -> Self {
        let (full, chunks) = sync_channel::<Vec<u8>>(QUEUED);
        let (give_back, spent) = channel::<Vec<u8>>();
        let thread = std::thread::spawn(move || {
            for mut chunk in chunks {
                if each(&mut state, &chunk).is_break() {
                    break;
                }
                chunk.clear();
                // The busy side may have finished: then the chunk is dropped.
                let _ = give_back.send(chunk);
            }
            end(state)
        });
        ChunkThread {
            full: Some(full),
            spent,
            thread: Some(thread),
        }
    }

    /// An empty chunk to fill: a spent one if the thread has given one back.
    pub(crate) fn empty_chunk(&self, capacity: usize) -> Vec<u8> {
        self.spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(capacity))
    }

    /// Hands `chunk` to the thread; false once the thread has stopped (its
    /// `each` broke) or been joined.
    pub(crate) fn send(&self, chunk: Vec<u8>) -> bool {
        self.full.as_ref().is_some_and(|f| f.send(chunk).is_ok())
    }

    /// Whether the thread has not been joined yet.
    pub(crate) fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Ends the input, waits for the thread and returns what its `end`
    /// made; `None` if it was joined before. A panic of the thread is
    /// carried on to the caller.
    pub(crate) fn join(&mut self) -> Option<T> {
        self.full = None;
        self.thread.take().map(joined)
    }
}

/// What a thread returned, its panic, if it panicked, carried on to the
/// caller.
pub(crate) fn joined<T>(thread: JoinHandle<T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_in_order_and_the_state_at_the_end() {
        let mut t = ChunkThread::spawn(
            Vec::new(),
            |seen: &mut Vec<u8>, c| {
                seen.extend_from_slice(c);
                ControlFlow::Continue(())
            },
            |seen| seen,
        );
        let mut want = Vec::new();
        for i in 0..100u8 {
            let mut c = t.empty_chunk(16);
            assert!(c.is_empty(), "a spent chunk comes back cleared");
            c.extend_from_slice(&[i; 7]);
            want.extend_from_slice(&c);
            assert!(t.send(c));
        }
        assert_eq!(t.join(), Some(want));
        assert_eq!(t.join(), None, "joined once");
        assert!(!t.send(vec![1]), "nothing is taken after the join");
    }

    #[test]
    fn a_break_stops_the_thread_and_the_sender_learns_it() {
        let mut t = ChunkThread::spawn(
            0usize,
            |n, _| {
                *n += 1;
                if *n == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            |n| n,
        );
        // The thread stops after the third chunk; a few more may still fit
        // in the queue before a send fails.
        let sent = (0..100).take_while(|_| t.send(vec![0])).count();
        assert!((3..=3 + QUEUED + 1).contains(&sent), "{sent} sent");
        assert_eq!(t.join(), Some(3));
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn a_panic_of_the_thread_reaches_the_joiner() {
        let mut t = ChunkThread::spawn((), |_, _| panic!("boom"), |()| ());
        t.send(vec![0]);
        t.join();
    }
}
