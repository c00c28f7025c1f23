//! A Zeek-like TCP connection tracker shared by the detectors that need
//! connection outcomes (TRW, Zeek `scan.zeek`).
//!
//! Source: zeek/zeek `src/analyzer/protocol/tcp/TCP.cc`
//! (`UpdateInactiveState`, `UpdateStateMachine`), `src/packet_analysis/
//! protocol/tcp/TCPSessionAdapter` / `TCPAnalyzer::WantConnection` (role
//! flipping), `scripts/base/protocols/conn/main.zeek` (`conn_state`, history
//! letters) and `scripts/base/init-bare.zeek` (timeouts), Zeek 2.x–6.0.
//!
//! # Model
//!
//! One connection per TCP 5-tuple (either direction), with an originator and
//! a responder, each in a Zeek endpoint state (`INACTIVE`, `SYN_SENT`,
//! `SYN_ACK_SENT`, `PARTIAL`, `ESTABLISHED`, `CLOSED`, `RESET`) and payload
//! byte counts. History letters are recorded the first time each occurs per
//! direction: `S` SYN, `H` SYN-ACK, `A` pure ACK, `D` payload, `F` FIN,
//! `R` RST; uppercase from the originator, lowercase from the responder.
//!
//! Roles: a connection whose first packet is a SYN without ACK is opened by its
//! sender. Any other first packet makes a *partial* connection; if its source
//! port is a likely server port and its destination port is not, the roles are
//! flipped (the receiver becomes the originator) and the history starts with
//! `^`; if both ports are likely server ports, it flips only for a non-SYN
//! packet whose source port is below its destination port (`WantConnection`).
//! So a stray SYN-ACK from R:80 to C:eph yields originator C, history `^h...`.
//!
//! Events ([`ConnEventKind`]) mirror the Zeek events the scan scripts use:
//! `connection_established`, `connection_attempt` (the `tcp_attempt_delay`
//! timer found the originator still in `SYN_SENT` with a silent responder),
//! `connection_rejected`, `connection_reset`, and `connection_state_remove`
//! ([`ConnEventKind::Removed`], with the final `conn_state`).
//!
//! # Parameters ([`FlowConfig`])
//!
//! | field | default | upstream |
//! |---|---|---|
//! | `inactivity_us` | 300 s | `tcp_inactivity_timeout = 5 min` (init-bare.zeek) |
//! | `attempt_delay_us` | 5 s | `tcp_attempt_delay = 5 secs` |
//! | `close_delay_us` | 5 s | `tcp_close_delay = 5 secs` (both FINs) |
//! | `reset_delay_us` | 5 s | `tcp_reset_delay = 5 secs` (after a RST) |
//!
//! # Deviations from upstream
//!
//! - TCP only (UDP and ICMP "connections" are not tracked).
//! - No sequence-number tracking: no reuse detection, no `bad_SYN_ack`, no
//!   retransmission letters (`T`, `W`, `I`, `Q`, `G`, `C`); the SYN/SYN-ACK
//!   reversal flip inside `UpdateInactiveState` is not modelled.
//! - Payload bytes are the TCP payload lengths seen, not sequence-space sizes.
//! - `likely_server_ports` is a fixed list of ports that Zeek's default
//!   analyzers register (see [`LIKELY_SERVER_PORTS`]) **\[unverified\]** in detail.
//! - Timers are evaluated when time advances (a packet or `advance`), with the
//!   exact deadline as the event time.

use core::net::Ipv4Addr;
use core::num::NonZeroU64;

use arrayvec::{ArrayString, ArrayVec};

use crate::state::TimedMap;
use crate::view::proto;
use crate::{Instant, Memory, PacketView};

mod shared;
mod timers;

pub use shared::{ConnConsumer, Members, SharedFeed, Tracked, flow_config};
use timers::TimerQueue;

/// Ports for which a Zeek default analyzer registers, used for role flipping
/// (`likely_server_ports`). Sorted. **\[unverified\]** exact membership.
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 137, 139, 143, 389, 443, 445, 465, 502, 563, 585,
    587, 614, 636, 989, 990, 992, 993, 994, 995, 1080, 1812, 1883, 3128, 3306, 3389, 5060, 5222,
    5223, 5269, 5432, 6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 8000, 8080, 8443,
    8883, 8888,
];

/// True if Zeek would consider `port` a likely server port.
pub fn likely_server_port(port: u16) -> bool {
    LIKELY_SERVER_PORTS.binary_search(&port).is_ok()
}

/// Zeek TCP endpoint states (`TCP_ENDPOINT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndpointState {
    /// Nothing seen from this side.
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK as its first packet.
    SynAckSent,
    /// Seen mid-stream (first packet had no SYN).
    Partial,
    /// Handshake seen.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// Zeek `conn_state` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnState {
    /// SYN seen, no reply.
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination.
    SF,
    /// Attempt rejected.
    REJ,
    /// Established, originator closed, no reply.
    S2,
    /// Established, responder closed, no reply.
    S3,
    /// Established, originator aborted (RST).
    RSTO,
    /// Responder sent a RST.
    RSTR,
    /// Originator sent a SYN then a RST; no SYN-ACK.
    RSTOS0,
    /// Responder sent a SYN-ACK then a RST; no SYN from the originator.
    RSTRH,
    /// Originator sent a SYN then a FIN; no SYN-ACK ("half open").
    SH,
    /// Responder sent a SYN-ACK then a FIN; no SYN from the originator.
    SHR,
    /// No SYN seen, just midstream traffic.
    OTH,
}

impl ConnState {
    /// The name Zeek logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }
}

/// A connection as the detectors see it when an event fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Unique id, in creation order.
    pub id: u64,
    /// Originator address and port.
    pub orig: (Ipv4Addr, u16),
    /// Responder address and port.
    pub resp: (Ipv4Addr, u16),
    /// Originator endpoint state.
    pub orig_state: EndpointState,
    /// Responder endpoint state.
    pub resp_state: EndpointState,
    /// Zeek history string (`^` first if roles were flipped), inline: each
    /// letter is recorded once, so it never outgrows [`Conn::HISTORY_LEN`].
    pub history: ArrayString<{ Conn::HISTORY_LEN }>,
    /// Payload bytes from the originator.
    pub orig_bytes: u64,
    /// Payload bytes from the responder.
    pub resp_bytes: u64,
    /// First packet time.
    pub start: Instant,
    /// Last packet time.
    pub last: Instant,
    /// Frames of the first packets of this connection (capped at
    /// [`Conn::MAX_FRAMES`], inline).
    pub frames: ArrayVec<u64, { Conn::MAX_FRAMES }>,
    /// When it was closed (both FIN) or reset, if it was.
    closing: Option<i64>,
    /// Its pending timers' sequence numbers in the timer queue, by
    /// [`Timer`]: a queued timer is live only while its connection names it
    /// here, so an evicted connection takes its timers with it.
    armed: [Option<NonZeroU64>; 3],
}

impl Conn {
    /// Cap on [`Conn::frames`].
    pub const MAX_FRAMES: usize = 8;
    /// Longest history: `^` and the six letters `SHADFR` from each side.
    pub const HISTORY_LEN: usize = 13;

    /// True if `letter` occurs in the history.
    pub fn has(&self, letter: char) -> bool {
        self.history.contains(letter)
    }

    /// Zeek's `conn_state()` (conn/main.zeek), for TCP.
    pub fn conn_state(&self) -> ConnState {
        use EndpointState::*;
        let (os, rs) = (self.orig_state, self.resp_state);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && self.orig_bytes == 0 && self.resp_bytes == 0)
            {
                ConnState::REJ
            } else if o_inactive {
                ConnState::RSTRH
            } else {
                ConnState::RSTR
            }
        } else if os == Reset {
            if r_inactive {
                if self.history_is_rstos0() {
                    ConnState::RSTOS0
                } else {
                    ConnState::OTH
                }
            } else {
                ConnState::RSTO
            }
        } else if rs == Closed && os == Closed {
            ConnState::SF
        } else if os == Closed {
            if r_inactive {
                ConnState::SH
            } else {
                ConnState::S2
            }
        } else if rs == Closed {
            if o_inactive {
                ConnState::SHR
            } else {
                ConnState::S3
            }
        } else if os == SynSent && rs == Inactive {
            ConnState::S0
        } else if os == Established && rs == Established {
            ConnState::S1
        } else {
            ConnState::OTH
        }
    }

    /// `/\^?S[^HAFGIQ]*R.*/ == history`.
    fn history_is_rstos0(&self) -> bool {
        let h = self.history.strip_prefix('^').unwrap_or(&self.history);
        let Some(rest) = h.strip_prefix('S') else {
            return false;
        };
        for c in rest.chars() {
            if c == 'R' {
                return true;
            }
            if "HAFGIQ".contains(c) {
                return false;
            }
        }
        false
    }

    fn note(&mut self, is_orig: bool, letter: char) {
        let l = if is_orig {
            letter
        } else {
            letter.to_ascii_lowercase()
        };
        if !self.history.contains(l) {
            // Never full: each of the HISTORY_LEN letters is pushed once.
            let _ = self.history.try_push(l);
        }
    }
}

/// What happened to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnEventKind {
    /// `connection_established`.
    Established,
    /// `connection_attempt`: `tcp_attempt_delay` after the originator's SYN, still unanswered.
    Attempt,
    /// `connection_rejected`.
    Rejected,
    /// `connection_reset`.
    Reset,
    /// `connection_state_remove`: the connection left the table (closed, reset, or idle).
    Removed,
}

/// One event from the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnEvent {
    /// Which event.
    pub kind: ConnEventKind,
    /// When it fired (packet time, or the timer deadline).
    pub time: Instant,
    /// The packet that caused it, if a packet did.
    pub frame: Option<u64>,
    /// The connection at that moment.
    pub conn: Conn,
}

/// Tracker timeouts, defaults from Zeek's `init-bare.zeek`, and the bound on
/// the table. Equal configurations make trackers that behave alike (see
/// [`SharedFeed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// `tcp_inactivity_timeout`, µs.
    pub inactivity_us: i64,
    /// `tcp_attempt_delay`, µs.
    pub attempt_delay_us: i64,
    /// `tcp_close_delay`, µs.
    pub close_delay_us: i64,
    /// `tcp_reset_delay`, µs.
    pub reset_delay_us: i64,
    /// Bytes of connection state at most (each connection is charged
    /// [`FlowTracker::CONN_COST`]); past it the least recently active
    /// connection is dropped, without events (Zeek has no such bound).
    pub memcap: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            inactivity_us: 300_000_000,
            attempt_delay_us: 5_000_000,
            close_delay_us: 5_000_000,
            reset_delay_us: 5_000_000,
            memcap: FlowTracker::DEFAULT_MEMCAP,
        }
    }
}

type Key = (Ipv4Addr, u16, Ipv4Addr, u16);

fn key(a: Ipv4Addr, ap: u16, b: Ipv4Addr, bp: u16) -> Key {
    if (a, ap) <= (b, bp) {
        (a, ap, b, bp)
    } else {
        (b, bp, a, ap)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Attempt,
    Inactivity,
    Close,
}

/// The connection table.
#[derive(Debug)]
pub struct FlowTracker {
    cfg: FlowConfig,
    /// Connections by their last packet (the least recently active is evicted first).
    conns: TimedMap<Key, Conn>,
    /// (deadline, sequence) → (connection key, connection id, timer), one
    /// lane per [`Timer`]; a timer is live while its connection's `armed`
    /// names its sequence number.
    timers: TimerQueue<(Key, u64, Timer), 3>,
    seq: u64,
    next_id: u64,
}

impl FlowTracker {
    /// What one connection is charged against the memcap: its table entry,
    /// its heap and its three timer-queue entries. A documented constant, not
    /// a measurement: it is what [`crate::state::entry_cost`] gave when a
    /// connection kept its history and frames on the heap (a 192-byte
    /// `Conn` and a 12-byte key: 600 bytes in the table, 128 of heap with
    /// allocator slack, 3 x 180 for its timer entries), so memcaps keep
    /// meaning the same number of connections.
    pub const CONN_COST: u64 = 1268;
    /// Default memcap: 64 MiB, about 80,000 connections.
    pub const DEFAULT_MEMCAP: u64 = 64 << 20;

    /// An empty table.
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTracker {
            cfg,
            conns: TimedMap::new(cfg.memcap),
            timers: TimerQueue::new(),
            seq: 0,
            next_id: 0,
        }
    }

    /// The table against its memcap.
    pub fn memory(&self) -> Memory {
        Memory::of(&self.conns)
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True if no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn arm(&mut self, at: i64, k: Key, id: u64, t: Timer) {
        let seq = self.next_seq();
        if let Some(c) = self.conns.get_mut(&k).filter(|c| c.id == id) {
            Self::name_timer(&mut self.timers, c, t, seq);
        }
        self.timers.push(t as usize, (at, seq), (k, id, t));
    }

    /// The sequence number of the next timer armed.
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Makes `seq` connection `c`'s pending timer of kind `t` (one per kind:
    /// a re-armed one replaces its slot, whose timer is then cancelled).
    /// The caller queues the timer.
    fn name_timer(timers: &mut TimerQueue<(Key, u64, Timer), 3>, c: &mut Conn, t: Timer, seq: u64) {
        if core::mem::replace(&mut c.armed[t as usize], NonZeroU64::new(seq)).is_some() {
            timers.cancelled();
        }
    }

    /// Cancels the pending timers of a connection that left the table.
    fn disarm(&mut self, c: &Conn) {
        for _ in c.armed.iter().flatten() {
            self.timers.cancelled();
        }
        let conns = &self.conns;
        self.timers.sweep(|slot, &(k, id, t)| {
            conns
                .get(&k)
                .is_some_and(|c| c.id == id && c.armed[t as usize] == NonZeroU64::new(slot.1))
        });
    }

    /// Runs every timer due at or before `now`.
    pub fn advance(&mut self, now: Instant, events: &mut Vec<ConnEvent>) {
        let now = now.total_micros();
        while let Some((at, _)) = self.timers.first() {
            if at > now {
                break;
            }
            let Some((slot, (k, id, t))) = self.timers.pop_first() else {
                break;
            };
            let Some(c) = self
                .conns
                .get_mut(&k)
                .filter(|c| c.id == id && c.armed[t as usize] == NonZeroU64::new(slot.1))
            else {
                self.timers.skipped();
                continue;
            };
            c.armed[t as usize] = None;
            let c = &*c;
            let time = Instant::from_micros(at);
            match t {
                Timer::Attempt => {
                    if c.orig_state == EndpointState::SynSent
                        && c.resp_state == EndpointState::Inactive
                    {
                        events.push(ConnEvent {
                            kind: ConnEventKind::Attempt,
                            time,
                            frame: None,
                            conn: c.clone(),
                        });
                    }
                }
                Timer::Inactivity => {
                    let due = c.last.total_micros().saturating_add(self.cfg.inactivity_us);
                    if due > at {
                        self.arm(due, k, id, Timer::Inactivity);
                    } else {
                        self.remove(k, time, events);
                    }
                }
                Timer::Close => self.remove(k, time, events),
            }
        }
    }

    fn remove(&mut self, k: Key, time: Instant, events: &mut Vec<ConnEvent>) {
        if let Some(c) = self.conns.remove(&k) {
            self.disarm(&c);
            events.push(ConnEvent {
                kind: ConnEventKind::Removed,
                time,
                frame: None,
                conn: c,
            });
        }
    }

    /// Removes every connection now (`connection_state_remove` at shutdown).
    pub fn drain(&mut self, now: Instant, events: &mut Vec<ConnEvent>) {
        self.advance(now, events);
        let keys: Vec<Key> = self.conns.iter().map(|(k, _)| *k).collect();
        for k in keys {
            self.remove(k, now, events);
        }
        self.timers.clear();
    }

    /// Feeds one packet: runs due timers first, then updates the connection.
    pub fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, events: &mut Vec<ConnEvent>) {
        self.advance(now, events);
        if pkt.protocol != proto::TCP {
            return;
        }
        let Some(tcp) = pkt.tcp() else { return };
        let t = now.total_micros();
        let f = tcp.flags;
        let k = key(pkt.src, tcp.src_port, pkt.dst, tcp.dst_port);
        if !self.conns.contains_key(&k) {
            let flip = if f.syn() && !f.ack() {
                false
            } else if likely_server_port(tcp.src_port) {
                if likely_server_port(tcp.dst_port) {
                    !f.syn() && tcp.src_port < tcp.dst_port
                } else {
                    true
                }
            } else {
                false
            };
            let (orig, resp) = if flip {
                ((pkt.dst, tcp.dst_port), (pkt.src, tcp.src_port))
            } else {
                ((pkt.src, tcp.src_port), (pkt.dst, tcp.dst_port))
            };
            self.next_id += 1;
            let id = self.next_id;
            // Its inactivity timer is named before the connection goes in and
            // queued after (an eviction's sweep must not see it unnamed).
            let inactivity = self.next_seq();
            let mut armed = [None; 3];
            armed[Timer::Inactivity as usize] = NonZeroU64::new(inactivity);
            let evicted = self.conns.insert(
                k,
                Conn {
                    id,
                    orig,
                    resp,
                    orig_state: EndpointState::Inactive,
                    resp_state: EndpointState::Inactive,
                    history: {
                        let mut h = ArrayString::new();
                        if flip {
                            let _ = h.try_push('^');
                        }
                        h
                    },
                    orig_bytes: 0,
                    resp_bytes: 0,
                    start: now,
                    last: now,
                    frames: ArrayVec::new(),
                    closing: None,
                    armed,
                },
                t,
                Self::CONN_COST,
            );
            for (_, c) in evicted {
                self.disarm(&c);
            }
            self.timers.push(
                Timer::Inactivity as usize,
                (t.saturating_add(self.cfg.inactivity_us), inactivity),
                (k, id, Timer::Inactivity),
            );
        }
        let cfg = self.cfg;
        let Some(c) = self.conns.touch_mut(&k, t) else {
            return;
        };
        let is_orig = c.orig == (pkt.src, tcp.src_port);
        c.last = now;
        let _ = c.frames.try_push(pkt.frame);
        let len = tcp.payload.len() as u64;
        if is_orig {
            c.orig_bytes = c.orig_bytes.saturating_add(len);
        } else {
            c.resp_bytes = c.resp_bytes.saturating_add(len);
        }
        // History letters.
        if f.syn() {
            c.note(is_orig, if f.ack() { 'H' } else { 'S' });
        }
        if f.fin() {
            c.note(is_orig, 'F');
        }
        if f.rst() {
            c.note(is_orig, 'R');
        }
        if len > 0 {
            c.note(is_orig, 'D');
        } else if f.ack() && !f.syn() && !f.fin() && !f.rst() {
            c.note(is_orig, 'A');
        }

        use EndpointState::*;
        let (mut me, mut peer) = if is_orig {
            (c.orig_state, c.resp_state)
        } else {
            (c.resp_state, c.orig_state)
        };
        // At most two: established or not, then rejected or reset.
        let mut emit: ArrayVec<ConnEventKind, 2> = ArrayVec::new();
        let mut arm_attempt = false;
        let was = me;
        if me == Inactive {
            // UpdateInactiveState.
            if f.syn() {
                if is_orig {
                    me = if f.ack() { SynAckSent } else { SynSent };
                    arm_attempt = true;
                } else {
                    if peer == SynSent {
                        peer = Established;
                    }
                    me = Established;
                    if peer != Partial {
                        let _ = emit.try_push(ConnEventKind::Established);
                    }
                }
            }
            if f.fin() {
                me = Closed;
            }
            if f.rst() {
                me = Reset;
                let reject = if is_orig {
                    peer == Established
                } else {
                    matches!(peer, SynSent | SynAckSent)
                };
                let _ = emit.try_push(if reject {
                    ConnEventKind::Rejected
                } else {
                    ConnEventKind::Reset
                });
            } else if !f.syn() && !f.fin() {
                me = Partial;
            }
        } else {
            if f.syn() && f.ack() && !is_orig && peer == SynSent && me != Established {
                peer = Established;
                me = Established;
                let _ = emit.try_push(ConnEventKind::Established);
            } else if f.ack()
                && !f.syn()
                && matches!(me, SynSent | SynAckSent)
                && peer == Established
            {
                me = Established;
            }
            if f.fin() && me != Reset {
                me = Closed;
            }
            if f.rst() && me != Reset {
                // A RST from the responder before any reply rejects the attempt.
                let reject = !is_orig && matches!(peer, SynSent | SynAckSent);
                me = Reset;
                let _ = emit.try_push(if reject {
                    ConnEventKind::Rejected
                } else {
                    ConnEventKind::Reset
                });
            }
        }
        let _ = was;
        if is_orig {
            c.orig_state = me;
            c.resp_state = peer;
        } else {
            c.resp_state = me;
            c.orig_state = peer;
        }
        let id = c.id;
        let close = if c.closing.is_none() && (me == Reset || peer == Reset) {
            c.closing = Some(t);
            Some(t.saturating_add(cfg.reset_delay_us))
        } else if c.closing.is_none() && me == Closed && peer == Closed {
            c.closing = Some(t);
            Some(t.saturating_add(cfg.close_delay_us))
        } else {
            None
        };
        for kind in emit {
            events.push(ConnEvent {
                kind,
                time: now,
                frame: Some(pkt.frame),
                conn: c.clone(),
            });
        }
        // The connection is at hand: its timers are named without another
        // look-up (after the events, which carry it as it was).
        let attempt = (arm_attempt && cfg.attempt_delay_us > 0)
            .then(|| (t.saturating_add(cfg.attempt_delay_us), Timer::Attempt));
        for (at, timer) in attempt
            .into_iter()
            .chain(close.map(|at| (at, Timer::Close)))
        {
            self.seq += 1;
            let seq = self.seq;
            Self::name_timer(&mut self.timers, c, timer, seq);
            self.timers.push(timer as usize, (at, seq), (k, id, timer));
        }
    }
}

/// A tracker and the buffer its events land in: the pump every detector
/// that acts on connection events runs (TRW, Zeek scan, Bro 1.x scan). The
/// events of one call are returned as a slice the detector walks while it
/// updates its own state (a separate field, so the borrows do not clash).
#[derive(Debug)]
pub struct ConnFeed {
    tracker: FlowTracker,
    events: Vec<ConnEvent>,
}

impl ConnFeed {
    /// A feed over a fresh tracker.
    pub fn new(cfg: FlowConfig) -> Self {
        ConnFeed {
            tracker: FlowTracker::new(cfg),
            events: Vec::new(),
        }
    }

    /// One packet: the events of due timers, then of the packet.
    pub fn observe(&mut self, now: Instant, pkt: &PacketView<'_>) -> &[ConnEvent] {
        self.events.clear();
        self.tracker.observe(now, pkt, &mut self.events);
        &self.events
    }

    /// The events of timers due at or before `now`.
    pub fn advance(&mut self, now: Instant) -> &[ConnEvent] {
        self.events.clear();
        self.tracker.advance(now, &mut self.events);
        &self.events
    }

    /// The tracker's table against its memcap.
    pub fn memory(&self) -> Memory {
        self.tracker.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn feed(tr: &mut FlowTracker, pkts: &[(i64, Vec<u8>)]) -> Vec<ConnEvent> {
        let mut ev = Vec::new();
        for (i, (t, b)) in pkts.iter().enumerate() {
            let v = PacketView::parse(i as u64, b).unwrap();
            tr.observe(Instant::from_micros(*t), &v, &mut ev);
        }
        ev
    }

    fn removed(ev: &[ConnEvent]) -> Vec<(String, ConnState)> {
        ev.iter()
            .filter(|e| e.kind == ConnEventKind::Removed)
            .map(|e| (e.conn.history.to_string(), e.conn.conn_state()))
            .collect()
    }

    const C: &str = "10.0.0.5";
    const SRV: &str = "192.0.2.1";

    #[test]
    fn full_connection_is_sf() {
        let (c, s) = (ip(C), ip(SRV));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(
            &mut tr,
            &[
                (0, tcp(c, 40000, s, 443, S)),
                (1, tcp(s, 443, c, 40000, SA)),
                (2, tcp(c, 40000, s, 443, A)),
                (3, TcpSeg::new(c, 40000, s, 443, PA).payload(b"GET").bytes()),
                (4, TcpSeg::new(s, 443, c, 40000, PA).payload(b"OK").bytes()),
                (5, tcp(c, 40000, s, 443, FA)),
                (6, tcp(s, 443, c, 40000, FA)),
                (7, tcp(c, 40000, s, 443, A)),
            ],
        );
        tr.advance(Instant::from_secs(10), &mut ev);
        assert_eq!(removed(&ev), vec![("ShADdFf".into(), ConnState::SF)]);
        assert!(ev.iter().any(|e| e.kind == ConnEventKind::Established));
        assert!(tr.is_empty());
    }

    #[test]
    fn attempt_fires_after_delay_then_s0_after_inactivity() {
        let (c, s) = (ip(C), ip(SRV));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(&mut tr, &[(0, tcp(c, 1, s, 22, S))]);
        tr.advance(Instant::from_micros(4_999_999), &mut ev);
        assert!(ev.is_empty());
        tr.advance(Instant::from_secs(5), &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, ConnEventKind::Attempt);
        tr.advance(Instant::from_secs(301), &mut ev);
        assert_eq!(removed(&ev), vec![("S".into(), ConnState::S0)]);
    }

    #[test]
    fn rejected_is_rej_and_half_open_is_rsto() {
        let (c, s) = (ip(C), ip(SRV));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(
            &mut tr,
            &[
                (0, tcp(c, 1, s, 23, S)),
                (1, tcp(s, 23, c, 1, RA)),
                (2, tcp(c, 2, s, 80, S)),
                (3, tcp(s, 80, c, 2, SA)),
                (4, tcp(c, 2, s, 80, R)),
            ],
        );
        assert_eq!(ev[0].kind, ConnEventKind::Rejected);
        tr.advance(Instant::from_secs(60), &mut ev);
        assert_eq!(
            removed(&ev),
            vec![
                ("Sr".into(), ConnState::REJ),
                ("ShR".into(), ConnState::RSTO)
            ]
        );
    }

    #[test]
    fn stray_syn_ack_from_server_port_flips_roles() {
        let (c, r) = (ip(C), ip("192.0.2.77"));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(
            &mut tr,
            &[(0, tcp(r, 80, c, 50123, SA)), (1, tcp(c, 50123, r, 80, R))],
        );
        let rej = ev
            .iter()
            .find(|e| e.kind == ConnEventKind::Rejected)
            .unwrap();
        assert_eq!(rej.conn.orig, (c, 50123));
        assert_eq!(rej.conn.history.as_str(), "^hR");
        tr.advance(Instant::from_secs(60), &mut ev);
        assert_eq!(removed(&ev), vec![("^hR".into(), ConnState::RSTO)]);
    }

    #[test]
    fn midstream_is_oth() {
        let (c, s) = (ip(C), ip(SRV));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(
            &mut tr,
            &[(0, tcp(s, 443, c, 40000, A)), (1, tcp(c, 40000, s, 443, A))],
        );
        tr.advance(Instant::from_secs(1000), &mut ev);
        let r = removed(&ev);
        assert_eq!(r, vec![("^aA".into(), ConnState::OTH)]);
    }

    #[test]
    fn syn_then_rst_without_reply_is_rstos0() {
        let (c, s) = (ip(C), ip(SRV));
        let mut tr = FlowTracker::new(FlowConfig::default());
        let mut ev = feed(
            &mut tr,
            &[(0, tcp(c, 1, s, 9999, S)), (1, tcp(c, 1, s, 9999, R))],
        );
        tr.advance(Instant::from_secs(60), &mut ev);
        assert_eq!(removed(&ev), vec![("SR".into(), ConnState::RSTOS0)]);
    }
}
