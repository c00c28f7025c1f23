//! HTTP clients: one request, or a periodic poller (a webmail tab that reloads
//! every 10-15 minutes). Each request opens a new connection from a new
//! ephemeral port: handshake, `GET`, response, FIN exchange.
//!
//! smoltcp retransmits a SYN forever; like an OS, the client gives up after
//! `syn_retries` retransmissions (Linux `tcp_syn_retries` = 6: the SYN goes out
//! at 0, 1, 3, 7, 15, 31 and 63 s and the attempt is abandoned at 127 s with RST).

use std::net::Ipv4Addr;

use rand::RngExt;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

use super::{App, AppStats, HostCtx, http};
use crate::rng::SimRng;

/// When requests are made.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// One request at this time.
    Once(Instant),
    /// A request at `start`, then every `min..=max` (uniform), until `until`.
    Periodic {
        /// First request.
        start: Instant,
        /// Shortest interval.
        min: Duration,
        /// Longest interval.
        max: Duration,
        /// No request starts after this time.
        until: Option<Instant>,
    },
}

/// Client parameters.
#[derive(Clone, Debug)]
pub struct HttpClientSpec {
    /// Server address (or a balancer's virtual IP).
    pub server: Ipv4Addr,
    /// Server port.
    pub port: u16,
    /// `Host:` header value.
    pub host_header: String,
    /// Request path.
    pub path: String,
    /// When to make requests.
    pub schedule: Schedule,
    /// Parallel connections per request round (a browser opens several).
    pub parallel: usize,
    /// SYN retransmissions before giving up (Linux default 6).
    pub syn_retries: u32,
    /// Abandon a connection that has not finished after this long.
    pub request_timeout: Duration,
}

impl HttpClientSpec {
    /// One request to `server:port` at `at`, with defaults for the rest.
    pub fn once(server: Ipv4Addr, port: u16, at: Instant) -> Self {
        HttpClientSpec {
            server,
            port,
            host_header: server.to_string(),
            path: "/".into(),
            schedule: Schedule::Once(at),
            parallel: 1,
            syn_retries: 6,
            request_timeout: Duration::from_secs(300),
        }
    }

    /// Total time a SYN-SENT connection survives: 2^(retries+1) - 1 seconds.
    pub fn syn_timeout(&self) -> Duration {
        Duration::from_secs((1u64 << (self.syn_retries.min(20) + 1)) - 1)
    }
}

struct Pending {
    handle: SocketHandle,
    port: u16,
    started: Instant,
    sent: bool,
    received: usize,
}

/// The HTTP client / poller app.
pub struct HttpClient {
    spec: HttpClientSpec,
    /// The request every connection sends (built once).
    request: Vec<u8>,
    rng: SimRng,
    next_round: Option<Instant>,
    open: Vec<Pending>,
    completed: u64,
    failed: u64,
    rounds: u64,
}

impl HttpClient {
    /// A client with its own random stream.
    pub fn new(spec: HttpClientSpec, rng: SimRng) -> Self {
        let first = match spec.schedule {
            Schedule::Once(t) => t,
            Schedule::Periodic { start, .. } => start,
        };
        HttpClient {
            request: http::request(&spec.host_header, &spec.path),
            spec,
            rng,
            next_round: Some(first),
            open: Vec::new(),
            completed: 0,
            failed: 0,
            rounds: 0,
        }
    }

    fn start_round(&mut self, ctx: &mut HostCtx<'_>) {
        self.rounds += 1;
        for _ in 0..self.spec.parallel {
            let Ok((handle, port)) = ctx.connect((self.spec.server, self.spec.port), 65535, 1024)
            else {
                self.failed += 1;
                continue;
            };
            self.open.push(Pending {
                handle,
                port,
                started: ctx.now,
                sent: false,
                received: 0,
            });
        }
        self.next_round = match self.spec.schedule {
            Schedule::Once(_) => None,
            Schedule::Periodic {
                min, max, until, ..
            } => {
                let gap = self
                    .rng
                    .random_range(min.total_micros()..=max.total_micros().max(min.total_micros()));
                let next = ctx.now + Duration::from_micros(gap);
                match until {
                    Some(u) if next > u => None,
                    _ => Some(next),
                }
            }
        };
    }
}

impl App for HttpClient {
    fn kind(&self) -> &'static str {
        match self.spec.schedule {
            Schedule::Once(_) => "http-client",
            Schedule::Periodic { .. } => "poller",
        }
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        if let Some(t) = self.next_round
            && t <= ctx.now
        {
            self.start_round(ctx);
        }
        let syn_timeout = self.spec.syn_timeout();
        let mut next: Option<Instant> = self.next_round;
        let mut i = 0;
        while i < self.open.len() {
            let p = &mut self.open[i];
            let age = ctx.now - p.started;
            let mut done = false;
            // Read first; the socket is taken mutably only to change it, so
            // that a poll with nothing to do leaves the stack alone (`Sockets`).
            let s = ctx.sockets.get::<tcp::Socket>(p.handle);
            match s.state() {
                tcp::State::SynSent if age >= syn_timeout => {
                    ctx.sockets.get_mut::<tcp::Socket>(p.handle).abort();
                    self.failed += 1;
                    done = true;
                }
                tcp::State::SynSent => {
                    next = min_opt(next, Some(p.started + syn_timeout));
                }
                tcp::State::Closed | tcp::State::TimeWait => {
                    if p.received > 0 {
                        self.completed += 1;
                    } else {
                        self.failed += 1;
                    }
                    done = true;
                }
                _ if age >= self.spec.request_timeout => {
                    ctx.sockets.get_mut::<tcp::Socket>(p.handle).abort();
                    self.failed += 1;
                    done = true;
                }
                _ => {
                    let sends = !p.sent && s.can_send();
                    let closes = !s.may_recv() && s.may_send();
                    if sends || s.can_recv() || closes {
                        let s = ctx.sockets.get_mut::<tcp::Socket>(p.handle);
                        if sends && s.send_slice(&self.request).is_ok() {
                            p.sent = true;
                        }
                        while s.can_recv() {
                            let n = s.recv(|b| (b.len(), b.len())).unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            p.received += n;
                        }
                        if !s.may_recv() && s.may_send() {
                            // Server finished its response and sent FIN: close our side.
                            s.close();
                        }
                    }
                    next = min_opt(next, Some(p.started + self.spec.request_timeout));
                }
            }
            if done {
                let p = self.open.swap_remove(i);
                ctx.retire(p.handle, Some(p.port));
            } else {
                i += 1;
            }
        }
        next
    }

    fn stats(&self) -> AppStats {
        vec![
            ("rounds", self.rounds),
            ("completed", self.completed),
            ("failed", self.failed),
        ]
    }
}

pub(crate) fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
