//! scanlogd (Solar Designer, Openwall): weighted distinct-port count per
//! source with a maximum gap between new ports.
//!
//! Source: openwall/scanlogd `scanlogd.c` (`process_packet`, `do_log`,
//! `safe_log`, `hashfunc`) and `params.h`, version 2.2.x (git 2022); man page
//! `scanlogd.8`; docs/detectors/scanlogd.md.
//!
//! # Algorithm
//!
//! State is keyed by source address only. On a TCP packet (non-fragment,
//! source not 0.0.0.0) from a known source whose entry was updated at most
//! `scan_delay_threshold` ago:
//!
//! - a port already in the entry only ORs/ANDs its flags in (no refresh);
//! - a new port on a packet carrying ACK or RST is ignored ("could be an
//!   outgoing connection");
//! - otherwise the entry is refreshed, and the port's weight (3 below 1024,
//!   else 1) is added; reaching the weight threshold (21) logs the scan once.
//!
//! A stale entry is discarded. A packet carrying ACK never creates an entry;
//! any other packet (SYN, FIN, NULL, XMAS, bare RST) does.
//!
//! State is scanlogd's own: a ring of 256 entries recycled oldest-first,
//! indexed by a 512-bucket hash table with at most 16 sources per bucket (the
//! oldest in an over-long chain is unlinked). Logging is flood-limited
//! globally: more than 5 scans each no more than 20 s after the previous one
//! logs "More possible port scans follow" once and then stays silent until a
//! 20 s pause.
//!
//! # Parameters (names lower-cased from `params.h`)
//!
//! | name | default | upstream |
//! |---|---|---|
//! | `port_weight_priv` | 3 | `PORT_WEIGHT_PRIV` (dst port < 1024) |
//! | `port_weight_high` | 1 | `PORT_WEIGHT_HIGH` |
//! | `scan_weight_threshold` | 21 | `SCAN_WEIGHT_THRESHOLD` = `SCAN_MIN_COUNT` (7) × `PORT_WEIGHT_PRIV` |
//! | `scan_delay_threshold` | 300 ticks (3 s) | `SCAN_DELAY_THRESHOLD` = `CLK_TCK * 3` |
//! | `clk_tck` | 100 | `CLK_TCK` / `sysconf(_SC_CLK_TCK)` on Linux: `times()` tick rate |
//! | `log_count_threshold` | 5 | `LOG_COUNT_THRESHOLD` |
//! | `log_delay_threshold` | 2000 ticks (20 s) | `LOG_DELAY_THRESHOLD` = `CLK_TCK * 20` |
//! | `log_max_length` | 120 | `LOG_MAX_LENGTH` = 160 − 40 |
//! | `list_size` | 256 | `LIST_SIZE` = 0x100 |
//! | `hash_max` | 16 | `HASH_MAX` = 0x10 (hash table `HASH_SIZE` = 512 is fixed) |
//! | `pcap_filter` | n | `SCANLOGD_PCAP_FILTER`: the libpcap/libnids builds drop pure ACK (0x10) and PSH/ACK (0x18) non-fragments before scanlogd sees them; the default `make linux` raw-socket build does not |
//!
//! # Log line
//!
//! `do_log` prints `"%s to %s..., %s%s%s @%s"`: `saddr[:sport]` (source port
//! only if constant), `daddr[ and others,] ports p1, p2, ` (the ports stored
//! before the triggering one), the flags as 8 letters `fsrpauxy` (FIN SYN RST
//! PSH ACK URG ECE CWR; uppercase = always set, lowercase = always clear,
//! `?` = varied), `, TOS xx` and `, TTL n` if constant, and the entry's start
//! time `%X`. Ports are dropped from the end until the line fits
//! `log_max_length`.
//!
//! # Deviations from upstream
//!
//! - Time is the packet timestamp, quantised to `clk_tck` ticks (upstream
//!   reads `times()` when the packet is processed). The `@HH:MM:SS` start time
//!   is the capture time of the entry's first packet, as UTC seconds of day
//!   (upstream: `time(NULL)` in local time).
//! - The hash function reads `s_addr` as a little-endian `u32`, as on x86.
//! - A flood-suppressed scan produces no alert (upstream logs nothing either);
//!   the single "More possible port scans follow" line is not an alert.
//! - Recycling an entry still in use, or cutting an over-long chain, counts as
//!   an eviction in [`Detector::memory`]; the table itself is upstream's.
//! - `scan_weight_threshold` and the weights are run-time parameters (upstream:
//!   compile-time); the port list holds `scan_weight_threshold − 1` ports as
//!   upstream's `SCAN_MAX_COUNT − 1`.

use core::fmt::Write as _;
use core::net::Ipv4Addr;

use crate::DetectorInfo;
use crate::params::{ConfigError, ParamSpec, Params};
use crate::view::proto;
use crate::{Alert, AlertKind, Detector, Evidence, Instant, Memory, PacketView, Rule};

/// `HASH_LOG` in `params.h`.
const HASH_LOG: u32 = 9;
/// `HASH_SIZE` = 1 << `HASH_LOG`.
const HASH_SIZE: usize = 1 << HASH_LOG;

/// Parameters, with `params.h` defaults.
static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "port_weight_priv",
        default: "3",
        help: "weight of a destination port < 1024 (params.h PORT_WEIGHT_PRIV)",
    },
    ParamSpec {
        name: "port_weight_high",
        default: "1",
        help: "weight of a destination port >= 1024 (params.h PORT_WEIGHT_HIGH)",
    },
    ParamSpec {
        name: "scan_weight_threshold",
        default: "21",
        help: "total weight that makes a scan (params.h SCAN_WEIGHT_THRESHOLD = 7 * 3)",
    },
    ParamSpec {
        name: "scan_delay_threshold",
        default: "300",
        help: "max ticks between new ports (params.h SCAN_DELAY_THRESHOLD = CLK_TCK * 3)",
    },
    ParamSpec {
        name: "clk_tck",
        default: "100",
        help: "times() ticks per second (CLK_TCK, 100 on Linux)",
    },
    ParamSpec {
        name: "log_count_threshold",
        default: "5",
        help: "scans logged in a burst before going silent (params.h LOG_COUNT_THRESHOLD)",
    },
    ParamSpec {
        name: "log_delay_threshold",
        default: "2000",
        help: "ticks between scans that keep a log burst going (params.h LOG_DELAY_THRESHOLD = CLK_TCK * 20)",
    },
    ParamSpec {
        name: "log_max_length",
        default: "120",
        help: "log line length limit (params.h LOG_MAX_LENGTH = 160 - 40)",
    },
    ParamSpec {
        name: "list_size",
        default: "256",
        help: "source entries kept, recycled oldest first (params.h LIST_SIZE = 0x100)",
    },
    ParamSpec {
        name: "hash_max",
        default: "16",
        help: "max sources per hash bucket (params.h HASH_MAX = 0x10)",
    },
    ParamSpec {
        name: "pcap_filter",
        default: "n",
        help: "apply the pcap build's filter dropping pure ACK / PSH-ACK (params.h SCANLOGD_PCAP_FILTER)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "scanlogd",
    summary: "openwall scanlogd 2.2: weighted ports per source, <= 3 s apart (scanlogd.c)",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let clk_tck = p.u64_in("clk_tck", 1, 1_000_000)?;
    Ok(Box::new(Scanlogd::new(Config {
        port_weight_priv: p.u64_in("port_weight_priv", 0, 1 << 20)? as i64,
        port_weight_high: p.u64_in("port_weight_high", 0, 1 << 20)? as i64,
        scan_weight_threshold: p.u64_in("scan_weight_threshold", 1, 1 << 20)? as i64,
        scan_delay_threshold: p.u64_in("scan_delay_threshold", 0, 1 << 40)? as i64,
        clk_tck: clk_tck as i64,
        log_count_threshold: p.u64_in("log_count_threshold", 0, 1 << 20)? as i64,
        log_delay_threshold: p.u64_in("log_delay_threshold", 0, 1 << 40)? as i64,
        log_max_length: p.u64_in("log_max_length", 0, 1 << 16)? as usize,
        list_size: p.u64_in("list_size", 1, 1 << 16)? as usize,
        hash_max: p.u64_in("hash_max", 1, 1 << 16)? as usize,
        pcap_filter: p.bool("pcap_filter")?,
    })))
}

/// scanlogd configuration (see the module table).
#[derive(Clone, Debug)]
pub struct Config {
    /// `PORT_WEIGHT_PRIV`.
    pub port_weight_priv: i64,
    /// `PORT_WEIGHT_HIGH`.
    pub port_weight_high: i64,
    /// `SCAN_WEIGHT_THRESHOLD`.
    pub scan_weight_threshold: i64,
    /// `SCAN_DELAY_THRESHOLD`, in ticks.
    pub scan_delay_threshold: i64,
    /// Ticks per second.
    pub clk_tck: i64,
    /// `LOG_COUNT_THRESHOLD`.
    pub log_count_threshold: i64,
    /// `LOG_DELAY_THRESHOLD`, in ticks.
    pub log_delay_threshold: i64,
    /// `LOG_MAX_LENGTH`.
    pub log_max_length: usize,
    /// `LIST_SIZE`.
    pub list_size: usize,
    /// `HASH_MAX`.
    pub hash_max: usize,
    /// Apply `SCANLOGD_PCAP_FILTER`.
    pub pcap_filter: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port_weight_priv: 3,
            port_weight_high: 1,
            scan_weight_threshold: 21,
            scan_delay_threshold: 300,
            clk_tck: 100,
            log_count_threshold: 5,
            log_delay_threshold: 2000,
            log_max_length: 120,
            list_size: 256,
            hash_max: 16,
            pcap_filter: false,
        }
    }
}

const HF_DADDR_CHANGING: u8 = 0x01;
const HF_SPORT_CHANGING: u8 = 0x02;
const HF_TOS_CHANGING: u8 = 0x04;
const HF_TTL_CHANGING: u8 = 0x08;

/// `struct host`: what scanlogd keeps per source.
#[derive(Clone, Debug)]
struct Host {
    next: Option<usize>,
    /// Last update, in ticks.
    timestamp: i64,
    /// Entry creation time (capture time).
    start: Instant,
    saddr: Ipv4Addr,
    daddr: Ipv4Addr,
    sport: u16,
    weight: i64,
    ports: Vec<u16>,
    tos: u8,
    ttl: u8,
    flags_or: u8,
    flags_and: u8,
    flags: u8,
    frames: Vec<u64>,
}

impl Host {
    fn unused() -> Self {
        Host {
            next: None,
            timestamp: 0,
            start: Instant::ZERO,
            saddr: Ipv4Addr::UNSPECIFIED,
            daddr: Ipv4Addr::UNSPECIFIED,
            sport: 0,
            weight: 0,
            ports: Vec::new(),
            tos: 0,
            ttl: 0,
            flags_or: 0,
            flags_and: 0,
            flags: 0,
            frames: Vec::new(),
        }
    }
}

/// The scanlogd detector.
#[derive(Debug)]
pub struct Scanlogd {
    cfg: Config,
    list: Vec<Host>,
    hash: Vec<Option<usize>>,
    index: usize,
    /// `safe_log`'s statics.
    log_last: i64,
    log_count: i64,
    /// Live entries recycled or unlinked from an over-long chain.
    evictions: u64,
}

/// True if `ports` holds `port`: upstream's linear search of the entry's
/// ports, in blocks of 8 without an early exit, which the compiler turns
/// into vector compares (`<[u16]>::contains` tests one port at a time).
fn holds_port(ports: &[u16], port: u16) -> bool {
    let mut blocks = ports.chunks_exact(8);
    let hit = blocks
        .by_ref()
        .any(|b| b.iter().fold(false, |found, p| found | (*p == port)));
    hit || blocks.remainder().contains(&port)
}

/// `hashfunc`: XOR-fold the address (as stored in memory, read little-endian) by `HASH_LOG` bits.
fn hashfunc(addr: Ipv4Addr) -> usize {
    let mut value = u32::from_le_bytes(addr.octets());
    let mut hash = 0u32;
    loop {
        hash ^= value;
        value >>= HASH_LOG;
        if value == 0 {
            break;
        }
    }
    (hash as usize) & (HASH_SIZE - 1)
}

/// The flags as scanlogd prints them.
fn flag_letters(or: u8, and: u8) -> String {
    let mut s = String::with_capacity(8);
    for (i, ch) in "fsrpauxy".chars().enumerate() {
        let mask = 1u8 << i;
        if or & mask == and & mask {
            s.push(if or & mask != 0 {
                ch.to_ascii_uppercase()
            } else {
                ch
            });
        } else {
            s.push('?');
        }
    }
    s
}

/// `%X` in the C locale, for a capture time (UTC seconds of day).
fn clock_text(t: Instant) -> String {
    let secs = t.total_micros().div_euclid(1_000_000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

impl Scanlogd {
    /// A detector with the given configuration and empty state.
    pub fn new(cfg: Config) -> Self {
        let n = cfg.list_size;
        Scanlogd {
            cfg,
            list: vec![Host::unused(); n],
            hash: vec![None; HASH_SIZE],
            index: 0,
            log_last: 0,
            log_count: 0,
            evictions: 0,
        }
    }

    fn ticks(&self, now: Instant) -> i64 {
        // Floor division keeps ticks monotonic with time even before the epoch.
        now.total_micros()
            .div_euclid(1_000_000)
            .saturating_mul(self.cfg.clk_tck)
            .saturating_add(now.total_micros().rem_euclid(1_000_000) * self.cfg.clk_tck / 1_000_000)
    }

    fn weight(&self, port: u16) -> i64 {
        if port < 1024 {
            self.cfg.port_weight_priv
        } else {
            self.cfg.port_weight_high
        }
    }

    /// Unlinks `target` from the chain starting at `head`, if present.
    fn unlink(&mut self, bucket: usize, target: usize) {
        let mut prev: Option<usize> = None;
        let mut cur = self.hash[bucket];
        while let Some(c) = cur {
            if c == target {
                let next = self.list[c].next;
                match prev {
                    Some(p) => self.list[p].next = next,
                    None => self.hash[bucket] = next,
                }
                return;
            }
            prev = Some(c);
            cur = self.list[c].next;
        }
    }

    /// `do_log`: the syslog message text.
    fn log_line(&self, h: &Host) -> String {
        let max = self.cfg.log_max_length;
        let mut limit = h.ports.len();
        loop {
            let s_saddr = if h.flags & HF_SPORT_CHANGING != 0 {
                h.saddr.to_string()
            } else {
                format!("{}:{}", h.saddr, h.sport)
            };
            let mut s_daddr = format!(
                "{}{} ports ",
                h.daddr,
                if h.flags & HF_DADDR_CHANGING != 0 {
                    " and others,"
                } else {
                    ""
                }
            );
            for (i, p) in h.ports.iter().enumerate().take(limit) {
                if s_daddr.len() >= max {
                    limit = i;
                    break;
                }
                let _ = write!(s_daddr, "{p}, ");
            }
            let s_flags = flag_letters(h.flags_or, h.flags_and);
            let s_tos = if h.flags & HF_TOS_CHANGING != 0 {
                String::new()
            } else {
                format!(", TOS {:02x}", h.tos)
            };
            let s_ttl = if h.flags & HF_TTL_CHANGING != 0 {
                String::new()
            } else {
                format!(", TTL {}", h.ttl)
            };
            let s_time = clock_text(h.start);
            let total = s_saddr.len()
                + s_daddr.len()
                + s_tos.len()
                + s_ttl.len()
                + s_time.len()
                + (4 + 5 + 8 + 2);
            if total > max && limit > 1 {
                limit -= 1;
                continue;
            }
            return format!("{s_saddr} to {s_daddr}..., {s_flags}{s_tos}{s_ttl} @{s_time}");
        }
    }

    /// `safe_log`: true if this scan is logged.
    fn safe_log(&mut self, now_ticks: i64) -> bool {
        if now_ticks.saturating_sub(self.log_last) > self.cfg.log_delay_threshold
            || now_ticks < self.log_last
        {
            self.log_count = 0;
        }
        self.log_count += 1;
        if self.log_count <= self.cfg.log_count_threshold + 1 {
            self.log_last = now_ticks;
        }
        self.log_count <= self.cfg.log_count_threshold
    }
}

impl Detector for Scanlogd {
    fn name(&self) -> &'static str {
        "scanlogd"
    }

    /// The fixed table: `list_size` hosts (each with up to
    /// `scan_weight_threshold - 1` ports and 64 frames) and the 512 buckets.
    fn memory(&self) -> Memory {
        let ports = usize::try_from(self.cfg.scan_weight_threshold).unwrap_or(0);
        let host = size_of::<Host>() + ports.min(1 << 16) * 2 + Evidence::MAX_FRAMES * 8;
        let bytes = (self.cfg.list_size * host + HASH_SIZE * size_of::<Option<usize>>()) as u64;
        Memory {
            memcap: bytes,
            peak: bytes,
            evictions: self.evictions,
        }
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        if pkt.protocol != proto::TCP {
            return;
        }
        // Fragments with a non-zero offset and short TCP headers fail the sanity check.
        let Some(tcp) = pkt.tcp() else { return };
        let addr = pkt.src;
        if addr.is_unspecified() {
            return;
        }
        let flags = tcp.flags.0;
        if self.cfg.pcap_filter && (flags == 0x10 || flags == 0x18) {
            return;
        }
        let port = tcp.dst_port;
        let hash = hashfunc(addr);

        // Look the source up, counting the chain and remembering the element
        // before the chain's tail (`last` in upstream).
        let mut count = 0usize;
        let mut last: Option<usize> = None;
        let mut current = self.hash[hash];
        while let Some(c) = current {
            if self.list[c].saddr == addr {
                break;
            }
            count += 1;
            if self.list[c].next.is_some() {
                last = Some(c);
            }
            current = self.list[c].next;
        }

        if let Some(c) = current {
            let now_t = self.ticks(now);
            let ts = self.list[c].timestamp;
            if now_t.saturating_sub(ts) <= self.cfg.scan_delay_threshold && now_t >= ts {
                let weight_add = self.weight(port);
                let threshold = self.cfg.scan_weight_threshold;
                let h = &mut self.list[c];
                if holds_port(&h.ports, port) {
                    h.flags_or |= flags;
                    h.flags_and &= flags;
                    return;
                }
                if flags & 0x14 != 0 {
                    return;
                }
                h.timestamp = now_t;
                if h.weight >= threshold {
                    return;
                }
                h.flags_or |= flags;
                h.flags_and &= flags;
                if h.daddr != pkt.dst {
                    h.flags |= HF_DADDR_CHANGING;
                }
                if h.sport != tcp.src_port {
                    h.flags |= HF_SPORT_CHANGING;
                }
                if h.tos != pkt.tos {
                    h.flags |= HF_TOS_CHANGING;
                }
                if h.ttl != pkt.ttl {
                    h.flags |= HF_TTL_CHANGING;
                }
                h.weight += weight_add;
                if h.frames.len() < Evidence::MAX_FRAMES {
                    h.frames.push(pkt.frame);
                }
                if h.weight >= threshold {
                    if self.safe_log(now_t) {
                        let h = &self.list[c];
                        let mut ev = Evidence {
                            counters: vec![
                                ("weight", h.weight),
                                ("ports", h.ports.len() as i64 + 1),
                                ("threshold", threshold),
                                ("gap_ticks", now_t.saturating_sub(ts)),
                            ],
                            ports: h.ports.clone(),
                            frames: Vec::new(),
                            log_line: self.log_line(h),
                            rule: Rule {
                                statement: format!(
                                    "scanlogd: weight {} >= scan_weight_threshold {threshold} from {}: \
                                     {} new destination ports (ports below 1024 weigh {}, others {}), \
                                     each at most scan_delay_threshold {} ticks ({} ticks/s) after \
                                     the previous one",
                                    h.weight,
                                    h.saddr,
                                    h.ports.len() + 1,
                                    self.cfg.port_weight_priv,
                                    self.cfg.port_weight_high,
                                    self.cfg.scan_delay_threshold,
                                    self.cfg.clk_tck
                                ),
                                counted: "TCP packets to a port new for the source; a new port on \
                                          a packet with ACK or RST is ignored, and only a packet \
                                          without ACK starts an entry"
                                    .into(),
                                window: Some((h.start, now)),
                                keys: Vec::new(),
                            },
                        };
                        ev.ports.push(port);
                        for f in &h.frames {
                            ev.push_frame(*f);
                        }
                        // Ports and frames are recorded together, one per new port.
                        if ev.ports.len() == h.frames.len() {
                            for (p, f) in ev.ports.iter().zip(&h.frames) {
                                ev.rule.push_port_key("", *p, *f);
                            }
                        }
                        out.push(Alert {
                            detector: "scanlogd",
                            scanner: h.saddr,
                            victim: Some(h.daddr),
                            kind: AlertKind::PortScan,
                            first_seen: h.start,
                            time: now,
                            trigger_frame: Some(pkt.frame),
                            evidence: ev,
                        });
                    }
                    return;
                }
                let cap = usize::try_from(threshold).unwrap_or(usize::MAX);
                if h.ports.len() < cap.saturating_sub(1).max(1) {
                    h.ports.push(port);
                }
                return;
            }
            // Outdated: mark unused and unlink.
            self.list[c].saddr = Ipv4Addr::UNSPECIFIED;
            self.unlink(hash, c);
            last = None;
        }

        if flags & 0x10 != 0 {
            return;
        }

        if count >= self.cfg.hash_max {
            if let Some(l) = last {
                self.list[l].next = None;
                self.evictions += 1;
            }
        }

        // Recycle the oldest list entry: unlink it from its chain first.
        let idx = self.index;
        let old = self.list[idx].saddr;
        if !old.is_unspecified() {
            self.unlink(hashfunc(old), idx);
            self.evictions += 1;
        }
        self.index += 1;
        if self.index >= self.cfg.list_size {
            self.index = 0;
        }
        let head = self.hash[hash];
        let now_t = self.ticks(now);
        let h = &mut self.list[idx];
        // The recycled entry's lists keep their room: no allocation per
        // new source once the list has gone round.
        let (mut ports, mut frames) = (std::mem::take(&mut h.ports), std::mem::take(&mut h.frames));
        ports.clear();
        ports.push(port);
        frames.clear();
        frames.push(pkt.frame);
        *h = Host {
            next: head,
            timestamp: now_t,
            start: now,
            saddr: addr,
            daddr: pkt.dst,
            sport: tcp.src_port,
            weight: 0,
            ports,
            tos: pkt.tos,
            ttl: pkt.ttl,
            flags_or: flags,
            flags_and: flags,
            flags: 0,
            frames,
        };
        h.weight = if port < 1024 {
            self.cfg.port_weight_priv
        } else {
            self.cfg.port_weight_high
        };
        self.hash[hash] = Some(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const SEC: i64 = 1_000_000;

    fn scan(run: &mut Run, ports: &[u16], gap_us: i64, flags: u8) -> usize {
        let mut n = 0;
        for (i, p) in ports.iter().enumerate() {
            n += run.push(
                i as i64 * gap_us,
                &tcp(ip("192.0.2.9"), 40000, ip("10.0.0.1"), *p, flags),
            );
        }
        n
    }

    #[test]
    fn port_search_finds_every_position_of_every_length() {
        for len in 0..=20u16 {
            let ports: Vec<u16> = (0..len).map(|i| 1000 + i).collect();
            for i in 0..len {
                assert!(holds_port(&ports, 1000 + i), "{i} of {len}");
            }
            assert!(!holds_port(&ports, 999) && !holds_port(&ports, 1000 + len));
        }
    }

    #[test]
    fn seventh_privileged_port_alerts_sixth_does_not() {
        let mut r = Run::new("scanlogd");
        assert_eq!(scan(&mut r, &[21, 22, 23, 25, 53, 80], 3 * SEC, S), 0);
        let mut r = Run::new("scanlogd");
        assert_eq!(scan(&mut r, &[21, 22, 23, 25, 53, 80, 110], 3 * SEC, S), 1);
        let a = &r.alerts[0];
        assert_eq!(a.trigger_frame, Some(6));
        assert_eq!(a.evidence.counters[0], ("weight", 21));
        assert_eq!(a.evidence.ports, vec![21, 22, 23, 25, 53, 80, 110]);
        assert_eq!(a.evidence.frames, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            a.evidence.log_line,
            "192.0.2.9:40000 to 10.0.0.1 ports 21, 22, 23, 25, 53, 80, ..., fSrpauxy, TOS 00, TTL 64 @00:00:00"
        );
    }

    #[test]
    fn twenty_one_high_ports_alert() {
        let ports: Vec<u16> = (2000..2021).collect();
        let mut r = Run::new("scanlogd");
        assert_eq!(scan(&mut r, &ports[..20], SEC, S), 0);
        let mut r = Run::new("scanlogd");
        assert_eq!(scan(&mut r, &ports, SEC, S), 1);
    }

    #[test]
    fn one_gap_over_three_seconds_resets() {
        let mut r = Run::new("scanlogd");
        let ports = [21, 22, 23, 25, 53, 80, 110];
        for (i, p) in ports.iter().enumerate() {
            // The gap before the 4th port is 3.01 s: 301 ticks > 300.
            let t = i as i64 * SEC + if i >= 3 { 10_000 + 2 * SEC } else { 0 };
            r.push(t, &tcp(ip("192.0.2.9"), 40000, ip("10.0.0.1"), *p, S));
        }
        assert!(r.alerts.is_empty());
    }

    #[test]
    fn ack_packets_never_count() {
        let mut r = Run::new("scanlogd");
        let ports: Vec<u16> = (1..=30).collect();
        assert_eq!(scan(&mut r, &ports, 1000, A), 0);
        assert_eq!(scan(&mut r, &ports, 1000, SA), 0);
        // Bare RSTs start an entry but never add ports to it.
        assert_eq!(scan(&mut r, &ports, 1000, R), 0);
    }

    #[test]
    fn fin_and_null_scans_count_with_flag_letters() {
        let mut r = Run::new("scanlogd");
        assert_eq!(scan(&mut r, &[1, 2, 3, 4, 5, 6, 7], 1000, F), 1);
        assert!(r.alerts[0].evidence.log_line.contains(", Fsrpauxy,"));
        let mut r = Run::new("scanlogd");
        for (i, p) in [1u16, 2, 3, 4, 5, 6, 7].iter().enumerate() {
            let f = if i % 2 == 0 { 0 } else { F };
            r.push(i as i64, &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), *p, f));
        }
        assert!(r.alerts[0].evidence.log_line.contains(", ?srpauxy,"));
    }

    #[test]
    fn logged_once_per_entry_and_flood_limited() {
        let mut r = Run::new("scanlogd");
        let ports: Vec<u16> = (1..=40).collect();
        assert_eq!(scan(&mut r, &ports, 1000, S), 1);
        // Ten sources scanning within a few seconds: five logged, then silence.
        let mut r = Run::new("scanlogd");
        for s in 0..10u8 {
            for p in 1..=7u16 {
                let t = i64::from(s) * 100_000 + i64::from(p);
                r.push(
                    t,
                    &tcp(Ipv4Addr::new(192, 0, 2, s + 1), 1, ip("10.0.0.1"), p, S),
                );
            }
        }
        assert_eq!(r.alerts.len(), 5);
    }

    #[test]
    fn changing_fields_are_elided_from_the_line() {
        let mut r = Run::new("scanlogd");
        for p in 1..=7u16 {
            let dst = Ipv4Addr::new(10, 0, 0, p as u8);
            let b = TcpSeg::new(ip("192.0.2.9"), 1000 + p, dst, p, S)
                .ttl_tos(40 + p as u8, 0)
                .bytes();
            r.push(i64::from(p), &b);
        }
        assert_eq!(
            r.alerts[0].evidence.log_line,
            "192.0.2.9 to 10.0.0.1 and others, ports 1, 2, 3, 4, 5, 6, ..., fSrpauxy, TOS 00 @00:00:00"
        );
    }

    #[test]
    fn state_is_bounded_and_recycled() {
        // Sources chosen to collide in one bucket: chains stay short and never loop.
        let mut s = Scanlogd::new(Config::default());
        for i in 0..5000u32 {
            let b = tcp(
                Ipv4Addr::from(i.wrapping_mul(512) + 1),
                1,
                ip("10.9.9.9"),
                80,
                S,
            );
            let v = PacketView::parse(0, &b).unwrap();
            s.observe(Instant::from_micros(i64::from(i)), &v, &mut Vec::new());
        }
        for b in 0..HASH_SIZE {
            let mut n = 0;
            let mut cur = s.hash[b];
            while let Some(c) = cur {
                n += 1;
                assert!(n <= 256, "chain loops");
                cur = s.list[c].next;
            }
        }
        assert_eq!(s.list.len(), 256);
    }

    #[test]
    fn log_line_respects_length_limit() {
        let mut r = Run::new("scanlogd");
        let ports: Vec<u16> = (60000..60021).collect();
        scan(&mut r, &ports, 1000, S);
        let line = &r.alerts[0].evidence.log_line;
        assert!(line.len() <= 120, "{line}");
        assert!(line.starts_with("192.0.2.9:40000 to 10.0.0.1 ports 60000, "));
    }
}
