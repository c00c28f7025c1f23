//! Suricata-style threshold rules: the Emerging Threats Open scan rules as a
//! tiny rule engine (Suricata has no built-in scan detector).
//!
//! Sources: Suricata user guide *Rules › Thresholding* (`threshold: type
//! threshold|limit|both, track by_src|by_dst, count N, seconds T`) and *Rules ›
//! Flow keywords / Header keywords* (`flags:S,12`: SYN set, every other flag
//! clear except CWR (`1`) and ECE (`2`), which are ignored); ET Open rules
//! sid 2001219 and 2002910 as reproduced in public rule sets; docs/detectors/suricata-et.md.
//!
//! # Rule model
//! A rule matches a TCP packet whose destination port is in the rule's port
//! set, whose flags match the `flags` expression, whose destination is in
//! `home_net` and whose source is not (`$EXTERNAL_NET` = `!$HOME_NET`, the
//! suricata.yaml default); with `home_net` empty both are *any*. Each match
//! goes through the rule's threshold, keyed by source (`by_src`) or destination
//! (`by_dst`) address. The window starts at the first match after the previous
//! window ended and lasts `seconds` (a match at exactly `start + seconds` opens
//! a new window):
//! - `threshold`: alert on every `count`-th match in the window (counter resets after each alert);
//! - `limit`: alert on the first `count` matches in the window;
//! - `both`: alert once, on the `count`-th match in the window.
//!
//! # Parameters
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `home_net` | empty (any) | `$HOME_NET`, CIDRs separated by `;` |
//! | `rules` | `et-ssh;et-vnc` | shipped rules to load (`et-ssh`, `et-vnc`, or empty) |
//! | `rule` | empty | extra rules in compact form, separated by `|` (below) |
//! | `host_memcap` | 33554432 (32 MiB) | threshold state, `suricata.yaml` `host: memcap: 32mb` |
//!
//! Shipped rules:
//!
//! | key | rule | source |
//! |---|---|---|
//! | `et-ssh` | sid 2001219 rev 20 *ET SCAN Potential SSH Scan*: port 22, `flags:S,12`, `type both, track by_src, count 5, seconds 120` | ET Open `emerging-scan.rules` |
//! | `et-vnc` | sid 2002910 rev 6 *ET SCAN Potential VNC Scan 5800-5820*: ports 5800:5820, `flags:S,12`, `type both, track by_src, count 5, seconds 60` | ET Open (rev 5 in 2010 copies, rev 6 in recent fast.log samples) |
//!
//! Compact rule form (no commas: the detector spec separates parameters with
//! commas): `ports;flags;type;track;count;seconds[;sid:N][;rev:N][;msg:TEXT]`,
//! e.g. `rule=22;S/12;both;by_src;5;120;sid:9000001;msg:SSH probe`. `ports` is
//! `any`, `N`, `A:B` (range, as in Suricata) or `A+B+C`; `flags` is the Suricata
//! flags expression with `/` in place of its comma (`S/12`, `+S`, `*SF`, `0`).
//! A leading `tcp;` is accepted and ignored (TCP only).
//!
//! # Alerts
//! Kind [`AlertKind::Scanner`]; counters `sid`, `count`, `seconds`, `matches`.
//! Log line in fast.log form:
//! `MM/DD/YYYY-HH:MM:SS.uuuuuu  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} src:sport -> dst:dport`,
//! with the packet time read as UTC since the Unix epoch (virtual time 0 prints
//! `01/01/1970-00:00:00.000000`).
//!
//! # Deviations from upstream
//! - Stateless: `flow:to_server` (SSH rule) is read as "a SYN is sent to the
//!   server", true for every pure SYN; no stream engine.
//! - Only TCP header rules with `flags`, ports and thresholds; no content
//!   matching, no `detection_filter`, no `by_rule`/`by_both`/`by_flow`.
//! - Threshold state is bounded by `host_memcap` (Suricata keeps `by_src` /
//!   `by_dst` thresholds in its host table, whose `host.memcap` defaults to
//!   32 MiB in `suricata.yaml`), shared equally by the rules. When a rule's
//!   share is full, the window that started first is dropped (an ended one
//!   whenever there is one, which is invisible to the counts) and counted in
//!   the report's evictions. Suricata instead refuses new hosts when its
//!   memcap is reached.

use core::net::Ipv4Addr;

use crate::DetectorInfo;
use crate::params::{Cidr, ConfigError, ParamSpec, Params};
use crate::state::{PortSet, TimedMap, entry_cost};
use crate::view::Tcp;
use crate::{Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, PacketView};

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "home_net",
        default: "",
        help: "$HOME_NET as CIDRs separated by `;`; empty = any (and $EXTERNAL_NET any)",
    },
    ParamSpec {
        name: "rules",
        default: "et-ssh;et-vnc",
        help: "shipped ET Open rules: et-ssh (sid 2001219), et-vnc (sid 2002910)",
    },
    ParamSpec {
        name: "rule",
        default: "",
        help: "extra rules, `|`-separated: ports;flags;type;track;count;seconds[;sid:N][;rev:N][;msg:TEXT]",
    },
    ParamSpec {
        name: "host_memcap",
        default: "33554432",
        help: "bytes of threshold state at most, oldest window dropped first (suricata.yaml host.memcap 32mb)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "suricata-et",
    summary: "Suricata with ET Open scan rules: 5 SYNs to :22 per 120 s, 5 SYNs to :5800-5820 per 60 s (type both, by_src)",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let mut rules = Vec::new();
    for key in p.raw("rules").split([';', ' ']).filter(|s| !s.is_empty()) {
        rules.push(match key.to_ascii_lowercase().as_str() {
            "et-ssh" => Rule::et_ssh(),
            "et-vnc" => Rule::et_vnc(),
            other => {
                return Err(ConfigError::BadValue {
                    detector: "suricata-et".into(),
                    param: "rules".into(),
                    value: other.into(),
                    reason: "expected et-ssh or et-vnc".into(),
                });
            }
        });
    }
    for text in p.raw("rule").split('|').filter(|s| !s.trim().is_empty()) {
        rules.push(Rule::parse(text).map_err(|reason| ConfigError::BadValue {
            detector: "suricata-et".into(),
            param: "rule".into(),
            value: text.into(),
            reason,
        })?);
    }
    let memcap = p.u64_in("host_memcap", 1 << 16, 1 << 40)?;
    Ok(Box::new(ThresholdRules::new(
        p.cidrs("home_net")?,
        rules,
        memcap,
    )))
}

/// A Suricata `flags` expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagMatch {
    /// Flags named in the expression.
    pub want: u8,
    /// Flags ignored (after the comma).
    pub ignore: u8,
    /// Modifier: `None` = exactly, `+` = these and any others, `*` = any of these, `!` = none of these.
    pub modifier: Option<char>,
}

impl FlagMatch {
    /// Parses `S/12`, `S,12`, `+S`, `*SF`, `!R`, `0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (main, ign) = text.split_once(['/', ',']).unwrap_or((text, ""));
        let (modifier, letters) = match main.chars().next() {
            Some(c @ ('+' | '*' | '!')) => (Some(c), &main[1..]),
            _ => (None, main),
        };
        let bits = |s: &str| -> Result<u8, String> {
            let mut v = 0u8;
            for c in s.chars() {
                v |= match c.to_ascii_uppercase() {
                    'F' => 0x01,
                    'S' => 0x02,
                    'R' => 0x04,
                    'P' => 0x08,
                    'A' => 0x10,
                    'U' => 0x20,
                    'E' | '2' => 0x40,
                    'C' | '1' => 0x80,
                    '0' => 0,
                    other => return Err(format!("unknown TCP flag `{other}`")),
                };
            }
            Ok(v)
        };
        if letters.is_empty() {
            return Err("empty flags expression".into());
        }
        Ok(FlagMatch {
            want: bits(letters)?,
            ignore: bits(ign)?,
            modifier,
        })
    }

    /// True if the raw flag byte matches.
    pub fn matches(&self, flags: u8) -> bool {
        let f = flags & !self.ignore;
        match self.modifier {
            None => f == self.want,
            Some('+') => f & self.want == self.want,
            Some('*') => f & self.want != 0,
            Some('!') => f & self.want == 0,
            Some(_) => false,
        }
    }
}

/// A flags expression written back in Suricata's notation (`S,12`).
fn flags_text(f: &FlagMatch) -> String {
    let letters = |v: u8| -> String {
        let mut s = String::new();
        for (bit, c) in [
            (0x01, 'F'),
            (0x02, 'S'),
            (0x04, 'R'),
            (0x08, 'P'),
            (0x10, 'A'),
            (0x20, 'U'),
            (0x40, '2'),
            (0x80, '1'),
        ] {
            if v & bit != 0 {
                s.push(c);
            }
        }
        if s.is_empty() { "0".into() } else { s }
    };
    let mut s: String = f.modifier.map(String::from).unwrap_or_default();
    s.push_str(&letters(f.want));
    if f.ignore != 0 {
        s.push(',');
        s.push_str(&letters(f.ignore));
    }
    s
}

/// Threshold type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdType {
    /// Every `count`-th match in the window.
    Threshold,
    /// The first `count` matches in the window.
    Limit,
    /// Once per window, on the `count`-th match.
    Both,
}

/// Which address keys the threshold state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// By source address.
    BySrc,
    /// By destination address.
    ByDst,
}

/// One threshold rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// Message.
    pub msg: String,
    /// Classification text for fast.log.
    pub classification: String,
    /// Priority for fast.log.
    pub priority: u8,
    /// Destination ports (inclusive ranges); empty = any.
    pub ports: Vec<(u16, u16)>,
    /// Flags expression.
    pub flags: FlagMatch,
    /// Threshold type.
    pub kind: ThresholdType,
    /// Tracking key.
    pub track: Track,
    /// Threshold count.
    pub count: u64,
    /// Window, seconds.
    pub seconds: u64,
}

impl Rule {
    /// ET SCAN Potential SSH Scan (sid 2001219 rev 20).
    pub fn et_ssh() -> Rule {
        Rule {
            sid: 2_001_219,
            rev: 20,
            msg: "ET SCAN Potential SSH Scan".into(),
            classification: "Attempted Information Leak".into(),
            priority: 2,
            ports: vec![(22, 22)],
            flags: FlagMatch {
                want: 0x02,
                ignore: 0xc0,
                modifier: None,
            },
            kind: ThresholdType::Both,
            track: Track::BySrc,
            count: 5,
            seconds: 120,
        }
    }

    /// ET SCAN Potential VNC Scan 5800-5820 (sid 2002910 rev 6).
    pub fn et_vnc() -> Rule {
        Rule {
            sid: 2_002_910,
            rev: 6,
            msg: "ET SCAN Potential VNC Scan 5800-5820".into(),
            ports: vec![(5800, 5820)],
            seconds: 60,
            ..Rule::et_ssh()
        }
    }

    /// Parses the compact form (module docs).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut parts: Vec<&str> = text.split(';').map(str::trim).collect();
        if parts.first().is_some_and(|p| p.eq_ignore_ascii_case("tcp")) {
            parts.remove(0);
        }
        if parts.len() < 6 {
            return Err(
                "expected ports;flags;type;track;count;seconds[;sid:N][;rev:N][;msg:TEXT]".into(),
            );
        }
        let ports = parse_ports(parts[0])?;
        let flags = FlagMatch::parse(parts[1])?;
        let kind = match parts[2].to_ascii_lowercase().as_str() {
            "threshold" => ThresholdType::Threshold,
            "limit" => ThresholdType::Limit,
            "both" => ThresholdType::Both,
            o => return Err(format!("type `{o}`: expected threshold, limit or both")),
        };
        let track = match parts[3].to_ascii_lowercase().as_str() {
            "by_src" => Track::BySrc,
            "by_dst" => Track::ByDst,
            o => return Err(format!("track `{o}`: expected by_src or by_dst")),
        };
        let count: u64 = parts[4]
            .parse()
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| format!("count `{}`: expected an integer >= 1", parts[4]))?;
        let seconds: u64 = parts[5]
            .parse()
            .ok()
            .filter(|s| *s >= 1 && *s <= 1 << 32)
            .ok_or_else(|| format!("seconds `{}`: expected an integer >= 1", parts[5]))?;
        let mut rule = Rule {
            sid: 9_000_000,
            rev: 1,
            msg: "scanbench custom threshold rule".into(),
            classification: "Attempted Information Leak".into(),
            priority: 2,
            ports,
            flags,
            kind,
            track,
            count,
            seconds,
        };
        for opt in &parts[6..] {
            let (k, v) = opt
                .split_once(':')
                .ok_or_else(|| format!("option `{opt}`: expected key:value"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "sid" => rule.sid = v.trim().parse().map_err(|_| format!("sid `{v}`"))?,
                "rev" => rule.rev = v.trim().parse().map_err(|_| format!("rev `{v}`"))?,
                "msg" => rule.msg = v.trim().to_string(),
                o => return Err(format!("unknown option `{o}`")),
            }
        }
        Ok(rule)
    }

    fn port_matches(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.iter().any(|(a, b)| (*a..=*b).contains(&port))
    }
}

fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    if s.eq_ignore_ascii_case("any") {
        return Ok(Vec::new());
    }
    s.split('+')
        .map(|p| {
            let (a, b) = p.split_once(':').unwrap_or((p, p));
            let a: u16 = a.trim().parse().map_err(|_| format!("port `{p}`"))?;
            let b: u16 = b.trim().parse().map_err(|_| format!("port `{p}`"))?;
            if a > b {
                return Err(format!("port range `{p}` is reversed"));
            }
            Ok((a, b))
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Window {
    start: Instant,
    count: u64,
    matches: u64,
    frames: Vec<u64>,
    /// Each match (destination endpoint) with its frame.
    counted: Vec<Counted>,
}

/// The rule engine.
#[derive(Clone, Debug)]
pub struct ThresholdRules {
    home_net: Vec<Cidr>,
    rules: Vec<Rule>,
    /// Per rule: tracked address → window, timed by the window's start.
    state: Vec<TimedMap<Ipv4Addr, Window>>,
    /// Destination ports some rule matches: most packets go to none, and
    /// are done with after one bit test instead of a walk of the rules.
    any_rule_ports: PortSet,
}

/// What a window is charged when it opens, and per match it keeps as
/// evidence (a frame and its counted endpoint).
const WINDOW_COST: u64 = entry_cost::<Ipv4Addr, Window>(0);
const MATCH_COST: u64 = (8 + size_of::<Counted>() + 24) as u64;

impl ThresholdRules {
    /// An engine over `rules`, their threshold state sharing `memcap` bytes
    /// equally (Suricata keeps it in the host table, `host.memcap`).
    pub fn new(home_net: Vec<Cidr>, rules: Vec<Rule>, memcap: u64) -> Self {
        let share = memcap / rules.len().max(1) as u64;
        let state = rules.iter().map(|_| TimedMap::new(share)).collect();
        let mut any_rule_ports = PortSet::default();
        for rule in &rules {
            if rule.ports.is_empty() {
                any_rule_ports.insert_range(0, u16::MAX);
            }
            for &(a, b) in &rule.ports {
                any_rule_ports.insert_range(a, b);
            }
        }
        ThresholdRules {
            home_net,
            rules,
            state,
            any_rule_ports,
        }
    }

    fn in_home(&self, ip: Ipv4Addr) -> bool {
        self.home_net.iter().any(|c| c.contains(ip))
    }
}

/// `MM/DD/YYYY-HH:MM:SS.uuuuuu` of a packet time read as UTC since the epoch.
pub(crate) fn fast_log_time(t: Instant) -> String {
    let us = t.total_micros();
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = crate::iptables_log::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{m:02}/{d:02}/{y:04}-{:02}:{:02}:{:02}.{frac:06}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// The alert of a rule whose threshold `w` just fired on `pkt`: built out
/// of the per-packet path (one packet in thousands fires), which then
/// keeps none of its formatting.
#[cold]
#[inline(never)]
fn alert(
    rule: &Rule,
    key: Ipv4Addr,
    now: Instant,
    pkt: &PacketView<'_>,
    t: &Tcp<'_>,
    w: &Window,
) -> Alert {
    let log_line = format!(
        "{}  [**] [1:{}:{}] {} [**] [Classification: {}] [Priority: {}] {{TCP}} {}:{} -> {}:{}",
        fast_log_time(now),
        rule.sid,
        rule.rev,
        rule.msg,
        rule.classification,
        rule.priority,
        pkt.src,
        t.src_port,
        pkt.dst,
        t.dst_port
    );
    Alert {
        detector: "suricata-et",
        scanner: pkt.src,
        victim: (rule.track == Track::ByDst).then_some(pkt.dst),
        kind: AlertKind::Scanner,
        first_seen: w.start,
        time: now,
        trigger_frame: Some(pkt.frame),
        evidence: Evidence {
            counters: vec![
                ("sid", i64::from(rule.sid)),
                ("count", rule.count as i64),
                ("seconds", rule.seconds as i64),
                ("matches", w.matches as i64),
            ],
            ports: vec![t.dst_port],
            frames: w.frames.clone(),
            log_line,
            rule: crate::Rule {
                statement: format!(
                    "Suricata threshold (type {}, track {}, count {}, seconds {}) on sid \
                     {} \"{}\": match {} of {} {} within {} s",
                    match rule.kind {
                        ThresholdType::Threshold => "threshold",
                        ThresholdType::Limit => "limit",
                        ThresholdType::Both => "both",
                    },
                    match rule.track {
                        Track::BySrc => "by_src",
                        Track::ByDst => "by_dst",
                    },
                    rule.count,
                    rule.seconds,
                    rule.sid,
                    rule.msg,
                    w.matches,
                    match rule.track {
                        Track::BySrc => "from",
                        Track::ByDst => "to",
                    },
                    key,
                    (now.total_micros() - w.start.total_micros()) / 1_000_000
                ),
                counted: format!(
                    "TCP packets to {} whose flags match `{}`",
                    if rule.ports.is_empty() {
                        "any port".to_string()
                    } else {
                        rule.ports
                            .iter()
                            .map(|(a, b)| {
                                if a == b {
                                    format!("port {a}")
                                } else {
                                    format!("ports {a}-{b}")
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    flags_text(&rule.flags)
                ),
                window: Some((w.start, now)),
                keys: w.counted.clone(),
            },
        },
    }
}

impl Detector for ThresholdRules {
    fn name(&self) -> &'static str {
        "suricata-et"
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let Some(t) = pkt.tcp() else { return };
        if !self.any_rule_ports.contains(t.dst_port) {
            return;
        }
        if !self.home_net.is_empty() && (!self.in_home(pkt.dst) || self.in_home(pkt.src)) {
            return;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.port_matches(t.dst_port) || !rule.flags.matches(t.flags.0) {
                continue;
            }
            let key = match rule.track {
                Track::BySrc => pkt.src,
                Track::ByDst => pkt.dst,
            };
            let span = (rule.seconds as i64).saturating_mul(1_000_000);
            let table = &mut self.state[i];
            let t_us = now.total_micros();
            let open = table
                .get(&key)
                .is_some_and(|w| t_us.saturating_sub(w.start.total_micros()) < span);
            if !open {
                // A new window (the first match, or the first after the last
                // one ended). When the table is full the window that started
                // first goes: an ended one whenever there is one.
                let fresh = Window {
                    start: now,
                    count: 0,
                    matches: 0,
                    frames: Vec::new(),
                    counted: Vec::new(),
                };
                table.insert(key, fresh, t_us, WINDOW_COST);
            }
            let keeps = table
                .get(&key)
                .is_some_and(|w| w.frames.len() < Evidence::MAX_FRAMES);
            if keeps {
                table.grow(&key, MATCH_COST);
            }
            let Some(w) = table.get_mut(&key) else {
                continue;
            };
            w.count = w.count.saturating_add(1);
            w.matches = w.matches.saturating_add(1);
            if w.frames.len() < Evidence::MAX_FRAMES {
                w.frames.push(pkt.frame);
                w.counted.push(Counted {
                    key: format!("{}:{}", pkt.dst, t.dst_port),
                    frame: pkt.frame,
                });
            }
            let fire = match rule.kind {
                ThresholdType::Both => w.count == rule.count,
                ThresholdType::Limit => w.count <= rule.count,
                ThresholdType::Threshold => {
                    let hit = w.count >= rule.count;
                    if hit {
                        w.count = 0;
                    }
                    hit
                }
            };
            if !fire {
                continue;
            }
            out.push(alert(rule, key, now, pkt, t, w));
        }
    }

    fn memory(&self) -> Memory {
        self.state
            .iter()
            .map(Memory::of)
            .fold(Memory::default(), |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Run, S, SA, ip, tcp};

    const SEC: i64 = 1_000_000;

    #[test]
    fn ssh_rule_fires_on_fifth_syn_within_120s_once_per_window() {
        let mut r = Run::new("suricata-et");
        let a = ip("203.0.113.7");
        for i in 0..4u8 {
            let dst = Ipv4Addr::new(10, 0, 0, i);
            assert_eq!(
                r.push(i64::from(i) * 20 * SEC, &tcp(a, 40000, dst, 22, S)),
                0
            );
        }
        assert_eq!(r.push(100 * SEC, &tcp(a, 40001, ip("10.0.0.9"), 22, S)), 1);
        let al = &r.alerts[0];
        assert_eq!(
            al.evidence.log_line,
            "01/01/1970-00:01:40.000000  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] \
             [Classification: Attempted Information Leak] [Priority: 2] {TCP} 203.0.113.7:40001 -> 10.0.0.9:22"
        );
        assert_eq!(al.trigger_frame, Some(4));
        assert_eq!(al.first_seen, Instant::from_micros(0));
        // More SYNs in the same window: no second alert (type both).
        for i in 0..10 {
            assert_eq!(r.push(101 * SEC + i, &tcp(a, 1, ip("10.0.0.1"), 22, S)), 0);
        }
        // New window at 120 s: five more fire again.
        for i in 0..4 {
            assert_eq!(r.push(120 * SEC + i, &tcp(a, 1, ip("10.0.0.1"), 22, S)), 0);
        }
        assert_eq!(r.push(121 * SEC, &tcp(a, 1, ip("10.0.0.1"), 22, S)), 1);
    }

    #[test]
    fn four_syns_or_wrong_flags_do_not_fire() {
        let mut r = Run::new("suricata-et");
        let a = ip("203.0.113.7");
        for i in 0..4 {
            r.push(i * SEC, &tcp(a, 1, ip("10.0.0.1"), 22, S));
        }
        for f in [SA, 0x03, 0x12] {
            r.push(5 * SEC, &tcp(a, 1, ip("10.0.0.1"), 22, f));
        }
        assert!(r.alerts.is_empty());
        // SYN with ECE|CWR still matches flags:S,12.
        assert_eq!(r.push(6 * SEC, &tcp(a, 1, ip("10.0.0.1"), 22, 0xc2)), 1);
        // Spread beyond the window: restarts.
        let mut r = Run::new("suricata-et");
        for i in 0..5 {
            r.push(i * 40 * SEC, &tcp(a, 1, ip("10.0.0.1"), 22, S));
        }
        assert!(r.alerts.is_empty(), "window 0..120 s holds only 3 SYNs");
    }

    #[test]
    fn vnc_rule_and_home_net() {
        let mut r = Run::new("suricata-et:home_net=10.0.0.0/8");
        let a = ip("203.0.113.7");
        for p in 5800..5805 {
            r.push(i64::from(p), &tcp(a, 1, ip("10.0.0.1"), p, S));
        }
        assert_eq!(r.alerts.len(), 1);
        assert!(r.alerts[0].evidence.log_line.contains("[1:2002910:6]"));
        // Internal source: not $EXTERNAL_NET.
        let mut r = Run::new("suricata-et:home_net=10.0.0.0/8");
        for p in 5800..5810 {
            r.push(i64::from(p), &tcp(ip("10.1.1.1"), 1, ip("10.0.0.1"), p, S));
        }
        assert!(r.alerts.is_empty());
    }

    #[test]
    fn compact_rules_threshold_and_limit() {
        let mut r = Run::new(
            "suricata-et:rules=,rule=tcp;80+443;S/12;threshold;by_dst;2;10;sid:9000001;msg:web probe",
        );
        for i in 0..5 {
            r.push(i, &tcp(ip("1.1.1.1"), 1, ip("2.2.2.2"), 443, S));
        }
        assert_eq!(r.alerts.len(), 2, "every 2nd match");
        assert!(
            r.alerts[0]
                .evidence
                .log_line
                .contains("[1:9000001:1] web probe")
        );
        let mut r = Run::new("suricata-et:rules=,rule=any;S;limit;by_src;2;10");
        for i in 0..5 {
            r.push(i, &tcp(ip("1.1.1.1"), 1, ip("2.2.2.2"), 1 + i as u16, S));
        }
        assert_eq!(r.alerts.len(), 2, "at most 2 per window");
        assert!(
            crate::testutil::configure(&INFO, "suricata-et:rule=22;Q;both;by_src;5;120").is_err()
        );
        assert!(crate::testutil::configure(&INFO, "suricata-et:rules=et-foo").is_err());
    }

    #[test]
    fn flag_expressions() {
        let f = FlagMatch::parse("S,12").unwrap();
        assert!(f.matches(0x02) && f.matches(0x42) && !f.matches(0x12));
        assert!(FlagMatch::parse("+S").unwrap().matches(0x12));
        assert!(FlagMatch::parse("*SF").unwrap().matches(0x01));
        assert!(FlagMatch::parse("0").unwrap().matches(0));
        assert!(FlagMatch::parse("!R").unwrap().matches(0x02));
    }
}
