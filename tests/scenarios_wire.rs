//! The seed scenario suite, checked on the wire: each test runs a scenario
//! through the library (`Scenario::load` -> `simulate`), parses the frames with
//! the detector crate's `PacketView` (the same parser detectors use), and
//! asserts the *mechanism* the scenario exists to reproduce, not just counts.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use scanbench::simulate::TapObserver;
use scanbench::{Outputs, Scenario, simulate};
use scanbench_detector::PacketView;
use scanbench_sim::Frame;

/// One captured frame, owned.
#[derive(Clone, Debug)]
struct Rec {
    tap: String,
    at_us: i64,
    bytes: Vec<u8>,
    actor: String,
    class: String,
    cause: String,
}

/// The parsed TCP fields a test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    len: usize,
}

impl Rec {
    fn seg(&self) -> Option<Seg> {
        let v = PacketView::parse(0, &self.bytes).ok()?;
        let t = v.tcp()?;
        Some(Seg {
            src: v.src,
            sport: t.src_port,
            dst: v.dst,
            dport: t.dst_port,
            flags: t.flags.0,
            seq: t.seq,
            ack: t.ack,
            len: t.payload.len(),
        })
    }
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

struct Collect {
    taps: Vec<String>,
    out: Vec<Rec>,
}

impl TapObserver for Collect {
    fn frame(&mut self, tap: usize, f: &Frame<'_>) {
        self.out.push(Rec {
            tap: self.taps[tap].clone(),
            at_us: f.at.total_micros(),
            bytes: f.bytes.to_vec(),
            actor: f.label.actor.clone(),
            class: f.label.class.to_string(),
            cause: f.label.cause.clone(),
        });
    }
}

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
}

/// Runs a scenario with its own seed; returns every frame of every tap.
fn run(name: &str) -> Vec<Rec> {
    let sc = Scenario::load(&scenario_path(name)).unwrap_or_else(|e| panic!("{e}"));
    let taps = sc.build(sc.seed).unwrap().taps;
    let mut c = Collect {
        taps,
        out: Vec::new(),
    };
    simulate(&sc, sc.seed, &Outputs::default(), &mut c).unwrap_or_else(|e| panic!("{e}"));
    c.out
}

fn on<'a>(frames: &'a [Rec], tap: &str) -> Vec<&'a Rec> {
    frames.iter().filter(|r| r.tap == tap).collect()
}

fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Every frame carries a complete label and parses as IPv4.
fn all_labelled(frames: &[Rec]) {
    for r in frames {
        assert!(
            !r.actor.is_empty() && !r.cause.is_empty(),
            "unlabelled frame {r:?}"
        );
        assert!(r.class == "benign" || r.class == "malicious");
        assert!(PacketView::parse(0, &r.bytes).is_ok(), "unparsable frame");
    }
}

#[test]
fn every_suite_scenario_runs_and_labels_every_frame() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "toml").then_some(stem)
        })
        .collect();
    names.sort();
    for n in names {
        // The slow-timing scans have their own tests; run each file once only.
        if n.starts_with("syn-scan-t") {
            continue;
        }
        let frames = run(&n);
        assert!(!frames.is_empty(), "{n}: no frames");
        all_labelled(&frames);
    }
}

#[test]
fn misconfigured_balancer_sparse_client_rsts_and_retransmits() {
    let frames = run("misconfigured-balancer-sparse");
    all_labelled(&frames);
    let client = on(&frames, "client");
    let vip = addr("198.51.100.80");
    let backends = [addr("198.51.100.11"), addr("198.51.100.12")];
    let segs: Vec<(i64, Seg, &Rec)> = client
        .iter()
        .filter_map(|r| r.seg().map(|s| (r.at_us, s, *r)))
        .collect();
    // The backend's SYN-ACK reaches the client with the backend's address...
    let synacks: Vec<_> = segs
        .iter()
        .filter(|(_, s, _)| backends.contains(&s.src) && s.flags & (SYN | ACK) == SYN | ACK)
        .collect();
    assert!(synacks.len() >= 5, "SYN-ACKs: {}", synacks.len());
    for (at, sa, rec) in &synacks {
        assert_eq!(rec.cause, "balancer-misconfig");
        // ...and the client's stack answers with a bare RST: seq = the
        // SYN-ACK's ack, no ACK flag (RFC 793 reset for a segment with ACK).
        let rst = segs
            .iter()
            .find(|(t, s, _)| t >= at && s.src == sa.dst && s.dst == sa.src && s.dport == sa.sport)
            .expect("an answer to the SYN-ACK");
        assert_eq!(rst.1.flags, RST, "bare RST, no ACK");
        assert_eq!(rst.1.seq, sa.ack);
        assert_eq!(rst.2.cause, "balancer-misconfig");
    }
    // The client keeps retransmitting its SYN to the VIP: same port, same ISN,
    // gaps 1, 2, 4 s (RTO doubling).
    let first = segs
        .iter()
        .find(|(_, s, _)| s.dst == vip && s.flags == SYN)
        .unwrap()
        .1;
    let retx: Vec<i64> = segs
        .iter()
        .filter(|(_, s, _)| s.dst == vip && s.flags == SYN && s.sport == first.sport)
        .map(|(t, s, r)| {
            assert_eq!(s.seq, first.seq, "a retransmission keeps the ISN");
            assert_eq!(r.cause, "poll");
            *t
        })
        .collect();
    assert!(retx.len() >= 4, "SYNs to the VIP: {}", retx.len());
    let gaps: Vec<i64> = retx.windows(2).map(|w| (w[1] - w[0]) / 1000).collect();
    for (g, want) in gaps.iter().zip([1000i64, 2000, 4000]) {
        assert!((g - want).abs() <= 50, "gaps {gaps:?} (ms)");
    }
    // The firewall logged the sessionless SYN-ACKs (the psad view).
    let log = on(&frames, "fwlog");
    assert!(log.iter().any(|r| {
        r.seg()
            .is_some_and(|s| backends.contains(&s.src) && s.sport == 80 && s.flags == SYN | ACK)
    }));
    // Health checks run, half-open, labelled as the balancer's.
    assert!(
        frames
            .iter()
            .all(|r| r.cause != "health-check" || r.actor == "lb")
    );
}

#[test]
fn misconfigured_balancer_burst_many_ports_within_milliseconds() {
    let frames = run("misconfigured-balancer-burst");
    all_labelled(&frames);
    let nat = addr("203.0.113.1");
    let out: Vec<(i64, Seg)> = on(&frames, "outside")
        .iter()
        .filter_map(|r| r.seg().map(|s| (r.at_us, s)))
        .filter(|(_, s)| s.dst == nat && s.sport == 80 && s.flags == SYN | ACK)
        .collect();
    // The first round: 12 parallel connections -> 12 distinct NAT ports within 5 ms.
    let t0 = out.first().unwrap().0;
    let mut ports: Vec<u16> = out
        .iter()
        .filter(|(t, _)| *t - t0 <= 5_000)
        .map(|(_, s)| s.dport)
        .collect();
    ports.sort();
    ports.dedup();
    assert!(ports.len() >= 10, "distinct ports in 5 ms: {ports:?}");
    // None of them is translated back: the NAT drops and logs every one.
    let log = on(&frames, "natlog");
    assert!(log.len() >= out.len());
    assert!(log.iter().all(|r| r.cause == "balancer-misconfig"));
}

#[test]
fn dropped_state_one_late_packets_only_in_the_drop_log() {
    let frames = run("dropped-state-one");
    all_labelled(&frames);
    let log: Vec<(i64, Seg)> = on(&frames, "fwlog")
        .iter()
        .filter_map(|r| {
            assert_eq!(r.cause, "state-loss", "{r:?}");
            r.seg().map(|s| (r.at_us, s))
        })
        .collect();
    assert!(!log.is_empty());
    // The first logged packet is the server's push after the idle gap (>= 15 min).
    let (t_first, first) = log[0];
    assert!(t_first >= 15 * 60 * 1_000_000);
    assert_eq!((first.src, first.sport), (addr("198.51.100.25"), 993));
    assert!(first.flags & ACK != 0 && first.len > 0, "a data segment");
    // It is retransmitted with backoff, and each copy is dropped: none of the
    // packets of that connection after the fault appear inside the firewall.
    let copies: Vec<i64> = log
        .iter()
        .filter(|(_, s)| *s == first)
        .map(|(t, _)| *t)
        .collect();
    assert!(copies.len() >= 4, "retransmissions: {}", copies.len());
    let g: Vec<i64> = copies.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(g.windows(2).all(|w| w[1] >= w[0]), "backoff grows: {g:?}");
    // The firewall's two links: the outside tap sees it arrive; nothing of the
    // connection after the fault is ever delivered (the client does not ACK it).
    let outside: Vec<Seg> = on(&frames, "outside")
        .iter()
        .filter_map(|r| r.seg())
        .collect();
    assert!(outside.contains(&first));
    let acked = outside.iter().any(|s| {
        s.src == first.dst
            && s.sport == first.dport
            && s.ack == first.seq.wrapping_add(first.len as u32)
    });
    assert!(!acked, "the client never saw the push");
    // The sessionless server RST after the give-up is logged too.
    assert!(
        log.iter()
            .any(|(_, s)| s.sport == 993 && s.flags & RST != 0)
    );
}

#[test]
fn dropped_state_many_burst_after_failover() {
    let frames = run("dropped-state-many");
    all_labelled(&frames);
    let log: Vec<(i64, Seg)> = on(&frames, "fwlog")
        .iter()
        .filter_map(|r| r.seg().map(|s| (r.at_us, s)))
        .collect();
    let fault = 600 * 1_000_000i64;
    assert!(
        log.iter().all(|(t, _)| *t >= fault),
        "nothing lost before the failover"
    );
    let t0 = log[0].0;
    let mut ports: Vec<u16> = log
        .iter()
        .filter(|(t, s)| *t - t0 <= 5_000 && s.sport == 443)
        .map(|(_, s)| s.dport)
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 20, "20 connections hit within 5 ms");
    assert!(on(&frames, "fwlog").iter().all(|r| r.cause == "state-loss"));
}

/// (probes by port, replies by port) on the target tap of a SYN-scan scenario.
fn scan_check(name: &str, min_gap_ms: i64) {
    let frames = run(name);
    all_labelled(&frames);
    let scanner = addr("203.0.113.66");
    let segs: Vec<(i64, Seg)> = on(&frames, "target")
        .iter()
        .filter_map(|r| {
            assert_eq!((r.class.as_str(), r.cause.as_str()), ("malicious", "scan"));
            r.seg().map(|s| (r.at_us, s))
        })
        .collect();
    let probes: Vec<(i64, Seg)> = segs
        .iter()
        .filter(|(_, s)| s.src == scanner && s.flags == SYN)
        .copied()
        .collect();
    let reply_to = |p: &Seg| {
        segs.iter()
            .find(|(_, s)| s.src == p.dst && s.sport == p.dport && s.ack == p.seq.wrapping_add(1))
            .map(|(_, s)| *s)
    };
    let mut seen = std::collections::BTreeMap::<u16, u32>::new();
    for (_, p) in &probes {
        *seen.entry(p.dport).or_default() += 1;
        match p.dport {
            80 | 443 => {
                let r = reply_to(p).expect("open port answers");
                assert_eq!(r.flags, SYN | ACK);
                // The scanner tears the half-open connection down.
                assert!(segs.iter().any(|(_, s)| s.src == scanner
                    && s.dport == p.dport
                    && s.flags == RST
                    && s.seq == r.ack));
            }
            135 | 139 | 445 => assert!(reply_to(p).is_none(), "filtered port answered"),
            _ => assert_eq!(reply_to(p).expect("closed port answers").flags, RST | ACK),
        }
    }
    for port in [135u16, 139, 445] {
        assert_eq!(
            seen.get(&port),
            Some(&2),
            "filtered port {port} probed and retried once"
        );
    }
    assert_eq!(seen.get(&80), Some(&1));
    if min_gap_ms > 0 {
        let gaps: Vec<i64> = probes.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let min = gaps.iter().min().copied().unwrap_or(0);
        assert!(
            min >= min_gap_ms * 1000,
            "{name}: min inter-probe gap {min} us"
        );
    }
}

#[test]
fn syn_scan_t0_serial_300s() {
    scan_check("syn-scan-t0", 300_000);
}

#[test]
fn syn_scan_t1_serial_15s() {
    scan_check("syn-scan-t1", 15_000);
}

#[test]
fn syn_scan_t2_serial_400ms() {
    scan_check("syn-scan-t2", 400);
}

#[test]
fn syn_scan_t3_t4_t5_parallel() {
    for n in ["syn-scan-t3", "syn-scan-t4", "syn-scan-t5"] {
        scan_check(n, 0);
    }
}

#[test]
fn sweep_probes_every_address_once_and_retries_the_silent() {
    let frames = run("sweep");
    all_labelled(&frames);
    let up = on(&frames, "uplink");
    let probes: Vec<Seg> = up
        .iter()
        .filter_map(|r| r.seg())
        .filter(|s| s.flags == SYN && s.dport == 80)
        .collect();
    let mut dsts: Vec<Ipv4Addr> = probes.iter().map(|s| s.dst).collect();
    dsts.sort();
    dsts.dedup();
    assert_eq!(dsts.len(), 254);
    let answered: Vec<Seg> = up
        .iter()
        .filter_map(|r| r.seg())
        .filter(|s| s.sport == 80)
        .collect();
    let live: Vec<(Ipv4Addr, u8)> = answered.iter().map(|s| (s.src, s.flags)).collect();
    assert!(live.contains(&(addr("198.51.100.10"), SYN | ACK)));
    assert!(live.contains(&(addr("198.51.100.20"), SYN | ACK)));
    assert!(live.contains(&(addr("198.51.100.30"), RST | ACK)));
    // 251 silent addresses, each probed twice; 3 live ones once.
    assert_eq!(probes.len(), 251 * 2 + 3);
}

#[test]
fn webmail_poller_each_poll_a_new_nat_port_nothing_dropped() {
    let frames = run("webmail-poller");
    all_labelled(&frames);
    assert!(on(&frames, "gwlog").is_empty());
    let syns: Vec<Seg> = on(&frames, "perimeter")
        .iter()
        .filter_map(|r| r.seg())
        .filter(|s| s.flags == SYN)
        .collect();
    assert!(syns.len() > 96 + 36, "polls: {}", syns.len());
    assert!(syns.iter().all(|s| s.src == addr("203.0.113.1")));
    let mut ports: Vec<u16> = syns.iter().map(|s| s.sport).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), syns.len(), "every poll on a new NAT port");
    // Each poll completes: one FIN from the server per poll.
    let fins = on(&frames, "perimeter")
        .iter()
        .filter_map(|r| r.seg())
        .filter(|s| s.sport == 80 && s.flags & FIN != 0)
        .count();
    assert!(fins >= syns.len());
}

#[test]
fn netscreen_webmail_sessionless_burst_from_port_80() {
    let frames = run("netscreen-webmail");
    all_labelled(&frames);
    let server = addr("198.51.100.80");
    let log: Vec<(i64, Seg)> = on(&frames, "gwlog")
        .iter()
        .filter_map(|r| {
            assert_eq!(r.cause, "state-loss");
            r.seg().map(|s| (r.at_us, s))
        })
        .collect();
    let t0 = log[0].0;
    assert!(t0 >= 31 * 60 * 1_000_000);
    let mut ports: Vec<u16> = log
        .iter()
        .filter(|(t, s)| *t - t0 <= 5_000 && s.src == server && s.sport == 80)
        .map(|(_, s)| s.dport)
        .collect();
    ports.sort();
    ports.dedup();
    assert!(
        ports.len() >= 10,
        "distinct NAT ports within 5 ms: {ports:?}"
    );
    // None of them carries SYN: a SYN-counting screen stays quiet.
    assert!(log.iter().all(|(_, s)| s.flags & SYN == 0));
}

#[test]
fn mixed_office_scan_is_the_only_malicious_traffic() {
    let frames = run("mixed-office");
    all_labelled(&frames);
    let causes: std::collections::BTreeSet<&str> =
        frames.iter().map(|r| r.cause.as_str()).collect();
    // (Health checks run beyond the perimeter, between the balancer and its pool.)
    for c in [
        "poll",
        "scan",
        "balancer-misconfig",
        "state-loss",
        "session",
    ] {
        assert!(causes.contains(c), "cause {c} missing: {causes:?}");
    }
    for r in &frames {
        assert_eq!(r.class == "malicious", r.cause == "scan", "{r:?}");
    }
    // The firewall denies and logs the probes to closed DMZ ports.
    let log = on(&frames, "gwlog");
    assert!(log.iter().any(|r| {
        r.cause == "scan"
            && r.seg()
                .is_some_and(|s| s.dst == addr("198.51.100.10") && s.dport == 22)
    }));
}

#[test]
fn connect_scan_full_handshake_on_open_ports() {
    let frames = run("connect-scan");
    all_labelled(&frames);
    let segs: Vec<Seg> = on(&frames, "target")
        .iter()
        .filter_map(|r| r.seg())
        .collect();
    let scanner = addr("203.0.113.66");
    // An open port: SYN, SYN-ACK, ACK from the scanner's stack, then its RST.
    let acks = segs
        .iter()
        .filter(|s| s.src == scanner && s.dport == 80 && s.flags == ACK)
        .count();
    assert!(acks >= 1);
    assert!(
        segs.iter()
            .any(|s| s.src == scanner && s.dport == 80 && s.flags & RST != 0)
    );
}
