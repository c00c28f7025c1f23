//! `scanbench bench`: simulator and detector throughput, in wall time, for
//! `docs/performance.md`. Not a test: numbers depend on the machine.

use std::net::Ipv4Addr;
use std::time::Instant as Wall;

use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec, Schedule};
use scanbench_sim::app::syn_scan::{ScanSpec, SynScan, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::rng::stream;
use scanbench_sim::{Class, Duration, Frame, HostSpec, Instant, Label, LinkSpec, Network};

use crate::detect::{DetectorSet, default_suite};
use crate::error::Result;

fn label(actor: &str, class: Class, cause: &str) -> Label {
    Label {
        actor: actor.into(),
        class,
        cause: cause.into(),
    }
}

fn host(name: &str, addr: Ipv4Addr) -> HostSpec {
    HostSpec {
        name: name.into(),
        addr,
        prefix: 16,
        ephemeral: (32768, 60999),
        drop_ports: vec![],
    }
}

fn server(net: &mut Network, body: usize, r: scanbench_sim::NodeId) -> Result<()> {
    let s = net
        .add_host(
            host("server", Ipv4Addr::new(198, 51, 100, 10)),
            label("server", Class::Benign, "serve"),
        )
        .map_err(sim)?;
    net.add_link(s, r, LinkSpec::default()).map_err(sim)?;
    let spec = WebServerSpec {
        body_bytes: body,
        ..WebServerSpec::default()
    };
    net.add_app(
        s,
        Box::new(WebServer::new(spec)),
        label("server", Class::Benign, "serve"),
    )
    .map_err(sim)?;
    Ok(())
}

fn sim(e: scanbench_sim::Error) -> crate::Error {
    crate::Error::Sim {
        path: "bench".into(),
        source: e,
    }
}

/// Repeated 1000-port SYN scans (T5 window) against one host: packets per wall second.
pub fn scan(rounds: u32, keep: Option<&mut Vec<(Instant, Vec<u8>)>>) -> Result<(u64, f64)> {
    let mut net = Network::new(1);
    let r = net.add_router("r", vec![]).map_err(sim)?;
    server(&mut net, 512, r)?;
    let a = net
        .add_host(
            host("scanner", Ipv4Addr::new(203, 0, 113, 66)),
            label("scanner", Class::Malicious, "scan"),
        )
        .map_err(sim)?;
    let l = net.add_link(a, r, LinkSpec::default()).map_err(sim)?;
    net.add_tap("scanner", scanbench_sim::TapPoint::Link(l))
        .map_err(sim)?;
    let spec = ScanSpec {
        targets: vec![Ipv4Addr::new(198, 51, 100, 10)],
        ports: parse_ports("top1000").expect("built-in list"),
        timing: Timing::parse("T5").expect("T5"),
        start: Instant::ZERO,
        randomize: true,
        repeat: rounds,
    };
    net.add_app(
        a,
        Box::new(SynScan::new(spec, stream(1, "scan"))),
        label("scanner", Class::Malicious, "scan"),
    )
    .map_err(sim)?;
    let mut frames = 0u64;
    let mut keep = keep;
    let t = Wall::now();
    let mut sink = |f: &Frame<'_>| {
        frames += 1;
        if let Some(k) = keep.as_deref_mut() {
            k.push((f.at, f.bytes.to_vec()));
        }
    };
    net.run_until(Instant::from_secs(24 * 3600), &mut sink)
        .map_err(sim)?;
    Ok((net.stats().sent, t.elapsed().as_secs_f64()))
}

/// One HTTP download of `bytes` over a 1 Gbit/s, 1 ms link.
pub fn bulk(bytes: usize) -> Result<(u64, f64, f64)> {
    let mut net = Network::new(1);
    let r = net.add_router("r", vec![]).map_err(sim)?;
    server(&mut net, bytes, r)?;
    let c = net
        .add_host(
            host("client", Ipv4Addr::new(192, 0, 2, 10)),
            label("client", Class::Benign, "browse"),
        )
        .map_err(sim)?;
    net.add_link(
        c,
        r,
        LinkSpec {
            latency: Duration::from_millis(1),
            ..LinkSpec::default()
        },
    )
    .map_err(sim)?;
    let mut spec = HttpClientSpec::once(Ipv4Addr::new(198, 51, 100, 10), 80, Instant::ZERO);
    spec.request_timeout = Duration::from_secs(3600);
    net.add_app(
        c,
        Box::new(HttpClient::new(spec, stream(1, "c"))),
        label("client", Class::Benign, "browse"),
    )
    .map_err(sim)?;
    let t = Wall::now();
    let mut last = Instant::ZERO;
    let mut sink = |f: &Frame<'_>| last = f.at;
    net.run_until(Instant::from_secs(3600), &mut sink)
        .map_err(sim)?;
    Ok((
        net.stats().sent,
        t.elapsed().as_secs_f64(),
        last.total_micros() as f64 / 1e6,
    ))
}

/// `n` clients polling one server every 10-15 minutes for one simulated day.
pub fn pollers(n: u32) -> Result<(u64, f64)> {
    let mut net = Network::new(1);
    let r = net.add_router("r", vec![]).map_err(sim)?;
    server(&mut net, 2048, r)?;
    for i in 0..n {
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + 1 + i);
        let name = format!("c{i}");
        let c = net
            .add_host(host(&name, addr), label(&name, Class::Benign, "poll"))
            .map_err(sim)?;
        net.add_link(c, r, LinkSpec::default()).map_err(sim)?;
        let mut spec = HttpClientSpec::once(Ipv4Addr::new(198, 51, 100, 10), 80, Instant::ZERO);
        let start = Instant::from_micros(i64::from(i) * 900_000_000 / i64::from(n.max(1)));
        spec.schedule = Schedule::Periodic {
            start,
            min: Duration::from_secs(600),
            max: Duration::from_secs(900),
            until: None,
        };
        net.add_app(
            c,
            Box::new(HttpClient::new(spec, stream(1, &name))),
            label(&name, Class::Benign, "poll"),
        )
        .map_err(sim)?;
    }
    let t = Wall::now();
    let mut sink = |_: &Frame<'_>| {};
    net.run_until(Instant::from_secs(86_400), &mut sink)
        .map_err(sim)?;
    Ok((net.stats().sent, t.elapsed().as_secs_f64()))
}

/// Runs a workload and prints one line per measurement.
pub fn run(workload: &str, clients: &str) -> Result<()> {
    let all = workload == "all";
    if all || workload == "scan" {
        let (pkts, s) = scan(200, None)?;
        println!(
            "scan: 200 x 1000-port SYN scans (T5): {pkts} packets in {s:.2} s = {:.2} M pkt/s, {:.0} scans/s",
            pkts as f64 / s / 1e6,
            200.0 / s
        );
    }
    if all || workload == "bulk" {
        let (pkts, s, simulated) = bulk(100 << 20)?;
        println!(
            "bulk: 100 MiB HTTP download, 1 Gbit/s: {pkts} packets in {s:.2} s = {:.2} M pkt/s ({simulated:.2} s simulated)",
            pkts as f64 / s / 1e6
        );
    }
    if all || workload == "pollers" {
        for n in clients
            .split(',')
            .filter_map(|c| c.trim().parse::<u32>().ok())
        {
            let (pkts, s) = pollers(n)?;
            println!(
                "pollers: {n} clients x 1 simulated day: {pkts} packets in {s:.2} s ({:.0}x real time)",
                86_400.0 / s
            );
        }
    }
    if all || workload == "detectors" {
        let mut frames = Vec::new();
        scan(100, Some(&mut frames))?;
        for spec in default_suite() {
            let mut set = DetectorSet::new(std::slice::from_ref(&spec))?;
            let t = Wall::now();
            for (i, (at, b)) in frames.iter().enumerate() {
                set.observe(set.vantage(0), *at, i as u64, b);
            }
            set.finish(frames.last().map(|f| f.0).unwrap_or(Instant::ZERO));
            let s = t.elapsed().as_secs_f64();
            println!(
                "detector {spec}: {} frames in {s:.3} s = {:.2} M pkt/s",
                frames.len(),
                frames.len() as f64 / s / 1e6
            );
        }
    }
    Ok(())
}
