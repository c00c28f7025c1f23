//! scanbench-sim: a deterministic network simulator built from real smoltcp
//! TCP/IP stacks, for producing labelled, checksum-clean traffic.
//!
//! Layers:
//! - [`fabric`]: the [`Network`]: hosts, routers, links, taps, one event queue
//!   ordered by (virtual time, insertion order). The clock jumps to the next
//!   event; it never ticks. An optional outside node stands for the world
//!   beyond the simulation (silent in a simulated run; a TUN device in
//!   `scanbench live`).
//! - [`host`]: one smoltcp interface per host (Medium::Ip, its own seed), with
//!   [`app`]lications: web server, HTTP client and poller, SYN and connect scanners.
//! - [`link`]: latency, jitter, loss, bandwidth, per-direction seeded streams.
//! - [`middlebox`]: the hook where firewalls, NATs and balancers inspect,
//!   rewrite, drop, delay and log packets.
//! - [`label`]: ground truth for every packet (actor, class, cause; the
//!   types live in `scanbench-capture`, beside the formats that store them).
//! - [`rng`]: one seeded ChaCha stream per component, keyed by name.
//!
//! Guarantees: the same scenario and seed give byte-identical frames and
//! labels; no wall clock, no threads, no iteration over unordered maps.

#![deny(missing_docs)]

pub mod app;
mod claims;
mod device;
pub mod error;
pub mod fabric;
mod flows;
pub mod host;
pub mod label;
pub mod link;
pub mod middlebox;
pub mod ports;
mod prefetch;
mod queue;
mod radix;
pub mod rng;
mod socket_buffers;
pub mod units;

pub use error::{Error, Result};
pub use fabric::{FabricStats, Frame, FrameSink, LinkId, Network, NodeId, TapId, TapPoint};
pub use host::HostSpec;
pub use label::{Class, Label, LabelId, Labels};
pub use link::LinkSpec;
pub use smoltcp::time::{Duration, Instant};
