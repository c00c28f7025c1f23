//! Juniper NetScreen ScreenOS / Junos SRX `port-scan` and `ip-sweep` screens.
//!
//! Closed source: the behaviour comes from vendor documentation only
//! (docs/detectors/screenos.md): Junos CLI reference pages *port-scan (Security Screen)*
//! and *ip-sweep*, Junos Security Configuration Guide 10.0 *Understanding Port
//! Scanning*, JUNIPER-JS-SCREENING-MIB object descriptions, and the ScreenOS
//! alarm texts `system-alert-00016` / `00017`.
//!
//! # Algorithm (the vendor's rule; switches where it is silent)
//!
//! - **Port scan.** Per (source, destination) the screen keeps the distinct
//!   destination ports of qualifying TCP packets seen within `threshold` µs.
//!   When the `ports_needed`-th (10th) distinct port arrives inside the
//!   interval it raises `Port scan! From src:sport to dst:dport, proto TCP
//!   (zone z, int i). Occurred 1 times.` and blocks the source (any
//!   destination, as Junos says) for `block_timeout`.
//! - **IP sweep.** Per source, the distinct destinations of ICMP echo requests
//!   within `ip_sweep_threshold` µs; the 10th raises `Address sweep! From src
//!   to dst, proto 1 (zone z, int i). Occurred 1 times.`
//! - **Repeats.** ScreenOS folds identical alarms into "Occurred N times".
//!   Qualifying packets from a blocked source are dropped and folded; when the
//!   block ends (seen on a later packet or at [`Detector::flush`]) one summary
//!   alert carries `Occurred N times.` for the N folded packets (counter
//!   `repeat` = 1 marks it).
//!
//! Which packets qualify (`count_mode`, a hypothesis switch, §1.2 and §10.1):
//!
//! - `syn-set` (default): SYN bit set, ACK don't-care (doc-literal "TCP SYN
//!   segments"; SYN-ACKs count);
//! - `syn-only`: SYN set and ACK clear;
//! - `no-session-any`: any TCP segment that matches no session of the screen's
//!   own session table, evaluated before session creation. Sessions are created
//!   by a SYN without ACK (the SYN-ACK answering it then matches), idle out
//!   after `tcp_session_timeout` (ScreenOS TCP default 30 min) and are removed
//!   `closed_session_timeout` (~10 s) after a FIN or RST.
//!
//! # Parameters
//!
//! | name | default | source |
//! |---|---|---|
//! | `threshold` | 5000 µs (1000..=1_000_000) | Junos CLI *port-scan*: "threshold ... default 5000 microseconds, range 1000-1,000,000" |
//! | `ports_needed` | 10 | Junos *Understanding Port Scanning*: "10 different ports" |
//! | `count_mode` | `syn-set` | the vendor's "containing TCP SYN segments"; the others are hypotheses to test |
//! | `window` | `sliding` | not documented by the vendor: sliding is the conservative reading |
//! | `block_timeout` | `threshold` (µs) | "rejects all further packets ... for the remainder of the timeout period" **\[unverified\]** length |
//! | `ip_sweep_threshold` | 5000 µs (1000..=1_000_000) | Junos CLI *ip-sweep* |
//! | `ip_sweep_needed` | 10 | Junos CLI *ip-sweep*: "10 different destination addresses" |
//! | `tcp_session_timeout` | 1800 s | ScreenOS default TCP session timeout, 30 min (`no-session-any` only) |
//! | `closed_session_timeout` | 10 s | ScreenOS removes a session about 10 s after FIN/RST (`no-session-any` only) |
//! | `zone` | `Untrust` | cosmetic: the zone name in the alarm text |
//! | `interface` | `ethernet0/0` | cosmetic: the interface name in the alarm text |
//! | `memcap` | 16 MiB | bench bound on the screen's state (ScreenOS documents none; its session table is sized per platform) |
//!
//! # Deviations from upstream
//!
//! - The screen is alarm-only (`alarm-without-drop` semantics for the traffic);
//!   the block only suppresses further alarms, folding them into repeats.
//! - Sliding window: a port counts while its first sighting is no older than
//!   `threshold` µs (`first_seen >= now - threshold`); a repeated port does not
//!   refresh its time. Anchored window: the interval starts at the first
//!   counted packet and restarts with the first packet after it ends.
//! - After an alarm the (source, destination) port set is cleared, so a second
//!   alarm needs `ports_needed` new distinct ports after the block.
//! - The IP-sweep block uses `block_timeout` too (Junos 9.3 says "for the
//!   remainder of the second").
//! - Only the TCP port-scan and ICMP ip-sweep screens are modelled (no UDP
//!   port-scan, TCP/UDP sweep of Junos SRX).
//! - State is bounded by `memcap` (the device's own tables are fixed in
//!   hardware and undocumented): 40 % for port-scan windows and blocks, 20 %
//!   for ip-sweep ones, 40 % for sessions; a window is charged for
//!   `ports_needed` hits. When a table is full its least recently used window,
//!   the block ending first, or the session expiring first is dropped and
//!   counted in the report's evictions: a dropped window restarts its count,
//!   a dropped block loses its "Occurred N times" summary, a dropped session
//!   makes its next segment sessionless.

use core::net::Ipv4Addr;

use crate::DetectorInfo;
use crate::params::{ConfigError, ParamSpec, Params};
use crate::state::{TimedMap, entry_cost};
use crate::view::proto;
use crate::{Alert, AlertKind, Detector, Evidence, Instant, Memory, PacketView, Rule};

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "threshold",
        default: "5000",
        help: "port-scan interval in microseconds, 1000..=1000000 (Junos port-scan threshold)",
    },
    ParamSpec {
        name: "ports_needed",
        default: "10",
        help: "distinct destination ports inside the interval that trip the screen (Junos: 10)",
    },
    ParamSpec {
        name: "count_mode",
        default: "syn-set",
        help: "which TCP packets count: syn-set | syn-only | no-session-any (vendor: \"containing TCP SYN segments\"; docs/detectors/screenos.md)",
    },
    ParamSpec {
        name: "window",
        default: "sliding",
        help: "sliding | anchored interval (undocumented by the vendor)",
    },
    ParamSpec {
        name: "block_timeout",
        default: "threshold",
        help: "microseconds the source stays blocked after an alarm; `threshold` = same as threshold [unverified]",
    },
    ParamSpec {
        name: "ip_sweep_threshold",
        default: "5000",
        help: "ip-sweep interval in microseconds, 1000..=1000000 (Junos ip-sweep threshold)",
    },
    ParamSpec {
        name: "ip_sweep_needed",
        default: "10",
        help: "distinct destinations of ICMP echo requests that trip the ip-sweep screen (Junos: 10)",
    },
    ParamSpec {
        name: "tcp_session_timeout",
        default: "1800",
        help: "seconds an idle TCP session lives, no-session-any mode (ScreenOS TCP default 30 min)",
    },
    ParamSpec {
        name: "closed_session_timeout",
        default: "10",
        help: "seconds a session lives after FIN or RST, no-session-any mode (ScreenOS ~10 s)",
    },
    ParamSpec {
        name: "zone",
        default: "Untrust",
        help: "zone name printed in the alarm text",
    },
    ParamSpec {
        name: "interface",
        default: "ethernet0/0",
        help: "interface name printed in the alarm text",
    },
    ParamSpec {
        name: "memcap",
        default: "16777216",
        help: "bytes of screen state at most, oldest dropped first (bench bound; ScreenOS documents none)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "screenos",
    summary: "Juniper ScreenOS/Junos port-scan and ip-sweep screens: 10 ports (hosts) in 5000 us",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let threshold = p.u64_in("threshold", 1000, 1_000_000)? as i64;
    let block = if p.raw("block_timeout").eq_ignore_ascii_case("threshold") {
        threshold
    } else {
        p.u64_in("block_timeout", 0, 1 << 40)? as i64
    };
    Ok(Box::new(ScreenOs::new(Config {
        threshold_us: threshold,
        ports_needed: p.u64_in("ports_needed", 1, 65536)? as usize,
        count_mode: match p.choice("count_mode", &["syn-set", "syn-only", "no-session-any"])? {
            0 => CountMode::SynSet,
            1 => CountMode::SynOnly,
            _ => CountMode::NoSessionAny,
        },
        anchored: p.choice("window", &["sliding", "anchored"])? == 1,
        block_us: block,
        sweep_threshold_us: p.u64_in("ip_sweep_threshold", 1000, 1_000_000)? as i64,
        sweep_needed: p.u64_in("ip_sweep_needed", 1, 1 << 20)? as usize,
        tcp_session_us: p.u64_in("tcp_session_timeout", 0, 1 << 30)? as i64 * 1_000_000,
        closed_session_us: p.u64_in("closed_session_timeout", 0, 1 << 30)? as i64 * 1_000_000,
        zone: p.raw("zone").to_string(),
        interface: p.raw("interface").to_string(),
        memcap: p.u64_in("memcap", 1 << 16, 1 << 40)?,
    })))
}

/// Which TCP packets the port-scan screen counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountMode {
    /// SYN bit set, ACK don't-care.
    SynSet,
    /// SYN set, ACK clear.
    SynOnly,
    /// Any TCP segment matching no session of the screen.
    NoSessionAny,
}

/// Screen configuration (see the module table).
#[derive(Clone, Debug)]
pub struct Config {
    /// Port-scan interval, µs.
    pub threshold_us: i64,
    /// Distinct ports needed.
    pub ports_needed: usize,
    /// Which packets count.
    pub count_mode: CountMode,
    /// Anchored instead of sliding window.
    pub anchored: bool,
    /// Block length after an alarm, µs.
    pub block_us: i64,
    /// IP-sweep interval, µs.
    pub sweep_threshold_us: i64,
    /// Distinct destinations needed for an address sweep.
    pub sweep_needed: usize,
    /// Idle TCP session lifetime, µs.
    pub tcp_session_us: i64,
    /// Lifetime after FIN/RST, µs.
    pub closed_session_us: i64,
    /// Zone name for the alarm text.
    pub zone: String,
    /// Interface name for the alarm text.
    pub interface: String,
    /// Bytes of state (windows, blocks, sessions) at most.
    pub memcap: u64,
}

/// One counted packet in a window.
#[derive(Clone, Copy, Debug)]
struct Hit {
    key: u32,
    at: i64,
    frame: u64,
}

/// Distinct keys (ports or addresses) in one interval.
#[derive(Clone, Debug, Default)]
struct Window {
    /// Start of an anchored interval.
    anchor: i64,
    hits: Vec<Hit>,
}

impl Window {
    /// Adds `key` at `at` and returns the number of distinct keys inside the interval.
    fn add(&mut self, key: u32, at: i64, frame: u64, interval: i64, anchored: bool) -> usize {
        if anchored {
            if self.hits.is_empty() || at.saturating_sub(self.anchor) > interval {
                self.hits.clear();
                self.anchor = at;
            }
        } else {
            self.hits.retain(|h| h.at >= at.saturating_sub(interval));
        }
        if !self.hits.iter().any(|h| h.key == key) {
            self.hits.push(Hit { key, at, frame });
        }
        self.hits.len()
    }
}

/// A source blocked after an alarm, folding repeats.
#[derive(Clone, Debug)]
struct Block {
    until: i64,
    repeats: i64,
    first: i64,
    last_frame: Option<u64>,
    text: String,
    victim: Option<Ipv4Addr>,
    frames: Vec<u64>,
}

/// One ScreenOS session (ordered endpoints: lower first).
#[derive(Clone, Copy, Debug)]
struct Session {
    deadline: i64,
    closing: bool,
}

type SessKey = (Ipv4Addr, u16, Ipv4Addr, u16);

/// (source, destination) of a port-scan window; (source, 0.0.0.0) of an ip-sweep window.
type WinKey = (Ipv4Addr, Ipv4Addr);

/// Which of the two screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Distinct destination ports per (source, destination).
    PortScan,
    /// Distinct destination addresses of ICMP echo requests per source.
    IpSweep,
}

/// One screen's state: windows of distinct keys, blocked sources. The
/// port-scan and ip-sweep screens differ only in what they key and count
/// and in the words of their alarm, so both run [`Screen::hit`].
#[derive(Debug)]
struct Screen {
    kind: Kind,
    /// The interval, µs.
    interval: i64,
    /// Distinct keys that trip the screen.
    needed: usize,
    /// Windows by their last counted packet (stale ones expire first).
    windows: TimedMap<WinKey, Window>,
    /// Blocked sources by the end of their block.
    blocks: TimedMap<Ipv4Addr, Block>,
}

/// Hits a new window has room for before it grows: `ports_needed` at the
/// default and any likely setting, not a huge one no scan reaches.
const MAX_PREALLOCATED_HITS: usize = 16;

/// Bytes a block is charged: its alarm text and up to 64 frames.
const BLOCK_HEAP: usize = 160 + Evidence::MAX_FRAMES * 8;

impl Screen {
    fn new(kind: Kind, interval: i64, needed: usize, memcap: u64) -> Self {
        Screen {
            kind,
            interval,
            needed,
            windows: TimedMap::new(memcap / 4 * 3),
            blocks: TimedMap::new(memcap / 4),
        }
    }

    /// A window holds at most `needed` hits before it alarms and is cleared.
    fn window_cost(&self) -> u64 {
        entry_cost::<WinKey, Window>(self.needed.saturating_mul(size_of::<Hit>()))
    }

    /// Drops windows whose every hit is stale (invisible to the counts:
    /// [`Window::add`] would drop those hits anyway), and emits the
    /// summaries of the blocks that ended before `now`, in source order.
    fn expire(&mut self, cfg: &Config, now: i64, out: &mut Vec<Alert>) {
        while self
            .windows
            .pop_before(now.saturating_sub(self.interval))
            .is_some()
        {}
        if let Some((src, b, _)) = self.blocks.pop_before(now) {
            self.blocks_ended(cfg, now, (src, b), out);
        }
    }

    /// True if no window went stale and no block ended before `now`: two
    /// comparisons, the per-packet case.
    #[inline]
    fn nothing_due(&mut self, now: i64) -> bool {
        self.windows
            .nothing_before(now.saturating_sub(self.interval))
            && self.blocks.nothing_before(now)
    }

    /// The summaries of `first` and every other block that ended before
    /// `now`, in source order.
    #[cold]
    #[inline(never)]
    fn blocks_ended(
        &mut self,
        cfg: &Config,
        now: i64,
        first: (Ipv4Addr, Block),
        out: &mut Vec<Alert>,
    ) {
        let mut ended = vec![first];
        while let Some((src, b, _)) = self.blocks.pop_before(now) {
            ended.push((src, b));
        }
        ended.sort_by_key(|(src, _)| *src);
        for (src, b) in ended {
            out.extend(self.summary(cfg, now, src, b));
        }
    }

    /// The summary alarm of a block that ended, if packets were folded into it.
    fn summary(&self, cfg: &Config, now: i64, src: Ipv4Addr, b: Block) -> Option<Alert> {
        if b.repeats == 0 {
            return None;
        }
        let end = b.until.saturating_add(1).min(now);
        Some(Alert {
            detector: "screenos",
            scanner: src,
            victim: b.victim,
            kind: self.alert_kind(),
            first_seen: Instant::from_micros(b.first),
            time: Instant::from_micros(end),
            trigger_frame: b.last_frame,
            evidence: Evidence {
                counters: vec![("repeat", 1), ("occurred", b.repeats)],
                ports: Vec::new(),
                rule: Rule {
                    statement: format!(
                        "ScreenOS {}: {src} stayed blocked for {} us after its alarm; \
                         {} more qualifying packets in that time fold into one alarm \
                         \"Occurred {} times\"",
                        self.screen_name(),
                        cfg.block_us,
                        b.repeats,
                        b.repeats
                    ),
                    counted: self.counted(cfg),
                    window: Some((Instant::from_micros(b.first), Instant::from_micros(end))),
                    keys: Vec::new(),
                },
                frames: b.frames,
                log_line: format!("{} {} times.", b.text, b.repeats),
            },
        })
    }

    fn alert_kind(&self) -> AlertKind {
        match self.kind {
            Kind::PortScan => AlertKind::PortScan,
            Kind::IpSweep => AlertKind::AddressSweep,
        }
    }

    fn screen_name(&self) -> &'static str {
        match self.kind {
            Kind::PortScan => "port-scan screen",
            Kind::IpSweep => "ip-sweep screen",
        }
    }

    fn counted(&self, cfg: &Config) -> String {
        match self.kind {
            Kind::PortScan => counted_text(cfg),
            Kind::IpSweep => "ICMP echo requests".into(),
        }
    }

    /// One qualifying packet: folded into its source's block, or counted in
    /// its window, raising the alarm (and starting a block) on the
    /// `needed`-th distinct key.
    fn hit(&mut self, cfg: &Config, now: i64, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        if let Some(b) = self.blocks.get_mut(&pkt.src) {
            if b.repeats == 0 {
                b.first = now;
            }
            b.repeats = b.repeats.saturating_add(1);
            b.last_frame = Some(pkt.frame);
            if b.frames.len() < Evidence::MAX_FRAMES {
                b.frames.push(pkt.frame);
            }
            return;
        }
        let (wkey, key) = match (self.kind, pkt.tcp()) {
            (Kind::PortScan, Some(t)) => ((pkt.src, pkt.dst), u32::from(t.dst_port)),
            (Kind::PortScan, None) => return,
            (Kind::IpSweep, _) => ((pkt.src, Ipv4Addr::UNSPECIFIED), u32::from(pkt.dst)),
        };
        let (t, a, needed) = (self.interval, cfg.anchored, self.needed);
        let n = match self.windows.touch_mut(&wkey, now) {
            Some(w) => w.add(key, now, pkt.frame, t, a),
            None => {
                let fresh = Window {
                    anchor: 0,
                    // Room for the hits that alarm (it is charged for them).
                    hits: Vec::with_capacity(needed.min(MAX_PREALLOCATED_HITS)),
                };
                let cost = self.window_cost();
                self.windows.insert(wkey, fresh, now, cost);
                // Not there if a window costs more than the whole budget.
                let Some(w) = self.windows.touch_mut(&wkey, now) else {
                    return;
                };
                w.add(key, now, pkt.frame, t, a)
            }
        };
        if n >= needed {
            out.push(self.alarm(cfg, now, pkt, wkey, n));
        }
    }

    /// The alarm on the `needed`-th distinct key `n` of window `wkey`,
    /// which goes; the source is blocked from now on. Out of the
    /// per-packet path: one counted packet in about a hundred alarms.
    #[cold]
    #[inline(never)]
    fn alarm(
        &mut self,
        cfg: &Config,
        now: i64,
        pkt: &PacketView<'_>,
        wkey: WinKey,
        n: usize,
    ) -> Alert {
        let (t, a, needed) = (self.interval, cfg.anchored, self.needed);
        let (sport, dport) = pkt.tcp().map_or((0, 0), |t| (t.src_port, t.dst_port));
        let hits = self
            .windows
            .remove(&wkey)
            .map(|w| w.hits)
            .unwrap_or_default();
        let first = hits.first().map_or(now, |h| h.at);
        let tail = format!("(zone {}, int {}). Occurred", cfg.zone, cfg.interface);
        let span = now.saturating_sub(first);
        let shape = if a { "anchored" } else { "sliding" };
        let (text, counters, statement) = match self.kind {
            Kind::PortScan => (
                format!(
                    "Port scan! From {}:{sport} to {}:{dport}, proto TCP {tail}",
                    pkt.src, pkt.dst
                ),
                vec![
                    ("distinct_ports", n as i64),
                    ("window_us", span),
                    ("threshold_us", t),
                    ("ports_needed", needed as i64),
                ],
                format!(
                    "ScreenOS port-scan screen: {n} distinct destination ports from {} to {} \
                     within {span} us (threshold {t} us, ports_needed {needed}, {shape} window)",
                    pkt.src, pkt.dst
                ),
            ),
            Kind::IpSweep => (
                format!(
                    "Address sweep! From {} to {}, proto 1 {tail}",
                    pkt.src, pkt.dst
                ),
                vec![
                    ("distinct_addresses", n as i64),
                    ("window_us", span),
                    ("threshold_us", t),
                    ("addresses_needed", needed as i64),
                ],
                format!(
                    "ScreenOS ip-sweep screen: {n} distinct destination addresses from {} within \
                     {span} us (ip_sweep_threshold {t} us, ip_sweep_needed {needed}, {shape} window)",
                    pkt.src
                ),
            ),
        };
        let victim = (self.kind == Kind::PortScan).then_some(pkt.dst);
        let mut ev = Evidence {
            counters,
            ports: match self.kind {
                Kind::PortScan => hits.iter().map(|h| h.key as u16).collect(),
                Kind::IpSweep => Vec::new(),
            },
            frames: Vec::new(),
            log_line: format!("{text} 1 times."),
            rule: Rule {
                statement,
                counted: self.counted(cfg),
                window: Some((Instant::from_micros(first), Instant::from_micros(now))),
                keys: Vec::new(),
            },
        };
        for h in &hits {
            ev.push_frame(h.frame);
            match self.kind {
                // A port-scan window's keys are ports.
                Kind::PortScan => ev.rule.push_port_key("", h.key as u16, h.frame),
                Kind::IpSweep => ev
                    .rule
                    .push_key(format!("host {}", Ipv4Addr::from(h.key)), h.frame),
            }
        }
        let until = now.saturating_add(cfg.block_us);
        let block = Block {
            until,
            repeats: 0,
            first: now,
            last_frame: None,
            text,
            victim,
            // The packets folded into the block, up to the evidence's
            // limit (it is charged for them): no growing on the way.
            frames: Vec::with_capacity(Evidence::MAX_FRAMES),
        };
        self.blocks.insert(
            pkt.src,
            block,
            until,
            entry_cost::<Ipv4Addr, Block>(BLOCK_HEAP),
        );
        Alert {
            detector: "screenos",
            scanner: pkt.src,
            victim,
            kind: self.alert_kind(),
            first_seen: Instant::from_micros(first),
            time: Instant::from_micros(now),
            trigger_frame: Some(pkt.frame),
            evidence: ev,
        }
    }

    fn memory(&self) -> Memory {
        Memory::of(&self.windows) + Memory::of(&self.blocks)
    }
}

/// The ScreenOS screens.
#[derive(Debug)]
pub struct ScreenOs {
    cfg: Config,
    port_scan: Screen,
    ip_sweep: Screen,
    /// The screen's own sessions (`no-session-any`), by deadline.
    sessions: TimedMap<SessKey, Session>,
}

/// Which TCP packets the port-scan screen counts, in words, with the parameter.
fn counted_text(cfg: &Config) -> String {
    match cfg.count_mode {
        CountMode::SynSet => {
            "every TCP segment with SYN set, SYN-ACKs included (count_mode=syn-set)".into()
        }
        CountMode::SynOnly => {
            "TCP segments with SYN set and ACK clear (count_mode=syn-only)".into()
        }
        CountMode::NoSessionAny => format!(
            "every sessionless TCP segment: none of the screen's sessions matched it \
             (count_mode=no-session-any, tcp_session_timeout={} s)",
            cfg.tcp_session_us / 1_000_000
        ),
    }
}

fn sess_key(a: Ipv4Addr, ap: u16, b: Ipv4Addr, bp: u16) -> SessKey {
    if (a, ap) <= (b, bp) {
        (a, ap, b, bp)
    } else {
        (b, bp, a, ap)
    }
}

impl ScreenOs {
    /// A screen with empty state. `memcap` is split: 40 % for the
    /// port-scan screen, 20 % for the ip-sweep screen, 40 % for sessions.
    pub fn new(cfg: Config) -> Self {
        let m = cfg.memcap;
        ScreenOs {
            port_scan: Screen::new(
                Kind::PortScan,
                cfg.threshold_us,
                cfg.ports_needed,
                m / 5 * 2,
            ),
            ip_sweep: Screen::new(
                Kind::IpSweep,
                cfg.sweep_threshold_us,
                cfg.sweep_needed,
                m / 5,
            ),
            sessions: TimedMap::new(m / 5 * 2),
            cfg,
        }
    }

    /// Emits summaries of blocks that ended before `now` (port-scan screen
    /// first, each in source order), and drops state that can no longer count.
    #[inline]
    fn expire(&mut self, now: i64, out: &mut Vec<Alert>) {
        if self.port_scan.nothing_due(now)
            && self.ip_sweep.nothing_due(now)
            && self.sessions.nothing_before(now)
        {
            return;
        }
        self.expire_due(now, out);
    }

    /// [`ScreenOs::expire`] once something may be due.
    #[inline(never)]
    fn expire_due(&mut self, now: i64, out: &mut Vec<Alert>) {
        self.port_scan.expire(&self.cfg, now, out);
        self.ip_sweep.expire(&self.cfg, now, out);
        while self.sessions.pop_before(now).is_some() {}
    }

    /// True if `key` has a live session (before this packet updates it).
    fn session_lookup(&mut self, now: i64, key: &SessKey) -> bool {
        match self.sessions.get(key) {
            Some(s) if s.deadline >= now => true,
            Some(_) => {
                self.sessions.remove(key);
                false
            }
            None => false,
        }
    }

    fn session_update(&mut self, now: i64, key: SessKey, flags: crate::TcpFlags, existed: bool) {
        let closing = flags.fin() || flags.rst();
        if existed {
            let (closed_us, open_us) = (self.cfg.closed_session_us, self.cfg.tcp_session_us);
            if let Some(s) = self.sessions.get_mut(&key) {
                s.closing |= closing;
                // A closing session is not revived by later packets.
                s.deadline = if s.closing {
                    s.deadline.min(now.saturating_add(closed_us))
                } else {
                    now.saturating_add(open_us)
                };
                let deadline = s.deadline;
                self.sessions.touch(&key, deadline);
            }
        } else if flags.syn() && !flags.ack() && !flags.rst() {
            let life = if closing {
                self.cfg.closed_session_us
            } else {
                self.cfg.tcp_session_us
            };
            let deadline = now.saturating_add(life);
            self.sessions.insert(
                key,
                Session { deadline, closing },
                deadline,
                entry_cost::<SessKey, Session>(0),
            );
        }
    }

    fn on_tcp(&mut self, now: i64, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let Some(tcp) = pkt.tcp() else { return };
        let f = tcp.flags;
        let qualifies = match self.cfg.count_mode {
            CountMode::SynSet => f.syn(),
            CountMode::SynOnly => f.syn() && !f.ack(),
            CountMode::NoSessionAny => {
                let key = sess_key(pkt.src, tcp.src_port, pkt.dst, tcp.dst_port);
                let existed = self.session_lookup(now, &key);
                self.session_update(now, key, f, existed);
                !existed
            }
        };
        if qualifies {
            self.port_scan.hit(&self.cfg, now, pkt, out);
        }
    }
}

impl Detector for ScreenOs {
    fn name(&self) -> &'static str {
        "screenos"
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let now = now.total_micros();
        self.expire(now, out);
        match pkt.protocol {
            proto::TCP => self.on_tcp(now, pkt, out),
            proto::ICMP if pkt.icmp().is_some_and(|i| i.is_echo_request()) => {
                self.ip_sweep.hit(&self.cfg, now, pkt, out);
            }
            _ => {}
        }
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        self.expire(now.total_micros(), out);
    }

    fn memory(&self) -> Memory {
        self.port_scan.memory() + self.ip_sweep.memory() + Memory::of(&self.sessions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    /// Ten probes from 192.0.2.9 to 10.0.0.1 ports 1..=10, `gap` µs apart, flags `f`.
    fn burst(r: &mut Run, t0: i64, gap: i64, f: u8) -> usize {
        (0..10)
            .map(|i| {
                r.push(
                    t0 + i * gap,
                    &tcp(ip("192.0.2.9"), 4000, ip("10.0.0.1"), 1 + i as u16, f),
                )
            })
            .sum()
    }

    #[test]
    fn tenth_port_inside_threshold_alerts() {
        let mut r = Run::new("screenos");
        // 9 gaps of 555 µs = 4995 µs <= 5000.
        assert_eq!(burst(&mut r, 0, 555, S), 1);
        let a = &r.alerts[0];
        assert_eq!(a.trigger_frame, Some(9));
        assert_eq!(a.evidence.counters[0], ("distinct_ports", 10));
        assert_eq!(a.evidence.ports, (1..=10).collect::<Vec<u16>>());
        assert_eq!(
            a.evidence.log_line,
            "Port scan! From 192.0.2.9:4000 to 10.0.0.1:10, proto TCP (zone Untrust, int ethernet0/0). Occurred 1 times."
        );
        // Exactly 5000 µs still counts.
        let mut r = Run::new("screenos");
        for i in 0..10 {
            let t = if i == 9 { 5000 } else { i };
            r.push(t, &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 1 + i as u16, S));
        }
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].evidence.counters[1], ("window_us", 5000));
    }

    #[test]
    fn tenth_port_outside_threshold_does_not() {
        let mut r = Run::new("screenos");
        // 9 gaps of 556 µs = 5004 µs > 5000: the first port has slid out.
        assert_eq!(burst(&mut r, 0, 556, S), 0);
        let mut r = Run::new("screenos:threshold=6000");
        assert_eq!(burst(&mut r, 0, 556, S), 1);
    }

    #[test]
    fn syn_set_counts_syn_ack_syn_only_does_not() {
        let mut r = Run::new("screenos");
        assert_eq!(burst(&mut r, 0, 100, SA), 1);
        let mut r = Run::new("screenos:count_mode=syn-only");
        assert_eq!(burst(&mut r, 0, 100, SA), 0);
        let mut r = Run::new("screenos:count_mode=syn-only");
        assert_eq!(burst(&mut r, 0, 100, S), 1);
        // ACK-only segments never count in the SYN modes.
        let mut r = Run::new("screenos");
        assert_eq!(burst(&mut r, 0, 100, A), 0);
    }

    #[test]
    fn no_session_any_counts_sessionless_acks_only() {
        let mut r = Run::new("screenos:count_mode=no-session-any");
        assert_eq!(burst(&mut r, 0, 100, A), 1);
        // With sessions opened by SYNs long before, the same ACKs are in-session.
        let mut r = Run::new("screenos:count_mode=no-session-any");
        for p in 1..=10u16 {
            r.push(
                i64::from(p) * 10_000,
                &tcp(ip("10.0.0.1"), p, ip("192.0.2.9"), 4000, S),
            );
        }
        assert_eq!(burst(&mut r, 1_000_000, 100, A), 0);
        // After the 30 min idle timeout, they are sessionless again.
        assert_eq!(burst(&mut r, 1_000_000 + 1_801_000_000, 100, A), 1);
    }

    #[test]
    fn the_alert_states_its_rule_with_the_ports_it_counted() {
        let mut r = Run::new("screenos:count_mode=no-session-any");
        assert_eq!(burst(&mut r, 1000, 100, A), 1);
        let rule = &r.alerts[0].evidence.rule;
        assert_eq!(
            rule.statement,
            "ScreenOS port-scan screen: 10 distinct destination ports from 192.0.2.9 to \
             10.0.0.1 within 900 us (threshold 5000 us, ports_needed 10, sliding window)"
        );
        assert!(
            rule.counted.contains("count_mode=no-session-any"),
            "{}",
            rule.counted
        );
        assert!(rule.counted.contains("tcp_session_timeout=1800 s"));
        assert_eq!(
            rule.window,
            Some((Instant::from_micros(1000), Instant::from_micros(1900)))
        );
        let keys: Vec<(&str, u64)> = rule
            .keys
            .iter()
            .map(|k| (k.key.as_str(), k.frame))
            .collect();
        assert_eq!(keys[0], ("port 1", 0));
        assert_eq!(keys[9], ("port 10", 9));
    }

    #[test]
    fn anchored_window_restarts() {
        let mut r = Run::new("screenos:window=anchored");
        // 5 ports at t=0..4, then 5 ports at 5001..: sliding would alert, anchored does not
        for i in 0..5 {
            r.push(
                i,
                &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 100 + i as u16, S),
            );
        }
        for i in 0..5 {
            r.push(
                4990 + i,
                &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 200 + i as u16, S),
            );
        }
        assert_eq!(r.alerts.len(), 1, "sliding-equivalent inside one interval");
        // One port at t=0, six at 4000.., four at 5001..: the sliding window
        // holds the last ten; the anchored one restarts at 5001.
        let feed = |r: &mut Run| {
            r.push(0, &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 99, S));
            for i in 0..6 {
                r.push(
                    4000 + i,
                    &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 100 + i as u16, S),
                );
            }
            for i in 0..4 {
                r.push(
                    5001 + i,
                    &tcp(ip("192.0.2.9"), 1, ip("10.0.0.1"), 200 + i as u16, S),
                );
            }
        };
        let mut r = Run::new("screenos:window=anchored");
        feed(&mut r);
        assert!(r.alerts.is_empty());
        let mut r = Run::new("screenos");
        feed(&mut r);
        assert_eq!(r.alerts.len(), 1);
    }

    #[test]
    fn repeats_fold_into_occurred_n_times() {
        let mut r = Run::new("screenos");
        burst(&mut r, 0, 100, S);
        // Three more SYNs during the block, to another destination too.
        r.push(1000, &tcp(ip("192.0.2.9"), 4000, ip("10.0.0.1"), 11, S));
        r.push(1100, &tcp(ip("192.0.2.9"), 4000, ip("10.0.0.2"), 12, S));
        r.push(1200, &tcp(ip("192.0.2.9"), 4000, ip("10.0.0.1"), 13, S));
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.flush(10_000_000), 1);
        let s = &r.alerts[1];
        assert!(
            s.evidence.log_line.ends_with("Occurred 3 times."),
            "{}",
            s.evidence.log_line
        );
        assert_eq!(s.evidence.counters[0], ("repeat", 1));
    }

    #[test]
    fn address_sweep() {
        let mut r = Run::new("screenos");
        for i in 0..10u8 {
            r.push(
                i64::from(i) * 100,
                &icmp_echo(ip("192.0.2.9"), Ipv4Addr::new(10, 0, 0, i)),
            );
        }
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].kind, AlertKind::AddressSweep);
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .starts_with("Address sweep! From 192.0.2.9 to 10.0.0.9, proto 1 (zone")
        );
    }

    #[test]
    fn single_port_poller_never_alerts() {
        let mut r = Run::new("screenos:count_mode=no-session-any");
        for i in 0..100 {
            r.push(
                i * 600_000_000,
                &tcp(ip("10.0.0.5"), 40000 + i as u16, ip("192.0.2.1"), 443, S),
            );
        }
        assert!(r.alerts.is_empty());
    }
}
