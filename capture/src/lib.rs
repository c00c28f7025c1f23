//! scanbench-capture: every capture format scanbench reads or writes, in one
//! place, so the writer and the reader share one knowledge of each block,
//! magic and byte order.
//!
//! Modules:
//! - [`format`](mod@format): the on-disk constants of classic pcap and pcapng.
//! - [`write`](mod@write): [`PcapWriter`] streams raw IPv4 frames into classic pcap (µs
//!   or ns) or pcapng with per-packet comments, byte-deterministically.
//! - [`read`]: [`CaptureReader`] streams frames out of pcap or pcapng (either
//!   byte order, any resolution), naming the byte offset of any damage.
//! - [`link`]: link-layer types and the IPv4 packet inside a frame.
//! - [`label`]: ground truth per packet ([`Label`]), and its pcapng comment form.
//! - [`labels`]: the JSON-lines labels side file, written and read.
//!
//! Users: the simulator labels frames with [`Label`]; the root crate writes
//! taps through [`PcapWriter`] and [`labels::LabelRecord`], and `replay` reads
//! through [`CaptureReader`] and [`labels::FrameLabels`]. The crate knows
//! nothing of the simulator or the detectors.
//!
//! Guarantees: no byte sequence makes the reader panic or allocate more than
//! [`read::MAX_RECORD`] at once; the writer's output depends only on its input
//! (no host, version or wall-clock data).

#![deny(missing_docs)]

pub mod error;
pub mod format;
pub mod label;
pub mod labels;
pub mod link;
pub mod read;
pub mod write;

pub use error::{Error, Result};
pub use label::{Class, Label};
pub use read::{
    BlockSink, CaptureError, CaptureFormat, CaptureReader, CaptureStats, ErrorKind, Frame,
    FramePlace, FrameRef, Input,
};
pub use write::{PcapFormat, PcapWriter};
