//! Faithful re-implementations of port-scan detectors, over raw IPv4 bytes.
//!
//! Layers:
//! - [`view`]: `PacketView` parses one raw IPv4 packet (checked smoltcp views,
//!   raw TCP flags). Malformed input is a value, never a panic.
//! - [`Detector`]: the push-model trait every algorithm implements.
//! - [`alert`]: what a detector reports, and the evidence behind it.
//! - [`params`] and [`registry`]: detectors by name, configured with upstream
//!   parameter names and defaults.
//! - one module per algorithm.
//!
//! Rules every detector keeps: it reads only bytes and the timestamp it is
//! given (no wall clock, no simulator state); it iterates only ordered
//! collections; it never panics on any byte sequence; its defaults equal the
//! upstream tool's documented defaults, cited in its module docs.

#![deny(missing_docs)]

pub mod alert;
pub mod bro1_scan;
pub mod flow;
pub mod iptables_log;
pub mod params;
pub mod portsentry;
pub mod psad;
pub mod registry;
pub mod scanlogd;
pub mod screenos;
pub mod sfportscan;
pub mod threshold_rules;
pub mod trw;
pub mod view;
pub mod zeek_scan;

#[cfg(test)]
mod testutil;

pub use alert::{Alert, AlertKind, Evidence};
pub use params::{Cidr, ConfigError, ParamSpec, Params};
pub use registry::{DetectorInfo, Instance};
pub use smoltcp::time::{Duration, Instant};
pub use view::{PacketView, TcpFlags, Transport};

/// Where a detector reads its packets, mirroring where the real tool sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vantage {
    /// Every packet crossing a link tap, both directions (Snort, Zeek, scanlogd, an inline screen).
    Wire,
    /// Only packets a firewall dropped and logged (psad reads iptables LOG lines).
    DropLog,
}

/// A port-scan detection algorithm.
///
/// Push model, as in a real sensor: the caller hands over packets in capture
/// order with their timestamps, and the detector appends alerts to a sink the
/// caller owns (no allocation per call when nothing fires). Time only moves
/// through `now`; timers that would fire with no packet arriving are run by
/// [`Detector::flush`], which the caller calls at the end of the capture (and
/// may call at any time, with a non-decreasing `now`).
pub trait Detector {
    /// Registry name (`screenos`, `scanlogd`, ...), copied into every alert.
    fn name(&self) -> &'static str;

    /// Where this detector reads packets. Most read the wire.
    fn vantage(&self) -> Vantage {
        Vantage::Wire
    }

    /// Observes one packet captured at `now`.
    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>);

    /// Runs timers due at or before `now` (window expiry, pending attempts).
    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        let _ = (now, out);
    }
}
