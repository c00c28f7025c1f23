//! A layer-4 load balancer: a virtual IP and port in front of a pool of
//! backends. Connections to the VIP are spread over the pool (round robin or
//! source hash), kept sticky per client endpoint, and DNATed to the backend.
//!
//! The return path decides what the client sees (the balancer router must sit
//! between clients and backends for replies to pass it):
//! - `correct`: the reply's source backend -> VIP is rewritten on the way back,
//!   so the client's stack matches it to its socket.
//! - `missing-snat-asymmetric`: the reply is not rewritten and leaves with the
//!   backend's own address (no SNAT, asymmetric return). The client has no
//!   socket for `backend:80`, answers the SYN-ACK with a bare RST and keeps
//!   retransmitting its SYN to the VIP; a firewall in front of it sees SYN-ACKs
//!   "from port 80 to random high ports" of an address it never contacted. The
//!   DNATed SYN is relabelled with cause `balancer-misconfig`, so the backend's
//!   SYN-ACK and the client's RST inherit it.
//! - `partial`: pool members listed in `partial_members` (default: all) answer
//!   from the wrong address on a seeded fraction of connections.
//!
//! Health checks: every `health_interval` (default 5 s) the balancer sends a
//! SYN from its own `address` to each backend and resets the SYN-ACK
//! (half-open check, as many balancers do). A backend that answers RST or
//! nothing is taken out of rotation until it answers again. These packets are
//! labelled actor = the router, benign, cause `health-check`.

use std::net::Ipv4Addr;

use rand::RngExt;
use serde::Deserialize;
use smoltcp::time::{Duration, Instant};

use super::flow::{
    ACK, FIN, RST, SYN, TCP, Timed, opt_duration, parse, parse_endpoint, set_dst, set_src,
};
use super::{Action, Middlebox, MiddleboxCtx, Packet};
use crate::label::{Class, Label};
use crate::rng::{SimRng, stable_hash};
use scanbench_testkit::{Ipv4, Tcp};

/// `[router.balancer]` in a scenario file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerSpec {
    /// The virtual IP (routed to this router).
    pub vip: String,
    /// The virtual port (default 80).
    pub port: Option<u16>,
    /// Pool members, `addr` or `addr:port` (port defaults to `port`).
    pub backends: Vec<String>,
    /// `round-robin` (default) or `source-hash`.
    pub scheduler: Option<String>,
    /// `correct` (default), `missing-snat-asymmetric` or `partial`.
    pub mode: Option<String>,
    /// `partial`: fraction of connections answered from the wrong address (default 0.5).
    pub partial_fraction: Option<f64>,
    /// `partial`: the misbehaving members, by address (default: all).
    pub partial_members: Option<Vec<String>>,
    /// The balancer's own address, source of health checks (routed to this router).
    pub address: Option<String>,
    /// Send health checks (default: true when `address` is set).
    pub health_checks: Option<bool>,
    /// Interval between health checks (default 5s).
    pub health_interval: Option<String>,
    /// Idle timeout of a client's stickiness entry (default 5m).
    pub idle_timeout: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Correct,
    MissingSnat,
    Partial,
}

#[derive(Clone, Copy, Debug)]
struct Conn {
    backend: usize,
    bad: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    connections: u64,
    misrouted: u64,
    health_checks: u64,
    backend_down_events: u64,
}

/// Closing connections are forgotten this long after FIN or RST.
const CLOSING: Duration = Duration::from_secs(10);

/// The balancer.
pub struct Balancer {
    name: String,
    vip: Ipv4Addr,
    port: u16,
    backends: Vec<(Ipv4Addr, u16)>,
    source_hash: bool,
    mode: Mode,
    fraction: f64,
    partial: Vec<bool>,
    address: Option<Ipv4Addr>,
    health: Option<Duration>,
    idle: Duration,
    rng: SimRng,
    rr: usize,
    conns: Timed<(Ipv4Addr, u16), Conn>,
    up: Vec<bool>,
    pending: Vec<Option<u16>>,
    next_health: Option<Instant>,
    next_check_port: u16,
    stats: Stats,
}

impl BalancerSpec {
    /// Builds the balancer of router `router` with its own random stream
    /// (`rng::stream(seed, "balancer:<router>")`).
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn build(&self, router: &str, rng: SimRng) -> Result<Box<dyn Middlebox>, String> {
        Ok(Box::new(self.balancer(router, rng)?))
    }

    /// Builds the concrete balancer.
    ///
    /// # Errors
    /// As [`BalancerSpec::build`].
    pub fn balancer(&self, router: &str, rng: SimRng) -> Result<Balancer, String> {
        let addr = |s: &str, field: &str| -> Result<Ipv4Addr, String> {
            s.trim()
                .parse()
                .map_err(|_| format!("`{field}`: `{s}` is not an IPv4 address"))
        };
        let vip = addr(&self.vip, "vip")?;
        let port = self.port.unwrap_or(80);
        if self.backends.is_empty() {
            return Err("`backends`: the pool is empty".into());
        }
        let mut backends = Vec::new();
        for b in &self.backends {
            let (a, p) = parse_endpoint(b).map_err(|e| format!("`backends`: {e}"))?;
            backends.push((a, p.unwrap_or(port)));
        }
        let source_hash = match self.scheduler.as_deref().unwrap_or("round-robin") {
            "round-robin" => false,
            "source-hash" => true,
            o => return Err(format!("`scheduler`: `{o}` (round-robin, source-hash)")),
        };
        let mode = match self.mode.as_deref().unwrap_or("correct") {
            "correct" => Mode::Correct,
            "missing-snat-asymmetric" => Mode::MissingSnat,
            "partial" => Mode::Partial,
            o => {
                return Err(format!(
                    "`mode`: `{o}` (correct, missing-snat-asymmetric, partial)"
                ));
            }
        };
        let fraction = self.partial_fraction.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&fraction) {
            return Err("`partial_fraction`: expected 0..1".into());
        }
        let partial = match &self.partial_members {
            None => vec![true; backends.len()],
            Some(ms) => {
                let mut v = vec![false; backends.len()];
                for m in ms {
                    let a = addr(m, "partial_members")?;
                    let i = backends
                        .iter()
                        .position(|b| b.0 == a)
                        .ok_or_else(|| format!("`partial_members`: `{m}` is not in `backends`"))?;
                    v[i] = true;
                }
                v
            }
        };
        let address = self
            .address
            .as_deref()
            .map(|a| addr(a, "address"))
            .transpose()?;
        let interval = opt_duration(&self.health_interval, "health_interval")?
            .unwrap_or(Duration::from_secs(5));
        if interval == Duration::ZERO {
            return Err("`health_interval`: must be positive".into());
        }
        let health = match (self.health_checks.unwrap_or(address.is_some()), address) {
            (true, None) => {
                return Err("`health_checks`: needs the balancer's own `address`".into());
            }
            (true, Some(_)) => Some(interval),
            (false, _) => None,
        };
        let idle =
            opt_duration(&self.idle_timeout, "idle_timeout")?.unwrap_or(Duration::from_secs(300));
        let n = backends.len();
        Ok(Balancer {
            name: router.to_string(),
            vip,
            port,
            backends,
            source_hash,
            mode,
            fraction,
            partial,
            address,
            health,
            idle,
            rng,
            rr: 0,
            conns: Timed::default(),
            up: vec![true; n],
            pending: vec![None; n],
            next_health: health.map(|d| Instant::ZERO + d),
            next_check_port: 32768,
            stats: Stats::default(),
        })
    }
}

impl Balancer {
    /// Whether pool member `i` is in rotation.
    pub fn is_up(&self, i: usize) -> bool {
        self.up[i]
    }

    fn pick(&mut self, client: Ipv4Addr) -> usize {
        let n = self.backends.len();
        if self.source_hash {
            let h = stable_hash(&client.to_string()) as usize % n;
            return (0..n)
                .map(|k| (h + k) % n)
                .find(|&i| self.up[i])
                .unwrap_or(h);
        }
        for _ in 0..n {
            let i = self.rr % n;
            self.rr += 1;
            if self.up[i] {
                return i;
            }
        }
        let i = self.rr % n;
        self.rr += 1;
        i
    }

    fn check(&mut self, ctx: &mut MiddleboxCtx<'_>, src: Ipv4Addr) {
        let label = ctx.labels.intern(Label {
            actor: self.name.clone(),
            class: Class::Benign,
            cause: "health-check".into(),
        });
        for i in 0..self.backends.len() {
            if self.pending[i].is_some() && self.up[i] {
                self.up[i] = false;
                self.stats.backend_down_events += 1;
            }
            let port = self.next_check_port;
            self.next_check_port = if port >= 60999 { 32768 } else { port + 1 };
            let (dst, dport) = self.backends[i];
            let bytes = Tcp {
                src_port: port,
                dst_port: dport,
                seq: self.rng.random(),
                flags: SYN,
                window: 1024,
                options: &[2, 4, 0x05, 0xb4],
                ..Tcp::default()
            }
            .packet(&Ipv4 {
                ident: self.rng.random(),
                ..Ipv4::new(src, dst)
            });
            ctx.emit(Packet { bytes, label });
            self.pending[i] = Some(port);
            self.stats.health_checks += 1;
        }
    }
}

impl Middlebox for Balancer {
    fn kind(&self) -> &'static str {
        "balancer"
    }

    fn owned_addrs(&self) -> Vec<Ipv4Addr> {
        let mut v = vec![self.vip];
        v.extend(self.address);
        v
    }

    fn process(&mut self, ctx: &mut MiddleboxCtx<'_>, pkt: &mut Packet, _from: &str) -> Action {
        let now = ctx.now;
        let Some(p) = parse(&pkt.bytes) else {
            return Action::Forward;
        };
        if p.t.proto != TCP {
            return Action::Forward;
        }
        while self.conns.pop_expired(now).is_some() {}
        let closing = p.has(FIN) || p.has(RST);
        if p.t.dst == self.vip && p.t.dport == self.port {
            let key = (p.t.src, p.t.sport);
            let conn = match self.conns.get(&key).copied() {
                Some(c) => c,
                None => {
                    let backend = self.pick(p.t.src);
                    let bad = match self.mode {
                        Mode::Correct => false,
                        Mode::MissingSnat => true,
                        Mode::Partial => {
                            self.partial[backend] && self.rng.random::<f64>() < self.fraction
                        }
                    };
                    self.stats.connections += 1;
                    if bad {
                        self.stats.misrouted += 1;
                    }
                    let c = Conn { backend, bad };
                    self.conns.insert(key, c, now + self.idle);
                    c
                }
            };
            let ttl = if closing { CLOSING } else { self.idle };
            self.conns.set_deadline(&key, now + ttl);
            let (a, port) = self.backends[conn.backend];
            set_dst(&mut pkt.bytes, a, Some(port));
            if conn.bad {
                pkt.label = ctx.labels.with_cause(pkt.label, "balancer-misconfig");
            }
            return Action::Forward;
        }
        if Some(p.t.dst) == self.address {
            // Answers to our health checks: consume them.
            if let Some(i) = (0..self.backends.len()).find(|&i| {
                self.backends[i] == (p.t.src, p.t.sport) && self.pending[i] == Some(p.t.dport)
            }) {
                self.pending[i] = None;
                if p.has(SYN) && p.has(ACK) {
                    self.up[i] = true;
                    let bytes = Tcp {
                        src_port: p.t.dport,
                        dst_port: p.t.sport,
                        seq: p.ack,
                        flags: RST,
                        window: 0,
                        ..Tcp::default()
                    }
                    .packet(&Ipv4 {
                        ident: self.rng.random(),
                        ..Ipv4::new(p.t.dst, p.t.src)
                    });
                    ctx.emit(Packet {
                        bytes,
                        label: pkt.label,
                    });
                } else if p.has(RST) && self.up[i] {
                    self.up[i] = false;
                    self.stats.backend_down_events += 1;
                }
            }
            return Action::Drop;
        }
        let key = (p.t.dst, p.t.dport);
        if let Some(c) = self.conns.get(&key).copied()
            && self.backends[c.backend] == (p.t.src, p.t.sport)
        {
            if closing {
                self.conns.set_deadline(&key, now + CLOSING);
            }
            if !c.bad {
                set_src(&mut pkt.bytes, self.vip, Some(self.port));
            }
        }
        Action::Forward
    }

    fn next_timer(&self) -> Option<Instant> {
        match (self.conns.next_deadline(), self.next_health) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, ctx: &mut MiddleboxCtx<'_>) {
        let now = ctx.now;
        while self.conns.pop_expired(now).is_some() {}
        if let (Some(t), Some(d), Some(src)) = (self.next_health, self.health, self.address)
            && t <= now
        {
            self.check(ctx, src);
            self.next_health = Some(t + d);
        }
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("connections", s.connections),
            ("misrouted_replies", s.misrouted),
            ("health_checks", s.health_checks),
            ("backend_down_events", s.backend_down_events),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::testpkt::{checksums_ok, seg};
    use super::*;
    use crate::label::{LabelId, Labels};
    use crate::rng::stream;

    struct Rig {
        labels: Labels,
        log: Vec<Packet>,
        emitted: Vec<Packet>,
        label: LabelId,
    }

    fn rig() -> Rig {
        let mut labels = Labels::default();
        let label = labels.intern(Label {
            actor: "client".into(),
            class: Class::Benign,
            cause: "poll".into(),
        });
        Rig {
            labels,
            log: vec![],
            emitted: vec![],
            label,
        }
    }

    impl Rig {
        fn ctx(&mut self, at: i64) -> MiddleboxCtx<'_> {
            MiddleboxCtx {
                now: Instant::from_millis(at),
                labels: &mut self.labels,
                drop_log: &mut self.log,
                emitted: &mut self.emitted,
            }
        }
        fn run(&mut self, b: &mut Balancer, at: i64, bytes: Vec<u8>) -> (Action, Packet) {
            let mut p = Packet {
                bytes,
                label: self.label,
            };
            let a = b.process(&mut self.ctx(at), &mut p, "x");
            (a, p)
        }
    }

    fn spec(mode: &str) -> BalancerSpec {
        BalancerSpec {
            vip: "198.51.100.80".into(),
            backends: vec!["198.51.100.11".into(), "198.51.100.12".into()],
            mode: Some(mode.into()),
            ..BalancerSpec::default()
        }
    }

    const C: &str = "192.0.2.10:40000";

    #[test]
    fn correct_mode_dnats_and_rewrites_replies() {
        let mut r = rig();
        let mut b = spec("correct").balancer("lb", stream(1, "b")).unwrap();
        let (_, p) = r.run(&mut b, 0, seg(C, "198.51.100.80:80", SYN, 1, 0));
        let t = parse(&p.bytes).unwrap().t;
        assert_eq!(t.dst, Ipv4Addr::new(198, 51, 100, 11));
        assert!(checksums_ok(&p.bytes));
        assert_eq!(r.labels.get(p.label).cause, "poll");
        let (_, p) = r.run(&mut b, 1, seg("198.51.100.11:80", C, SYN | ACK, 9, 2));
        let t = parse(&p.bytes).unwrap().t;
        assert_eq!((t.src, t.sport), (Ipv4Addr::new(198, 51, 100, 80), 80));
        assert!(checksums_ok(&p.bytes));
        // Round robin: the next client goes to the second member; stickiness holds.
        let (_, p) = r.run(
            &mut b,
            2,
            seg("192.0.2.10:40001", "198.51.100.80:80", SYN, 1, 0),
        );
        assert_eq!(
            parse(&p.bytes).unwrap().t.dst,
            Ipv4Addr::new(198, 51, 100, 12)
        );
        let (_, p) = r.run(&mut b, 3, seg(C, "198.51.100.80:80", SYN, 1, 0));
        assert_eq!(
            parse(&p.bytes).unwrap().t.dst,
            Ipv4Addr::new(198, 51, 100, 11)
        );
    }

    #[test]
    fn missing_snat_leaves_backend_address_and_relabels() {
        let mut r = rig();
        let mut b = spec("missing-snat-asymmetric")
            .balancer("lb", stream(1, "b"))
            .unwrap();
        let (_, p) = r.run(&mut b, 0, seg(C, "198.51.100.80:80", SYN, 1, 0));
        assert_eq!(r.labels.get(p.label).cause, "balancer-misconfig");
        assert_eq!(r.labels.get(p.label).actor, "client");
        let (_, p) = r.run(&mut b, 1, seg("198.51.100.11:80", C, SYN | ACK, 9, 2));
        assert_eq!(
            parse(&p.bytes).unwrap().t.src,
            Ipv4Addr::new(198, 51, 100, 11)
        );
    }

    #[test]
    fn partial_mode_is_seeded_and_per_member() {
        let mut s = spec("partial");
        s.partial_members = Some(vec!["198.51.100.12".into()]);
        s.partial_fraction = Some(1.0);
        let mut r = rig();
        let mut b = s.balancer("lb", stream(1, "b")).unwrap();
        let (_, p1) = r.run(&mut b, 0, seg(C, "198.51.100.80:80", SYN, 1, 0));
        let (_, p2) = r.run(
            &mut b,
            0,
            seg("192.0.2.10:40001", "198.51.100.80:80", SYN, 1, 0),
        );
        assert_eq!(r.labels.get(p1.label).cause, "poll");
        assert_eq!(r.labels.get(p2.label).cause, "balancer-misconfig");
        s.partial_members = Some(vec!["198.51.100.99".into()]);
        assert!(
            s.balancer("lb", stream(1, "b"))
                .err()
                .unwrap()
                .contains("partial_members")
        );
    }

    #[test]
    fn health_checks_are_half_open() {
        let mut s = spec("correct");
        s.address = Some("198.51.100.2".into());
        let mut r = rig();
        let mut b = s.balancer("lb", stream(1, "b")).unwrap();
        assert_eq!(b.next_timer(), Some(Instant::from_secs(5)));
        b.on_timer(&mut r.ctx(5000));
        assert_eq!(r.emitted.len(), 2);
        let syn = parse(&r.emitted[0].bytes).unwrap();
        assert!(syn.is_pure_syn());
        assert_eq!(r.labels.get(r.emitted[0].label).cause, "health-check");
        assert_eq!(r.labels.get(r.emitted[0].label).actor, "lb");
        let sa = seg(
            "198.51.100.11:80",
            &format!("198.51.100.2:{}", syn.t.sport),
            SYN | ACK,
            77,
            1234,
        );
        let hl = r.emitted[0].label;
        let mut p = Packet {
            bytes: sa,
            label: hl,
        };
        let a = b.process(&mut r.ctx(5001), &mut p, "x");
        assert_eq!(a, Action::Drop);
        let rst = parse(&r.emitted[2].bytes).unwrap();
        assert_eq!(
            (rst.flags, rst.t.dst),
            (RST, Ipv4Addr::new(198, 51, 100, 11))
        );
        // The second member never answered: out of rotation at the next round.
        b.on_timer(&mut r.ctx(10_000));
        assert!(b.is_up(0));
        assert!(!b.is_up(1));
    }
}
