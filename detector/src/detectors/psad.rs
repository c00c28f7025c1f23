//! psad, the Port Scan Attack Detector (Michael Rash), scan logic only.
//!
//! Source: psad 2.4.6 (Debian source package `psad` 2.4.6-3): the `psad` Perl
//! program (`check_scan`, `assign_danger_level`, `match_sigs`, `scan_logr`,
//! `scan_timeouts`/`delete_old_scans`, `analysis_mode`, `print_scan_status`),
//! Debian's `/etc/psad/psad.conf` (defaults) and `/etc/psad/signatures`
//! ([`super::psad_signatures`]). Checked against the Debian binary by
//! `scanbench fidelity` (`ext:psad`, psad `-A`).
//!
//! psad reads **firewall drop logs only** (iptables `LOG` lines whose prefix
//! contains `FW_MSG_SEARCH`, default `DROP`), so this detector's vantage is
//! [`Vantage::DropLog`].
//!
//! # Algorithm
//! - With `ignore_conntrack_bug_pkts` (default Y) a TCP packet with ACK or RST
//!   is dropped before anything else (`parse_NF_pkt_str`).
//! - Each packet is matched against psad's signatures; a match raises the
//!   source to DL 2 (`psad_dl:2`) at the next check, whatever its packet
//!   count (`assign_danger_level`: `curr_sigs_dl`).
//! - Per (source, destination) (`%scan`): `absnum` (+1 per packet), the set of
//!   protocols, absolute min/max destination port per TCP/UDP, `s_time` (the
//!   first packet). Per check interval (`%curr_scan`): the same counts for the
//!   interval's packets, the TCP flag strings, per-protocol packet counts.
//! - A check (`assign_danger_level`), for each source with new packets:
//!   `tot_dsts` = its destinations in the interval; for each, `range` = max −
//!   min destination port over TCP and UDP (no port: `absnum`). Skipped if
//!   `absnum < danger_level1` and `tot_dsts < dl1_unique_hosts`. It
//!   qualifies if `range >= port_range_scan_threshold`, or it saw
//!   `protocol_scan_threshold` protocols, or `tot_dsts >= dl1_unique_hosts`;
//!   then the source's level rises to the packet level (`absnum` against
//!   `danger_level2..5`, at least 1) and to the sweep level (`tot_dsts`
//!   against `dl2..5_unique_hosts`, at least 1). The source's level never
//!   falls, and survives the deletion of its counters.
//! - `mode=daemon` (default, psad's normal mode): a check every
//!   `check_interval` with the interval's packets; every
//!   `persistence_ctr_threshold`-th check `delete_old_scans` removes the
//!   (source, destination) counters whose `s_time` is `scan_timeout` old.
//!   `mode=analysis` (`psad -A`): one check over the whole input at the end,
//!   no timeouts, so a sweep's destinations are counted over the whole file.
//! - Alerts (`scan_logr`), daemon mode: after each check, for each source with
//!   new packets whose level is `>= min_danger_level`, one `scan detected`
//!   syslog line per destination it hit in the interval (`alert_all` Y, the
//!   default); with `alert_all=N` only the first line per destination and
//!   level. Analysis mode: the `-A` report's `SRC:`/`DST:` entries, one alert
//!   per (source, destination) at the time of the input's last packet.
//!
//! # Parameters (`psad.conf` names, lower-cased)
//!
//! | name | default | source |
//! |---|---|---|
//! | `mode` | `daemon` | `daemon` (psad's service) or `analysis` (`psad -A`) |
//! | `danger_level1`..`danger_level5` | 5, 15, 150, 1500, 10000 packets | `psad.conf` `DANGER_LEVEL1..5` |
//! | `dl1_unique_hosts`..`dl5_unique_hosts` | 10, 20, 50, 100, 500 | `psad.conf` `DL1_UNIQUE_HOSTS..DL5_UNIQUE_HOSTS` |
//! | `port_range_scan_threshold` | 1 | `psad.conf` ("at least two ports must be scanned (p2-p1 >= 1)") |
//! | `protocol_scan_threshold` | 5 | `psad.conf` `PROTOCOL_SCAN_THRESHOLD` |
//! | `check_interval` | 5 s | `psad.conf` `CHECK_INTERVAL` |
//! | `scan_timeout` | 3600 s | `psad.conf` `SCAN_TIMEOUT` (`ENABLE_PERSISTENCE N`) |
//! | `persistence_ctr_threshold` | 5 | `psad.conf` `PERSISTENCE_CTR_THRESHOLD` (checks between `delete_old_scans`) |
//! | `ignore_conntrack_bug_pkts` | Y | `psad.conf` `IGNORE_CONNTRACK_BUG_PKTS` |
//! | `min_danger_level` | 1 | `psad.conf` `MIN_DANGER_LEVEL` |
//! | `alert_all` | Y | `psad.conf` `ALERT_ALL` |
//! | `signatures` | Y | N is psad's `--no-signatures` |
//!
//! # Alerts
//! Kind [`AlertKind::Scanner`], scanner = source, victim = destination.
//! Counters, in order: `danger_level`, `absnum`, `port_range`, `min_port`,
//! `max_port`, `protocols`, `tot_dsts`, `interval_pkts`. The alert time is
//! the check time (analysis: the last packet's); `trigger_frame` is the
//! pair's last packet; `first_seen` its `s_time`. Daemon log line, as
//! `scan_logr` builds it: `scan detected (Nmap -sT or -sS scan): A -> B tcp:
//! [3389] flags: SYN tcp pkts: 1 DL: 2 total scan dsts: 1` (interval ranges
//! and counts; a UDP range replaces the TCP one, as in psad). Analysis line:
//! `SRC:  A, DL: 2, Dsts: 1, Pkts: 1, Total protocols: 1, Unique sigs: 1 /
//! DST: B`.
//!
//! # Deviations from upstream
//! - Check times are aligned to multiples of `check_interval` on the packet
//!   clock (a packet at `t` is evaluated at the next multiple strictly after
//!   `t`), and `delete_old_scans` runs at multiples of
//!   `persistence_ctr_threshold` intervals; psad's phase is arbitrary, and
//!   psad stamps `s_time` with the time it reads a line, not the packet's.
//! - Several TCP flag strings in one interval are listed in sorted order
//!   (psad: Perl hash order, which varies from run to run).
//! - fwsnort SIDs, ICMP type/code validation, passive OS fingerprinting, the
//!   Topera/Masscan/Mirai labels, `auto_dl`, `IGNORE_PORTS`, `HOME_NET`,
//!   persistence and auto-blocking are not modelled.
//! - Signatures: see [`super::psad_signatures`] (lengths the packet view lacks).
//! - Memory bound: at most `max_scan_ip_pairs` (source, destination)
//!   entries; when full, packets of a new pair are excluded, as psad does
//!   (`MAX_SCAN_IP_PAIRS`, psad.conf: "A good non-zero value is, say,
//!   50000"), and counted in the report's evictions. psad's default is 0,
//!   unlimited; the bench's is 262,144.

use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};

use super::psad_signatures::{SIGNATURE_DL, flag_string, matching};
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
        name: "mode",
        default: "daemon",
        help: "daemon (psad's service: checks every check_interval, timeouts) or analysis (psad -A: one check over the whole input)",
    },
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
        help: "destinations per interval for sweep DL1 (psad.conf DL1_UNIQUE_HOSTS)",
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
        name: "persistence_ctr_threshold",
        default: "5",
        help: "checks between deletions of timed-out scans (psad.conf PERSISTENCE_CTR_THRESHOLD)",
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
        name: "alert_all",
        default: "Y",
        help: "Y: a scan detected line per destination every interval with new packets; N: once per level (psad.conf ALERT_ALL)",
    },
    ParamSpec {
        name: "signatures",
        default: "Y",
        help: "match psad's signatures (each gives DL2); N = psad --no-signatures",
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
    summary: "psad 2.4 on iptables drop logs: signatures (DL2), danger levels 5/15/150/1500/10000 packets, port range >= 1, 1 h timeout",
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
        analysis: p.choice("mode", &["daemon", "analysis"])? == 1,
        danger_levels: dl,
        unique_hosts: hosts,
        port_range_scan_threshold: p.u64_in("port_range_scan_threshold", 0, 65535)?,
        protocol_scan_threshold: p.u64_in("protocol_scan_threshold", 1, 256)?,
        check_interval_us: p.u64_in("check_interval", 1, 86_400)? as i64 * 1_000_000,
        scan_timeout_us: p.u64_in("scan_timeout", 1, 1 << 30)? as i64 * 1_000_000,
        persistence_ctr_threshold: p.u64_in("persistence_ctr_threshold", 0, 1 << 20)? as i64,
        ignore_conntrack_bug_pkts: p.bool("ignore_conntrack_bug_pkts")?,
        min_danger_level: p.u64_in("min_danger_level", 1, 5)? as u8,
        alert_all: p.bool("alert_all")?,
        signatures: p.bool("signatures")?,
        max_scan_ip_pairs: p.u64_in("max_scan_ip_pairs", 1, 1 << 24)? as usize,
    })))
}

/// psad configuration (see the module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `psad -A`: one check over the whole input, no timeouts.
    pub analysis: bool,
    /// `DANGER_LEVEL1..5` packet counts.
    pub danger_levels: [u64; 5],
    /// `DL1..5_UNIQUE_HOSTS`: destinations per interval.
    pub unique_hosts: [u64; 5],
    /// `PORT_RANGE_SCAN_THRESHOLD`.
    pub port_range_scan_threshold: u64,
    /// `PROTOCOL_SCAN_THRESHOLD`.
    pub protocol_scan_threshold: u64,
    /// `CHECK_INTERVAL`, µs.
    pub check_interval_us: i64,
    /// `SCAN_TIMEOUT`, µs.
    pub scan_timeout_us: i64,
    /// `PERSISTENCE_CTR_THRESHOLD` (0: every check).
    pub persistence_ctr_threshold: i64,
    /// `IGNORE_CONNTRACK_BUG_PKTS`.
    pub ignore_conntrack_bug_pkts: bool,
    /// `MIN_DANGER_LEVEL`.
    pub min_danger_level: u8,
    /// `ALERT_ALL`.
    pub alert_all: bool,
    /// Signature matching on.
    pub signatures: bool,
    /// `MAX_SCAN_IP_PAIRS`.
    pub max_scan_ip_pairs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            analysis: false,
            danger_levels: [5, 15, 150, 1500, 10_000],
            unique_hosts: [10, 20, 50, 100, 500],
            port_range_scan_threshold: 1,
            protocol_scan_threshold: 5,
            check_interval_us: 5_000_000,
            scan_timeout_us: 3_600_000_000,
            persistence_ctr_threshold: 5,
            ignore_conntrack_bug_pkts: true,
            min_danger_level: 1,
            alert_all: true,
            signatures: true,
            max_scan_ip_pairs: MAX_PAIRS,
        }
    }
}

/// `%scan{src}{dst}`: counters since the scan's first packet.
#[derive(Clone, Debug)]
struct Pair {
    s_time: Instant,
    absnum: u64,
    tcp: Option<(u16, u16)>,
    udp: Option<(u16, u16)>,
    protocols: BTreeSet<u8>,
    sigs: BTreeSet<u32>,
    ports: Vec<u16>,
    frames: Vec<u64>,
    /// Each logged packet's port (or protocol) with its frame.
    counted: Vec<Counted>,
    last_frame: u64,
}

/// `%curr_scan{src}{dst}`: the current interval's packets.
#[derive(Clone, Debug, Default)]
struct Interval {
    tcp: Option<(u16, u16)>,
    udp: Option<(u16, u16)>,
    pkts: BTreeMap<u8, u64>,
    flags: BTreeMap<String, u64>,
}

/// The psad detector.
#[derive(Clone, Debug)]
pub struct Psad {
    cfg: Config,
    scan: BTreeMap<(Ipv4Addr, Ipv4Addr), Pair>,
    curr: BTreeMap<Ipv4Addr, BTreeMap<Ipv4Addr, Interval>>,
    sig_hit: BTreeSet<Ipv4Addr>,
    /// `%scan_dl`: never lowered, kept when counters are deleted.
    dl: BTreeMap<Ipv4Addr, u8>,
    /// `ALERT_ALL N`: destinations already reported at the source's level.
    alerted: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
    /// Next check time, when packets are waiting for one.
    due: Option<Instant>,
    /// Last `delete_old_scans` time.
    deleted_at: i64,
    last: Instant,
    /// Most pairs tracked at once.
    peak_pairs: usize,
    /// Packets of new pairs excluded at `max_scan_ip_pairs`.
    excluded: u64,
}

impl Psad {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        Psad {
            cfg,
            scan: BTreeMap::new(),
            curr: BTreeMap::new(),
            sig_hit: BTreeSet::new(),
            dl: BTreeMap::new(),
            alerted: BTreeSet::new(),
            due: None,
            deleted_at: i64::MIN,
            last: Instant::ZERO,
            peak_pairs: 0,
            excluded: 0,
        }
    }

    fn next_boundary(&self, t: Instant) -> Instant {
        let iv = self.cfg.check_interval_us;
        Instant::from_micros((t.total_micros().div_euclid(iv) + 1).saturating_mul(iv))
    }

    /// `delete_old_scans`, run at every deletion boundary up to `upto`
    /// (boundaries are multiples of `persistence_ctr_threshold` intervals).
    fn delete_old_scans(&mut self, upto: i64) {
        if self.cfg.analysis {
            return;
        }
        let period = self
            .cfg
            .check_interval_us
            .saturating_mul(self.cfg.persistence_ctr_threshold.max(1));
        let at = upto.div_euclid(period).saturating_mul(period);
        if at <= self.deleted_at {
            return;
        }
        self.deleted_at = at;
        let timeout = self.cfg.scan_timeout_us;
        self.scan
            .retain(|_, p| at.saturating_sub(p.s_time.total_micros()) < timeout);
    }

    fn run_due(&mut self, now: Instant, out: &mut Vec<Alert>) {
        if let Some(at) = self.due.filter(|at| *at <= now) {
            self.due = None;
            self.check(at, out);
            self.delete_old_scans(at.total_micros());
        }
    }

    fn level(thresholds: &[u64; 5], v: u64) -> u8 {
        thresholds.iter().filter(|t| v >= **t).count().max(1) as u8
    }

    /// `assign_danger_level` then `scan_logr` for the interval ending at `at`.
    fn check(&mut self, at: Instant, out: &mut Vec<Alert>) {
        let cfg = self.cfg.clone();
        let curr = std::mem::take(&mut self.curr);
        let sig_hit = std::mem::take(&mut self.sig_hit);
        for (src, dsts) in &curr {
            let dl = self.dl.entry(*src).or_insert(0);
            let before = *dl;
            if sig_hit.contains(src) {
                *dl = (*dl).max(SIGNATURE_DL);
            }
            let tot_dsts = dsts.len() as u64;
            for dst in dsts.keys() {
                let Some(p) = self.scan.get(&(*src, *dst)) else {
                    continue;
                };
                let range = port_range(p);
                if p.absnum < cfg.danger_levels[0] && tot_dsts < cfg.unique_hosts[0] {
                    continue;
                }
                if range >= cfg.port_range_scan_threshold
                    || p.protocols.len() as u64 >= cfg.protocol_scan_threshold
                    || tot_dsts >= cfg.unique_hosts[0]
                {
                    *dl = (*dl)
                        .max(Self::level(&cfg.danger_levels, p.absnum))
                        .max(Self::level(&cfg.unique_hosts, tot_dsts));
                }
            }
            let dl = *dl;
            if dl > before {
                self.alerted.retain(|(s, _)| s != src);
            }
            if dl < cfg.min_danger_level || dl == 0 {
                continue;
            }
            for (dst, iv) in dsts {
                if !cfg.alert_all && !self.alerted.insert((*src, *dst)) {
                    continue;
                }
                let Some(p) = self.scan.get(&(*src, *dst)) else {
                    continue;
                };
                let line = if cfg.analysis {
                    analysis_line(*src, *dst, dl, dsts, &self.scan)
                } else {
                    syslog_line(*src, *dst, dl, tot_dsts, iv, &cfg)
                };
                let time = if cfg.analysis { self.last } else { at };
                let mut alert = make_alert(*src, *dst, p, dl, tot_dsts, iv, time, line);
                alert.evidence.rule = rule(&cfg, *src, *dst, p, dl, tot_dsts, time);
                out.push(alert);
            }
        }
    }
}

fn port_range(p: &Pair) -> u64 {
    let (mut lo, mut hi) = (65535u16, 0u16);
    for (a, b) in [p.tcp, p.udp].into_iter().flatten() {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    // psad: `if ($e_port) { $range = $e_port - $s_port } else { $range = $absnum }`.
    if hi > 0 { u64::from(hi - lo) } else { p.absnum }
}

fn widen(r: &mut Option<(u16, u16)>, port: u16) {
    *r = Some(match *r {
        None => (port, port),
        Some((lo, hi)) => (lo.min(port), hi.max(port)),
    });
}

fn range_text((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// `scan_logr`'s syslog line for one destination of the interval.
fn syslog_line(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dl: u8,
    tot_dsts: u64,
    iv: &Interval,
    cfg: &Config,
) -> String {
    let pkts = |p: u8| iv.pkts.get(&p).copied().unwrap_or(0);
    let mut style = String::new();
    if iv.pkts.len() as u64 >= cfg.protocol_scan_threshold {
        style.push_str("Nmap -sO IP protocol scan,");
    }
    let mut range = String::new();
    if let Some(r) = iv.tcp {
        let mut flags = Vec::new();
        for f in iv.flags.keys() {
            flags.push(f.as_str());
            let opts = match f.as_str() {
                "SYN" => "-sT or -sS",
                "FIN" => "-sF",
                "URG PSH FIN" => "-sX",
                "NULL" => "-sN",
                "URG PSH SYN FIN" => "-O",
                _ => "",
            };
            if style.is_empty() {
                style = format!("Nmap {opts} scan,");
            } else {
                style.push_str(&format!(" {opts} scan,"));
            }
        }
        range = format!("tcp: [{}]", range_text(r));
        if !flags.is_empty() {
            range.push_str(&format!(" flags: {}", flags.join(" ")));
        }
    }
    if let Some(r) = iv.udp {
        range = format!("udp: [{}]", range_text(r));
        style.push_str(" -sU scan,");
    }
    let style = style.trim_end_matches(',').trim_start();
    let mut line = String::from("scan detected ");
    if !style.is_empty() {
        line.push_str(&format!("({style}): "));
    }
    line.push_str(&format!("{src} -> {dst}"));
    if !range.is_empty() {
        line.push_str(&format!(" {range}"));
    }
    let other: u64 = iv
        .pkts
        .iter()
        .filter(|(p, _)| ![proto::TCP, proto::UDP, proto::ICMP].contains(p))
        .map(|(_, n)| n)
        .sum();
    for (n, name) in [
        (pkts(proto::TCP), "tcp"),
        (pkts(proto::UDP), "udp"),
        (pkts(proto::ICMP), "icmp"),
        (other, "other proto"),
    ] {
        if n > 0 {
            line.push_str(&format!(" {name} pkts: {n}"));
        }
    }
    line.push_str(&format!(" DL: {dl} total scan dsts: {tot_dsts}"));
    line
}

/// The `-A` report's entry for one destination (`print_scan_status`).
fn analysis_line(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dl: u8,
    dsts: &BTreeMap<Ipv4Addr, Interval>,
    scan: &BTreeMap<(Ipv4Addr, Ipv4Addr), Pair>,
) -> String {
    let pairs: Vec<&Pair> = dsts.keys().filter_map(|d| scan.get(&(src, *d))).collect();
    let pkts: u64 = pairs.iter().map(|p| p.absnum).sum();
    let protocols: BTreeSet<u8> = pairs
        .iter()
        .flat_map(|p| p.protocols.iter().copied())
        .collect();
    let sigs: usize = pairs.iter().map(|p| p.sigs.len()).sum();
    format!(
        "SRC:  {src}, DL: {dl}, Dsts: {}, Pkts: {pkts}, Total protocols: {}, Unique sigs: {sigs} / DST: {dst}",
        dsts.len(),
        protocols.len()
    )
}

/// The rule behind one `scan detected` line (or `-A` entry): the source's
/// danger level with the numbers `assign_danger_level` compared.
fn rule(
    cfg: &Config,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    p: &Pair,
    dl: u8,
    tot_dsts: u64,
    at: Instant,
) -> Rule {
    let sigs = if p.sigs.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = p.sigs.iter().map(u32::to_string).collect();
        format!("; signature match (psad_dl:2): psad_id {}", ids.join(", "))
    };
    let when = if cfg.analysis {
        "counted over the whole input by psad -A".to_string()
    } else {
        format!(
            "reported at the CHECK_INTERVAL {} s check (ALERT_ALL {}), the level never lowered",
            cfg.check_interval_us / 1_000_000,
            if cfg.alert_all { "Y" } else { "N" }
        )
    };
    Rule {
        statement: format!(
            "psad: danger level {dl} for {src} (line for {dst}): {} logged packets to {dst} \
             (DANGER_LEVEL1..5 = {:?}), port range {} (PORT_RANGE_SCAN_THRESHOLD {}), {} protocols \
             (PROTOCOL_SCAN_THRESHOLD {}), {tot_dsts} destinations (DL1..5_UNIQUE_HOSTS = {:?}){sigs}; {when}",
            p.absnum,
            cfg.danger_levels,
            port_range(p),
            cfg.port_range_scan_threshold,
            p.protocols.len(),
            cfg.protocol_scan_threshold,
            cfg.unique_hosts,
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
    }
}

#[allow(clippy::too_many_arguments)]
fn make_alert(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    p: &Pair,
    dl: u8,
    tot_dsts: u64,
    iv: &Interval,
    at: Instant,
    line: String,
) -> Alert {
    let (lo, hi) = match (p.tcp, p.udp) {
        (Some(t), Some(u)) => (t.0.min(u.0), t.1.max(u.1)),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => (0, 0),
    };
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
                ("port_range", port_range(p) as i64),
                ("min_port", i64::from(lo)),
                ("max_port", i64::from(hi)),
                ("protocols", p.protocols.len() as i64),
                ("tot_dsts", tot_dsts as i64),
                ("interval_pkts", iv.pkts.values().sum::<u64>() as i64),
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

    /// Pairs at their worst case: the entry, its protocol, flag and
    /// signature sets, up to 64 ports, frames and counted keys.
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
        if !self.cfg.analysis {
            self.run_due(now, out);
            self.delete_old_scans(now.total_micros());
        }
        self.last = self.last.max(now);
        let mut dport = None;
        let mut flags = None;
        match &pkt.transport {
            Transport::Tcp(t) => {
                if self.cfg.ignore_conntrack_bug_pkts && (t.flags.ack() || t.flags.rst()) {
                    return;
                }
                dport = Some(t.dst_port);
                flags = Some(flag_string(t.flags.0));
            }
            Transport::Udp(u) => dport = Some(u.dst_port),
            _ => {}
        }
        if !self.scan.contains_key(&(pkt.src, pkt.dst)) {
            if self.scan.len() >= self.cfg.max_scan_ip_pairs {
                // psad: "excluding SRC -> DST, scan IP pairs too high".
                self.excluded += 1;
                return;
            }
            self.peak_pairs = self.peak_pairs.max(self.scan.len() + 1);
        }
        let sigs = if self.cfg.signatures {
            matching(pkt)
        } else {
            Vec::new()
        };
        if !sigs.is_empty() {
            self.sig_hit.insert(pkt.src);
        }
        let key = (pkt.src, pkt.dst);
        let p = self.scan.entry(key).or_insert_with(|| Pair {
            s_time: now,
            absnum: 0,
            tcp: None,
            udp: None,
            protocols: BTreeSet::new(),
            sigs: BTreeSet::new(),
            ports: Vec::new(),
            frames: Vec::new(),
            counted: Vec::new(),
            last_frame: pkt.frame,
        });
        p.absnum += 1;
        p.protocols.insert(pkt.protocol);
        p.sigs.extend(sigs);
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
        let iv = self
            .curr
            .entry(pkt.src)
            .or_default()
            .entry(pkt.dst)
            .or_default();
        *iv.pkts.entry(pkt.protocol).or_default() += 1;
        if let Some(port) = dport {
            match pkt.protocol {
                proto::TCP => {
                    widen(&mut p.tcp, port);
                    widen(&mut iv.tcp, port);
                }
                _ => {
                    widen(&mut p.udp, port);
                    widen(&mut iv.udp, port);
                }
            }
            if p.ports.len() < MAX_PORTS && !p.ports.contains(&port) {
                p.ports.push(port);
            }
        }
        if let Some(f) = flags {
            *iv.flags.entry(f).or_default() += 1;
        }
        if !self.cfg.analysis && self.due.is_none() {
            self.due = Some(self.next_boundary(now));
        }
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        if self.cfg.analysis {
            if !self.curr.is_empty() {
                self.check(now, out);
            }
            return;
        }
        self.run_due(now, out);
        if self.due.is_none() {
            self.delete_old_scans(now.total_micros());
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

    fn dl(a: &Alert) -> i64 {
        a.evidence.counters[0].1
    }

    #[test]
    fn dl1_at_five_packets_dl2_at_fifteen_and_a_line_per_interval() {
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
        assert_eq!(dl(a), 1);
        assert_eq!(a.evidence.counters[1], ("absnum", 5));
        assert_eq!(a.time, Instant::from_micros(205 * SEC));
        assert_eq!(
            a.evidence.log_line,
            "scan detected (Nmap -sT or -sS scan): 192.0.2.1 -> 10.0.0.1 tcp: [2000] flags: SYN tcp pkts: 1 DL: 1 total scan dsts: 1",
            "psad prints the interval's range and count"
        );
        syns(&mut r, 300 * SEC, 9, 3000);
        assert_eq!(
            r.flush(400 * SEC),
            1,
            "ALERT_ALL Y: a line for every interval with new packets"
        );
        assert_eq!(dl(&r.alerts[1]), 1);
        syns(&mut r, 500 * SEC, 1, 4000);
        assert_eq!(r.flush(600 * SEC), 1, "15 packets: DL2");
        assert_eq!(dl(&r.alerts[2]), 2);
        // ALERT_ALL N: one line per destination and level.
        let mut r = Run::new("psad:alert_all=n");
        syns(&mut r, 0, 5, 1000);
        syns(&mut r, 100 * SEC, 5, 2000);
        r.flush(200 * SEC);
        assert_eq!(r.alerts.len(), 1);
    }

    #[test]
    fn a_signature_port_gives_dl2_at_once() {
        // /etc/psad/signatures psad_id 100077 (3389, flags:S; psad_dl:2).
        let mut r = Run::new("psad");
        r.push(
            0,
            &tcp(ip("203.0.113.5"), 40000, ip("198.51.100.10"), 3389, S),
        );
        assert_eq!(r.flush(10 * SEC), 1);
        assert_eq!(dl(&r.alerts[0]), 2);
        assert_eq!(
            r.alerts[0].evidence.log_line,
            "scan detected (Nmap -sT or -sS scan): 203.0.113.5 -> 198.51.100.10 tcp: [3389] flags: SYN tcp pkts: 1 DL: 2 total scan dsts: 1"
        );
        let rule = &r.alerts[0].evidence.rule;
        assert!(
            rule.statement
                .contains("signature match (psad_dl:2): psad_id 100077"),
            "{}",
            rule.statement
        );
        assert_eq!(rule.keys.len(), 1);
        assert_eq!(rule.keys[0].key, "port 3389");
        let mut r = Run::new("psad:signatures=n");
        r.push(
            0,
            &tcp(ip("203.0.113.5"), 40000, ip("198.51.100.10"), 3389, S),
        );
        assert_eq!(r.flush(10 * SEC), 0);
    }

    #[test]
    fn burst_jumps_levels_and_needs_a_port_range() {
        let mut r = Run::new("psad");
        syns(&mut r, 0, 200, 1);
        r.flush(10 * SEC);
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(dl(&r.alerts[0]), 3);
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
            r.alerts.clone()
        };
        assert!(feed(&mut Run::new("psad")).is_empty());
        // Packets at 0..=5 s: checks at 5 s (5 packets, DL1) and 10 s (one
        // more packet: ALERT_ALL writes the line again).
        let a = feed(&mut Run::new("psad:ignore_conntrack_bug_pkts=N"));
        assert_eq!(a.len(), 2);
        assert!(
            a[0].evidence.log_line.contains("flags: ACK ACK SYN")
                || a[0].evidence.log_line.contains("flags: ACK"),
            "{}",
            a[0].evidence.log_line
        );
    }

    #[test]
    fn old_scans_are_deleted_every_fifth_check_and_the_level_survives() {
        // 4 packets at t=1 s, the 5th after the deletion check at 3625 s (the
        // first multiple of 5 checks where the scan is an hour old): absnum restarts.
        let mut r = Run::new("psad");
        syns(&mut r, SEC, 4, 1000);
        syns(&mut r, 3630 * SEC, 1, 2000);
        assert_eq!(r.flush(4000 * SEC), 0);
        // Deletion runs only every 5th check: at 3610 s the scan is over an
        // hour old but not yet deleted, so the 5th packet still adds up.
        let mut r = Run::new("psad");
        syns(&mut r, SEC, 4, 1000);
        syns(&mut r, 3610 * SEC, 1, 2000);
        assert_eq!(r.flush(4000 * SEC), 1);
        // The danger level outlives its counters: after deletion one more
        // packet from the source is reported at DL1 again.
        syns(&mut r, 9000 * SEC, 1, 3000);
        assert_eq!(r.flush(9100 * SEC), 1);
        assert_eq!(dl(&r.alerts[1]), 1);
    }

    #[test]
    fn analysis_mode_counts_a_sweep_over_the_whole_input() {
        // One SYN to port 161 on 60 hosts, one per 10 s: each interval has one
        // destination, so the daemon never qualifies a sweep; -A sees 60.
        let feed = |spec: &str| {
            let mut r = Run::new(spec);
            for i in 0..60u8 {
                r.push(
                    i64::from(i) * 10 * SEC,
                    &udp(ip("192.0.2.5"), 5000, Ipv4Addr::new(10, 0, 1, i), 161, b""),
                );
            }
            r.flush(700 * SEC);
            r.alerts.clone()
        };
        assert!(feed("psad").is_empty());
        let a = feed("psad:mode=analysis");
        assert_eq!(a.len(), 60, "one report entry per destination");
        assert_eq!(
            dl(&a[0]),
            3,
            "60 destinations: DL3_UNIQUE_HOSTS 50 <= 60 < 100"
        );
        assert!(
            a[0].evidence
                .log_line
                .starts_with("SRC:  192.0.2.5, DL: 3, Dsts: 60, Pkts: 60"),
            "{}",
            a[0].evidence.log_line
        );
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
        assert_eq!(r.flush(5 * SEC), 10, "a line per destination");
        assert_eq!(r.alerts[0].evidence.counters[6], ("tot_dsts", 10));
        assert_eq!(dl(&r.alerts[0]), 1);
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .contains("scan detected (-sU scan): "),
            "{}",
            r.alerts[0].evidence.log_line
        );
    }

    #[test]
    fn min_danger_level_suppresses_low_alerts() {
        let mut r = Run::new("psad:min_danger_level=2");
        syns(&mut r, 0, 5, 1);
        assert_eq!(r.flush(10 * SEC), 0);
        syns(&mut r, 20 * SEC, 10, 100);
        assert_eq!(r.flush(30 * SEC), 1);
        assert_eq!(dl(&r.alerts[0]), 2);
        assert_eq!(Psad::new(Config::default()).vantage(), Vantage::DropLog);
    }
}
