//! psad, the Port Scan Attack Detector (Michael Rash), scan logic only.
//!
//! Source: mrash/psad 2.4.x (git 2018): the `psad` Perl daemon (packet
//! accounting and `assign_danger_level`), `psad.conf` (defaults) and
//! `doc/psad.8`; distilled in DETECTORS.md §6.
//!
//! psad reads **firewall drop logs only** (iptables `LOG` lines whose prefix
//! contains `FW_MSG_SEARCH`, default `DROP`), so this detector's vantage is
//! [`Vantage::DropLog`]: the bench feeds it only packets a firewall dropped and
//! logged (for real logs, [`crate::iptables_log`] turns each line into packet bytes).
//!
//! # Algorithm (DETECTORS.md §6.2)
//! - Per (source, destination): `absnum` (+1 per logged packet, every
//!   protocol), min/max destination port per TCP/UDP, the set of protocols,
//!   `s_time` = time of the first packet. The entry is deleted once
//!   `now - s_time >= scan_timeout` (checked at every interval and before a
//!   packet is added), so a slow scan restarts from zero every hour.
//! - With `ignore_conntrack_bug_pkts` (default Y) a TCP packet with ACK or RST
//!   is dropped before any counting (psad.8 BUGS: conntrack timeouts make
//!   normal traffic look like a scan).
//! - Every `check_interval`, for each source with new packets:
//!   `tot_dsts` = destinations it hit during the interval; for each of them,
//!   `range` = max − min destination port over TCP/UDP (ICMP only: `absnum`).
//!   The destination is skipped if `absnum < danger_level1` and
//!   `tot_dsts < dl1_unique_hosts`. It qualifies if `range >=
//!   port_range_scan_threshold`, or it saw `protocol_scan_threshold`
//!   protocols, or `tot_dsts >= dl1_unique_hosts`. Its level is the larger of
//!   the packet level (number of `danger_levelN <= absnum`) and the sweep level
//!   (number of `dlN_unique_hosts <= tot_dsts`).
//! - The source's danger level is the maximum over its destinations and never
//!   decreases while the source has live entries. **One alert each time it
//!   increases** (psad `ALERT_ALL Y`), if it is `>= min_danger_level`.
//!
//! # Parameters (`psad.conf` names, lower-cased)
//!
//! | name | default | source |
//! |---|---|---|
//! | `danger_level1`..`danger_level5` | 5, 15, 150, 1500, 10000 packets | `psad.conf` `DANGER_LEVEL1..5` |
//! | `dl1_unique_hosts`..`dl5_unique_hosts` | 10, 20, 50, 100, 500 | DETECTORS.md §6.1 (sweep levels) **\[unverified names\]** |
//! | `port_range_scan_threshold` | 1 | `psad.conf` ("at least two ports must be scanned (p2-p1 >= 1)") |
//! | `protocol_scan_threshold` | 5 | `psad.conf` `PROTOCOL_SCAN_THRESHOLD` |
//! | `check_interval` | 5 s | `psad.conf` `CHECK_INTERVAL` |
//! | `scan_timeout` | 3600 s | `psad.conf` `SCAN_TIMEOUT` (`ENABLE_PERSISTENCE N`) |
//! | `ignore_conntrack_bug_pkts` | Y | `psad.conf` `IGNORE_CONNTRACK_BUG_PKTS` |
//! | `min_danger_level` | 1 | `psad.conf` `MIN_DANGER_LEVEL` |
//!
//! # Alerts
//! Kind [`AlertKind::Scanner`], scanner = source, victim = the destination with
//! the highest level. Counters, in order: `danger_level`, `absnum`,
//! `port_range`, `min_port`, `max_port`, `protocols`, `tot_dsts`. The alert
//! time is the check time; `trigger_frame` is that destination's last counted
//! packet; `first_seen` its `s_time`. The log line follows psad's syslog alert:
//! `scan detected: SRC -> DST tcp: [LO-HI] flags: SYN tcp pkts: N DL: D`
//! **\[unverified wording\]**.
//!
//! # Deviations from upstream
//! - Check times are aligned to multiples of `check_interval` on the packet
//!   clock (a packet at `t` is evaluated at the next multiple strictly after
//!   `t`); psad's wake-up phase is arbitrary. [`Detector::flush`] runs only
//!   checks due at or before `now`: flush at `end + check_interval` to
//!   evaluate a capture's last packets.
//! - Signature matching (fwsnort), TCP-flag scan classification, passive OS
//!   fingerprinting, `IGNORE_PORTS`/`HOME_NET`, persistence and auto-blocking
//!   are not modelled; they can only raise the level in psad.
//! - Memory bound: at most `max_scan_ip_pairs` (source, destination)
//!   entries; when full, packets of a new pair are excluded, as psad does
//!   (`MAX_SCAN_IP_PAIRS`, psad.conf: "A good non-zero value is, say,
//!   50000"), and counted in the report's evictions. psad's default is 0,
//!   unlimited; the bench's is 262,144.

use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};

use crate::DetectorInfo;
use crate::params::{ConfigError, ParamSpec, Params};
use crate::view::{Transport, proto};
use crate::{
    Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, PacketView, Rule, Vantage,
};

/// Default cap on tracked (source, destination) entries.
pub const MAX_PAIRS: usize = 1 << 18;
/// Cap on ports kept per entry for the evidence list.
const MAX_PORTS: usize = 64;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "danger_level1",
        default: "5",
        help: "packets for DL1 (psad.conf DANGER_LEVEL1)",
    },
    ParamSpec {
        name: "danger_level2",
        default: "15",
        help: "packets for DL2 (psad.conf DANGER_LEVEL2)",
    },
    ParamSpec {
        name: "danger_level3",
        default: "150",
        help: "packets for DL3 (psad.conf DANGER_LEVEL3)",
    },
    ParamSpec {
        name: "danger_level4",
        default: "1500",
        help: "packets for DL4 (psad.conf DANGER_LEVEL4)",
    },
    ParamSpec {
        name: "danger_level5",
        default: "10000",
        help: "packets for DL5 (psad.conf DANGER_LEVEL5)",
    },
    ParamSpec {
        name: "dl1_unique_hosts",
        default: "10",
        help: "destinations per interval for sweep DL1 [unverified name]",
    },
    ParamSpec {
        name: "dl2_unique_hosts",
        default: "20",
        help: "destinations per interval for sweep DL2",
    },
    ParamSpec {
        name: "dl3_unique_hosts",
        default: "50",
        help: "destinations per interval for sweep DL3",
    },
    ParamSpec {
        name: "dl4_unique_hosts",
        default: "100",
        help: "destinations per interval for sweep DL4",
    },
    ParamSpec {
        name: "dl5_unique_hosts",
        default: "500",
        help: "destinations per interval for sweep DL5",
    },
    ParamSpec {
        name: "port_range_scan_threshold",
        default: "1",
        help: "max-min destination port needed (psad.conf PORT_RANGE_SCAN_THRESHOLD)",
    },
    ParamSpec {
        name: "protocol_scan_threshold",
        default: "5",
        help: "protocols needed instead of a port range (psad.conf PROTOCOL_SCAN_THRESHOLD)",
    },
    ParamSpec {
        name: "check_interval",
        default: "5",
        help: "seconds between evaluations (psad.conf CHECK_INTERVAL)",
    },
    ParamSpec {
        name: "scan_timeout",
        default: "3600",
        help: "seconds from a scan's first packet until it is forgotten (psad.conf SCAN_TIMEOUT)",
    },
    ParamSpec {
        name: "ignore_conntrack_bug_pkts",
        default: "Y",
        help: "ignore TCP packets with ACK or RST (psad.conf IGNORE_CONNTRACK_BUG_PKTS)",
    },
    ParamSpec {
        name: "min_danger_level",
        default: "1",
        help: "lowest danger level that alerts (psad.conf MIN_DANGER_LEVEL)",
    },
    ParamSpec {
        name: "max_scan_ip_pairs",
        default: "262144",
        help: "(source, destination) pairs tracked, packets of new pairs excluded past it (psad.conf MAX_SCAN_IP_PAIRS; psad's 0 = unlimited is not offered)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "psad",
    summary: "psad 2.4 on iptables drop logs: danger levels 5/15/150/1500/10000 packets, port range >= 1, 1 h timeout",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let mut dl = [0u64; 5];
    let mut hosts = [0u64; 5];
    for i in 0..5 {
        dl[i] = p.u64_in(
            [
                "danger_level1",
                "danger_level2",
                "danger_level3",
                "danger_level4",
                "danger_level5",
            ][i],
            1,
            u64::from(u32::MAX),
        )?;
        hosts[i] = p.u64_in(
            [
                "dl1_unique_hosts",
                "dl2_unique_hosts",
                "dl3_unique_hosts",
                "dl4_unique_hosts",
                "dl5_unique_hosts",
            ][i],
            1,
            u64::from(u32::MAX),
        )?;
    }
    Ok(Box::new(Psad::new(Config {
        danger_levels: dl,
        unique_hosts: hosts,
        port_range_scan_threshold: p.u64_in("port_range_scan_threshold", 0, 65535)?,
        protocol_scan_threshold: p.u64_in("protocol_scan_threshold", 1, 256)?,
        check_interval_us: p.u64_in("check_interval", 1, 86_400)? as i64 * 1_000_000,
        scan_timeout_us: p.u64_in("scan_timeout", 1, 1 << 30)? as i64 * 1_000_000,
        ignore_conntrack_bug_pkts: p.bool("ignore_conntrack_bug_pkts")?,
        min_danger_level: p.u64_in("min_danger_level", 1, 5)? as u8,
        max_scan_ip_pairs: p.u64_in("max_scan_ip_pairs", 1, 1 << 24)? as usize,
    })))
}

/// psad configuration (see the module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `DANGER_LEVEL1..5` packet counts.
    pub danger_levels: [u64; 5],
    /// Sweep levels: destinations per interval.
    pub unique_hosts: [u64; 5],
    /// `PORT_RANGE_SCAN_THRESHOLD`.
    pub port_range_scan_threshold: u64,
    /// `PROTOCOL_SCAN_THRESHOLD`.
    pub protocol_scan_threshold: u64,
    /// `CHECK_INTERVAL`, µs.
    pub check_interval_us: i64,
    /// `SCAN_TIMEOUT`, µs.
    pub scan_timeout_us: i64,
    /// `IGNORE_CONNTRACK_BUG_PKTS`.
    pub ignore_conntrack_bug_pkts: bool,
    /// `MIN_DANGER_LEVEL`.
    pub min_danger_level: u8,
    /// `MAX_SCAN_IP_PAIRS`.
    pub max_scan_ip_pairs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            danger_levels: [5, 15, 150, 1500, 10_000],
            unique_hosts: [10, 20, 50, 100, 500],
            port_range_scan_threshold: 1,
            protocol_scan_threshold: 5,
            check_interval_us: 5_000_000,
            scan_timeout_us: 3_600_000_000,
            ignore_conntrack_bug_pkts: true,
            min_danger_level: 1,
            max_scan_ip_pairs: MAX_PAIRS,
        }
    }
}

#[derive(Clone, Debug)]
struct Pair {
    s_time: Instant,
    absnum: u64,
    tcp: Option<(u16, u16)>,
    udp: Option<(u16, u16)>,
    protocols: BTreeSet<u8>,
    tcp_flags: BTreeSet<&'static str>,
    ports: Vec<u16>,
    frames: Vec<u64>,
    /// Each logged packet's port (or protocol) with its frame.
    counted: Vec<Counted>,
    last_frame: u64,
}

#[derive(Clone, Debug, Default)]
struct Source {
    dl: u8,
    dsts: BTreeMap<Ipv4Addr, Pair>,
    new_dsts: BTreeSet<Ipv4Addr>,
}

/// The psad detector.
#[derive(Clone, Debug)]
pub struct Psad {
    cfg: Config,
    srcs: BTreeMap<Ipv4Addr, Source>,
    pairs: usize,
    /// Most pairs tracked at once.
    peak_pairs: usize,
    /// Packets of new pairs excluded at `max_scan_ip_pairs`.
    excluded: u64,
    /// Next check time, when packets are waiting for one.
    due: Option<Instant>,
}

impl Psad {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Psad {
            cfg,
            srcs: BTreeMap::new(),
            pairs: 0,
            peak_pairs: 0,
            excluded: 0,
            due: None,
        }
    }

    fn next_boundary(&self, t: Instant) -> Instant {
        let iv = self.cfg.check_interval_us;
        Instant::from_micros((t.total_micros().div_euclid(iv) + 1).saturating_mul(iv))
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.scan_timeout_us;
        let mut removed = 0;
        self.srcs.retain(|_, s| {
            let before = s.dsts.len();
            s.dsts.retain(|_, p| elapsed(now, p.s_time) < timeout);
            removed += before - s.dsts.len();
            s.new_dsts.retain(|d| s.dsts.contains_key(d));
            !s.dsts.is_empty()
        });
        self.pairs -= removed;
    }

    fn run_due(&mut self, now: Instant, out: &mut Vec<Alert>) {
        if let Some(at) = self.due.filter(|at| *at <= now) {
            self.due = None;
            self.expire(at);
            self.check(at, out);
        }
    }

    fn level(thresholds: &[u64; 5], v: u64) -> u8 {
        thresholds.iter().filter(|t| v >= **t).count() as u8
    }

    fn check(&mut self, at: Instant, out: &mut Vec<Alert>) {
        let cfg = self.cfg.clone();
        for (src_ip, src) in self.srcs.iter_mut() {
            if src.new_dsts.is_empty() {
                continue;
            }
            let tot_dsts = src.new_dsts.len() as u64;
            let mut best: Option<(u8, Ipv4Addr, u64)> = None;
            for dst in &src.new_dsts {
                let Some(p) = src.dsts.get(dst) else { continue };
                let range = port_range(p);
                if p.absnum < cfg.danger_levels[0] && tot_dsts < cfg.unique_hosts[0] {
                    continue;
                }
                if range < cfg.port_range_scan_threshold
                    && (p.protocols.len() as u64) < cfg.protocol_scan_threshold
                    && tot_dsts < cfg.unique_hosts[0]
                {
                    continue;
                }
                let dl = Self::level(&cfg.danger_levels, p.absnum)
                    .max(Self::level(&cfg.unique_hosts, tot_dsts));
                if dl > 0 && best.is_none_or(|(b, _, _)| dl > b) {
                    best = Some((dl, *dst, range));
                }
            }
            src.new_dsts.clear();
            let Some((dl, dst, range)) = best else {
                continue;
            };
            if dl <= src.dl {
                continue;
            }
            src.dl = dl;
            if dl < cfg.min_danger_level {
                continue;
            }
            let Some(p) = src.dsts.get(&dst) else {
                continue;
            };
            let mut alert = make_alert(*src_ip, dst, p, dl, range, tot_dsts, at);
            alert.evidence.rule = Rule {
                statement: format!(
                    "psad: danger level {dl} for {src_ip} -> {dst}: {} logged packets (DANGER_LEVEL1..5 \
                     = {:?}), port range {range} >= PORT_RANGE_SCAN_THRESHOLD {} or {} protocols or \
                     {tot_dsts} destinations, within SCAN_TIMEOUT {} s of the first packet; the level rose \
                     at the CHECK_INTERVAL check",
                    p.absnum,
                    cfg.danger_levels,
                    cfg.port_range_scan_threshold,
                    p.protocols.len(),
                    cfg.scan_timeout_us / 1_000_000
                ),
                counted: if cfg.ignore_conntrack_bug_pkts {
                    "packets the firewall dropped and logged; TCP with ACK or RST ignored \
                     (IGNORE_CONNTRACK_BUG_PKTS Y)"
                        .into()
                } else {
                    "every packet the firewall dropped and logged, ACK and RST included \
                     (IGNORE_CONNTRACK_BUG_PKTS N)"
                        .into()
                },
                window: Some((p.s_time, at)),
                keys: p.counted.clone(),
            };
            out.push(alert);
        }
    }
}

/// Microseconds from `then` to `now`, saturating (time may jump or run backwards).
fn elapsed(now: Instant, then: Instant) -> i64 {
    now.total_micros().saturating_sub(then.total_micros())
}

fn port_range(p: &Pair) -> u64 {
    let r = |o: Option<(u16, u16)>| o.map(|(lo, hi)| u64::from(hi - lo));
    match (r(p.tcp), r(p.udp)) {
        (None, None) if p.protocols.contains(&proto::ICMP) => p.absnum,
        (a, b) => a.unwrap_or(0).max(b.unwrap_or(0)),
    }
}

fn widen(r: &mut Option<(u16, u16)>, port: u16) {
    *r = Some(match *r {
        None => (port, port),
        Some((lo, hi)) => (lo.min(port), hi.max(port)),
    });
}

fn flag_names(f: u8) -> &'static str {
    match f & 0x3f {
        0 => "NULL",
        0x02 => "SYN",
        0x01 => "FIN",
        0x29 => "URG PSH FIN",
        0x03 => "SYN FIN",
        _ => "OTHER",
    }
}

fn make_alert(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    p: &Pair,
    dl: u8,
    range: u64,
    tot_dsts: u64,
    at: Instant,
) -> Alert {
    let (lo, hi) = match (p.tcp, p.udp) {
        (Some(t), Some(u)) => (t.0.min(u.0), t.1.max(u.1)),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => (0, 0),
    };
    let mut line = format!("scan detected: {src} -> {dst}");
    if let Some((a, b)) = p.tcp {
        let flags: Vec<&str> = p.tcp_flags.iter().copied().collect();
        line.push_str(&format!(" tcp: [{a}-{b}] flags: {}", flags.join(",")));
    }
    if let Some((a, b)) = p.udp {
        line.push_str(&format!(" udp: [{a}-{b}]"));
    }
    for (proto_no, name) in [
        (proto::TCP, "tcp"),
        (proto::UDP, "udp"),
        (proto::ICMP, "icmp"),
    ] {
        if p.protocols.contains(&proto_no) {
            line.push_str(&format!(" {name} pkts: {}", p.absnum));
            break;
        }
    }
    line.push_str(&format!(" DL: {dl}"));
    Alert {
        detector: "psad",
        scanner: src,
        victim: Some(dst),
        kind: AlertKind::Scanner,
        first_seen: p.s_time,
        time: at,
        trigger_frame: Some(p.last_frame),
        evidence: Evidence {
            counters: vec![
                ("danger_level", i64::from(dl)),
                ("absnum", p.absnum as i64),
                ("port_range", range as i64),
                ("min_port", i64::from(lo)),
                ("max_port", i64::from(hi)),
                ("protocols", p.protocols.len() as i64),
                ("tot_dsts", tot_dsts as i64),
            ],
            ports: p.ports.clone(),
            frames: p.frames.clone(),
            log_line: line,
            // Filled by the caller, which holds the configuration.
            rule: Rule::default(),
        },
    }
}

impl Detector for Psad {
    fn name(&self) -> &'static str {
        "psad"
    }

    fn vantage(&self) -> Vantage {
        Vantage::DropLog
    }

    /// Pairs at their worst case: the entry, its protocol and flag sets,
    /// up to 64 ports, frames and counted keys.
    fn memory(&self) -> Memory {
        let pair = (size_of::<Pair>() + 2 * size_of::<Ipv4Addr>()) * 5 / 2
            + MAX_PORTS * 2
            + Evidence::MAX_FRAMES * (8 + size_of::<Counted>() + 24)
            + 8 * 16;
        Memory {
            memcap: (self.cfg.max_scan_ip_pairs * pair) as u64,
            peak: (self.peak_pairs * pair) as u64,
            evictions: self.excluded,
        }
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        self.run_due(now, out);
        let mut dport = None;
        let mut tcp_flags = None;
        match &pkt.transport {
            Transport::Tcp(t) => {
                if self.cfg.ignore_conntrack_bug_pkts && (t.flags.ack() || t.flags.rst()) {
                    return;
                }
                dport = Some(t.dst_port);
                tcp_flags = Some(t.flags.0);
            }
            Transport::Udp(u) => dport = Some(u.dst_port),
            _ => {}
        }
        // A scan entry older than the timeout is forgotten before this packet counts.
        let timeout = self.cfg.scan_timeout_us;
        let stale = self
            .srcs
            .get(&pkt.src)
            .and_then(|s| s.dsts.get(&pkt.dst))
            .is_some_and(|p| elapsed(now, p.s_time) >= timeout);
        if let Some(src) = self.srcs.get_mut(&pkt.src).filter(|_| stale) {
            src.dsts.remove(&pkt.dst);
            src.new_dsts.remove(&pkt.dst);
            self.pairs -= 1;
            if src.dsts.is_empty() {
                self.srcs.remove(&pkt.src);
            }
        }
        let exists = self
            .srcs
            .get(&pkt.src)
            .is_some_and(|s| s.dsts.contains_key(&pkt.dst));
        if !exists {
            if self.pairs >= self.cfg.max_scan_ip_pairs {
                // psad: "excluding SRC -> DST, scan IP pairs too high".
                self.excluded += 1;
                return;
            }
            self.pairs += 1;
            self.peak_pairs = self.peak_pairs.max(self.pairs);
        }
        let src = self.srcs.entry(pkt.src).or_default();
        let p = src.dsts.entry(pkt.dst).or_insert_with(|| Pair {
            s_time: now,
            absnum: 0,
            tcp: None,
            udp: None,
            protocols: BTreeSet::new(),
            tcp_flags: BTreeSet::new(),
            ports: Vec::new(),
            frames: Vec::new(),
            counted: Vec::new(),
            last_frame: pkt.frame,
        });
        p.absnum += 1;
        p.protocols.insert(pkt.protocol);
        p.last_frame = pkt.frame;
        if p.frames.len() < Evidence::MAX_FRAMES {
            p.frames.push(pkt.frame);
            p.counted.push(Counted {
                key: match dport {
                    Some(port) => format!("port {port}"),
                    None => format!("proto {}", pkt.protocol),
                },
                frame: pkt.frame,
            });
        }
        if let Some(port) = dport {
            match pkt.protocol {
                proto::TCP => widen(&mut p.tcp, port),
                _ => widen(&mut p.udp, port),
            }
            if p.ports.len() < MAX_PORTS && !p.ports.contains(&port) {
                p.ports.push(port);
            }
        }
        if let Some(f) = tcp_flags {
            p.tcp_flags.insert(flag_names(f));
        }
        src.new_dsts.insert(pkt.dst);
        if self.due.is_none() {
            self.due = Some(self.next_boundary(now));
        }
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        self.run_due(now, out);
        if self.due.is_none() {
            self.expire(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{A, R, RA, Run, S, SA, ip, tcp, udp};

    const SEC: i64 = 1_000_000;

    /// Feeds `n` SYNs from 192.0.2.1 to 10.0.0.1 on ports 1000.., one per 10 ms starting at `t0`.
    fn syns(r: &mut Run, t0: i64, n: u16, first_port: u16) {
        for i in 0..n {
            let b = tcp(ip("192.0.2.1"), 40000, ip("10.0.0.1"), first_port + i, S);
            r.push(t0 + i64::from(i) * 10_000, &b);
        }
    }

    #[test]
    fn dl1_at_five_packets_dl2_at_fifteen() {
        let mut r = Run::new("psad");
        syns(&mut r, 0, 4, 1000);
        assert_eq!(r.flush(100 * SEC), 0, "4 packets: below DANGER_LEVEL1");
        syns(&mut r, 200 * SEC, 1, 2000);
        assert_eq!(
            r.flush(200 * SEC),
            0,
            "not evaluated before the check interval ends"
        );
        assert_eq!(r.flush(205 * SEC), 1, "5th packet, range >= 1: DL1");
        let a = &r.alerts[0];
        assert_eq!(a.evidence.counters[0], ("danger_level", 1));
        assert_eq!(a.evidence.counters[1], ("absnum", 5));
        assert_eq!(a.time, Instant::from_micros(205 * SEC));
        assert!(
            a.evidence.log_line.contains("DL: 1"),
            "{}",
            a.evidence.log_line
        );
        syns(&mut r, 300 * SEC, 9, 3000);
        assert_eq!(r.flush(400 * SEC), 0, "14 packets: still DL1, no repeat");
        syns(&mut r, 500 * SEC, 1, 4000);
        assert_eq!(r.flush(600 * SEC), 1, "15 packets: DL2");
        assert_eq!(r.alerts[1].evidence.counters[0], ("danger_level", 2));
    }

    #[test]
    fn burst_jumps_levels_with_one_alert_and_needs_a_port_range() {
        let mut r = Run::new("psad");
        syns(&mut r, 0, 200, 1);
        r.flush(10 * SEC);
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].evidence.counters[0], ("danger_level", 3));
        // Same port every time: range 0, no alert.
        let mut r = Run::new("psad");
        for i in 0..50 {
            r.push(
                i * 1000,
                &tcp(ip("192.0.2.9"), 1000 + i as u16, ip("10.0.0.1"), 22, S),
            );
        }
        assert_eq!(r.flush(60 * SEC), 0);
    }

    #[test]
    fn ack_and_rst_ignored_by_default_not_when_switched_off() {
        let feed = |r: &mut Run| {
            for (i, f) in [SA, A, R, RA, SA, A].iter().enumerate() {
                let b = tcp(
                    ip("198.51.100.7"),
                    443,
                    ip("10.0.0.2"),
                    50000 + i as u16,
                    *f,
                );
                r.push(i as i64 * SEC, &b);
            }
            r.flush(3600 * SEC);
            r.alerts.len()
        };
        assert_eq!(feed(&mut Run::new("psad")), 0);
        assert_eq!(feed(&mut Run::new("psad:ignore_conntrack_bug_pkts=N")), 1);
    }

    #[test]
    fn scan_timeout_forgets_the_scan_from_its_first_packet() {
        let mut r = Run::new("psad");
        // 4 packets, then the 5th just after an hour from the first: a new scan with absnum 1.
        syns(&mut r, 0, 4, 1000);
        syns(&mut r, 3600 * SEC, 1, 2000);
        assert_eq!(r.flush(4000 * SEC), 0);
        // With a 2 h timeout they add up.
        let mut r = Run::new("psad:scan_timeout=7200");
        syns(&mut r, 0, 4, 1000);
        syns(&mut r, 3600 * SEC, 1, 2000);
        assert_eq!(r.flush(4000 * SEC), 1);
    }

    #[test]
    fn sweep_of_ten_hosts_in_one_interval() {
        let mut r = Run::new("psad");
        for i in 0..10u8 {
            r.push(
                i64::from(i) * 1000,
                &udp(ip("192.0.2.5"), 5000, Ipv4Addr::new(10, 0, 1, i), 161, b""),
            );
        }
        assert_eq!(r.flush(5 * SEC), 1);
        assert_eq!(r.alerts[0].evidence.counters[6], ("tot_dsts", 10));
        assert_eq!(r.alerts[0].evidence.counters[0], ("danger_level", 1));
    }

    #[test]
    fn min_danger_level_suppresses_low_alerts() {
        let mut r = Run::new("psad:min_danger_level=2");
        syns(&mut r, 0, 5, 1);
        assert_eq!(r.flush(10 * SEC), 0);
        syns(&mut r, 20 * SEC, 10, 100);
        assert_eq!(r.flush(30 * SEC), 1);
        assert_eq!(r.alerts[0].evidence.counters[0], ("danger_level", 2));
        assert_eq!(Psad::new(Config::default()).vantage(), Vantage::DropLog);
    }
}
