//! Snort 2.9 sfPortscan (and the Snort 3 `port_scan` inspector), with the
//! stream5-like session model it depends on.
//!
//! Sources: Snort 2.9.6.2 `src/preprocessors/portscan.c` (trackers, counters,
//! thresholds, decisions), `spp_sfportscan.c` (options, defaults, alert
//! payload), `Stream5/snort_stream5_tcp.c` + `doc/README.stream5` (sessions,
//! 30 s timeout, midstream pickup), `doc/README.sfportscan`; Snort 3
//! `src/network_inspectors/port_scan/ps_detect.cc`, `ps_module.cc`,
//! `port_scan.cc`, `lua/snort_defaults.lua`, `lua/snort.lua`; docs/detectors/sfportscan.md.
//!
//! # Algorithm (portscan.c)
//! Two tracker kinds per protocol: the **scanned** tracker (key: victim; used
//! by portscan, decoy and distributed) and the **scanner** tracker (key:
//! source; used by portsweep). Each holds `connection_count` C (+1 per attempt,
//! −1 per completed handshake, floor 0), `priority_count` P (+1 per negative
//! answer: RST from the server, ICMP unreachable), `u_ip_count` I and
//! `u_port_count` Q — the number of **changes** of the other address / the
//! destination port versus the previous counted attempt, not distinct counts —
//! plus address and port ranges and up to 7 open ports.
//!
//! The window is **tumbling**: only an attempt (+1) checks it; if the packet
//! second is past `window`, the whole block (alert flag included) is zeroed and
//! `window = now + 60 | 90 | 600` s (low | medium | high). After every packet
//! the thresholds below are tested in the order portscan, decoy, portsweep,
//! distributed; a tracker that alerted stays silent until its window resets.
//!
//! TCP update with a session (stream5): (A) the session has seen only the
//! client and (`include_midstream` or not midstream) → attempt; (B) the third
//! handshake packet → −1; (C) a RST from the server on a not-established (or
//! midstream) session → P+1; (D) another server packet on a not-established
//! session (a SYN-ACK) → records the source port as open. Without a session:
//! flags exactly SYN → attempt, exactly SYN|ACK → −1, any RST → P+1 (and the
//! packet is evaluated a second time with the direction reversed), ICMP
//! unreachable → P+1. Packets of established sessions are ignored, except the
//! handshake's third packet and RSTs.
//!
//! # Thresholds (C, P, I, Q) — `portscan.c` 2.9.6, same in Snort 3 `snort_defaults.lua`
//!
//! | proto | level | portscan | decoy | portsweep | distributed |
//! |---|---|---|---|---|---|
//! | TCP | low | 0,5,25,5 | 0,15,50,30 | 0,5,5,15 | 0,15,50,15 |
//! | TCP | medium | 200,10,60,15 | 200,30,120,60 | 30,7,7,10 | 200,30,120,30 |
//! | TCP | high | 200,5,100,10 | 200,7,200,60 | 30,3,3,10 | 200,5,200,10 |
//! | UDP | low | 0,5,25,5 | 0,15,50,30 | 0,5,5,15 | 0,15,50,15 |
//! | UDP | medium | 200,10,60,15 | 200,30,120,60 | 30,5,5,20 | 200,30,120,30 |
//! | UDP | high | 200,3,100,10 | 200,7,200,60 | 30,3,3,10 | 200,3,200,10 |
//! | IP | low | 0,10,10,50 | 0,40,50,25 | 0,10,10,10 | 0,15,25,50 |
//! | IP | medium | 200,10,10,50 | 200,40,50,25 | 30,10,10,10 | 200,15,25,50 |
//! | IP | high | 200,3,3,10 | 200,7,15,5 | 30,3,3,7 | 200,3,11,10 |
//! | ICMP | low/med/high | — | — | 0,5,5,5 / 20,5,5,5 / 10,3,3,5 | — |
//!
//! Decisions: portscan `P≥ ∧ I< ∧ Q≥` (and the scanner tracker's `P≥`, when it
//! exists), filtered portscan `C≥ ∧ I< ∧ Q≥`; decoy `P≥ ∧ I≥ ∧ Q≥` (filtered
//! with C); portsweep (scanner tracker) `P≥ ∧ I≥ ∧ Q≤` (filtered with C);
//! distributed `P≥ ∧ I≤ ∧ Q≥` in Snort 2 (the `≤` looks like a bug), `I≥` plus
//! scanner `Q≤` in Snort 3. A filtered test is skipped when the level's C is 0,
//! so **low never raises a filtered alert**.
//!
//! # Parameters (upstream option names)
//!
//! | name | default | source |
//! |---|---|---|
//! | `sense_level` | `low` | `spp_sfportscan.c` default (Snort 3's shipped `snort.lua` uses medium) |
//! | `proto` | `tcp;udp` | `spp_sfportscan.c` `ParsePortscan` default; values `tcp udp icmp ip all` |
//! | `scan_type` | `all` | `spp_sfportscan.c`; values `portscan portsweep decoy_portscan distributed_portscan all` |
//! | `memcap` | 1048576 bytes | `spp_sfportscan.c` (Snort 3: 10485760) |
//! | `include_midstream` | `false` | `spp_sfportscan.c` |
//! | `detect_ack_scans` | `false` | `spp_sfportscan.c` (sets `include_midstream`) |
//! | `watch_ip`, `ignore_scanners`, `ignore_scanned` | empty | `spp_sfportscan.c` (CIDRs only, no port qualifiers) |
//! | `snort_version` | `2` | `3` switches on the §2.5 differences |
//! | `alert_all` | `false` | Snort 3 `ps_module.cc` (re-alert on every packet past the thresholds) |
//! | `tcp_session_timeout` | 30 s | `README.stream5` (`timeout` default 30) |
//! | `udp_session_timeout` | 30 s | `README.stream5` (`stream5_udp timeout` default 30) |
//!
//! # Alerts
//! Generator 122: sids 1–8 TCP, 9–16 IP, 17–24 UDP (portscan, decoy,
//! portsweep, distributed, then the four filtered variants), 25/26 ICMP
//! (filtered) sweep, 27 open port. The log line is Snort's header
//! `[**] [122:1:1] (portscan) TCP Portscan [**]`, the pseudo-packet line
//! `{PROTO:255} scanner -> victim`, then the payload (`Priority Count`,
//! `Connection Count`, `IP Count`, `Scanner IP Range` / `Scanned IP Range`,
//! `Port/Proto Count`, `Port/Proto Range`), one per line. Counters, in order:
//! `priority_count`, `connection_count`, `ip_count`, `port_count`,
//! `low_port`, `high_port`, `sid`. Open-port events (sid 27) are tagged onto a
//! portscan alert when open ports are known, and raised on their own when a new
//! open port appears on a tracker that already alerted.
//!
//! # Snort 3 differences (`snort_version=3`)
//! Decoy also needs the scanner tracker's `Q ≥ Q`; distributed uses `I ≥ I`
//! and the scanner tracker's `Q ≤ Q`; at most one scan alert per packet
//! (`ps_alert_tcp` returns on the first); IP-protocol packets count as
//! attempts with the protocol number as the "port" (`ps_tracker_update_ip`).
//!
//! # Deviations from upstream
//! - **Sessions** (stream5, approximated): created by a bare SYN (sender =
//!   client), a SYN-ACK (sender = server), or a data segment (midstream:
//!   the higher source port is the client, flag MIDSTREAM); never by a RST or a
//!   bare ACK/FIN. A midstream session counts as established once both sides
//!   have been seen **\[unverified\]**. Sessions end on RST or after the idle
//!   timeout; at most 393,216 (stream5 `max_tcp` 262,144 + `max_udp` 131,072)
//!   live at once, the least recently used is pruned first. UDP sessions: the
//!   first datagram's sender is the client.
//! - **Memcap** (approximate): each tracker costs [`TRACKER_COST`] bytes
//!   (64-bit `PS_TRACKER` ≈ 136 + `PS_HASH_KEY` ≈ 56 + `SFXHASH_NODE` ≈ 56), so
//!   the default 1 MiB holds 4,228 trackers. When full, the least recently used
//!   tracker that is not a live priority node is recycled (as
//!   `ps_tracker_free`; only the 64 least recently used are tried, Snort
//!   walks them all); if none can be, the packet gets no tracker. Our
//!   trackers also keep evidence, so [`Detector::memory`] reports what they
//!   and the sessions can really take; recycled trackers and sessions count
//!   as evictions.
//! - Counters are `i32`, not Snort's `short`: they saturate at `i32::MAX` instead of
//!   wrapping at 32,767.
//! - The ignore and watch lists take CIDRs only (no `:port` qualifiers).
//! - ICMP unreachables never match a TCP session (stream5's ICMP-to-session
//!   association is not modelled), so they always take the no-session path.

use core::net::Ipv4Addr;

use crate::DetectorInfo;
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::Lru;
use crate::view::{Transport, proto};
use crate::{Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, PacketView, Rule};

/// Approximate bytes per tracker charged against `memcap` (see deviations).
pub const TRACKER_COST: u64 = 248;
/// Session cap (stream5 `max_tcp` + `max_udp` defaults).
pub const MAX_SESSIONS: usize = 262_144 + 131_072;
/// Least recently used trackers tried when one must be recycled.
const VICTIM_SEARCH: usize = 64;
/// What one of our trackers can really hold, for the report's memcap: its
/// table and LRU entries, and the evidence (frames, ports, counted keys) a
/// Snort tracker does not keep. A fixed charge: the
/// [`crate::state::entry_cost`] of the B-tree map and stamp-keyed LRU the
/// trackers were first kept in (a 184-byte tracker with its 64 frames,
/// ports and counted keys at 48 bytes each plus 7 open ports; a 16-byte
/// stamp entry); the [`Lru`] they live in now takes less.
const TRACKER_BYTES: u64 = 4978;
/// What one stream session costs: its table and LRU entries, charged as
/// [`TRACKER_BYTES`] is (a 32-byte session; a 24-byte stamp entry).
const SESSION_BYTES: u64 = 345;
/// Open ports kept per tracker (`PS_OPEN_PORTS` 8, of which 7 are used).
const MAX_OPEN_PORTS: usize = 7;
/// Ports kept for the evidence list.
const MAX_PORTS: usize = 64;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "sense_level",
        default: "low",
        help: "low | medium | high: threshold table and window 60/90/600 s (Snort 2 default low; Snort 3 snort.lua ships medium)",
    },
    ParamSpec {
        name: "proto",
        default: "tcp;udp",
        help: "protocols to watch: tcp udp icmp ip all (`;`-separated)",
    },
    ParamSpec {
        name: "scan_type",
        default: "all",
        help: "portscan portsweep decoy_portscan distributed_portscan all (`;`-separated)",
    },
    ParamSpec {
        name: "memcap",
        default: "1048576",
        help: "bytes for trackers (spp_sfportscan.c default 1048576; each tracker ~248 bytes)",
    },
    ParamSpec {
        name: "include_midstream",
        default: "false",
        help: "count sessions picked up midstream as attempts",
    },
    ParamSpec {
        name: "detect_ack_scans",
        default: "false",
        help: "alias that turns include_midstream on",
    },
    ParamSpec {
        name: "watch_ip",
        default: "",
        help: "only packets from or to these CIDRs (`;`-separated); empty = all",
    },
    ParamSpec {
        name: "ignore_scanners",
        default: "",
        help: "never treat these CIDRs as scanners",
    },
    ParamSpec {
        name: "ignore_scanned",
        default: "",
        help: "never treat these CIDRs as scanned",
    },
    ParamSpec {
        name: "snort_version",
        default: "2",
        help: "2 (portscan.c 2.9.6) or 3 (port_scan inspector differences: ps_module.cc, snort_defaults.lua)",
    },
    ParamSpec {
        name: "alert_all",
        default: "false",
        help: "Snort 3 option: alert on every packet past the thresholds, not once per window",
    },
    ParamSpec {
        name: "tcp_session_timeout",
        default: "30",
        help: "seconds an idle TCP session lives in the stream model (README.stream5: 30)",
    },
    ParamSpec {
        name: "udp_session_timeout",
        default: "30",
        help: "seconds an idle UDP session lives in the stream model (README.stream5: 30)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "sfportscan",
    summary: "Snort 2.9 sfPortscan (+ Snort 3 port_scan switch): 5 RSTs over 5 port changes in 60 s at low",
    params: PARAMS,
    build,
};

/// Sensitivity level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SenseLevel {
    /// 60 s window, no filtered alerts.
    Low,
    /// 90 s window.
    Medium,
    /// 600 s window.
    High,
}

impl SenseLevel {
    fn interval_s(self) -> i64 {
        match self {
            SenseLevel::Low => 60,
            SenseLevel::Medium => 90,
            SenseLevel::High => 600,
        }
    }
}

const P_TCP: u8 = 1;
const P_UDP: u8 = 2;
const P_ICMP: u8 = 4;
const P_IP: u8 = 8;

const T_PORTSCAN: u8 = 1;
const T_PORTSWEEP: u8 = 2;
const T_DECOY: u8 = 4;
const T_DIST: u8 = 8;

/// sfPortscan configuration (see the module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Sensitivity.
    pub sense_level: SenseLevel,
    /// Protocol bits: 1 TCP, 2 UDP, 4 ICMP, 8 IP.
    pub protos: u8,
    /// Scan-type bits: 1 portscan, 2 portsweep, 4 decoy, 8 distributed.
    pub scan_types: u8,
    /// Tracker memory, bytes.
    pub memcap: u64,
    /// Count midstream sessions.
    pub include_midstream: bool,
    /// Watch list.
    pub watch_ip: Vec<Cidr>,
    /// Scanner ignore list.
    pub ignore_scanners: Vec<Cidr>,
    /// Scanned ignore list.
    pub ignore_scanned: Vec<Cidr>,
    /// Snort 3 behaviour.
    pub snort3: bool,
    /// Snort 3 `alert_all`.
    pub alert_all: bool,
    /// TCP session idle timeout, µs.
    pub tcp_timeout_us: i64,
    /// UDP session idle timeout, µs.
    pub udp_timeout_us: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sense_level: SenseLevel::Low,
            protos: P_TCP | P_UDP,
            scan_types: T_PORTSCAN | T_PORTSWEEP | T_DECOY | T_DIST,
            memcap: 1_048_576,
            include_midstream: false,
            watch_ip: Vec::new(),
            ignore_scanners: Vec::new(),
            ignore_scanned: Vec::new(),
            snort3: false,
            alert_all: false,
            tcp_timeout_us: 30_000_000,
            udp_timeout_us: 30_000_000,
        }
    }
}

fn bad(param: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        detector: "sfportscan".into(),
        param: param.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn words<'a>(p: &'a Params, name: &str) -> impl Iterator<Item = String> + 'a {
    p.raw(name)
        .split([';', ' ', '{', '}'])
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .into_iter()
}

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let mut protos = 0;
    for w in words(p, "proto") {
        protos |= match w.as_str() {
            "tcp" => P_TCP,
            "udp" => P_UDP,
            "icmp" => P_ICMP,
            "ip" => P_IP,
            "all" => P_TCP | P_UDP | P_ICMP | P_IP,
            _ => {
                return Err(bad(
                    "proto",
                    p.raw("proto"),
                    "expected tcp, udp, icmp, ip or all",
                ));
            }
        };
    }
    let mut scan_types = 0;
    for w in words(p, "scan_type") {
        scan_types |= match w.as_str() {
            "portscan" => T_PORTSCAN,
            "portsweep" => T_PORTSWEEP,
            "decoy_portscan" => T_DECOY,
            "distributed_portscan" => T_DIST,
            "all" => T_PORTSCAN | T_PORTSWEEP | T_DECOY | T_DIST,
            _ => {
                return Err(bad(
                    "scan_type",
                    p.raw("scan_type"),
                    "expected portscan, portsweep, decoy_portscan, distributed_portscan or all",
                ));
            }
        };
    }
    if protos == 0 || scan_types == 0 {
        return Err(bad(
            "proto",
            p.raw("proto"),
            "proto and scan_type must not be empty",
        ));
    }
    Ok(Box::new(SfPortscan::new(Config {
        sense_level: match p.choice("sense_level", &["low", "medium", "high"])? {
            0 => SenseLevel::Low,
            1 => SenseLevel::Medium,
            _ => SenseLevel::High,
        },
        protos,
        scan_types,
        // ps_init rejects a memcap below 100 trackers.
        memcap: p.u64_in("memcap", 100 * 136, 1 << 40)?,
        include_midstream: p.bool("include_midstream")? || p.bool("detect_ack_scans")?,
        watch_ip: p.cidrs("watch_ip")?,
        ignore_scanners: p.cidrs("ignore_scanners")?,
        ignore_scanned: p.cidrs("ignore_scanned")?,
        snort3: p.choice("snort_version", &["2", "3"])? == 1,
        alert_all: p.bool("alert_all")?,
        tcp_timeout_us: p.u64_in("tcp_session_timeout", 1, 1 << 30)? as i64 * 1_000_000,
        udp_timeout_us: p.u64_in("udp_session_timeout", 1, 1 << 30)? as i64 * 1_000_000,
    })))
}

/// One threshold tuple (C, P, I, Q).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Conf {
    c: i32,
    p: i32,
    i: i32,
    q: i32,
}

const fn c(c: i32, p: i32, i: i32, q: i32) -> Conf {
    Conf { c, p, i, q }
}

/// The (C, P, I, Q) tuples `portscan.c` 2.9.6 hard-codes (Snort 3's
/// `snort_defaults.lua` ships the same numbers): one row per protocol and
/// sense level (TCP, UDP, IP; low, medium, high), columns portscan, decoy,
/// portsweep, distributed. The module docs print the same table.
#[rustfmt::skip]
const THRESHOLDS: [[[i32; 4]; 4]; 9] = [
    [[0, 5, 25, 5],     [0, 15, 50, 30],    [0, 5, 5, 15],    [0, 15, 50, 15]],    // TCP low
    [[200, 10, 60, 15], [200, 30, 120, 60], [30, 7, 7, 10],   [200, 30, 120, 30]], // TCP medium
    [[200, 5, 100, 10], [200, 7, 200, 60],  [30, 3, 3, 10],   [200, 5, 200, 10]],  // TCP high
    [[0, 5, 25, 5],     [0, 15, 50, 30],    [0, 5, 5, 15],    [0, 15, 50, 15]],    // UDP low
    [[200, 10, 60, 15], [200, 30, 120, 60], [30, 5, 5, 20],   [200, 30, 120, 30]], // UDP medium
    [[200, 3, 100, 10], [200, 7, 200, 60],  [30, 3, 3, 10],   [200, 3, 200, 10]],  // UDP high
    [[0, 10, 10, 50],   [0, 40, 50, 25],    [0, 10, 10, 10],  [0, 15, 25, 50]],    // IP low
    [[200, 10, 10, 50], [200, 40, 50, 25],  [30, 10, 10, 10], [200, 15, 25, 50]],  // IP medium
    [[200, 3, 3, 10],   [200, 7, 15, 5],    [30, 3, 3, 7],    [200, 3, 11, 10]],   // IP high
];

/// The ICMP sweep tuples (low, medium, high): ICMP has no other scan type.
const ICMP_SWEEP: [[i32; 4]; 3] = [[0, 5, 5, 5], [20, 5, 5, 5], [10, 3, 3, 5]];

/// [portscan, decoy, portsweep, distributed] for a protocol index and level.
fn table(proto_idx: usize, level: SenseLevel) -> [Conf; 4] {
    let l = level as usize;
    let conf = |[c_, p, i, q]: [i32; 4]| c(c_, p, i, q);
    match THRESHOLDS.get(proto_idx * 3 + l) {
        Some(row) => row.map(conf),
        // ICMP only has a sweep; the other slots are never read.
        None => [conf(ICMP_SWEEP[l]); 4],
    }
}

/// The rule a tracker met (`fired`: scan type and filtered; `None`: an open
/// port), with the tracker's counters against the level's thresholds.
fn rule(
    pr: &PsProto,
    proto_idx: ProtoIdx,
    (level, snort3): (SenseLevel, bool),
    (sid, msg): (u32, &str),
    fired: Option<(ScanType, bool)>,
    now: Instant,
) -> Rule {
    let level_name = match level {
        SenseLevel::Low => "low",
        SenseLevel::Medium => "medium",
        SenseLevel::High => "high",
    };
    let statement = match fired {
        None => format!(
            "Snort sfPortscan Open Port (122:27): port {} answered with a SYN-ACK on a \
             tracker that already alerted",
            pr.open_ports.last().copied().unwrap_or(0)
        ),
        Some((st, filtered)) => {
            let conf = table(proto_idx, level)[match st {
                ScanType::OneToOne => 0,
                ScanType::Decoy => 1,
                ScanType::Sweep => 2,
                ScanType::Distributed => 3,
            }];
            let ip_op = match st {
                ScanType::OneToOne => "<",
                ScanType::Distributed if !snort3 => "<=",
                _ => ">=",
            };
            let port_op = if st == ScanType::Sweep { "<=" } else { ">=" };
            let main = if filtered {
                format!(
                    "connection_count {} >= {} (attempts not answered)",
                    pr.connection_count, conf.c
                )
            } else {
                format!(
                    "priority_count {} >= {} (negative answers: RSTs, ICMP unreachables)",
                    pr.priority_count, conf.p
                )
            };
            format!(
                "Snort sfPortscan {msg} (122:{sid}), sense_level {level_name}: {main}, \
                 address changes {} {ip_op} {}, port changes {} {port_op} {}, inside one \
                 {} s window",
                pr.u_ip_count,
                conf.i,
                pr.u_port_count,
                conf.q,
                level.interval_s()
            )
        }
    };
    Rule {
        statement,
        counted: "connection attempts (a bare SYN, or a session seen from the client only) \
                  and negative answers (a RST from the server, ICMP unreachable); packets of \
                  established sessions are ignored; address and port counts are changes from \
                  the previous attempt, not distinct values"
            .into(),
        window: pr.first_seen.map(|f| (f, now)),
        keys: pr
            .counted
            .iter()
            .map(|(what, frame)| Counted {
                key: what.to_string(),
                frame: *frame,
            })
            .collect(),
    }
}

/// Protocol index of a tracker: 0 TCP, 1 UDP, 2 IP, 3 ICMP.
/// Protocol index of a tracker: 0 TCP, 1 UDP, 2 IP, 3 ICMP.
type ProtoIdx = usize;

/// Scan alert type (`PS_ALERT_*`), offset 0..8 within a protocol's sid block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanType {
    OneToOne,
    Decoy,
    Sweep,
    Distributed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AlertState {
    None,
    Generated,
    OpenPort,
    Fired(ScanType, bool),
}

/// What a tracker counted: written out only when an alert states its rule.
#[derive(Clone, Copy, Debug)]
enum Count {
    /// A connection attempt to this address and port.
    Attempt(Ipv4Addr, u16),
    /// A negative answer (a RST from the server, an ICMP unreachable).
    Negative,
}

impl core::fmt::Display for Count {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Count::Attempt(ip, port) => write!(f, "attempt {ip}:{port}"),
            Count::Negative => f.write_str("negative answer"),
        }
    }
}

#[derive(Clone, Debug)]
struct PsProto {
    connection_count: i32,
    priority_count: i32,
    u_ip_count: i32,
    u_port_count: i32,
    u_ips: Ipv4Addr,
    low_ip: Option<Ipv4Addr>,
    high_ip: Option<Ipv4Addr>,
    u_ports: u16,
    low_p: u16,
    high_p: u16,
    open_ports: Vec<u16>,
    /// Absolute expiry second; `None` before the first attempt (always expired).
    window: Option<i64>,
    alerts: AlertState,
    first_seen: Option<Instant>,
    frames: Vec<u64>,
    ports: Vec<u16>,
    /// Each counted attempt (its port) and negative answer, with its frame.
    counted: Vec<(Count, u64)>,
}

impl PsProto {
    fn new() -> Self {
        PsProto {
            connection_count: 0,
            priority_count: 0,
            u_ip_count: 0,
            u_port_count: 0,
            u_ips: Ipv4Addr::UNSPECIFIED,
            low_ip: None,
            high_ip: None,
            u_ports: 0,
            low_p: 0,
            high_p: 0,
            open_ports: Vec::new(),
            window: None,
            alerts: AlertState::None,
            first_seen: None,
            frames: Vec::new(),
            ports: Vec::new(),
            counted: Vec::new(),
        }
    }

    fn count(&mut self, what: Count, frame: u64) {
        if self.counted.len() < Evidence::MAX_FRAMES {
            self.counted.push((what, frame));
        }
    }

    /// Back to the state of a new tracker, keeping the lists' buffers.
    fn reset(&mut self) {
        let mut frames = core::mem::take(&mut self.frames);
        let mut ports = core::mem::take(&mut self.ports);
        let mut open_ports = core::mem::take(&mut self.open_ports);
        let mut counted = core::mem::take(&mut self.counted);
        frames.clear();
        ports.clear();
        open_ports.clear();
        counted.clear();
        *self = PsProto {
            frames,
            ports,
            open_ports,
            counted,
            ..PsProto::new()
        };
    }

    fn push_frame(&mut self, frame: u64) {
        if self.frames.len() < Evidence::MAX_FRAMES {
            self.frames.push(frame);
        }
    }

    /// `ps_proto_update` with `ps_cnt = +1`.
    fn attempt(&mut self, ip: Ipv4Addr, port: u16, now: Instant, interval_s: i64, frame: u64) {
        let now_s = now.total_micros().div_euclid(1_000_000);
        if self.window.is_none_or(|w| now_s > w) {
            self.reset();
            self.window = Some(now_s.saturating_add(interval_s));
            self.first_seen = Some(now);
        }
        self.connection_count = self.connection_count.saturating_add(1);
        if self.u_ips != ip {
            self.u_ip_count = self.u_ip_count.saturating_add(1);
            self.u_ips = ip;
        }
        self.low_ip = Some(self.low_ip.map_or(ip, |l| l.min(ip)));
        self.high_ip = Some(self.high_ip.map_or(ip, |h| h.max(ip)));
        if self.u_ports != port {
            self.u_port_count = self.u_port_count.saturating_add(1);
            self.u_ports = port;
        }
        if self.low_p == 0 || self.low_p > port {
            self.low_p = port;
        }
        if self.high_p == 0 || self.high_p < port {
            self.high_p = port;
        }
        if self.ports.len() < MAX_PORTS && !self.ports.contains(&port) {
            self.ports.push(port);
        }
        self.push_frame(frame);
        self.count(Count::Attempt(ip, port), frame);
    }

    fn completed(&mut self) {
        self.connection_count = (self.connection_count - 1).max(0);
    }

    fn priority(&mut self, frame: u64) {
        self.priority_count = self.priority_count.saturating_add(1);
        self.push_frame(frame);
        self.count(Count::Negative, frame);
    }

    fn open_port(&mut self, port: u16) {
        if self.open_ports.contains(&port) {
            return;
        }
        if self.open_ports.len() < MAX_OPEN_PORTS {
            self.open_ports.push(port);
            if self.alerts == AlertState::Generated {
                self.alerts = AlertState::OpenPort;
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Tracker {
    proto: PsProto,
    priority_node: bool,
}

/// (protocol index, is-scanner-tracker, address).
type TKey = (ProtoIdx, bool, Ipv4Addr);

/// A tracker's position in the table ([`Lru::position`]) for the rest of
/// one packet's work, once both of its trackers are found or made: no
/// tracker is inserted or removed until the next packet.
type TRef = u32;

/// (protocol, lower endpoint, higher endpoint).
type SKey = (u8, (Ipv4Addr, u16), (Ipv4Addr, u16));

#[derive(Clone, Debug)]
struct Session {
    client: (Ipv4Addr, u16),
    seen_client: bool,
    seen_server: bool,
    established: bool,
    midstream: bool,
    syn_ack_seen: bool,
    last: Instant,
}

/// What the stream model says about one packet.
#[derive(Clone, Copy, Debug, Default)]
struct StreamInfo {
    has_session: bool,
    from_server: bool,
    twh: bool,
    established: bool,
    seen_client: bool,
    seen_server: bool,
    midstream: bool,
}

/// The sfPortscan detector.
#[derive(Clone, Debug)]
pub struct SfPortscan {
    cfg: Config,
    /// Trackers, least recently used first (`sfxhash`'s LRU list).
    trackers: Lru<TKey, Tracker>,
    max_trackers: usize,
    /// Stream sessions, least recently used first.
    sessions: Lru<SKey, Session>,
    /// Trackers and sessions dropped to stay under their caps.
    evictions: u64,
    /// Most trackers and most sessions held at once.
    peak: (usize, usize),
}

fn skey(proto: u8, a: (Ipv4Addr, u16), b: (Ipv4Addr, u16)) -> SKey {
    if a <= b { (proto, a, b) } else { (proto, b, a) }
}

impl SfPortscan {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        let max_trackers = (cfg.memcap / TRACKER_COST).max(1) as usize;
        SfPortscan {
            cfg,
            trackers: Lru::default(),
            max_trackers,
            sessions: Lru::default(),
            evictions: 0,
            peak: (0, 0),
        }
    }

    // ---- stream model -------------------------------------------------------

    fn expire_sessions(&mut self, now: Instant) {
        while let Some((key, s)) = self.sessions.front() {
            let timeout = if key.0 == proto::TCP {
                self.cfg.tcp_timeout_us
            } else {
                self.cfg.udp_timeout_us
            };
            if now.total_micros().saturating_sub(s.last.total_micros()) <= timeout {
                break;
            }
            self.sessions.pop_front();
        }
    }

    fn insert_session(&mut self, key: SKey, s: Session) {
        if self.sessions.len() >= MAX_SESSIONS && self.sessions.pop_front().is_some() {
            self.evictions += 1;
        }
        self.sessions.insert(key, s);
        self.peak.1 = self.peak.1.max(self.sessions.len());
    }

    fn new_session(client: (Ipv4Addr, u16), now: Instant) -> Session {
        Session {
            client,
            seen_client: false,
            seen_server: false,
            established: false,
            midstream: false,
            syn_ack_seen: false,
            last: now,
        }
    }

    fn stream_tcp(&mut self, now: Instant, pkt: &PacketView<'_>) -> StreamInfo {
        let Some(t) = pkt.tcp() else {
            return StreamInfo::default();
        };
        let me = (pkt.src, t.src_port);
        let peer = (pkt.dst, t.dst_port);
        let key = skey(proto::TCP, me, peer);
        let f = t.flags;
        let Some(s) = self.sessions.touch(&key) else {
            let mut s = if f.syn() && !f.ack() && !f.rst() {
                let mut s = Self::new_session(me, now);
                s.seen_client = true;
                s
            } else if f.syn() && f.ack() && !f.rst() {
                let mut s = Self::new_session(peer, now);
                s.seen_server = true;
                s.syn_ack_seen = true;
                s
            } else if !f.syn() && !f.rst() && !t.payload.is_empty() {
                // Midstream pickup: the higher source port is the client.
                let client = if t.src_port >= t.dst_port { me } else { peer };
                let mut s = Self::new_session(client, now);
                s.midstream = true;
                if client == me {
                    s.seen_client = true;
                } else {
                    s.seen_server = true;
                }
                s
            } else {
                return StreamInfo::default();
            };
            s.last = now;
            let info = StreamInfo {
                has_session: true,
                from_server: s.client != me,
                twh: false,
                established: false,
                seen_client: s.seen_client,
                seen_server: s.seen_server,
                midstream: s.midstream,
            };
            self.insert_session(key, s);
            return info;
        };
        s.last = now;
        let from_client = s.client == me;
        let mut twh = false;
        if from_client {
            s.seen_client = true;
            if f.ack() && !f.syn() && !f.rst() && s.syn_ack_seen && !s.established {
                s.established = true;
                twh = true;
            }
        } else {
            s.seen_server = true;
            if f.syn() && f.ack() {
                s.syn_ack_seen = true;
            }
        }
        if s.midstream && s.seen_client && s.seen_server {
            s.established = true;
        }
        let info = StreamInfo {
            has_session: true,
            from_server: !from_client,
            twh,
            established: s.established,
            seen_client: s.seen_client,
            seen_server: s.seen_server,
            midstream: s.midstream,
        };
        if f.rst() {
            self.sessions.remove(&key);
        }
        info
    }

    fn stream_udp(&mut self, now: Instant, pkt: &PacketView<'_>) -> StreamInfo {
        let Some(u) = pkt.udp() else {
            return StreamInfo::default();
        };
        let me = (pkt.src, u.src_port);
        let key = skey(proto::UDP, me, (pkt.dst, u.dst_port));
        match self.sessions.touch(&key) {
            Some(s) => s.last = now,
            None => self.insert_session(key, Self::new_session(me, now)),
        }
        let from_server = self.sessions.get(&key).is_some_and(|s| s.client != me);
        StreamInfo {
            has_session: true,
            from_server,
            ..StreamInfo::default()
        }
    }

    // ---- trackers -----------------------------------------------------------

    /// `ps_tracker_get`: find or create; `None` when memcap allows no new
    /// tracker. Answers where the tracker sits and whether another was
    /// evicted to make room (a removal moves the table's last entry into the
    /// freed place, so positions found before may be stale).
    fn tracker_get(&mut self, key: TKey, now: Instant) -> Option<(TRef, bool)> {
        if let Some(i) = self.trackers.touch_position(&key) {
            return Some((i, false));
        }
        let mut evicted = false;
        if self.trackers.len() >= self.max_trackers {
            let now_s = now.total_micros().div_euclid(1_000_000);
            // ps_tracker_free: a priority node whose window is still open is
            // kept. Only the VICTIM_SEARCH least recently used are tried, so
            // a table of live priority nodes cannot make every packet walk it.
            let victim = self
                .trackers
                .iter()
                .take(VICTIM_SEARCH)
                .find(|(_, t)| !t.priority_node || t.proto.window.is_none_or(|w| w < now_s))
                .map(|(k, _)| *k)?;
            self.trackers.remove(&victim);
            self.evictions += 1;
            evicted = true;
        }
        let i = self.trackers.insert(
            key,
            Tracker {
                proto: PsProto::new(),
                priority_node: false,
            },
        );
        self.peak.0 = self.peak.0.max(self.trackers.len());
        Some((i, evicted))
    }

    fn with<F: FnOnce(&mut Tracker)>(&mut self, at: Option<TRef>, f: F) {
        if let Some(t) = at.and_then(|i| self.trackers.at_mut(i)) {
            f(t);
        }
    }

    fn in_list(list: &[Cidr], ip: Ipv4Addr) -> bool {
        list.iter().any(|c| c.contains(ip))
    }
}

/// The per-packet facts the tracker update needs.
struct Pkt<'a> {
    now: Instant,
    view: &'a PacketView<'a>,
    stream: StreamInfo,
    reverse: bool,
    proto_idx: ProtoIdx,
}

const SID_NAMES: [&str; 8] = [
    "Portscan",
    "Decoy Portscan",
    "Portsweep",
    "Distributed Portscan",
    "Filtered Portscan",
    "Filtered Decoy Portscan",
    "Filtered Portsweep",
    "Filtered Distributed Portscan",
];
const IP_NAMES: [&str; 8] = [
    "Protocol Scan",
    "Decoy Protocol Scan",
    "Protocol Sweep",
    "Distributed Protocol Scan",
    "Filtered Protocol Scan",
    "Filtered Decoy Protocol Scan",
    "Filtered Protocol Sweep",
    "Filtered Distributed Protocol Scan",
];

fn sid_and_msg(proto_idx: ProtoIdx, st: ScanType, filtered: bool) -> (u32, String) {
    let off = match st {
        ScanType::OneToOne => 0,
        ScanType::Decoy => 1,
        ScanType::Sweep => 2,
        ScanType::Distributed => 3,
    } + if filtered { 4 } else { 0 };
    match proto_idx {
        0 => (1 + off, format!("TCP {}", SID_NAMES[off as usize])),
        2 => (9 + off, format!("IP {}", IP_NAMES[off as usize])),
        1 => (17 + off, format!("UDP {}", SID_NAMES[off as usize])),
        _ => {
            if filtered {
                (26, "ICMP Filtered Sweep".into())
            } else {
                (25, "ICMP Sweep".into())
            }
        }
    }
}

impl SfPortscan {
    fn update(&mut self, p: &Pkt<'_>, scanner: Option<TRef>, scanned: Option<TRef>) {
        for k in [scanner, scanned] {
            self.with(k, |t| {
                if t.proto.alerts != AlertState::None {
                    t.proto.alerts = AlertState::Generated;
                }
            });
        }
        let iv = self.cfg.sense_level.interval_s();
        let v = p.view;
        let (now, frame) = (p.now, v.frame);
        let attempt = |s: &mut Self, port: u16| {
            s.with(scanned, |t| t.proto.attempt(v.src, port, now, iv, frame));
            s.with(scanner, |t| t.proto.attempt(v.dst, port, now, iv, frame));
        };
        let completed = |s: &mut Self| {
            s.with(scanned, |t| t.proto.completed());
            s.with(scanner, |t| t.proto.completed());
        };
        let priority = |s: &mut Self, which: [Option<TRef>; 2]| {
            for k in which {
                s.with(k, |t| {
                    t.proto.priority(frame);
                    t.priority_node = true;
                });
            }
        };
        match p.proto_idx {
            0 => {
                let st = p.stream;
                let tcp = v.tcp();
                if st.has_session {
                    let (sport, dport, rst) = tcp
                        .map(|t| (t.src_port, t.dst_port, t.flags.rst()))
                        .unwrap_or((0, 0, false));
                    if st.seen_client
                        && !st.seen_server
                        && (self.cfg.include_midstream || !st.midstream)
                    {
                        attempt(self, dport);
                    } else if st.twh {
                        completed(self);
                    } else if st.from_server && rst && (!st.established || st.midstream) {
                        priority(self, [scanned, scanner]);
                    } else if st.from_server && !st.established {
                        self.with(scanned, |t| t.proto.open_port(sport));
                        self.with(scanner, |t| {
                            if t.proto.alerts == AlertState::Generated {
                                t.proto.alerts = AlertState::OpenPort;
                            }
                        });
                    }
                } else if let Some(t) = tcp {
                    if t.flags.0 == 0x02 {
                        attempt(self, t.dst_port);
                    } else if t.flags.0 == 0x12 {
                        completed(self);
                    } else if t.flags.rst() {
                        priority(self, [scanned, scanner]);
                    }
                } else if v.icmp().is_some() {
                    priority(self, [scanned, scanner]);
                }
            }
            1 => {
                if v.icmp().is_some() {
                    priority(self, [scanned, scanner]);
                } else if let Some(u) = v.udp() {
                    if p.stream.from_server {
                        completed(self);
                    } else {
                        attempt(self, u.dst_port);
                    }
                }
            }
            3 => {
                if let Some(i) = v.icmp() {
                    match i.icmp_type {
                        8 | 13 | 15 | 17 => {
                            self.with(scanner, |t| t.proto.attempt(v.dst, 0, now, iv, frame))
                        }
                        3 => priority(self, [scanner, None]),
                        _ => {}
                    }
                }
            }
            _ => {
                if v.icmp().is_some() {
                    priority(self, [scanned, scanner]);
                } else if self.cfg.snort3 {
                    let unspec = Ipv4Addr::UNSPECIFIED;
                    let port = u16::from(v.protocol);
                    self.with(scanned, |t| t.proto.attempt(unspec, port, now, iv, frame));
                    self.with(scanner, |t| t.proto.attempt(unspec, port, now, iv, frame));
                }
            }
        }
    }

    /// `ps_alert_*`: tests the thresholds, setting `alerts` on a tracker that trips.
    fn evaluate(&mut self, proto_idx: ProtoIdx, scanner: Option<TRef>, scanned: Option<TRef>) {
        let snort3 = self.cfg.snort3;
        if self.cfg.alert_all {
            for k in [scanner, scanned] {
                self.with(k, |t| t.proto.alerts = AlertState::None);
            }
        }
        let confs = table(proto_idx, self.cfg.sense_level);
        let types = self.cfg.scan_types;
        // The scanner tracker's counts the scanned tracker's tests read
        // (no test changes them).
        let sc = scanner
            .and_then(|i| self.trackers.at(i))
            .map(|t| (t.proto.u_port_count, t.proto.priority_count));
        let fired = |me: &mut Self, at: Option<TRef>, st: ScanType| -> bool {
            let conf = match st {
                ScanType::OneToOne => confs[0],
                ScanType::Decoy => confs[1],
                ScanType::Sweep => confs[2],
                ScanType::Distributed => confs[3],
            };
            let Some(t) = at.and_then(|i| me.trackers.at_mut(i)) else {
                return false;
            };
            let pr = &mut t.proto;
            if pr.alerts != AlertState::None {
                return false;
            }
            let (ip_ok, port_ok, extra_ok): (bool, bool, bool) = match st {
                ScanType::OneToOne => (pr.u_ip_count < conf.i, pr.u_port_count >= conf.q, true),
                ScanType::Decoy => (
                    pr.u_ip_count >= conf.i,
                    pr.u_port_count >= conf.q,
                    !snort3 || sc.is_none_or(|(ports, _)| ports >= conf.q),
                ),
                ScanType::Sweep => (pr.u_ip_count >= conf.i, pr.u_port_count <= conf.q, true),
                ScanType::Distributed => {
                    if snort3 {
                        (
                            pr.u_ip_count >= conf.i,
                            pr.u_port_count >= conf.q,
                            sc.is_none_or(|(ports, _)| ports <= conf.q),
                        )
                    } else {
                        (pr.u_ip_count <= conf.i, pr.u_port_count >= conf.q, true)
                    }
                }
            };
            if pr.priority_count >= conf.p && ip_ok && port_ok && extra_ok {
                // One-to-one also wants the scanner tracker's priority, when it exists.
                let scanner_ok =
                    st != ScanType::OneToOne || sc.is_none_or(|(_, priority)| priority >= conf.p);
                if scanner_ok {
                    pr.alerts = AlertState::Fired(st, false);
                    return true;
                }
            }
            if pr.connection_count >= conf.c && conf.c != 0 && ip_ok && port_ok && extra_ok {
                pr.alerts = AlertState::Fired(st, true);
                return true;
            }
            false
        };
        if proto_idx == 3 {
            if types & T_PORTSWEEP != 0 {
                fired(self, scanner, ScanType::Sweep);
            }
            return;
        }
        // Snort 2: every one_to_* returns 0 except portsweep, so the chain
        // continues past a portscan alert; Snort 3 stops at the first alert.
        if types & T_PORTSCAN != 0 && fired(self, scanned, ScanType::OneToOne) && snort3 {
            return;
        }
        if types & T_DECOY != 0 && fired(self, scanned, ScanType::Decoy) && snort3 {
            return;
        }
        if types & T_PORTSWEEP != 0 && fired(self, scanner, ScanType::Sweep) {
            return;
        }
        if types & T_DIST != 0 {
            fired(self, scanned, ScanType::Distributed);
        }
    }

    /// The alerts a tracker's `alerts` state calls for, if any: the check
    /// runs twice per packet, the alerts rarely.
    fn report(&self, p: &Pkt<'_>, at: Option<TRef>, out: &mut Vec<Alert>) {
        let Some(t) = at.and_then(|i| self.trackers.at(i)) else {
            return;
        };
        if matches!(t.proto.alerts, AlertState::OpenPort | AlertState::Fired(..)) {
            self.write_alerts(p, &t.proto, out);
        }
    }

    #[cold]
    #[inline(never)]
    fn write_alerts(&self, p: &Pkt<'_>, pr: &PsProto, out: &mut Vec<Alert>) {
        let v = p.view;
        let (scanner_ip, victim_ip) = if p.reverse {
            (v.dst, v.src)
        } else {
            (v.src, v.dst)
        };
        let level = self.cfg.sense_level;
        let snort3 = self.cfg.snort3;
        let base = |kind: AlertKind,
                    sid: u32,
                    msg: &str,
                    sweep: bool,
                    fired: Option<(ScanType, bool)>|
         -> Alert {
            let range_ip = |o: Option<Ipv4Addr>| o.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let mut line = format!(
                "[**] [122:{sid}:1] (portscan) {msg} [**]\n{{PROTO:255}} {scanner_ip} -> {victim_ip}\n"
            );
            if sid == 27 {
                // The open-port pseudo packet's payload, as spp_sfportscan.c
                // MakeOpenPortInfo writes it: the newly seen open port.
                let port = pr.open_ports.last().copied().unwrap_or(0);
                line.push_str(&format!("Open Port: {port}"));
            } else {
                line.push_str(&format!(
                    "Priority Count: {}\nConnection Count: {}\nIP Count: {}\n{} IP Range: {}:{}\nPort/Proto Count: {}\nPort/Proto Range: {}:{}",
                    pr.priority_count,
                    pr.connection_count,
                    pr.u_ip_count,
                    if sweep { "Scanned" } else { "Scanner" },
                    range_ip(pr.low_ip),
                    range_ip(pr.high_ip),
                    pr.u_port_count,
                    pr.low_p,
                    pr.high_p
                ));
            }
            Alert {
                detector: "sfportscan",
                scanner: scanner_ip,
                victim: (!sweep).then_some(victim_ip),
                kind,
                first_seen: pr.first_seen.unwrap_or(p.now),
                time: p.now,
                trigger_frame: Some(v.frame),
                evidence: Evidence {
                    counters: vec![
                        ("priority_count", i64::from(pr.priority_count)),
                        ("connection_count", i64::from(pr.connection_count)),
                        ("ip_count", i64::from(pr.u_ip_count)),
                        ("port_count", i64::from(pr.u_port_count)),
                        ("low_port", i64::from(pr.low_p)),
                        ("high_port", i64::from(pr.high_p)),
                        ("sid", i64::from(sid)),
                    ],
                    ports: if sid == 27 {
                        pr.open_ports.clone()
                    } else {
                        pr.ports.clone()
                    },
                    frames: pr.frames.clone(),
                    log_line: line,
                    rule: rule(pr, p.proto_idx, (level, snort3), (sid, msg), fired, p.now),
                },
            }
        };
        match pr.alerts {
            AlertState::OpenPort => {
                out.push(base(AlertKind::OpenPort, 27, "Open Port", false, None))
            }
            AlertState::Fired(st, filtered) => {
                let (sid, msg) = sid_and_msg(p.proto_idx, st, filtered);
                let kind = match (st, p.proto_idx) {
                    (ScanType::Sweep, 3) => AlertKind::AddressSweep,
                    (ScanType::OneToOne, _) => AlertKind::PortScan,
                    (ScanType::Decoy, _) => AlertKind::DecoyPortScan,
                    (ScanType::Sweep, _) => AlertKind::PortSweep,
                    (ScanType::Distributed, _) => AlertKind::DistributedPortScan,
                };
                let sweep = st == ScanType::Sweep;
                out.push(base(kind, sid, &msg, sweep, Some((st, filtered))));
                if !pr.open_ports.is_empty() && !sweep {
                    out.push(base(AlertKind::OpenPort, 27, "Open Port", false, None));
                }
            }
            AlertState::None | AlertState::Generated => {}
        }
    }
}

impl Detector for SfPortscan {
    fn name(&self) -> &'static str {
        "sfportscan"
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        self.expire_sessions(now);
        // Stream runs first, on every packet (Snort's preprocessor order).
        let stream = match &pkt.transport {
            Transport::Tcp(_) => self.stream_tcp(now, pkt),
            Transport::Udp(_) => self.stream_udp(now, pkt),
            _ => StreamInfo::default(),
        };
        let cfg = &self.cfg;
        // ps_filter_ignore.
        let icmp = pkt.icmp().copied();
        let unreach = icmp.is_some_and(|i| i.is_unreachable());
        match &pkt.transport {
            Transport::Tcp(t) => {
                if cfg.protos & P_TCP == 0 || (stream.established && !stream.twh && !t.flags.rst())
                {
                    return;
                }
            }
            Transport::Udp(_) => {
                if cfg.protos & P_UDP == 0 {
                    return;
                }
            }
            Transport::Icmp(_) => {
                if !unreach && cfg.protos & P_ICMP == 0 {
                    return;
                }
            }
            _ => {
                if cfg.protos & P_IP == 0 {
                    return;
                }
            }
        }
        let mut reverse = stream.from_server || unreach;
        let (a, b) = if reverse {
            (pkt.dst, pkt.src)
        } else {
            (pkt.src, pkt.dst)
        };
        if Self::in_list(&cfg.ignore_scanners, a) || Self::in_list(&cfg.ignore_scanned, b) {
            return;
        }
        if !cfg.watch_ip.is_empty()
            && !Self::in_list(&cfg.watch_ip, pkt.src)
            && !Self::in_list(&cfg.watch_ip, pkt.dst)
        {
            return;
        }
        // ps_get_proto.
        let quoted = icmp.and_then(|i| i.quoted.map(|q| (i.code, q.protocol)));
        let proto_idx: ProtoIdx = match (&pkt.transport, quoted) {
            (Transport::Tcp(_), _) if cfg.protos & P_TCP != 0 => 0,
            (Transport::Icmp(_), Some((3 | 13, proto::TCP)))
                if unreach && cfg.protos & P_TCP != 0 =>
            {
                0
            }
            (Transport::Udp(_), _) if cfg.protos & P_UDP != 0 => 1,
            (Transport::Icmp(_), Some((3 | 13, proto::UDP)))
                if unreach && cfg.protos & P_UDP != 0 =>
            {
                1
            }
            (Transport::Icmp(_), _)
                if cfg.protos & P_IP != 0
                    && unreach
                    && icmp.is_some_and(|i| matches!(i.code, 2 | 13)) =>
            {
                2
            }
            (Transport::Icmp(_), _) if cfg.protos & P_ICMP != 0 => 3,
            (Transport::Icmp(_), _) => return,
            _ if cfg.protos & P_IP != 0 => 2,
            _ => return,
        };
        let types = cfg.scan_types;
        let no_session_rst = pkt.tcp().is_some_and(|t| t.flags.rst()) && !stream.has_session;
        let mut last: (Option<TRef>, Option<TRef>, bool) = (None, None, reverse);
        for _pass in 0..2 {
            let (scanner_ip, scanned_ip) = if reverse {
                (pkt.dst, pkt.src)
            } else {
                (pkt.src, pkt.dst)
            };
            let scanned_key = (proto_idx, false, scanned_ip);
            let scanned = if types & (T_PORTSCAN | T_DECOY | T_DIST) != 0 {
                self.tracker_get(scanned_key, now)
            } else {
                None
            };
            let scanner = if types & T_PORTSWEEP != 0 {
                self.tracker_get((proto_idx, true, scanner_ip), now)
            } else {
                None
            };
            if scanner.is_none() && scanned.is_none() {
                return;
            }
            // Both exist now; finding the second moved the first if it
            // evicted a tracker.
            let scanned = match (scanned, scanner) {
                (Some(_), Some((_, true))) => self.trackers.position(&scanned_key),
                (s, _) => s.map(|(i, _)| i),
            };
            let scanner = scanner.map(|(i, _)| i);
            let p = Pkt {
                now,
                view: pkt,
                stream,
                reverse,
                proto_idx,
            };
            self.update(&p, scanner, scanned);
            self.evaluate(proto_idx, scanner, scanned);
            last = (scanner, scanned, reverse);
            // portscan.c: a RST without a session is evaluated once more, reversed.
            if no_session_rst && !reverse {
                reverse = true;
            } else {
                break;
            }
        }
        let p = Pkt {
            now,
            view: pkt,
            stream,
            reverse: last.2,
            proto_idx,
        };
        self.report(&p, last.0, out);
        self.report(&p, last.1, out);
    }

    fn flush(&mut self, now: Instant, _out: &mut Vec<Alert>) {
        self.expire_sessions(now);
    }

    /// Trackers at what ours really take (the `memcap` parameter counts
    /// Snort's 248 bytes each), plus the stream sessions.
    fn memory(&self) -> Memory {
        let trackers = self.max_trackers as u64;
        Memory {
            memcap: trackers * TRACKER_BYTES + MAX_SESSIONS as u64 * SESSION_BYTES,
            peak: self.peak.0 as u64 * TRACKER_BYTES + self.peak.1 as u64 * SESSION_BYTES,
            evictions: self.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{A, FA, PA, R, RA, Run, S, SA, TcpSeg, icmp_echo, ip, tcp, udp};

    const SEC: i64 = 1_000_000;

    /// Scanner 192.0.2.66 SYN-probes 10.0.0.1 on `ports`, closed ports answer RST-ACK.
    fn closed_scan(r: &mut Run, t0: i64, gap: i64, ports: &[u16]) {
        let (a, t) = (ip("192.0.2.66"), ip("10.0.0.1"));
        for (i, p) in ports.iter().enumerate() {
            let at = t0 + i as i64 * gap;
            r.push(at, &tcp(a, 45000, t, *p, S));
            r.push(at + 100, &tcp(t, *p, a, 45000, RA));
        }
    }

    #[test]
    fn low_alerts_after_five_rsts_with_five_port_changes() {
        let mut r = Run::new("sfportscan");
        closed_scan(&mut r, 0, SEC, &[21, 22, 23, 25]);
        assert!(r.alerts.is_empty(), "4 RSTs: below P=5");
        closed_scan(&mut r, 4 * SEC, SEC, &[80]);
        assert_eq!(r.alerts.len(), 1);
        let a = &r.alerts[0];
        assert_eq!(a.kind, AlertKind::PortScan);
        assert_eq!(a.scanner, ip("192.0.2.66"));
        assert_eq!(a.victim, Some(ip("10.0.0.1")));
        assert_eq!(a.trigger_frame, Some(9));
        assert_eq!(a.first_seen, Instant::from_micros(0));
        assert_eq!(
            a.evidence.log_line,
            "[**] [122:1:1] (portscan) TCP Portscan [**]\n{PROTO:255} 192.0.2.66 -> 10.0.0.1\n\
             Priority Count: 5\nConnection Count: 5\nIP Count: 1\n\
             Scanner IP Range: 192.0.2.66:192.0.2.66\nPort/Proto Count: 5\nPort/Proto Range: 21:80"
        );
        assert_eq!(a.evidence.ports, vec![21, 22, 23, 25, 80]);
        // One alert per window.
        closed_scan(&mut r, 5 * SEC, SEC, &[81, 82, 83, 84, 85, 86]);
        assert_eq!(r.alerts.len(), 1);
    }

    #[test]
    fn same_port_rsts_or_a_spread_scan_do_not_alert() {
        let mut r = Run::new("sfportscan");
        closed_scan(&mut r, 0, SEC, &[80; 10]);
        assert!(r.alerts.is_empty(), "Q stays 1");
        // T1 borderline: 5 probes 15 s apart end at second 60, still inside the
        // window (`now > window` resets, so second 60 belongs to it); 16 s apart do not.
        let mut r = Run::new("sfportscan");
        closed_scan(&mut r, 0, 15 * SEC, &[1, 2, 3, 4, 5]);
        assert_eq!(r.alerts.len(), 1);
        let mut r = Run::new("sfportscan");
        closed_scan(&mut r, 0, 16 * SEC, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(r.alerts.is_empty());
        // ... but fit in the high window (needs 10 port changes at high: use 12 probes).
        let mut r = Run::new("sfportscan:sense_level=high");
        closed_scan(&mut r, 0, 15 * SEC, &(1..=12).collect::<Vec<_>>());
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].evidence.counters[0], ("priority_count", 9));
    }

    #[test]
    fn syn_ack_backscatter_never_alerts() {
        // S1: R:80 sends stray SYN-ACKs to C's ephemeral ports; C answers bare RSTs.
        for level in ["low", "medium", "high"] {
            let mut r = Run::new(&format!("sfportscan:sense_level={level}"));
            let (real, client) = (ip("10.9.0.5"), ip("192.168.1.20"));
            for i in 0..300u16 {
                let t = i64::from(i) * 10_000;
                r.push(t, &tcp(real, 80, client, 40000 + i, SA));
                r.push(t + 50, &tcp(client, 40000 + i, real, 80, R));
            }
            assert!(
                r.alerts.is_empty(),
                "{level}: {:?}",
                r.alerts.first().map(|a| &a.evidence.log_line)
            );
        }
    }

    #[test]
    fn late_segments_without_session_do_not_alert() {
        // S2: ACK / PSH-ACK / FIN-ACK / RST of connections the sensor never saw.
        for spec in [
            "sfportscan",
            "sfportscan:include_midstream=true,sense_level=high",
        ] {
            let mut r = Run::new(spec);
            let (srv, cli) = (ip("10.0.0.80"), ip("192.168.1.9"));
            for i in 0..100u16 {
                let t = i64::from(i) * SEC;
                let port = 50000 + i;
                r.push(
                    t,
                    &TcpSeg::new(srv, 443, cli, port, PA)
                        .payload(b"data")
                        .bytes(),
                );
                r.push(t + 1, &tcp(cli, port, srv, 443, A));
                r.push(t + 2, &tcp(srv, 443, cli, port, FA));
                r.push(t + 3, &tcp(cli, port, srv, 443, R));
            }
            assert!(r.alerts.is_empty(), "{spec}");
        }
    }

    #[test]
    fn poller_nets_to_zero() {
        let mut r = Run::new("sfportscan:sense_level=high");
        let (c, s) = (ip("192.168.1.9"), ip("10.0.0.80"));
        for i in 0..300u16 {
            let t = i64::from(i) * SEC;
            let p = 40000 + i;
            r.push(t, &tcp(c, p, s, 443, S));
            r.push(t + 1, &tcp(s, 443, c, p, SA));
            r.push(t + 2, &tcp(c, p, s, 443, A));
            r.push(
                t + 3,
                &TcpSeg::new(c, p, s, 443, PA).payload(b"GET").bytes(),
            );
            r.push(t + 4, &tcp(c, p, s, 443, FA));
        }
        assert!(r.alerts.is_empty());
    }

    fn filtered_scan(spec: &str, n: u16, gap: i64) -> Vec<Alert> {
        let mut r = Run::new(spec);
        let (a, t) = (ip("192.0.2.66"), ip("10.0.0.1"));
        for i in 0..n {
            r.push(i64::from(i) * gap, &tcp(a, 45000, t, 1 + i, S));
        }
        r.alerts
    }

    #[test]
    fn medium_filtered_needs_200_attempts_in_90s() {
        assert!(
            filtered_scan("sfportscan", 1000, 10_000).is_empty(),
            "low: never filtered"
        );
        assert!(filtered_scan("sfportscan:sense_level=medium", 199, 10_000).is_empty());
        let a = filtered_scan("sfportscan:sense_level=medium", 200, 10_000);
        assert_eq!(a.len(), 1);
        assert!(
            a[0].evidence
                .log_line
                .starts_with("[**] [122:5:1] (portscan) TCP Filtered Portscan [**]")
        );
        assert_eq!(a[0].evidence.counters[1], ("connection_count", 200));
        // 200 attempts spread over 100 s: the window resets at 90 s.
        assert!(filtered_scan("sfportscan:sense_level=medium", 200, SEC / 2).is_empty());
    }

    #[test]
    fn open_port_is_tagged_onto_the_portscan() {
        let mut r = Run::new("sfportscan");
        let (a, t) = (ip("192.0.2.66"), ip("10.0.0.1"));
        r.push(0, &tcp(a, 45000, t, 22, S));
        r.push(1, &tcp(t, 22, a, 45000, SA));
        r.push(2, &tcp(a, 45000, t, 22, R));
        closed_scan(&mut r, 10, 1000, &[1, 2, 3, 4, 5]);
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(r.alerts[1].kind, AlertKind::OpenPort);
        assert!(r.alerts[1].evidence.log_line.ends_with("\nOpen Port: 22"));
        assert_eq!(r.alerts[1].evidence.ports, vec![22]);
    }

    #[test]
    fn portsweep_and_icmp_sweep() {
        // Low TCP sweep: P>=5, I>=5, Q<=15: RSTs from 5 hosts on port 80.
        let mut r = Run::new("sfportscan");
        let a = ip("192.0.2.66");
        for i in 1..=5u8 {
            let t = Ipv4Addr::new(10, 0, 0, i);
            r.push(i64::from(i) * 1000, &tcp(a, 45000, t, 80, S));
            r.push(i64::from(i) * 1000 + 1, &tcp(t, 80, a, 45000, RA));
        }
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].kind, AlertKind::PortSweep);
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .contains("Scanned IP Range: 10.0.0.1:10.0.0.5")
        );
        // ICMP filtered sweep at medium: 20 echo requests to 5+ hosts.
        let mut r = Run::new("sfportscan:proto=icmp,sense_level=medium");
        for i in 0..20u8 {
            r.push(i64::from(i), &icmp_echo(a, Ipv4Addr::new(10, 0, 1, i)));
        }
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].kind, AlertKind::AddressSweep);
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .contains("[122:26:1] (portscan) ICMP Filtered Sweep")
        );
    }

    #[test]
    fn udp_scan_with_port_unreachables() {
        let mut r = Run::new("sfportscan");
        let (a, t) = (ip("192.0.2.66"), ip("10.0.0.1"));
        for p in 1..=5u16 {
            let probe = udp(a, 45000, t, p, b"");
            r.push(i64::from(p) * 1000, &probe);
            r.push(
                i64::from(p) * 1000 + 1,
                &crate::testutil::icmp_unreach(t, a, 3, &probe),
            );
        }
        assert_eq!(r.alerts.len(), 1);
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .contains("[122:17:1] (portscan) UDP Portscan")
        );
    }

    #[test]
    fn ignore_lists_and_proto_switch() {
        let mut r = Run::new("sfportscan:ignore_scanners=192.0.2.0/24");
        closed_scan(&mut r, 0, 1000, &[1, 2, 3, 4, 5, 6]);
        assert!(r.alerts.is_empty());
        let mut r = Run::new("sfportscan:ignore_scanned=10.0.0.1");
        closed_scan(&mut r, 0, 1000, &[1, 2, 3, 4, 5, 6]);
        assert!(r.alerts.is_empty());
        let mut r = Run::new("sfportscan:proto=udp");
        closed_scan(&mut r, 0, 1000, &[1, 2, 3, 4, 5, 6]);
        assert!(r.alerts.is_empty());
        let mut r = Run::new("sfportscan:watch_ip=10.0.0.0/8,snort_version=3");
        closed_scan(&mut r, 0, 1000, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(r.alerts.len(), 1);
        assert!(crate::testutil::configure(&INFO, "sfportscan:proto=foo").is_err());
        assert!(crate::testutil::configure(&INFO, "sfportscan:memcap=100").is_err());
    }

    #[test]
    fn memcap_bounds_trackers() {
        let mut d = SfPortscan::new(Config {
            memcap: 100 * TRACKER_COST,
            ..Config::default()
        });
        let mut out = Vec::new();
        for i in 0..5000u32 {
            let b = tcp(
                ip("192.0.2.1"),
                1000,
                Ipv4Addr::from(0x0a00_0000 + i),
                80,
                S,
            );
            let v = PacketView::parse(u64::from(i), &b).unwrap();
            d.observe(Instant::from_micros(i64::from(i)), &v, &mut out);
        }
        assert!(d.trackers.len() <= 100);
        assert!(d.sessions.len() <= MAX_SESSIONS);
        d.flush(Instant::from_micros(3600 * SEC), &mut out);
        assert!(d.sessions.is_empty(), "sessions expire after 30 s");
    }
}
