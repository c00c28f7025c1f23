//! The mechanism behind a source's packets, read from an unlabelled capture:
//! four readings, each with the evidence counted from the capture, and the
//! thresholds (documented in `docs/explain.md`) that make it a finding.
//!
//! - **wrong-source replies**: SYN-ACKs from a service port to client ports
//!   whose SYN went to a different address shortly before ([`Role::WrongSource`]:
//!   a balancer's backend answering without SNAT). At least
//!   [`MIN_WRONG_SOURCE`] such SYN-ACKs.
//! - **lost state**: ACK-bearing segments (ACK, PSH, FIN) on connections
//!   the tap saw, whose other end was silent for at least 1 s before and
//!   after each ([`Role::Late`]: a firewall or NAT on the way forgot the
//!   connection, so the peer never sees them). At least [`MIN_LATE`].
//! - **poller**: connection starts from one client to one server port at
//!   near-regular intervals: at least [`MIN_POLLS`] starts, most of them
//!   answered (SYN-ACK), intervals with a coefficient of variation at most
//!   [`MAX_POLL_CV`]. The period and its spread are reported.
//! - **probe pattern**: at least [`MIN_PROBE_TARGETS`] distinct (host, port)
//!   targets probed with bare SYNs or FIN/NULL/XMAS, at most
//!   [`MAX_PROBES_PER_TARGET`] probes per target on average, and at least
//!   [`MIN_PROBE_FAILURES`] of them refused (RST) or unanswered: scanners
//!   fail, clients succeed (the observation TRW is built on).
//!
//! - **responder**: a host whose TCP packets are (at least
//!   [`MIN_RESPONDER_SHARE`] of them) answers within connections others
//!   opened: SYN-ACKs to their SYNs, refusals of them, and the rest of those
//!   connections. A server, or a scan's target.
//!
//! - **client**: the mirror image: at least [`MIN_RESPONDER_SHARE`] of its
//!   TCP packets belong to connections it opened itself, most of them
//!   answered.
//!
//! A source's most likely mechanism is the anomaly (wrong-source replies,
//! lost state, probe pattern) backed by the most packets; only without one
//! is it the baseline reading (poller, responder, client). A source with no
//! finding is `unclear`, with its packet counts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::diagnose::human_us;
use super::record::TapFrames;
use super::roles::{Answer, Role};

/// Fewest wrong-address SYN-ACKs that make a finding (one may be a reused port).
pub const MIN_WRONG_SOURCE: usize = 2;
/// Fewest late segments that make a finding (one may be a peer that just died).
pub const MIN_LATE: usize = 2;
/// Fewest connection starts for a poller (two intervals).
pub const MIN_POLLS: usize = 3;
/// Largest coefficient of variation (sd / mean) of a poller's intervals. A
/// poll every 10-15 min drawn uniformly has 0.12; a person clicking has far more.
pub const MAX_POLL_CV: f64 = 0.35;
/// Fewest distinct (host, port) targets of a probe pattern: ScreenOS's 10 ports.
pub const MIN_PROBE_TARGETS: usize = 10;
/// Most probes per target, on average, in a probe pattern (a probe and its retry).
pub const MAX_PROBES_PER_TARGET: f64 = 3.0;
/// Least share of probes refused or unanswered in a probe pattern.
pub const MIN_PROBE_FAILURES: f64 = 0.5;
/// Least share of a responder's TCP packets that answer connections others opened.
pub const MIN_RESPONDER_SHARE: f64 = 0.9;

/// One mechanism with the evidence counted for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// SYN-ACKs answering SYNs that went to another address.
    WrongSource {
        /// SYN-ACKs counted.
        replies: usize,
        /// Distinct client endpoints answered.
        client_ports: usize,
        /// The clients.
        clients: BTreeSet<Ipv4Addr>,
        /// The addresses the clients' SYNs went to.
        asked: BTreeSet<Ipv4Addr>,
        /// The source ports the SYN-ACKs came from.
        service_ports: BTreeSet<u16>,
    },
    /// Late, unanswered segments of known connections.
    LostState {
        /// Segments counted.
        segments: usize,
        /// Distinct connections.
        connections: usize,
        /// The peers that never answered.
        peers: BTreeSet<Ipv4Addr>,
        /// Source ports of the segments.
        service_ports: BTreeSet<u16>,
        /// Shortest silence of the peer before a late segment, µs.
        idle_min_us: i64,
        /// Longest, µs.
        idle_max_us: i64,
        /// Segments repeating an earlier sequence number (retransmissions).
        retransmissions: usize,
    },
    /// Regular connection starts to one server port.
    Poller {
        /// The server.
        server: Ipv4Addr,
        /// Its port.
        port: u16,
        /// Connection starts (first SYNs, retransmissions not counted).
        starts: usize,
        /// Starts answered with a SYN-ACK.
        answered: usize,
        /// Mean interval, µs.
        period_us: i64,
        /// Standard deviation of the intervals, µs.
        spread_us: i64,
        /// Shortest and longest interval, µs.
        range_us: (i64, i64),
    },
    /// Probes over many targets, mostly failing.
    Probe {
        /// Probes sent (SYNs, FIN/NULL/XMAS), retransmissions included.
        probes: usize,
        /// Distinct (host, port) targets.
        targets: usize,
        /// Distinct hosts.
        hosts: usize,
        /// Distinct ports.
        ports: usize,
        /// Probe kinds by flags (`SYN`, `FIN`, `NULL`, `XMAS`, ...), with counts.
        kinds: BTreeMap<&'static str, usize>,
        /// Targets that answered SYN-ACK, refused with RST, or never answered.
        answered: usize,
        /// Refused.
        refused: usize,
        /// Unanswered.
        silent: usize,
    },
    /// Packets of connections it opened itself.
    Client {
        /// TCP packets it sent in connections it opened.
        packets: usize,
        /// Connections it opened.
        connections: usize,
        /// Of those, answered with a SYN-ACK.
        answered: usize,
        /// The (server, port) pairs it connected to.
        services: BTreeSet<(Ipv4Addr, u16)>,
        /// Stray SYN-ACKs it reset (answers it never asked for).
        strays_reset: usize,
    },
    /// Answers within connections others opened.
    Responder {
        /// TCP packets it sent in connections others opened.
        packets: usize,
        /// SYNs it accepted (SYN-ACK).
        accepted: usize,
        /// SYNs it refused (RST).
        refused: usize,
        /// The peers that opened those connections.
        peers: BTreeSet<Ipv4Addr>,
    },
}

impl Finding {
    /// `wrong-source`, `lost-state`, `poller`, `probe`.
    pub fn name(&self) -> &'static str {
        match self {
            Finding::WrongSource { .. } => "wrong-source",
            Finding::LostState { .. } => "lost-state",
            Finding::Poller { .. } => "poller",
            Finding::Probe { .. } => "probe",
            Finding::Responder { .. } => "responder",
            Finding::Client { .. } => "client",
        }
    }

    /// An anomaly (wrong-source replies, lost state, a probe pattern), as
    /// opposed to a baseline reading of ordinary traffic.
    pub fn is_anomaly(&self) -> bool {
        matches!(
            self,
            Finding::WrongSource { .. } | Finding::LostState { .. } | Finding::Probe { .. }
        )
    }

    /// How much a finding says: anomalies first, then the poller (a
    /// client with a schedule), then plain clients and responders.
    fn rank(&self) -> u8 {
        match self {
            _ if self.is_anomaly() => 2,
            Finding::Poller { .. } => 1,
            _ => 0,
        }
    }

    /// Packets backing the finding.
    pub fn support(&self) -> usize {
        match self {
            Finding::WrongSource { replies, .. } => *replies,
            Finding::LostState { segments, .. } => *segments,
            Finding::Poller { starts, .. } => *starts,
            Finding::Probe { probes, .. } => *probes,
            Finding::Responder { packets, .. } | Finding::Client { packets, .. } => *packets,
        }
    }

    /// Whether the mechanism is a scan (only the probe pattern is).
    pub fn is_scan(&self) -> bool {
        matches!(self, Finding::Probe { .. })
    }

    /// The finding in words, with its numbers.
    pub fn sentence(&self, source: Ipv4Addr) -> String {
        let list = |s: &BTreeSet<Ipv4Addr>| {
            s.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ports = |s: &BTreeSet<u16>| {
            s.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Finding::WrongSource {
                replies,
                client_ports,
                clients,
                asked,
                service_ports,
            } => format!(
                "wrong-source replies: {replies} SYN-ACKs from {source} port {} to {client_ports} client ports of {} whose SYNs went to {} at most 3 s before: the answers come from a different address than the one the clients contacted (a balancer's backend replying without SNAT, or an asymmetric return path)",
                ports(service_ports),
                list(clients),
                list(asked)
            ),
            Finding::LostState {
                segments,
                connections,
                peers,
                service_ports,
                idle_min_us,
                idle_max_us,
                retransmissions,
            } => format!(
                "lost state: {segments} ACK-bearing segments from {source} port {} on {connections} connections to {} that had been silent for {}{}, none answered ({retransmissions} retransmissions): a firewall or NAT between them forgot the connections (idle timeout, flush or failover), so the segments never reach the peer",
                ports(service_ports),
                list(peers),
                human_us(*idle_min_us),
                if human_us(*idle_min_us) == human_us(*idle_max_us) {
                    String::new()
                } else {
                    format!("-{}", human_us(*idle_max_us))
                },
            ),
            Finding::Poller {
                server,
                port,
                starts,
                answered,
                period_us,
                spread_us,
                range_us,
            } => format!(
                "poller: {starts} connection starts from {source} to {server}:{port} ({answered} answered), one every {} +- {} (intervals {}-{}): a client polling a service, not a scan",
                human_us(*period_us),
                human_us(*spread_us),
                human_us(range_us.0),
                human_us(range_us.1)
            ),
            Finding::Probe {
                probes,
                targets,
                hosts,
                ports,
                kinds,
                answered,
                refused,
                silent,
            } => format!(
                "probe pattern: {probes} probes ({}) from {source} to {targets} targets ({ports} port{} on {hosts} host{}), {:.1} per target; {refused} refused with RST, {silent} unanswered, {answered} answered SYN-ACK: a port scan",
                kinds
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if *ports == 1 { "" } else { "s" },
                if *hosts == 1 { "" } else { "s" },
                *probes as f64 / (*targets).max(1) as f64
            ),
            Finding::Client {
                packets,
                connections,
                answered,
                services,
                strays_reset,
            } => format!(
                "client: {packets} packets from {source} in {connections} connections it opened itself ({answered} answered) to {}{}",
                services
                    .iter()
                    .map(|(a, p)| format!("{a}:{p}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if *strays_reset > 0 {
                    format!(", and {strays_reset} RSTs to stray SYN-ACKs it never asked for")
                } else {
                    String::new()
                }
            ),
            Finding::Responder {
                packets,
                accepted,
                refused,
                peers,
            } => format!(
                "responder: {packets} packets from {source} answer connections {} opened ({accepted} SYNs accepted with SYN-ACK, {refused} refused with RST): it only answers",
                list(peers)
            ),
        }
    }
}

/// What the capture says about one source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceReading {
    /// The source address.
    pub source: Ipv4Addr,
    /// Detector specs whose alerts blame it (empty: not flagged).
    pub flagged_by: Vec<String>,
    /// Packets it sent.
    pub packets: usize,
    /// Findings that met their thresholds, most packets first: the first is
    /// the most likely mechanism.
    pub findings: Vec<Finding>,
}

impl SourceReading {
    /// The most likely mechanism, if any finding met its thresholds.
    pub fn mechanism(&self) -> Option<&Finding> {
        self.findings.first()
    }

    /// The reading in one sentence.
    pub fn sentence(&self) -> String {
        match self.mechanism() {
            Some(f) => f.sentence(self.source),
            None => format!(
                "unclear: {} packets from {} meet none of the thresholds (docs/explain.md)",
                self.packets, self.source
            ),
        }
    }
}

fn probe_kind(flags: u8) -> Option<&'static str> {
    if flags & 0x10 != 0 {
        return None;
    }
    match flags & 0x3f {
        0x02 => Some("SYN"),
        0x01 => Some("FIN"),
        0x00 => Some("NULL"),
        0x29 => Some("XMAS"),
        0x03 => Some("SYN-FIN"),
        _ => None,
    }
}

/// Reads every source of `sources` from the frames of `tap` (with their
/// `roles`, as [`super::roles::roles`] gives them).
pub fn read(
    tap: &TapFrames,
    roles: &[Option<Role>],
    sources: &BTreeMap<Ipv4Addr, Vec<String>>,
) -> Vec<SourceReading> {
    let role = |i: u64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| roles.get(i))
            .copied()
            .flatten()
    };
    let mut out = Vec::new();
    for (src, flagged_by) in sources {
        let mine: Vec<_> = tap.iter().filter(|f| f.src == *src).collect();
        let mut findings = Vec::new();

        // Wrong-source replies.
        let wrong: Vec<_> = mine
            .iter()
            .filter_map(|f| match role(f.index) {
                Some(Role::WrongSource { asked }) => Some((f, asked)),
                _ => None,
            })
            .collect();
        if wrong.len() >= MIN_WRONG_SOURCE {
            findings.push(Finding::WrongSource {
                replies: wrong.len(),
                client_ports: wrong
                    .iter()
                    .map(|(f, _)| (f.dst, f.dport))
                    .collect::<BTreeSet<_>>()
                    .len(),
                clients: wrong.iter().map(|(f, _)| f.dst).collect(),
                asked: wrong.iter().map(|(_, a)| *a).collect(),
                service_ports: wrong.iter().filter_map(|(f, _)| f.sport).collect(),
            });
        }

        // Lost state.
        let late: Vec<_> = mine
            .iter()
            .filter_map(|f| match role(f.index) {
                Some(Role::Late { idle_us, .. }) => Some((f, idle_us)),
                _ => None,
            })
            .collect();
        if late.len() >= MIN_LATE {
            let mut seen = BTreeSet::new();
            let mut retrans = 0;
            for (f, _) in &late {
                if !seen.insert((f.dst, f.dport, f.sport, f.seq)) {
                    retrans += 1;
                }
            }
            findings.push(Finding::LostState {
                segments: late.len(),
                connections: late
                    .iter()
                    .map(|(f, _)| (f.dst, f.dport, f.sport))
                    .collect::<BTreeSet<_>>()
                    .len(),
                peers: late.iter().map(|(f, _)| f.dst).collect(),
                service_ports: late.iter().filter_map(|(f, _)| f.sport).collect(),
                idle_min_us: late.iter().map(|(_, i)| *i).min().unwrap_or(0),
                idle_max_us: late.iter().map(|(_, i)| *i).max().unwrap_or(0),
                retransmissions: retrans,
            });
        }

        // Poller: first SYNs per connection, grouped by server port.
        let mut starts: BTreeMap<(Ipv4Addr, u16), Vec<(i64, bool)>> = BTreeMap::new();
        let mut opened = BTreeSet::new();
        for f in &mine {
            if let (Some(Role::Open { answer }), Some(sp), Some(dp)) =
                (role(f.index), f.sport, f.dport)
                && opened.insert((sp, f.dst, dp))
            {
                starts
                    .entry((f.dst, dp))
                    .or_default()
                    .push((f.at.total_micros(), answer == Answer::SynAck));
            }
        }
        for ((server, port), s) in &starts {
            if s.len() < MIN_POLLS {
                continue;
            }
            let answered = s.iter().filter(|(_, a)| *a).count();
            if answered * 2 < s.len() {
                continue;
            }
            let gaps: Vec<f64> = s.windows(2).map(|w| (w[1].0 - w[0].0) as f64).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            if mean <= 0.0 {
                continue;
            }
            let sd = (gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>()
                / gaps.len() as f64)
                .sqrt();
            if sd / mean > MAX_POLL_CV {
                continue;
            }
            let lo = gaps.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = gaps.iter().copied().fold(0.0, f64::max);
            findings.push(Finding::Poller {
                server: *server,
                port: *port,
                starts: s.len(),
                answered,
                period_us: mean.round() as i64,
                spread_us: sd.round() as i64,
                range_us: (lo.round() as i64, hi.round() as i64),
            });
        }

        // Probe pattern.
        let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut targets: BTreeMap<(Ipv4Addr, u16), Option<Answer>> = BTreeMap::new();
        for f in &mine {
            let (Some(fl), Some(dp)) = (f.flags, f.dport) else {
                continue;
            };
            let Some(kind) = probe_kind(fl.0) else {
                continue;
            };
            *kinds.entry(kind).or_default() += 1;
            let answer = match role(f.index) {
                Some(Role::Open { answer }) => Some(answer),
                _ => None,
            };
            let t = targets.entry((f.dst, dp)).or_insert(answer);
            // The best answer any probe of the target got.
            if answer.is_some_and(|a| t.is_none_or(|b| a < b)) {
                *t = answer;
            }
        }
        let probes: usize = kinds.values().sum();
        let n = targets.len();
        let refused = targets
            .values()
            .filter(|a| **a == Some(Answer::Reset))
            .count();
        let answered = targets
            .values()
            .filter(|a| **a == Some(Answer::SynAck))
            .count();
        let silent = n - refused - answered;
        if n >= MIN_PROBE_TARGETS
            && probes as f64 / n as f64 <= MAX_PROBES_PER_TARGET
            && (refused + silent) as f64 >= MIN_PROBE_FAILURES * n as f64
        {
            findings.push(Finding::Probe {
                probes,
                targets: n,
                hosts: targets
                    .keys()
                    .map(|(h, _)| *h)
                    .collect::<BTreeSet<_>>()
                    .len(),
                ports: targets
                    .keys()
                    .map(|(_, p)| *p)
                    .collect::<BTreeSet<_>>()
                    .len(),
                kinds,
                answered,
                refused,
                silent,
            });
        }

        // Responder: answers within connections others opened.
        let mut tcp = 0;
        let mut answering = 0;
        let (mut accepted, mut refused_syns) = (0, 0);
        let mut peers = BTreeSet::new();
        for f in &mine {
            let Some(r) = role(f.index) else { continue };
            tcp += 1;
            let answers = match r {
                Role::Answer => {
                    accepted += 1;
                    true
                }
                Role::Refusal => {
                    refused_syns += 1;
                    true
                }
                Role::InConnection { opened_by } => opened_by.is_some_and(|o| o != *src),
                _ => false,
            };
            if answers {
                answering += 1;
                peers.insert(f.dst);
            }
        }
        if answering > 0
            && accepted + refused_syns > 0
            && answering as f64 >= MIN_RESPONDER_SHARE * tcp as f64
        {
            findings.push(Finding::Responder {
                packets: answering,
                accepted,
                refused: refused_syns,
                peers,
            });
        }

        // Client: packets of connections it opened.
        let mut own = 0;
        let mut strays = 0;
        let mut conns = BTreeSet::new();
        let mut conns_answered = BTreeSet::new();
        let mut services = BTreeSet::new();
        for f in &mine {
            let (Some(r), Some(sp), Some(dp)) = (role(f.index), f.sport, f.dport) else {
                continue;
            };
            match r {
                Role::Open { answer } => {
                    own += 1;
                    conns.insert((sp, f.dst, dp));
                    services.insert((f.dst, dp));
                    if answer == Answer::SynAck {
                        conns_answered.insert((sp, f.dst, dp));
                    }
                }
                Role::InConnection { opened_by } if opened_by == Some(*src) => own += 1,
                Role::RejectsStray => {
                    own += 1;
                    strays += 1;
                }
                _ => {}
            }
        }
        // Mostly answered, or few services: many failing services are a probe.
        if !conns.is_empty()
            && (conns_answered.len() * 2 >= conns.len() || services.len() < MIN_PROBE_TARGETS)
            && own as f64 >= MIN_RESPONDER_SHARE * tcp as f64
        {
            findings.push(Finding::Client {
                packets: own,
                connections: conns.len(),
                answered: conns_answered.len(),
                services,
                strays_reset: strays,
            });
        }

        findings.sort_by(|a, b| {
            (b.rank(), b.support())
                .cmp(&(a.rank(), a.support()))
                .then(a.name().cmp(b.name()))
        });
        out.push(SourceReading {
            source: *src,
            flagged_by: flagged_by.clone(),
            packets: mine.len(),
            findings,
        });
    }
    out
}
