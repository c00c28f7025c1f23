//! The fabric: hosts, routers and links, one event queue, one virtual clock.
//!
//! Events are ordered by (virtual time, insertion sequence), so ties resolve
//! the same way on every run. The clock jumps from event to event: packet
//! arrivals, host wake-ups (the earlier of smoltcp's `poll_at` and the apps'
//! timers) and middlebox timers. It never ticks.
//!
//! Per instant, the loop first applies every event due at that time, then runs
//! each host that became ready, in host order, and sends what it emitted.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv4Packet;

use crate::app::App;
use crate::device::BufferPool;
use crate::error::{Error, Result};
use crate::flows::{FlowLabels, tuple};
use crate::host::{AppSlot, Host, HostSpec};
use crate::label::{Label, LabelId, Labels};
use crate::link::{Direction, LinkSpec};
use crate::middlebox::{Action, Middlebox, MiddleboxCtx, Packet};
use crate::prefetch::prefetch;
use crate::queue::{Due, EventQueue, InFlight};
use crate::rng::stream;
use crate::socket_buffers::SocketBufferPool;

mod external;
mod hop;
use external::External;

/// Index of a node (host or router).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// Index of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u32);

/// Index of a tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TapId(pub u32);

/// Where a tap records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TapPoint {
    /// Every packet handed to the link, both directions, at the time it is
    /// handed over (as a sniffer beside the sender sees it; packets the link
    /// then loses are still recorded).
    Link(LinkId),
    /// Packets a router's middleboxes dropped and logged.
    DropLog(NodeId),
}

/// One captured frame, streamed to the sinks as it happens.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The tap that saw it.
    pub tap: TapId,
    /// Virtual time.
    pub at: Instant,
    /// Raw IPv4 bytes.
    pub bytes: &'a [u8],
    /// Ground truth.
    pub label: &'a Label,
}

/// Receives frames from taps while the simulation runs.
pub trait FrameSink {
    /// One frame. Frames arrive in non-decreasing time order.
    fn frame(&mut self, frame: &Frame<'_>);
}

impl<F: FnMut(&Frame<'_>)> FrameSink for F {
    fn frame(&mut self, frame: &Frame<'_>) {
        self(frame)
    }
}

/// A router: forwards by destination address, after its middleboxes.
struct Router {
    middleboxes: Vec<Box<dyn Middlebox>>,
    pending_timer: Option<Instant>,
    no_route: u64,
    drop_log: Vec<Packet>,
    emitted: Vec<Packet>,
}

enum NodeKind {
    Host(Box<Host>),
    Router(Router),
    /// Everything beyond the simulation (see [`external`]).
    External(External),
}

struct Node {
    name: String,
    kind: NodeKind,
    /// (link, side of the link this node is on).
    ports: Vec<(LinkId, usize)>,
    /// A host's one link and side (`ports[0]`), kept beside `kind` so that
    /// running the host reads no other allocation to find it.
    uplink: Option<(LinkId, usize)>,
    /// Destination address -> egress link and side; filled by `compute_routes`
    /// (lookup only, one per forwarded packet).
    routes: FxHashMap<Ipv4Addr, (LinkId, usize)>,
    drop_taps: Vec<TapId>,
}

struct Link {
    spec: LinkSpec,
    ends: [NodeId; 2],
    dirs: [Direction; 2],
    /// Packets in flight, per sending side.
    in_flight: [InFlight; 2],
    taps: Vec<TapId>,
}

/// Node `a`, mutably, and the name of node `b` (another node).
fn node_and_name(nodes: &mut [Node], a: NodeId, b: NodeId) -> (&mut Node, &str) {
    let (a, b) = (a.0 as usize, b.0 as usize);
    if a < b {
        let (lo, hi) = nodes.split_at_mut(b);
        (&mut lo[a], &hi[0].name)
    } else {
        let (lo, hi) = nodes.split_at_mut(a);
        (&mut hi[0], &lo[b].name)
    }
}

/// Nodes due to run at the current instant: each once, in node order.
#[derive(Default)]
struct Ready {
    nodes: Vec<NodeId>,
    marked: Vec<bool>,
}

impl Ready {
    fn insert(&mut self, n: NodeId) {
        let i = n.0 as usize;
        if i >= self.marked.len() {
            self.marked.resize(i + 1, false);
        }
        if !self.marked[i] {
            self.marked[i] = true;
            self.nodes.push(n);
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Moves the ready nodes, in node order, into `out` (emptied first).
    fn take_into(&mut self, out: &mut Vec<NodeId>) {
        out.clear();
        std::mem::swap(out, &mut self.nodes);
        out.sort_unstable();
        for n in out.iter() {
            self.marked[n.0 as usize] = false;
        }
    }
}

/// A router reached by a route search, with the link (and side) it was reached through.
type RouteFound = (NodeId, (LinkId, usize));

/// (node name, app or middlebox kind, counters) for the run summary.
pub type NodeCounters = (String, String, Vec<(&'static str, u64)>);

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Packets handed to links.
    pub sent: u64,
    /// Packets lost on links.
    pub lost: u64,
    /// Packets routers could not route (e.g. to unused addresses of a sweep).
    pub no_route: u64,
    /// Packets dropped by middleboxes.
    pub middlebox_drops: u64,
    /// Events processed.
    pub events: u64,
}

/// The simulated network.
pub struct Network {
    seed: u64,
    now: Instant,
    nodes: Vec<Node>,
    /// Node ids by name, and host ids by address (lookup only: building a
    /// network of 100,000 hosts checks each name and address once).
    by_name: FxHashMap<String, NodeId>,
    host_addrs: FxHashMap<Ipv4Addr, NodeId>,
    links: Vec<Link>,
    /// Each link's `ends`, densely: the next event's node is found from
    /// this small table (it stays in cache) to prefetch the node.
    link_ends: Vec<[NodeId; 2]>,
    taps: Vec<(String, TapPoint)>,
    queue: EventQueue,
    /// Packets middleboxes delayed (router, packet), by [`Due::Resume`] slot.
    delayed: Vec<Option<(NodeId, Packet)>>,
    /// Free slots of `delayed`.
    delayed_free: Vec<u32>,
    /// Packet buffers for reuse.
    pool: BufferPool,
    /// Socket buffers for reuse, shared by the hosts.
    socket_buffers: SocketBufferPool,
    /// A host's packets between its run and their transmission (kept to reuse its allocation).
    outbox: Vec<Packet>,
    labels: Labels,
    flows: FlowLabels,
    ready: Ready,
    /// Each host's earliest pending wake-up, by node id, to queue only
    /// earlier ones (lazy timers). Kept beside the nodes rather than in each
    /// host, so that a wake-up reads this dense table, not the host's state.
    wakes: Vec<Option<Instant>>,
    /// The batch of ready nodes being run (kept to reuse its allocation).
    running: Vec<NodeId>,
    stats: FabricStats,
    finished: bool,
    /// The outside nodes, in creation order.
    externals: Vec<NodeId>,
}

impl Network {
    /// An empty network; every random stream derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Network {
            seed,
            now: Instant::ZERO,
            nodes: Vec::new(),
            by_name: FxHashMap::default(),
            host_addrs: FxHashMap::default(),
            links: Vec::new(),
            link_ends: Vec::new(),
            taps: Vec::new(),
            queue: EventQueue::default(),
            delayed: Vec::new(),
            delayed_free: Vec::new(),
            pool: BufferPool::default(),
            socket_buffers: SocketBufferPool::default(),
            outbox: Vec::new(),
            labels: Labels::default(),
            flows: FlowLabels::default(),
            ready: Ready::default(),
            wakes: Vec::new(),
            running: Vec::new(),
            stats: FabricStats::default(),
            finished: false,
            externals: Vec::new(),
        }
    }

    /// The scenario seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The label table.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Interns a label.
    pub fn label(&mut self, label: Label) -> LabelId {
        self.labels.intern(label)
    }

    /// Tap names, by [`TapId`].
    pub fn tap_names(&self) -> Vec<&str> {
        self.taps.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Run counters.
    pub fn stats(&self) -> &FabricStats {
        &self.stats
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// Adds `node`, indexing its name.
    fn push_node(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.by_name.insert(node.name.clone(), id);
        self.nodes.push(node);
        id
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if self.node(name).is_some() {
            return Err(Error::DuplicateName(name.to_string()));
        }
        Ok(())
    }

    /// Adds a host. Its stack seed, port allocator and default label derive from its name.
    pub fn add_host(&mut self, spec: HostSpec, default_label: Label) -> Result<NodeId> {
        self.check_name(&spec.name)?;
        if spec.ephemeral.0 > spec.ephemeral.1 || spec.ephemeral.0 == 0 {
            return Err(Error::BadPortRange {
                host: spec.name.clone(),
                lo: spec.ephemeral.0,
                hi: spec.ephemeral.1,
            });
        }
        if let Some(&other) = self.host_addrs.get(&spec.addr) {
            return Err(Error::AddrInUse {
                addr: spec.addr,
                owner: self.nodes[other.0 as usize].name.clone(),
            });
        }
        let label = self.labels.intern(default_label);
        let stack_seed =
            rand::RngExt::random(&mut stream(self.seed, &format!("host:{}:stack", spec.name)));
        let mut port_rng = stream(self.seed, &format!("host:{}:ports", spec.name));
        let name = spec.name.clone();
        let addr = spec.addr;
        let host = Host::new(spec, stack_seed, &mut port_rng, label);
        let id = self.push_node(Node {
            name,
            kind: NodeKind::Host(Box::new(host)),
            ports: Vec::new(),
            uplink: None,
            routes: FxHashMap::default(),
            drop_taps: Vec::new(),
        });
        self.host_addrs.insert(addr, id);
        Ok(id)
    }

    /// Adds a router with middleboxes (run in order on every packet).
    pub fn add_router(
        &mut self,
        name: &str,
        middleboxes: Vec<Box<dyn Middlebox>>,
    ) -> Result<NodeId> {
        self.check_name(name)?;
        let id = self.push_node(Node {
            name: name.to_string(),
            kind: NodeKind::Router(Router {
                middleboxes,
                pending_timer: None,
                no_route: 0,
                drop_log: Vec::new(),
                emitted: Vec::new(),
            }),
            ports: Vec::new(),
            uplink: None,
            routes: FxHashMap::default(),
            drop_taps: Vec::new(),
        });
        Ok(id)
    }

    /// Adds an application on host `host`, labelled `label`.
    pub fn add_app(&mut self, host: NodeId, app: Box<dyn App>, label: Label) -> Result<()> {
        let label = self.labels.intern(label);
        let node = &mut self.nodes[host.0 as usize];
        match &mut node.kind {
            NodeKind::Host(h) => {
                h.apps.push(AppSlot { app, label });
                Ok(())
            }
            NodeKind::Router(_) | NodeKind::External(_) => Err(Error::NotAHost(node.name.clone())),
        }
    }

    /// Connects two nodes. A host has exactly one link.
    pub fn add_link(&mut self, a: NodeId, b: NodeId, spec: LinkSpec) -> Result<LinkId> {
        if a == b {
            return Err(Error::SelfLink(self.nodes[a.0 as usize].name.clone()));
        }
        for n in [a, b] {
            let node = &self.nodes[n.0 as usize];
            let one_link = matches!(node.kind, NodeKind::Host(_) | NodeKind::External(_));
            if one_link && !node.ports.is_empty() {
                return Err(Error::HostHasLink(node.name.clone()));
            }
        }
        let id = LinkId(self.links.len() as u32);
        let name = format!(
            "link:{}-{}",
            self.nodes[a.0 as usize].name, self.nodes[b.0 as usize].name
        );
        self.links.push(Link {
            spec,
            ends: [a, b],
            dirs: [
                Direction::new(stream(self.seed, &format!("{name}:0"))),
                Direction::new(stream(self.seed, &format!("{name}:1"))),
            ],
            in_flight: Default::default(),
            taps: Vec::new(),
        });
        self.link_ends.push([a, b]);
        for (n, side) in [(a, 0), (b, 1)] {
            let node = &mut self.nodes[n.0 as usize];
            node.ports.push((id, side));
            if matches!(node.kind, NodeKind::Host(_)) {
                node.uplink = Some((id, side));
            }
        }
        Ok(id)
    }

    /// The link between two nodes, if any.
    pub fn link_between(&self, a: NodeId, b: NodeId) -> Option<LinkId> {
        self.links
            .iter()
            .position(|l| l.ends == [a, b] || l.ends == [b, a])
            .map(|i| LinkId(i as u32))
    }

    /// Adds a tap.
    pub fn add_tap(&mut self, name: &str, point: TapPoint) -> Result<TapId> {
        if self.taps.iter().any(|(n, _)| n == name) {
            return Err(Error::DuplicateName(name.to_string()));
        }
        let id = TapId(self.taps.len() as u32);
        match &point {
            TapPoint::Link(l) => self.links[l.0 as usize].taps.push(id),
            TapPoint::DropLog(n) => {
                let node = &mut self.nodes[n.0 as usize];
                if !matches!(node.kind, NodeKind::Router(_)) {
                    return Err(Error::NotARouter(node.name.clone()));
                }
                node.drop_taps.push(id);
            }
        }
        self.taps.push((name.to_string(), point));
        Ok(id)
    }

    /// Computes routes (shortest path in hops, ties broken by link order) from
    /// every router to every address a host or middlebox owns.
    ///
    /// Conceptually a breadth-first search outwards from each address's owner,
    /// where each node's route is the link it was first reached through. Only
    /// routers forward, so only routers get routes (a host sends everything
    /// on its one link), and the search from a host owner is the search from
    /// the router it hangs off: that search is done once per router and shared
    /// by all its hosts, which keeps this linear in the number of hosts.
    fn compute_routes(&mut self) -> Result<()> {
        let mut owners: Vec<(Ipv4Addr, NodeId)> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.kind {
                NodeKind::Host(h) => owners.push((h.spec.addr, NodeId(i as u32))),
                NodeKind::Router(r) => {
                    for m in &r.middleboxes {
                        for a in m.owned_addrs() {
                            owners.push((a, NodeId(i as u32)));
                        }
                    }
                }
                NodeKind::External(_) => {}
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if matches!(n.kind, NodeKind::Host(_) | NodeKind::External(_)) && n.ports.is_empty() {
                return Err(Error::HostHasNoLink(self.nodes[i].name.clone()));
            }
        }
        // Per router: the routers a search starting there reaches, each with
        // the link (and side) it was reached through, in search order.
        let mut searches: HashMap<NodeId, Vec<RouteFound>> = HashMap::new();
        for (addr, owner) in owners {
            let start = match self.nodes[owner.0 as usize].kind {
                NodeKind::Router(_) => owner,
                // Outside nodes own prefixes, not addresses: see below.
                NodeKind::External(_) => continue,
                NodeKind::Host(_) => {
                    // A host has exactly one link; it does not forward, so the
                    // search goes on only from the neighbour, if that is a router.
                    let (l, side) = self.nodes[owner.0 as usize].ports[0];
                    let other_side = 1 - side;
                    let other = self.links[l.0 as usize].ends[other_side];
                    if !self.is_router(other) {
                        continue;
                    }
                    self.nodes[other.0 as usize]
                        .routes
                        .insert(addr, (l, other_side));
                    other
                }
            };
            let found = match searches.entry(start) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(self.search_routers(start))
                }
            };
            for &(node, route) in found.iter() {
                self.nodes[node.0 as usize].routes.insert(addr, route);
            }
        }
        self.compute_outside_routes();
        Ok(())
    }

    fn is_router(&self, n: NodeId) -> bool {
        matches!(self.nodes[n.0 as usize].kind, NodeKind::Router(_))
    }

    /// Breadth-first search from router `start` (itself excluded): every other
    /// router reached, with the link and side it was first reached through.
    /// Hosts are reached (and so never reached again) but not expanded.
    fn search_routers(&self, start: NodeId) -> Vec<RouteFound> {
        let mut found = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        seen[start.0 as usize] = true;
        let mut frontier = vec![start];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for n in frontier {
                for &(l, side) in &self.nodes[n.0 as usize].ports {
                    let other_side = 1 - side;
                    let other = self.links[l.0 as usize].ends[other_side];
                    if !seen[other.0 as usize] {
                        seen[other.0 as usize] = true;
                        if self.is_router(other) {
                            found.push((other, (l, other_side)));
                            next.push(other);
                        }
                    }
                }
            }
            frontier = next;
        }
        found
    }

    /// Hands `pkt` to `link` from `side`, recording it on the link's taps.
    fn transmit(&mut self, link: LinkId, side: usize, pkt: Packet, sink: &mut dyn FrameSink) {
        let now = self.now;
        let l = &mut self.links[link.0 as usize];
        for &tap in &l.taps {
            sink.frame(&Frame {
                tap,
                at: now,
                bytes: &pkt.bytes,
                label: self.labels.get(pkt.label),
            });
        }
        self.stats.sent += 1;
        match l.dirs[side].schedule(&l.spec, now, pkt.bytes.len()) {
            Some(at) => l.in_flight[side].send(&mut self.queue, at, pkt, Due::Link(link, side)),
            None => {
                self.stats.lost += 1;
                self.pool.put(pkt.bytes);
            }
        }
    }

    /// Runs the simulation until virtual time `end` (inclusive), streaming frames to `sink`.
    pub fn run_until(&mut self, end: Instant, sink: &mut dyn FrameSink) -> Result<()> {
        self.run_until_at_most(end, sink, u64::MAX).map(|_| ())
    }

    /// [`Self::run_until`], returning early once [`FabricStats::events`]
    /// reaches `max_events` at the end of an instant: `Ok(true)` when `end`
    /// was reached, `Ok(false)` when it stopped early at [`Self::now`].
    /// Stopping there is the same as a `run_until(self.now())`, so a caller
    /// can check a budget between bounded pieces of work (a scan starting in
    /// the middle of a long slice) without changing the run.
    pub fn run_until_at_most(
        &mut self,
        end: Instant,
        sink: &mut dyn FrameSink,
        max_events: u64,
    ) -> Result<bool> {
        if !self.finished {
            self.compute_routes()?;
            self.finished = true;
            self.wakes = vec![None; self.nodes.len()];
            for i in 0..self.nodes.len() {
                if matches!(self.nodes[i].kind, NodeKind::Host(_)) {
                    self.ready.insert(NodeId(i as u32));
                }
                self.arm_router_timer(NodeId(i as u32));
            }
        }
        let mut same_instant_wakes: u32 = 0;
        loop {
            // Run ready hosts once every event of the current instant is applied.
            let next_at = self.queue.next_at();
            if !self.ready.is_empty() && next_at.is_none_or(|t| t > self.now) {
                let mut running = std::mem::take(&mut self.running);
                self.ready.take_into(&mut running);
                for &id in &running {
                    self.run_host(id, sink, &mut same_instant_wakes);
                }
                self.running = running;
                continue;
            }
            // Every event of this instant is applied and no host is ready:
            // the one place a run may pause.
            if self.stats.events >= max_events && next_at.is_some_and(|t| t > self.now && t <= end)
            {
                return Ok(false);
            }
            let Some((at, due)) = self.queue.pop_until(end) else {
                break;
            };
            if at > self.now {
                same_instant_wakes = 0;
            }
            self.now = at;
            self.stats.events += 1;
            self.prefetch_next();
            match due {
                Due::Link(link, side) => {
                    let l = &mut self.links[link.0 as usize];
                    let node = l.ends[1 - side];
                    let pkt = l.in_flight[side].arrive(&mut self.queue, due);
                    self.arrive(node, link, pkt, sink);
                }
                Due::Wake(node) => {
                    let pending = &mut self.wakes[node.0 as usize];
                    if *pending == Some(self.now) {
                        *pending = None;
                    }
                    self.ready.insert(node);
                }
                Due::Timer(node) => self.router_timer(node, sink),
                Due::Resume(slot) => {
                    let (node, pkt) = self.delayed[slot as usize]
                        .take()
                        .expect("a resume entry is queued with its packet");
                    self.delayed_free.push(slot);
                    self.route(node, pkt, sink);
                }
            }
        }
        self.now = self.now.max(end);
        Ok(true)
    }

    /// Starts loading the first lines the next event reads (its link's
    /// queue, its host and the host's link), so that they arrive while the
    /// current event is handled: at 10,000 hosts each is a cache miss.
    fn prefetch_next(&self) {
        let node = match self.queue.peek_hint() {
            Some(Due::Link(link, side)) => {
                let l = &self.links[link.0 as usize];
                prefetch(&l.in_flight[side]);
                self.link_ends[link.0 as usize][1 - side]
            }
            Some(Due::Wake(node)) => node,
            Some(Due::Timer(_) | Due::Resume(_)) | None => return,
        };
        let n = &self.nodes[node.0 as usize];
        prefetch(n);
        if let NodeKind::Host(h) = &n.kind {
            prefetch(&**h);
            if let Some((link, side)) = n.uplink {
                let l = &self.links[link.0 as usize];
                prefetch(&l.spec);
                l.dirs[side].prefetch();
            }
        }
    }

    fn arrive(&mut self, node: NodeId, from: LinkId, mut pkt: Packet, sink: &mut dyn FrameSink) {
        let now = self.now;
        if let NodeKind::Host(h) = &mut self.nodes[node.0 as usize].kind {
            if let Some(t) = tuple(&pkt.bytes) {
                self.flows.set_if_absent(&t, pkt.label, now);
            }
            h.deliver(pkt.bytes);
            self.ready.insert(node);
            return;
        }
        if let NodeKind::External(x) = &mut self.nodes[node.0 as usize].kind {
            if let Some(buf) = x.receive(pkt) {
                self.pool.put(buf);
            }
            return;
        }
        let l = &self.links[from.0 as usize];
        let neighbour = if l.ends[0] == node {
            l.ends[1]
        } else {
            l.ends[0]
        };
        let (n, from_name) = node_and_name(&mut self.nodes, node, neighbour);
        let NodeKind::Router(r) = &mut n.kind else {
            return;
        };
        let mut action = Action::Forward;
        let mut ctx = MiddleboxCtx {
            now,
            labels: &mut self.labels,
            drop_log: &mut r.drop_log,
            emitted: &mut r.emitted,
        };
        for m in &mut r.middleboxes {
            action = m.process(&mut ctx, &mut pkt, from_name);
            if action != Action::Forward {
                break;
            }
        }
        match action {
            Action::Forward => self.route(node, pkt, sink),
            Action::Drop => {
                self.stats.middlebox_drops += 1;
                self.pool.put(pkt.bytes);
            }
            Action::Delay(d) => {
                let slot = match self.delayed_free.pop() {
                    Some(free) => {
                        self.delayed[free as usize] = Some((node, pkt));
                        free
                    }
                    None => {
                        self.delayed.push(Some((node, pkt)));
                        self.delayed.len() as u32 - 1
                    }
                };
                self.queue.push(now + d, Due::Resume(slot));
            }
        }
        self.after_router(node, sink);
    }

    /// Sends drop-log frames and emitted packets, re-arms the timer.
    fn after_router(&mut self, node: NodeId, sink: &mut dyn FrameSink) {
        let n = &mut self.nodes[node.0 as usize];
        let NodeKind::Router(r) = &mut n.kind else {
            return;
        };
        let logged = std::mem::take(&mut r.drop_log);
        let emitted = std::mem::take(&mut r.emitted);
        for pkt in &logged {
            for &tap in &n.drop_taps {
                sink.frame(&Frame {
                    tap,
                    at: self.now,
                    bytes: &pkt.bytes,
                    label: self.labels.get(pkt.label),
                });
            }
        }
        for pkt in emitted {
            self.route(node, pkt, sink);
        }
        self.arm_router_timer(node);
    }

    fn arm_router_timer(&mut self, node: NodeId) {
        let NodeKind::Router(r) = &mut self.nodes[node.0 as usize].kind else {
            return;
        };
        let next = r.middleboxes.iter().filter_map(|m| m.next_timer()).min();
        if let Some(t) = next
            && r.pending_timer.is_none_or(|p| t < p || p < self.now)
        {
            let t = t.max(self.now);
            r.pending_timer = Some(t);
            self.queue.push(t, Due::Timer(node));
        }
    }

    fn router_timer(&mut self, node: NodeId, sink: &mut dyn FrameSink) {
        let now = self.now;
        let NodeKind::Router(r) = &mut self.nodes[node.0 as usize].kind else {
            return;
        };
        if r.pending_timer == Some(now) {
            r.pending_timer = None;
        }
        let mut ctx = MiddleboxCtx {
            now,
            labels: &mut self.labels,
            drop_log: &mut r.drop_log,
            emitted: &mut r.emitted,
        };
        for m in &mut r.middleboxes {
            if m.next_timer().is_some_and(|t| t <= now) {
                m.on_timer(&mut ctx);
            }
        }
        self.after_router(node, sink);
    }

    /// Forwards a packet out of a router towards its destination.
    fn route(&mut self, node: NodeId, mut pkt: Packet, sink: &mut dyn FrameSink) {
        let Ok(ip) = Ipv4Packet::new_checked(&pkt.bytes[..]) else {
            self.pool.put(pkt.bytes);
            return;
        };
        let dst = ip.dst_addr();
        let ttl = ip.hop_limit();
        let found = self.nodes[node.0 as usize].routes.get(&dst).copied();
        let Some((link, side)) = found.or_else(|| self.outside_route(node, dst)) else {
            if let NodeKind::Router(r) = &mut self.nodes[node.0 as usize].kind {
                r.no_route += 1;
            }
            self.stats.no_route += 1;
            self.pool.put(pkt.bytes);
            return;
        };
        if ttl <= 1 {
            self.stats.no_route += 1;
            self.pool.put(pkt.bytes);
            return;
        }
        // A router decrements TTL and fixes the header checksum.
        hop::forward(&mut pkt.bytes);
        self.transmit(link, side, pkt, sink);
    }

    fn run_host(&mut self, id: NodeId, sink: &mut dyn FrameSink, same_instant_wakes: &mut u32) {
        let now = self.now;
        let n = &mut self.nodes[id.0 as usize];
        let NodeKind::Host(h) = &mut n.kind else {
            return;
        };
        let next = h.run(now, &mut self.pool, &mut self.socket_buffers);
        // Every host has its link: `compute_routes` refuses to run without.
        let Some((link, side)) = n.uplink else {
            return;
        };
        let mut packets = std::mem::take(&mut self.outbox);
        for bytes in h.dev.tx.drain(..) {
            let label = match tuple(&bytes) {
                Some(t) => {
                    let own = h.port_labels.get(t.src_port).unwrap_or(h.default_label);
                    self.flows.label_sent(&t, own, now)
                }
                None => h.default_label,
            };
            packets.push(Packet { bytes, label });
        }
        // Schedule the next wake: only if earlier than the one pending (lazy timers).
        if let Some(mut t) = next {
            if t <= now {
                *same_instant_wakes += 1;
                // Guard against a stack or app that keeps asking for "now".
                t = if *same_instant_wakes > 64 {
                    now + Duration::from_millis(1)
                } else {
                    now + Duration::from_micros(1)
                };
            }
            let pending = &mut self.wakes[id.0 as usize];
            if pending.is_none_or(|p| t < p || p < now) {
                *pending = Some(t);
                self.queue.push(t, Due::Wake(id));
            }
        }
        for pkt in packets.drain(..) {
            self.transmit(link, side, pkt, sink);
        }
        self.outbox = packets;
    }

    /// The socket buffers kept for reuse (tests fill it with dirty buffers).
    #[cfg(test)]
    pub(crate) fn socket_buffers(&mut self) -> &mut SocketBufferPool {
        &mut self.socket_buffers
    }

    /// Per-host, per-app and per-middlebox counters.
    pub fn app_stats(&self) -> Vec<NodeCounters> {
        let mut out = Vec::new();
        for n in &self.nodes {
            match &n.kind {
                NodeKind::Host(h) => {
                    if h.dropped_inbound > 0 {
                        out.push((
                            n.name.clone(),
                            "host".to_string(),
                            vec![("dropped_inbound", h.dropped_inbound)],
                        ));
                    }
                    for slot in &h.apps {
                        out.push((
                            n.name.clone(),
                            slot.app.kind().to_string(),
                            slot.app.stats(),
                        ));
                    }
                }
                NodeKind::Router(r) => {
                    for m in &r.middleboxes {
                        out.push((n.name.clone(), m.kind().to_string(), m.stats()));
                    }
                    if r.no_route > 0 {
                        out.push((
                            n.name.clone(),
                            "router".to_string(),
                            vec![("no_route", r.no_route)],
                        ));
                    }
                }
                NodeKind::External(x) => {
                    out.push((n.name.clone(), "outside".to_string(), x.stats()));
                }
            }
        }
        out
    }
}
