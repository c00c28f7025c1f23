//! Source NAT / PAT: hosts behind the routers' `inside` neighbours share one
//! public address. Each outbound connection (5-tuple) gets its own public port
//! (sequential, seeded random, or preserving the inside port when free), so
//! every poll of a client shows up outside as a new high port on the NAT
//! address: the "random high ports" of the field reports.
//!
//! Replies to the public address are translated back if they match a mapping;
//! anything else sent to the public address (a SYN-ACK from a backend the
//! client never contacted, a late segment after the mapping expired) is
//! dropped and logged. With `filtering = "endpoint-independent"` (RFC 4787
//! EIF), a packet from any remote to a mapped port is let in, so the inside
//! host sees it and answers (RST) itself.
//!
//! Mappings age out per TCP state (profiles `rfc`: established 24 h,
//! transitory 4 min, UDP 5 min; `linux`: conntrack values; `screenos`: 30 min,
//! 10 s after FIN/RST). A packet dropped because its mapping expired is
//! relabelled `state-loss`. ICMP is translated by address only (no mapping).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rand::RngExt;
use serde::Deserialize;
use smoltcp::time::Instant;

use super::flow::{
    TCP, TcpState, Timed, Timeouts, Tuple, UDP, opt_duration, parse, parse_port_range, set_dst,
    set_src,
};
use super::{Action, Middlebox, MiddleboxCtx, Packet};
use crate::rng::SimRng;

/// `[router.nat]` in a scenario file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    /// The public address (routed to this router).
    pub public: String,
    /// Neighbours (node names) on the inside.
    pub inside: Vec<String>,
    /// Public port range `lo-hi` (default `1024-65535`).
    pub ports: Option<String>,
    /// `sequential` (default), `random` (seeded) or `preserve` (keep the inside
    /// port when free, as Linux does).
    pub allocation: Option<String>,
    /// `address-and-port` (default: replies only from the mapped remote) or
    /// `endpoint-independent`.
    pub filtering: Option<String>,
    /// Timeout profile: `rfc` (default), `linux` or `screenos`.
    pub profile: Option<String>,
    /// Established TCP mapping idle timeout (overrides the profile).
    pub tcp_established_timeout: Option<String>,
    /// Handshake / closing TCP mapping timeout (overrides the profile).
    pub tcp_transitory_timeout: Option<String>,
    /// UDP mapping timeout (overrides the profile).
    pub udp_timeout: Option<String>,
    /// Log unmatched inbound packets to the drop log (default true).
    pub log_unknown: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alloc {
    Sequential,
    Random,
    Preserve,
}

#[derive(Clone, Copy, Debug)]
struct Mapping {
    port: u16,
    tcp: Option<TcpState>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    mappings: u64,
    expired: u64,
    translated_out: u64,
    translated_in: u64,
    dropped_unknown: u64,
    exhausted: u64,
    peak: u64,
}

/// (protocol, public port, remote address, remote port) of a lost mapping.
type LostKey = (u8, u16, Ipv4Addr, u16);

/// The NAT.
pub struct Nat {
    public: Ipv4Addr,
    inside: Vec<String>,
    range: (u16, u16),
    alloc: Alloc,
    eif: bool,
    timeouts: Timeouts,
    log_unknown: bool,
    rng: SimRng,
    next_port: u16,
    out: Timed<Tuple, Mapping>,
    by_port: BTreeMap<(u8, u16), Tuple>,
    lost: BTreeMap<LostKey, Instant>,
    stats: Stats,
}

impl NatSpec {
    /// How long an idle established TCP mapping lives: the profile's value or
    /// `tcp_established_timeout`.
    ///
    /// # Errors
    /// An unknown profile or a malformed duration, naming the field.
    pub fn established_idle_timeout(&self) -> Result<smoltcp::time::Duration, String> {
        let t = Timeouts::by_name(self.profile.as_deref().unwrap_or("rfc"), "profile")?;
        Ok(
            opt_duration(&self.tcp_established_timeout, "tcp_established_timeout")?
                .unwrap_or(t.established),
        )
    }

    /// Builds the NAT; `rng` is its own stream (`rng::stream(seed, "nat:<router>")`).
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn build(&self, rng: SimRng) -> Result<Box<dyn Middlebox>, String> {
        Ok(Box::new(self.nat(rng)?))
    }

    /// Builds the concrete NAT.
    ///
    /// # Errors
    /// As [`NatSpec::build`].
    pub fn nat(&self, rng: SimRng) -> Result<Nat, String> {
        let public: Ipv4Addr = self
            .public
            .trim()
            .parse()
            .map_err(|_| format!("`public`: `{}` is not an IPv4 address", self.public))?;
        if self.inside.is_empty() {
            return Err("`inside`: name at least one inside neighbour".into());
        }
        let range = match &self.ports {
            Some(s) => parse_port_range(s).map_err(|e| format!("`ports`: {e}"))?,
            None => (1024, 65535),
        };
        if range.0 == 0 {
            return Err("`ports`: port 0 cannot be used".into());
        }
        let alloc = match self.allocation.as_deref().unwrap_or("sequential") {
            "sequential" => Alloc::Sequential,
            "random" => Alloc::Random,
            "preserve" => Alloc::Preserve,
            o => {
                return Err(format!(
                    "`allocation`: `{o}` (sequential, random, preserve)"
                ));
            }
        };
        let eif = match self.filtering.as_deref().unwrap_or("address-and-port") {
            "address-and-port" => false,
            "endpoint-independent" => true,
            o => {
                return Err(format!(
                    "`filtering`: `{o}` (address-and-port, endpoint-independent)"
                ));
            }
        };
        let mut timeouts = Timeouts::by_name(self.profile.as_deref().unwrap_or("rfc"), "profile")?;
        if let Some(d) = opt_duration(&self.tcp_established_timeout, "tcp_established_timeout")? {
            timeouts.established = d;
        }
        if let Some(d) = opt_duration(&self.tcp_transitory_timeout, "tcp_transitory_timeout")? {
            timeouts.set_transitory(d);
        }
        if let Some(d) = opt_duration(&self.udp_timeout, "udp_timeout")? {
            timeouts.udp = d;
        }
        Ok(Nat {
            public,
            inside: self.inside.clone(),
            range,
            alloc,
            eif,
            timeouts,
            log_unknown: self.log_unknown.unwrap_or(true),
            rng,
            next_port: range.0,
            out: Timed::default(),
            by_port: BTreeMap::new(),
            lost: BTreeMap::new(),
            stats: Stats::default(),
        })
    }
}

impl Nat {
    /// Active mappings.
    pub fn mappings(&self) -> usize {
        self.out.len()
    }

    fn free(&self, proto: u8, port: u16) -> bool {
        !self.by_port.contains_key(&(proto, port))
    }

    fn allocate(&mut self, proto: u8, inside_port: u16) -> Option<u16> {
        let (lo, hi) = self.range;
        match self.alloc {
            Alloc::Preserve
                if (lo..=hi).contains(&inside_port) && self.free(proto, inside_port) =>
            {
                return Some(inside_port);
            }
            Alloc::Random => {
                for _ in 0..32 {
                    let p = self.rng.random_range(lo..=hi);
                    if self.free(proto, p) {
                        return Some(p);
                    }
                }
            }
            _ => {}
        }
        let span = u32::from(hi - lo) + 1;
        for _ in 0..span {
            let p = self.next_port;
            self.next_port = if p >= hi { lo } else { p + 1 };
            if self.free(proto, p) {
                return Some(p);
            }
        }
        None
    }

    fn timeout(&self, m: &Mapping, proto: u8) -> smoltcp::time::Duration {
        match (m.tcp, proto) {
            (Some(s), _) => self.timeouts.tcp(s),
            (None, UDP) => self.timeouts.udp,
            _ => self.timeouts.other,
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((k, m)) = self.out.pop_expired(now) {
            self.by_port.remove(&(k.proto, m.port));
            if self.lost.len() >= 1 << 16 {
                self.lost.pop_first();
            }
            self.lost.insert((k.proto, m.port, k.dst, k.dport), now);
            self.stats.expired += 1;
        }
    }
}

impl Middlebox for Nat {
    fn kind(&self) -> &'static str {
        "nat"
    }

    fn owned_addrs(&self) -> Vec<Ipv4Addr> {
        vec![self.public]
    }

    fn process(&mut self, ctx: &mut MiddleboxCtx<'_>, pkt: &mut Packet, from: &str) -> Action {
        let now = ctx.now;
        let Some(p) = parse(&pkt.bytes) else {
            return Action::Forward;
        };
        self.expire(now);
        let ported = p.t.proto == TCP || p.t.proto == UDP;
        if self.inside.iter().any(|n| n == from) && p.t.src != self.public {
            if !ported {
                set_src(&mut pkt.bytes, self.public, None);
                self.stats.translated_out += 1;
                return Action::Forward;
            }
            let key = p.t;
            let port = match self.out.get(&key).copied() {
                Some(mut m) => {
                    m.tcp = m.tcp.map(|s| s.advance(true, p.flags));
                    let t = self.timeout(&m, key.proto);
                    if let Some(e) = self.out.get_mut(&key) {
                        *e = m;
                    }
                    self.out.set_deadline(&key, now + t);
                    m.port
                }
                None => {
                    let Some(port) = self.allocate(key.proto, key.sport) else {
                        self.stats.exhausted += 1;
                        return Action::Drop;
                    };
                    let m = Mapping {
                        port,
                        tcp: (key.proto == TCP).then_some(TcpState::SynSent),
                    };
                    let t = self.timeout(&m, key.proto);
                    self.out.insert(key, m, now + t);
                    self.by_port.insert((key.proto, port), key);
                    self.lost.remove(&(key.proto, port, key.dst, key.dport));
                    self.stats.mappings += 1;
                    self.stats.peak = self.stats.peak.max(self.out.len() as u64);
                    port
                }
            };
            set_src(&mut pkt.bytes, self.public, Some(port));
            self.stats.translated_out += 1;
            return Action::Forward;
        }
        if p.t.dst != self.public {
            return Action::Forward;
        }
        let hit = self
            .by_port
            .get(&(p.t.proto, p.t.dport))
            .copied()
            .filter(|k| ported && (self.eif || (k.dst == p.t.src && k.dport == p.t.sport)));
        match hit {
            Some(key) => {
                if let Some(mut m) = self.out.get(&key).copied() {
                    m.tcp = m.tcp.map(|s| s.advance(false, p.flags));
                    let t = self.timeout(&m, key.proto);
                    if let Some(e) = self.out.get_mut(&key) {
                        *e = m;
                    }
                    self.out.set_deadline(&key, now + t);
                }
                set_dst(&mut pkt.bytes, key.src, Some(key.sport));
                self.stats.translated_in += 1;
                Action::Forward
            }
            None => {
                if self
                    .lost
                    .contains_key(&(p.t.proto, p.t.dport, p.t.src, p.t.sport))
                {
                    pkt.label = ctx.labels.with_cause(pkt.label, "state-loss");
                }
                if self.log_unknown {
                    ctx.log_drop(pkt);
                }
                self.stats.dropped_unknown += 1;
                Action::Drop
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.out.next_deadline()
    }

    fn on_timer(&mut self, ctx: &mut MiddleboxCtx<'_>) {
        self.expire(ctx.now);
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("mappings", s.mappings),
            ("mappings_peak", s.peak),
            ("expired", s.expired),
            ("translated_out", s.translated_out),
            ("translated_in", s.translated_in),
            ("dropped_unknown", s.dropped_unknown),
            ("ports_exhausted", s.exhausted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::testpkt::{checksums_ok, seg};
    use super::super::flow::{ACK, SYN};
    use super::*;
    use crate::label::{Class, Label, Labels};
    use crate::rng::stream;

    fn spec() -> NatSpec {
        NatSpec {
            public: "203.0.113.1".into(),
            inside: vec!["lan".into()],
            ports: Some("5000-5002".into()),
            ..NatSpec::default()
        }
    }

    struct Rig {
        labels: Labels,
        log: Vec<Packet>,
        emitted: Vec<Packet>,
    }

    impl Rig {
        fn run(&mut self, n: &mut Nat, at: i64, from: &str, bytes: Vec<u8>) -> (Action, Packet) {
            let label = self.labels.intern(Label {
                actor: "c".into(),
                class: Class::Benign,
                cause: "poll".into(),
            });
            let mut p = Packet { bytes, label };
            let mut ctx = MiddleboxCtx {
                now: Instant::from_secs(at),
                labels: &mut self.labels,
                drop_log: &mut self.log,
                emitted: &mut self.emitted,
            };
            let a = n.process(&mut ctx, &mut p, from);
            (a, p)
        }
    }

    fn rig() -> Rig {
        Rig {
            labels: Labels::default(),
            log: vec![],
            emitted: vec![],
        }
    }

    #[test]
    fn translates_out_and_back_with_valid_checksums() {
        let mut r = rig();
        let mut n = spec().nat(stream(1, "nat:r")).unwrap();
        let (a, p) = r.run(
            &mut n,
            0,
            "lan",
            seg("192.0.2.10:40000", "198.51.100.10:80", SYN, 1, 0),
        );
        assert_eq!(a, Action::Forward);
        let t = parse(&p.bytes).unwrap().t;
        assert_eq!((t.src, t.sport), (Ipv4Addr::new(203, 0, 113, 1), 5000));
        assert!(checksums_ok(&p.bytes));
        let (a, p) = r.run(
            &mut n,
            0,
            "wan",
            seg("198.51.100.10:80", "203.0.113.1:5000", SYN | ACK, 9, 2),
        );
        assert_eq!(a, Action::Forward);
        let t = parse(&p.bytes).unwrap().t;
        assert_eq!((t.dst, t.dport), (Ipv4Addr::new(192, 0, 2, 10), 40000));
        assert!(checksums_ok(&p.bytes));
        // Each new connection gets the next port.
        let (_, p) = r.run(
            &mut n,
            1,
            "lan",
            seg("192.0.2.11:40000", "198.51.100.10:80", SYN, 1, 0),
        );
        assert_eq!(parse(&p.bytes).unwrap().t.sport, 5001);
    }

    #[test]
    fn unknown_inbound_is_dropped_and_logged() {
        let mut r = rig();
        let mut n = spec().nat(stream(1, "nat:r")).unwrap();
        r.run(
            &mut n,
            0,
            "lan",
            seg("192.0.2.10:40000", "198.51.100.80:80", SYN, 1, 0),
        );
        // A backend answers from its own address: no mapping matches.
        let (a, _) = r.run(
            &mut n,
            0,
            "wan",
            seg("198.51.100.11:80", "203.0.113.1:5000", SYN | ACK, 9, 2),
        );
        assert_eq!(a, Action::Drop);
        assert_eq!(r.log.len(), 1);
        // Endpoint-independent filtering lets it in to the inside host.
        let mut s = spec();
        s.filtering = Some("endpoint-independent".into());
        let mut n = s.nat(stream(1, "nat:r")).unwrap();
        r.run(
            &mut n,
            0,
            "lan",
            seg("192.0.2.10:40000", "198.51.100.80:80", SYN, 1, 0),
        );
        let (a, p) = r.run(
            &mut n,
            0,
            "wan",
            seg("198.51.100.11:80", "203.0.113.1:5000", SYN | ACK, 9, 2),
        );
        assert_eq!(a, Action::Forward);
        assert_eq!(parse(&p.bytes).unwrap().t.dport, 40000);
    }

    #[test]
    fn expired_mapping_makes_state_loss() {
        let mut r = rig();
        let mut s = spec();
        s.profile = Some("screenos".into());
        let mut n = s.nat(stream(1, "nat:r")).unwrap();
        let c = "192.0.2.10:40000";
        let sv = "198.51.100.10:80";
        r.run(&mut n, 0, "lan", seg(c, sv, SYN, 1, 0));
        r.run(
            &mut n,
            0,
            "wan",
            seg(sv, "203.0.113.1:5000", SYN | ACK, 9, 2),
        );
        r.run(&mut n, 0, "lan", seg(c, sv, ACK, 2, 10));
        assert_eq!(n.next_timer(), Some(Instant::from_secs(1800)));
        let mut ctx = MiddleboxCtx {
            now: Instant::from_secs(1800),
            labels: &mut r.labels,
            drop_log: &mut r.log,
            emitted: &mut r.emitted,
        };
        n.on_timer(&mut ctx);
        assert_eq!(n.mappings(), 0);
        let (a, p) = r.run(&mut n, 1900, "wan", seg(sv, "203.0.113.1:5000", ACK, 10, 2));
        assert_eq!(a, Action::Drop);
        assert_eq!(r.labels.get(p.label).cause, "state-loss");
    }

    #[test]
    fn pool_exhaustion_and_allocation_modes() {
        let mut r = rig();
        let mut n = spec().nat(stream(1, "nat:r")).unwrap();
        for i in 0..3 {
            let (a, _) = r.run(
                &mut n,
                0,
                "lan",
                seg(
                    &format!("192.0.2.10:{}", 40000 + i),
                    "198.51.100.10:80",
                    SYN,
                    1,
                    0,
                ),
            );
            assert_eq!(a, Action::Forward);
        }
        let (a, _) = r.run(
            &mut n,
            0,
            "lan",
            seg("192.0.2.10:40009", "198.51.100.10:80", SYN, 1, 0),
        );
        assert_eq!(a, Action::Drop);
        let mut s = spec();
        s.ports = Some("30000-40000".into());
        s.allocation = Some("preserve".into());
        let mut n = s.nat(stream(1, "nat:r")).unwrap();
        let (_, p) = r.run(
            &mut n,
            0,
            "lan",
            seg("192.0.2.10:33333", "198.51.100.10:80", SYN, 1, 0),
        );
        assert_eq!(parse(&p.bytes).unwrap().t.sport, 33333);
        s.allocation = Some("random".into());
        let ports = |seed| {
            let mut n = s.nat(stream(seed, "nat:r")).unwrap();
            let mut r = rig();
            let (_, p) = r.run(
                &mut n,
                0,
                "lan",
                seg("192.0.2.10:33333", "198.51.100.10:80", SYN, 1, 0),
            );
            parse(&p.bytes).unwrap().t.sport
        };
        assert_eq!(ports(3), ports(3));
        s.allocation = Some("lottery".into());
        assert!(s.nat(stream(1, "n")).err().unwrap().contains("allocation"));
    }
}
