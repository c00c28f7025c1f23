//! Faithful re-implementations of port-scan detectors, over raw IPv4 bytes.
//!
//! Layers:
//! The framework:
//! - [`view`]: `PacketView` parses one raw IPv4 packet (checked smoltcp views,
//!   raw TCP flags). Malformed input is a value, never a panic.
//! - [`detector`]: the push-model [`Detector`] trait every algorithm
//!   implements, its [`Vantage`] and its static [`DetectorInfo`].
//! - [`alert`]: what a detector reports, and the evidence behind it.
//! - [`flow`]: a connection tracker for the detectors that need sessions.
//! - [`state`]: tables under a byte budget (a detector's memcap), with
//!   O(log n) eviction of the oldest entry and O(log n) expiry, and an
//!   O(1) least-recently-used list.
//! - [`params`] and [`registry`]: detectors by name, configured with upstream
//!   parameter names and defaults; the registry is the one list.
//! - [`iptables_log`]: iptables LOG lines as packets (psad's input).
//!
//! The algorithms, one module each, are in [`detectors`].
//!
//! Rules every detector keeps: it reads only bytes and the timestamp it is
//! given (no wall clock, no simulator state); it iterates only ordered
//! collections; it never panics on any byte sequence nor on any timestamp
//! (time arithmetic saturates: a clock that jumps or runs backwards is data);
//! its state is bounded by a memcap, with evictions counted; its defaults
//! equal the upstream tool's documented defaults, cited in its module docs.

#![deny(missing_docs)]

pub mod alert;
pub mod detector;
pub mod detectors;
pub mod flow;
pub mod iptables_log;
pub mod params;
pub mod registry;
pub mod state;
pub mod view;

#[cfg(test)]
mod testutil;

pub use alert::{Alert, AlertKind, Counted, Evidence, Rule};
pub use detector::{Detector, DetectorInfo, Instance, Memory, Vantage};
pub use params::{Cidr, ConfigError, ParamSpec, Params};

pub use smoltcp::time::{Duration, Instant};
pub use view::{PacketView, TcpFlags, Transport};
