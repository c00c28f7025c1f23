//! PortSentry in stealth mode (Psionic PortSentry 1.2 `-stcp`/`-sudp` and
//! `-atcp`, as Debian packages it; the 2.x rewrite's pcap mode as a profile).
//!
//! Sources: PortSentry 1.2 (Debian source package `portsentry` 1.2-14:
//! `portsentry.c` `PortSentryStealthModeTCP`, `PortSentryAdvancedStealthModeTCP`,
//! `PortSentryStealthModeUDP`, `CheckStateEngine`, `ReportPacketType`,
//! `SmartVerifyTCP`; `portsentry_config.h` `MAXSTATE`; Debian's
//! `/etc/portsentry/portsentry.conf` and `portsentry.ignore.static`), and 2.x
//! (portsentry/portsentry: `src/sentry_pcap.c`, `examples/portsentry.conf`).
//! Checked against the Debian binary by `scanbench fidelity` (`ext:portsentry`,
//! `ext:portsentry-atcp`).
//!
//! # Algorithm
//! - A TCP packet with **ACK or RST** is discarded ("to weed out established
//!   connections", 1.2). Any other TCP packet (SYN, FIN, NULL, XMAS, ...) to a
//!   watched TCP port, and any UDP datagram to a watched UDP port, is a hit.
//! - Watched TCP ports: `mode=stcp` (and the default `stealth`) the
//!   `tcp_ports` list; `mode=atcp` (advanced stealth, `-atcp`) every port
//!   below `advanced_ports_tcp` except `advanced_exclude_tcp`. `stcp` and
//!   `atcp` watch TCP only, as the real options do; `stealth` also watches
//!   `udp_ports` (PortSentry run with `-stcp` and `-sudp`).
//! - A hit on a port that is in use (has a local listener) is ignored
//!   (`SmartVerifyTCP`, and the bind test at start-up).
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
//! | `mode` | `stealth` | `stcp`/`atcp` = the `-stcp`/`-atcp` options; `stealth` = `-stcp` plus `-sudp` |
//! | `profile` | `1.2` | `1.2` (Debian's package) or `2.x` (the rewrite: its example port lists and log line) |
//! | `tcp_ports` | `1;11;15;79;111;119;143;540;635;1080;1524;2000;5742;6667;12345;12346;20034;27665;31337;32771;32772;32773;32774;40421;49724;54320` | Debian 1.2 `portsentry.conf` `TCP_PORTS` |
//! | `udp_ports` | `1;7;9;69;161;162;513;635;640;641;700;37444;34555;31335;32770;32771;32772;32773;32774;31337;54321` | Debian 1.2 `portsentry.conf` `UDP_PORTS` |
//! | `advanced_ports_tcp` | 1024 | 1.2 `ADVANCED_PORTS_TCP` |
//! | `advanced_exclude_tcp` | `113;139` | 1.2 `ADVANCED_EXCLUDE_TCP` |
//! | `scan_trigger` | 0 | `SCAN_TRIGGER` default ("react immediately") |
//! | `watch_hosts` | empty = any destination | the host PortSentry runs on (a capture may hold many) |
//! | `ignore` | `127.0.0.1/32;0.0.0.0/32` | Debian `portsentry.ignore.static` |
//! | `max_state` | 50 | 1.2 `portsentry_config.h` `MAXSTATE` |
//!
//! With `profile=2.x`, port lists left at their 1.2 defaults become 2.x's
//! `examples/portsentry.conf` lists (TCP `1,7,9,11,13,15,17,19,20,21,70,79,
//! 111,113,119,389,512-515,540,543-544,873,989,990,992,1080`, UDP
//! `7,9,13,19,111,389,513,517-518`).
//!
//! # Alerts
//! Kind [`AlertKind::Scanner`]. The 1.2 log line (`portsentry.c`):
//! `attackalert: <type> from host: A/A to TCP port: N` (reverse DNS off,
//! Debian's `RESOLVE_HOST = "0"`, so the host name is the address), UDP
//! `attackalert: UDP scan from host: A/A to UDP port: N`. Types from 1.2
//! `ReportPacketType`, tested in its order: `" TCP NULL scan"` (with its
//! leading space) when SYN, FIN, ACK, PSH, RST and URG are all clear; `TCP XMAS
//! scan` when FIN, URG and PSH are set (whatever SYN is); `TCP FIN scan`;
//! `TCP SYN/Normal scan`; else `Unknown Type: TCP Packet Flags: SYN: s FIN: f
//! ACK: a PSH: p URG: u RST: r`. The 2.x profile writes `Scan from: [ip] (ip)
//! protocol: [TCP] port: [p] type: [...] IP opts: [unknown] ignored: [false]
//! triggered: [true] noblock: [unset] blocked: [false]` **\[flag fields
//! unverified\]**. Counters: `hits`, `port`, `scan_trigger`.
//!
//! # Deviations from upstream
//! - **In-use ports.** PortSentry skips a port it cannot bind (`BindSocket`
//!   binds `INADDR_ANY:port`, so a listener on any of the host's addresses
//!   makes the port in use on all of them). A capture shows no listeners, so
//!   a port counts as in use once a watched host (`watch_hosts`; any, when
//!   empty) has sent a SYN-ACK from it (for UDP: a datagram from a watched
//!   port). The detector is one PortSentry on a host owning every watched
//!   address, as in the live replay (`ext:portsentry`). A port whose first
//!   probe arrives before any such reply still alerts, as the real tool
//!   would if the service started later.
//! - No blocking (`BLOCK_TCP`/`BLOCK_UDP` 0, Debian's default): the real tool
//!   logs the same `attackalert` line for every hit and adds "already
//!   blocked" lines, which are not alerts.
//! - Advanced stealth mode for UDP (`-audp`) is not modelled.
//! - A source is found in the state ring through an index (upstream scans
//!   the 50 slots); a slot taken over by a new source counts as an eviction.

use core::net::Ipv4Addr;
use std::collections::{BTreeMap, BTreeSet};

use crate::DetectorInfo;
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::{PortSet, entry_cost};
use crate::view::Transport;
use crate::{Alert, AlertKind, Detector, Evidence, Instant, Memory, PacketView, Rule};

/// Debian's PortSentry 1.2 `portsentry.conf` `TCP_PORTS` (26 ports).
pub const DEFAULT_TCP_PORTS: &str = "1;11;15;79;111;119;143;540;635;1080;1524;2000;5742;6667;12345;12346;20034;27665;31337;32771;32772;32773;32774;40421;49724;54320";
/// Debian's PortSentry 1.2 `portsentry.conf` `UDP_PORTS`.
pub const DEFAULT_UDP_PORTS: &str = "1;7;9;69;161;162;513;635;640;641;700;37444;34555;31335;32770;32771;32772;32773;32774;31337;54321";
/// 2.x `examples/portsentry.conf` `TCP_PORTS` (the `2.x` profile).
pub const TCP_PORTS_2X: &str =
    "1;7;9;11;13;15;17;19;20;21;70;79;111;113;119;389;512-515;540;543-544;873;989;990;992;1080";
/// 2.x `examples/portsentry.conf` `UDP_PORTS` (the `2.x` profile).
pub const UDP_PORTS_2X: &str = "7;9;13;19;111;389;513;517-518";

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "mode",
        default: "stealth",
        help: "stcp (-stcp), atcp (-atcp: every port below advanced_ports_tcp), stealth (-stcp and -sudp)",
    },
    ParamSpec {
        name: "profile",
        default: "1.2",
        help: "1.2 (Debian's package) or 2.x (the rewrite's example port lists and log line)",
    },
    ParamSpec {
        name: "tcp_ports",
        default: DEFAULT_TCP_PORTS,
        help: "watched TCP ports, `;`-separated (Debian 1.2 portsentry.conf TCP_PORTS)",
    },
    ParamSpec {
        name: "udp_ports",
        default: DEFAULT_UDP_PORTS,
        help: "watched UDP ports, `;`-separated (Debian 1.2 portsentry.conf UDP_PORTS)",
    },
    ParamSpec {
        name: "advanced_ports_tcp",
        default: "1024",
        help: "atcp: ports below this are watched (1.2 ADVANCED_PORTS_TCP)",
    },
    ParamSpec {
        name: "advanced_exclude_tcp",
        default: "113;139",
        help: "atcp: ports never watched, `;`-separated (1.2 ADVANCED_EXCLUDE_TCP)",
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
    summary: "PortSentry 1.2 stealth mode (-stcp/-sudp, -atcp): any non-ACK/RST packet to a watched unused port alerts (SCAN_TRIGGER 0)",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let mode =
        [Mode::Stealth, Mode::Stcp, Mode::Atcp][p.choice("mode", &["stealth", "stcp", "atcp"])?];
    let profile_2x = p.choice("profile", &["1.2", "2.x"])? == 1;
    let list = |name: &str, default: &str, two: &str| -> Result<BTreeSet<u16>, ConfigError> {
        if profile_2x && p.raw(name) == default {
            let mut v = Vec::new();
            for part in two.split(';') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let (a, b): (u16, u16) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                v.extend(a..=b);
            }
            return Ok(v.into_iter().collect());
        }
        Ok(p.ports(name)?.into_iter().collect())
    };
    Ok(Box::new(PortSentry::new(Config {
        mode,
        profile_2x,
        tcp_ports: list("tcp_ports", DEFAULT_TCP_PORTS, TCP_PORTS_2X)?,
        udp_ports: list("udp_ports", DEFAULT_UDP_PORTS, UDP_PORTS_2X)?,
        advanced_ports_tcp: p.u64_in("advanced_ports_tcp", 0, 65535)? as u16,
        advanced_exclude_tcp: p.ports("advanced_exclude_tcp")?.into_iter().collect(),
        scan_trigger: p.u64_in("scan_trigger", 0, u64::from(u32::MAX))?,
        watch_hosts: p.cidrs("watch_hosts")?,
        ignore: p.cidrs("ignore")?,
        max_state: p.u64_in("max_state", 1, 1 << 20)? as usize,
    })))
}

/// Which of PortSentry's stealth modes runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `-stcp` and `-sudp`: the TCP and UDP port lists.
    Stealth,
    /// `-stcp`: the TCP port list only.
    Stcp,
    /// `-atcp`: every TCP port below `advanced_ports_tcp` except the excluded ones.
    Atcp,
}

impl Mode {
    /// The mode's name in PortSentry's own documentation, for rule statements.
    fn describe(self) -> &'static str {
        match self {
            Mode::Stealth => "stealth mode (-stcp, -sudp)",
            Mode::Stcp => "stealth mode (-stcp)",
            Mode::Atcp => "advanced stealth mode (-atcp)",
        }
    }

    /// Which packets the mode counts as hits, with the parameters that decide it.
    fn counted(self) -> &'static str {
        match self {
            Mode::Stealth => {
                "packets to a watched port with no local listener (tcp_ports, udp_ports); \
                 TCP packets with ACK or RST are discarded"
            }
            Mode::Stcp => {
                "TCP packets to a watched port with no local listener (tcp_ports); \
                 packets with ACK or RST are discarded"
            }
            Mode::Atcp => {
                "TCP packets to any port below advanced_ports_tcp, except advanced_exclude_tcp, \
                 with no local listener; packets with ACK or RST are discarded"
            }
        }
    }
}

/// PortSentry configuration (see the module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Stealth mode.
    pub mode: Mode,
    /// Log in the 2.x format.
    pub profile_2x: bool,
    /// `ADVANCED_PORTS_TCP`.
    pub advanced_ports_tcp: u16,
    /// `ADVANCED_EXCLUDE_TCP`.
    pub advanced_exclude_tcp: BTreeSet<u16>,
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
    /// TCP ports a packet to which is watched in this mode (the
    /// configuration's lists as bitmaps: one bit test per packet).
    watched_tcp: PortSet,
    /// UDP ports watched (stealth mode).
    watched_udp: PortSet,
    /// TCP and UDP ports a watched host was seen answering from: treated as
    /// having a listener (bounded: two protocols of 65,536 ports).
    in_use_tcp: PortSet,
    in_use_udp: PortSet,
    /// Sources whose slot was taken over.
    evictions: u64,
}

impl PortSentry {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> Self {
        PortSentry {
            watched_tcp: (0..=u16::MAX).filter(|p| cfg.watches_tcp(*p)).collect(),
            watched_udp: cfg.udp_ports.iter().copied().collect(),
            cfg,
            state: Vec::new(),
            slot_of: BTreeMap::new(),
            next_slot: 0,
            in_use_tcp: PortSet::default(),
            in_use_udp: PortSet::default(),
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

    /// A watched host answered from `port`: the port is in use from now on.
    fn remember_in_use(&mut self, host: Ipv4Addr, proto: u8, port: u16) {
        if self.cfg.watches_host(host) {
            match proto {
                6 => self.in_use_tcp.insert(port),
                _ => self.in_use_udp.insert(port),
            };
        }
    }

    /// The ports in use of `proto` (6 TCP, 17 UDP: the only two watched).
    fn in_use(&self, proto: u8) -> &PortSet {
        match proto {
            6 => &self.in_use_tcp,
            _ => &self.in_use_udp,
        }
    }
}

/// 1.2 `ReportPacketType` names, tested in its order (ECE and CWR are not
/// looked at; the NULL name has its leading space).
fn tcp_type(f: u8) -> String {
    let bit = |m: u8| u8::from(f & m != 0);
    let (fin, syn, rst, psh, ack, urg) = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20);
    match f & 0x3f {
        0x00 => " TCP NULL scan".into(),
        x if x & (fin | urg | psh) == fin | urg | psh => "TCP XMAS scan".into(),
        x if x == fin => "TCP FIN scan".into(),
        x if x == syn => "TCP SYN/Normal scan".into(),
        _ => format!(
            "Unknown Type: TCP Packet Flags: SYN: {} FIN: {} ACK: {} PSH: {} URG: {} RST: {}",
            bit(syn),
            bit(fin),
            bit(ack),
            bit(psh),
            bit(urg),
            bit(rst)
        ),
    }
}

impl Config {
    /// Whether PortSentry runs on `host` (`watch_hosts`; empty: every host).
    fn watches_host(&self, host: Ipv4Addr) -> bool {
        self.watch_hosts.is_empty() || self.watch_hosts.iter().any(|c| c.contains(host))
    }

    /// Whether a TCP packet to `port` is watched in this mode.
    fn watches_tcp(&self, port: u16) -> bool {
        match self.mode {
            Mode::Stealth | Mode::Stcp => self.tcp_ports.contains(&port),
            Mode::Atcp => {
                port < self.advanced_ports_tcp && !self.advanced_exclude_tcp.contains(&port)
            }
        }
    }
}

impl Detector for PortSentry {
    fn name(&self) -> &'static str {
        "portsentry"
    }

    /// The state ring (`max_state` slots and their index) and the ports in
    /// use (at most two protocols of 65,536 ports).
    fn memory(&self) -> Memory {
        let slot = size_of::<(Ipv4Addr, u64)>() + entry_cost::<Ipv4Addr, usize>(0) as usize;
        let listener = entry_cost::<(u8, u16), ()>(0) as usize;
        let used =
            self.state.len() * slot + (self.in_use_tcp.len() + self.in_use_udp.len()) * listener;
        Memory {
            memcap: (self.cfg.max_state * slot + 2 * 65_536 * listener) as u64,
            peak: used as u64,
            evictions: self.evictions,
        }
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let (proto_name, proto_no, port, tcp_flags) = match &pkt.transport {
            Transport::Tcp(t) => {
                if t.flags.is_syn_ack() {
                    self.remember_in_use(pkt.src, 6, t.src_port);
                }
                if t.flags.ack() || t.flags.rst() || !self.watched_tcp.contains(t.dst_port) {
                    return;
                }
                ("TCP", 6u8, t.dst_port, Some(t.flags.0))
            }
            Transport::Udp(u) if self.cfg.mode == Mode::Stealth => {
                if self.watched_udp.contains(u.src_port) {
                    self.remember_in_use(pkt.src, 17, u.src_port);
                }
                if !self.watched_udp.contains(u.dst_port) {
                    return;
                }
                ("UDP", 17u8, u.dst_port, None)
            }
            _ => return,
        };
        if !self.cfg.watches_host(pkt.dst) {
            return;
        }
        if self.in_use(proto_no).contains(port) {
            return;
        }
        if self.cfg.ignore.iter().any(|c| c.contains(pkt.src)) {
            return;
        }
        let (trigger, hits) = self.check_state(pkt.src);
        if !trigger {
            return;
        }
        let kind = tcp_flags.map_or_else(|| "UDP scan".to_string(), tcp_type);
        let src = pkt.src;
        let mut evidence = Evidence {
            counters: vec![
                ("hits", hits as i64),
                ("port", i64::from(port)),
                ("scan_trigger", self.cfg.scan_trigger as i64),
            ],
            ports: vec![port],
            frames: Vec::new(),
            log_line: if self.cfg.profile_2x {
                format!(
                    "Scan from: [{src}] ({src}) protocol: [{proto_name}] port: [{port}] type: [{kind}] \
                     IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]"
                )
            } else {
                // 1.2: "attackalert: %s from host: %s/%s to TCP port: %d" (UDP: "UDP scan from host: ...").
                format!("attackalert: {kind} from host: {src}/{src} to {proto_name} port: {port}")
            },
            rule: Rule {
                statement: if self.cfg.scan_trigger == 0 {
                    format!(
                        "PortSentry {}: a {} packet from {src} to the watched, unused {proto_name} \
                         port {port} of {} (scan_trigger 0: react on the first hit)",
                        self.cfg.mode.describe(),
                        kind.trim_start(),
                        pkt.dst
                    )
                } else {
                    format!(
                        "PortSentry {}: hit {hits} from {src} exceeds scan_trigger {} (this one: {} \
                         to the watched, unused {proto_name} port {port} of {})",
                        self.cfg.mode.describe(),
                        self.cfg.scan_trigger,
                        kind.trim_start(),
                        pkt.dst
                    )
                },
                counted: self.cfg.mode.counted().into(),
                window: None,
                keys: Vec::new(),
            },
        };
        evidence.push_frame(pkt.frame);
        evidence.rule.push_port_key(proto_name, port, pkt.frame);
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
            "attackalert: TCP SYN/Normal scan from host: 203.0.113.9/203.0.113.9 to TCP port: 79"
        );
        assert!(
            al.evidence.rule.statement.starts_with(
                "PortSentry stealth mode (-stcp, -sudp): a TCP SYN/Normal scan packet"
            ),
            "{}",
            al.evidence.rule.statement
        );
        assert_eq!(r.push(2, &tcp(a, 40000, t, 1, F)), 1);
        assert!(r.alerts[1].evidence.log_line.contains("TCP FIN scan"));
        assert_eq!(r.push(3, &udp(a, 5000, t, 161, b"")), 1);
        assert_eq!(
            r.alerts[2].evidence.log_line,
            "attackalert: UDP scan from host: 203.0.113.9/203.0.113.9 to UDP port: 161"
        );
    }

    #[test]
    fn type_names_follow_report_packet_type_order() {
        // portsentry.c ReportPacketType: NULL (leading space), then FIN&URG&PSH
        // whatever SYN is, then FIN, then SYN.
        let mut r = Run::new("portsentry");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        for flags in [0x00, 0x2b, 0x29, 0x03] {
            r.push(0, &tcp(a, 1, t, 1, flags));
        }
        let lines: Vec<&str> = r
            .alerts
            .iter()
            .map(|x| x.evidence.log_line.as_str())
            .collect();
        assert!(
            lines[0].starts_with("attackalert:  TCP NULL scan from"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains(": TCP XMAS scan from"), "{}", lines[1]);
        assert!(lines[2].contains(": TCP XMAS scan from"), "{}", lines[2]);
        assert!(
            lines[3].contains(
                "Unknown Type: TCP Packet Flags: SYN: 1 FIN: 1 ACK: 0 PSH: 0 URG: 0 RST: 0"
            ),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn advanced_mode_watches_every_low_port_but_the_excluded() {
        let mut r = Run::new("portsentry:mode=atcp");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        assert_eq!(r.push(0, &tcp(a, 1, t, 80, S)), 1, "80 < 1024");
        assert!(
            r.alerts[0]
                .evidence
                .rule
                .statement
                .starts_with("PortSentry advanced stealth mode (-atcp)"),
            "{}",
            r.alerts[0].evidence.rule.statement
        );
        assert_eq!(r.push(0, &tcp(a, 1, t, 113, S)), 0, "ADVANCED_EXCLUDE_TCP");
        assert_eq!(r.push(0, &tcp(a, 1, t, 1024, S)), 0, "not below 1024");
        assert_eq!(
            r.push(0, &udp(a, 1, t, 161, b"")),
            0,
            "-atcp watches TCP only"
        );
        let mut r = Run::new("portsentry:mode=stcp");
        assert_eq!(
            r.push(0, &udp(a, 1, t, 161, b"")),
            0,
            "-stcp watches TCP only"
        );
        assert_eq!(r.push(0, &tcp(a, 1, t, 31337, S)), 1);
    }

    #[test]
    fn profile_2x_has_its_lists_and_log_line() {
        let mut r = Run::new("portsentry:profile=2.x");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        assert_eq!(r.push(0, &tcp(a, 1, t, 31337, S)), 0, "not in 2.x's list");
        assert_eq!(r.push(0, &tcp(a, 40000, t, 389, S)), 1);
        assert_eq!(
            r.alerts[0].evidence.log_line,
            "Scan from: [203.0.113.9] (203.0.113.9) protocol: [TCP] port: [389] type: [TCP SYN/Normal scan] \
             IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]"
        );
    }

    #[test]
    fn port_with_a_listener_is_ignored_on_every_address() {
        let mut r = Run::new("portsentry");
        let (c, s, t) = (ip("198.51.100.1"), ip("10.0.0.5"), ip("10.0.0.6"));
        assert_eq!(r.push(0, &tcp(c, 50000, t, 111, S)), 1, "before any answer");
        r.push(1, &tcp(s, 111, c, 50000, SA));
        assert_eq!(r.push(2, &tcp(c, 50001, s, 111, S)), 0);
        // BindSocket binds INADDR_ANY: the port is in use on all addresses.
        assert_eq!(r.push(3, &tcp(c, 50001, t, 111, S)), 0);
        assert_eq!(r.push(4, &tcp(c, 50001, s, 79, S)), 1);
        // A host PortSentry does not run on makes no port of it in use.
        let mut r = Run::new("portsentry:watch_hosts=10.0.0.6/32");
        r.push(0, &tcp(s, 111, c, 50000, SA));
        assert_eq!(r.push(1, &tcp(c, 50001, t, 111, S)), 1);
    }

    #[test]
    fn scan_trigger_counts_hits_per_source() {
        let mut r = Run::new("portsentry:scan_trigger=2");
        let (a, t) = (ip("203.0.113.9"), ip("10.0.0.5"));
        assert_eq!(r.push(0, &tcp(a, 1, t, 1, S)), 0);
        assert_eq!(r.push(0, &tcp(a, 1, t, 11, S)), 0);
        assert_eq!(r.push(0, &tcp(a, 1, t, 15, S)), 1);
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
            r.push(0, &tcp(a, 1, t, 11, S)),
            0,
            "a's slot was overwritten"
        );
        assert_eq!(r.push(0, &tcp(a, 1, t, 15, S)), 1);
    }
}
