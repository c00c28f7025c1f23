//! A SYN ("half-open") scanner that crafts raw probes as nmap `-sS` does.
//!
//! For each (target, port) it sends a SYN from one source port chosen per scan
//! (window 1024, MSS 1460 option, random TTL 37-59 and IP ID, as nmap's raw
//! packets). A SYN-ACK marks the port open and is answered with RST (a raw
//! socket on the host suppresses smoltcp's own RSTs, so the scanner sends it, as
//! nmap relies on the kernel to); a RST marks it closed; no reply within the
//! probe timeout is retried, then the port is filtered.
//!
//! Timing follows nmap's templates (nmap reference guide, "Timing and
//! Performance"): T0-T2 are serial with a fixed delay between probes (300 s,
//! 15 s, 0.4 s); T3-T5 are parallel. See [`Timing`] for the exact numbers and
//! where the model simplifies nmap's adaptive congestion control.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use rand::RngExt;
use rustc_hash::FxHashMap;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::raw;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpProtocol, IpVersion, Ipv4Packet, TcpPacket};

use super::http_client::min_opt;
use super::probe_order::ProbeOrder;
use super::{App, AppStats, HostCtx};
use crate::rng::SimRng;
use scanbench_testkit::{Ipv4, Tcp};

/// One nmap timing template, as the scanner uses it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Template name, `T0`..`T5`.
    pub name: &'static str,
    /// Fixed delay between probes (`--scan-delay`); serial templates only.
    pub scan_delay: Duration,
    /// Probes outstanding at first; 1 for serial templates.
    pub initial_window: usize,
    /// Cap on probes outstanding; the window grows by one per answered probe.
    pub max_window: usize,
    /// How long to wait for a reply before a retry (`--initial-rtt-timeout`).
    pub probe_timeout: Duration,
    /// Retransmissions of an unanswered probe before the port is called filtered.
    pub retries: u32,
}

impl Timing {
    /// nmap's templates. Delays and RTT timeouts are nmap's documented values
    /// (T0 5 min / T1 15 s / T2 0.4 s scan delay; initial RTT timeout 5 min, 15 s,
    /// 1 s, 1 s, 500 ms, 250 ms). nmap's congestion window is adaptive; we model
    /// it as a window starting at 10 probes and growing by one per reply up to a
    /// cap (T3 100, T4 300, T5 1000). nmap retries an unanswered probe up to
    /// `--max-retries` (T3 10, T4 6, T5 2) but in practice backs off after one
    /// retry on a quiet filtered port; we retry once (T5 also once).
    pub fn template(n: u8) -> Option<Timing> {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        Some(match n {
            0 => Timing {
                name: "T0",
                scan_delay: s(300),
                initial_window: 1,
                max_window: 1,
                probe_timeout: s(300),
                retries: 1,
            },
            1 => Timing {
                name: "T1",
                scan_delay: s(15),
                initial_window: 1,
                max_window: 1,
                probe_timeout: s(15),
                retries: 1,
            },
            2 => Timing {
                name: "T2",
                scan_delay: ms(400),
                initial_window: 1,
                max_window: 1,
                probe_timeout: s(1),
                retries: 1,
            },
            3 => Timing {
                name: "T3",
                scan_delay: Duration::ZERO,
                initial_window: 10,
                max_window: 100,
                probe_timeout: s(1),
                retries: 1,
            },
            4 => Timing {
                name: "T4",
                scan_delay: Duration::ZERO,
                initial_window: 10,
                max_window: 300,
                probe_timeout: ms(500),
                retries: 1,
            },
            5 => Timing {
                name: "T5",
                scan_delay: Duration::ZERO,
                initial_window: 10,
                max_window: 1000,
                probe_timeout: ms(250),
                retries: 1,
            },
            _ => return None,
        })
    }

    /// `T3`, `t4`, `3`, `aggressive`, ... (nmap also accepts the names).
    pub fn parse(s: &str) -> Option<Timing> {
        let n = match s.trim().to_ascii_lowercase().as_str() {
            "t0" | "0" | "paranoid" => 0,
            "t1" | "1" | "sneaky" => 1,
            "t2" | "2" | "polite" => 2,
            "t3" | "3" | "normal" => 3,
            "t4" | "4" | "aggressive" => 4,
            "t5" | "5" | "insane" => 5,
            _ => return None,
        };
        Timing::template(n)
    }
}

/// Scanner parameters.
#[derive(Clone, Debug)]
pub struct ScanSpec {
    /// Target addresses (one for a vertical scan, many for a sweep).
    pub targets: Vec<Ipv4Addr>,
    /// Ports to probe on every target.
    pub ports: Vec<u16>,
    /// Timing template.
    pub timing: Timing,
    /// When the scan starts.
    pub start: Instant,
    /// Shuffle the probe order (nmap randomizes port order by default).
    pub randomize: bool,
    /// Repeat the whole scan this many times (benchmarks).
    pub repeat: u32,
}

/// What a raw-packet scan sends, beyond the defaults of `-sS`: the probe's
/// flags (`-sF`, `-sN`, `-sX`) and a fixed source port (`-g` /
/// `--source-port`, the firewall-evasion trick of scanning from port 53 or 80).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// TCP flags of every probe: SYN (0x02, the default), FIN (0x01), NULL
    /// (0x00) or XMAS (FIN|PSH|URG, 0x29).
    pub flags: u8,
    /// Source port of every probe; `None`: one ephemeral port per scan.
    pub source_port: Option<u16>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            flags: 0x02,
            source_port: None,
        }
    }
}

impl Probe {
    /// Parses nmap's scan-type names: `syn`, `fin`, `null`, `xmas`.
    pub fn flags_named(name: &str) -> Option<u8> {
        Some(match name {
            "syn" => 0x02,
            "fin" => 0x01,
            "null" => 0x00,
            "xmas" => 0x29,
            _ => return None,
        })
    }
}

/// What the scan found for one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortState {
    /// SYN-ACK received.
    Open,
    /// RST received.
    Closed,
    /// No reply after all retries.
    Filtered,
}

#[derive(Clone, Copy)]
struct Outstanding {
    sent_at: Instant,
    tries: u32,
    seq: u32,
}

/// A reply's (source, source port, SYN-ACK, RST, ack number).
type Reply = (Ipv4Addr, u16, bool, bool, u32);

/// The SYN-scan app.
pub struct SynScan {
    spec: ScanSpec,
    rng: SimRng,
    raw: Option<SocketHandle>,
    src_port: u16,
    /// This round's probes not yet sent.
    order: ProbeOrder,
    /// Probes to send again (timed out once), before any new one: (target, port, tries).
    retries: VecDeque<(Ipv4Addr, u16, u32)>,
    /// Lookup only: expired probes are handled in key order (see `poll`).
    outstanding: FxHashMap<(Ipv4Addr, u16), Outstanding>,
    /// The keys of `outstanding` in send order, so a poll finds the expired
    /// probes and the next timeout without walking a window of up to 1000.
    /// Entries of answered probes stay until they reach the front.
    by_sent: VecDeque<(Instant, (Ipv4Addr, u16))>,
    /// Replies read in one poll (kept to reuse its allocation).
    replies: Vec<Reply>,
    window: usize,
    last_send: Option<Instant>,
    results: BTreeMap<PortState, u64>,
    probes_sent: u64,
    rounds_left: u32,
    probe: Probe,
}

impl SynScan {
    /// A scanner with its own random stream.
    pub fn new(spec: ScanSpec, rng: SimRng) -> Self {
        let window = spec.timing.initial_window;
        let rounds_left = spec.repeat.max(1);
        SynScan {
            spec,
            rng,
            raw: None,
            src_port: 0,
            order: ProbeOrder::empty(),
            retries: VecDeque::new(),
            outstanding: FxHashMap::default(),
            by_sent: VecDeque::new(),
            replies: Vec::new(),
            window,
            last_send: None,
            results: BTreeMap::new(),
            probes_sent: 0,
            rounds_left,
            probe: Probe::default(),
        }
    }

    /// Sends `probe`s instead of `-sS` SYNs from an ephemeral port. Without
    /// SYN, an answer is only a RST (closed port); an open or filtered port
    /// stays silent (RFC 793), so no answer counts as filtered after the
    /// retries, as nmap's `open|filtered`.
    pub fn with_probe(mut self, probe: Probe) -> Self {
        self.probe = probe;
        self
    }

    /// Results so far: open / closed / filtered counts.
    pub fn results(&self) -> &BTreeMap<PortState, u64> {
        &self.results
    }

    fn fill_queue(&mut self) {
        self.order = ProbeOrder::new(&self.spec, &mut self.rng);
        self.rounds_left -= 1;
    }

    fn queue_is_empty(&self) -> bool {
        self.retries.is_empty() && self.order.is_empty()
    }

    /// The next probe: a retry first, else the next pair of the round.
    fn next_probe(&mut self) -> Option<(Ipv4Addr, u16, u32)> {
        self.retries
            .pop_front()
            .or_else(|| self.order.next(&self.spec).map(|(t, p)| (t, p, 0)))
    }

    fn send(&mut self, ctx: &mut HostCtx<'_>, target: Ipv4Addr, port: u16, tries: u32) {
        let seq: u32 = self.rng.random();
        let probe = Tcp {
            src_port: self.src_port,
            dst_port: port,
            seq,
            flags: self.probe.flags,
            window: 1024,
            options: &[2, 4, 0x05, 0xb4],
            ..Tcp::default()
        };
        let ip = Ipv4 {
            ttl: self.rng.random_range(37..=59),
            ident: self.rng.random(),
            ..Ipv4::new(ctx.addr, target)
        };
        self.send_raw(ctx, &probe, &ip);
        self.outstanding.insert(
            (target, port),
            Outstanding {
                sent_at: ctx.now,
                tries,
                seq,
            },
        );
        self.by_sent.push_back((ctx.now, (target, port)));
        self.probes_sent += 1;
        self.last_send = Some(ctx.now);
    }

    /// Whether the probe to `key` sent at `sent_at` still awaits its reply
    /// (sends are in time order and a retry is sent later, so the time tells
    /// an entry of `by_sent` from one of an answered or retried probe).
    fn is_outstanding(&self, sent_at: Instant, key: (Ipv4Addr, u16)) -> bool {
        self.outstanding
            .get(&key)
            .is_some_and(|o| o.sent_at == sent_at)
    }

    /// Builds the packet straight into the raw socket's send buffer (dropped if it is full).
    fn send_raw(&mut self, ctx: &mut HostCtx<'_>, tcp: &Tcp<'_>, ip: &Ipv4) {
        let Some(h) = self.raw else { return };
        let s = ctx.sockets.get_mut::<raw::Socket>(h);
        if let Ok(buf) = s.send(tcp.packet_len()) {
            tcp.write_packet(ip, buf);
        }
    }

    fn handle_replies(&mut self, ctx: &mut HostCtx<'_>) {
        let Some(h) = self.raw else { return };
        let mut replies = std::mem::take(&mut self.replies);
        {
            let s = ctx.sockets.get_mut::<raw::Socket>(h);
            while let Ok(bytes) = s.recv() {
                let Ok(ip) = Ipv4Packet::new_checked(bytes) else {
                    continue;
                };
                let Ok(t) = TcpPacket::new_checked(ip.payload()) else {
                    continue;
                };
                if t.dst_port() != self.src_port {
                    continue;
                }
                replies.push((
                    ip.src_addr(),
                    t.src_port(),
                    t.syn() && t.ack(),
                    t.rst(),
                    t.ack_number().0 as u32,
                ));
            }
        }
        for (from, port, syn_ack, rst, ack) in replies.drain(..) {
            let Some(o) = self.outstanding.get(&(from, port)).copied() else {
                continue;
            };
            // A SYN or FIN probe takes one sequence number; NULL takes none.
            let consumed = u32::from(self.probe.flags & 0x03 != 0);
            if ack != o.seq.wrapping_add(consumed) && !(rst && self.probe.flags & 0x02 == 0) {
                continue;
            }
            let state = if syn_ack {
                // Tear down the half-open connection as the scanner's kernel
                // would (RFC 793 reset generation, Linux tcp_v4_send_reset):
                // seq from the segment's ACK field, no ACK flag, and so an
                // acknowledgment number of 0.
                let teardown = Tcp {
                    src_port: self.src_port,
                    dst_port: port,
                    seq: ack,
                    ack: 0,
                    flags: 0x04,
                    window: 0,
                    ..Tcp::default()
                };
                let ip = Ipv4 {
                    ident: self.rng.random(),
                    ..Ipv4::new(ctx.addr, from)
                };
                self.send_raw(ctx, &teardown, &ip);
                PortState::Open
            } else if rst {
                PortState::Closed
            } else {
                continue;
            };
            self.outstanding.remove(&(from, port));
            *self.results.entry(state).or_default() += 1;
            self.window = (self.window + 1).min(self.spec.timing.max_window);
        }
        self.replies = replies;
    }
}

impl App for SynScan {
    fn kind(&self) -> &'static str {
        "syn-scan"
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        if ctx.now < self.spec.start {
            return Some(self.spec.start);
        }
        if self.raw.is_none() {
            let n = 4096;
            let rx = raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; n], vec![0; n * 80]);
            let tx = raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; n], vec![0; n * 80]);
            let s = raw::Socket::new(Some(IpVersion::Ipv4), Some(IpProtocol::Tcp), rx, tx);
            self.raw = Some(ctx.sockets.add(s));
            self.src_port = match self.probe.source_port {
                Some(p) => {
                    // The probes are the scanner's doing, whatever their port.
                    ctx.claim_port(p);
                    p
                }
                None => ctx.ephemeral_port().unwrap_or(40000),
            };
            self.fill_queue();
        }
        self.handle_replies(ctx);
        let timing = self.spec.timing;
        // Timeouts: retry, or give the port up as filtered (in key order).
        let mut expired: Vec<(Ipv4Addr, u16)> = Vec::new();
        while let Some(&(sent_at, key)) = self.by_sent.front()
            && sent_at + timing.probe_timeout <= ctx.now
        {
            self.by_sent.pop_front();
            if self.is_outstanding(sent_at, key) {
                expired.push(key);
            }
        }
        // A port listed twice has two entries but one outstanding probe.
        expired.sort_unstable();
        expired.dedup();
        for key in expired {
            let o = self
                .outstanding
                .remove(&key)
                .expect("by_sent indexes outstanding");
            if o.tries < timing.retries {
                self.retries.push_front((key.0, key.1, o.tries + 1));
            } else {
                *self.results.entry(PortState::Filtered).or_default() += 1;
            }
        }
        // Send while the window and the scan delay allow.
        let mut next = None;
        while self.outstanding.len() < self.window {
            if self.queue_is_empty() {
                if self.outstanding.is_empty() && self.rounds_left > 0 {
                    self.fill_queue();
                } else {
                    break;
                }
            }
            if let Some(last) = self.last_send
                && ctx.now < last + timing.scan_delay
            {
                next = Some(last + timing.scan_delay);
                break;
            }
            let Some((t, p, tries)) = self.next_probe() else {
                break;
            };
            self.send(ctx, t, p, tries);
        }
        while let Some(&(sent_at, key)) = self.by_sent.front() {
            if self.is_outstanding(sent_at, key) {
                next = min_opt(next, Some(sent_at + timing.probe_timeout));
                break;
            }
            self.by_sent.pop_front();
        }
        next
    }

    fn stats(&self) -> AppStats {
        let get = |s| self.results.get(&s).copied().unwrap_or(0);
        vec![
            ("probes", self.probes_sent),
            ("open", get(PortState::Open)),
            ("closed", get(PortState::Closed)),
            ("filtered", get(PortState::Filtered)),
        ]
    }
}
