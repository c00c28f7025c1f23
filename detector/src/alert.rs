//! `Alert`: what a detector reports, with the evidence behind it.

use core::fmt;
use core::net::Ipv4Addr;

use smoltcp::time::Instant;

/// The kind of activity an alert claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// One source, many ports on one destination (vertical scan).
    PortScan,
    /// One source, one or few ports on many destinations (horizontal scan).
    PortSweep,
    /// A port scan hidden among decoy sources (sfPortscan).
    DecoyPortScan,
    /// Many sources scanning one destination (sfPortscan).
    DistributedPortScan,
    /// One source pinging many addresses (ScreenOS ip-sweep, sfPortscan ICMP sweep).
    AddressSweep,
    /// An open port seen during a scan (sfPortscan sid 27).
    OpenPort,
    /// The source is classified as a scanner without a narrower kind (TRW, psad, PortSentry).
    Scanner,
}

impl AlertKind {
    /// Stable lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PortScan => "portscan",
            AlertKind::PortSweep => "portsweep",
            AlertKind::DecoyPortScan => "decoy_portscan",
            AlertKind::DistributedPortScan => "distributed_portscan",
            AlertKind::AddressSweep => "address_sweep",
            AlertKind::OpenPort => "open_port",
            AlertKind::Scanner => "scanner",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the alert fired: the counters the algorithm compared, the packets that
/// contributed, and the line the real tool would have logged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Named counters at the moment of the alert, in a fixed order chosen by the detector
    /// (e.g. `("distinct_ports", 10)`, `("window_us", 4210)`).
    pub counters: Vec<(&'static str, i64)>,
    /// Destination ports (or other keys) involved, in first-seen order, capped by the detector.
    pub ports: Vec<u16>,
    /// Frame numbers of the packets that contributed, in order, capped at [`Evidence::MAX_FRAMES`].
    pub frames: Vec<u64>,
    /// The log line the real tool would print, as close to its format as we know it.
    pub log_line: String,
    /// The rule that fired, stated by the detector at the moment of the alert.
    pub rule: Rule,
}

impl Evidence {
    /// Cap on [`Evidence::frames`] so a long scan does not make alerts grow without bound.
    pub const MAX_FRAMES: usize = 64;

    /// Appends a contributing frame number, respecting the cap.
    pub fn push_frame(&mut self, frame: u64) {
        if self.frames.len() < Self::MAX_FRAMES {
            self.frames.push(frame);
        }
    }
}

/// The rule an alert met, in the detector's own terms, with the numbers that
/// met it: written by the detector when it raises the alert, from its own
/// state (counters, window, the keys it counted), so that an explanation
/// never has to reconstruct what the detector saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// The condition that was met, with its numbers, in one sentence in the
    /// tool's vocabulary: `ScreenOS port-scan screen: 10 distinct destination
    /// ports from 198.51.100.80 to 203.0.113.1 within 4996 us (threshold 5000
    /// us, ports_needed 10, sliding window)`.
    pub statement: String,
    /// Which packets the rule counts, with the parameter that decides it:
    /// `every TCP segment with SYN set, SYN-ACKs included (count_mode=syn-set)`.
    pub counted: String,
    /// The interval the counted packets fell in, when the rule has one
    /// (first counted packet, alert).
    pub window: Option<(Instant, Instant)>,
    /// The keys counted, in counting order, each with the frame that counted
    /// it; capped at [`Evidence::MAX_FRAMES`].
    pub keys: Vec<Counted>,
}

impl Rule {
    /// Appends a counted key, respecting the cap.
    pub fn push_key(&mut self, key: impl Into<String>, frame: u64) {
        if self.keys.len() < Evidence::MAX_FRAMES {
            self.keys.push(Counted {
                key: key.into(),
                frame,
            });
        }
    }

    /// Appends the counted key `port {port}`, or `{protocol} port {port}`
    /// (`port 8201`, `TCP port 22`), respecting the cap: what `format!`
    /// writes, without its machinery (an alert can list 64 ports, and some
    /// detectors alert on one packet in a hundred).
    pub fn push_port_key(&mut self, protocol: &str, port: u16, frame: u64) {
        if self.keys.len() < Evidence::MAX_FRAMES {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(port);
            let mut key = String::with_capacity(protocol.len() + " port ".len() + digits.len());
            if !protocol.is_empty() {
                key.push_str(protocol);
                key.push(' ');
            }
            key.push_str("port ");
            key.push_str(digits);
            self.keys.push(Counted { key, frame });
        }
    }
}

/// One key a rule counted (a destination port, an address, a connection) and
/// the frame that counted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// What was counted, in the rule's terms: `port 8201`, `host 198.51.100.7`.
    pub key: String,
    /// Frame number of the packet that counted it.
    pub frame: u64,
}

/// One detection event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Registry name of the detector that raised it (e.g. `screenos`).
    pub detector: &'static str,
    /// The address blamed as the scanner.
    pub scanner: Ipv4Addr,
    /// The scanned address, when the alert names one (a sweep may not).
    pub victim: Option<Ipv4Addr>,
    /// What kind of scan is claimed.
    pub kind: AlertKind,
    /// Time of the first packet the detector counted towards this alert.
    pub first_seen: Instant,
    /// Time of the packet (or timer) that triggered the alert.
    pub time: Instant,
    /// Frame number of the triggering packet, if a packet triggered it.
    pub trigger_frame: Option<u64>,
    /// What the decision rested on.
    pub evidence: Evidence,
}

#[cfg(test)]
mod tests {
    use super::{Evidence, Rule};

    #[test]
    fn port_keys_read_as_format_writes_them_up_to_the_cap() {
        let mut r = Rule::default();
        for port in [0, 7, 80, 5800, 65_535] {
            r.push_port_key("", port, u64::from(port));
            r.push_port_key("UDP", port, 1);
        }
        let keys: Vec<&str> = r.keys.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys[..4], ["port 0", "UDP port 0", "port 7", "UDP port 7"]);
        assert_eq!(keys[8..], ["port 65535", "UDP port 65535"]);
        assert_eq!((r.keys[6].frame, r.keys[7].frame), (5800, 1));
        for port in 0..Evidence::MAX_FRAMES as u16 * 2 {
            r.push_port_key("TCP", port, 0);
        }
        assert_eq!(r.keys.len(), Evidence::MAX_FRAMES);
    }
}
