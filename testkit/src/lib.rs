//! scanbench-testkit: one packet builder, on `smoltcp::wire`, for everything
//! in scanbench that makes packets by hand: the simulator's SYN scanner and
//! balancer health checks, the iptables LOG reader (a log line becomes the
//! packet it describes), and the tests of every crate.
//!
//! Modules:
//! - [`packet`]: [`Ipv4`] headers and [`Tcp`], [`Udp`], [`Icmp`] messages,
//!   each turned into a complete IPv4 packet with valid checksums; TCP flags
//!   are a raw byte, so SYN|FIN, NULL and XMAS probes survive.
//! - [`checksum`]: recompute checksums after rewriting a packet (NAT, balancer).
//! - [`shorthand`]: one-line builders and flag constants for tests.
//!
//! Built through smoltcp's *Packet* layer (`new_unchecked` plus setters), as
//! smoltcp advises for emitting: never `TcpRepr`, which cannot express port 0
//! or odd flag mixes. The crate depends on nothing of scanbench, so both the
//! simulator and the detectors can use it.

#![deny(missing_docs)]

pub mod checksum;
pub mod packet;
pub mod shorthand;

pub use packet::{Icmp, Ipv4, Tcp, Udp, proto};
pub use shorthand::*;
