//! The outside: a node that stands for everything beyond the simulated network.
//!
//! In a simulated run it is a silent sink: packets routed to an outside
//! address arrive there and are counted. In live mode (`scanbench live`) a
//! driver connects it to a real device: it [`Network::inject`]s the packets a
//! real kernel sends, which enter the fabric on the outside node's one link as
//! if an outside host had sent them, and it writes out what
//! [`Network::take_outgoing`] returns.
//!
//! Routing: every router learns, by the same shortest-path search as for
//! simulated addresses, the link towards each outside node, and uses it for a
//! destination inside one of that node's prefixes when no simulated host or
//! middlebox owns the address (simulated addresses always win).
//!
//! Labels: a packet from outside that opens a flow (a SYN, a first UDP
//! datagram) carries the outside node's label (`actor=external ... cause=external`
//! by default); any other packet inherits the label of the flow it belongs to,
//! so a real kernel's RST to a simulated scanner's probe is the scanner's
//! doing, exactly as for simulated stacks.

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Cidr;

use super::{FrameSink, LinkId, Network, Node, NodeId, NodeKind};
use crate::error::{Error, Result};
use crate::flows::tuple;
use crate::label::{Label, LabelId};
use crate::middlebox::Packet;

/// An outside node at run time.
pub(crate) struct External {
    /// Destinations routed here.
    prefixes: Vec<Ipv4Cidr>,
    /// Label of packets from outside that start a flow.
    label: LabelId,
    /// Per router: the egress link (and side) towards this node; filled by
    /// [`Network::compute_outside_routes`]. Lookup only, never iterated.
    routes: FxHashMap<NodeId, (LinkId, usize)>,
    /// Whether a driver collects what arrives (live mode) or it is discarded.
    attached: bool,
    /// Packets that arrived, not yet taken by the driver.
    outbox: Vec<Vec<u8>>,
    /// Packets injected from outside.
    received: u64,
    /// Packets that reached the outside.
    delivered: u64,
}

impl External {
    fn covers(&self, dst: Ipv4Addr) -> bool {
        self.prefixes.iter().any(|p| p.contains_addr(&dst))
    }

    /// A packet reached the outside; its buffer comes back unless a driver
    /// will take it.
    pub(crate) fn receive(&mut self, pkt: Packet) -> Option<Vec<u8>> {
        self.delivered += 1;
        if self.attached {
            self.outbox.push(pkt.bytes);
            None
        } else {
            Some(pkt.bytes)
        }
    }

    /// Counters for the run summary.
    pub(crate) fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("from_outside", self.received),
            ("to_outside", self.delivered),
        ]
    }
}

impl Network {
    /// Adds an outside node named `name` that stands for the addresses in
    /// `prefixes`; packets from outside that open a flow are labelled `label`.
    /// Link it to a router with [`Network::add_link`] (it has one link, like a host).
    ///
    /// # Errors
    /// A name already used, or no prefix.
    pub fn add_external(
        &mut self,
        name: &str,
        prefixes: Vec<Ipv4Cidr>,
        label: Label,
    ) -> Result<NodeId> {
        self.check_name(name)?;
        if prefixes.is_empty() {
            return Err(Error::NoOutsidePrefix(name.to_string()));
        }
        let label = self.labels.intern(label);
        self.nodes.push(Node {
            name: name.to_string(),
            kind: NodeKind::External(External {
                prefixes,
                label,
                routes: FxHashMap::default(),
                attached: false,
                outbox: Vec::new(),
                received: 0,
                delivered: 0,
            }),
            ports: Vec::new(),
            uplink: None,
            routes: FxHashMap::default(),
            drop_taps: Vec::new(),
        });
        let id = NodeId(self.nodes.len() as u32 - 1);
        self.externals.push(id);
        Ok(id)
    }

    /// From now on, keeps the packets that reach outside node `node` for
    /// [`Network::take_outgoing`] instead of discarding them.
    ///
    /// # Panics
    /// If `node` is not an outside node.
    pub fn attach_outside(&mut self, node: NodeId) {
        self.external_mut(node).attached = true;
    }

    /// A packet from outside, handed to the outside node's link at the current
    /// time (recorded by that link's taps, then delivered after its latency).
    /// Bytes that are not an IPv4 packet are still carried: the routers drop
    /// what they cannot route.
    ///
    /// # Panics
    /// If `node` is not an outside node, or has no link.
    pub fn inject(&mut self, node: NodeId, bytes: Vec<u8>, sink: &mut dyn FrameSink) {
        let now = self.now;
        let own = self.external_mut(node).label;
        let label = match tuple(&bytes) {
            Some(t) => self.flows.label_sent(&t, own, now),
            None => own,
        };
        let ext = self.external_mut(node);
        ext.received += 1;
        let Some(&(link, side)) = self.nodes[node.0 as usize].ports.first() else {
            panic!(
                "outside node `{}` has no link",
                self.nodes[node.0 as usize].name
            );
        };
        self.transmit(link, side, Packet { bytes, label }, sink);
    }

    /// The packets that reached outside node `node` since the last call, in
    /// arrival order (only after [`Network::attach_outside`]).
    ///
    /// # Panics
    /// If `node` is not an outside node.
    pub fn take_outgoing(&mut self, node: NodeId) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.external_mut(node).outbox)
    }

    /// When the next event is due, if any: what a real-time driver sleeps until.
    pub fn next_event(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(self.now);
        }
        self.queue.next_at()
    }

    /// The simulated address space, for a route into the simulation: every
    /// host's subnet, and every address a middlebox owns (a /32) that no
    /// subnet covers; sorted, without duplicates.
    pub fn simulated_prefixes(&self) -> Vec<Ipv4Cidr> {
        let mut nets: Vec<Ipv4Cidr> = Vec::new();
        let mut owned: Vec<Ipv4Addr> = Vec::new();
        for n in &self.nodes {
            match &n.kind {
                NodeKind::Host(h) => {
                    nets.push(Ipv4Cidr::new(h.spec.addr, h.spec.prefix.min(32)).network())
                }
                NodeKind::Router(r) => {
                    owned.extend(r.middleboxes.iter().flat_map(|m| m.owned_addrs()));
                }
                NodeKind::External(_) => {}
            }
        }
        let lone: Vec<Ipv4Cidr> = owned
            .into_iter()
            .filter(|a| !nets.iter().any(|p| p.contains_addr(a)))
            .map(|a| Ipv4Cidr::new(a, 32))
            .collect();
        nets.extend(lone);
        nets.sort_by_key(|p| (p.address(), p.prefix_len()));
        nets.dedup();
        // Drop prefixes inside a wider one.
        let all = nets.clone();
        nets.retain(|p| {
            !all.iter()
                .any(|q| q != p && q.prefix_len() < p.prefix_len() && q.contains_subnet(p))
        });
        nets
    }

    fn external_mut(&mut self, node: NodeId) -> &mut External {
        let n = &mut self.nodes[node.0 as usize];
        match &mut n.kind {
            NodeKind::External(e) => e,
            _ => panic!("`{}` is not an outside node", n.name),
        }
    }

    /// The link (and side) router `router` sends `dst` out of when no
    /// simulated address matches: towards the first outside node covering it.
    pub(super) fn outside_route(&self, router: NodeId, dst: Ipv4Addr) -> Option<(LinkId, usize)> {
        self.externals
            .iter()
            .find_map(|&x| match &self.nodes[x.0 as usize].kind {
                NodeKind::External(e) if e.covers(dst) => e.routes.get(&router).copied(),
                _ => None,
            })
    }

    /// Fills each outside node's routes: the router it hangs off reaches it
    /// directly, every router that router's search reaches goes the way it was
    /// reached.
    pub(super) fn compute_outside_routes(&mut self) {
        for x in self.externals.clone() {
            let Some(&(l, side)) = self.nodes[x.0 as usize].ports.first() else {
                continue;
            };
            let other_side = 1 - side;
            let attach = self.links[l.0 as usize].ends[other_side];
            if !self.is_router(attach) {
                continue;
            }
            let mut routes = FxHashMap::default();
            routes.insert(attach, (l, other_side));
            routes.extend(self.search_routers(attach));
            if let NodeKind::External(e) = &mut self.nodes[x.0 as usize].kind {
                e.routes = routes;
            }
        }
    }
}
