//! A stateful firewall: zones, ordered rules, and a connection table whose
//! entries age out per TCP state, as Linux conntrack or a ScreenOS session
//! table does.
//!
//! Each packet gets a state before the rules see it:
//! - **ESTABLISHED**: it belongs to a tracked connection that has seen a reply
//!   (or is that reply). Allowed without consulting the rules (the session fast
//!   path every stateful firewall has), unless a rule names `state = "established"`.
//! - **NEW**: a pure SYN (SYN without ACK/RST) with no entry, or a non-TCP packet
//!   with no entry, or a SYN retransmission of an unanswered entry. Decided by
//!   the first matching rule, else `default` (deny). Allowed NEW packets create
//!   an entry.
//! - **INVALID**: any other TCP segment with no entry: the late ACK, PSH-ACK,
//!   FIN or RST of a connection the firewall forgot, or a SYN-ACK from an
//!   address the client never contacted. Dropped and logged (the drop log psad
//!   reads) unless a rule says otherwise; `action = "log"` logs and continues,
//!   to model a log-only policy.
//!
//! Entries are lost by idle timeout (per-state, from the profile, with
//! `established_timeout` as the usual override), by eviction when the table is
//! full (least recently seen first), and by scheduled faults: `drop_entry`,
//! `flush`, `failover` (flush plus an optional outage during which everything
//! is dropped unlogged). A packet later dropped because its entry was lost is
//! relabelled with cause `state-loss` (same actor and class): that is the
//! ground truth of the "port scan from port 80" reports of lost state.
//!
//! Zones map neighbours to names (`trust = ["lan"]`); a member may also be a
//! CIDR block, which is how a destination's zone (`to_zone`) is known: the
//! middlebox does not see the egress interface.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;
use smoltcp::time::{Duration, Instant};

use super::flow::{
    Cidr, Parsed, TcpState, Timed, Timeouts, Tuple, opt_duration, parse, parse_endpoint,
    parse_port_range,
};
use super::{Action, Middlebox, MiddleboxCtx, Packet};

/// `[router.firewall]` in a scenario file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallSpec {
    /// Timeout profile: `linux` (conntrack defaults, the default) or `screenos`.
    pub profile: Option<String>,
    /// Idle timeout of established TCP connections, overriding the profile
    /// (e.g. `5m`: shorter than an application's idle gap loses its entry).
    pub established_timeout: Option<String>,
    /// Table size limit (default 65536); when full, the least recently seen
    /// entry is evicted.
    pub max_sessions: Option<usize>,
    /// Zone name -> members: neighbour node names or CIDR blocks.
    #[serde(default)]
    pub zones: BTreeMap<String, Vec<String>>,
    /// What NEW packets that match no rule get: `deny` (default) or `allow`.
    pub default: Option<String>,
    /// Ordered rules; the first `allow` or `deny` that matches decides.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
    /// Scheduled faults.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
}

/// One rule.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `allow`, `deny`, or `log` (log and keep evaluating).
    pub action: String,
    /// Packet state the rule applies to: `new` (default), `established`,
    /// `invalid` or `any`.
    pub state: Option<String>,
    /// `tcp`, `udp`, `icmp` or `any` (default).
    pub proto: Option<String>,
    /// Source block.
    pub src: Option<String>,
    /// Destination block.
    pub dst: Option<String>,
    /// Destination port or range `lo-hi`.
    pub dst_port: Option<PortSel>,
    /// Zone the packet came from (by neighbour).
    pub from_zone: Option<String>,
    /// Zone of the destination address (by CIDR member).
    pub to_zone: Option<String>,
    /// Log denied packets (default true).
    pub log: Option<bool>,
}

/// A port (`80`) or a range (`"1024-65535"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum PortSel {
    /// One port.
    Port(u16),
    /// `lo-hi`.
    Range(String),
}

/// A scheduled fault.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When (e.g. `30m`).
    pub at: String,
    /// `drop_entry`, `flush` or `failover`.
    pub kind: String,
    /// `drop_entry`: one side of the connection, `addr` or `addr:port`.
    pub src: Option<String>,
    /// `drop_entry`: the other side, `addr` or `addr:port`.
    pub dst: Option<String>,
    /// `drop_entry`: the Nth oldest entry (1 = oldest) instead of `src`/`dst`.
    pub nth_oldest: Option<usize>,
    /// `failover`: how long the standby takes over, dropping everything (default 0).
    pub outage: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PktState {
    New,
    Established,
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleAction {
    Allow,
    Deny,
    Log,
}

#[derive(Clone, Debug)]
struct Rule {
    action: RuleAction,
    states: Vec<PktState>,
    proto: Option<u8>,
    src: Option<Cidr>,
    dst: Option<Cidr>,
    ports: Option<(u16, u16)>,
    from_zone: Option<String>,
    to_zone: Option<String>,
    log: bool,
}

impl Rule {
    fn matches(&self, st: PktState, p: &Parsed, from: Option<&str>, to: Option<&str>) -> bool {
        self.states.contains(&st)
            && self.proto.is_none_or(|x| x == p.t.proto)
            && self.src.is_none_or(|c| c.contains(p.t.src))
            && self.dst.is_none_or(|c| c.contains(p.t.dst))
            && self
                .ports
                .is_none_or(|(lo, hi)| (lo..=hi).contains(&p.t.dport))
            && self.from_zone.as_deref().is_none_or(|z| Some(z) == from)
            && self.to_zone.as_deref().is_none_or(|z| Some(z) == to)
    }
}

#[derive(Clone, Debug)]
enum FaultKind {
    DropEntry {
        a: Option<(Ipv4Addr, Option<u16>)>,
        b: Option<(Ipv4Addr, Option<u16>)>,
        nth: Option<usize>,
    },
    Flush,
    Failover(Duration),
}

#[derive(Clone, Debug)]
struct Fault {
    at: Instant,
    kind: FaultKind,
}

#[derive(Clone, Copy, Debug)]
enum ConnState {
    Tcp(TcpState),
    Udp,
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Conn {
    state: ConnState,
    created: (Instant, u64),
    last_seen: Instant,
    replied: bool,
}

#[derive(Clone, Debug)]
enum Member {
    Neighbour(String),
    Net(Cidr),
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    created: u64,
    expired: u64,
    evicted: u64,
    lost_by_fault: u64,
    dropped_invalid: u64,
    dropped_policy: u64,
    dropped_outage: u64,
    logged: u64,
    peak: u64,
}

/// Most lost tuples remembered for `state-loss` labelling.
const LOST_CAP: usize = 1 << 16;

/// The stateful firewall.
pub struct Firewall {
    timeouts: Timeouts,
    max_sessions: usize,
    zones: Vec<(String, Vec<Member>)>,
    default_allow: bool,
    rules: Vec<Rule>,
    faults: Vec<Fault>,
    next_fault: usize,
    table: Timed<Tuple, Conn>,
    lost: BTreeMap<Tuple, Instant>,
    outage_until: Option<Instant>,
    seq: u64,
    stats: Stats,
}

fn proto_of(s: &str) -> Result<Option<u8>, String> {
    Ok(match s {
        "any" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        o => return Err(format!("unknown protocol `{o}` (tcp, udp, icmp, any)")),
    })
}

impl FirewallSpec {
    /// How long an idle established TCP connection keeps its entry: the
    /// profile's value or `established_timeout`.
    ///
    /// # Errors
    /// An unknown profile or a malformed duration, naming the field.
    pub fn established_idle_timeout(&self) -> Result<Duration, String> {
        let t = Timeouts::by_name(self.profile.as_deref().unwrap_or("linux"), "profile")?;
        Ok(
            opt_duration(&self.established_timeout, "established_timeout")?
                .unwrap_or(t.established),
        )
    }

    /// Builds the firewall.
    ///
    /// # Errors
    /// A message naming the bad field (`rule[2].dst_port: ...`).
    pub fn build(&self) -> Result<Box<dyn Middlebox>, String> {
        Ok(Box::new(self.firewall()?))
    }

    /// Builds the concrete firewall (for tests and callers that need the type).
    ///
    /// # Errors
    /// As [`FirewallSpec::build`].
    pub fn firewall(&self) -> Result<Firewall, String> {
        let mut timeouts =
            Timeouts::by_name(self.profile.as_deref().unwrap_or("linux"), "profile")?;
        if let Some(d) = opt_duration(&self.established_timeout, "established_timeout")? {
            if d == Duration::ZERO {
                return Err("`established_timeout`: must be positive".into());
            }
            timeouts.established = d;
        }
        let mut zones = Vec::new();
        for (z, members) in &self.zones {
            let mut ms = Vec::new();
            for m in members {
                if m.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    ms.push(Member::Net(
                        Cidr::parse(m).map_err(|e| format!("`zones.{z}`: {e}"))?,
                    ));
                } else {
                    ms.push(Member::Neighbour(m.clone()));
                }
            }
            zones.push((z.clone(), ms));
        }
        let zone_ok = |z: &Option<String>, field: &str| -> Result<Option<String>, String> {
            match z {
                Some(z) if !self.zones.contains_key(z) => Err(format!(
                    "`{field}`: no zone `{z}`; zones: {}",
                    self.zones.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
                z => Ok(z.clone()),
            }
        };
        let mut rules = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let f = |name: &str| format!("rule[{i}].{name}");
            let action = match r.action.as_str() {
                "allow" | "accept" => RuleAction::Allow,
                "deny" | "drop" => RuleAction::Deny,
                "log" => RuleAction::Log,
                o => {
                    return Err(format!(
                        "`{}`: unknown action `{o}` (allow, deny, log)",
                        f("action")
                    ));
                }
            };
            let states = match r.state.as_deref().unwrap_or("new") {
                "new" => vec![PktState::New],
                "established" => vec![PktState::Established],
                "invalid" => vec![PktState::Invalid],
                "any" => vec![PktState::New, PktState::Established, PktState::Invalid],
                o => {
                    return Err(format!(
                        "`{}`: unknown state `{o}` (new, established, invalid, any)",
                        f("state")
                    ));
                }
            };
            let proto = proto_of(r.proto.as_deref().unwrap_or("any"))
                .map_err(|e| format!("`{}`: {e}", f("proto")))?;
            let cidr = |v: &Option<String>, name: &str| -> Result<Option<Cidr>, String> {
                v.as_deref()
                    .map(Cidr::parse)
                    .transpose()
                    .map_err(|e| format!("`{}`: {e}", f(name)))
            };
            let ports = match &r.dst_port {
                None => None,
                Some(PortSel::Port(p)) => Some((*p, *p)),
                Some(PortSel::Range(s)) => {
                    Some(parse_port_range(s).map_err(|e| format!("`{}`: {e}", f("dst_port")))?)
                }
            };
            rules.push(Rule {
                action,
                states,
                proto,
                src: cidr(&r.src, "src")?,
                dst: cidr(&r.dst, "dst")?,
                ports,
                from_zone: zone_ok(&r.from_zone, &f("from_zone"))?,
                to_zone: zone_ok(&r.to_zone, &f("to_zone"))?,
                log: r.log.unwrap_or(true),
            });
        }
        let default_allow = match self.default.as_deref().unwrap_or("deny") {
            "deny" | "drop" => false,
            "allow" | "accept" => true,
            o => return Err(format!("`default`: unknown action `{o}` (allow, deny)")),
        };
        let mut faults = Vec::new();
        for (i, fs) in self.faults.iter().enumerate() {
            let f = |name: &str| format!("fault[{i}].{name}");
            let at = Instant::ZERO
                + crate::units::duration(&fs.at).map_err(|e| format!("`{}`: {e}", f("at")))?;
            let ep = |v: &Option<String>, name: &str| {
                v.as_deref()
                    .map(parse_endpoint)
                    .transpose()
                    .map_err(|e| format!("`{}`: {e}", f(name)))
            };
            let kind = match fs.kind.as_str() {
                "drop_entry" => {
                    let (a, b) = (ep(&fs.src, "src")?, ep(&fs.dst, "dst")?);
                    if fs.nth_oldest.is_none() && a.is_none() && b.is_none() {
                        return Err(format!(
                            "`{}`: drop_entry needs `src`/`dst` or `nth_oldest`",
                            f("kind")
                        ));
                    }
                    if fs.nth_oldest == Some(0) {
                        return Err(format!("`{}`: counts from 1", f("nth_oldest")));
                    }
                    FaultKind::DropEntry {
                        a,
                        b,
                        nth: fs.nth_oldest,
                    }
                }
                "flush" => FaultKind::Flush,
                "failover" => FaultKind::Failover(
                    opt_duration(&fs.outage, &f("outage"))?.unwrap_or(Duration::ZERO),
                ),
                o => {
                    return Err(format!(
                        "`{}`: unknown fault `{o}` (drop_entry, flush, failover)",
                        f("kind")
                    ));
                }
            };
            faults.push(Fault { at, kind });
        }
        faults.sort_by_key(|f| f.at);
        let max_sessions = self.max_sessions.unwrap_or(65536);
        if max_sessions == 0 {
            return Err("`max_sessions`: must be at least 1".into());
        }
        Ok(Firewall {
            timeouts,
            max_sessions,
            zones,
            default_allow,
            rules,
            faults,
            next_fault: 0,
            table: Timed::default(),
            lost: BTreeMap::new(),
            outage_until: None,
            seq: 0,
            stats: Stats::default(),
        })
    }
}

impl Firewall {
    /// Number of tracked connections.
    pub fn sessions(&self) -> usize {
        self.table.len()
    }

    fn timeout(&self, c: &Conn) -> Duration {
        match c.state {
            ConnState::Tcp(s) => self.timeouts.tcp(s),
            ConnState::Udp => self.timeouts.udp,
            ConnState::Other => self.timeouts.other,
        }
    }

    fn mark_lost(&mut self, k: Tuple, now: Instant) {
        if self.lost.len() >= LOST_CAP {
            self.lost.pop_first();
        }
        self.lost.insert(k, now);
    }

    fn expire(&mut self, now: Instant) {
        while let Some((k, _)) = self.table.pop_expired(now) {
            self.stats.expired += 1;
            self.mark_lost(k, now);
        }
    }

    fn zone_of_neighbour(&self, from: &str) -> Option<&str> {
        self.zones
            .iter()
            .find(|(_, ms)| {
                ms.iter()
                    .any(|m| matches!(m, Member::Neighbour(n) if n == from))
            })
            .map(|(z, _)| z.as_str())
    }

    fn zone_of_addr(&self, a: Ipv4Addr) -> Option<&str> {
        self.zones
            .iter()
            .find(|(_, ms)| {
                ms.iter()
                    .any(|m| matches!(m, Member::Net(c) if c.contains(a)))
            })
            .map(|(z, _)| z.as_str())
    }

    fn lose_all(&mut self, now: Instant) {
        for k in self.table.clear() {
            self.stats.lost_by_fault += 1;
            self.mark_lost(k, now);
        }
    }

    fn apply(&mut self, kind: FaultKind, now: Instant) {
        match kind {
            FaultKind::Flush => self.lose_all(now),
            FaultKind::Failover(outage) => {
                self.lose_all(now);
                if outage > Duration::ZERO {
                    self.outage_until = Some(now + outage);
                }
            }
            FaultKind::DropEntry { a, b, nth } => {
                let ep_match = |e: Option<(Ipv4Addr, Option<u16>)>, addr, port| {
                    e.is_none_or(|(x, p)| x == addr && p.is_none_or(|p| p == port))
                };
                let mut hits: Vec<(Tuple, (Instant, u64))> = self
                    .table
                    .iter()
                    .filter(|(k, _)| {
                        (ep_match(a, k.src, k.sport) && ep_match(b, k.dst, k.dport))
                            || (ep_match(a, k.dst, k.dport) && ep_match(b, k.src, k.sport))
                    })
                    .map(|(k, c)| (*k, c.created))
                    .collect();
                hits.sort_by_key(|(_, c)| *c);
                let victims: Vec<Tuple> = match nth {
                    Some(n) => hits.get(n - 1).map(|(k, _)| *k).into_iter().collect(),
                    None => hits.iter().map(|(k, _)| *k).collect(),
                };
                for k in victims {
                    self.table.remove(&k);
                    self.stats.lost_by_fault += 1;
                    self.mark_lost(k, now);
                }
            }
        }
    }

    fn evict_one(&mut self, now: Instant) {
        let oldest = self
            .table
            .iter()
            .min_by_key(|(_, c)| (c.last_seen, c.created))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.table.remove(&k);
            self.stats.evicted += 1;
            self.mark_lost(k, now);
        }
    }
}

impl Middlebox for Firewall {
    fn kind(&self) -> &'static str {
        "firewall"
    }

    fn process(&mut self, ctx: &mut MiddleboxCtx<'_>, pkt: &mut Packet, from: &str) -> Action {
        let now = ctx.now;
        if let Some(u) = self.outage_until {
            if now < u {
                self.stats.dropped_outage += 1;
                return Action::Drop;
            }
            self.outage_until = None;
        }
        let Some(p) = parse(&pkt.bytes) else {
            return Action::Forward;
        };
        self.expire(now);
        let rev = p.t.reversed();
        let mut key = if self.table.get(&p.t).is_some() {
            Some((p.t, true))
        } else if self.table.get(&rev).is_some() {
            Some((rev, false))
        } else {
            None
        };
        // A new SYN on the tuple of a closed connection reopens it (port reuse).
        if let Some((k, true)) = key
            && p.is_pure_syn()
            && matches!(
                self.table.get(&k).map(|c| c.state),
                Some(ConnState::Tcp(TcpState::Close | TcpState::TimeWait))
            )
        {
            self.table.remove(&k);
            key = None;
        }
        let state = match key {
            Some((k, orig)) => {
                let replied = self.table.get(&k).is_some_and(|c| c.replied);
                if replied || !orig {
                    PktState::Established
                } else {
                    PktState::New
                }
            }
            None if p.is_tcp() && !p.is_pure_syn() => PktState::Invalid,
            None => PktState::New,
        };
        if state == PktState::Invalid
            && (self.lost.contains_key(&p.t) || self.lost.contains_key(&rev))
        {
            pkt.label = ctx.labels.with_cause(pkt.label, "state-loss");
        }
        let from_zone = self.zone_of_neighbour(from);
        let to_zone = self.zone_of_addr(p.t.dst);
        let mut logged = false;
        let mut verdict = None;
        for r in &self.rules {
            if !r.matches(state, &p, from_zone, to_zone) {
                continue;
            }
            match r.action {
                RuleAction::Log => {
                    if !logged {
                        ctx.log_drop(pkt);
                        logged = true;
                    }
                }
                RuleAction::Allow => {
                    verdict = Some((true, false));
                    break;
                }
                RuleAction::Deny => {
                    verdict = Some((false, r.log));
                    break;
                }
            }
        }
        let (allow, log) = verdict.unwrap_or(match state {
            PktState::Established => (true, false),
            PktState::New => (self.default_allow, true),
            PktState::Invalid => (false, true),
        });
        if !allow {
            if state == PktState::Invalid {
                self.stats.dropped_invalid += 1;
            } else {
                self.stats.dropped_policy += 1;
            }
            if log && !logged {
                ctx.log_drop(pkt);
                logged = true;
            }
            if logged {
                self.stats.logged += 1;
            }
            return Action::Drop;
        }
        if logged {
            self.stats.logged += 1;
        }
        match key {
            Some((k, orig)) => {
                let timeouts = self.timeouts;
                if let Some(c) = self.table.get_mut(&k) {
                    c.last_seen = now;
                    c.replied |= !orig;
                    if let ConnState::Tcp(s) = c.state {
                        c.state = ConnState::Tcp(s.advance(orig, p.flags));
                    }
                    let c = *c;
                    let t = match c.state {
                        ConnState::Tcp(s) => timeouts.tcp(s),
                        ConnState::Udp => timeouts.udp,
                        ConnState::Other => timeouts.other,
                    };
                    self.table.set_deadline(&k, now + t);
                }
            }
            None if state == PktState::New => {
                if self.table.len() >= self.max_sessions {
                    self.evict_one(now);
                }
                self.seq += 1;
                let c = Conn {
                    state: match p.t.proto {
                        6 => ConnState::Tcp(TcpState::SynSent),
                        17 => ConnState::Udp,
                        _ => ConnState::Other,
                    },
                    created: (now, self.seq),
                    last_seen: now,
                    replied: false,
                };
                let t = self.timeout(&c);
                self.table.insert(p.t, c, now + t);
                self.lost.remove(&p.t);
                self.stats.created += 1;
                self.stats.peak = self.stats.peak.max(self.table.len() as u64);
            }
            // An INVALID packet a rule let through creates no entry (no loose pickup).
            None => {}
        }
        Action::Forward
    }

    fn next_timer(&self) -> Option<Instant> {
        let fault = self.faults.get(self.next_fault).map(|f| f.at);
        match (self.table.next_deadline(), fault) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, ctx: &mut MiddleboxCtx<'_>) {
        let now = ctx.now;
        while let Some(f) = self.faults.get(self.next_fault)
            && f.at <= now
        {
            let kind = f.kind.clone();
            self.next_fault += 1;
            self.apply(kind, now);
        }
        self.expire(now);
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("sessions_created", s.created),
            ("sessions_peak", s.peak),
            ("expired", s.expired),
            ("evicted", s.evicted),
            ("lost_by_fault", s.lost_by_fault),
            ("dropped_invalid", s.dropped_invalid),
            ("dropped_policy", s.dropped_policy),
            ("dropped_outage", s.dropped_outage),
            ("logged", s.logged),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::testpkt::seg;
    use super::super::flow::{ACK, FIN, RST, SYN};
    use super::*;
    use crate::label::{Class, Label, LabelId, Labels};

    const C: &str = "192.0.2.10:40000";
    const S: &str = "198.51.100.10:993";

    struct Rig {
        labels: Labels,
        drop_log: Vec<Packet>,
        emitted: Vec<Packet>,
        label: LabelId,
    }

    impl Rig {
        fn new() -> Rig {
            let mut labels = Labels::default();
            let label = labels.intern(Label {
                actor: "client".into(),
                class: Class::Benign,
                cause: "session".into(),
            });
            Rig {
                labels,
                drop_log: vec![],
                emitted: vec![],
                label,
            }
        }

        fn send(&mut self, fw: &mut Firewall, at: u64, from: &str, bytes: Vec<u8>) -> Action {
            let mut ctx = MiddleboxCtx {
                now: Instant::from_secs(at as i64),
                labels: &mut self.labels,
                drop_log: &mut self.drop_log,
                emitted: &mut self.emitted,
            };
            let mut p = Packet {
                bytes,
                label: self.label,
            };
            fw.process(&mut ctx, &mut p, from)
        }

        fn timer(&mut self, fw: &mut Firewall, at: u64) {
            let mut ctx = MiddleboxCtx {
                now: Instant::from_secs(at as i64),
                labels: &mut self.labels,
                drop_log: &mut self.drop_log,
                emitted: &mut self.emitted,
            };
            fw.on_timer(&mut ctx);
        }
    }

    fn spec() -> FirewallSpec {
        FirewallSpec {
            zones: [
                ("trust".to_string(), vec!["lan".to_string()]),
                ("untrust".to_string(), vec!["wan".to_string()]),
            ]
            .into_iter()
            .collect(),
            rules: vec![RuleSpec {
                action: "allow".into(),
                from_zone: Some("trust".into()),
                ..RuleSpec::default()
            }],
            ..FirewallSpec::default()
        }
    }

    fn handshake(rig: &mut Rig, fw: &mut Firewall) {
        assert_eq!(
            rig.send(fw, 0, "lan", seg(C, S, SYN, 100, 0)),
            Action::Forward
        );
        assert_eq!(
            rig.send(fw, 0, "wan", seg(S, C, SYN | ACK, 500, 101)),
            Action::Forward
        );
        assert_eq!(
            rig.send(fw, 0, "lan", seg(C, S, ACK, 101, 501)),
            Action::Forward
        );
    }

    #[test]
    fn outbound_allowed_inbound_new_denied_invalid_logged() {
        let mut rig = Rig::new();
        let mut fw = spec().firewall().unwrap();
        handshake(&mut rig, &mut fw);
        assert_eq!(fw.sessions(), 1);
        // Unsolicited SYN from outside: denied by default, logged.
        assert_eq!(
            rig.send(
                &mut fw,
                1,
                "wan",
                seg("203.0.113.9:5555", "192.0.2.10:22", SYN, 1, 0)
            ),
            Action::Drop
        );
        // SYN-ACK from an address the client never contacted: INVALID.
        assert_eq!(
            rig.send(
                &mut fw,
                1,
                "wan",
                seg("198.51.100.11:80", "192.0.2.10:40001", SYN | ACK, 1, 9)
            ),
            Action::Drop
        );
        assert_eq!(rig.drop_log.len(), 2);
        // Neither is state loss: the label keeps its cause.
        assert_eq!(rig.labels.get(rig.drop_log[1].label).cause, "session");
    }

    #[test]
    fn idle_timeout_loses_entry_and_late_packets_are_state_loss() {
        let mut rig = Rig::new();
        let mut s = spec();
        s.established_timeout = Some("5m".into());
        let mut fw = s.firewall().unwrap();
        handshake(&mut rig, &mut fw);
        assert_eq!(fw.next_timer(), Some(Instant::from_secs(300)));
        rig.timer(&mut fw, 300);
        assert_eq!(fw.sessions(), 0);
        // The server pushes data after 20 minutes idle: sessionless, dropped, logged.
        let a = rig.send(&mut fw, 1200, "wan", seg(S, C, ACK | 0x08, 501, 101));
        assert_eq!(a, Action::Drop);
        let logged = rig.drop_log.last().unwrap();
        let l = rig.labels.get(logged.label);
        assert_eq!(
            (l.actor.as_str(), l.cause.as_str()),
            ("client", "state-loss")
        );
        // The client's later FIN and RST too.
        assert_eq!(
            rig.send(&mut fw, 1201, "lan", seg(C, S, FIN | ACK, 101, 501)),
            Action::Drop
        );
        assert_eq!(
            rig.send(&mut fw, 1202, "lan", seg(C, S, RST, 102, 0)),
            Action::Drop
        );
        assert_eq!(rig.drop_log.len(), 3);
    }

    #[test]
    fn linux_profile_keeps_established_for_days() {
        let mut rig = Rig::new();
        let mut fw = spec().firewall().unwrap();
        handshake(&mut rig, &mut fw);
        assert_eq!(fw.next_timer(), Some(Instant::from_secs(432_000)));
        assert_eq!(
            rig.send(&mut fw, 86_400, "wan", seg(S, C, ACK, 501, 101)),
            Action::Forward
        );
    }

    #[test]
    fn screenos_removes_closed_sessions_after_10s() {
        let mut rig = Rig::new();
        let mut s = spec();
        s.profile = Some("screenos".into());
        let mut fw = s.firewall().unwrap();
        handshake(&mut rig, &mut fw);
        assert_eq!(fw.next_timer(), Some(Instant::from_secs(1800)));
        rig.send(&mut fw, 5, "wan", seg(S, C, FIN | ACK, 501, 101));
        assert_eq!(fw.next_timer(), Some(Instant::from_secs(15)));
        rig.timer(&mut fw, 15);
        // The server's retransmitted FIN arrives after the session is gone.
        assert_eq!(
            rig.send(&mut fw, 16, "wan", seg(S, C, FIN | ACK, 501, 101)),
            Action::Drop
        );
        assert_eq!(rig.labels.get(rig.drop_log[0].label).cause, "state-loss");
    }

    #[test]
    fn faults_drop_entries() {
        let mut rig = Rig::new();
        let mut s = spec();
        s.faults = vec![
            FaultSpec {
                at: "10s".into(),
                kind: "drop_entry".into(),
                nth_oldest: Some(1),
                ..FaultSpec::default()
            },
            FaultSpec {
                at: "20s".into(),
                kind: "failover".into(),
                outage: Some("2s".into()),
                ..FaultSpec::default()
            },
        ];
        let mut fw = s.firewall().unwrap();
        handshake(&mut rig, &mut fw);
        let c2 = "192.0.2.10:40002";
        rig.send(&mut fw, 1, "lan", seg(c2, S, SYN, 1, 0));
        assert_eq!(fw.sessions(), 2);
        assert_eq!(fw.next_timer(), Some(Instant::from_secs(10)));
        rig.timer(&mut fw, 10);
        assert_eq!(fw.sessions(), 1, "the oldest entry is gone");
        assert_eq!(
            rig.send(&mut fw, 11, "lan", seg(C, S, ACK, 101, 501)),
            Action::Drop
        );
        rig.timer(&mut fw, 20);
        assert_eq!(fw.sessions(), 0);
        // During the outage even new connections are dropped, unlogged.
        let before = rig.drop_log.len();
        assert_eq!(
            rig.send(&mut fw, 21, "lan", seg(C, S, SYN, 7, 0)),
            Action::Drop
        );
        assert_eq!(rig.drop_log.len(), before);
        assert_eq!(
            rig.send(&mut fw, 23, "lan", seg(C, S, SYN, 7, 0)),
            Action::Forward
        );
    }

    #[test]
    fn table_limit_evicts_least_recently_seen() {
        let mut rig = Rig::new();
        let mut s = spec();
        s.max_sessions = Some(2);
        let mut fw = s.firewall().unwrap();
        rig.send(&mut fw, 0, "lan", seg("192.0.2.10:1", S, SYN, 1, 0));
        rig.send(&mut fw, 1, "lan", seg("192.0.2.10:2", S, SYN, 1, 0));
        rig.send(&mut fw, 2, "lan", seg("192.0.2.10:1", S, SYN, 1, 0)); // refresh :1
        rig.send(&mut fw, 3, "lan", seg("192.0.2.10:3", S, SYN, 1, 0));
        assert_eq!(fw.sessions(), 2);
        assert_eq!(
            rig.send(&mut fw, 4, "wan", seg(S, "192.0.2.10:2", SYN | ACK, 1, 2)),
            Action::Drop
        );
        assert_eq!(
            rig.send(&mut fw, 4, "wan", seg(S, "192.0.2.10:1", SYN | ACK, 1, 2)),
            Action::Forward
        );
    }

    #[test]
    fn log_rule_logs_and_passes_invalid() {
        let mut rig = Rig::new();
        let mut s = spec();
        s.rules.push(RuleSpec {
            action: "log".into(),
            state: Some("invalid".into()),
            ..RuleSpec::default()
        });
        s.rules.push(RuleSpec {
            action: "allow".into(),
            state: Some("invalid".into()),
            ..RuleSpec::default()
        });
        let mut fw = s.firewall().unwrap();
        let a = rig.send(
            &mut fw,
            0,
            "wan",
            seg("198.51.100.11:80", C, SYN | ACK, 1, 9),
        );
        assert_eq!(a, Action::Forward);
        assert_eq!(rig.drop_log.len(), 1);
        assert_eq!(fw.sessions(), 0);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut s = spec();
        s.rules[0].dst_port = Some(PortSel::Range("90-80".into()));
        assert!(s.firewall().err().unwrap().contains("rule[0].dst_port"));
        let mut s = spec();
        s.rules[0].from_zone = Some("dmz".into());
        assert!(s.firewall().err().unwrap().contains("rule[0].from_zone"));
        let s = FirewallSpec {
            established_timeout: Some("5 parsecs".into()),
            ..FirewallSpec::default()
        };
        assert!(s.firewall().err().unwrap().contains("established_timeout"));
    }
}
