//! Middleboxes with real smoltcp hosts on both sides: a page fetch through a
//! NAT, a firewall and a correct balancer completes; the same fetch through a
//! balancer without SNAT fails the way the field reports describe.

use std::net::Ipv4Addr;

use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec};
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::middlebox::firewall::RuleSpec;
use scanbench_sim::middlebox::{BalancerSpec, FirewallSpec, Middlebox, NatSpec, Perimeter};
use scanbench_sim::rng::stream;
use scanbench_sim::{Class, Frame, HostSpec, Instant, Label, LinkSpec, Network, TapPoint};

fn label(actor: &str, cause: &str) -> Label {
    Label {
        actor: actor.into(),
        class: Class::Benign,
        cause: cause.into(),
    }
}

fn host(name: &str, addr: [u8; 4]) -> HostSpec {
    HostSpec {
        name: name.into(),
        addr: Ipv4Addr::from(addr),
        prefix: 24,
        ephemeral: (32768, 60999),
        drop_ports: vec![],
    }
}

/// Per-node counters: (node, kind, counters).
type Stats = Vec<(String, String, Vec<(&'static str, u64)>)>;

/// (time us, bytes, tap, cause) of every frame, and the app counters.
type Run = (Vec<(i64, Vec<u8>, u32, String)>, Stats);

/// client -- gw (NAT + firewall) -- lb (balancer) -- web1 / web2.
fn world(mode: &str) -> Run {
    let seed = 7;
    let mut net = Network::new(seed);
    let c = net
        .add_host(host("client", [192, 0, 2, 10]), label("client", "host"))
        .unwrap();
    let w1 = net
        .add_host(host("web1", [198, 51, 100, 11]), label("web1", "host"))
        .unwrap();
    let w2 = net
        .add_host(host("web2", [198, 51, 100, 12]), label("web2", "host"))
        .unwrap();
    let nat = NatSpec {
        public: "203.0.113.1".into(),
        inside: vec!["client".into()],
        ..NatSpec::default()
    };
    let fw = FirewallSpec {
        zones: [("trust".to_string(), vec!["client".to_string()])]
            .into_iter()
            .collect(),
        rules: vec![RuleSpec {
            action: "allow".into(),
            from_zone: Some("trust".into()),
            ..RuleSpec::default()
        }],
        ..FirewallSpec::default()
    };
    let perimeter: Box<dyn Middlebox> = Box::new(Perimeter::new(
        nat.build(stream(seed, "nat:gw")).unwrap(),
        fw.build().unwrap(),
        nat.inside.clone(),
    ));
    let gw = net.add_router("gw", vec![perimeter]).unwrap();
    let lb_spec = BalancerSpec {
        vip: "198.51.100.80".into(),
        backends: vec!["198.51.100.11".into(), "198.51.100.12".into()],
        mode: Some(mode.into()),
        address: Some("198.51.100.2".into()),
        ..BalancerSpec::default()
    };
    let lb = net
        .add_router(
            "lb",
            vec![lb_spec.build("lb", stream(seed, "balancer:lb")).unwrap()],
        )
        .unwrap();
    let cl = net.add_link(c, gw, LinkSpec::default()).unwrap();
    let out = net.add_link(gw, lb, LinkSpec::default()).unwrap();
    net.add_link(lb, w1, LinkSpec::default()).unwrap();
    net.add_link(lb, w2, LinkSpec::default()).unwrap();
    net.add_tap("client", TapPoint::Link(cl)).unwrap();
    net.add_tap("outside", TapPoint::Link(out)).unwrap();
    net.add_tap("gwlog", TapPoint::DropLog(gw)).unwrap();
    for (h, n) in [(w1, "web1"), (w2, "web2")] {
        net.add_app(
            h,
            Box::new(WebServer::new(WebServerSpec::default())),
            label(n, "serve"),
        )
        .unwrap();
    }
    net.add_app(
        c,
        Box::new(HttpClient::new(
            HttpClientSpec::once(Ipv4Addr::new(198, 51, 100, 80), 80, Instant::from_secs(1)),
            stream(seed, "app:client"),
        )),
        label("client", "browse"),
    )
    .unwrap();
    let mut frames = Vec::new();
    let mut sink = |f: &Frame<'_>| {
        frames.push((
            f.at.total_micros(),
            f.bytes.to_vec(),
            f.tap.0,
            f.label.cause.clone(),
        ))
    };
    net.run_until(Instant::from_secs(200), &mut sink).unwrap();
    let stats = net.app_stats();
    (frames, stats)
}

fn counter(stats: &Stats, kind: &str, name: &str) -> u64 {
    stats
        .iter()
        .filter(|(_, k, _)| k == kind)
        .flat_map(|(_, _, v)| v.iter())
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .sum()
}

fn src(bytes: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15])
}

#[test]
fn correct_balancer_through_nat_and_firewall_completes() {
    let (frames, stats) = world("correct");
    assert_eq!(counter(&stats, "http-client", "completed"), 1);
    assert_eq!(counter(&stats, "http-client", "failed"), 0);
    // Outside the perimeter the client is the NAT address; the client sees only the VIP.
    assert!(
        frames
            .iter()
            .filter(|f| f.2 == 1 && f.3 == "browse")
            .all(|f| src(&f.1) == Ipv4Addr::new(203, 0, 113, 1)
                || src(&f.1) == Ipv4Addr::new(198, 51, 100, 80))
    );
    assert!(
        frames
            .iter()
            .filter(|f| f.2 == 0 && f.3 == "browse")
            .all(|f| src(&f.1) == Ipv4Addr::new(192, 0, 2, 10)
                || src(&f.1) == Ipv4Addr::new(198, 51, 100, 80))
    );
    // Nothing is dropped; health checks never cross the perimeter.
    assert!(frames.iter().all(|f| f.2 != 2));
    assert!(frames.iter().all(|f| f.3 != "health-check"));
    assert!(counter(&stats, "balancer", "health_checks") >= 2 * 39);
}

#[test]
fn missing_snat_fails_with_logged_syn_acks_from_the_backend() {
    let (frames, stats) = world("missing-snat-asymmetric");
    assert_eq!(counter(&stats, "http-client", "completed"), 0);
    assert_eq!(counter(&stats, "http-client", "failed"), 1);
    // Every SYN retransmission draws a SYN-ACK from the backend's own address,
    // which the NAT cannot match: dropped and logged, labelled as the
    // balancer's misconfiguration.
    let logged: Vec<_> = frames.iter().filter(|f| f.2 == 2).collect();
    // At least one per SYN (0, 1, 3, 7, 15, 31, 63 s), plus the backends' own
    // SYN-ACK retransmissions while they sit in SYN-RECEIVED.
    assert!(logged.len() >= 7, "logged: {}", logged.len());
    for f in &logged {
        assert_eq!(f.3, "balancer-misconfig");
        assert_eq!(f.1[33], 0x12, "SYN-ACK");
        assert!(matches!(src(&f.1).octets(), [198, 51, 100, 11 | 12]));
    }
    // The client never saw them.
    assert!(frames.iter().all(|f| !(f.2 == 0 && f.1[33] == 0x12)));
}
