//! TRW, Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan, *Fast
//! Portscan Detection Using Sequential Hypothesis Testing*, IEEE S&P 2004), as
//! the authors' Bro implementation wires it (`policy/trw-impl.bro`, Bro 1.x,
//! zeek/zeek first import); docs/detectors/trw.md.
//!
//! Two detectors live here:
//!
//! - `trw`: the faithful one. Connection outcomes come from the shared
//!   [`FlowTracker`](crate::flow::FlowTracker) when a connection leaves the table
//!   (`connection_state_remove`). Only inbound first contacts (remote r →
//!   local l, each (r, l) pair scored once) are observations. Failure = final
//!   `conn_state` S0, REJ or OTH, or RSTOS0 with no responder bytes; anything
//!   else is a success. A remote that a local host contacted successfully is
//!   *friendly* and never flagged. Partial connections (no SYN from the
//!   originator: history not starting with `S`) are not scored, as the Bro
//!   wiring never calls TRW for them (lost-state traffic, docs/detectors/trw.md).
//! - `trw-packet`: the naive packet-level variant many re-implementations use
//!   (Dshell's `trw` plugin, per Mell & Harang 2013): the first packet of any
//!   new TCP flow is an "attempt" by its sender; a SYN-ACK or any non-RST reply
//!   on the flow is a success, a RST or no reply within `reply_timeout` a
//!   failure. No local/remote roles, no friendly remotes, first contact per
//!   (sender, receiver). It flags backscatter on purpose.
//!
//! Both update the likelihood ratio Λ (starting at 1) by (1−θ1)/(1−θ0) on a
//! failure and θ1/θ0 on a success; Λ > η1 = P_D/P_F flags a scanner, Λ < η0 =
//! (1−P_D)/(1−P_F) declares it benign. With the defaults one success cancels
//! one failure, so TRW flags when failures − successes reaches +4 and is
//! benign at −4.
//!
//! # Parameters
//!
//! | name | default | source |
//! |---|---|---|
//! | `theta0` | 0.8 | P(success \| benign), trw-impl.bro / paper |
//! | `theta1` | 0.2 | P(success \| scanner) |
//! | `p_f` | 0.01 | target false-positive probability α |
//! | `p_d` | 0.99 | target detection probability β |
//! | `expire` | 1800 s | pair sets and Λ expire 30 min after the last write (trw-impl.bro `&write_expire = 30 min`) |
//! | `decided_expire` | 3600 s | `scan_sources` / `benign_sources` kept 1 h |
//! | `home_net` (`trw` only) | `10.0.0.0/8;172.16.0.0/12;192.168.0.0/16` | Bro `local_nets` (empty upstream: the site must set it; the bench default is RFC 1918) |
//! | `do_not_flag_friendly_remotes` (`trw` only) | y | trw-impl.bro |
//! | `reply_timeout` (`trw-packet` only) | 5 s | no reply within this is a failure (bench choice, = Zeek `tcp_attempt_delay`) |
//! | `memcap` | 64 MiB | bench bound on the state (Bro's tables expire but have no size limit) |
//!
//! # Deviations from upstream
//!
//! - Outcomes are read when the tracker removes a connection: S0 attempts are
//!   therefore scored after Zeek's 5 min inactivity timeout, and connections
//!   still open at the end of a capture are never scored.
//! - Friendly-remote exceptions: triggered services (ident 113, finger 79,
//!   ftp-data 20) and OTH do not make a remote friendly; other exceptions of
//!   trw-impl.bro are not modelled. **\[unverified\]**: we could not read
//!   trw-impl.bro itself; this follows the paper's model as the Bro wiring is described
//!   (docs/detectors/trw.md).
//! - Honeypot locals (always failures) are not modelled.
//! - Λ is kept as an `f64`; the evidence shows it ×1000 as an integer.
//! - State is bounded by `memcap`. `trw`: half for the connection table
//!   (its least recently active connection is dropped unscored), 3/8 for the
//!   walk (contacted pairs, remotes, decisions), 1/8 for friendly remotes;
//!   `trw-packet`: half for the walk, half for attempts awaiting a reply. A
//!   full table drops its oldest entry (by last write) and counts it in the
//!   report's evictions: a forgotten pair can be scored again, a forgotten
//!   remote restarts its walk at Λ = 1.

use core::net::Ipv4Addr;

use crate::DetectorInfo;
use crate::flow::{ConnConsumer, ConnEvent, ConnEventKind, ConnState, FlowConfig, Tracked};
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::{TimedMap, entry_cost};
use crate::view::proto;
use crate::{Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, PacketView, Rule};

static COMMON: [ParamSpec; 7] = [
    ParamSpec {
        name: "theta0",
        default: "0.8",
        help: "P(success | benign) (trw-impl.bro, paper)",
    },
    ParamSpec {
        name: "theta1",
        default: "0.2",
        help: "P(success | scanner) (trw-impl.bro, paper)",
    },
    ParamSpec {
        name: "p_f",
        default: "0.01",
        help: "target false-positive probability (trw-impl.bro)",
    },
    ParamSpec {
        name: "p_d",
        default: "0.99",
        help: "target detection probability (trw-impl.bro)",
    },
    ParamSpec {
        name: "expire",
        default: "1800",
        help: "seconds without a write before a remote's state expires (trw-impl.bro 30 min)",
    },
    ParamSpec {
        name: "decided_expire",
        default: "3600",
        help: "seconds a remote stays in scan_sources / benign_sources (trw-impl.bro 1 h)",
    },
    ParamSpec {
        name: "memcap",
        default: "67108864",
        help: "bytes of state at most, oldest dropped first (bench bound: Bro's tables have none)",
    },
];

static PARAMS: &[ParamSpec] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
    ParamSpec {
        name: "home_net",
        default: "10.0.0.0/8;172.16.0.0/12;192.168.0.0/16",
        help: "local networks, `;`-separated CIDRs (Bro local_nets; bench default RFC 1918)",
    },
    ParamSpec {
        name: "do_not_flag_friendly_remotes",
        default: "y",
        help: "never flag a remote that a local host contacted successfully (trw-impl.bro T)",
    },
    COMMON[6],
];

static PACKET_PARAMS: &[ParamSpec] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
    ParamSpec {
        name: "reply_timeout",
        default: "5",
        help: "seconds without a reply that make an attempt a failure (bench choice)",
    },
    COMMON[6],
];

/// Registry entry for the faithful TRW.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "trw",
    summary: "TRW (Jung et al. 2004) as Bro's trw-impl.bro: inbound first contacts, conn_state outcomes",
    params: PARAMS,
    build,
};

/// Registry entry for the naive packet-level TRW.
pub static PACKET_INFO: DetectorInfo = DetectorInfo {
    name: "trw-packet",
    summary: "naive packet-level TRW (Dshell-style): SYN-ACK = success, RST/no reply = failure, no roles",
    params: PACKET_PARAMS,
    build: build_packet,
};

/// The sequential test both variants share.
#[derive(Clone, Copy, Debug)]
pub struct Sprt {
    /// Λ multiplier on failure, (1−θ1)/(1−θ0).
    pub fail_mult: f64,
    /// Λ multiplier on success, θ1/θ0.
    pub succ_mult: f64,
    /// Upper threshold η1 = P_D/P_F.
    pub eta1: f64,
    /// Lower threshold η0 = (1−P_D)/(1−P_F).
    pub eta0: f64,
    /// State expiry, µs.
    pub expire_us: i64,
    /// Decision memory, µs.
    pub decided_us: i64,
}

fn sprt(p: &Params) -> Result<Sprt, ConfigError> {
    let theta0 = p.f64("theta0")?;
    let theta1 = p.f64("theta1")?;
    let p_f = p.f64("p_f")?;
    let p_d = p.f64("p_d")?;
    let bad = |name: &str, reason: &str| ConfigError::BadValue {
        detector: "trw".into(),
        param: name.into(),
        value: p.raw(name).into(),
        reason: reason.into(),
    };
    for (n, v) in [
        ("theta0", theta0),
        ("theta1", theta1),
        ("p_f", p_f),
        ("p_d", p_d),
    ] {
        if !(v > 0.0 && v < 1.0) {
            return Err(bad(n, "expected a probability strictly between 0 and 1"));
        }
    }
    Ok(Sprt {
        fail_mult: (1.0 - theta1) / (1.0 - theta0),
        succ_mult: theta1 / theta0,
        eta1: p_d / p_f,
        eta0: (1.0 - p_d) / (1.0 - p_f),
        expire_us: p.u64_in("expire", 0, 1 << 32)? as i64 * 1_000_000,
        decided_us: p.u64_in("decided_expire", 0, 1 << 32)? as i64 * 1_000_000,
    })
}

fn memcap(p: &Params) -> Result<u64, ConfigError> {
    p.u64_in("memcap", 1 << 16, 1 << 40)
}

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let m = memcap(p)?;
    Ok(Box::new(Tracked::new(Trw {
        flow: FlowConfig {
            memcap: m / 2,
            ..FlowConfig::default()
        },
        walk: Walker::new("trw", sprt(p)?, m / 8 * 3),
        home: p.cidrs("home_net")?,
        no_flag_friendly: p.bool("do_not_flag_friendly_remotes")?,
        friendly: TimedMap::new(m / 8),
    })))
}

fn build_packet(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let m = memcap(p)?;
    Ok(Box::new(TrwPacket {
        walk: Walker::new("trw-packet", sprt(p)?, m / 2),
        reply_us: p.u64_in("reply_timeout", 0, 1 << 32)? as i64 * 1_000_000,
        pending: TimedMap::new(m / 2),
    }))
}

/// Per-remote random-walk state.
#[derive(Clone, Debug)]
struct Remote {
    lambda: f64,
    failures: i64,
    successes: i64,
    last: i64,
    first: i64,
    frames: Vec<u64>,
    /// Each scored first contact (local host and outcome) with its first frame.
    outcomes: Vec<Counted>,
}

/// Bytes one scored first contact adds to its remote: the outcome text and
/// the frames kept as evidence.
const OUTCOME_COST: u64 = (size_of::<Counted>() + 48 + 2 * 8) as u64;

/// The scoring part: first contacts, Λ, decisions, expiry. Each table is
/// timed by its last write, so expiry and eviction take the oldest first.
#[derive(Debug)]
struct Walker {
    name: &'static str,
    s: Sprt,
    /// (remote, local) → (), timed by the last write.
    contacted: TimedMap<(Ipv4Addr, Ipv4Addr), ()>,
    /// remote → walk, timed by its last observation.
    remotes: TimedMap<Ipv4Addr, Remote>,
    /// remote → scanner?, timed by the decision.
    decided: TimedMap<Ipv4Addr, bool>,
}

impl Walker {
    /// A walker whose tables share `memcap` bytes: half for the contacted
    /// pairs, a third for the remotes' walks, a sixth for the decisions.
    fn new(name: &'static str, s: Sprt, memcap: u64) -> Self {
        Walker {
            name,
            s,
            contacted: TimedMap::new(memcap / 2),
            remotes: TimedMap::new(memcap / 3),
            decided: TimedMap::new(memcap / 6),
        }
    }

    /// Drops what expired (trw-impl.bro `&write_expire`): invisible to the
    /// scores, which check every entry's age when they read it.
    fn gc(&mut self, now: i64) {
        let (e, d) = (self.s.expire_us, self.s.decided_us);
        while self.contacted.pop_before(now.saturating_sub(e)).is_some() {}
        while self.remotes.pop_before(now.saturating_sub(e)).is_some() {}
        while self.decided.pop_before(now.saturating_sub(d)).is_some() {}
    }

    fn memory(&self) -> Memory {
        Memory::of(&self.contacted) + Memory::of(&self.remotes) + Memory::of(&self.decided)
    }

    /// Scores one first-contact observation; returns an alert if the remote is now a scanner.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        now: i64,
        remote: Ipv4Addr,
        local: Ipv4Addr,
        failure: bool,
        frames: &[u64],
        start: i64,
        may_flag: bool,
        what: &str,
    ) -> Option<Alert> {
        self.gc(now);
        if let Some(t) = self.decided.time(&remote) {
            if now.saturating_sub(t) <= self.s.decided_us {
                return None;
            }
        }
        match self.contacted.time(&(remote, local)) {
            Some(t) if now.saturating_sub(t) <= self.s.expire_us => return None,
            _ => {}
        }
        let pair = entry_cost::<(Ipv4Addr, Ipv4Addr), ()>(0);
        self.contacted.insert((remote, local), (), now, pair);
        let e = self.s.expire_us;
        let fresh = Remote {
            lambda: 1.0,
            failures: 0,
            successes: 0,
            last: now,
            first: start,
            frames: Vec::new(),
            outcomes: Vec::new(),
        };
        let stale = self
            .remotes
            .get(&remote)
            .is_none_or(|r| now.saturating_sub(r.last) > e);
        if stale {
            let cost = entry_cost::<Ipv4Addr, Remote>(0);
            self.remotes.insert(remote, fresh, now, cost);
        }
        self.remotes.touch(&remote, now);
        // Charged before it is pushed: the outcome and its frames.
        self.remotes.grow(&remote, OUTCOME_COST);
        let r = self.remotes.get_mut(&remote)?;
        r.last = now;
        if failure {
            r.lambda *= self.s.fail_mult;
            r.failures = r.failures.saturating_add(1);
        } else {
            r.lambda *= self.s.succ_mult;
            r.successes = r.successes.saturating_add(1);
        }
        for f in frames.iter().take(2) {
            if r.frames.len() < Evidence::MAX_FRAMES {
                r.frames.push(*f);
            }
        }
        if let (Some(f), true) = (frames.first(), r.outcomes.len() < Evidence::MAX_FRAMES) {
            let outcome = if failure { "failure" } else { "success" };
            r.outcomes.push(Counted {
                key: format!("{local} {outcome} ({what})"),
                frame: *f,
            });
        }
        let decision = entry_cost::<Ipv4Addr, bool>(0);
        if r.lambda > self.s.eta1 {
            let r = self.remotes.remove(&remote)?;
            self.decided.insert(remote, true, now, decision);
            if !may_flag {
                return None;
            }
            let walk = r.failures.saturating_sub(r.successes);
            return Some(Alert {
                detector: self.name,
                scanner: remote,
                victim: None,
                kind: AlertKind::Scanner,
                first_seen: Instant::from_micros(r.first),
                time: Instant::from_micros(now),
                trigger_frame: frames.last().copied(),
                evidence: Evidence {
                    counters: vec![
                        ("walk", walk),
                        ("failures", r.failures),
                        ("successes", r.successes),
                        ("lambda_milli", (r.lambda * 1000.0).round() as i64),
                        ("eta1_milli", (self.s.eta1 * 1000.0).round() as i64),
                    ],
                    ports: Vec::new(),
                    frames: r.frames,
                    log_line: format!(
                        "TRW::TRWAddressScan {remote} scanned a total of {} hosts ({what})",
                        r.failures.saturating_add(r.successes)
                    ),
                    rule: Rule {
                        statement: format!(
                            "{}: likelihood ratio {:.3} > eta1 {:.3} for {remote} after {} \
                             failed and {} successful first contacts (each failure multiplies \
                             it by {:.3}, each success by {:.3})",
                            self.name,
                            r.lambda,
                            self.s.eta1,
                            r.failures,
                            r.successes,
                            self.s.fail_mult,
                            self.s.succ_mult
                        ),
                        counted: if self.name == "trw" {
                            "inbound first contacts from the remote to each local host, \
                             scored when the connection ends: S0, REJ, OTH (or RSTOS0 without \
                             data) fail, anything else succeeds"
                                .into()
                        } else {
                            "the first packet of every new TCP flow by its sender: a RST or \
                             no reply within reply_timeout fails, any other reply succeeds"
                                .into()
                        },
                        window: Some((Instant::from_micros(r.first), Instant::from_micros(now))),
                        keys: r.outcomes,
                    },
                },
            });
        }
        if r.lambda < self.s.eta0 {
            self.remotes.remove(&remote);
            self.decided.insert(remote, false, now, decision);
        }
        None
    }

    /// Current (Λ, failures − successes) of a remote, for tests and debugging.
    fn state(&self, remote: Ipv4Addr) -> Option<(f64, i64)> {
        self.remotes
            .get(&remote)
            .map(|r| (r.lambda, r.failures.saturating_sub(r.successes)))
    }
}

/// The faithful, connection-level TRW: what it keeps beside the connection
/// table (the walk, the site, the friendly remotes), scoring the removed
/// connections of a [`Tracked`] feed.
#[derive(Debug)]
pub struct Trw {
    /// The connection table it reads: half the memcap, Zeek's timeouts.
    flow: FlowConfig,
    walk: Walker,
    home: Vec<Cidr>,
    no_flag_friendly: bool,
    /// Friendly remotes, timed by the last write.
    friendly: TimedMap<Ipv4Addr, ()>,
}

impl Trw {
    /// Λ and the failures − successes walk of `remote`, if it is being scored.
    pub fn remote_state(&self, remote: Ipv4Addr) -> Option<(f64, i64)> {
        self.walk.state(remote)
    }

    fn local(&self, a: Ipv4Addr) -> bool {
        self.home.iter().any(|c| c.contains(a))
    }

    fn process(&mut self, events: &[ConnEvent], out: &mut Vec<Alert>) {
        for ev in events {
            if ev.kind != ConnEventKind::Removed {
                continue;
            }
            let c = &ev.conn;
            let now = ev.time.total_micros();
            let st = c.conn_state();
            let failure = matches!(st, ConnState::S0 | ConnState::REJ | ConnState::OTH)
                || (st == ConnState::RSTOS0 && c.resp_bytes == 0);
            let (o, r) = (c.orig.0, c.resp.0);
            let (ol, rl) = (self.local(o), self.local(r));
            if ol && !rl {
                if !failure && st != ConnState::OTH && !matches!(c.resp.1, 20 | 79 | 113) {
                    let cost = entry_cost::<Ipv4Addr, ()>(0);
                    self.friendly.insert(r, (), now, cost);
                }
                continue;
            }
            if ol || !rl {
                continue;
            }
            // Inbound. Partial connections are never scored.
            if !c.history.trim_start_matches('^').starts_with('S') {
                continue;
            }
            let e = self.walk.s.expire_us;
            while self.friendly.pop_before(now.saturating_sub(e)).is_some() {}
            let may_flag = !(self.no_flag_friendly && self.friendly.contains_key(&o));
            let start = c.start.total_micros();
            let what = st.as_str();
            if let Some(a) = self
                .walk
                .observe(now, o, r, failure, &c.frames, start, may_flag, what)
            {
                out.push(a);
            }
        }
    }
}

impl ConnConsumer for Trw {
    fn name(&self) -> &'static str {
        "trw"
    }

    fn flow_config(&self) -> FlowConfig {
        self.flow
    }

    fn on_packet(&mut self, _: Instant, events: &[ConnEvent], out: &mut Vec<Alert>) {
        self.process(events, out);
    }

    fn on_timers(&mut self, _: Instant, events: &[ConnEvent], out: &mut Vec<Alert>) {
        self.process(events, out);
    }

    fn memory(&self) -> Memory {
        self.walk.memory() + Memory::of(&self.friendly)
    }
}

/// An attempt waiting for its reply (timed by its deadline).
#[derive(Clone, Debug)]
struct Pending {
    start: i64,
    frame: u64,
}

type Flow = (Ipv4Addr, u16, Ipv4Addr, u16);

/// The naive packet-level TRW.
#[derive(Debug)]
pub struct TrwPacket {
    walk: Walker,
    reply_us: i64,
    /// Attempt flow (sender, sport, receiver, dport) → pending, timed by
    /// its reply deadline (timeouts pop in deadline order, then flow order).
    pending: TimedMap<Flow, Pending>,
}

impl TrwPacket {
    fn timeouts(&mut self, now: i64, out: &mut Vec<Alert>) {
        // `oldest_due`: one comparison per packet while no deadline is due.
        while let Some((_, at)) = self.pending.oldest_due(now) {
            let Some((flow, p)) = self.pending.pop_oldest() else {
                break;
            };
            if let Some(a) = self.walk.observe(
                at,
                flow.0,
                flow.2,
                true,
                &[p.frame],
                p.start,
                true,
                "no reply",
            ) {
                out.push(a);
            }
        }
    }
}

impl Detector for TrwPacket {
    fn name(&self) -> &'static str {
        "trw-packet"
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let t = now.total_micros();
        self.timeouts(t, out);
        if pkt.protocol != proto::TCP {
            return;
        }
        let Some(tcp) = pkt.tcp() else { return };
        let reverse = (pkt.dst, tcp.dst_port, pkt.src, tcp.src_port);
        if let Some(p) = self.pending.remove(&reverse) {
            let failure = tcp.flags.rst();
            let what = if failure { "RST" } else { "reply" };
            if let Some(a) = self.walk.observe(
                t,
                reverse.0,
                reverse.2,
                failure,
                &[p.frame, pkt.frame],
                p.start,
                true,
                what,
            ) {
                out.push(a);
            }
            return;
        }
        let flow = (pkt.src, tcp.src_port, pkt.dst, tcp.dst_port);
        // A RST never starts an attempt; any other packet of an unknown flow does.
        if tcp.flags.rst() || self.pending.contains_key(&flow) {
            return;
        }
        let deadline = t.saturating_add(self.reply_us);
        let attempt = Pending {
            start: t,
            frame: pkt.frame,
        };
        let cost = entry_cost::<Flow, Pending>(0);
        self.pending.insert(flow, attempt, deadline, cost);
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        self.timeouts(now.total_micros(), out);
    }

    fn memory(&self) -> Memory {
        self.walk.memory() + Memory::of(&self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const MIN: i64 = 60_000_000;

    fn trw() -> Tracked<Trw> {
        let p = Params::resolve("trw", INFO.params, &[]).unwrap();
        Tracked::new(Trw {
            flow: FlowConfig::default(),
            walk: Walker::new("trw", sprt(&p).unwrap(), 1 << 30),
            home: p.cidrs("home_net").unwrap(),
            no_flag_friendly: true,
            friendly: TimedMap::new(1 << 30),
        })
    }

    fn push(d: &mut dyn Detector, frame: &mut u64, t: i64, b: &[u8], out: &mut Vec<Alert>) {
        let v = PacketView::parse(*frame, b).unwrap();
        *frame += 1;
        d.observe(Instant::from_micros(t), &v, out);
    }

    /// Remote 198.51.100.7 probes local 10.0.0.<host>:23; closed (RST) or open.
    fn probe(
        d: &mut dyn Detector,
        f: &mut u64,
        t: i64,
        host: u8,
        open: bool,
        out: &mut Vec<Alert>,
    ) {
        let (r, l) = (ip("198.51.100.7"), Ipv4Addr::new(10, 0, 0, host));
        push(d, f, t, &tcp(r, 40000, l, 23, S), out);
        if open {
            push(d, f, t + 1, &tcp(l, 23, r, 40000, SA), out);
            push(d, f, t + 2, &tcp(r, 40000, l, 23, A), out);
            push(d, f, t + 3, &tcp(r, 40000, l, 23, FA), out);
            push(d, f, t + 4, &tcp(l, 23, r, 40000, FA), out);
        } else {
            push(d, f, t + 1, &tcp(l, 23, r, 40000, RA), out);
        }
    }

    #[test]
    fn flags_on_fourth_net_failure() {
        let mut d = trw();
        let (mut f, mut out) = (0, Vec::new());
        for h in 1..=3 {
            probe(&mut d, &mut f, h as i64 * MIN, h, false, &mut out);
        }
        d.flush(Instant::from_micros(4 * MIN), &mut out);
        assert!(out.is_empty());
        assert_eq!(d.inner().remote_state(ip("198.51.100.7")).unwrap().1, 3);
        probe(&mut d, &mut f, 5 * MIN, 4, false, &mut out);
        d.flush(Instant::from_micros(6 * MIN), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].evidence.counters[0], ("walk", 4));
        assert_eq!(out[0].evidence.counters[3], ("lambda_milli", 256_000));
    }

    #[test]
    fn one_success_cancels_one_failure_and_benign_at_minus_four() {
        let mut d = trw();
        let (mut f, mut out) = (0, Vec::new());
        // F S F F F: walk 3, no alert.
        for (i, open) in [false, true, false, false, false].iter().enumerate() {
            probe(&mut d, &mut f, i as i64 * MIN, i as u8 + 1, *open, &mut out);
        }
        d.flush(Instant::from_micros(10 * MIN), &mut out);
        assert!(out.is_empty());
        let mut d = trw();
        for i in 0..4u8 {
            probe(&mut d, &mut f, i64::from(i) * MIN, i + 1, true, &mut out);
        }
        d.flush(Instant::from_micros(10 * MIN), &mut out);
        // Benign: no state kept, later failures are ignored for an hour.
        assert!(d.inner().remote_state(ip("198.51.100.7")).is_none());
        for i in 0..6u8 {
            probe(
                &mut d,
                &mut f,
                (11 + i64::from(i)) * MIN,
                50 + i,
                false,
                &mut out,
            );
        }
        d.flush(Instant::from_micros(30 * MIN), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn vertical_scan_is_one_observation() {
        let mut d = trw();
        let (mut f, mut out) = (0, Vec::new());
        let (r, l) = (ip("198.51.100.7"), ip("10.0.0.1"));
        for p in 1..=1000u16 {
            push(
                &mut d,
                &mut f,
                i64::from(p) * 1000,
                &tcp(r, 40000, l, p, S),
                &mut out,
            );
            push(
                &mut d,
                &mut f,
                i64::from(p) * 1000 + 1,
                &tcp(l, p, r, 40000, RA),
                &mut out,
            );
        }
        d.flush(Instant::from_micros(20 * MIN), &mut out);
        assert!(out.is_empty());
        assert_eq!(d.inner().remote_state(r).unwrap().1, 1);
    }

    #[test]
    fn stray_syn_acks_make_the_server_friendly_not_a_scanner() {
        let mut d = trw();
        let (mut f, mut out) = (0, Vec::new());
        let lb = ip("198.51.100.80");
        for h in 1..=10u8 {
            let c = Ipv4Addr::new(10, 0, 0, h);
            push(
                &mut d,
                &mut f,
                i64::from(h) * 1000,
                &tcp(lb, 80, c, 50000 + u16::from(h), SA),
                &mut out,
            );
            push(
                &mut d,
                &mut f,
                i64::from(h) * 1000 + 1,
                &tcp(c, 50000 + u16::from(h), lb, 80, R),
                &mut out,
            );
        }
        d.flush(Instant::from_micros(20 * MIN), &mut out);
        assert!(out.is_empty());
        // The naive variant flags the balancer.
        let mut n = Run::new("trw-packet");
        for h in 1..=10u8 {
            let c = Ipv4Addr::new(10, 0, 0, h);
            n.push(
                i64::from(h) * 1000,
                &tcp(lb, 80, c, 50000 + u16::from(h), SA),
            );
            n.push(
                i64::from(h) * 1000 + 1,
                &tcp(c, 50000 + u16::from(h), lb, 80, R),
            );
        }
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].scanner, lb);
        assert_eq!(n.alerts[0].trigger_frame, Some(7));
    }

    #[test]
    fn packet_variant_counts_silence_as_failure() {
        let mut n = Run::new("trw-packet");
        for h in 1..=4u8 {
            n.push(
                i64::from(h),
                &tcp(ip("198.51.100.7"), 1, Ipv4Addr::new(10, 0, 0, h), 22, S),
            );
        }
        assert_eq!(n.flush(4_999_999), 0);
        assert_eq!(n.flush(5_000_004), 1);
    }
}
