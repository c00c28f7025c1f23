//! The middlebox hook: a packet-processing stage inside a router.
//!
//! A router runs its middleboxes in order on every packet it receives; the
//! first one that does not answer [`Action::Forward`] decides the packet's fate.
//! Middleboxes may rewrite the packet (and must leave its checksums correct:
//! see `scanbench_testkit::checksum::refill`), change its label (the cause a
//! middlebox adds, e.g. `balancer-misconfig`), log drops to the router's drop
//! log, emit packets of their own, and ask for timers (state expiry, faults).
//!
//! Implementations, one file each:
//! - [`firewall`]: stateful filter with zones, ordered rules, a connection table
//!   with per-state idle timeouts (Linux conntrack or ScreenOS profiles), a size
//!   limit, and scheduled faults (lost entry, flush, failover) that produce the
//!   sessionless packets of a lost state entry.
//! - [`nat`]: source NAT / PAT behind one public address, with mapping timeouts
//!   and sequential, random or port-preserving allocation.
//! - [`balancer`]: a VIP in front of a pool, correct or misconfigured return
//!   path (replies from the backend's own address), and half-open health checks.
//!
//! Every spec (`FirewallSpec`, `NatSpec`, `BalancerSpec`) is the serde form a
//! scenario file uses; its `build` checks every field and names the bad one.

use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};

use crate::label::{LabelId, Labels};

pub mod balancer;
pub mod firewall;
mod flow;
pub mod nat;

pub use balancer::BalancerSpec;
pub use firewall::FirewallSpec;
pub use nat::NatSpec;

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

/// A firewall and a NAT on one router, run in the order a real perimeter runs
/// them: packets from the inside are filtered, then source-translated (the
/// firewall's sessions hold inside addresses); packets from elsewhere are
/// translated back first, then filtered against those same sessions. A fixed
/// order would break one direction.
pub struct Perimeter {
    nat: Box<dyn Middlebox>,
    firewall: Box<dyn Middlebox>,
    inside: Vec<String>,
}

impl Perimeter {
    /// Combines `nat` (whose inside neighbours are `inside`) and `firewall`.
    pub fn new(nat: Box<dyn Middlebox>, firewall: Box<dyn Middlebox>, inside: Vec<String>) -> Self {
        Perimeter {
            nat,
            firewall,
            inside,
        }
    }
}

impl Middlebox for Perimeter {
    fn kind(&self) -> &'static str {
        "nat+firewall"
    }

    fn owned_addrs(&self) -> Vec<Ipv4Addr> {
        let mut v = self.nat.owned_addrs();
        v.extend(self.firewall.owned_addrs());
        v
    }

    fn process(&mut self, ctx: &mut MiddleboxCtx<'_>, pkt: &mut Packet, from: &str) -> Action {
        let outbound = self.inside.iter().any(|n| n == from);
        let (first, second) = if outbound {
            (&mut self.firewall, &mut self.nat)
        } else {
            (&mut self.nat, &mut self.firewall)
        };
        match first.process(ctx, pkt, from) {
            Action::Forward => second.process(ctx, pkt, from),
            a => a,
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        match (self.nat.next_timer(), self.firewall.next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, ctx: &mut MiddleboxCtx<'_>) {
        for m in [&mut self.firewall, &mut self.nat] {
            if m.next_timer().is_some_and(|t| t <= ctx.now) {
                m.on_timer(ctx);
            }
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.nat.stats();
        v.extend(self.firewall.stats());
        v
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
