//! Long-lived TCP sessions with idle gaps (an IMAP client holding its
//! connection open, a chat or push channel): the connections whose firewall
//! entry ages out or is lost while they sit idle.
//!
//! [`SessionClient`] opens `connections` connections and keeps them open,
//! sending a few bytes every `client_every` (if set); [`SessionServer`] accepts
//! them and pushes a few bytes every `server_every` (if set). When a sender's
//! data stays unacknowledged for `give_up`, it aborts the connection (RST), as
//! an OS does after `tcp_retries2` (Linux: about 15 min; smoltcp itself retries
//! forever). The client then reconnects with a new ephemeral port.
//!
//! smoltcp's own `set_timeout` is not used: it also aborts connections that
//! are merely idle, which is exactly what a long-lived session must survive.

use rand::RngExt;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

use super::http_client::min_opt;
use super::{App, AppStats, HostCtx};
use crate::rng::SimRng;

/// Client parameters.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// Server address.
    pub server: std::net::Ipv4Addr,
    /// Server port.
    pub port: u16,
    /// When the connections open.
    pub start: Instant,
    /// Parallel connections (each on its own ephemeral port).
    pub connections: usize,
    /// Interval between the client's sends, `min..=max`; `None`: the client only listens.
    pub every: Option<(Duration, Duration)>,
    /// Bytes per send.
    pub bytes: usize,
    /// Close every connection (FIN) at this time; no reconnects after it.
    pub until: Option<Instant>,
    /// Abort a connection whose sent data stays unacknowledged this long.
    pub give_up: Duration,
    /// Reconnect after an abort or a close by the server.
    pub reconnect: bool,
}

/// Server parameters.
#[derive(Clone, Debug)]
pub struct SessionServerSpec {
    /// Port to listen on.
    pub port: u16,
    /// Interval between pushes on each connection, `min..=max`; `None`: no pushes.
    pub every: Option<(Duration, Duration)>,
    /// Bytes per push.
    pub bytes: usize,
    /// Abort a connection whose pushed data stays unacknowledged this long.
    pub give_up: Duration,
    /// Listening sockets kept ready.
    pub listeners: usize,
}

struct Conn {
    handle: SocketHandle,
    port: u16,
    next_send: Option<Instant>,
    /// When the oldest still-unacknowledged send was queued.
    pending_since: Option<Instant>,
    busy: bool,
}

fn gap(rng: &mut SimRng, every: (Duration, Duration)) -> Duration {
    let (a, b) = (every.0.total_micros(), every.1.total_micros());
    Duration::from_micros(rng.random_range(a..=b.max(a)))
}

/// What one side sends and when it gives up.
#[derive(Clone, Copy)]
struct Plan {
    every: Option<(Duration, Duration)>,
    bytes: usize,
    give_up: Duration,
}

/// Sends on schedule, tracks unacknowledged data, aborts after `give_up`.
/// Returns when the connection next needs attention, and whether it was aborted.
fn drive(
    s: &mut tcp::Socket<'_>,
    c: &mut Conn,
    now: Instant,
    plan: Plan,
    rng: &mut SimRng,
    sent: &mut u64,
) -> (Option<Instant>, bool) {
    let Plan {
        every,
        bytes,
        give_up,
    } = plan;
    while s.can_recv() {
        if s.recv(|b| (b.len(), b.len())).unwrap_or(0) == 0 {
            break;
        }
    }
    if s.send_queue() == 0 {
        c.pending_since = None;
    }
    if let Some(t) = c.pending_since
        && now >= t + give_up
    {
        s.abort();
        return (None, true);
    }
    if let (Some(t), Some(ev)) = (c.next_send, every)
        && now >= t
        && s.state() == tcp::State::Established
    {
        let payload = vec![b'.'; bytes.max(1)];
        if s.send_slice(&payload).unwrap_or(0) > 0 {
            *sent += 1;
            c.pending_since.get_or_insert(now);
        }
        c.next_send = Some(now + gap(rng, ev));
    }
    // A send that is due but waits for the handshake is not a timer: the
    // packet that establishes the connection wakes the host. Returning the
    // past time would make the host spin until then.
    let send_at = c.next_send.filter(|t| *t > now);
    let next = min_opt(send_at, c.pending_since.map(|t| t + give_up));
    (next, false)
}

/// The client side.
pub struct SessionClient {
    spec: SessionSpec,
    rng: SimRng,
    conns: Vec<Conn>,
    opened: u64,
    aborted: u64,
    sent: u64,
    closed: bool,
}

impl SessionClient {
    /// A client with its own random stream.
    pub fn new(spec: SessionSpec, rng: SimRng) -> Self {
        SessionClient {
            spec,
            rng,
            conns: Vec::new(),
            opened: 0,
            aborted: 0,
            sent: 0,
            closed: false,
        }
    }

    fn open(&mut self, ctx: &mut HostCtx<'_>) {
        let Ok((handle, port)) = ctx.connect((self.spec.server, self.spec.port), 8192, 8192) else {
            return;
        };
        let next_send = self.spec.every.map(|ev| ctx.now + gap(&mut self.rng, ev));
        self.conns.push(Conn {
            handle,
            port,
            next_send,
            pending_since: None,
            busy: true,
        });
        self.opened += 1;
    }
}

impl App for SessionClient {
    fn kind(&self) -> &'static str {
        "session"
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        let now = ctx.now;
        if now < self.spec.start {
            return Some(self.spec.start);
        }
        let ending = self.spec.until.is_some_and(|u| now >= u);
        if self.opened == 0 {
            for _ in 0..self.spec.connections.max(1) {
                self.open(ctx);
            }
        }
        if ending && !self.closed {
            self.closed = true;
            for c in &self.conns {
                ctx.sockets.get_mut::<tcp::Socket>(c.handle).close();
            }
        }
        let mut next = if ending { None } else { self.spec.until };
        let mut i = 0;
        let mut reopen = 0;
        while i < self.conns.len() {
            let c = &mut self.conns[i];
            let s = ctx.sockets.get_mut::<tcp::Socket>(c.handle);
            let dead = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait)
                || (s.state() == tcp::State::CloseWait && !ending);
            if dead {
                if s.state() == tcp::State::CloseWait {
                    s.close();
                }
                let c = self.conns.swap_remove(i);
                ctx.retire(c.handle, Some(c.port));
                if self.spec.reconnect && !ending {
                    reopen += 1;
                }
                continue;
            }
            let plan = Plan {
                every: if ending { None } else { self.spec.every },
                bytes: self.spec.bytes,
                give_up: self.spec.give_up,
            };
            let (n, aborted) = drive(s, c, now, plan, &mut self.rng, &mut self.sent);
            if aborted {
                self.aborted += 1;
                let c = self.conns.swap_remove(i);
                ctx.retire(c.handle, Some(c.port));
                if self.spec.reconnect && !ending {
                    reopen += 1;
                }
                continue;
            }
            next = min_opt(next, n);
            i += 1;
        }
        for _ in 0..reopen {
            self.open(ctx);
            next = min_opt(next, Some(now));
        }
        next
    }

    fn stats(&self) -> AppStats {
        vec![
            ("connections", self.opened),
            ("aborted", self.aborted),
            ("sends", self.sent),
        ]
    }
}

/// The server side.
pub struct SessionServer {
    spec: SessionServerSpec,
    rng: SimRng,
    conns: Vec<Conn>,
    accepted: u64,
    aborted: u64,
    sent: u64,
}

impl SessionServer {
    /// A server with its own random stream.
    pub fn new(spec: SessionServerSpec, rng: SimRng) -> Self {
        SessionServer {
            spec,
            rng,
            conns: Vec::new(),
            accepted: 0,
            aborted: 0,
            sent: 0,
        }
    }
}

impl App for SessionServer {
    fn kind(&self) -> &'static str {
        "session-server"
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        let now = ctx.now;
        ctx.claim_port(self.spec.port);
        let mut next = None;
        for c in &mut self.conns {
            let s = ctx.sockets.get_mut::<tcp::Socket>(c.handle);
            match s.state() {
                tcp::State::Closed => {
                    c.busy = false;
                    c.next_send = None;
                    c.pending_since = None;
                    let _ = s.listen(c.port);
                    continue;
                }
                tcp::State::Listen | tcp::State::SynReceived => continue,
                tcp::State::CloseWait => {
                    s.close();
                    continue;
                }
                _ => {}
            }
            if !c.busy {
                c.busy = true;
                self.accepted += 1;
                c.next_send = self.spec.every.map(|ev| now + gap(&mut self.rng, ev));
            }
            let plan = Plan {
                every: self.spec.every,
                bytes: self.spec.bytes,
                give_up: self.spec.give_up,
            };
            let (n, aborted) = drive(s, c, now, plan, &mut self.rng, &mut self.sent);
            if aborted {
                self.aborted += 1;
                next = min_opt(next, Some(now));
                continue;
            }
            next = min_opt(next, n);
        }
        let idle = self.conns.iter().filter(|c| !c.busy).count();
        for _ in idle..self.spec.listeners.max(1) {
            let rx = tcp::SocketBuffer::new(vec![0; 8192]);
            let tx = tcp::SocketBuffer::new(vec![0; 8192]);
            let mut s = tcp::Socket::new(rx, tx);
            let _ = s.listen(self.spec.port);
            let handle = ctx.sockets.add(s);
            self.conns.push(Conn {
                handle,
                port: self.spec.port,
                next_send: None,
                pending_since: None,
                busy: false,
            });
        }
        next
    }

    fn stats(&self) -> AppStats {
        vec![
            ("accepted", self.accepted),
            ("aborted", self.aborted),
            ("pushes", self.sent),
        ]
    }
}
