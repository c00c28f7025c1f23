//! A web server: serves every request on its ports with a fixed-size `200 OK`
//! and closes the connection (HTTP/1.1 with `Connection: close`).
//!
//! smoltcp has no accept queue: one listening socket takes one connection, and
//! a SYN that finds no listening socket is answered with RST. The server keeps
//! `idle_listeners` sockets listening per port at all times and re-listens
//! sockets once they are closed, so bursts of parallel clients are served.
//!
//! # Keeping idle sockets out of the stack's way
//!
//! The pool only grows: it holds every connection still in TIME-WAIT (10 s in
//! smoltcp, and the server closes first) plus the idle listeners, so with
//! thousands of clients it holds hundreds of sockets. smoltcp walks the whole
//! socket set several times per poll (matching each segment, then `dispatch`
//! and `poll_at` on every socket), which made a busy server cost O(pool) per
//! packet and a fleet of clients O(clients²) per simulated day.
//!
//! When the server is the only app on its host (so every socket in the set is
//! its own), it keeps out of the set the sockets that nothing can reach, and
//! puts them back in [`App::before_ingress`] just before a packet or a timer
//! could reach them. The stack then sees exactly what it would see with every
//! socket in place, so captures do not change:
//!
//! * The set always holds its sockets in pool order (the order smoltcp would
//!   have them in: the server never removes a socket), so segments are matched
//!   and packets emitted in the same order.
//! * A listening socket can only take a segment without ACK to its port, and
//!   such a segment goes to the first listener in set order. Before the stack
//!   reads `n` such segments for a port, the first `n` listeners of that port
//!   are put back. Listeners emit nothing and have no timer.
//! * A TIME-WAIT socket with nothing to send only accepts segments of its own
//!   4-tuple, and only acts again at its next timer (smoltcp's `poll_at`,
//!   asked on a one-socket set when it is parked). It is put back when a
//!   segment of its 4-tuple arrives or when that timer is due; the server
//!   returns the earliest such timer, which is the wake-up the stack would
//!   have asked for. The server itself does nothing with such a socket.
//!
//! With another app on the host the server keeps every socket in the set.

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{Socket, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet};

use super::{App, AppStats, HostCtx, Sockets, http};

/// Server parameters.
#[derive(Clone, Debug)]
pub struct WebServerSpec {
    /// Ports to serve (e.g. 80 and 443; 443 carries the same plain HTTP).
    pub ports: Vec<u16>,
    /// Response body size in bytes.
    pub body_bytes: usize,
    /// Listening sockets kept ready per port.
    pub idle_listeners: usize,
}

impl Default for WebServerSpec {
    fn default() -> Self {
        WebServerSpec {
            ports: vec![80],
            body_bytes: 512,
            idle_listeners: 16,
        }
    }
}

/// Where a connection's socket is.
// The socket is held inline, not boxed: it moves in and out of the set on
// almost every poll in compact mode, and a box would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
enum Place {
    /// In the host's socket set.
    InSet(SocketHandle),
    /// Held by the server, out of the set (compact mode only).
    Out(tcp::Socket<'static>),
}

/// (remote address, remote port, local port) of a parked TIME-WAIT socket.
type TupleKey = (IpAddress, u16, u16);

struct Conn {
    socket: Place,
    port: u16,
    request: Vec<u8>,
    /// Response bytes sent so far: (of the header, of the body), set once
    /// the request is complete.
    sending: Option<(usize, usize)>,
    busy: bool,
    /// Set while parked in TIME-WAIT: when to put it back, and its 4-tuple.
    parked: Option<(Instant, TupleKey)>,
    /// Whether the connection is in its port's `Compact::listening` set
    /// (compact mode only), so that a busy one is not looked up on every poll.
    listed: bool,
}

/// The web-server app.
pub struct WebServer {
    spec: WebServerSpec,
    body: Body,
    conns: Vec<Conn>,
    served: u64,
    /// Whether the first poll has happened (the mode is chosen then).
    started: bool,
    compact: Option<Compact>,
}

/// Book-keeping of compact mode (see the module documentation).
struct Compact {
    /// Connections whose socket is in the set, in pool order: slot `k` of
    /// the set holds the socket of `conns[phys[k]]`. The set holds nothing else.
    phys: Vec<usize>,
    /// Handle of slot `k`.
    slots: Vec<SocketHandle>,
    /// Per port: connections whose socket is listening, in pool order.
    listening: FxHashMap<u16, BTreeSet<usize>>,
    /// Per port: connections not busy (what the listener top-up counts).
    idle: FxHashMap<u16, usize>,
    /// Parked TIME-WAIT sockets by wake-up time.
    parked: BTreeSet<(Instant, usize)>,
    /// Parked TIME-WAIT sockets by 4-tuple.
    by_tuple: FxHashMap<TupleKey, Vec<usize>>,
    /// A one-socket set to ask smoltcp for a single socket's `poll_at`.
    probe: SocketSet<'static>,
    /// Scratch lists of `before_ingress` (kept to reuse their allocations):
    /// connections to put back, and segments without ACK per port.
    back: Vec<usize>,
    syns: Vec<(u16, usize)>,
}

impl WebServer {
    /// A server with `spec`; sockets are created on first poll.
    pub fn new(spec: WebServerSpec) -> Self {
        WebServer {
            body: Body::new(spec.body_bytes),
            spec,
            conns: Vec::new(),
            served: 0,
            started: false,
            compact: None,
        }
    }

    /// Every socket back in the set, in pool order; compact mode ends.
    fn leave_compact(&mut self, sockets: &mut Sockets<'_>) {
        let Some(cp) = self.compact.take() else {
            return;
        };
        for k in (0..cp.phys.len()).rev() {
            let s = into_tcp(sockets.remove(cp.slots[k]));
            self.conns[cp.phys[k]].socket = Place::Out(s);
        }
        for c in &mut self.conns {
            let placeholder = Place::InSet(SocketHandle::default());
            if let Place::Out(s) = std::mem::replace(&mut c.socket, placeholder) {
                c.socket = Place::InSet(sockets.add(s));
            }
            c.parked = None;
            c.listed = false;
        }
    }

    /// The original walk over the whole pool, every socket in the set.
    fn poll_all(&mut self, ctx: &mut HostCtx<'_>) {
        for c in &mut self.conns {
            let Place::InSet(h) = c.socket else {
                unreachable!("every socket is in the set outside compact mode");
            };
            serve(c, &mut ctx.sockets, h, &self.body, &mut self.served);
        }
        // Keep enough sockets listening on every port.
        for pi in 0..self.spec.ports.len() {
            let port = self.spec.ports[pi];
            let listening = self
                .conns
                .iter()
                .filter(|c| c.port == port && !c.busy)
                .count();
            for _ in listening..self.spec.idle_listeners {
                let mut s = new_socket();
                let _ = s.listen(port);
                let handle = ctx.sockets.add(s);
                self.conns.push(Conn {
                    socket: Place::InSet(handle),
                    port,
                    request: Vec::new(),
                    sending: None,
                    busy: false,
                    parked: None,
                    listed: false,
                });
            }
        }
    }

    /// The same work on the sockets in the set only; then takes out what
    /// nothing can reach. Returns the earliest parked socket's wake-up.
    fn poll_compact(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        let cp = self.compact.as_mut()?;
        for k in 0..cp.phys.len() {
            let c = &mut self.conns[cp.phys[k]];
            let was_busy = c.busy;
            serve(
                c,
                &mut ctx.sockets,
                cp.slots[k],
                &self.body,
                &mut self.served,
            );
            if c.busy != was_busy {
                let idle = cp.idle.entry(c.port).or_default();
                if c.busy {
                    *idle -= 1;
                } else {
                    *idle += 1;
                }
            }
        }
        let now = ctx.now;
        let mut k = 0;
        while k < cp.phys.len() {
            let i = cp.phys[k];
            let c = &mut self.conns[i];
            let s = ctx.sockets.get::<tcp::Socket>(cp.slots[k]);
            let state = s.state();
            let quiet = c.sending.is_some() || !s.can_recv();
            let remote = s.remote_endpoint();
            if state == tcp::State::Listen {
                cp.listening.entry(c.port).or_default().insert(i);
                c.listed = true;
                c.socket = Place::Out(cp.take(&mut ctx.sockets, k));
                continue;
            }
            if c.listed {
                if let Some(set) = cp.listening.get_mut(&c.port) {
                    set.remove(&i);
                }
                c.listed = false;
            }
            if state == tcp::State::TimeWait
                && quiet
                && let Some(remote) = remote
            {
                let s = cp.take(&mut ctx.sockets, k);
                let (s, wake) = cp.poll_at_alone(ctx.iface, now, s);
                match wake {
                    Some(t) if t > now => {
                        let key = (remote.addr, remote.port, c.port);
                        c.socket = Place::Out(s);
                        c.parked = Some((t, key));
                        cp.parked.insert((t, i));
                        cp.by_tuple.entry(key).or_default().push(i);
                        continue;
                    }
                    _ => cp.put(&mut ctx.sockets, &mut self.conns, i, s),
                }
            }
            k += 1;
        }
        // Keep enough sockets listening on every port (out of the set: nothing
        // can reach them before the next `before_ingress`).
        for pi in 0..self.spec.ports.len() {
            let port = self.spec.ports[pi];
            let listening = cp.idle.get(&port).copied().unwrap_or(0);
            for _ in listening..self.spec.idle_listeners {
                let mut s = new_socket();
                let _ = s.listen(port);
                cp.listening
                    .entry(port)
                    .or_default()
                    .insert(self.conns.len());
                *cp.idle.entry(port).or_default() += 1;
                self.conns.push(Conn {
                    socket: Place::Out(s),
                    port,
                    request: Vec::new(),
                    sending: None,
                    busy: false,
                    parked: None,
                    listed: true,
                });
            }
        }
        cp.parked.first().map(|&(t, _)| t)
    }
}

impl Compact {
    fn new() -> Self {
        Compact {
            phys: Vec::new(),
            slots: Vec::new(),
            listening: FxHashMap::default(),
            idle: FxHashMap::default(),
            parked: BTreeSet::new(),
            by_tuple: FxHashMap::default(),
            probe: SocketSet::new(vec![]),
            back: Vec::new(),
            syns: Vec::new(),
        }
    }

    /// Puts `conns[i]`'s socket `s` into the set at its place in pool order,
    /// shifting the sockets after it up one slot.
    fn put(
        &mut self,
        sockets: &mut Sockets<'_>,
        conns: &mut [Conn],
        i: usize,
        s: tcp::Socket<'static>,
    ) {
        let j = self.phys.partition_point(|&x| x < i);
        let mut cur = s;
        for k in j..self.phys.len() {
            cur = std::mem::replace(sockets.get_mut::<tcp::Socket>(self.slots[k]), cur);
        }
        // The set is compact: the first free slot is the one after the last.
        let h = sockets.add(cur);
        if self.slots.len() == self.phys.len() {
            self.slots.push(h);
        }
        debug_assert_eq!(self.slots[self.phys.len()], h);
        self.phys.insert(j, i);
        for k in j..self.phys.len() {
            conns[self.phys[k]].socket = Place::InSet(self.slots[k]);
        }
    }

    /// Takes the socket in slot `k` out of the set, shifting the sockets after
    /// it down one slot. The caller re-points the connection's `socket`.
    fn take(&mut self, sockets: &mut Sockets<'_>, k: usize) -> tcp::Socket<'static> {
        let last = self.phys.len() - 1;
        let mut cur = into_tcp(sockets.remove(self.slots[last]));
        for kk in (k..last).rev() {
            cur = std::mem::replace(sockets.get_mut::<tcp::Socket>(self.slots[kk]), cur);
        }
        self.phys.remove(k);
        cur
    }

    /// smoltcp's `poll_at` for one socket alone: when it next needs a poll.
    fn poll_at_alone(
        &mut self,
        iface: &mut Interface,
        now: Instant,
        s: tcp::Socket<'static>,
    ) -> (tcp::Socket<'static>, Option<Instant>) {
        let h = self.probe.add(s);
        let at = iface.poll_at(now, &self.probe);
        (into_tcp(self.probe.remove(h)), at)
    }

    /// Forgets that `conns[i]` is parked; its socket stays out of the set.
    fn unpark(&mut self, conns: &mut [Conn], i: usize) {
        if let Some((t, key)) = conns[i].parked.take() {
            self.parked.remove(&(t, i));
            if let Some(v) = self.by_tuple.get_mut(&key) {
                v.retain(|&x| x != i);
                if v.is_empty() {
                    self.by_tuple.remove(&key);
                }
            }
        }
    }
}

fn new_socket() -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0; 4096]);
    let tx = tcp::SocketBuffer::new(vec![0; 16384]);
    tcp::Socket::new(rx, tx)
}

fn into_tcp(s: Socket<'static>) -> tcp::Socket<'static> {
    match s {
        Socket::Tcp(s) => s,
        #[allow(unreachable_patterns)]
        _ => unreachable!("the web server only holds TCP sockets"),
    }
}

/// One connection's work at one poll (the same in both modes). The socket is
/// read first and taken mutably only for what changes it, so that a poll
/// with nothing to do leaves the set untouched (`Sockets`).
fn serve(c: &mut Conn, sockets: &mut Sockets<'_>, h: SocketHandle, body: &Body, served: &mut u64) {
    let body_len = body.len;
    match sockets.get::<tcp::Socket>(h).state() {
        tcp::State::Closed => {
            if c.busy {
                c.busy = false;
                c.request.clear();
                c.sending = None;
            }
            // Re-listen; cannot fail for a closed socket with a non-zero port.
            let _ = sockets.get_mut::<tcp::Socket>(h).listen(c.port);
            return;
        }
        tcp::State::Listen => return,
        _ => c.busy = true,
    }
    if c.sending.is_none() && sockets.get::<tcp::Socket>(h).can_recv() {
        let _ = sockets.get_mut::<tcp::Socket>(h).recv(|buf| {
            c.request.extend_from_slice(buf);
            (buf.len(), ())
        });
        if http::head_complete(&c.request) {
            c.sending = Some((0, 0));
            *served += 1;
        }
    }
    if let Some((header_sent, offset)) = &mut c.sending {
        // What follows sends while the socket can take data, then closes once
        // everything is queued: nothing to do when neither applies.
        let s = sockets.get::<tcp::Socket>(h);
        let all_queued = *header_sent == body.header.len() && *offset >= body_len;
        if (all_queued && s.may_send()) || (!all_queued && s.can_send()) {
            let s = sockets.get_mut::<tcp::Socket>(h);
            if *header_sent < body.header.len() && s.can_send() {
                *header_sent += s.send_slice(&body.header[*header_sent..]).unwrap_or(0);
            }
            let header_done = *header_sent == body.header.len();
            while header_done && *offset < body_len && s.can_send() {
                let start = *offset;
                let n = s
                    .send(|buf| {
                        let n = buf.len().min(body_len - start);
                        body.fill(&mut buf[..n], start);
                        (n, n)
                    })
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                *offset += n;
            }
            if header_done && *offset >= body_len && s.may_send() {
                s.close();
            }
        }
    }
    let s = sockets.get::<tcp::Socket>(h);
    if !s.may_recv() && c.sending.is_none() && s.state() == tcp::State::CloseWait {
        // Client closed without a full request.
        sockets.get_mut::<tcp::Socket>(h).close();
    }
}

/// The response: the body's length, its first bytes and the header, computed once.
struct Body {
    len: usize,
    prefix: Vec<u8>,
    /// The response header, the same for every response.
    header: Vec<u8>,
}

impl Body {
    /// Bytes of the body kept ready to copy; later ones are computed per byte.
    const PREFIX: usize = 64 << 10;

    fn new(len: usize) -> Self {
        Body {
            len,
            prefix: (0..len.min(Self::PREFIX)).map(http::body_byte).collect(),
            header: http::response_header(len),
        }
    }

    /// Fills `buf` with the body bytes from offset `start` on.
    fn fill(&self, buf: &mut [u8], start: usize) {
        let cached = self.prefix.len().saturating_sub(start).min(buf.len());
        buf[..cached].copy_from_slice(&self.prefix[start.min(self.prefix.len())..][..cached]);
        for (i, b) in buf[cached..].iter_mut().enumerate() {
            *b = http::body_byte(start + cached + i);
        }
    }
}

/// (source address, source port, destination port, ACK flag) of a TCP segment.
fn tcp_head(pkt: &[u8]) -> Option<(IpAddress, u16, u16, bool)> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let p = ip.payload();
    if p.len() < 14 {
        return None;
    }
    Some((
        IpAddress::Ipv4(ip.src_addr()),
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
        p[13] & 0x10 != 0,
    ))
}

impl App for WebServer {
    fn kind(&self) -> &'static str {
        "web-server"
    }

    fn before_ingress(&mut self, ctx: &mut HostCtx<'_>, rx: &VecDeque<Vec<u8>>) {
        if self.compact.is_some() && !ctx.sole_app {
            self.leave_compact(&mut ctx.sockets);
        }
        let Some(cp) = self.compact.as_mut() else {
            return;
        };
        let now = ctx.now;
        let mut back = std::mem::take(&mut cp.back);
        back.clear();
        while let Some(&(t, i)) = cp.parked.first() {
            if t > now {
                break;
            }
            cp.unpark(&mut self.conns, i);
            back.push(i);
        }
        // Segments without ACK per port: each can take at most one listener.
        let mut syns = std::mem::take(&mut cp.syns);
        syns.clear();
        for pkt in rx {
            let Some((src, sport, dport, ack)) = tcp_head(pkt) else {
                continue;
            };
            if let Some(v) = cp.by_tuple.remove(&(src, sport, dport)) {
                // Every socket of the 4-tuple comes back (unparking the
                // first ones finds the entry already gone).
                for &i in &v {
                    cp.unpark(&mut self.conns, i);
                    back.push(i);
                }
            }
            if !ack && self.spec.ports.contains(&dport) {
                match syns.iter_mut().find(|(p, _)| *p == dport) {
                    Some((_, n)) => *n += 1,
                    None => syns.push((dport, 1)),
                }
            }
        }
        for &(port, n) in &syns {
            let Some(set) = cp.listening.get(&port) else {
                continue;
            };
            let mut found = 0;
            for &i in set {
                let listening = match &self.conns[i].socket {
                    Place::InSet(h) => ctx.sockets.get::<tcp::Socket>(*h).state(),
                    Place::Out(s) => s.state(),
                } == tcp::State::Listen;
                if !listening {
                    continue;
                }
                if matches!(self.conns[i].socket, Place::Out(_)) {
                    back.push(i);
                }
                found += 1;
                if found == n {
                    break;
                }
            }
        }
        back.sort_unstable();
        back.dedup();
        for &i in &back {
            let placeholder = Place::InSet(SocketHandle::default());
            match std::mem::replace(&mut self.conns[i].socket, placeholder) {
                Place::Out(s) => cp.put(&mut ctx.sockets, &mut self.conns, i, s),
                h => self.conns[i].socket = h,
            }
        }
        cp.back = back;
        cp.syns = syns;
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        for &port in &self.spec.ports {
            ctx.claim_port(port);
        }
        if !self.started {
            self.started = true;
            if ctx.sole_app && ctx.sockets.is_empty() {
                self.compact = Some(Compact::new());
            }
        }
        if self.compact.is_some() && !ctx.sole_app {
            self.leave_compact(&mut ctx.sockets);
        }
        if self.compact.is_some() {
            self.poll_compact(ctx)
        } else {
            self.poll_all(ctx);
            None
        }
    }

    fn stats(&self) -> AppStats {
        vec![
            ("responses", self.served),
            ("sockets", self.conns.len() as u64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use smoltcp::time::{Duration, Instant};

    use super::*;
    use crate::app::http_client::{HttpClient, HttpClientSpec, Schedule};
    use crate::app::syn_scan::{ScanSpec, SynScan, Timing};
    use crate::rng::stream;
    use crate::{Class, Frame, HostSpec, Label, LinkSpec, Network, TapPoint};

    /// An app that does nothing: beside the server it turns compact mode off.
    struct Idle;

    impl App for Idle {
        fn kind(&self) -> &'static str {
            "idle"
        }
        fn poll(&mut self, _: &mut HostCtx<'_>) -> Option<Instant> {
            None
        }
    }

    fn label(actor: &str) -> Label {
        Label {
            actor: actor.into(),
            class: Class::Benign,
            cause: "test".into(),
        }
    }

    fn host(name: &str, addr: Ipv4Addr, ephemeral: (u16, u16)) -> HostSpec {
        HostSpec {
            name: name.into(),
            addr,
            prefix: 16,
            ephemeral,
            drop_ports: vec![],
        }
    }

    type Capture = (Vec<(i64, Vec<u8>)>, String);

    /// A server under stress: few idle listeners (bursts beyond them get RST),
    /// clients with parallel connections on a tiny ephemeral range (so new SYNs
    /// reuse the 4-tuples of server sockets still in TIME-WAIT), lossy jittery
    /// links (retransmitted FINs reach TIME-WAIT sockets), and a fast SYN scan
    /// of the open ports. `idle_from`: when a do-nothing app joins the server
    /// host (`Some(ZERO)`: from the start, so compact mode is never used).
    fn run(idle_from: Option<Instant>) -> Capture {
        let server_addr = Ipv4Addr::new(198, 51, 100, 10);
        let mut net = Network::new(9);
        let r = net.add_router("r", vec![]).expect("router");
        let s = net
            .add_host(host("server", server_addr, (40000, 60000)), label("server"))
            .expect("server");
        // Infinite bandwidth towards the server: segments from several
        // clients arrive at the same instant and are read in one poll.
        let fast = LinkSpec {
            bandwidth_bps: None,
            ..LinkSpec::default()
        };
        let l = net.add_link(s, r, fast).expect("link");
        net.add_tap("server", TapPoint::Link(l)).expect("tap");
        let spec = WebServerSpec {
            ports: vec![80, 443],
            body_bytes: 3000,
            idle_listeners: 2,
        };
        net.add_app(s, Box::new(WebServer::new(spec)), label("server"))
            .expect("app");
        if idle_from == Some(Instant::ZERO) {
            net.add_app(s, Box::new(Idle), label("idle")).expect("idle");
        }
        for i in 0..30u32 {
            let name = format!("c{i}");
            let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 1)) + i);
            let c = net
                .add_host(host(&name, addr, (50000, 50002)), label(&name))
                .expect("client");
            let link = LinkSpec {
                latency: Duration::from_micros(300 + u64::from(i % 2) * 200),
                jitter: Duration::from_micros(if i % 7 == 0 { 400 } else { 0 }),
                loss: if i % 5 == 0 { 0.08 } else { 0.0 },
                bandwidth_bps: None,
            };
            net.add_link(c, r, link).expect("link");
            let mut spec = HttpClientSpec::once(
                server_addr,
                if i % 4 == 0 { 443 } else { 80 },
                Instant::ZERO,
            );
            spec.parallel = 1 + (i as usize % 3);
            spec.schedule = Schedule::Periodic {
                // Groups of clients start at the same instant: bursts of SYNs.
                start: Instant::from_millis(i64::from(i / 6) * 700),
                min: Duration::from_millis(300),
                max: Duration::from_millis(2500),
                until: None,
            };
            net.add_app(
                c,
                Box::new(HttpClient::new(spec, stream(9, &name))),
                label(&name),
            )
            .expect("app");
        }
        let a = net
            .add_host(
                host("scanner", Ipv4Addr::new(203, 0, 113, 66), (40000, 60000)),
                label("scanner"),
            )
            .expect("scanner");
        net.add_link(a, r, LinkSpec::default()).expect("link");
        let scan = ScanSpec {
            targets: vec![server_addr],
            ports: (70..=90).chain(440..=450).collect(),
            timing: Timing::parse("T5").expect("T5"),
            start: Instant::from_secs(3),
            randomize: true,
            repeat: 20,
        };
        net.add_app(
            a,
            Box::new(SynScan::new(scan, stream(9, "scan"))),
            label("scanner"),
        )
        .expect("app");
        let mut frames = Vec::new();
        let mut sink = |f: &Frame<'_>| frames.push((f.at.total_micros(), f.bytes.to_vec()));
        if let Some(t) = idle_from.filter(|t| *t > Instant::ZERO) {
            net.run_until(t, &mut sink).expect("run");
            net.add_app(s, Box::new(Idle), label("idle")).expect("idle");
        }
        net.run_until(Instant::from_secs(40), &mut sink)
            .expect("run");
        let stats = format!("{:?} {:?}", net.stats(), net.app_stats());
        (frames, stats.replace(", (\"server\", \"idle\", [])", ""))
    }

    #[test]
    fn body_fill_matches_body_byte() {
        let body = Body::new(Body::PREFIX + 100);
        for (start, len) in [
            (0, 10),
            (5, 17),
            (Body::PREFIX - 3, 10),
            (Body::PREFIX + 1, 50),
        ] {
            let mut buf = vec![0u8; len];
            body.fill(&mut buf, start);
            let want: Vec<u8> = (start..start + len).map(http::body_byte).collect();
            assert_eq!(buf, want, "from {start}");
        }
    }

    #[test]
    fn compact_mode_changes_no_packet() {
        let plain = run(Some(Instant::ZERO));
        let compact = run(None);
        assert!(plain.0.len() > 5_000, "busy enough: {}", plain.0.len());
        assert_eq!(plain.0.len(), compact.0.len());
        for (i, (a, b)) in plain.0.iter().zip(&compact.0).enumerate() {
            assert_eq!(a, b, "frame {i} differs");
        }
        assert_eq!(plain.1, compact.1);
    }

    #[test]
    fn leaving_compact_mode_mid_run_changes_no_packet() {
        let plain = run(Some(Instant::ZERO));
        let switched = run(Some(Instant::from_millis(12_345)));
        assert_eq!(plain.0, switched.0);
        assert_eq!(plain.1, switched.1);
    }
}
