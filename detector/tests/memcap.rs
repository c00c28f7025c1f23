//! Every registered detector's state stays under its memcap under a flood,
//! with what it dropped counted, and its eviction is cheap enough that a
//! flood past the cap finishes.
//!
//! The flood: SYNs from uniformly random sources to random ports of a /24,
//! each answered by a RST-ACK (so connection trackers see rejected
//! connections and scan tables fill), with ICMP echoes mixed in for the
//! sweep screens, timestamps advancing 10 µs a packet.
//!
//! See: issue 16 (robustness), issue 17 (memory bounds under floods).

use std::net::Ipv4Addr;

use scanbench_detector::{Instant, PacketView, registry};
use scanbench_testkit::shorthand::{icmp_echo, tcp};

/// Each detector with a small bound, so the flood goes past it.
/// To add a detector: a row with its spec and a small memcap.
const SMALL: &[&str] = &[
    "screenos:memcap=65536",
    "screenos:memcap=65536,count_mode=no-session-any",
    "scanlogd",
    "trw:memcap=262144,home_net=10.9.0.0/16",
    "trw-packet:memcap=262144",
    "zeek-scan:memcap=262144",
    "bro1-scan:memcap=262144",
    "sfportscan:memcap=65536",
    "psad:max_scan_ip_pairs=100,ignore_conntrack_bug_pkts=n",
    "portsentry:max_state=50,tcp_ports=1-65535",
    "suricata-et:host_memcap=65536,rule=any;S/12;both;by_src;1000;3600",
];

/// A xorshift stream: the flood is the same on every run.
struct Xs(u64);

impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_detector_stays_under_its_memcap_and_counts_evictions() {
    let covered: Vec<&str> = SMALL
        .iter()
        .map(|s| s.split(':').next().unwrap_or(s))
        .collect();
    for d in registry::DETECTORS {
        assert!(covered.contains(&d.name), "{} has no row in SMALL", d.name);
    }
    for spec in SMALL {
        let mut d = registry::build(spec).expect("spec").detector;
        let mut out = Vec::new();
        let mut rng = Xs(0x9e37_79b9_7f4a_7c15);
        let victim_net = u32::from(Ipv4Addr::new(10, 9, 1, 0));
        let mut frame = 0u64;
        for i in 0..20_000u64 {
            let r = rng.next();
            let src = Ipv4Addr::from((r >> 32) as u32 | 0x0100_0000);
            let dst = Ipv4Addr::from(victim_net | (r as u32 & 0xff));
            let port = (r >> 8) as u16 | 1;
            let t = Instant::from_micros(i as i64 * 10);
            let probe = if i % 16 == 0 {
                icmp_echo(src, dst)
            } else {
                tcp(src, 40000, dst, port, 0x02)
            };
            let reply = tcp(dst, port, src, 40000, 0x14);
            for bytes in [probe, reply] {
                let v = PacketView::parse(frame, &bytes).expect("valid packet");
                d.observe(t, &v, &mut out);
                frame += 1;
            }
        }
        d.flush(Instant::from_micros(1_i64 << 40), &mut out);
        let m = d.memory();
        assert!(m.memcap > 0, "{spec}: no memcap");
        assert!(
            m.peak <= m.memcap,
            "{spec}: peak {} over memcap {}",
            m.peak,
            m.memcap
        );
        assert!(
            m.evictions > 0,
            "{spec}: the flood should have hit the cap ({m:?})"
        );
    }
}
