//! The hypothesis library: parametrised scenarios of what could have made a
//! detector write a field report's log line, benign and malicious, each a
//! complete scenario file built around the report's own addresses and ports
//! (the blamed server `S`, its port `P`, the reporting company's address `C`).
//!
//! Every benign hypothesis puts the company's users behind one perimeter
//! `gw` (NAT to `C` with sequential ports, and a stateful firewall, ScreenOS
//! timeouts unless the hypothesis changes them) and the sensor on the
//! perimeter's untrust link, where a NetScreen screen sits:
//!
//! | id | what happens |
//! |---|---|
//! | `poller` | one user polls `S:P` every 10-15 min, one new connection per poll (the report's own story) |
//! | `long-poll-timeout` | a poller behind NAT with session timeouts: 12 long-poll connections (3 users x 4) that the server answers every 12 min, through a perimeter that forgets idle sessions after 10 min |
//! | `long-poll-default` | the same, through ScreenOS's default 30 min idle timeout |
//! | `push-aged-out` | 12 push connections the server pushes to after 31 min of quiet, past ScreenOS's 30 min idle timeout |
//! | `parallel-setup` | 3 users open 4 parallel connections each at once: 12 SYN-ACKs from `S:P` to 12 NAT ports within a millisecond |
//! | `balancer-no-snat` | `S` is a backend behind a balancer VIP that does not SNAT: its SYN-ACKs to the users' 12 parallel connections come from `S:P`, to connections opened to the VIP |
//! | `firewall-failover` | 12 push connections (a push every 60 s) through a perimeter that fails over at 10 min and loses every session |
//!
//! The malicious ones scan `C` from `S`: a SYN scan (nmap `-sS -g P`), a FIN
//! scan (`-sF -g P`) and a connect scan (`-sT`, whose kernel picks the source
//! ports), each at every timing template T0..T5, over nmap's 20 most common
//! ports plus the report's port.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use scanbench_sim::label::Class;

/// The report's addresses and ports, as the hypotheses use them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The blamed server.
    pub server: Ipv4Addr,
    /// Its source port on the line (default 80).
    pub port: u16,
    /// The reporting side: the company's (NAT) address.
    pub company: Ipv4Addr,
    /// The destination port on the line, if any (added to the scans' ports).
    pub dport: Option<u16>,
}

/// One hypothesis: a scenario, what it assumes, and the detector settings
/// it must be tried with beyond the detector's own variants.
#[derive(Clone, Debug)]
pub struct Hypothesis {
    /// Stable id, also the scenario's name and file stem.
    pub id: String,
    /// Benign or malicious.
    pub class: Class,
    /// One line: what happens.
    pub title: String,
    /// What must be true for it to happen, in words.
    pub conditions: String,
    /// The perimeter's idle session timeout in seconds, for screens that
    /// keep their own sessions (the NetScreen *is* the perimeter).
    pub session_timeout_s: u64,
    /// Alerts count from this second on, when the hypothesis's mechanism
    /// acts (the connections' own parallel setup before it is the
    /// `parallel-setup` hypothesis, not this one).
    pub onset_s: u64,
    /// What limits it under a ScreenOS screen, where the bench knows (shown
    /// when it does not reproduce a ScreenOS line).
    pub note: String,
    /// The scenario file.
    pub scenario: String,
}

/// nmap's 20 most common TCP ports (nmap-services frequency order, sorted).
const TOP20: &str = "21-23,25,53,80,110,111,135,139,143,443,445,993,995,1723,3306,3389,5900,8080";

/// Users behind the perimeter.
const USERS: usize = 3;
/// Connections per user where a hypothesis opens several.
const PER_USER: usize = 4;

/// An inside network that collides with neither address.
fn inside_net(s: &Setting) -> [u8; 3] {
    for net in [[10, 10, 0], [10, 20, 0], [172, 16, 0]] {
        let clash = |a: Ipv4Addr| a.octets()[..3] == net;
        if !clash(s.server) && !clash(s.company) {
            return net;
        }
    }
    [192, 168, 77]
}

/// A free address next to the server (the VIP of `balancer-no-snat`).
fn neighbour(s: &Setting) -> Ipv4Addr {
    let o = s.server.octets();
    for d in [1i16, 2, -1, -2] {
        let last = i16::from(o[3]) + d;
        if (1..255).contains(&last) {
            let a = Ipv4Addr::new(o[0], o[1], o[2], last as u8);
            if a != s.company {
                return a;
            }
        }
    }
    Ipv4Addr::new(198, 18, 0, 80)
}

/// What the perimeter does beyond the ScreenOS defaults.
#[derive(Default)]
struct Perimeter {
    /// Idle timeout override for the firewall and the NAT (`10m`).
    idle: Option<&'static str>,
    /// A failover at this time.
    failover: Option<&'static str>,
}

/// The company side: users, office router, perimeter, internet, the server
/// host (named `server`), links and the taps. `middle` is inserted between
/// the internet and the server (a balancer router).
fn company(
    s: &Setting,
    id: &str,
    duration: &str,
    users: usize,
    p: &Perimeter,
    balancer: Option<Ipv4Addr>,
) -> String {
    let net = inside_net(s);
    let mut t = String::new();
    let _ = writeln!(t, "name = \"{id}\"\nseed = 1\nduration = \"{duration}\"");
    let _ = writeln!(
        t,
        "home_net = [\"{}.{}.{}.0/24\", \"{}/32\"]\nsensor = \"untrust\"\ndrop_log_sensor = \"gwlog\"\n",
        net[0], net[1], net[2], s.company
    );
    for u in 1..=users.max(1) {
        let _ = writeln!(
            t,
            "[[host]]\nname = \"user{u}\"\naddr = \"{}.{}.{}.{}\"\n",
            net[0],
            net[1],
            net[2],
            30 + u
        );
    }
    let _ = writeln!(t, "[[host]]\nname = \"server\"\naddr = \"{}\"\n", s.server);
    let _ = writeln!(t, "[[router]]\nname = \"office\"\n");
    let _ = writeln!(
        t,
        "[[router]]\nname = \"gw\"\n[router.nat]\npublic = \"{}\"\ninside = [\"office\"]\nports = \"8192-65535\"\nprofile = \"screenos\"",
        s.company
    );
    if let Some(i) = p.idle {
        let _ = writeln!(t, "tcp_established_timeout = \"{i}\"");
    }
    let _ = writeln!(
        t,
        "[router.firewall]\nprofile = \"screenos\"\nzones = {{ trust = [\"office\"], untrust = [\"inet\"] }}"
    );
    if let Some(i) = p.idle {
        let _ = writeln!(t, "established_timeout = \"{i}\"");
    }
    let _ = writeln!(
        t,
        "[[router.firewall.rule]]\naction = \"allow\"\nfrom_zone = \"trust\""
    );
    if let Some(at) = p.failover {
        let _ = writeln!(
            t,
            "[[router.firewall.fault]]\nat = \"{at}\"\nkind = \"failover\"\noutage = \"1s\""
        );
    }
    let _ = writeln!(t, "\n[[router]]\nname = \"inet\"\n");
    if let Some(vip) = balancer {
        let _ = writeln!(
            t,
            "[[router]]\nname = \"lb\"\n[router.balancer]\nvip = \"{vip}\"\nport = {}\nbackends = [\"{}:{}\"]\nmode = \"missing-snat-asymmetric\"\n",
            s.port, s.server, s.port
        );
    }
    for u in 1..=users.max(1) {
        let _ = writeln!(t, "[[link]]\nbetween = [\"user{u}\", \"office\"]\n");
    }
    let _ = writeln!(t, "[[link]]\nbetween = [\"office\", \"gw\"]\n");
    let _ = writeln!(
        t,
        "[[link]]\nbetween = [\"gw\", \"inet\"]\nlatency = \"10ms\"\n"
    );
    if balancer.is_some() {
        let _ = writeln!(
            t,
            "[[link]]\nbetween = [\"inet\", \"lb\"]\nlatency = \"10ms\"\n"
        );
        let _ = writeln!(t, "[[link]]\nbetween = [\"lb\", \"server\"]\n");
    } else {
        let _ = writeln!(
            t,
            "[[link]]\nbetween = [\"inet\", \"server\"]\nlatency = \"10ms\"\n"
        );
    }
    let _ = writeln!(
        t,
        "[[tap]]\nname = \"untrust\"\nlink = [\"gw\", \"inet\"]\n"
    );
    let _ = writeln!(t, "[[tap]]\nname = \"gwlog\"\ndrop_log = \"gw\"\n");
    t
}

/// `[[session]]` blocks: `USERS` users with `PER_USER` connections to the server.
fn sessions(s: &Setting, every: &str) -> String {
    let mut t = String::new();
    for u in 1..=USERS {
        let _ = writeln!(
            t,
            "[[session]]\nhost = \"user{u}\"\nserver = \"{}\"\nserver_host = \"server\"\nport = {}\nconnections = {PER_USER}\nstart = \"1s\"\nserver_every = \"{every}\"\ngive_up = \"2m\"\n",
            s.server, s.port
        );
    }
    t
}

fn web_server(s: &Setting) -> String {
    format!(
        "[[web-server]]\nhost = \"server\"\nports = [{}]\n\n",
        s.port
    )
}

/// The written file's header comment.
fn header(h: &str, title: &str, conditions: &str) -> String {
    let mut t = String::new();
    for line in [
        format!("Hypothesis `{h}`, written by `scanbench explain --alert ... --write`."),
        title.to_string(),
        format!("Conditions: {conditions}"),
    ] {
        let _ = writeln!(t, "# {line}");
    }
    t
}

/// When and how a hypothesis is judged.
struct Judged {
    session_timeout_s: u64,
    onset_s: u64,
    note: &'static str,
}

const PLAIN: Judged = Judged {
    session_timeout_s: 1800,
    onset_s: 0,
    note: "",
};

fn hypothesis(
    id: &str,
    class: Class,
    title: &str,
    conditions: &str,
    judged: Judged,
    body: String,
) -> Hypothesis {
    let description = format!("{title} Conditions: {conditions}");
    let mut scenario = header(id, title, conditions);
    scenario.push_str(&format!("description = \"\"\"\n{description}\n\"\"\"\n"));
    scenario.push_str(&body);
    Hypothesis {
        id: id.to_string(),
        class,
        title: title.to_string(),
        conditions: conditions.to_string(),
        session_timeout_s: judged.session_timeout_s,
        onset_s: judged.onset_s,
        note: judged.note.to_string(),
        scenario,
    }
}

/// The benign hypotheses.
fn benign(s: &Setting) -> Vec<Hypothesis> {
    let none = Perimeter::default();
    let mut out = Vec::new();
    let mut body = company(s, "poller", "3h", 1, &none, None);
    body.push_str(&web_server(s));
    let _ = writeln!(
        body,
        "[[poller]]\nhost = \"user1\"\nserver = \"{}\"\nport = {}\nevery = \"10m..15m\"\nstart = \"3m\"\n",
        s.server, s.port
    );
    out.push(hypothesis(
        "poller",
        Class::Benign,
        "One user polls the server every 10-15 minutes, a new connection per poll, through the company's NAT.",
        "none beyond the report's own story",
        Judged {
            note: "one connection per poll puts one port at a time in the screen's window",
            ..PLAIN
        },
        body,
    ));

    let p = Perimeter {
        idle: Some("10m"),
        ..Perimeter::default()
    };
    let mut body = company(s, "long-poll-timeout", "30m", USERS, &p, None);
    body.push_str(&sessions(s, "12m"));
    out.push(hypothesis(
        "long-poll-timeout",
        Class::Benign,
        "A poller behind NAT with session timeouts: the users' webmail tabs keep 12 long-poll connections open, and the server answers them all every 12 minutes.",
        "the perimeter forgets idle sessions after 10 min, less than the 12 min between answers; the connections share one NAT address",
        Judged {
            session_timeout_s: 600,
            onset_s: 11 * 60,
            note: "",
        },
        body,
    ));

    let mut body = company(s, "long-poll-default", "30m", USERS, &none, None);
    body.push_str(&sessions(s, "12m"));
    out.push(hypothesis(
        "long-poll-default",
        Class::Benign,
        "The same long-poll connections answered every 12 minutes, through a perimeter with ScreenOS's default 30 min idle timeout.",
        "none: the answers every 12 min keep every session alive",
        Judged {
            onset_s: 11 * 60,
            note: "an answer every 12 min keeps the sessions alive under a 30 min timeout: nothing arrives sessionless",
            ..PLAIN
        },
        body,
    ));

    let mut body = company(s, "push-aged-out", "40m", USERS, &none, None);
    body.push_str(&sessions(s, "31m"));
    out.push(hypothesis(
        "push-aged-out",
        Class::Benign,
        "12 push connections of 3 users behind one NAT address; the server pushes to all of them after 31 minutes of quiet.",
        "the perimeter's idle timeout (ScreenOS: 30 min) is shorter than the quiet; the pushes go out in step",
        Judged {
            onset_s: 30 * 60,
            ..PLAIN
        },
        body,
    ));

    let mut body = company(s, "parallel-setup", "1m", USERS, &none, None);
    body.push_str(&web_server(s));
    for u in 1..=USERS {
        let _ = writeln!(
            body,
            "[[http-client]]\nhost = \"user{u}\"\nserver = \"{}\"\nport = {}\nat = \"5s\"\nparallel = {PER_USER}\n",
            s.server, s.port
        );
    }
    out.push(hypothesis(
        "parallel-setup",
        Class::Benign,
        "3 users open 4 parallel connections each to the server at the same moment; its SYN-ACKs reach 12 NAT ports within a millisecond.",
        "the users' connections open within the screen's interval (5 ms) and share one NAT address",
        PLAIN,
        body,
    ));

    let vip = neighbour(s);
    let mut body = company(s, "balancer-no-snat", "1m", USERS, &none, Some(vip));
    body.push_str(&web_server(s));
    for u in 1..=USERS {
        let _ = writeln!(
            body,
            "[[http-client]]\nhost = \"user{u}\"\nserver = \"{vip}\"\nport = {}\nat = \"5s\"\nparallel = {PER_USER}\n",
            s.port
        );
    }
    out.push(hypothesis(
        "balancer-no-snat",
        Class::Benign,
        &format!("The server is a backend behind a load balancer (VIP {vip}) that does not SNAT: its SYN-ACKs to the users' 12 parallel connections leave with its own address."),
        &format!("the users contact the VIP {vip}, not the server; the balancer forwards without rewriting the replies"),
        PLAIN,
        body,
    ));

    let p = Perimeter {
        failover: Some("10m"),
        ..Perimeter::default()
    };
    let mut body = company(s, "firewall-failover", "13m", USERS, &p, None);
    body.push_str(&sessions(s, "60s"));
    out.push(hypothesis(
        "firewall-failover",
        Class::Benign,
        "12 push connections (a push every 60 s) through the perimeter, which fails over at 10 minutes and loses every session.",
        "the standby has no copy of the sessions (no session sync)",
        Judged {
            onset_s: 10 * 60,
            note: "the bench's screen watches the untrust link beside the perimeter and keeps its own sessions through the failover; a NetScreen that fails over without session sync loses them too, and would then count the pushes as no-session-any does in push-aged-out",
            ..PLAIN
        },
        body,
    ));
    out
}

/// The malicious hypotheses: scans of the company from the server.
fn scans(s: &Setting) -> Vec<Hypothesis> {
    let mut ports = TOP20.to_string();
    if let Some(d) = s.dport
        && !ports.split(',').any(|p| p == d.to_string())
    {
        ports.push_str(&format!(",{d}"));
    }
    let mut out = Vec::new();
    for (kind, probe, nmap) in [
        ("syn-scan", Some("syn"), "-sS"),
        ("fin-scan", Some("fin"), "-sF"),
        ("connect-scan", None, "-sT"),
    ] {
        for t in 0..=5 {
            let duration = match t {
                0 => "4h",
                1 => "15m",
                2 => "2m",
                _ => "1m",
            };
            let id = format!("{kind}-t{t}");
            let mut body = company(s, &id, duration, 1, &Perimeter::default(), None);
            let table = if probe.is_some() {
                "syn-scan"
            } else {
                "connect-scan"
            };
            let _ = writeln!(
                body,
                "[[{table}]]\nhost = \"server\"\ntargets = [\"{}\"]\nports = \"{ports}\"\ntiming = \"T{t}\"\nstart = \"1s\"",
                s.company
            );
            let (title, conditions) = match probe {
                Some(p) => {
                    let _ = writeln!(body, "probe = \"{p}\"\nsource_port = {}", s.port);
                    (
                        format!("The server scans the company: nmap {nmap} -g {} -T{t} over the 20 most common ports.", s.port),
                        format!("someone on the server runs a raw-packet scan from source port {} (root, nmap -g)", s.port),
                    )
                }
                None => (
                    format!("The server scans the company: nmap {nmap} -T{t} over the 20 most common ports."),
                    "someone on the server runs a connect scan (no root needed; the kernel picks the source ports)"
                        .to_string(),
                ),
            };
            body.push('\n');
            let note = match (probe, t) {
                (None, _) => "the scanner's kernel picks a high source port for every probe",
                (_, 0..=2) => {
                    "serial probes, 0.4 s or more apart, never put the required ports in the window"
                }
                _ => "",
            };
            out.push(hypothesis(
                &id,
                Class::Malicious,
                &title,
                &conditions,
                Judged { note, ..PLAIN },
                body,
            ));
        }
    }
    out
}

/// Every hypothesis for `s`, benign first.
pub fn library(s: &Setting) -> Vec<Hypothesis> {
    let mut v = benign(s);
    v.extend(scans(s));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn every_hypothesis_is_a_valid_scenario() {
        let s = Setting {
            server: Ipv4Addr::new(198, 51, 100, 80),
            port: 80,
            company: Ipv4Addr::new(203, 0, 113, 1),
            dport: Some(8254),
        };
        let lib = library(&s);
        assert_eq!(lib.len(), 7 + 18);
        for h in &lib {
            let path = std::path::PathBuf::from(format!("{}.toml", h.id));
            if let Err(e) = Scenario::parse(&path, h.scenario.clone()) {
                panic!("{}: {e}\n{}", h.id, h.scenario);
            }
        }
    }
}
