//! Zeek `policy/misc/scan.zeek` (SumStats version, Zeek 2.x–6.0; written by
//! S. Khattak and S. Hall); docs/detectors/zeek-scan.md.
//!
//! Source: zeek/zeek `scripts/policy/misc/scan.zeek` (v6.0.x),
//! `scripts/base/frameworks/sumstats/main.zeek`, `scripts/base/frameworks/
//! notice/main.zeek` (suppression), with connection outcomes from the shared
//! [`FlowTracker`](crate::flow::FlowTracker) (Zeek's TCP analyzer model).
//!
//! # Algorithm
//!
//! Failed connections, from Zeek events:
//!
//! - `connection_attempt` (`tcp_attempt_delay` = 5 s after an unanswered
//!   SYN): scanner = originator, or the responder if `H` is in the history;
//! - `connection_rejected`: reversed if `s` is in the history;
//! - `connection_reset`: `is_failed_conn` (orig SYN_SENT & resp RESET; or orig
//!   RESET & resp SYN_ACK_SENT; or orig RESET & resp ESTABLISHED with `S` in
//!   the history; the last two only without `D`/`d`), else the mirrored
//!   `is_reverse_failed_conn`.
//!
//! Each failure (scanner, victim, port) feeds two SumStats streams with the
//! UNIQUE reducer: `scan.port.fail` keyed (scanner, victim) over ports and
//! `scan.addr.fail` keyed (scanner, port) over victims. Epochs are tumbling;
//! a key crosses its threshold (`unique >= threshold`) at most once per epoch.
//! Notices `Scan::Port_Scan` / `Scan::Address_Scan` carry `$identifier =
//! scanner`, so the Notice framework suppresses repeats of the same type from
//! the same scanner for `suppression_interval`.
//!
//! # Parameters
//!
//! | name | default | source |
//! |---|---|---|
//! | `port_scan_threshold` | 15 | `Scan::port_scan_threshold` |
//! | `addr_scan_threshold` | 25 | `Scan::addr_scan_threshold` |
//! | `port_scan_interval` | 300 s | `Scan::port_scan_interval = 5min` |
//! | `addr_scan_interval` | 300 s | `Scan::addr_scan_interval = 5min` |
//! | `suppression_interval` | 3600 s | `Notice::default_suppression_interval = 1hr` |
//! | `tcp_attempt_delay` | 5 s | `tcp_attempt_delay` (init-bare.zeek) |
//! | `tcp_inactivity_timeout` | 300 s | `tcp_inactivity_timeout` (init-bare.zeek) |
//! | `memcap` | 64 MiB | bench bound on the state (Zeek has none; SumStats' UNIQUE reducer caps each result at threshold + 2 values) |
//!
//! # Deviations from upstream
//!
//! - Epochs start at the first packet the detector sees (Zeek: at `zeek_init`).
//! - `connection_pending` (fired only at Zeek shutdown) is not modelled.
//! - The `addr_scan_policy` / `port_scan_policy` hooks are empty (upstream
//!   default).
//! - State is bounded by `memcap`: half for the connection table (its least
//!   recently active connection is dropped unreported), a fifth for each
//!   stream's results of the epoch, a tenth for suppressions. A full table
//!   drops its least recently updated entry and counts it in the report's
//!   evictions (a dropped result starts over at zero in the same epoch).
//! - TCP only, like the flow tracker. Bro 1.x `scan.bro` (§3.2) is not
//!   implemented.

use core::net::Ipv4Addr;
use std::collections::BTreeSet;

use crate::DetectorInfo;
use crate::flow::{
    Conn, ConnConsumer, ConnEvent, ConnEventKind, EndpointState, FlowConfig, Tracked,
};
use crate::params::{ConfigError, ParamSpec, Params};
use crate::state::{TimedMap, entry_cost};
use crate::{Alert, AlertKind, Counted, Detector, Evidence, Instant, Memory, Rule};

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "port_scan_threshold",
        default: "15",
        help: "unique failed ports on one host (Scan::port_scan_threshold)",
    },
    ParamSpec {
        name: "addr_scan_threshold",
        default: "25",
        help: "unique failed hosts on one port (Scan::addr_scan_threshold)",
    },
    ParamSpec {
        name: "port_scan_interval",
        default: "300",
        help: "seconds per port-scan SumStats epoch (Scan::port_scan_interval 5 min)",
    },
    ParamSpec {
        name: "addr_scan_interval",
        default: "300",
        help: "seconds per address-scan SumStats epoch (Scan::addr_scan_interval 5 min)",
    },
    ParamSpec {
        name: "suppression_interval",
        default: "3600",
        help: "seconds a notice of one type for one scanner is suppressed (Notice 1 h)",
    },
    ParamSpec {
        name: "tcp_attempt_delay",
        default: "5",
        help: "seconds before an unanswered SYN is a connection_attempt (init-bare.zeek)",
    },
    ParamSpec {
        name: "tcp_inactivity_timeout",
        default: "300",
        help: "seconds before an idle connection is removed (init-bare.zeek 5 min)",
    },
    ParamSpec {
        name: "memcap",
        default: "67108864",
        help: "bytes of state at most, oldest dropped first (bench bound: Zeek has none)",
    },
];

/// Registry entry.
pub static INFO: DetectorInfo = DetectorInfo {
    name: "zeek-scan",
    summary: "Zeek 2.x-6.0 policy/misc/scan.zeek: 15 failed ports/host or 25 hosts/port per 5 min epoch",
    params: PARAMS,
    build,
};

fn build(p: &Params) -> Result<Box<dyn Detector>, ConfigError> {
    let secs =
        |n: &str| -> Result<i64, ConfigError> { Ok(p.u64_in(n, 0, 1 << 32)? as i64 * 1_000_000) };
    let memcap = p.u64_in("memcap", 1 << 16, 1 << 40)?;
    let flow = FlowConfig {
        attempt_delay_us: secs("tcp_attempt_delay")?,
        inactivity_us: secs("tcp_inactivity_timeout")?.max(1),
        memcap: memcap / 2,
        ..FlowConfig::default()
    };
    Ok(Box::new(Tracked::new(ZeekScan {
        flow,
        port: Stream::new(
            p.u64_in("port_scan_threshold", 1, 1 << 20)? as usize,
            secs("port_scan_interval")?.max(1),
            memcap / 5,
        ),
        addr: Stream::new(
            p.u64_in("addr_scan_threshold", 1, 1 << 20)? as usize,
            secs("addr_scan_interval")?.max(1),
            memcap / 5,
        ),
        suppress_us: secs("suppression_interval")?,
        suppressed: TimedMap::new(memcap / 10),
    })))
}

/// One SumStats result: unique values, capped at threshold + 2 as the UNIQUE reducer.
#[derive(Clone, Debug, Default)]
struct Result_ {
    begin: i64,
    values: Vec<u32>,
    frames: Vec<u64>,
    /// Each unique value with the frame of the failure that added it.
    counted: Vec<(u32, u64)>,
    crossed: bool,
}

/// Bytes a result is charged on creation: its evidence frames and counted keys.
const RESULT_HEAP: usize = Evidence::MAX_FRAMES * (8 + size_of::<(u32, u64)>());

/// A SumStats stream with tumbling epochs.
#[derive(Debug)]
struct Stream {
    threshold: usize,
    epoch_us: i64,
    epoch_start: Option<i64>,
    /// Results of this epoch, timed by their last observation (the least
    /// recently updated is dropped when the memcap is reached).
    table: TimedMap<(Ipv4Addr, u32), Result_>,
}

impl Stream {
    fn new(threshold: usize, epoch_us: i64, memcap: u64) -> Self {
        Stream {
            threshold,
            epoch_us,
            epoch_start: None,
            table: TimedMap::new(memcap),
        }
    }

    fn roll(&mut self, now: i64) {
        let start = *self.epoch_start.get_or_insert(now);
        if now >= start.saturating_add(self.epoch_us) {
            // The epoch boundary at or before `now`, exact even when the
            // first packet's time is extreme (i128 cannot overflow here, and
            // the result lies in `start..=now`).
            let n = (i128::from(now) - i128::from(start)) / i128::from(self.epoch_us);
            let at = i128::from(start) + n * i128::from(self.epoch_us);
            self.epoch_start = Some(i64::try_from(at).unwrap_or(now));
            self.table.clear();
        }
    }

    /// Adds one observation; returns the result if it just crossed the threshold.
    fn observe(
        &mut self,
        now: i64,
        key: (Ipv4Addr, u32),
        value: u32,
        frame: Option<u64>,
    ) -> Option<Result_> {
        self.roll(now);
        let cap = self.threshold + 2;
        if !self.table.contains_key(&key) {
            let fresh = Result_ {
                begin: now,
                ..Default::default()
            };
            let cost = entry_cost::<(Ipv4Addr, u32), Result_>(RESULT_HEAP);
            self.table.insert(key, fresh, now, cost);
        }
        let mut r = self.table.touch_mut(&key, now)?;
        let new_value = !r.values.contains(&value) && r.values.len() < cap;
        if new_value {
            // Charging the new value may evict (this result too).
            self.table.grow(&key, size_of::<u32>() as u64);
            r = self.table.get_mut(&key)?;
            r.values.push(value);
            if let Some(f) = frame {
                if r.frames.len() < Evidence::MAX_FRAMES {
                    r.frames.push(f);
                    r.counted.push((value, f));
                }
            }
        }
        if !r.crossed && r.values.len() >= self.threshold {
            r.crossed = true;
            return Some(r.clone());
        }
        None
    }
}

/// Zeek scan.zeek: the two SumStats streams and the Notice framework's
/// suppression, counting the failures among a [`Tracked`] feed's
/// connection events.
#[derive(Debug)]
pub struct ZeekScan {
    /// The connection table it reads: half the memcap, the two timeouts.
    flow: FlowConfig,
    port: Stream,
    addr: Stream,
    suppress_us: i64,
    /// (is_port_scan, scanner) → (), timed by its last notice.
    suppressed: TimedMap<(bool, Ipv4Addr), ()>,
}

fn no_data(c: &Conn) -> bool {
    !c.has('D') && !c.has('d')
}

/// `is_failed_conn`.
fn is_failed_conn(c: &Conn) -> bool {
    use EndpointState::*;
    (c.orig_state == SynSent && c.resp_state == Reset)
        || (((c.orig_state == Reset && c.resp_state == SynAckSent)
            || (c.orig_state == Reset && c.resp_state == Established && c.has('S')))
            && no_data(c))
}

/// `is_reverse_failed_conn`.
fn is_reverse_failed_conn(c: &Conn) -> bool {
    use EndpointState::*;
    (c.resp_state == SynSent && c.orig_state == Reset)
        || (((c.resp_state == Reset && c.orig_state == SynAckSent)
            || (c.resp_state == Reset && c.orig_state == Established && c.has('s')))
            && no_data(c))
}

fn mins_secs(us: i64) -> String {
    let s = us.max(0) / 1_000_000;
    format!("{}m{}s", s / 60, s % 60)
}

impl ZeekScan {
    fn add(&mut self, ev: &ConnEvent, reverse: bool, out: &mut Vec<Alert>) {
        let c = &ev.conn;
        let (scanner, victim, port) = if reverse {
            (c.resp.0, c.orig.0, c.orig.1)
        } else {
            (c.orig.0, c.resp.0, c.resp.1)
        };
        let now = ev.time.total_micros();
        let frame = ev.frame.or_else(|| c.frames.first().copied());
        if let Some(r) =
            self.addr
                .observe(now, (scanner, u32::from(port)), u32::from(victim), frame)
        {
            let msg = format!(
                "{scanner} scanned at least {} unique hosts on port {port}/tcp in {}",
                r.values.len(),
                mins_secs(now.saturating_sub(r.begin))
            );
            self.notice(
                false,
                scanner,
                None,
                r,
                now,
                ev.frame,
                vec![port],
                msg,
                "Scan::Address_Scan",
                out,
            );
        }
        if let Some(r) =
            self.port
                .observe(now, (scanner, u32::from(victim)), u32::from(port), frame)
        {
            let msg = format!(
                "{scanner} scanned at least {} unique ports of host {victim} in {}",
                r.values.len(),
                mins_secs(now.saturating_sub(r.begin))
            );
            let ports = r.values.iter().map(|p| *p as u16).collect();
            self.notice(
                true,
                scanner,
                Some(victim),
                r,
                now,
                ev.frame,
                ports,
                msg,
                "Scan::Port_Scan",
                out,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn notice(
        &mut self,
        is_port: bool,
        scanner: Ipv4Addr,
        victim: Option<Ipv4Addr>,
        r: Result_,
        now: i64,
        frame: Option<u64>,
        ports: Vec<u16>,
        msg: String,
        note: &str,
        out: &mut Vec<Alert>,
    ) {
        if let Some(t) = self.suppressed.time(&(is_port, scanner)) {
            if now.saturating_sub(t) < self.suppress_us {
                return;
            }
        }
        let cost = entry_cost::<(bool, Ipv4Addr), ()>(0);
        self.suppressed.insert((is_port, scanner), (), now, cost);
        // Suppressions older than the interval are over (`now - t >= interval`).
        let over = now.saturating_sub(self.suppress_us).saturating_add(1);
        while self.suppressed.pop_before(over).is_some() {}
        let threshold = if is_port {
            self.port.threshold
        } else {
            self.addr.threshold
        };
        let distinct: BTreeSet<u32> = r.values.iter().copied().collect();
        let (epoch_us, what) = if is_port {
            (self.port.epoch_us, "ports")
        } else {
            (self.addr.epoch_us, "hosts")
        };
        let rule = Rule {
            statement: format!(
                "Zeek scan.zeek {note}: {} unique {what} >= threshold {threshold} with failed \
                 connections from {scanner} {} within one SumStats epoch of {} s ({} s into it)",
                distinct.len(),
                match (victim, ports.first()) {
                    (Some(v), _) => format!("to host {v}"),
                    (None, Some(p)) => format!("on port {p}/tcp"),
                    (None, None) => String::new(),
                },
                epoch_us / 1_000_000,
                now.saturating_sub(r.begin) / 1_000_000
            ),
            counted: "failed TCP connections: unanswered SYNs (connection_attempt after \
                      tcp_attempt_delay), rejected ones (RST to the SYN), and resets without \
                      data (is_failed_conn); blamed on the side that probed"
                .into(),
            window: Some((Instant::from_micros(r.begin), Instant::from_micros(now))),
            keys: r
                .counted
                .iter()
                .map(|(v, f)| Counted {
                    key: if is_port {
                        format!("port {v}")
                    } else {
                        format!("host {}", Ipv4Addr::from(*v))
                    },
                    frame: *f,
                })
                .collect(),
        };
        out.push(Alert {
            detector: "zeek-scan",
            scanner,
            victim,
            kind: if is_port {
                AlertKind::PortScan
            } else {
                AlertKind::PortSweep
            },
            first_seen: Instant::from_micros(r.begin),
            time: Instant::from_micros(now),
            trigger_frame: frame,
            evidence: Evidence {
                counters: vec![
                    ("unique", distinct.len() as i64),
                    ("threshold", threshold as i64),
                    ("epoch_elapsed_us", now.saturating_sub(r.begin)),
                ],
                ports,
                frames: r.frames,
                log_line: format!("{note} {msg}"),
                rule,
            },
        });
    }

    fn process(&mut self, events: &[ConnEvent], out: &mut Vec<Alert>) {
        for ev in events {
            let c = &ev.conn;
            match ev.kind {
                ConnEventKind::Attempt => self.add(ev, c.has('H'), out),
                ConnEventKind::Rejected => self.add(ev, c.has('s'), out),
                ConnEventKind::Reset => {
                    if is_failed_conn(c) {
                        self.add(ev, false, out);
                    } else if is_reverse_failed_conn(c) {
                        self.add(ev, true, out);
                    }
                }
                ConnEventKind::Established | ConnEventKind::Removed => {}
            }
        }
    }
}

impl ConnConsumer for ZeekScan {
    fn name(&self) -> &'static str {
        "zeek-scan"
    }

    fn flow_config(&self) -> FlowConfig {
        self.flow
    }

    fn on_packet(&mut self, now: Instant, events: &[ConnEvent], out: &mut Vec<Alert>) {
        // Epochs tick with network time, as SumStats' epoch timer does.
        self.port.roll(now.total_micros());
        self.addr.roll(now.total_micros());
        self.process(events, out);
    }

    fn on_timers(&mut self, _: Instant, events: &[ConnEvent], out: &mut Vec<Alert>) {
        self.process(events, out);
    }

    fn memory(&self) -> Memory {
        Memory::of(&self.port.table) + Memory::of(&self.addr.table) + Memory::of(&self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    /// `n` closed-port probes (SYN, RST|ACK) from A to T, 100 ms apart.
    fn closed(r: &mut Run, n: u16, t0: i64) {
        let (a, t) = (ip("198.51.100.7"), ip("10.0.0.1"));
        for p in 1..=n {
            let at = t0 + i64::from(p) * 100_000;
            r.push(at, &tcp(a, 40000, t, p, S));
            r.push(at + 10, &tcp(t, p, a, 40000, RA));
        }
    }

    #[test]
    fn fifteen_failed_ports_alert_fourteen_do_not() {
        let mut r = Run::new("zeek-scan");
        closed(&mut r, 14, 0);
        r.flush(10_000_000);
        assert!(r.alerts.is_empty());
        let mut r = Run::new("zeek-scan");
        closed(&mut r, 15, 0);
        assert_eq!(r.alerts.len(), 1);
        let a = &r.alerts[0];
        assert_eq!(a.kind, AlertKind::PortScan);
        assert_eq!(a.trigger_frame, Some(29));
        assert_eq!(
            a.evidence.log_line,
            "Scan::Port_Scan 198.51.100.7 scanned at least 15 unique ports of host 10.0.0.1 in 0m1s"
        );
        // More ports in the same epoch and hour: suppressed.
        closed(&mut r, 40, 2_000_000);
        assert_eq!(r.alerts.len(), 1);
    }

    #[test]
    fn unanswered_syns_count_after_attempt_delay() {
        let mut r = Run::new("zeek-scan");
        for p in 1..=15u16 {
            r.push(
                i64::from(p) * 1000,
                &tcp(ip("198.51.100.7"), 1, ip("10.0.0.1"), p, S),
            );
        }
        assert_eq!(r.flush(5_014_999), 0);
        assert_eq!(r.flush(5_015_000), 1);
    }

    #[test]
    fn successful_and_midstream_connections_never_count() {
        let mut r = Run::new("zeek-scan");
        let (a, t) = (ip("198.51.100.7"), ip("10.0.0.1"));
        for p in 1..=30u16 {
            let at = i64::from(p) * 100_000;
            // Full connection with data, then reset: RSTO with data.
            r.push(at, &tcp(a, 40000, t, p, S));
            r.push(at + 1, &tcp(t, p, a, 40000, SA));
            r.push(
                at + 2,
                &TcpSeg::new(a, 40000, t, p, PA).payload(b"x").bytes(),
            );
            r.push(at + 3, &tcp(a, 40000, t, p, R));
            // Mid-stream ACKs and RSTs on other flows.
            r.push(at + 4, &tcp(t, 443, a, 50000 + p, A));
            r.push(at + 5, &tcp(a, 50000 + p, t, 443, R));
        }
        r.flush(1_000_000_000);
        assert!(r.alerts.is_empty(), "{:?}", r.alerts);
    }

    #[test]
    fn epochs_tumble() {
        let mut r = Run::new("zeek-scan");
        // 10 failed ports at the end of epoch 1, 10 at the start of epoch 2.
        r.push(0, &tcp(ip("192.0.2.1"), 1, ip("192.0.2.2"), 2, A));
        closed(&mut r, 10, 298_000_000);
        let (a, t) = (ip("198.51.100.7"), ip("10.0.0.1"));
        for p in 100..110u16 {
            r.push(301_000_000 + i64::from(p), &tcp(a, 40000, t, p, S));
            r.push(301_000_010 + i64::from(p), &tcp(t, p, a, 40000, RA));
        }
        assert!(r.alerts.is_empty());
    }

    #[test]
    fn backscatter_blames_the_client_per_port_80() {
        let mut r = Run::new("zeek-scan");
        let c = ip("10.0.0.5");
        for h in 1..=25u8 {
            let lb = Ipv4Addr::new(198, 51, 100, h);
            r.push(
                i64::from(h) * 1000,
                &tcp(lb, 80, c, 50000 + u16::from(h), SA),
            );
            r.push(
                i64::from(h) * 1000 + 1,
                &tcp(c, 50000 + u16::from(h), lb, 80, R),
            );
        }
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].scanner, c);
        assert_eq!(r.alerts[0].kind, AlertKind::PortSweep);
    }
}
