//! The outside node: packets injected from outside reach simulated stacks,
//! their answers come back out, routing prefers simulated addresses, and the
//! labels follow the flows (what `scanbench live` relies on, checked here in
//! virtual time without a TUN device).

use std::net::Ipv4Addr;

use scanbench_sim::app::App;
use scanbench_sim::app::syn_scan::{ScanSpec, SynScan, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::rng::stream;
use scanbench_sim::{Class, Frame, HostSpec, Instant, Label, LinkSpec, Network, NodeId, TapPoint};
use scanbench_testkit::TcpSeg;
use scanbench_testkit::checksum::refill;
use smoltcp::wire::Ipv4Cidr;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);
/// A real client beyond the simulation.
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn label(actor: &str, class: Class, cause: &str) -> Label {
    Label::new(actor, class, cause)
}

/// A TCP segment from [`CLIENT`] to `dst`.
fn from_client(dst: Ipv4Addr, dst_port: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let mut seg = TcpSeg::new(CLIENT, 40000, dst, dst_port, flags);
    seg.seq = seq;
    seg.ack = ack;
    seg.bytes()
}

struct World {
    net: Network,
    edge: NodeId,
    outside: NodeId,
}

/// An edge router with the outside (standing for `prefix`) hanging off it,
/// a tap on the outside link.
fn bare(seed: u64, prefix: Ipv4Cidr) -> World {
    let mut net = Network::new(seed);
    let edge = net.add_router("edge", vec![]).unwrap();
    let outside = net
        .add_external(
            "outside",
            vec![prefix],
            label("external", Class::Benign, "external"),
        )
        .unwrap();
    let l = net.add_link(outside, edge, LinkSpec::default()).unwrap();
    net.add_tap("outside", TapPoint::Link(l)).unwrap();
    World { net, edge, outside }
}

/// Host `name` at `addr`, linked to the edge, running `app` labelled `l`.
fn add_host(w: &mut World, name: &str, addr: Ipv4Addr, app: Box<dyn App>, l: Label) {
    let h = w
        .net
        .add_host(HostSpec::new(name, addr), l.clone())
        .unwrap();
    w.net.add_link(w.edge, h, LinkSpec::default()).unwrap();
    w.net.add_app(h, app, l).unwrap();
}

/// A web server (port 80) behind the edge, the outside 198.18.0.0/15.
fn world() -> World {
    let mut w = bare(7, Ipv4Cidr::new(Ipv4Addr::new(198, 18, 0, 0), 15));
    let web = Box::new(WebServer::new(WebServerSpec::default()));
    add_host(
        &mut w,
        "server",
        SERVER,
        web,
        label("server", Class::Benign, "serve"),
    );
    w
}

type Seen = Vec<(Vec<u8>, String, String)>;

fn recorder(seen: &mut Seen) -> impl FnMut(&Frame<'_>) + '_ {
    |f: &Frame<'_>| {
        seen.push((
            f.bytes.to_vec(),
            f.label.actor.clone(),
            f.label.cause.clone(),
        ))
    }
}

fn flags(pkt: &[u8]) -> u8 {
    pkt[33]
}

fn seq_ack(pkt: &[u8]) -> (u32, u32) {
    let w = |i: usize| u32::from_be_bytes(pkt[i..i + 4].try_into().unwrap());
    (w(24), w(28))
}

#[test]
fn a_syn_from_outside_is_answered_and_comes_back_out() {
    let World {
        mut net, outside, ..
    } = world();
    net.attach_outside(outside);
    let mut seen = Seen::new();
    net.run_until(Instant::from_millis(10), &mut recorder(&mut seen))
        .unwrap();
    net.inject(
        outside,
        from_client(SERVER, 80, 0x02, 1000, 0),
        &mut recorder(&mut seen),
    );
    net.inject(
        outside,
        from_client(SERVER, 81, 0x02, 5000, 0),
        &mut recorder(&mut seen),
    );
    assert!(net.next_event().is_some(), "the SYNs are in flight");
    net.run_until(Instant::from_millis(20), &mut recorder(&mut seen))
        .unwrap();
    let out = net.take_outgoing(outside);
    assert_eq!(out.len(), 2, "a SYN-ACK and a RST-ACK leave: {out:?}");
    let syn_ack = out.iter().find(|p| flags(p) == 0x12).expect("SYN-ACK");
    assert_eq!(seq_ack(syn_ack).1, 1001, "acks the SYN");
    assert_eq!(&syn_ack[16..20], &CLIENT.octets(), "to the client");
    let rst = out.iter().find(|p| flags(p) == 0x14).expect("RST-ACK");
    assert_eq!(seq_ack(rst).1, 5001);
    assert!(net.take_outgoing(outside).is_empty(), "taken once");
    // The tap on the outside link saw both SYNs and both answers, every one
    // labelled as the outside's doing.
    assert_eq!(seen.len(), 4);
    for (bytes, actor, cause) in &seen {
        assert_eq!(
            (actor.as_str(), cause.as_str()),
            ("external", "external"),
            "{bytes:?}"
        );
    }
    let stats = net.app_stats();
    let counters = stats
        .iter()
        .find(|(n, k, _)| n == "outside" && k == "outside")
        .map(|(_, _, c)| c.clone())
        .unwrap();
    assert_eq!(counters, vec![("from_outside", 2), ("to_outside", 2)]);
}

#[test]
fn an_unattached_outside_counts_and_discards() {
    let World {
        mut net, outside, ..
    } = world();
    net.inject(
        outside,
        from_client(SERVER, 80, 0x02, 1, 0),
        &mut |_: &Frame<'_>| {},
    );
    net.run_until(Instant::from_millis(20), &mut |_: &Frame<'_>| {})
        .unwrap();
    assert!(net.take_outgoing(outside).is_empty());
    assert_eq!(net.stats().no_route, 0, "the SYN-ACK was routed outside");
}

#[test]
fn addresses_beyond_every_prefix_are_not_routed_outside() {
    let World {
        mut net, outside, ..
    } = world();
    net.attach_outside(outside);
    // From a (claimed) outside address the prefixes do not cover: the
    // server answers, the edge has no route for the answer.
    let mut pkt = from_client(SERVER, 80, 0x02, 1, 0);
    pkt[12..16].copy_from_slice(&[203, 0, 113, 9]);
    refill(&mut pkt);
    net.inject(outside, pkt, &mut |_: &Frame<'_>| {});
    net.run_until(Instant::from_millis(20), &mut |_: &Frame<'_>| {})
        .unwrap();
    assert!(net.take_outgoing(outside).is_empty());
    assert_eq!(net.stats().no_route, 1);
}

#[test]
fn a_reply_from_outside_inherits_the_simulated_scanners_label() {
    let mut w = bare(3, Ipv4Cidr::new(CLIENT, 32));
    let scan = Box::new(SynScan::new(
        ScanSpec {
            targets: vec![CLIENT],
            ports: parse_ports("22").unwrap(),
            timing: Timing::parse("T4").unwrap(),
            start: Instant::from_millis(1),
            randomize: false,
            repeat: 1,
        },
        stream(3, "app:scanner"),
    ));
    add_host(
        &mut w,
        "scanner",
        SCANNER,
        scan,
        label("scanner", Class::Malicious, "scan"),
    );
    let World {
        mut net, outside, ..
    } = w;
    net.attach_outside(outside);
    let mut seen = Seen::new();
    net.run_until(Instant::from_millis(50), &mut recorder(&mut seen))
        .unwrap();
    let out = net.take_outgoing(outside);
    let probe = out
        .iter()
        .find(|p| flags(p) == 0x02)
        .expect("the probe left");
    // The real kernel answers the probe to its closed port 22 with RST-ACK.
    let (seq, _) = seq_ack(probe);
    let sport = u16::from_be_bytes([probe[20], probe[21]]);
    let mut rst = TcpSeg::new(CLIENT, 22, SCANNER, sport, 0x14);
    rst.seq = 0;
    rst.ack = seq.wrapping_add(1);
    let rst = rst.bytes();
    net.inject(outside, rst.clone(), &mut recorder(&mut seen));
    let (_, actor, cause) = seen.iter().find(|(b, _, _)| *b == rst).unwrap();
    assert_eq!((actor.as_str(), cause.as_str()), ("scanner", "scan"));
}

#[test]
fn the_outside_runs_no_apps_and_keeps_no_drop_log() {
    let World {
        mut net, outside, ..
    } = world();
    let web = Box::new(WebServer::new(WebServerSpec::default()));
    assert!(
        net.add_app(outside, web, label("x", Class::Benign, "x"))
            .is_err()
    );
    assert!(net.add_tap("log", TapPoint::DropLog(outside)).is_err());
    assert!(
        net.add_external("bad", vec![], label("x", Class::Benign, "x"))
            .is_err()
    );
}

#[test]
fn simulated_prefixes_are_host_subnets_and_lone_owned_addresses() {
    use scanbench_sim::middlebox::BalancerSpec;
    let mut net = Network::new(1);
    for (name, addr, prefix) in [
        ("a", Ipv4Addr::new(198, 51, 100, 10), 24),
        ("b", Ipv4Addr::new(198, 51, 100, 11), 25),
        ("c", Ipv4Addr::new(192, 0, 2, 7), 24),
    ] {
        let mut h = HostSpec::new(name, addr);
        h.prefix = prefix;
        net.add_host(h, label(name, Class::Benign, "host")).unwrap();
    }
    let lb = BalancerSpec {
        vip: "203.0.113.80".into(),
        address: Some("198.51.100.2".into()),
        backends: vec!["198.51.100.10".into()],
        ..BalancerSpec::default()
    }
    .build("lb", stream(1, "balancer:lb"))
    .unwrap();
    net.add_router("lb", vec![lb]).unwrap();
    let got: Vec<String> = net
        .simulated_prefixes()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(got, ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.80/32"]);
}
