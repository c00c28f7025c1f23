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
