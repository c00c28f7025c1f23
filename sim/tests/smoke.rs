//! End-to-end checks of the simulator core: a page fetch, a SYN scan, determinism.

use std::net::Ipv4Addr;

use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec};
use scanbench_sim::app::syn_scan::{ScanSpec, SynScan, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::rng::stream;
use scanbench_sim::{Class, Frame, HostSpec, Instant, Label, LinkSpec, Network, TapPoint};

fn label(actor: &str, class: Class, cause: &str) -> Label {
    Label {
        actor: actor.into(),
        class,
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

/// Returns (frames as (time, bytes, cause)), for a client + server + scanner world.
fn world(seed: u64) -> Vec<(i64, Vec<u8>, String)> {
    let mut net = Network::new(seed);
    let c = net
        .add_host(
            host("client", [192, 0, 2, 10]),
            label("client", Class::Benign, "browse"),
        )
        .unwrap();
    let s = net
        .add_host(
            host("server", [198, 51, 100, 10]),
            label("server", Class::Benign, "serve"),
        )
        .unwrap();
    let a = net
        .add_host(
            host("scanner", [203, 0, 113, 66]),
            label("scanner", Class::Malicious, "scan"),
        )
        .unwrap();
    let r = net.add_router("r", vec![]).unwrap();
    net.add_link(c, r, LinkSpec::default()).unwrap();
    let sl = net.add_link(r, s, LinkSpec::default()).unwrap();
    net.add_link(a, r, LinkSpec::default()).unwrap();
    net.add_tap("server", TapPoint::Link(sl)).unwrap();
    net.add_app(
        s,
        Box::new(WebServer::new(WebServerSpec::default())),
        label("server", Class::Benign, "serve"),
    )
    .unwrap();
    net.add_app(
        c,
        Box::new(HttpClient::new(
            HttpClientSpec::once(
                Ipv4Addr::new(198, 51, 100, 10),
                80,
                Instant::from_millis(100),
            ),
            stream(seed, "app:client"),
        )),
        label("client", Class::Benign, "browse"),
    )
    .unwrap();
    net.add_app(
        a,
        Box::new(SynScan::new(
            ScanSpec {
                targets: vec![Ipv4Addr::new(198, 51, 100, 10)],
                ports: parse_ports("top1000").unwrap(),
                timing: Timing::parse("T4").unwrap(),
                start: Instant::from_secs(1),
                randomize: true,
                repeat: 1,
            },
            stream(seed, "app:scanner"),
        )),
        label("scanner", Class::Malicious, "scan"),
    )
    .unwrap();
    let mut frames = Vec::new();
    let mut sink =
        |f: &Frame<'_>| frames.push((f.at.total_micros(), f.bytes.to_vec(), f.label.cause.clone()));
    net.run_until(Instant::from_secs(30), &mut sink).unwrap();
    frames
}

#[test]
fn fetch_and_scan_produce_expected_traffic() {
    let frames = world(1);
    let browse = frames.iter().filter(|f| f.2 == "browse").count();
    let scan = frames.iter().filter(|f| f.2 == "scan").count();
    // 3-way handshake + request + response/FIN + client FIN + last ACK (and ACKs).
    assert!(browse >= 7, "browse frames: {browse}");
    // 1000 probes, 999 RST-ACKs + 1 SYN-ACK (port 80 open) + the scanner's RST.
    assert_eq!(scan, 2001, "scan frames");
    let syn_acks = frames
        .iter()
        .filter(|f| f.2 == "scan" && f.1[33] == 0x12)
        .count();
    assert_eq!(syn_acks, 1);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    assert_eq!(world(5), world(5));
    assert_ne!(world(5), world(6));
}
