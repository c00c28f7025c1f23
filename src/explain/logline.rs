//! Field reports: one detector log line, read into the shape of the alert it
//! reports (which detector, who is blamed, which ports in which roles), so
//! that simulated alerts can be compared with it.
//!
//! Forms read (each also with a syslog prefix `Mon DD HH:MM:SS host tag:`):
//!
//! | detector | form |
//! |---|---|
//! | ScreenOS `system-alert-00016` | `[Root]system-alert-00016: Port scan! From A:P to B:Q, proto TCP (zone Z, int I). Occurred N times.` |
//! | ScreenOS `system-alert-00017` | `Address sweep! From A to B, proto 1 (zone Z, int I). Occurred N times.` |
//! | scanlogd (`do_log`) | `A[:P] to B[ and others,] ports P1, P2, ..., FLAGS[, TOS xx][, TTL n] @HH:MM:SS` |
//! | psad (`scan detected`) | `scan detected[ (...)]: A -> B tcp: [P1-P2] flags: F tcp pkts: N DL: n` |
//! | Snort sfPortscan | `[**] [122:SID:REV] (portscan) MESSAGE [**] ... {PROTO:255} A -> B` (the fast-alert line, or the full alert's first lines) |
//!
//! Addresses may be placeholders (`<server>`, `$my-server-ip`): a report
//! often hides them. Each distinct placeholder gets a documentation address
//! ([`PLACEHOLDER_ADDRS`]), so the hypotheses can still be simulated.

use std::fmt;
use std::net::Ipv4Addr;

/// Addresses given to placeholders, in order of appearance: the blamed
/// side, then the reporting side (RFC 5737 documentation ranges).
pub const PLACEHOLDER_ADDRS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 80),
    Ipv4Addr::new(203, 0, 113, 1),
];

/// Which detector wrote the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// ScreenOS / Junos screen.
    ScreenOs,
    /// scanlogd.
    Scanlogd,
    /// psad.
    Psad,
    /// Snort sfPortscan.
    SfPortscan,
}

impl Source {
    /// The registry name of the bench's re-implementation.
    pub fn detector(self) -> &'static str {
        match self {
            Source::ScreenOs => "screenos",
            Source::Scanlogd => "scanlogd",
            Source::Psad => "psad",
            Source::SfPortscan => "sfportscan",
        }
    }
}

/// An address as the line gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    /// The address used for simulation.
    pub addr: Ipv4Addr,
    /// The placeholder the line had instead, if any (`<server>`).
    pub placeholder: Option<String>,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.placeholder {
            Some(p) => write!(f, "{p} ({})", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// A port's role: a service port (below 1024) or a high one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRole {
    /// Below 1024: a well-known service port.
    Service(u16),
    /// 1024 and above: an ephemeral or registered port.
    High,
}

impl PortRole {
    /// The role of `p`.
    pub fn of(p: u16) -> Self {
        if p < 1024 {
            PortRole::Service(p)
        } else {
            PortRole::High
        }
    }

    /// `service port 80` or `high port`.
    pub fn describe(self) -> String {
        match self {
            PortRole::Service(p) => format!("service port {p}"),
            PortRole::High => "high port".into(),
        }
    }
}

/// The alert a log line reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported {
    /// The detector.
    pub source: Source,
    /// What the tool calls it (`system-alert-00016 Port scan`, `TCP Portscan (122:1)`).
    pub what: String,
    /// The blamed address.
    pub src: Addr,
    /// Its source port, when the line gives one.
    pub sport: Option<u16>,
    /// The reporting side's address.
    pub dst: Option<Addr>,
    /// The destination port the line names (ScreenOS: the last counted one).
    pub dport: Option<u16>,
    /// Destination ports the line lists (scanlogd), or the range's ends (psad).
    pub ports: Vec<u16>,
    /// Protocol name (`TCP`).
    pub proto: String,
    /// ScreenOS: the zone and interface; kept to print reproductions alike.
    pub zone: Option<(String, String)>,
    /// ScreenOS "Occurred N times", psad's danger level, sfPortscan's sid:
    /// the tool's own count on the line.
    pub count: Option<u64>,
    /// The TCP flags the line names (scanlogd letters, psad names).
    pub flags: Option<String>,
    /// The line as given.
    pub line: String,
}

impl Reported {
    /// The role of the blamed side's port, when the line gives it.
    pub fn sport_role(&self) -> Option<PortRole> {
        self.sport.map(PortRole::of)
    }

    /// The role of the destination port, when the line gives one.
    pub fn dport_role(&self) -> Option<PortRole> {
        self.dport.map(PortRole::of)
    }

    /// One sentence: what the line says.
    pub fn describe(&self) -> String {
        let from = match self.sport {
            Some(p) => format!("{}:{p} ({})", self.src, PortRole::of(p).describe()),
            None => self.src.to_string(),
        };
        let to = match (&self.dst, self.dport) {
            (Some(d), Some(p)) => format!(" to {d}:{p} ({})", PortRole::of(p).describe()),
            (Some(d), None) => format!(" to {d}"),
            (None, _) => String::new(),
        };
        let ports = if self.ports.is_empty() {
            String::new()
        } else {
            format!(
                ", ports {}",
                self.ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!(
            "{} {}: from {from}{to}{ports}, {}",
            self.source.detector(),
            self.what,
            self.proto
        )
    }
}

/// A line that is not one of the known forms, or a known form that is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(pub String);

const EXPECTED: &str = "expected one of: a ScreenOS system-alert-00016 line \
    (`Port scan! From A:P to B:Q, proto TCP (zone Z, int I). Occurred N times.`), \
    a scanlogd line (`A[:P] to B ports P1, P2, ..., FLAGS[, TOS xx][, TTL n] @HH:MM:SS`), \
    a psad line (`scan detected: A -> B tcp: [P1-P2] flags: F tcp pkts: N DL: n`), \
    or a Snort sfPortscan alert (`[**] [122:1:1] (portscan) TCP Portscan [**] ... {PROTO:255} A -> B`)";

/// Reads placeholders and addresses, handing out documentation addresses.
struct Addrs {
    seen: Vec<(String, Ipv4Addr)>,
}

impl Addrs {
    fn addr(&mut self, token: &str, what: &str, form: &str) -> Result<Addr, LineError> {
        let t = token.trim();
        if let Ok(a) = t.parse::<Ipv4Addr>() {
            return Ok(Addr {
                addr: a,
                placeholder: None,
            });
        }
        let placeholder_like = (t.starts_with('<') && t.ends_with('>'))
            || t.starts_with('$')
            || (t.starts_with('{') && t.ends_with('}'));
        if !placeholder_like || t.len() < 2 {
            return Err(LineError(format!(
                "{form}: {what} `{t}` is neither an IPv4 address nor a placeholder such as `<server>`"
            )));
        }
        if let Some((_, a)) = self.seen.iter().find(|(p, _)| p == t) {
            return Ok(Addr {
                addr: *a,
                placeholder: Some(t.to_string()),
            });
        }
        let a = *PLACEHOLDER_ADDRS
            .get(self.seen.len())
            .ok_or_else(|| LineError(format!("{form}: more than two placeholder addresses")))?;
        self.seen.push((t.to_string(), a));
        Ok(Addr {
            addr: a,
            placeholder: Some(t.to_string()),
        })
    }

    /// `A:P` (the port optional when `port_optional`).
    fn addr_port(
        &mut self,
        token: &str,
        what: &str,
        form: &str,
        port_optional: bool,
    ) -> Result<(Addr, Option<u16>), LineError> {
        let t = token.trim();
        match t.rsplit_once(':') {
            Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                let port: u16 = p.parse().map_err(|_| {
                    LineError(format!(
                        "{form}: {what} port `{p}` is not a port number (0-65535)"
                    ))
                })?;
                Ok((self.addr(a, what, form)?, Some(port)))
            }
            _ if port_optional => Ok((self.addr(t, what, form)?, None)),
            _ => Err(LineError(format!(
                "{form}: expected {what} as `ADDRESS:PORT`, found `{t}`"
            ))),
        }
    }
}

/// Drops a syslog prefix (`Jul 10 12:00:00 host tag[pid]: `) and
/// ScreenOS's `[Root]` bracket, returning the message.
fn message(line: &str) -> &str {
    let l = line.trim();
    for marker in [
        "system-alert-",
        "Port scan!",
        "Address sweep!",
        "scan detected",
        "[**]",
    ] {
        if let Some(i) = l.find(marker) {
            return &l[i..];
        }
    }
    // scanlogd: `... scanlogd: A to B ports ...`.
    if let Some(i) = l.find("scanlogd: ") {
        return &l[i + "scanlogd: ".len()..];
    }
    l
}

/// Parses a detector's log line.
///
/// # Errors
/// A [`LineError`] naming the form that was expected and what was found.
pub fn parse(line: &str) -> Result<Reported, LineError> {
    let msg = message(line);
    let mut addrs = Addrs { seen: Vec::new() };
    if msg.contains("Port scan!") || msg.contains("Address sweep!") {
        return screenos(line, msg, &mut addrs);
    }
    if msg.starts_with("scan detected") {
        return psad(line, msg, &mut addrs);
    }
    if msg.starts_with("[**]") && msg.contains("[122:") {
        return sfportscan(line, msg, &mut addrs);
    }
    if msg.contains(" to ") && msg.contains(" ports ") {
        return scanlogd(line, msg, &mut addrs);
    }
    Err(LineError(format!(
        "`{}` is not a log line scanbench knows: {EXPECTED}",
        line.trim()
    )))
}

fn screenos(line: &str, msg: &str, addrs: &mut Addrs) -> Result<Reported, LineError> {
    const FORM: &str = "ScreenOS line";
    let sweep = msg.contains("Address sweep!");
    let marker = if sweep {
        "Address sweep!"
    } else {
        "Port scan!"
    };
    let after = msg.split_once(marker).map(|x| x.1).unwrap_or("").trim();
    let want = if sweep {
        "`From A to B, proto 1 (zone Z, int I). Occurred N times.`"
    } else {
        "`From A:P to B:Q, proto TCP (zone Z, int I). Occurred N times.`"
    };
    let bad = |found: &str| {
        LineError(format!(
            "{FORM}: expected {want} after `{marker}`, found `{found}`"
        ))
    };
    let rest = after.strip_prefix("From ").ok_or_else(|| bad(after))?;
    let (from, rest) = rest.split_once(" to ").ok_or_else(|| bad(after))?;
    let (to, rest) = rest.split_once(", proto ").ok_or_else(|| bad(after))?;
    let (proto, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (src, sport) = addrs.addr_port(from, "the source", FORM, sweep)?;
    let (dst, dport) = addrs.addr_port(to, "the destination", FORM, sweep)?;
    let zone = rest
        .trim()
        .strip_prefix("(zone ")
        .and_then(|z| z.split_once(')'))
        .and_then(|(inner, _)| inner.split_once(", int "))
        .map(|(z, i)| (z.trim().to_string(), i.trim().to_string()));
    let count = rest
        .split_once("Occurred ")
        .and_then(|(_, n)| n.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    let code = msg
        .split_once("system-alert-")
        .and_then(|(_, c)| c.split(':').next())
        .map(|c| format!("system-alert-{c} "))
        .unwrap_or_default();
    Ok(Reported {
        source: Source::ScreenOs,
        what: format!("{code}{}", marker.trim_end_matches('!')),
        src,
        sport,
        dst: Some(dst),
        dport,
        ports: Vec::new(),
        proto: proto.trim_end_matches(',').to_string(),
        zone,
        count,
        flags: None,
        line: line.trim().to_string(),
    })
}

fn psad(line: &str, msg: &str, addrs: &mut Addrs) -> Result<Reported, LineError> {
    const FORM: &str = "psad line";
    let bad = |found: &str| {
        LineError(format!(
            "{FORM}: expected `scan detected: A -> B tcp: [P1-P2] flags: F tcp pkts: N DL: n`, found `{found}`"
        ))
    };
    let rest = msg.strip_prefix("scan detected").ok_or_else(|| bad(msg))?;
    let rest = match rest.trim_start().strip_prefix('(') {
        Some(r) => r.split_once(')').map(|x| x.1).ok_or_else(|| bad(msg))?,
        None => rest,
    };
    let rest = rest
        .trim_start()
        .strip_prefix(':')
        .ok_or_else(|| bad(msg))?;
    let (from, rest) = rest.split_once("->").ok_or_else(|| bad(msg))?;
    let rest = rest.trim();
    let (to, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let src = addrs.addr(from, "the source", FORM)?;
    let dst = addrs.addr(to, "the destination", FORM)?;
    let proto = rest.split_once(':').map(|(p, _)| p.trim()).unwrap_or("tcp");
    let ports: Vec<u16> = rest
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(range, _)| {
            range
                .split('-')
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let flags = rest
        .split_once("flags: ")
        .map(|(_, f)| f.split_whitespace().next().unwrap_or("").to_string());
    let count = rest
        .split_once("DL: ")
        .and_then(|(_, d)| d.split_whitespace().next())
        .and_then(|d| d.parse().ok());
    Ok(Reported {
        source: Source::Psad,
        what: "scan detected".into(),
        src,
        sport: None,
        dst: Some(dst),
        dport: None,
        ports,
        proto: proto.to_uppercase(),
        zone: None,
        count,
        flags,
        line: line.trim().to_string(),
    })
}

fn sfportscan(line: &str, msg: &str, addrs: &mut Addrs) -> Result<Reported, LineError> {
    const FORM: &str = "sfPortscan alert";
    let bad = |what: &str| {
        LineError(format!(
            "{FORM}: expected `[**] [122:SID:REV] (portscan) MESSAGE [**] ... {{PROTO:255}} A -> B`: {what}"
        ))
    };
    let sid: u64 = msg
        .split_once("[122:")
        .and_then(|(_, r)| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no `[122:SID:REV]` generator and sid"))?;
    let what = msg
        .split_once("(portscan)")
        .and_then(|(_, r)| r.split_once("[**]"))
        .map(|(m, _)| m.trim().to_string())
        .ok_or_else(|| bad("no `(portscan) MESSAGE [**]`"))?;
    let (_, ends) = msg
        .split_once('}')
        .filter(|(head, _)| head.contains("{PROTO"))
        .ok_or_else(|| bad("no `{PROTO:255} A -> B`"))?;
    let (from, to) = ends
        .trim()
        .split_once("->")
        .ok_or_else(|| bad("no `A -> B` after `{PROTO:255}`"))?;
    let to = to.split_whitespace().next().unwrap_or("");
    let src = addrs.addr(from, "the source", FORM)?;
    let dst = addrs.addr(to, "the destination", FORM)?;
    Ok(Reported {
        source: Source::SfPortscan,
        what: format!("{what} (122:{sid})"),
        src,
        sport: None,
        dst: Some(dst),
        dport: None,
        ports: Vec::new(),
        proto: what.split_whitespace().next().unwrap_or("TCP").to_string(),
        zone: None,
        count: Some(sid),
        flags: None,
        line: line.trim().to_string(),
    })
}

fn scanlogd(line: &str, msg: &str, addrs: &mut Addrs) -> Result<Reported, LineError> {
    const FORM: &str = "scanlogd line";
    let bad = |found: &str| {
        LineError(format!(
            "{FORM}: expected `A[:P] to B[ and others,] ports P1, P2, ..., FLAGS[, TOS xx][, TTL n] @HH:MM:SS`, found `{found}`"
        ))
    };
    let (from, rest) = msg.split_once(" to ").ok_or_else(|| bad(msg))?;
    let (to, rest) = rest.split_once(" ports ").ok_or_else(|| bad(msg))?;
    let to = to
        .trim()
        .trim_end_matches(',')
        .trim_end_matches(" and others");
    let (src, sport) = addrs.addr_port(from, "the source", FORM, true)?;
    let dst = addrs.addr(to, "the destination", FORM)?;
    let mut ports = Vec::new();
    let mut flags = None;
    for item in rest.split(',').map(str::trim) {
        if let Ok(p) = item.parse::<u16>() {
            ports.push(p);
        } else if item.len() == 8 && item.chars().all(|c| "fsrpauxyFSRPAUXY?".contains(c)) {
            flags = Some(item.to_string());
        }
    }
    if ports.is_empty() {
        return Err(bad(msg));
    }
    Ok(Reported {
        source: Source::Scanlogd,
        what: "port scan".into(),
        src,
        sport,
        dst: Some(dst),
        dport: None,
        ports,
        proto: "TCP".into(),
        zone: None,
        count: None,
        flags,
        line: line.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screenos_seed_line_with_placeholders() {
        let r = parse(
            "[Root]system-alert-00016: Port scan! From $my-server-ip:80 to $their-server-ip:8254, proto TCP (zone Untrust, int ethernet1). Occurred 1 times.",
        )
        .unwrap();
        assert_eq!(r.source, Source::ScreenOs);
        assert_eq!(r.src.addr, PLACEHOLDER_ADDRS[0]);
        assert_eq!(r.src.placeholder.as_deref(), Some("$my-server-ip"));
        assert_eq!(r.dst.as_ref().unwrap().addr, PLACEHOLDER_ADDRS[1]);
        assert_eq!((r.sport, r.dport), (Some(80), Some(8254)));
        assert_eq!(r.sport_role(), Some(PortRole::Service(80)));
        assert_eq!(r.dport_role(), Some(PortRole::High));
        assert_eq!(r.proto, "TCP");
        assert_eq!(r.zone, Some(("Untrust".into(), "ethernet1".into())));
        assert_eq!(r.count, Some(1));
        assert_eq!(r.what, "system-alert-00016 Port scan");
    }

    #[test]
    fn the_bench_detectors_own_lines_read_back() {
        let r = parse("Port scan! From 198.51.100.80:80 to 203.0.113.1:8201, proto TCP (zone Untrust, int ethernet0/0). Occurred 2 times.").unwrap();
        assert_eq!(r.src.addr, Ipv4Addr::new(198, 51, 100, 80));
        assert_eq!(r.count, Some(2));
        let r = parse("Jul 10 12:00:01 gw scanlogd: 203.0.113.66:58845 to 198.51.100.10 ports 110, 443, 22, 53, 135, 143, ..., f??pauxy, TOS 00 @00:20:00").unwrap();
        assert_eq!(r.source, Source::Scanlogd);
        assert_eq!(r.sport, Some(58845));
        assert_eq!(r.ports, [110, 443, 22, 53, 135, 143]);
        assert_eq!(r.flags.as_deref(), Some("f??pauxy"));
        let r = parse("Dec  1 12:00:00 fw psad: scan detected: 198.51.100.80 -> 203.0.113.1 tcp: [8192-8203] flags: OTHER tcp pkts: 36 DL: 2").unwrap();
        assert_eq!(r.source, Source::Psad);
        assert_eq!(r.ports, [8192, 8203]);
        assert_eq!(r.count, Some(2));
        let r = parse("12/01-12:00:01.000000  [**] [122:1:1] (portscan) TCP Portscan [**] [Classification: Attempted Information Leak] [Priority: 2] {PROTO:255} 203.0.113.66 -> 198.51.100.10").unwrap();
        assert_eq!(r.source, Source::SfPortscan);
        assert_eq!(r.what, "TCP Portscan (122:1)");
        assert_eq!(r.dst.unwrap().addr, Ipv4Addr::new(198, 51, 100, 10));
    }

    #[test]
    fn bad_lines_name_what_was_expected() {
        let e = parse("hello world").unwrap_err().0;
        assert!(e.contains("is not a log line scanbench knows"), "{e}");
        assert!(e.contains("system-alert-00016"), "{e}");
        assert!(e.contains("scan detected"), "{e}");
        let e = parse("Port scan! From 1.2.3.4 to 5.6.7.8:9, proto TCP")
            .unwrap_err()
            .0;
        assert!(
            e.contains("expected the source as `ADDRESS:PORT`, found `1.2.3.4`"),
            "{e}"
        );
        let e = parse("Port scan! from somewhere").unwrap_err().0;
        assert!(
            e.contains("ScreenOS line: expected `From A:P to B:Q"),
            "{e}"
        );
        let e = parse("scan detected: nowhere").unwrap_err().0;
        assert!(e.contains("psad line: expected"), "{e}");
        let e = parse("Port scan! From server:80 to 5.6.7.8:9, proto TCP")
            .unwrap_err()
            .0;
        assert!(
            e.contains("neither an IPv4 address nor a placeholder"),
            "{e}"
        );
        let e = parse("[**] [122:1:1] (portscan) TCP Portscan [**]")
            .unwrap_err()
            .0;
        assert!(e.contains("no `{PROTO:255} A -> B`"), "{e}");
    }
}
