//! Live mode (`scanbench live`): the simulated network bridged to a TUN
//! device, so real tools (nmap, curl, a real IDS) talk to simulated hosts
//! through simulated middleboxes.
//!
//! The scenario's `[live]` table names the router the outside hangs off
//! ([`crate::scenario::Live`]). Packets the kernel routes into the TUN device
//! enter the fabric at that outside node, as if an outside host had sent them;
//! packets the simulation sends to an outside address leave through the
//! device. The detectors read the scenario's sensor taps as in a simulated
//! run and their alerts are handed over as they are raised; captures and
//! labels are written (packets from outside labelled `external` unless the
//! table says otherwise), and the run ends with the usual report.
//!
//! **The clock runs in real time, so determinism is given up**: the seed
//! still fixes what the simulated stacks choose (ISNs, ports), but when
//! packets arrive is up to the real clients and the machine.
//!
//! - [`kernel`]: the checks (root, `/dev/net/tun`, free name, no overlapping
//!   route) and the device's configuration with `ip`;
//! - [`port`]: the TUN device (the `tun-tap` crate), and the [`Port`] trait
//!   the driver reads and writes (a socket pair in tests);
//! - [`driver`]: the real-time poll loop, stopped by SIGINT/SIGTERM, a time
//!   limit or a [`StopHandle`];
//! - [`session`]: one run, from scenario to [`LiveRun`];
//! - [`error`]: what can go wrong ([`LiveError`]).

pub mod driver;
pub mod error;
pub mod kernel;
pub mod port;
pub mod session;

pub use driver::{Driver, PortStats, StopHandle, Stopped};
pub use error::LiveError;
pub use port::{Port, Tun};
pub use session::{LiveOptions, LiveRun, Session};
