//! Handing the reader's read-ahead buffers on, so the bytes read need not be
//! copied again: a replay hashes them and runs its detectors over the frames
//! in them where they were read (see [`CaptureReader::with_blocks`]).
//!
//! The reader reads into one buffer (a block) until a record no longer fits
//! in what is left of it. Then it takes a new block from the [`BlockSink`],
//! carries the unconsumed bytes (the start of that record) over to it, and
//! retires the full one to the sink. Every byte read from the input is in
//! exactly one block's fresh range, in order; a frame handed out in place
//! names its block by sequence number ([`FramePlace`]).
//!
//! [`CaptureReader::with_blocks`]: super::CaptureReader::with_blocks

use std::ops::Range;

/// Where a reader's read-ahead blocks go once it has moved past them.
pub trait BlockSink {
    /// A block to read into next, at least `len` bytes long (its contents
    /// are overwritten).
    fn next_block(&mut self, len: usize) -> Vec<u8>;

    /// The block with sequence number `seq` (0 for the first) is done:
    /// `block[fresh]` are the bytes read from the input into it, in input
    /// order after the previous block's; the bytes before `fresh.start` were
    /// carried over from the previous block (they are in its fresh range);
    /// frames handed out in place with this `seq` lie in `block[..fresh.end]`,
    /// and `handed_out` says whether there are any.
    fn retire(&mut self, seq: u64, block: Vec<u8>, fresh: Range<usize>, handed_out: bool);
}

/// Where a frame handed out in place lies: in block `block`, from byte
/// `start` (see [`super::FrameRef::place`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramePlace {
    /// Sequence number of the block (as passed to [`BlockSink::retire`]).
    pub block: u64,
    /// Offset of the frame's first byte in the block.
    pub start: usize,
}
