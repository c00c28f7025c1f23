//! Property tests over every registered detector (`registry::DETECTORS`), so a
//! detector is covered as soon as it is registered.
//!
//! - (a) no detector panics on arbitrary bytes or on arbitrary, structurally
//!   valid IPv4 TCP/UDP/ICMP packets (any flag byte, any ports including 0,
//!   any timestamps, including repeated ones);
//! - (b) replaying the same packets into two fresh instances gives identical alerts;
//! - (c) raising a threshold never adds alerts: see [`MONOTONE`].

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use proptest::prelude::*;
use scanbench_detector::{Alert, Instant, PacketView, registry};
use scanbench_testkit::{Icmp, Ipv4, Tcp, Udp};

/// (c) Pairs `(low, high)` of specs differing only in a threshold, with
/// `high` the stricter one. Property: every scanner `high` alerts on, `low`
/// alerts on too (the set of flagged scanners can only shrink as the threshold
/// rises). Rows must neutralise global side effects that break monotonicity by
/// design (scanlogd's global log-flood limit), and say so.
///
/// To add a detector: append a row `("name:threshold=LOW", "name:threshold=HIGH")`.
const MONOTONE: &[(&str, &str)] = &[
    // Weight threshold; log-flood limit lifted (it is global across sources).
    (
        "scanlogd:scan_weight_threshold=4,log_count_threshold=1000000",
        "scanlogd:scan_weight_threshold=8,log_count_threshold=1000000",
    ),
    (
        "screenos:ports_needed=3,ip_sweep_needed=3",
        "screenos:ports_needed=6,ip_sweep_needed=6",
    ),
    ("screenos:threshold=5000", "screenos:threshold=1000"),
    (
        "screenos:ports_needed=3,count_mode=no-session-any",
        "screenos:ports_needed=5,count_mode=no-session-any",
    ),
    (
        "zeek-scan:port_scan_threshold=2,addr_scan_threshold=2",
        "zeek-scan:port_scan_threshold=4,addr_scan_threshold=4",
    ),
    // Every report vector and trigger raised together; shut_down_thresh and
    // the summary triggers stay equal (they do not depend on the others).
    (
        "bro1-scan:report_peer_scan=2,report_backscatter=2,report_port_scan=2,possible_port_scan_thresh=2,priv_scan_trigger=2",
        "bro1-scan:report_peer_scan=4,report_backscatter=4,report_port_scan=3,possible_port_scan_thresh=3,priv_scan_trigger=4",
    ),
];

const POOL: [Ipv4Addr; 5] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(192, 0, 2, 9),
    Ipv4Addr::new(198, 51, 100, 7),
    Ipv4Addr::new(0, 0, 0, 0),
];

#[derive(Clone, Debug)]
enum Pkt {
    Tcp {
        s: usize,
        d: usize,
        sp: u16,
        dp: u16,
        flags: u8,
        len: u8,
    },
    Udp {
        s: usize,
        d: usize,
        sp: u16,
        dp: u16,
    },
    Icmp {
        s: usize,
        d: usize,
        ty: u8,
        code: u8,
    },
    Frag {
        s: usize,
        d: usize,
    },
    Raw(Vec<u8>),
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        1u16..30,
        Just(80),
        Just(443),
        1000u16..1030,
        any::<u16>()
    ]
}

fn pkt() -> impl Strategy<Value = Pkt> {
    let host = 0usize..POOL.len();
    prop_oneof![
        6 => (host.clone(), host.clone(), port(), port(), any::<u8>(), 0u8..3)
            .prop_map(|(s, d, sp, dp, flags, len)| Pkt::Tcp { s, d, sp, dp, flags, len }),
        4 => (host.clone(), host.clone(), port(), port(), prop_oneof![Just(0x02u8), Just(0x12), Just(0x14), Just(0x04), Just(0x10)])
            .prop_map(|(s, d, sp, dp, flags)| Pkt::Tcp { s, d, sp, dp, flags, len: 0 }),
        1 => (host.clone(), host.clone(), port(), port()).prop_map(|(s, d, sp, dp)| Pkt::Udp { s, d, sp, dp }),
        1 => (host.clone(), host.clone(), prop_oneof![Just(8u8), Just(3), any::<u8>()], any::<u8>())
            .prop_map(|(s, d, ty, code)| Pkt::Icmp { s, d, ty, code }),
        1 => (host.clone(), host).prop_map(|(s, d)| Pkt::Frag { s, d }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Pkt::Raw),
    ]
}

fn bytes(p: &Pkt) -> Vec<u8> {
    match p {
        Pkt::Tcp {
            s,
            d,
            sp,
            dp,
            flags,
            len,
        } => Tcp {
            src_port: *sp,
            dst_port: *dp,
            flags: *flags,
            window: 0xff00,
            payload: &vec![0; usize::from(*len)],
            ..Tcp::default()
        }
        .packet(&Ipv4::new(POOL[*s], POOL[*d])),
        Pkt::Udp { s, d, sp, dp } => Udp {
            src_port: *sp,
            dst_port: *dp,
            payload: &[],
        }
        .packet(&Ipv4::new(POOL[*s], POOL[*d])),
        Pkt::Icmp { s, d, ty, code } => {
            let quoted = if *ty == 3 {
                Ipv4::new(POOL[*d], POOL[*s]).packet(6, &[0, 80, 0, 22])
            } else {
                Vec::new()
            };
            Icmp {
                icmp_type: *ty,
                code: *code,
                rest: [0; 4],
                body: &quoted,
            }
            .packet(&Ipv4::new(POOL[*s], POOL[*d]))
        }
        // Fragment offset 128 bytes: no transport header in this packet.
        Pkt::Frag { s, d } => Ipv4 {
            frag_offset: 128,
            ..Ipv4::new(POOL[*s], POOL[*d])
        }
        .packet(6, &[0u8; 8]),
        Pkt::Raw(b) => b.clone(),
    }
}

/// Time steps: mostly tiny (bursts), sometimes seconds or minutes, sometimes zero.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..2_000,
        2 => 0i64..4_000_000,
        1 => 0i64..900_000_000,
        1 => Just(0i64),
    ]
}

fn trace() -> impl Strategy<Value = Vec<(i64, Pkt)>> {
    proptest::collection::vec((step(), pkt()), 0..250)
}

fn replay(spec: &str, trace: &[(i64, Pkt)]) -> Vec<Alert> {
    let mut det = registry::build(spec).expect("spec builds").detector;
    let mut out = Vec::new();
    let mut now = 0i64;
    for (i, (dt, p)) in trace.iter().enumerate() {
        now += dt;
        let b = bytes(p);
        if let Ok(v) = PacketView::parse(i as u64, &b) {
            det.observe(Instant::from_micros(now), &v, &mut out);
        }
    }
    det.flush(Instant::from_micros(now + 3_600_000_000), &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_detector_panics_and_replay_is_deterministic(t in trace()) {
        for info in registry::DETECTORS {
            let a = replay(info.name, &t);
            let b = replay(info.name, &t);
            prop_assert_eq!(&a, &b, "{} is not deterministic", info.name);
            for al in &a {
                prop_assert_eq!(al.detector, info.name);
                prop_assert!(al.first_seen <= al.time, "{}: first_seen after time", info.name);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..60)) {
        for info in registry::DETECTORS {
            let mut det = registry::build(info.name).unwrap().detector;
            let mut out = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let mut f = f.clone();
                // Make a good share of them look like IPv4 so parsing goes deeper.
                if i % 2 == 0 && !f.is_empty() {
                    f[0] = 0x45;
                }
                if let Ok(v) = PacketView::parse(i as u64, &f) {
                    det.observe(Instant::from_micros(i as i64), &v, &mut out);
                }
            }
            det.flush(Instant::from_micros(i64::MAX / 4), &mut out);
        }
    }

    #[test]
    fn raising_a_threshold_never_adds_scanners(t in trace()) {
        for (low, high) in MONOTONE {
            let lo: BTreeSet<Ipv4Addr> = replay(low, &t).iter().map(|a| a.scanner).collect();
            let hi: BTreeSet<Ipv4Addr> = replay(high, &t).iter().map(|a| a.scanner).collect();
            prop_assert!(hi.is_subset(&lo), "{high} flagged {:?} but {low} only {:?}", hi, lo);
        }
    }
}

#[test]
fn every_detector_builds_with_defaults() {
    for info in registry::DETECTORS {
        let inst = registry::build(info.name).unwrap();
        assert!(inst.config.starts_with(info.name));
    }
}
