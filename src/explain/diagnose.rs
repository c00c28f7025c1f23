//! The one-sentence diagnosis of an alert: what its packets are (their shape
//! on the wire), what they do in their connections (their roles, read from
//! the capture), and why they exist (their labelled causes, with what the
//! scenario says about the middleboxes behind those causes).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use scanbench_sim::label::Class;

use super::model::{Diagnosis, Packet};
use super::roles::{Answer, Role};
use crate::scenario::Scenario;

/// What the scenario says about its middleboxes, for the cause phrases.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Router name -> how it loses state (`NAT mapping idle timeout 30m`).
    pub state_loss: BTreeMap<String, String>,
    /// Backend address -> (balancer router, VIP, mode).
    pub backends: BTreeMap<Ipv4Addr, (String, Ipv4Addr, String)>,
}

impl Context {
    /// Reads the routers of `scenario`.
    pub fn of(scenario: &Scenario) -> Self {
        let mut cx = Context::default();
        for r in &scenario.file().routers {
            let name = r.name.get_ref().clone();
            let mut how = Vec::new();
            if let Some(fw) = &r.firewall {
                for f in &fw.faults {
                    how.push(format!("a {} at {}", f.kind.replace('_', " "), f.at));
                }
                if let Ok(t) = fw.established_idle_timeout() {
                    how.push(format!(
                        "firewall idle timeout {}",
                        human_us(t.total_micros() as i64)
                    ));
                }
            }
            if let Some(nat) = &r.nat
                && let Ok(t) = nat.established_idle_timeout()
            {
                how.push(format!(
                    "NAT mapping idle timeout {}",
                    human_us(t.total_micros() as i64)
                ));
            }
            if !how.is_empty() {
                cx.state_loss.insert(name.clone(), how.join(", "));
            }
            if let Some(b) = &r.balancer
                && let Ok(vip) = b.vip.trim().parse::<Ipv4Addr>()
            {
                for be in &b.backends {
                    let addr = be.split(':').next().unwrap_or(be).trim();
                    if let Ok(a) = addr.parse::<Ipv4Addr>() {
                        let mode = b.mode.clone().unwrap_or_else(|| "correct".into());
                        cx.backends.insert(a, (name.clone(), vip, mode));
                    }
                }
            }
        }
        cx
    }
}

/// `30m`, `1.5s`, `4ms`, `900us`: rounded to one decimal, in the unit words
/// every human output uses (`scanbench::time_text`, scenario files).
pub fn human_us(us: i64) -> String {
    let trim = |x: f64| {
        let s = format!("{x:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    };
    // Pick the unit by the value as it will print: 59.99 s is `1m`.
    let a = us.unsigned_abs() as f64;
    for (div, unit) in [(3_600e6, "h"), (60e6, "m"), (1e6, "s"), (1e3, "ms")] {
        if (a / div * 10.0).round() >= 10.0 {
            return format!("{}{unit}", trim(us as f64 / div));
        }
    }
    format!("{us}us")
}

/// What kind of segment a flag byte makes, in the plural (`SYN-ACKs`).
pub fn flag_kind(flags: u8) -> &'static str {
    let f = flags & 0x3f;
    match f {
        0x02 => "SYNs",
        0x12 => "SYN-ACKs",
        0x04 => "RSTs",
        0x14 => "RST-ACKs",
        0x10 => "ACKs",
        0x18 => "PSH-ACKs",
        0x11 | 0x19 => "FIN-ACKs",
        0x01 => "FIN probes",
        0x00 => "NULL probes",
        0x29 => "XMAS probes",
        _ => "TCP segments",
    }
}

/// `10 SYN-ACKs from 198.51.100.80:80 to 10 ports of 203.0.113.1`.
pub fn shape(packets: &[Packet]) -> String {
    if packets.is_empty() {
        return "no packets".into();
    }
    let n = packets.len();
    let kinds: BTreeSet<&str> = packets
        .iter()
        .map(|p| match p.frame.flags {
            Some(f) => flag_kind(f.0),
            None => match p.frame.proto {
                1 => "ICMP messages",
                17 => "UDP datagrams",
                _ => "packets",
            },
        })
        .collect();
    let kind = if kinds.len() == 1 {
        kinds
            .iter()
            .next()
            .copied()
            .unwrap_or("packets")
            .to_string()
    } else if packets
        .iter()
        .all(|p| p.frame.flags.is_some_and(|f| f.ack() && !f.syn()))
    {
        format!("ACK-bearing segments ({})", join(kinds.iter().copied()))
    } else {
        format!("packets ({})", join(kinds.iter().copied()))
    };
    let srcs: BTreeSet<Ipv4Addr> = packets.iter().map(|p| p.frame.src).collect();
    let sports: BTreeSet<Option<u16>> = packets.iter().map(|p| p.frame.sport).collect();
    let dsts: BTreeSet<Ipv4Addr> = packets.iter().map(|p| p.frame.dst).collect();
    let dports: BTreeSet<Option<u16>> = packets.iter().map(|p| p.frame.dport).collect();
    let from = match (srcs.len(), sports.len()) {
        (1, 1) => match sports.first().copied().flatten() {
            Some(p) => format!("{}:{p}", first(&srcs)),
            None => first(&srcs).to_string(),
        },
        (1, k) => format!("{} ({k} source ports)", first(&srcs)),
        (k, _) => format!("{k} sources"),
    };
    let to = match (dsts.len(), dports.len()) {
        (1, 1) => match dports.first().copied().flatten() {
            Some(p) => format!("{}:{p}", first(&dsts)),
            None => first(&dsts).to_string(),
        },
        (1, k) => format!("{k} ports of {}", first(&dsts)),
        (k, 1) => match dports.first().copied().flatten() {
            Some(p) => format!("port {p} of {k} hosts"),
            None => format!("{k} hosts"),
        },
        (k, p) => format!("{p} ports of {k} hosts"),
    };
    let kind = if n == 1 { singular(&kind) } else { kind };
    format!("{n} {kind} from {from} to {to}")
}

/// `SYN-ACKs` -> `SYN-ACK`, `FIN probes` -> `FIN probe`.
fn singular(plural: &str) -> String {
    match plural.split_once(' ') {
        None => plural.strip_suffix('s').unwrap_or(plural).to_string(),
        Some((a, b)) => format!("{a} {}", b.strip_suffix('s').unwrap_or(b)),
    }
}

fn first(s: &BTreeSet<Ipv4Addr>) -> Ipv4Addr {
    s.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn join<'a>(xs: impl Iterator<Item = &'a str>) -> String {
    xs.collect::<Vec<_>>().join(", ")
}

/// What the packets do in their connections: the phrase for their most
/// common role.
pub fn mechanism(packets: &[Packet]) -> Option<String> {
    let mut counts: BTreeMap<&'static str, (usize, Role)> = BTreeMap::new();
    for p in packets {
        if let Some(r) = p.role {
            let e = counts.entry(r.name()).or_insert((0, r));
            e.0 += 1;
        }
    }
    let (_, (n, role)) = counts.iter().max_by_key(|(name, (n, _))| (*n, *name))?;
    let total = packets.len();
    let of = if *n == total {
        "all".to_string()
    } else {
        format!("{n} of {total}")
    };
    let receivers: BTreeSet<Ipv4Addr> = packets
        .iter()
        .filter(|p| p.role.is_some_and(|r| r.name() == role.name()))
        .map(|p| p.frame.dst)
        .collect();
    let rx = if receivers.len() == 1 {
        first(&receivers).to_string()
    } else {
        "the receivers".to_string()
    };
    Some(match role {
        Role::Answer => {
            let times: Vec<i64> = packets
                .iter()
                .filter(|p| p.role == Some(Role::Answer))
                .map(|p| p.frame.at.total_micros())
                .collect();
            let span = times.iter().max().unwrap_or(&0) - times.iter().min().unwrap_or(&0);
            let parallel = if *n >= 2 && span < 1_000_000 {
                format!(
                    ", {n} of them within {}: connections set up in parallel",
                    human_us(span)
                )
            } else {
                String::new()
            };
            format!(
                "{of} are replies within connections {rx} itself opened (each answers its SYN){parallel}"
            )
        }
        Role::WrongSource { asked } => format!(
            "{of} answer SYNs that {rx} sent to another address ({asked}): replies from the wrong address"
        ),
        Role::Late { .. } => {
            let idle: Vec<i64> = packets
                .iter()
                .filter_map(|p| match p.role {
                    Some(Role::Late { idle_us, .. }) => Some(idle_us),
                    _ => None,
                })
                .collect();
            let lo = idle.iter().copied().min().unwrap_or(0);
            let hi = idle.iter().copied().max().unwrap_or(0);
            let span = if human_us(lo) == human_us(hi) {
                human_us(lo)
            } else {
                format!("{}-{}", human_us(lo), human_us(hi))
            };
            format!(
                "{of} are late segments of connections {rx} had been silent on for {span}, which it never answered"
            )
        }
        Role::Open { .. } => {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for p in packets {
                if let Some(Role::Open { answer }) = p.role {
                    *by.entry(match answer {
                        Answer::SynAck => "answered SYN-ACK (open)",
                        Answer::Reset => "refused with RST (closed)",
                        Answer::Nothing => "got no answer (filtered)",
                    })
                    .or_default() += 1;
                }
            }
            let parts: Vec<String> = by.iter().map(|(k, v)| format!("{v} {k}")).collect();
            format!(
                "{of} are connection attempts or probes: {}",
                parts.join(", ")
            )
        }
        Role::Refusal => format!("{of} refuse {rx}'s SYNs (closed ports)"),
        Role::RejectsStray => format!("{of} reset stray SYN-ACKs"),
        Role::Unsolicited => format!("{of} are SYN-ACKs no SYN on this link asked for"),
        Role::InConnection { .. } => format!("{of} belong to open connections"),
        Role::Midstream => format!("{of} belong to connections the sensor never saw open"),
    })
}

/// The phrase for one cause, with what the scenario says about it.
fn cause_phrase(cause: &str, packets: &[&Packet], cx: &Context) -> String {
    match cause {
        "balancer-misconfig" => {
            let via: BTreeSet<String> = packets
                .iter()
                .filter_map(|p| {
                    cx.backends.get(&p.frame.src).map(|(lb, vip, mode)| {
                        format!("balancer {lb} (VIP {vip}, mode {mode}) let its backend answer with its own address")
                    })
                })
                .collect();
            if via.is_empty() {
                "a load balancer's backend answered with its own address instead of the VIP (no SNAT)".into()
            } else {
                via.into_iter().collect::<Vec<_>>().join("; ")
            }
        }
        "state-loss" => {
            let routers: BTreeSet<&str> = packets
                .iter()
                .filter_map(|p| p.fate.as_ref().map(|f| f.dropped_by.as_str()))
                .collect();
            if routers.is_empty() {
                "a middlebox had lost their connections' state".into()
            } else {
                routers
                    .iter()
                    .map(|r| match cx.state_loss.get(*r) {
                        Some(how) => format!("{r} dropped them for state it had lost ({how})"),
                        None => format!("{r} dropped them for state it had lost"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        }
        "poll" => "periodic polls".into(),
        "session" => "long-lived sessions".into(),
        "browse" => "page loads".into(),
        "scan" => "a scan".into(),
        "health-check" => "a balancer's health checks".into(),
        "serve" => "a server's own traffic".into(),
        other => format!("cause {other}"),
    }
}

/// The diagnosis of one alert's packets.
pub fn diagnose(packets: &[Packet], cx: &Context) -> Diagnosis {
    let mut causes: BTreeMap<String, u64> = BTreeMap::new();
    let mut actors: BTreeSet<String> = BTreeSet::new();
    let mut classes: BTreeSet<Class> = BTreeSet::new();
    for p in packets {
        if let Some(l) = p.cause_label() {
            *causes.entry(l.cause.clone()).or_default() += 1;
            actors.insert(l.actor.clone());
            classes.insert(l.class);
        }
    }
    let class = match (classes.len(), classes.first()) {
        (0, _) => "unlabelled".to_string(),
        (1, Some(c)) => c.as_str().to_string(),
        _ => "mixed".to_string(),
    };
    let mut causes: Vec<(String, u64)> = causes.into_iter().collect();
    causes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let actors: Vec<String> = actors.into_iter().collect();
    let mut sentence = format!("{class}: {}", shape(packets));
    if let Some(m) = mechanism(packets) {
        sentence.push_str(&format!("; {m}"));
    }
    let phrases: Vec<String> = causes
        .iter()
        .map(|(c, _)| {
            let mine: Vec<&Packet> = packets
                .iter()
                .filter(|p| p.cause_label().is_some_and(|l| &l.cause == c))
                .collect();
            cause_phrase(c, &mine, cx)
        })
        .collect();
    if !phrases.is_empty() {
        sentence.push_str(&format!("; {}", phrases.join("; ")));
        let cs: Vec<String> = if causes.len() == 1 {
            vec![causes[0].0.clone()]
        } else {
            causes.iter().map(|(c, n)| format!("{c} x{n}")).collect()
        };
        sentence.push_str(&format!(
            " (cause {}; actor{} {})",
            cs.join(", "),
            if actors.len() == 1 { "" } else { "s" },
            actors.join(", ")
        ));
    }
    Diagnosis {
        class,
        sentence,
        causes,
        actors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_us(1_800_000_000), "30m");
        assert_eq!(human_us(1_500_000), "1.5s");
        assert_eq!(human_us(4_000), "4ms");
        assert_eq!(human_us(900), "900us");
        assert_eq!(human_us(7_200_000_000), "2h");
    }
}
