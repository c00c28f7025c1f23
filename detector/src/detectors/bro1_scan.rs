//! Bro 1.x `policy/scan.bro` (the pre-SumStats scan detector, Bro 1.5 era;
//! V. Paxson et al.); docs/detectors/bro1-scan.md.
//!
//! Sources: the Bro 1.x `scan.bro` ($Id r6883, 2009-08-19; only its opening
//! was readable) as carried into its Bro 2.0 port (grigorescu/bro-scripts
//! `scan.bro`, "Scan detector ported from Bro 1.x", whose tables, thresholds
//! and `check_scan` we follow); the 1.x `scan.bro` (svn r7088) for the
//! 1.x-only `Hot::allow_services` clause; Bro 1.x `policy/hot.bro` (r7057,
//! `Hot::allow_services`) and `policy/bro.init` (r6887, zeek/zeek commit
//! 61757ac: `tcp_attempt_delay`, `tcp_inactivity_timeout`,
//! `table_expire_interval`, port names). Connection events come from the shared
//! [`crate::flow::FlowTracker`] (Bro's TCP analyzer model).
//!
//! # Algorithm
//!
//! Connection events call `check_scan(c, established, reverse)`:
//!
//! | event | established | reverse |
//! |---|---|---|
//! | `connection_established` | T | originator `INACTIVE` (a SYN-ACK-first flow) |
//! | `partial_connection` (both sides mid-stream) | T | F |
//! | `connection_attempt` (5 s, unanswered SYN or SYN-ACK) | F | originator `INACTIVE` |
//! | `connection_half_finished` (FIN, peer never heard) | F | F |
//! | `connection_rejected` | F | originator `RESET` |
//! | `connection_reset`, only if one side is `INACTIVE` | payload seen | originator `INACTIVE` |
//!
//! `reverse` swaps the roles: the responder is the scanner, and the service is
//! the originator's port. After the skip lists (`skip_services` inbound,
//! `skip_outbound_services` outbound, `skip_scan_sources`, `skip_scan_nets`,
//! `skip_dest_server_ports`, ignored scanners), a connection that is not
//! established *or* whose service is not in `Hot::allow_services`, to a peer
//! not yet in `distinct_peers[scanner]`, is accounted:
//!
//! - **backscatter**: `reverse`, source service in `backscatter_ports`,
//!   service ≥ 1024: `distinct_backscatter_peers[scanner][peer]` counts calls;
//!   a peer's first call checks `|peers|` against `report_backscatter`
//!   (**BackscatterSeen** "backscatter seen from S (N hosts; P)");
//! - otherwise **address scan**: the peer joins `distinct_peers[scanner]`
//!   (all ports together); at `shut_down_thresh` an inbound scanner raises
//!   **ShutdownThresh** once, else `|peers|` is checked against
//!   `report_peer_scan` (inbound) or `report_outbound_peer_scan` (outbound):
//!   **AddressScan** "S has scanned N hosts (P)".
//!
//! Established connections stop there. Others feed port accounting (backscatter
//! included): `distinct_ports[scanner]` (any hosts); at
//! `possible_port_scan_thresh` distinct ports the scanner becomes a possible
//! scan source and from then on `scan_triples[scanner][victim]` collects ports,
//! checked against `report_port_scan` (**PortScan** "S has scanned M ports of
//! V"). Inbound privileged ports not in `troll_skip_service` feed
//! `distinct_low_ports[scanner]`; exactly `priv_scan_trigger` of them raise
//! **LowPortTrolling**. Threshold vectors are reported once per step
//! (`thresh_check`: a per-source next-index, Bro 1.x vectors are 1-based).
//! Tables expire 15 min after the last read or write; an expiring
//! `distinct_peers` / `distinct_ports` / `distinct_low_ports` entry at or above
//! its summary trigger raises **ScanSummary** / **PortScanSummary** /
//! **LowPortScanSummary**. Notices have no suppression in Bro 1.x.
//!
//! Alert kinds: AddressScan, ShutdownThresh, ScanSummary → `PortSweep`;
//! PortScan, LowPortTrolling, PortScanSummary, LowPortScanSummary →
//! `PortScan`; BackscatterSeen → `Scanner`. The log line starts with the Bro
//! notice name.
//!
//! # Deviations from upstream
//!
//! - TCP only (UDP "connections", `suppress_UDP_scan_checks` and `53/udp` in
//!   `backscatter_ports` do not apply); no `ftp-data` service substitution.
//! - `connection_pending` (raised only at Bro shutdown) and the `bro_done`
//!   summaries are not modelled; password-guessing and landmine checks are out
//!   of scope.
//! - Table expiry sweeps run on a fixed `table_expire_interval` grid from the
//!   first packet, all entries at once (Bro re-arms its timer at dispatch and
//!   expires 5000 entries per step). Every access counts as a read.
//! - Connection model and its simplifications: see `flow.rs`. The attempt timer
//!   for an un-flipped SYN-ACK-first originator, `partial_connection` and
//!   `connection_half_finished` are derived here from a per-connection side
//!   table, on the packet (Bro may delay some of them to a timer).
//! - `Site::local_nets` / `Site::neighbor_nets` are parameters (Bro default:
//!   empty, so every source is inbound).
//! - Unverified details (1-based vectors, the `allow_services` clause, lists
//!   that differ in the 2.0 port): see `docs/detectors/bro1-scan.md`.
//! - State is bounded by `memcap` (Bro 1.x has no bound): 40 % for the
//!   connection table, 10 % for the side table, 5 % for SYN-ACK attempt
//!   timers (each drops its least recently active entry), 45 % for the
//!   `scan.bro` tables, charged per scanner: past it the state of the scanner
//!   checked least recently is dropped whole. Drops count as evictions.

use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};

use crate::DetectorInfo;
use crate::flow::{ConnEvent, ConnEventKind, EndpointState, FlowConfig, FlowTracker};
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::{TimedMap, entry_cost};
use crate::view::proto;
use crate::{Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, PacketView, Rule};

const NAME: &str = "bro1-scan";

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "report_peer_scan",
        default: "20;100;1000;10000;50000;100000;250000;500000;1000000",
        help: "distinct hosts at which an inbound source raises AddressScan (scan.bro report_peer_scan)",
    },
    ParamSpec {
        name: "report_outbound_peer_scan",
        default: "100;1000;10000",
        help: "same for a source inside local_nets (scan.bro report_outbound_peer_scan)",
    },
    ParamSpec {
        name: "report_port_scan",
        default: "50;250;1000;5000;10000;25000;65000",
        help: "ports on one victim, counted once a possible scan source, raising PortScan (scan.bro report_port_scan)",
    },
    ParamSpec {
        name: "possible_port_scan_thresh",
        default: "20",
        help: "distinct ports (any hosts) before per-victim port tracking starts (scan.bro)",
    },
    ParamSpec {
        name: "report_backscatter",
        default: "20",
        help: "distinct hosts sent reverse (SYN-ACK-first) traffic raising BackscatterSeen (scan.bro report_backscatter)",
    },
    ParamSpec {
        name: "backscatter_ports",
        default: "53;80;179;6666;6667",
        help: "source services of reverse flows diverted to backscatter accounting; TCP part of {http, 53/tcp, 53/udp, bgp, 6666/tcp, 6667/tcp} (scan.bro backscatter_ports; the 2.0 port adds 8080)",
    },
    ParamSpec {
        name: "shut_down_thresh",
        default: "100",
        help: "distinct hosts at which an inbound source raises ShutdownThresh once (scan.bro shut_down_thresh)",
    },
    ParamSpec {
        name: "activate_priv_port_check",
        default: "y",
        help: "count inbound privileged ports for LowPortTrolling (scan.bro activate_priv_port_check = T)",
    },
    ParamSpec {
        name: "priv_scan_trigger",
        default: "5",
        help: "distinct privileged ports raising LowPortTrolling (scan.bro priv_scan_trigger)",
    },
    ParamSpec {
        name: "troll_skip_service",
        default: "20;21;22;25;80",
        help: "privileged ports not counted for LowPortTrolling (scan.bro troll_skip_service)",
    },
    ParamSpec {
        name: "addr_scan_trigger",
        default: "0",
        help: "hosts a source must contact before address tracking starts; 0 = off (scan.bro addr_scan_trigger; cluster config uses 3)",
    },
    ParamSpec {
        name: "ignore_scanners_threshold",
        default: "0",
        help: "ignore a source for 1 day once a count exceeds this; 0 = off (scan.bro ignore_scanners_threshold)",
    },
    ParamSpec {
        name: "scan_summary_trigger",
        default: "25",
        help: "distinct hosts at expiry raising ScanSummary (scan.bro scan_summary_trigger)",
    },
    ParamSpec {
        name: "port_summary_trigger",
        default: "20",
        help: "distinct ports at expiry raising PortScanSummary (scan.bro port_summary_trigger)",
    },
    ParamSpec {
        name: "lowport_summary_trigger",
        default: "10",
        help: "distinct low ports at expiry raising LowPortScanSummary (scan.bro lowport_summary_trigger)",
    },
    ParamSpec {
        name: "allow_services",
        default: "20;22;25;70;80;113",
        help: "established connections to these never count as peers; TCP part of Hot::allow_services {ssh, http, gopher, ident, smtp, 20/tcp} (hot.bro)",
    },
    ParamSpec {
        name: "skip_services",
        default: "113",
        help: "inbound services ignored entirely ({ident}, scan.bro skip_services)",
    },
    ParamSpec {
        name: "skip_outbound_services",
        default: "20;21;22;25;70;80;81;113;443;8000;8001;8080",
        help: "outbound services ignored: Hot::allow_services, ftp, addl_web (scan.bro skip_outbound_services)",
    },
    ParamSpec {
        name: "skip_scan_sources",
        default: "255.255.255.255/32",
        help: "sources never treated as scanners (scan.bro skip_scan_sources)",
    },
    ParamSpec {
        name: "skip_scan_nets",
        default: "",
        help: "networks never treated as scanners (scan.bro skip_scan_nets)",
    },
    ParamSpec {
        name: "skip_dest_server_ports",
        default: "",
        help: "addr:port servers whose inbound connections are ignored, e.g. 192.0.2.1:80;192.0.2.2:25 (scan.bro)",
    },
    ParamSpec {
        name: "analyze_all_services",
        default: "y",
        help: "consider every service for address scans (scan.bro analyze_all_services = T)",
    },
    ParamSpec {
        name: "analyze_services",
        default: "",
        help: "services considered when analyze_all_services=n (scan.bro analyze_services)",
    },
    ParamSpec {
        name: "local_nets",
        default: "",
        help: "Site::local_nets: sources inside are outbound scanners (Bro default empty)",
    },
    ParamSpec {
        name: "neighbor_nets",
        default: "",
        help: "Site::neighbor_nets: exempt from ShutdownThresh and LowPortTrolling (Bro default empty)",
    },
    ParamSpec {
        name: "read_expire",
        default: "900",
        help: "seconds after the last access a scan table entry expires (scan.bro &read_expire = 15 mins)",
    },
    ParamSpec {
        name: "idx_read_expire",
        default: "86400",
        help: "seconds after the last access a threshold index expires (scan.bro rps_idx etc. &read_expire = 1 days)",
    },
    ParamSpec {
        name: "ignored_scanners_expire",
        default: "86400",
        help: "seconds an ignored scanner stays ignored (scan.bro ignored_scanners &create_expire = 1 day)",
    },
    ParamSpec {
        name: "table_expire_interval",
        default: "10",
        help: "seconds between table expiry sweeps (bro.init table_expire_interval = 10 secs)",
    },
    ParamSpec {
        name: "tcp_attempt_delay",
        default: "5",
        help: "seconds before an unanswered SYN is a connection_attempt (bro.init)",
    },
    ParamSpec {
        name: "tcp_inactivity_timeout",
        default: "300",
        help: "seconds before an idle connection is removed (bro.init 5 min)",
    },
    ParamSpec {
        name: "memcap",
        default: "67108864",
        help: "bytes of state at most, least recently active dropped first (bench bound: Bro 1.x has none)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: NAME,
    summary: "Bro 1.x policy/scan.bro: AddressScan at 20 hosts, PortScan at 50 ports past 20, BackscatterSeen at 20",
    params: PARAMS,
    build,
};

fn bad(p: &Params, name: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        detector: NAME.to_string(),
        param: name.to_string(),
        value: p.raw(name).to_string(),
        reason: reason.to_string(),
    }
}

/// A Bro `vector of count`, in the order given.
fn counts(p: &Params, name: &str) -> Result<Vec<u64>, ConfigError> {
    p.raw(name)
        .split([',', ';', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse::<u64>()
                .map_err(|_| bad(p, name, "expected counts such as 20;100;1000"))
        })
        .collect()
}

/// `set[addr, port]` as `addr:port;addr:port`.
fn addr_ports(p: &Params, name: &str) -> Result<BTreeSet<(Ipv4Addr, u16)>, ConfigError> {
    p.raw(name)
        .split([',', ';', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (a, port) = s
                .split_once(':')
                .ok_or_else(|| bad(p, name, "expected addr:port"))?;
            let a: Ipv4Addr = a.parse().map_err(|_| bad(p, name, "expected addr:port"))?;
            let port: u16 = port
                .trim_end_matches("/tcp")
                .parse()
                .map_err(|_| bad(p, name, "expected addr:port"))?;
            Ok((a, port))
        })
        .collect()
}

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let secs =
        |n: &str| -> Result<i64, ConfigError> { Ok(p.u64_in(n, 0, 1 << 32)? as i64 * 1_000_000) };
    let set =
        |n: &str| -> Result<BTreeSet<u16>, ConfigError> { Ok(p.ports(n)?.into_iter().collect()) };
    let cfg = Config {
        report_peer_scan: counts(p, "report_peer_scan")?,
        report_outbound_peer_scan: counts(p, "report_outbound_peer_scan")?,
        report_port_scan: counts(p, "report_port_scan")?,
        possible_port_scan_thresh: p.u64("possible_port_scan_thresh")?,
        report_backscatter: counts(p, "report_backscatter")?,
        backscatter_ports: set("backscatter_ports")?,
        shut_down_thresh: p.u64("shut_down_thresh")?,
        activate_priv_port_check: p.bool("activate_priv_port_check")?,
        priv_scan_trigger: p.u64("priv_scan_trigger")?,
        troll_skip_service: set("troll_skip_service")?,
        addr_scan_trigger: p.u64("addr_scan_trigger")?,
        ignore_scanners_threshold: p.u64("ignore_scanners_threshold")?,
        scan_summary_trigger: p.u64("scan_summary_trigger")?,
        port_summary_trigger: p.u64("port_summary_trigger")?,
        lowport_summary_trigger: p.u64("lowport_summary_trigger")?,
        allow_services: set("allow_services")?,
        skip_services: set("skip_services")?,
        skip_outbound_services: set("skip_outbound_services")?,
        skip_scan_sources: p.cidrs("skip_scan_sources")?,
        skip_scan_nets: p.cidrs("skip_scan_nets")?,
        skip_dest_server_ports: addr_ports(p, "skip_dest_server_ports")?,
        analyze_all_services: p.bool("analyze_all_services")?,
        analyze_services: set("analyze_services")?,
        local_nets: p.cidrs("local_nets")?,
        neighbor_nets: p.cidrs("neighbor_nets")?,
        read_expire_us: secs("read_expire")?,
        idx_read_expire_us: secs("idx_read_expire")?,
        ignored_expire_us: secs("ignored_scanners_expire")?,
        sweep_us: secs("table_expire_interval")?.max(1),
        attempt_delay_us: secs("tcp_attempt_delay")?,
    };
    let memcap = p.u64_in("memcap", 1 << 16, 1 << 40)?;
    let flows = FlowTracker::new(FlowConfig {
        attempt_delay_us: cfg.attempt_delay_us,
        inactivity_us: secs("tcp_inactivity_timeout")?.max(1),
        memcap: memcap / 5 * 2,
        ..FlowConfig::default()
    });
    Ok(Box::new(Bro1Scan {
        cfg,
        flows,
        events: Vec::new(),
        sides: TimedMap::new(memcap / 10),
        next_side_id: 0,
        synack_timers: TimedMap::new(memcap / 20),
        t: Tables {
            budget: TimedMap::new(memcap / 20 * 9),
            ..Tables::default()
        },
        sweep_origin: None,
        next_sweep: None,
    }))
}

#[derive(Debug)]
struct Config {
    report_peer_scan: Vec<u64>,
    report_outbound_peer_scan: Vec<u64>,
    report_port_scan: Vec<u64>,
    possible_port_scan_thresh: u64,
    report_backscatter: Vec<u64>,
    backscatter_ports: BTreeSet<u16>,
    shut_down_thresh: u64,
    activate_priv_port_check: bool,
    priv_scan_trigger: u64,
    troll_skip_service: BTreeSet<u16>,
    addr_scan_trigger: u64,
    ignore_scanners_threshold: u64,
    scan_summary_trigger: u64,
    port_summary_trigger: u64,
    lowport_summary_trigger: u64,
    allow_services: BTreeSet<u16>,
    skip_services: BTreeSet<u16>,
    skip_outbound_services: BTreeSet<u16>,
    skip_scan_sources: Vec<Cidr>,
    skip_scan_nets: Vec<Cidr>,
    skip_dest_server_ports: BTreeSet<(Ipv4Addr, u16)>,
    analyze_all_services: bool,
    analyze_services: BTreeSet<u16>,
    local_nets: Vec<Cidr>,
    neighbor_nets: Vec<Cidr>,
    read_expire_us: i64,
    idx_read_expire_us: i64,
    ignored_expire_us: i64,
    sweep_us: i64,
    attempt_delay_us: i64,
}

fn in_nets(nets: &[Cidr], a: Ipv4Addr) -> bool {
    nets.iter().any(|n| n.contains(a))
}

/// One table entry with `&read_expire`: a set plus what the alert reports.
#[derive(Clone, Debug)]
struct Entry<T> {
    first: i64,
    last: i64,
    items: T,
    /// Keys (ports) in first-seen order, capped.
    order: Vec<u16>,
    frames: Vec<u64>,
    /// Each item (host or port) as it joined, with its frame.
    counted: Vec<Counted>,
}

impl<T: Default> Entry<T> {
    fn new(now: i64) -> Self {
        Entry {
            first: now,
            last: now,
            items: T::default(),
            order: Vec::new(),
            frames: Vec::new(),
            counted: Vec::new(),
        }
    }

    /// Records a new item `key` (its service `port`, its `frame`).
    fn note(&mut self, port: Option<u16>, frame: Option<u64>, key: String) {
        if let (Some(f), true) = (frame, self.counted.len() < Evidence::MAX_FRAMES) {
            self.counted.push(Counted { key, frame: f });
        }
        if let Some(p) = port {
            if self.order.len() < Evidence::MAX_FRAMES && !self.order.contains(&p) {
                self.order.push(p);
            }
        }
        if let Some(f) = frame {
            if self.frames.len() < Evidence::MAX_FRAMES {
                self.frames.push(f);
            }
        }
    }
}

/// The sets a per-scanner table entry holds.
trait Items {
    fn count(&self) -> usize;
}

impl<T> Items for BTreeSet<T> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<K, V> Items for BTreeMap<K, V> {
    fn count(&self) -> usize {
        self.len()
    }
}

/// What `e` is charged: the entry, its set, its evidence.
fn entry_bytes<T: Items>(e: &Entry<T>) -> u64 {
    let items = e.items.count() as u64 * ITEM_COST;
    ENTRY_COST + items + e.counted.len() as u64 * NOTE_COST
}

/// Bytes of scanner `a`'s state in `t` (every table keyed by it).
fn cost_of(t: &Tables, a: Ipv4Addr) -> u64 {
    let sets = [
        t.backscatter.get(&a).map(entry_bytes),
        t.pre_peers.get(&a).map(entry_bytes),
        t.peers.get(&a).map(entry_bytes),
        t.ports.get(&a).map(entry_bytes),
        t.low_ports.get(&a).map(entry_bytes),
    ];
    let flags = [
        t.possible.contains_key(&a),
        t.ignored.contains_key(&a),
        t.shut_down.contains(&a),
        t.rb_idx.contains_key(&a),
        t.rps_idx.contains_key(&a),
        t.rops_idx.contains_key(&a),
    ];
    let small =
        flags.iter().filter(|f| **f).count() as u64 + t.rpts_count.get(&a).copied().unwrap_or(0);
    sets.iter().flatten().sum::<u64>()
        + t.triple_cost.get(&a).copied().unwrap_or(0)
        + small * SMALL_COST
}

/// Removes the entries of `m` that `stale` says are over; returns their keys.
fn expire_by<K: Ord + Copy, V>(m: &mut BTreeMap<K, V>, stale: impl Fn(&V) -> bool) -> Vec<K> {
    let gone: Vec<K> = m
        .iter()
        .filter(|(_, v)| stale(v))
        .map(|(k, _)| *k)
        .collect();
    for k in &gone {
        m.remove(k);
    }
    gone
}

/// A threshold-vector index (`rps_idx` etc.): next 1-based index, last access.
#[derive(Clone, Copy, Debug)]
struct Idx {
    next: usize,
    last: i64,
}

/// What one entry of a per-scanner table is charged.
const ENTRY_COST: u64 = entry_cost::<Ipv4Addr, Entry<BTreeSet<Ipv4Addr>>>(0);
/// What one item of an entry's set is charged (a set element of at most 12
/// bytes in half-full B-tree nodes).
const ITEM_COST: u64 = 32;
/// What one noted item adds to an entry's evidence: its counted key and text,
/// its port and frame.
const NOTE_COST: u64 = (size_of::<Counted>() + 24 + 2 + 8) as u64;
/// What a plain per-scanner entry (an index, a time, a flag) is charged.
const SMALL_COST: u64 = entry_cost::<(Ipv4Addr, Ipv4Addr), Idx>(0);

/// The scan.bro globals, and the bytes they charge to each scanner.
#[derive(Debug, Default)]
struct Tables {
    /// Bytes of state charged to each scanner, timed by its last check: past
    /// the memcap, the least recently checked scanner's state goes whole.
    budget: TimedMap<Ipv4Addr, ()>,
    /// `scan_triples` bytes per scanner (kept as they are added).
    triple_cost: BTreeMap<Ipv4Addr, u64>,
    /// `rpts_idx` entries per scanner.
    rpts_count: BTreeMap<Ipv4Addr, u64>,
    /// `distinct_backscatter_peers`: scanner → peer → calls.
    backscatter: BTreeMap<Ipv4Addr, Entry<BTreeMap<Ipv4Addr, u64>>>,
    /// `pre_distinct_peers`.
    pre_peers: BTreeMap<Ipv4Addr, Entry<BTreeSet<Ipv4Addr>>>,
    /// `distinct_peers`.
    peers: BTreeMap<Ipv4Addr, Entry<BTreeSet<Ipv4Addr>>>,
    /// `distinct_ports`.
    ports: BTreeMap<Ipv4Addr, Entry<BTreeSet<u16>>>,
    /// `distinct_low_ports`.
    low_ports: BTreeMap<Ipv4Addr, Entry<BTreeSet<u16>>>,
    /// `scan_triples` (no expiry of its own).
    triples: BTreeMap<Ipv4Addr, BTreeMap<Ipv4Addr, Entry<BTreeSet<u16>>>>,
    /// `possible_scan_sources`: last access.
    possible: BTreeMap<Ipv4Addr, i64>,
    /// `ignored_scanners`: creation time.
    ignored: BTreeMap<Ipv4Addr, i64>,
    /// `shut_down_thresh_reached` (never expires).
    shut_down: BTreeSet<Ipv4Addr>,
    rb_idx: BTreeMap<Ipv4Addr, Idx>,
    rps_idx: BTreeMap<Ipv4Addr, Idx>,
    rops_idx: BTreeMap<Ipv4Addr, Idx>,
    rpts_idx: BTreeMap<(Ipv4Addr, Ipv4Addr), Idx>,
}

/// Which `thresh_check` vector and index table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vector {
    Backscatter,
    Peer,
    OutboundPeer,
}

/// `thresh_check` without the ignore side effect: true (and the index moves on)
/// if `n` reached the next step of `v`.
fn step(v: &[u64], idx: &mut BTreeMap<Ipv4Addr, Idx>, orig: Ipv4Addr, n: u64, now: i64) -> bool {
    let next = idx.get(&orig).map_or(1, |i| i.next);
    if let Some(i) = idx.get_mut(&orig) {
        i.last = now;
    }
    if next >= 1 && next <= v.len() && v.get(next - 1).is_some_and(|t| n >= *t) {
        idx.insert(
            orig,
            Idx {
                next: next + 1,
                last: now,
            },
        );
        true
    } else {
        false
    }
}

/// The threshold `thresh_check` just passed (the step before `next`).
fn passed(v: &[u64], next: Option<usize>) -> i64 {
    next.and_then(|n| n.checked_sub(2))
        .and_then(|i| v.get(i))
        .map_or(0, |t| *t as i64)
}

/// The two ends of a connection as check_scan sees them.
#[derive(Clone, Copy, Debug)]
struct View {
    orig: (Ipv4Addr, u16),
    resp: (Ipv4Addr, u16),
    bytes: u64,
}

/// What one side of a connection has sent, for the events the shared flow
/// tracker does not raise (`partial_connection`, `connection_half_finished`,
/// the SYN-ACK attempt timer).
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    seen: bool,
    /// First packet had no SYN/FIN/RST, and no FIN/RST since (`PARTIAL`).
    partial: bool,
    /// First packet was a SYN-ACK (originator: `SYN_ACK_SENT`), no FIN/RST since.
    syn_ack: bool,
    closed: bool,
    reset: bool,
}

#[derive(Clone, Debug)]
struct Sides {
    id: u64,
    orig: (Ipv4Addr, u16),
    resp: (Ipv4Addr, u16),
    side: [Side; 2],
    syn_ack_frame: Option<u64>,
}

type Key = (Ipv4Addr, u16, Ipv4Addr, u16);

fn key(a: (Ipv4Addr, u16), b: (Ipv4Addr, u16)) -> Key {
    if a <= b {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    }
}

/// Bro 1.x scan.bro.
#[derive(Debug)]
pub struct Bro1Scan {
    cfg: Config,
    flows: FlowTracker,
    events: Vec<ConnEvent>,
    /// Per-connection sides, timed by the last packet.
    sides: TimedMap<Key, Sides>,
    next_side_id: u64,
    /// Side-table id → connection key, timed by the deadline: SYN-ACK
    /// attempt timers (they fire in (deadline, id) order).
    synack_timers: TimedMap<u64, Key>,
    t: Tables,
    sweep_origin: Option<i64>,
    /// The next table sweep; `None` when nothing is due before the end of time.
    next_sweep: Option<i64>,
}

/// A pending `check_scan` call.
struct Call {
    time: i64,
    frame: Option<u64>,
    view: View,
    established: bool,
    reverse: bool,
}

/// The numbers a scan.bro notice compared, in the script's terms.
fn rule_numbers(note: &str, counters: &[(&'static str, i64)]) -> String {
    let get = |k: &str| {
        counters
            .iter()
            .find(|(n, _)| *n == k)
            .map_or(0, |(_, v)| *v)
    };
    match note {
        "BackscatterSeen" => format!(
            "{} distinct backscatter peers reached the report_backscatter step {}",
            get("distinct_backscatter_peers"),
            get("threshold")
        ),
        "ShutdownThresh" => format!(
            "{} distinct peers reached shut_down_thresh {}",
            get("distinct_peers"),
            get("shut_down_thresh")
        ),
        "AddressScan" => format!(
            "{} distinct peers reached the {} step {}",
            get("distinct_peers"),
            if get("outbound") == 1 {
                "report_outbound_peer_scan"
            } else {
                "report_peer_scan"
            },
            get("threshold")
        ),
        "LowPortTrolling" => format!(
            "{} distinct privileged ports reached priv_scan_trigger {}",
            get("distinct_low_ports"),
            get("priv_scan_trigger")
        ),
        "PortScan" => format!(
            "{} distinct ports on one victim reached the report_port_scan step {} \
             ({} distinct ports on any host, past possible_port_scan_thresh)",
            get("distinct_ports_on_victim"),
            get("threshold"),
            get("distinct_ports_any_host")
        ),
        _ => format!(
            "the table entry expired holding {} items, at or above its summary trigger",
            get("total")
        ),
    }
}

fn port_str(p: u16) -> String {
    format!("{p}/tcp")
}

impl Bro1Scan {
    fn outbound(&self, a: Ipv4Addr) -> bool {
        in_nets(&self.cfg.local_nets, a)
    }

    /// Lowers the next sweep to the first grid point strictly after `deadline`.
    ///
    /// The grid is `origin + k * table_expire_interval`. It is computed in
    /// `i128`, so it stays exact whatever the timestamps (an extreme first
    /// packet, time jumping by centuries); a grid point past the end of
    /// `i64` time is never reached, so nothing is scheduled for it.
    fn note_deadline(&mut self, deadline: i64) {
        let Some(o) = self.sweep_origin else { return };
        let iv = i128::from(self.cfg.sweep_us);
        let k = (i128::from(deadline) - i128::from(o)).div_euclid(iv) + 1;
        let Ok(at) = i64::try_from(i128::from(o) + k * iv) else {
            return;
        };
        self.next_sweep = Some(self.next_sweep.map_or(at, |n| n.min(at)));
    }

    fn touch_deadline(&mut self, now: i64) {
        self.note_deadline(now.saturating_add(self.cfg.read_expire_us));
    }

    #[allow(clippy::too_many_arguments)]
    fn notice(
        &self,
        note: &str,
        kind: AlertKind,
        scanner: Ipv4Addr,
        victim: Option<Ipv4Addr>,
        first: i64,
        now: i64,
        frame: Option<u64>,
        counters: Vec<(&'static str, i64)>,
        ports: Vec<u16>,
        frames: Vec<u64>,
        keys: Vec<Counted>,
        msg: String,
        out: &mut Vec<Alert>,
    ) {
        let rule = Rule {
            statement: format!(
                "Bro 1.x scan.bro {note}: {} for {scanner}",
                rule_numbers(note, &counters)
            ),
            counted: match note {
                "BackscatterSeen" => "reverse (SYN-ACK-first) connections from a backscatter \
                                      service port (backscatter_ports), one per distinct host"
                    .into(),
                "LowPortTrolling" | "LowPortScanSummary" => {
                    "inbound unestablished connections to distinct privileged ports \
                     (below 1024, not in troll_skip_service)"
                        .into()
                }
                _ => "connections that did not establish, or whose service is not in \
                      Hot::allow_services, counted once per distinct host or port"
                    .into(),
            },
            window: Some((
                Instant::from_micros(first.min(now)),
                Instant::from_micros(now),
            )),
            keys,
        };
        out.push(Alert {
            detector: NAME,
            scanner,
            victim,
            kind,
            first_seen: Instant::from_micros(first.min(now)),
            time: Instant::from_micros(now),
            trigger_frame: frame,
            evidence: Evidence {
                counters,
                ports,
                frames,
                log_line: format!("{note} {msg}"),
                rule,
            },
        });
    }

    /// Charges scanner `a` what its state now costs (moving it to time `at`
    /// when given); past the memcap, the least recently checked scanners'
    /// state goes whole.
    fn settle(&mut self, a: Ipv4Addr, at: Option<i64>) {
        let bytes = cost_of(&self.t, a);
        let budget = &mut self.t.budget;
        let evicted = if bytes == 0 {
            budget.remove(&a);
            Vec::new()
        } else if budget.contains_key(&a) {
            if let Some(at) = at {
                budget.touch(&a, at);
            }
            budget.resize(&a, bytes)
        } else {
            budget.insert(a, (), at.unwrap_or(i64::MIN), bytes)
        };
        for (v, ()) in evicted {
            self.drop_scanner(v);
        }
    }

    /// scan.bro's `clear_addr`: `a`'s entry in every per-source table.
    fn clear_addr(&mut self, a: Ipv4Addr) {
        let t = &mut self.t;
        t.peers.remove(&a);
        t.ports.remove(&a);
        t.low_ports.remove(&a);
        t.triples.remove(&a);
        t.triple_cost.remove(&a);
        t.possible.remove(&a);
        t.backscatter.remove(&a);
        t.pre_peers.remove(&a);
        t.rb_idx.remove(&a);
        t.rps_idx.remove(&a);
        t.rops_idx.remove(&a);
        t.shut_down.remove(&a);
    }

    /// Forgets everything about scanner `a` (it was evicted).
    fn drop_scanner(&mut self, a: Ipv4Addr) {
        self.clear_addr(a);
        let t = &mut self.t;
        t.budget.remove(&a);
        t.ignored.remove(&a);
        if t.rpts_count.remove(&a).is_some() {
            let lo = (a, Ipv4Addr::UNSPECIFIED);
            let hi = (a, Ipv4Addr::BROADCAST);
            let keys: Vec<_> = t.rpts_idx.range(lo..=hi).map(|(k, _)| *k).collect();
            for k in keys {
                t.rpts_idx.remove(&k);
            }
        }
    }

    /// `clear_addr` + `add ignored_scanners`.
    fn ignore_addr(&mut self, a: Ipv4Addr, now: i64) {
        self.clear_addr(a);
        self.t.ignored.insert(a, now);
        self.note_deadline(now.saturating_add(self.cfg.ignored_expire_us));
    }

    /// `thresh_check`, including its ignore side effect.
    fn thresh_check(&mut self, which: Vector, orig: Ipv4Addr, n: u64, now: i64) -> bool {
        let it = self.cfg.ignore_scanners_threshold;
        if it > 0 && n > it {
            self.ignore_addr(orig, now);
            return false;
        }
        self.note_deadline(now.saturating_add(self.cfg.idx_read_expire_us));
        let (v, idx) = match which {
            Vector::Backscatter => (&self.cfg.report_backscatter, &mut self.t.rb_idx),
            Vector::Peer => (&self.cfg.report_peer_scan, &mut self.t.rps_idx),
            Vector::OutboundPeer => (&self.cfg.report_outbound_peer_scan, &mut self.t.rops_idx),
        };
        step(v, idx, orig, n, now)
    }

    /// `check_scan`, then the scanner's state charged against the memcap.
    fn check_scan(&mut self, c: &Call, out: &mut Vec<Alert>) {
        self.check_scan_inner(c, out);
        let scanner = if c.reverse {
            c.view.resp.0
        } else {
            c.view.orig.0
        };
        self.settle(scanner, Some(c.time));
    }

    fn check_scan_inner(&mut self, c: &Call, out: &mut Vec<Alert>) {
        let now = c.time;
        let v = c.view;
        let (service, rev_service, orig, resp) = if c.reverse {
            (v.orig.1, v.resp.1, v.resp.0, v.orig.0)
        } else {
            (v.resp.1, v.orig.1, v.orig.0, v.resp.0)
        };
        let outbound = self.outbound(orig);
        let cfg = &self.cfg;
        if (cfg.skip_services.contains(&service) && !outbound)
            || (outbound && cfg.skip_outbound_services.contains(&service))
            || in_nets(&cfg.skip_scan_sources, orig)
            || in_nets(&cfg.skip_scan_nets, orig)
            || (!outbound && cfg.skip_dest_server_ports.contains(&(resp, service)))
            || self.t.ignored.contains_key(&orig)
        {
            return;
        }
        if !c.established || !cfg.allow_services.contains(&service) {
            let known = match self.t.peers.get_mut(&orig) {
                Some(e) => {
                    e.last = now;
                    e.items.contains(&resp)
                }
                None => false,
            };
            if self.t.peers.contains_key(&orig) {
                self.touch_deadline(now);
            }
            let cfg = &self.cfg;
            if !known && (cfg.analyze_all_services || cfg.analyze_services.contains(&service)) {
                if c.reverse && cfg.backscatter_ports.contains(&rev_service) && service >= 1024 {
                    self.backscatter(c, orig, resp, rev_service, out);
                } else {
                    self.address_scan(c, orig, resp, service, outbound, out);
                }
            }
        }
        if c.established {
            // "Don't consider established connections for port scanning."
            return;
        }
        self.port_scan(c, orig, resp, service, outbound, out);
    }

    fn backscatter(
        &mut self,
        c: &Call,
        orig: Ipv4Addr,
        resp: Ipv4Addr,
        rev_service: u16,
        out: &mut Vec<Alert>,
    ) {
        let now = c.time;
        self.touch_deadline(now);
        let e = self
            .t
            .backscatter
            .entry(orig)
            .or_insert_with(|| Entry::new(now));
        e.last = now;
        let calls = e.items.entry(resp).or_insert(0);
        *calls = calls.saturating_add(1);
        // "The test is <= 2 because we get two check_scan() calls, once on
        // connection attempt and once on tear-down": only a peer's first call
        // is checked.
        let first_call = *calls == 1;
        let n = e.items.len() as u64;
        if first_call {
            e.note(Some(rev_service), c.frame, format!("host {resp}"));
            if self.thresh_check(Vector::Backscatter, orig, n, now) {
                if let Some(e) = self.t.backscatter.get(&orig) {
                    let next = self.t.rb_idx.get(&orig).map(|i| i.next);
                    self.notice(
                        "BackscatterSeen",
                        AlertKind::Scanner,
                        orig,
                        None,
                        e.first,
                        now,
                        c.frame,
                        vec![
                            ("distinct_backscatter_peers", n as i64),
                            ("threshold", passed(&self.cfg.report_backscatter, next)),
                        ],
                        e.order.clone(),
                        e.frames.clone(),
                        e.counted.clone(),
                        format!(
                            "backscatter seen from {orig} ({n} hosts; {})",
                            port_str(rev_service)
                        ),
                        out,
                    );
                }
            }
        }
        let it = self.cfg.ignore_scanners_threshold;
        let size = self
            .t
            .backscatter
            .get(&orig)
            .map_or(0, |e| e.items.len() as u64);
        if it > 0 && size > it {
            self.ignore_addr(orig, now);
        }
    }

    fn address_scan(
        &mut self,
        c: &Call,
        orig: Ipv4Addr,
        resp: Ipv4Addr,
        service: u16,
        outbound: bool,
        out: &mut Vec<Alert>,
    ) {
        let now = c.time;
        let trigger = self.cfg.addr_scan_trigger;
        if !self.t.peers.contains_key(&orig) && trigger > 0 {
            self.touch_deadline(now);
            let pre = self
                .t
                .pre_peers
                .entry(orig)
                .or_insert_with(|| Entry::new(now));
            pre.last = now;
            pre.items.insert(resp);
            if (pre.items.len() as u64) < trigger {
                return;
            }
        }
        self.touch_deadline(now);
        let e = self.t.peers.entry(orig).or_insert_with(|| Entry::new(now));
        e.last = now;
        if e.items.insert(resp) {
            e.note(Some(service), c.frame, format!("host {resp}"));
        }
        let n = e.items.len() as u64;
        let neighbor = in_nets(&self.cfg.neighbor_nets, orig);
        if !self.t.shut_down.contains(&orig)
            && n >= self.cfg.shut_down_thresh
            && !outbound
            && !neighbor
        {
            self.t.shut_down.insert(orig);
            if let Some(e) = self.t.peers.get(&orig) {
                self.notice(
                    "ShutdownThresh",
                    AlertKind::PortSweep,
                    orig,
                    None,
                    e.first,
                    now,
                    c.frame,
                    vec![
                        ("distinct_peers", n as i64),
                        ("shut_down_thresh", self.cfg.shut_down_thresh as i64),
                    ],
                    vec![service],
                    e.frames.clone(),
                    e.counted.clone(),
                    format!("shutdown threshold reached for {orig}"),
                    out,
                );
            }
            return;
        }
        let which = if outbound {
            Vector::OutboundPeer
        } else {
            Vector::Peer
        };
        if !self.thresh_check(which, orig, n, now) {
            return;
        }
        let (v, next) = if outbound {
            (
                &self.cfg.report_outbound_peer_scan,
                self.t.rops_idx.get(&orig).map(|i| i.next),
            )
        } else {
            (
                &self.cfg.report_peer_scan,
                self.t.rps_idx.get(&orig).map(|i| i.next),
            )
        };
        let threshold = passed(v, next);
        if let Some(e) = self.t.peers.get(&orig) {
            self.notice(
                "AddressScan",
                AlertKind::PortSweep,
                orig,
                None,
                e.first,
                now,
                c.frame,
                vec![
                    ("distinct_peers", n as i64),
                    ("threshold", threshold),
                    ("outbound", i64::from(outbound)),
                ],
                e.order.clone(),
                e.frames.clone(),
                e.counted.clone(),
                format!("{orig} has scanned {n} hosts ({})", port_str(service)),
                out,
            );
        }
        let it = self.cfg.ignore_scanners_threshold;
        if it > 0 && n > it {
            self.ignore_addr(orig, now);
        }
    }

    fn port_scan(
        &mut self,
        c: &Call,
        orig: Ipv4Addr,
        resp: Ipv4Addr,
        service: u16,
        outbound: bool,
        out: &mut Vec<Alert>,
    ) {
        let now = c.time;
        // Coarse search for port-scanning candidates.
        self.touch_deadline(now);
        let e = self.t.ports.entry(orig).or_insert_with(|| Entry::new(now));
        e.last = now;
        if e.items.insert(service) {
            e.note(Some(service), c.frame, format!("port {service}"));
            if e.items.len() as u64 >= self.cfg.possible_port_scan_thresh
                && !self.t.triples.contains_key(&orig)
            {
                self.t.triples.insert(orig, BTreeMap::new());
                self.t.possible.insert(orig, now);
            }
        }

        // Low ports.
        let cfg = &self.cfg;
        if cfg.activate_priv_port_check
            && !outbound
            && service < 1024
            && !cfg.troll_skip_service.contains(&service)
        {
            let trigger = cfg.priv_scan_trigger;
            let neighbor = in_nets(&cfg.neighbor_nets, orig);
            let it = cfg.ignore_scanners_threshold;
            let e = self
                .t
                .low_ports
                .entry(orig)
                .or_insert_with(|| Entry::new(now));
            e.last = now;
            if e.items.insert(service) {
                e.note(Some(service), c.frame, format!("port {service}"));
                let n = e.items.len() as u64;
                if n == trigger && !neighbor {
                    let e = e.clone();
                    self.notice(
                        "LowPortTrolling",
                        AlertKind::PortScan,
                        orig,
                        None,
                        e.first,
                        now,
                        c.frame,
                        vec![
                            ("distinct_low_ports", n as i64),
                            ("priv_scan_trigger", trigger as i64),
                        ],
                        e.order,
                        e.frames,
                        e.counted,
                        format!("low port trolling {orig} {}", port_str(service)),
                        out,
                    );
                }
                if it > 0 && n > it {
                    self.ignore_addr(orig, now);
                }
            }
        }

        // Per-victim tracking for possible scan sources.
        let Some(last) = self.t.possible.get_mut(&orig) else {
            return;
        };
        *last = now;
        let total = self.t.ports.get(&orig).map_or(0, |e| e.items.len() as i64);
        let victims = self.t.triples.entry(orig).or_default();
        let mut added = 0;
        if !victims.contains_key(&resp) {
            added += ENTRY_COST;
        }
        let s = victims.entry(resp).or_insert_with(|| Entry::new(now));
        s.last = now;
        let new_port = s.items.insert(service);
        if new_port {
            s.note(Some(service), c.frame, format!("port {service}"));
            added += ITEM_COST + NOTE_COST;
        }
        let m = s.items.len() as u64;
        *self.t.triple_cost.entry(orig).or_default() += added;
        if !new_port {
            return;
        }
        // `thresh_check_2`.
        let it = self.cfg.ignore_scanners_threshold;
        if it > 0 && m > it {
            self.ignore_addr(orig, now);
            return;
        }
        self.note_deadline(now.saturating_add(self.cfg.idx_read_expire_us));
        let idx = self.t.rpts_idx.get(&(orig, resp)).map_or(1, |i| i.next);
        if let Some(i) = self.t.rpts_idx.get_mut(&(orig, resp)) {
            i.last = now;
        }
        let v = &self.cfg.report_port_scan;
        let Some(threshold) = idx.checked_sub(1).and_then(|i| v.get(i)) else {
            return;
        };
        if m < *threshold {
            return;
        }
        let threshold = *threshold as i64;
        let fresh = self
            .t
            .rpts_idx
            .insert(
                (orig, resp),
                Idx {
                    next: idx + 1,
                    last: now,
                },
            )
            .is_none();
        if fresh {
            *self.t.rpts_count.entry(orig).or_default() += 1;
        }
        // Only what the notice reports: cloning the whole port set on every
        // probe made a full-port scan quadratic.
        let Some((first, order, frames, counted)) = self
            .t
            .triples
            .get(&orig)
            .and_then(|v| v.get(&resp))
            .map(|e| {
                (
                    e.first,
                    e.order.clone(),
                    e.frames.clone(),
                    e.counted.clone(),
                )
            })
        else {
            return;
        };
        self.notice(
            "PortScan",
            AlertKind::PortScan,
            orig,
            Some(resp),
            first,
            now,
            c.frame,
            vec![
                ("distinct_ports_on_victim", m as i64),
                ("threshold", threshold),
                ("distinct_ports_any_host", total),
            ],
            order,
            frames,
            counted,
            format!("{orig} has scanned {m} ports of {resp}"),
            out,
        );
    }

    /// Table expiry at sweep time `now`: `&read_expire` / `&create_expire`
    /// entries idle longer than their interval go, with their expire functions.
    fn sweep(&mut self, now: i64, out: &mut Vec<Alert>) {
        let re = self.cfg.read_expire_us;
        let stale = |last: i64, iv: i64| last.saturating_add(iv) < now;
        let cfg = &self.cfg;
        let t = &mut self.t;
        // Scanners whose state shrank: charged anew below.
        let mut touched: BTreeSet<Ipv4Addr> = BTreeSet::new();
        let mut summaries = sweep_sets(
            &mut t.peers,
            now,
            re,
            ("ScanSummary", AlertKind::PortSweep, "hosts"),
            cfg.scan_summary_trigger,
            &mut touched,
        );
        summaries.extend(sweep_sets(
            &mut t.ports,
            now,
            re,
            ("PortScanSummary", AlertKind::PortScan, "ports"),
            cfg.port_summary_trigger,
            &mut touched,
        ));
        summaries.extend(sweep_sets(
            &mut t.low_ports,
            now,
            re,
            ("LowPortScanSummary", AlertKind::PortScan, "low ports"),
            cfg.lowport_summary_trigger,
            &mut touched,
        ));
        touched.extend(expire_by(&mut t.pre_peers, |e| stale(e.last, re)));
        touched.extend(expire_by(&mut t.backscatter, |e| stale(e.last, re)));
        for a in expire_by(&mut t.possible, |last| stale(*last, re)) {
            // remove_possible_source: its scan triples go with it.
            t.triples.remove(&a);
            t.triple_cost.remove(&a);
            touched.insert(a);
        }
        let ie = self.cfg.idx_read_expire_us;
        touched.extend(expire_by(&mut t.rb_idx, |i| stale(i.last, ie)));
        touched.extend(expire_by(&mut t.rps_idx, |i| stale(i.last, ie)));
        touched.extend(expire_by(&mut t.rops_idx, |i| stale(i.last, ie)));
        for (a, _) in expire_by(&mut t.rpts_idx, |i| stale(i.last, ie)) {
            if let Some(n) = t.rpts_count.get_mut(&a) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    t.rpts_count.remove(&a);
                }
            }
            touched.insert(a);
        }
        let ce = self.cfg.ignored_expire_us;
        touched.extend(expire_by(&mut t.ignored, |c| stale(*c, ce)));
        for a in touched {
            self.settle(a, None);
        }

        for s in summaries {
            let (note, kind, what) = s.note;
            let n = s.entry.items;
            self.notice(
                note,
                kind,
                s.scanner,
                None,
                s.entry.first,
                now,
                None,
                vec![("total", n as i64)],
                s.entry.order,
                s.entry.frames,
                s.entry.counted,
                format!("{} scanned a total of {n} {what}", s.scanner),
                out,
            );
        }
        self.schedule_after_sweep(now);
    }

    /// Next sweep: the first grid point after the earliest deadline left.
    fn schedule_after_sweep(&mut self, now: i64) {
        let re = self.cfg.read_expire_us;
        let ie = self.cfg.idx_read_expire_us;
        let ce = self.cfg.ignored_expire_us;
        let t = &self.t;
        let earliest = t
            .peers
            .values()
            .map(|e| e.last.saturating_add(re))
            .chain(t.ports.values().map(|e| e.last.saturating_add(re)))
            .chain(t.low_ports.values().map(|e| e.last.saturating_add(re)))
            .chain(t.pre_peers.values().map(|e| e.last.saturating_add(re)))
            .chain(t.backscatter.values().map(|e| e.last.saturating_add(re)))
            .chain(t.possible.values().map(|l| l.saturating_add(re)))
            .chain(t.rb_idx.values().map(|i| i.last.saturating_add(ie)))
            .chain(t.rps_idx.values().map(|i| i.last.saturating_add(ie)))
            .chain(t.rops_idx.values().map(|i| i.last.saturating_add(ie)))
            .chain(t.rpts_idx.values().map(|i| i.last.saturating_add(ie)))
            .chain(t.ignored.values().map(|c| c.saturating_add(ce)))
            .min();
        self.next_sweep = None;
        if let Some(d) = earliest {
            self.note_deadline(d.max(now));
        }
    }

    /// Runs the table sweeps due at or before `now`.
    fn run_sweeps(&mut self, now: i64, out: &mut Vec<Alert>) {
        while let Some(at) = self.next_sweep.filter(|at| *at <= now) {
            self.sweep(at, out);
            // Every deadline left is at or after `at`, and `note_deadline`
            // picks a grid point strictly after it, so each sweep is later
            // than the one before and this loop ends. Should that ever not
            // hold, the next grid point after `at` keeps it true.
            if self.next_sweep.is_some_and(|n| n <= at) {
                self.next_sweep = None;
                self.note_deadline(at);
            }
        }
    }

    /// Connection-tracker timers, SYN-ACK attempt timers and table sweeps due
    /// at or before `now`, in time order.
    fn run_timers(&mut self, now: i64, out: &mut Vec<Alert>) {
        if self.sweep_origin.is_none() {
            self.sweep_origin = Some(now);
        }
        let mut evs = core::mem::take(&mut self.events);
        evs.clear();
        self.flows.advance(Instant::from_micros(now), &mut evs);
        let mut i = 0;
        loop {
            let flow_t = evs.get(i).map(|e| e.time.total_micros());
            let syn_t = self.synack_timers.oldest_due(now).map(|(_, at)| at);
            let next = match (flow_t, syn_t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(t) = next else { break };
            self.run_sweeps(t, out);
            if flow_t == Some(t) {
                if let Some(ev) = evs.get(i) {
                    self.on_event(ev, out);
                }
                i += 1;
            } else {
                self.fire_synack_timer(out);
            }
        }
        self.run_sweeps(now, out);
        evs.clear();
        self.events = evs;
    }

    fn fire_synack_timer(&mut self, out: &mut Vec<Alert>) {
        let Some(at) = self.synack_timers.oldest().map(|(_, at)| at) else {
            return;
        };
        let Some((id, k)) = self.synack_timers.pop_oldest() else {
            return;
        };
        let Some(s) = self.sides.get(&k) else { return };
        let (o, r) = (s.side[0], s.side[1]);
        if s.id != id || !o.syn_ack || o.closed || o.reset || r.seen {
            return;
        }
        // AttemptTimer: originator in SYN_ACK_SENT, responder INACTIVE.
        let call = Call {
            time: at,
            frame: s.syn_ack_frame,
            view: View {
                orig: s.orig,
                resp: s.resp,
                bytes: 0,
            },
            established: false,
            reverse: false,
        };
        self.check_scan(&call, out);
    }

    fn on_event(&mut self, ev: &ConnEvent, out: &mut Vec<Alert>) {
        let c = &ev.conn;
        let view = View {
            orig: c.orig,
            resp: c.resp,
            bytes: c.orig_bytes.saturating_add(c.resp_bytes),
        };
        let call = |established: bool, reverse: bool| Call {
            time: ev.time.total_micros(),
            frame: ev.frame.or_else(|| c.frames.first().copied()),
            view,
            established,
            reverse,
        };
        use EndpointState::*;
        match ev.kind {
            ConnEventKind::Established => {
                self.check_scan(&call(true, c.orig_state == Inactive), out)
            }
            ConnEventKind::Attempt => self.check_scan(&call(false, c.orig_state == Inactive), out),
            ConnEventKind::Rejected => self.check_scan(&call(false, c.orig_state == Reset), out),
            ConnEventKind::Reset => {
                if c.orig_state == Inactive || c.resp_state == Inactive {
                    // "We never heard from one side - that looks like a scan."
                    self.check_scan(&call(view.bytes > 0, c.orig_state == Inactive), out);
                }
            }
            ConnEventKind::Removed => {
                self.sides.remove(&key(c.orig, c.resp));
            }
        }
    }

    /// Updates the side table with one TCP packet; returns the extra events
    /// (`partial_connection`, `connection_half_finished`) it raises.
    fn update_sides(&mut self, now: i64, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let Some(tcp) = pkt.tcp() else { return };
        let f = tcp.flags;
        let (src, dst) = ((pkt.src, tcp.src_port), (pkt.dst, tcp.dst_port));
        let k = key(src, dst);
        if !self.sides.contains_key(&k) {
            // Same role choice as the flow tracker (WantConnection).
            let flip = if f.syn() && !f.ack() {
                false
            } else if crate::flow::likely_server_port(tcp.src_port) {
                if crate::flow::likely_server_port(tcp.dst_port) {
                    !f.syn() && tcp.src_port < tcp.dst_port
                } else {
                    true
                }
            } else {
                false
            };
            let (orig, resp) = if flip { (dst, src) } else { (src, dst) };
            self.next_side_id += 1;
            let sides = Sides {
                id: self.next_side_id,
                orig,
                resp,
                side: [Side::default(); 2],
                syn_ack_frame: None,
            };
            self.sides
                .insert(k, sides, now, entry_cost::<Key, Sides>(0));
        }
        let attempt_delay = self.cfg.attempt_delay_us;
        let Some(s) = self.sides.touch_mut(&k, now) else {
            return;
        };
        let me = usize::from(s.orig != src);
        let peer = 1 - me;
        let peer_side = s.side[peer];
        let mut partial_conn = false;
        let mut half_finished = false;
        let mut arm = None;
        let side = &mut s.side[me];
        if !side.seen {
            side.seen = true;
            if f.rst() {
                side.reset = true;
            } else if f.fin() {
                side.closed = true;
                half_finished = !peer_side.seen;
            } else if !f.syn() {
                side.partial = true;
                partial_conn = peer_side.partial;
            } else if f.ack() && me == 0 {
                side.syn_ack = true;
                s.syn_ack_frame = Some(pkt.frame);
                if attempt_delay > 0 {
                    arm = Some((now.saturating_add(attempt_delay), s.id));
                }
            }
        } else if f.rst() && !side.reset {
            side.reset = true;
            side.partial = false;
            side.syn_ack = false;
        } else if f.fin() && !side.reset && !side.closed {
            side.closed = true;
            side.partial = false;
            side.syn_ack = false;
            half_finished = !peer_side.seen;
        }
        let view = View {
            orig: s.orig,
            resp: s.resp,
            bytes: 0,
        };
        if let Some((deadline, id)) = arm {
            let cost = entry_cost::<u64, Key>(0);
            self.synack_timers.insert(id, k, deadline, cost);
        }
        let call = |established: bool| Call {
            time: now,
            frame: Some(pkt.frame),
            view,
            established,
            reverse: false,
        };
        if partial_conn {
            self.check_scan(&call(true), out);
        }
        if half_finished {
            // "Half connections never were established, so do scan-checking here."
            self.check_scan(&call(false), out);
        }
    }
}

/// Notice name, alert kind and unit of a summary `expire_func`.
type SummaryNote = (&'static str, AlertKind, &'static str);

/// A summary raised by an expiring entry (`items` holds the set size).
struct Summary {
    note: SummaryNote,
    scanner: Ipv4Addr,
    entry: Entry<usize>,
}

/// Expires idle entries of a `table[addr] of set[...]` whose `expire_func`
/// is a summary (`scan_summary`, `port_summary`, `lowport_summary`); returns
/// the summaries to raise, and adds every expired address to `gone_to`.
fn sweep_sets<T: Ord>(
    table: &mut BTreeMap<Ipv4Addr, Entry<BTreeSet<T>>>,
    now: i64,
    expire: i64,
    note: SummaryNote,
    trigger: u64,
    gone_to: &mut BTreeSet<Ipv4Addr>,
) -> Vec<Summary> {
    let gone: Vec<Ipv4Addr> = table
        .iter()
        .filter(|(_, e)| e.last.saturating_add(expire) < now)
        .map(|(a, _)| *a)
        .collect();
    gone_to.extend(gone.iter().copied());
    let mut out = Vec::new();
    for a in gone {
        if let Some(e) = table.remove(&a) {
            let n = e.items.len();
            if n as u64 >= trigger {
                out.push(Summary {
                    note,
                    scanner: a,
                    entry: Entry {
                        first: e.first,
                        last: e.last,
                        items: n,
                        order: e.order,
                        frames: e.frames,
                        counted: e.counted,
                    },
                });
            }
        }
    }
    out
}

impl Detector for Bro1Scan {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let t = now.total_micros();
        self.run_timers(t, out);
        if pkt.protocol != proto::TCP || pkt.tcp().is_none() {
            return;
        }
        let mut evs = core::mem::take(&mut self.events);
        evs.clear();
        self.flows.observe(now, pkt, &mut evs);
        for ev in &evs {
            self.on_event(ev, out);
        }
        evs.clear();
        self.events = evs;
        self.update_sides(t, pkt, out);
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        self.run_timers(now.total_micros(), out);
    }

    fn memory(&self) -> Memory {
        self.flows.memory()
            + Memory::of(&self.sides)
            + Memory::of(&self.synack_timers)
            + Memory::of(&self.t.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const SCANNER: &str = "198.51.100.7";
    const TARGET: &str = "10.0.0.1";

    fn notes<'a>(r: &'a Run, note: &str) -> Vec<&'a Alert> {
        r.alerts
            .iter()
            .filter(|a| a.evidence.log_line.split(' ').next() == Some(note))
            .collect()
    }

    /// A closed-port probe (SYN, RST|ACK) from A to `dst:port` at `at` µs.
    fn rejected(r: &mut Run, at: i64, dst: Ipv4Addr, port: u16) {
        let a = ip(SCANNER);
        r.push(at, &tcp(a, 40000, dst, port, S));
        r.push(at + 10, &tcp(dst, port, a, 40000, RA));
    }

    fn host(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(ip("10.1.0.0")) + i)
    }

    #[test]
    fn address_scan_at_twenty_hosts_not_nineteen() {
        let mut r = Run::new(NAME);
        for i in 1..=19 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 8081);
        }
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
        rejected(&mut r, 20_000, host(20), 8081);
        assert_eq!(r.alerts.len(), 1);
        let a = &r.alerts[0];
        assert_eq!(a.kind, AlertKind::PortSweep);
        assert_eq!(a.scanner, ip(SCANNER));
        assert_eq!(a.trigger_frame, Some(39));
        assert_eq!(
            a.evidence.log_line,
            "AddressScan 198.51.100.7 has scanned 20 hosts (8081/tcp)"
        );
        assert_eq!(a.evidence.counters[0], ("distinct_peers", 20));
        assert_eq!(a.evidence.counters[1], ("threshold", 20));
        assert_eq!(a.evidence.frames.len(), 20);
        assert_eq!(a.first_seen, Instant::from_micros(1010));
    }

    #[test]
    fn each_report_step_fires_once_and_shutdown_takes_the_hundredth() {
        let mut r = Run::new(NAME);
        for i in 1..=101 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 8081);
        }
        let lines: Vec<&str> = r
            .alerts
            .iter()
            .map(|a| a.evidence.log_line.as_str())
            .collect();
        assert_eq!(
            lines,
            [
                "AddressScan 198.51.100.7 has scanned 20 hosts (8081/tcp)",
                "ShutdownThresh shutdown threshold reached for 198.51.100.7",
                // The ShutdownThresh branch skipped thresh_check at 100, so the
                // 100-host step is reported one host later.
                "AddressScan 198.51.100.7 has scanned 101 hosts (8081/tcp)",
            ]
        );
    }

    #[test]
    fn port_scan_at_the_69th_port_not_the_68th() {
        // possible_port_scan_thresh = 20 starts per-victim tracking at the 20th
        // port; report_port_scan[1] = 50 more ports makes 69.
        let mut r = Run::new(NAME);
        let t = ip(TARGET);
        for p in 0..68u16 {
            rejected(&mut r, i64::from(p) * 1000, t, 2000 + p);
        }
        assert!(notes(&r, "PortScan").is_empty());
        rejected(&mut r, 68_000, t, 2068);
        let ps = notes(&r, "PortScan");
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].victim, Some(t));
        assert_eq!(
            ps[0].evidence.log_line,
            "PortScan 198.51.100.7 has scanned 50 ports of 10.0.0.1"
        );
        assert_eq!(ps[0].evidence.counters[2], ("distinct_ports_any_host", 69));
        assert_eq!(ps[0].evidence.ports.first(), Some(&2019));
        // One victim: no address scan.
        assert!(notes(&r, "AddressScan").is_empty());
    }

    #[test]
    fn low_port_trolling_at_five_privileged_ports_skipping_troll_services() {
        let mut r = Run::new(NAME);
        let t = ip(TARGET);
        for (i, p) in [21u16, 22, 25, 80, 20, 1, 7, 9, 11].iter().enumerate() {
            rejected(&mut r, i as i64 * 1000, t, *p);
        }
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
        rejected(&mut r, 10_000, t, 13);
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(
            r.alerts[0].evidence.log_line,
            "LowPortTrolling low port trolling 198.51.100.7 13/tcp"
        );
        // Exactly at the trigger: the sixth port is silent.
        rejected(&mut r, 11_000, t, 17);
        assert_eq!(r.alerts.len(), 1);
    }

    /// A full connection with data from A to `dst:port`.
    fn success(r: &mut Run, at: i64, dst: Ipv4Addr, port: u16, sport: u16) {
        let a = ip(SCANNER);
        r.push(at, &tcp(a, sport, dst, port, S));
        r.push(at + 1, &tcp(dst, port, a, sport, SA));
        r.push(at + 2, &tcp(a, sport, dst, port, A));
        r.push(
            at + 3,
            &TcpSeg::new(a, sport, dst, port, PA).payload(b"x").bytes(),
        );
        r.push(at + 4, &tcp(a, sport, dst, port, FA));
        r.push(at + 5, &tcp(dst, port, a, sport, FA));
    }

    #[test]
    fn successful_connections_never_count_for_ports_nor_allowed_services() {
        let mut r = Run::new(NAME);
        let t = ip(TARGET);
        // 120 ports of one host: established connections never feed port scans.
        for p in 0..120u16 {
            success(&mut r, i64::from(p) * 1000, t, 3000 + p, 40000 + p);
        }
        // 30 hosts on ssh (Hot::allow_services): never peers either.
        for i in 1..=30 {
            success(&mut r, 200_000 + i64::from(i) * 1000, host(i), 22, 41000);
        }
        r.flush(3_600_000_000);
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
    }

    #[test]
    fn established_connections_to_other_services_count_as_peers() {
        // check_scan: `(! established || service !in Hot::allow_services)`.
        let mut r = Run::new(NAME);
        for i in 1..=20 {
            success(&mut r, i64::from(i) * 1000, host(i), 443, 41000);
        }
        assert_eq!(notes(&r, "AddressScan").len(), 1);
        let mut r = Run::new("bro1-scan:allow_services=0-65535");
        for i in 1..=20 {
            success(&mut r, i64::from(i) * 1000, host(i), 443, 41000);
        }
        assert!(r.alerts.is_empty());
    }

    /// A stray SYN-ACK from the balancer backend `lb:80` to `client:eph`,
    /// optionally answered by the client's RST.
    fn stray(r: &mut Run, at: i64, lb: Ipv4Addr, client: Ipv4Addr, eph: u16, rst: bool) {
        r.push(at, &tcp(lb, 80, client, eph, SA));
        if rst {
            r.push(at + 5, &tcp(client, eph, lb, 80, R));
        }
    }

    #[test]
    fn balancer_syn_acks_are_backscatter_at_twenty_hosts_not_nineteen() {
        for rst in [false, true] {
            let lb = ip("203.0.113.9");
            let mut r = Run::new(NAME);
            for i in 1..=19 {
                stray(
                    &mut r,
                    i64::from(i) * 1000,
                    lb,
                    host(i),
                    50000 + i as u16,
                    rst,
                );
            }
            r.flush(60_000_000);
            assert!(r.alerts.is_empty(), "rst={rst}: {:?}", r.alerts);
            stray(&mut r, 61_000_000, lb, host(20), 50020, rst);
            assert_eq!(r.alerts.len(), 1, "rst={rst}");
            let a = &r.alerts[0];
            assert_eq!(a.scanner, lb);
            assert_eq!(a.kind, AlertKind::Scanner);
            assert_eq!(
                a.evidence.log_line,
                "BackscatterSeen backscatter seen from 203.0.113.9 (20 hosts; 80/tcp)"
            );
            assert_eq!(a.evidence.counters[0], ("distinct_backscatter_peers", 20));
            // Far more hosts: still only the one report (report_backscatter =
            // {20}), and never an address or port scan, nor ShutdownThresh.
            for i in 21..=150 {
                stray(
                    &mut r,
                    62_000_000 + i64::from(i),
                    lb,
                    host(i),
                    50000 + i as u16,
                    rst,
                );
            }
            r.flush(300_000_000);
            assert_eq!(r.alerts.len(), 1, "rst={rst}: {:?}", r.alerts);
        }
    }

    #[test]
    fn backscatter_knobs_come_from_params() {
        let lb = ip("203.0.113.9");
        let mut r = Run::new("bro1-scan:report_backscatter=5");
        for i in 1..=5 {
            stray(&mut r, i64::from(i) * 1000, lb, host(i), 50000, false);
        }
        assert_eq!(notes(&r, "BackscatterSeen").len(), 1);
        // Port 80 no longer a backscatter port: the same flows are an address
        // scan by the balancer (reverse, established, service not allowed).
        let mut r = Run::new("bro1-scan:backscatter_ports=53");
        for i in 1..=20 {
            stray(&mut r, i64::from(i) * 1000, lb, host(i), 50000, false);
        }
        assert!(notes(&r, "BackscatterSeen").is_empty());
        let a = notes(&r, "AddressScan");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].scanner, lb);
        // A privileged destination port is never backscatter.
        let mut r = Run::new(NAME);
        for i in 1..=20 {
            stray(&mut r, i64::from(i) * 1000, lb, host(i), 1023, false);
        }
        assert!(notes(&r, "BackscatterSeen").is_empty());
    }

    #[test]
    fn thresholds_and_sites_come_from_params() {
        let mut r = Run::new("bro1-scan:report_peer_scan=3;7");
        for i in 1..=8 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 8081);
        }
        let counts: Vec<i64> = notes(&r, "AddressScan")
            .iter()
            .map(|a| a.evidence.counters[0].1)
            .collect();
        assert_eq!(counts, [3, 7]);
        // An inside source uses report_outbound_peer_scan (first step 100).
        let mut r = Run::new("bro1-scan:local_nets=198.51.100.0/24");
        for i in 1..=99 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 8081);
        }
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
        rejected(&mut r, 100_000, host(100), 8081);
        assert_eq!(notes(&r, "AddressScan").len(), 1);
        // Skipped inbound service (ident).
        let mut r = Run::new(NAME);
        for i in 1..=30 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 113);
        }
        assert!(r.alerts.is_empty());
        assert!(crate::testutil::configure(&INFO, "bro1-scan:report_port_scan=x").is_err());
        assert!(
            crate::testutil::configure(&INFO, "bro1-scan:skip_dest_server_ports=10.0.0.1").is_err()
        );
        assert!(
            crate::testutil::configure(&INFO, "bro1-scan:skip_dest_server_ports=10.0.0.1:80")
                .is_ok()
        );
    }

    #[test]
    fn tables_expire_fifteen_minutes_after_last_access() {
        // 14 min gaps keep the entry alive...
        let mut r = Run::new(NAME);
        for i in 1..=20 {
            rejected(&mut r, i64::from(i) * 840_000_000, host(i), 8081);
        }
        assert_eq!(notes(&r, "AddressScan").len(), 1);
        // ...16 min gaps expire it every time.
        let mut r = Run::new(NAME);
        for i in 1..=40 {
            rejected(&mut r, i64::from(i) * 960_000_000, host(i), 8081);
        }
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
    }

    #[test]
    fn expiring_tables_raise_summaries() {
        let mut r = Run::new(NAME);
        for i in 1..=25 {
            rejected(&mut r, i64::from(i) * 1000, host(i), 8081);
        }
        assert_eq!(r.alerts.len(), 1);
        // Idle 15 min + one sweep interval: ScanSummary (25 hosts).
        assert_eq!(r.flush(25_000 + 900_000_000), 0);
        assert_eq!(r.flush(25_000 + 920_000_000), 1);
        assert_eq!(
            r.alerts[1].evidence.log_line,
            "ScanSummary 198.51.100.7 scanned a total of 25 hosts"
        );
    }

    #[test]
    fn half_finished_and_unanswered_syn_acks_are_attempts() {
        // FIN probes (no reply): connection_half_finished.
        let mut r = Run::new(NAME);
        let a = ip(SCANNER);
        for i in 1..=20 {
            r.push(i64::from(i) * 1000, &tcp(a, 40000, host(i), 8081, F));
        }
        assert_eq!(notes(&r, "AddressScan").len(), 1);
        // SYN-ACKs from a port that is not a likely server port: no role flip,
        // attempt timer with the originator in SYN_ACK_SENT, not reversed.
        let mut r = Run::new(NAME);
        for i in 1..=20 {
            r.push(i64::from(i) * 1000, &tcp(a, 40001, host(i), 8081, SA));
        }
        assert!(r.alerts.is_empty());
        assert_eq!(r.flush(5_019_999), 0);
        assert_eq!(r.flush(5_020_000), 1);
        assert_eq!(r.alerts[0].scanner, a);
    }

    #[test]
    fn midstream_both_ways_is_a_partial_connection() {
        // partial_connection counts as established: peers only, never ports.
        let mut r = Run::new(NAME);
        let a = ip(SCANNER);
        for i in 1..=20 {
            let at = i64::from(i) * 1000;
            r.push(at, &tcp(a, 40000, host(i), 8081, A));
            r.push(at + 1, &tcp(host(i), 8081, a, 40000, A));
        }
        assert_eq!(notes(&r, "AddressScan").len(), 1);
        let mut r = Run::new(NAME);
        for p in 0..80u16 {
            let at = i64::from(p) * 1000;
            r.push(at, &tcp(a, 40000, ip(TARGET), 3000 + p, A));
            r.push(at + 1, &tcp(ip(TARGET), 3000 + p, a, 40000, A));
        }
        r.flush(1_000_000);
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
    }
}
