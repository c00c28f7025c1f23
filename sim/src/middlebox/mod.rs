//! The middlebox hook: a packet-processing stage inside a router.
//!
//! A router runs its middleboxes in order on every packet it receives; the
//! first one that does not answer [`Action::Forward`] decides the packet's fate.
//! Middleboxes may rewrite the packet (and must leave its checksums correct:
//! see [`crate::craft::refill_checksums`]), change its label (the cause a
//! middlebox adds, e.g. `balancer-misconfig`), log drops to the router's drop
//! log, emit packets of their own, and ask for timers (state expiry, faults).

use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};

use crate::label::{LabelId, Labels};

/// A packet in flight, with its ground-truth label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Raw IPv4 bytes.
    pub bytes: Vec<u8>,
    /// Who caused it and why.
    pub label: LabelId,
}

/// What a middlebox decides for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it on to the next middlebox, then routing.
    Forward,
    /// Discard it silently (a logged drop calls [`MiddleboxCtx::log_drop`] first).
    Drop,
    /// Hold it this long, then route it without running the middleboxes again.
    Delay(Duration),
}

/// What a middlebox may touch while it runs.
pub struct MiddleboxCtx<'a> {
    /// Current virtual time.
    pub now: Instant,
    /// The label table, to derive labels with another cause.
    pub labels: &'a mut Labels,
    pub(crate) drop_log: &'a mut Vec<Packet>,
    pub(crate) emitted: &'a mut Vec<Packet>,
}

impl MiddleboxCtx<'_> {
    /// Records `pkt` in the router's drop log (what `iptables -j LOG` or a
    /// NetScreen traffic log would show), as a frame detectors can read.
    pub fn log_drop(&mut self, pkt: &Packet) {
        self.drop_log.push(pkt.clone());
    }

    /// Sends a packet of the middlebox's own (health check, RST), routed from this router.
    pub fn emit(&mut self, pkt: Packet) {
        self.emitted.push(pkt);
    }
}

/// A packet-processing node function (firewall, NAT, load balancer).
pub trait Middlebox {
    /// Kind name for summaries (`firewall`, `nat`, `balancer`).
    fn kind(&self) -> &'static str;

    /// Addresses this middlebox answers for (a balancer's VIP, a NAT's public
    /// address): the fabric routes them to this router.
    fn owned_addrs(&self) -> Vec<Ipv4Addr> {
        Vec::new()
    }

    /// Processes one packet that arrived from the neighbour named `from`.
    fn process(&mut self, ctx: &mut MiddleboxCtx<'_>, pkt: &mut Packet, from: &str) -> Action;

    /// When this middlebox next needs [`Middlebox::on_timer`].
    fn next_timer(&self) -> Option<Instant> {
        None
    }

    /// Runs timers due at `ctx.now` (expiry, scheduled faults).
    fn on_timer(&mut self, ctx: &mut MiddleboxCtx<'_>) {
        let _ = ctx;
    }

    /// Counters for the run summary.
    fn stats(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}
