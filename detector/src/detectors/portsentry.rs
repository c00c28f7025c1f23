//! PortSentry in stealth mode (Psionic PortSentry 1.2 `-stcp`/`-sudp`, and the
//! 2.x rewrite's pcap mode).
//!
//! Sources: portsentry/portsentry: the v1.2 import (`portsentry.c`:
//! `PortSentryStealthModeTCP/UDP`, `CheckStateEngine`, `ReportPacketType`;
//! `portsentry_config.h`: `MAXSTATE`), and 2.x (`src/sentry_pcap.c`,
//! `src/state_machine.c`, `docs/portsentry.conf.md`, `examples/portsentry.conf`);
//! distilled in DETECTORS.md §7.1.
//!
//! # Algorithm
//! - A TCP packet with **ACK or RST** is discarded ("to weed out established
//!   connections", 1.2). Any other TCP packet (SYN, FIN, NULL, XMAS, ...) to a
//!   watched TCP port, and any UDP datagram to a watched UDP port, is a hit.
//! - A hit on a port that is in use (has a local listener) is ignored.
//! - `CheckStateEngine`: with `scan_trigger` 0 every hit alerts at once.
//!   Otherwise the source's hit counter must exceed `scan_trigger` (the first
//!   hit counts 1). Sources live in a ring of `MAXSTATE` = 50 slots (1.2);
//!   a new source overwrites the oldest slot. There is no time window.
//! - Every hit that passes logs one line, so every such hit is one alert.
//!
//! # Parameters
//!
//! | name | default | source |
//! |---|---|---|
//! | `tcp_ports` | `1,7,9,11,13,15,17,19,20,21,70,79,111,113,119,389,512-515,540,543-544,873,989,990,992,1080` | 2.x `examples/portsentry.conf` `TCP_PORTS` |
//! | `udp_ports` | `7,9,13,19,111,389,513,517-518` | 2.x `examples/portsentry.conf` `UDP_PORTS` |
//! | `scan_trigger` | 0 | `SCAN_TRIGGER` default ("react immediately") |
//! | `watch_hosts` | empty = any destination | the host PortSentry runs on (a capture may hold many) |
//! | `ignore` | `127.0.0.1/32;0.0.0.0/32` | `portsentry.ignore` shipped entries |
//! | `max_state` | 50 | 1.2 `portsentry_config.h` `MAXSTATE` |
//!
//! # Alerts
//! Kind [`AlertKind::Scanner`]. Log line in the 2.x format:
//! `Scan from: [ip] (ip) protocol: [TCP] port: [p] type: [TCP SYN/Normal scan] IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]`
//! (reverse DNS off, so the host name is the address; the flag fields are
//! **\[unverified\]** in detail). Type names from 1.2 `ReportPacketType`:
//! `TCP SYN/Normal scan`, `TCP FIN scan`, `TCP NULL scan`, `TCP XMAS scan`,
//! else `Unknown Type: TCP Packet Flags: SYN: s FIN: f ACK: a PSH: p URG: u RST: r`;
//! UDP hits are `UDP scan`. Counters: `hits`, `port`, `scan_trigger`.
//!
//! # Deviations from upstream
//! - **In-use ports.** PortSentry skips ports with a local listener. A capture
//!   shows no listeners, so a (host, port) counts as in use once that host has
//!   sent a SYN-ACK from it (for UDP: once it has sent a datagram from it). A
//!   port whose first probe arrives before any such reply still alerts, as the
//!   real tool would if the service started later. At most [`MAX_IN_USE`]
//!   such (host, port) pairs are remembered.
//! - No blocking (`BLOCK_TCP`/`BLOCK_UDP` 0, the 2.x default), so a blocked
//!   scanner's later hits still alert; 1.2 with blocking on would ignore them.
//! - 1.2 "advanced stealth" mode (all ports below 1024) is not modelled.
//! - A source found in the state ring through an index (upstream scans the
//!   50 slots); a slot taken over by a new source, or a listener not
//!   remembered at [`MAX_IN_USE`], counts as an eviction.

use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};

use crate::DetectorInfo;
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::entry_cost;
use crate::view::Transport;
use crate::{Alert, AlertKind, Detector, Evidence, Instant, Memory, PacketView, Rule};

/// Cap on remembered in-use (host, port) pairs.
pub const MAX_IN_USE: usize = 1 << 16;

/// 2.x `examples/portsentry.conf` `TCP_PORTS`.
pub const DEFAULT_TCP_PORTS: &str =
    "1,7,9,11,13,15,17,19,20,21,70,79,111,113,119,389,512-515,540,543-544,873,989,990,992,1080";
/// 2.x `examples/portsentry.conf` `UDP_PORTS`.
pub const DEFAULT_UDP_PORTS: &str = "7,9,13,19,111,389,513,517-518";

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "tcp_ports",
        default: DEFAULT_TCP_PORTS,
        help: "watched TCP ports (2.x examples/portsentry.conf TCP_PORTS)",
    },
    ParamSpec {
        name: "udp_ports",
        default: DEFAULT_UDP_PORTS,
        help: "watched UDP ports (2.x examples/portsentry.conf UDP_PORTS)",
    },
    ParamSpec {
        name: "scan_trigger",
        default: "0",
        help: "hits allowed before alerting; 0 reacts on the first (SCAN_TRIGGER)",
    },
    ParamSpec {
        name: "watch_hosts",
        default: "",
        help: "destinations PortSentry runs on (CIDRs, `;`-separated); empty = any",
    },
    ParamSpec {
        name: "ignore",
        default: "127.0.0.1/32;0.0.0.0/32",
        help: "sources never reported (portsentry.ignore)",
    },
    ParamSpec {
        name: "max_state",
        default: "50",
        help: "sources remembered by the trigger state engine (1.2 MAXSTATE)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "portsentry",
    summary: "PortSentry stealth mode: any non-ACK/RST TCP or UDP packet to a watched unused port alerts (SCAN_TRIGGER 0)",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    Ok(Box::new(PortSentry::new(Config {
        tcp_ports: p.ports("tcp_ports")?.into_iter().collect(),
        udp_ports: p.ports("udp_ports")?.into_iter().collect(),
        scan_trigger: p.u64_in("scan_trigger", 0, u64::from(u32::MAX))?,
        watch_hosts: p.cidrs("watch_hosts")?,
        ignore: p.cidrs("ignore")?,
        max_state: p.u64_in("max_state", 1, 1 << 20)? as usize,
    })))
}

/// PortSentry configuration (see the module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Watched TCP ports.
    pub tcp_ports: BTreeSet<u16>,
    /// Watched UDP ports.
    pub udp_ports: BTreeSet<u16>,
    /// `SCAN_TRIGGER`.
    pub scan_trigger: u64,
    /// Hosts PortSentry protects (empty = any).
    pub watch_hosts: Vec<Cidr>,
    /// Sources never reported.
    pub ignore: Vec<Cidr>,
    /// State-engine slots.
    pub max_state: usize,
}

/// The PortSentry detector.
#[derive(Clone, Debug)]
pub struct PortSentry {
    cfg: Config,
    /// (source, hits) ring, `max_state` slots, round-robin replacement.
    state: Vec<(Ipv4Addr, u64)>,
    /// Source → its slot in `state`, so a hit finds it in O(log n).
    slot_of: BTreeMap<Ipv4Addr, usize>,
    next_slot: usize,
    /// (host, proto, port) seen answering: treated as having a listener.
    in_use: BTreeSet<(Ipv4Addr, u8, u16)>,
    /// Sources whose slot was taken over, and listeners not remembered at
    /// [`MAX_IN_USE`].
    evictions: u64,
}

impl PortSentry {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        PortSentry {
            cfg,
            state: Vec::new(),
            slot_of: BTreeMap::new(),
            next_slot: 0,
            in_use: BTreeSet::new(),
            evictions: 0,
        }
    }

    /// 1.2 `CheckStateEngine`: counts the hit, says whether it triggers.
    fn check_state(&mut self, src: Ipv4Addr) -> (bool, u64) {
        let found = self.slot_of.get(&src).and_then(|i| self.state.get_mut(*i));
        let hits = if let Some(slot) = found {
            slot.1 = slot.1.saturating_add(1);
            slot.1
        } else {
            if self.state.len() < self.cfg.max_state {
                self.slot_of.insert(src, self.state.len());
                self.state.push((src, 1));
            } else {
                let i = self.next_slot % self.cfg.max_state;
                self.slot_of.remove(&self.state[i].0);
                self.evictions += 1;
                self.state[i] = (src, 1);
                self.slot_of.insert(src, i);
                self.next_slot = i + 1;
            }
            1
        };
        (
            self.cfg.scan_trigger == 0 || hits > self.cfg.scan_trigger,
            hits,
        )
    }

    fn remember_in_use(&mut self, key: (Ipv4Addr, u8, u16)) {
        if self.in_use.len() < MAX_IN_USE || self.in_use.contains(&key) {
            self.in_use.insert(key);
        } else {
            self.evictions += 1;
        }
    }
}

/// 1.2 `ReportPacketType` names.
fn tcp_type(f: u8) -> String {
    let bit = |m: u8| u8::from(f & m != 0);
    match f & 0x3f {
        0x02 => "TCP SYN/Normal scan".into(),
        0x01 => "TCP FIN scan".into(),
        0x00 => "TCP NULL scan".into(),
        0x29 => "TCP XMAS scan".into(),
        _ => format!(
            "Unknown Type: TCP Packet Flags: SYN: {} FIN: {} ACK: {} PSH: {} URG: {} RST: {}",
            bit(0x02),
            bit(0x01),
            bit(0x10),
            bit(0x08),
            bit(0x20),
            bit(0x04)
        ),
    }
}

impl Detector for PortSentry {
    fn name(&self) -> &'static str {
        "portsentry"
    }

    /// The state ring (`max_state` slots and their index) and the
    /// remembered listeners.
    fn memory(&self) -> Memory {
        let slot = size_of::<(Ipv4Addr, u64)>() + entry_cost::<Ipv4Addr, usize>(0) as usize;
        let listener = entry_cost::<(Ipv4Addr, u8, u16), ()>(0) as usize;
        let used = self.state.len() * slot + self.in_use.len() * listener;
        Memory {
            memcap: (self.cfg.max_state * slot + MAX_IN_USE * listener) as u64,
            peak: used as u64,
            evictions: self.evictions,
        }
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let (proto_name, proto_no, port, kind) = match &pkt.transport {
            Transport::Tcp(t) => {
                if t.flags.is_syn_ack() {
                    self.remember_in_use((pkt.src, 6, t.src_port));
                }
                if t.flags.ack() || t.flags.rst() || !self.cfg.tcp_ports.contains(&t.dst_port) {
                    return;
                }
                ("TCP", 6u8, t.dst_port, tcp_type(t.flags.0))
            }
            Transport::Udp(u) => {
                if self.cfg.udp_ports.contains(&u.src_port) {
                    self.remember_in_use((pkt.src, 17, u.src_port));
                }
                if !self.cfg.udp_ports.contains(&u.dst_port) {
                    return;
                }
                ("UDP", 17u8, u.dst_port, "UDP scan".to_string())
            }
            _ => return,
        };
        if !self.cfg.watch_hosts.is_empty()
            && !self.cfg.watch_hosts.iter().any(|c| c.contains(pkt.dst))
        {
            return;
        }
        if self.in_use.contains(&(pkt.dst, proto_no, port)) {
            return;
        }
        if self.cfg.ignore.iter().any(|c| c.contains(pkt.src)) {
            return;
        }
        let (trigger, hits) = self.check_state(pkt.src);
        if !trigger {
            return;
        }
        let src = pkt.src;
        let mut evidence = Evidence {
            counters: vec![
                ("hits", hits as i64),
                ("port", i64::from(port)),
                ("scan_trigger", self.cfg.scan_trigger as i64),
            ],
            ports: vec![port],
            frames: Vec::new(),
            log_line: format!(
                "Scan from: [{src}] ({src}) protocol: [{proto_name}] port: [{port}] type: [{kind}] \
                 IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]"
            ),
            rule: Rule {
                statement: if self.cfg.scan_trigger == 0 {
                    format!(
                        "PortSentry stealth mode: a {kind} packet from {src} to the watched, \
                         unused {proto_name} port {port} of {} (scan_trigger 0: react on the first hit)",
                        pkt.dst
                    )
                } else {
                    format!(
                        "PortSentry stealth mode: hit {hits} from {src} exceeds scan_trigger {} \
                         (this one: {kind} to the watched, unused {proto_name} port {port} of {})",
                        self.cfg.scan_trigger, pkt.dst
                    )
                },
                counted: "packets to a watched port with no local listener (tcp_ports, \
                          udp_ports); TCP packets with ACK or RST are discarded"
                    .into(),
                window: None,
                keys: Vec::new(),
            },
        };
        evidence.push_frame(pkt.frame);
        evidence
            .rule
            .push_key(format!("{proto_name} port {port}"), pkt.frame);
        out.push(Alert {
            detector: "portsentry",
            scanner: src,
            victim: Some(pkt.dst),
            kind: AlertKind::Scanner,
            first_seen: now,
            time: now,
            trigger_frame: Some(pkt.frame),
            evidence,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{A, F, FA, R, RA, Run, S, SA, ip, tcp, udp};

    #[test]
    fn first_syn_to_watched_port_alerts_ack_rst_never() {
        let mut r = Run::new("portsentry");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        for f in [A, R, RA, FA, SA] {
            assert_eq!(r.push(0, &tcp(a, 40000, t, 79, f)), 0, "flags {f:#x}");
        }
        assert_eq!(r.push(0, &tcp(a, 40000, t, 80, S)), 0, "80 is not watched");
        assert_eq!(r.push(1, &tcp(a, 40000, t, 79, S)), 1);
        let al = &r.alerts[0];
        assert_eq!(al.scanner, a);
        assert_eq!(al.trigger_frame, Some(6));
        assert_eq!(
            al.evidence.log_line,
            "Scan from: [203.0.113.9] (203.0.113.9) protocol: [TCP] port: [79] type: [TCP SYN/Normal scan] \
             IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]"
        );
        assert_eq!(r.push(2, &tcp(a, 40000, t, 1, F)), 1);
        assert!(r.alerts[1].evidence.log_line.contains("TCP FIN scan"));
        assert_eq!(r.push(3, &udp(a, 5000, t, 111, b"")), 1);
        assert!(r.alerts[2].evidence.log_line.contains("protocol: [UDP]"));
    }

    #[test]
    fn port_with_a_listener_is_ignored() {
        let mut r = Run::new("portsentry");
        let (c, s) = (ip("198.51.100.1"), ip("10.0.0.5"));
        r.push(0, &tcp(s, 21, c, 50000, SA));
        assert_eq!(r.push(1, &tcp(c, 50001, s, 21, S)), 0);
        assert_eq!(r.push(2, &tcp(c, 50001, s, 20, S)), 1);
    }

    #[test]
    fn scan_trigger_counts_hits_per_source() {
        let mut r = Run::new("portsentry:scan_trigger=2");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        assert_eq!(r.push(0, &tcp(a, 1, t, 1, S)), 0);
        assert_eq!(r.push(0, &tcp(a, 1, t, 7, S)), 0);
        assert_eq!(r.push(0, &tcp(a, 1, t, 9, S)), 1);
        assert_eq!(r.alerts[0].evidence.counters[0], ("hits", 3));
    }

    #[test]
    fn state_ring_forgets_the_oldest_source() {
        let mut r = Run::new("portsentry:scan_trigger=1,max_state=2");
        let t = ip("10.0.0.5");
        let a = ip("203.0.113.1");
        r.push(0, &tcp(a, 1, t, 1, S));
        r.push(0, &tcp(ip("203.0.113.2"), 1, t, 1, S));
        r.push(0, &tcp(ip("203.0.113.3"), 1, t, 1, S));
        assert_eq!(
            r.push(0, &tcp(a, 1, t, 7, S)),
            0,
            "a's slot was overwritten"
        );
        assert_eq!(r.push(0, &tcp(a, 1, t, 9, S)), 1);
    }
}
