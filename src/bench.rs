//! `scanbench bench`: simulator and detector throughput, in wall time, for
//! `docs/performance.md`. Not a test: numbers depend on the machine.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant as Wall;

use scanbench_capture::{PcapFormat, PcapWriter};
use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec, Schedule};
use scanbench_sim::app::syn_scan::{ScanSpec, SynScan, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::rng::stream;
use scanbench_sim::{
    Class, Duration, Frame, HostSpec, Instant, Label, LinkSpec, Network, TapPoint,
};

use scanbench_detector::Vantage;

use crate::capture::CaptureReader;
use crate::detect::{DetectorSet, default_suite, with_home_net};
use crate::error::{Error, Result};

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
    let spec = WebServerSpec {
        body_bytes: body,
        ..WebServerSpec::default()
    };
    server_with(net, host("server", SERVER), spec, r, LinkSpec::default())?;
    Ok(())
}

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// Adds the server host with `spec`, linked to `r`; returns the link.
fn server_with(
    net: &mut Network,
    h: HostSpec,
    spec: WebServerSpec,
    r: scanbench_sim::NodeId,
    link: LinkSpec,
) -> Result<scanbench_sim::LinkId> {
    let s = net
        .add_host(h, label("server", Class::Benign, "serve"))
        .map_err(sim)?;
    let l = net.add_link(s, r, link).map_err(sim)?;
    net.add_app(
        s,
        Box::new(WebServer::new(spec)),
        label("server", Class::Benign, "serve"),
    )
    .map_err(sim)?;
    Ok(l)
}

pub(crate) fn sim(e: scanbench_sim::Error) -> crate::Error {
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

/// One HTTP download of `bytes` over a 1 Gbit/s, 1 ms link: (packets, wall
/// seconds, simulated seconds until the last packet).
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
    let l = net
        .add_link(
            c,
            r,
            LinkSpec {
                latency: Duration::from_millis(1),
                ..LinkSpec::default()
            },
        )
        .map_err(sim)?;
    // The transfer's end is the last packet on the client's link: a tap only
    // observes, so it does not change the run.
    net.add_tap("client", TapPoint::Link(l)).map_err(sim)?;
    let mut spec = HttpClientSpec::once(SERVER, 80, Instant::ZERO);
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

/// What one pollers run did.
pub struct PollersRun {
    /// Link transmissions.
    pub packets: u64,
    /// Wall seconds.
    pub wall: f64,
    /// Responses the server sent.
    pub responses: u64,
    /// Events the fabric processed (packet arrivals, wake-ups, timers).
    pub events: u64,
    /// Sockets in the server's pool at the end.
    pub server_sockets: u64,
    /// CPU seconds of the simulation (when the OS tells).
    pub cpu: Option<f64>,
}

/// `n` clients polling one server every 10-15 minutes for one simulated day.
pub fn pollers(n: u32) -> Result<PollersRun> {
    let mut net = pollers_network(n)?;
    let t = Wall::now();
    let cpu = crate::bench_sim::cpu_seconds();
    let mut sink = |_: &Frame<'_>| {};
    net.run_until(Instant::from_secs(86_400), &mut sink)
        .map_err(sim)?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu.zip(crate::bench_sim::cpu_seconds()).map(|(a, b)| b - a);
    let server_stat = |key: &str| {
        net.app_stats()
            .into_iter()
            .filter(|(node, kind, _)| node == "server" && kind == "web-server")
            .flat_map(|(_, _, counters)| counters)
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, v)| v)
    };
    Ok(PollersRun {
        packets: net.stats().sent,
        wall,
        responses: server_stat("responses"),
        events: net.stats().events,
        server_sockets: server_stat("sockets"),
        cpu,
    })
}

/// The pollers network: `n` clients (198.18.0.0/15) polling one server every
/// 10-15 minutes, their first polls spread over the first 15 minutes.
pub fn pollers_network(n: u32) -> Result<Network> {
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
        let mut spec = HttpClientSpec::once(SERVER, 80, Instant::ZERO);
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
    Ok(net)
}

/// A captured frame: (time, raw IPv4, whether ground truth calls it malicious).
pub type CapturedFrame = (Instant, Vec<u8>, bool);

/// The detector workload's capture, seen on the server's link: `rounds`
/// back-to-back nmap-style T3 SYN scans (top 1000 ports; 80 and 443 open,
/// 135/139/445 dropped, the rest closed) while `clients` web clients fetch a
/// page from the same server every 5-15 s.
pub fn detector_capture(rounds: u32, clients: u32) -> Result<Vec<CapturedFrame>> {
    let mut net = Network::new(3);
    let r = net.add_router("edge", vec![]).map_err(sim)?;
    let mut target = host("server", SERVER);
    target.drop_ports = vec![135, 139, 445];
    let spec = WebServerSpec {
        ports: vec![80, 443],
        body_bytes: 2048,
        ..WebServerSpec::default()
    };
    let ms = Duration::from_millis;
    let l = server_with(
        &mut net,
        target,
        spec,
        r,
        LinkSpec {
            latency: ms(1),
            ..LinkSpec::default()
        },
    )?;
    net.add_tap("server", TapPoint::Link(l)).map_err(sim)?;
    let a = net
        .add_host(
            host("scanner", Ipv4Addr::new(203, 0, 113, 66)),
            label("scanner", Class::Malicious, "scan"),
        )
        .map_err(sim)?;
    net.add_link(
        a,
        r,
        LinkSpec {
            latency: ms(10),
            ..LinkSpec::default()
        },
    )
    .map_err(sim)?;
    let scan = ScanSpec {
        targets: vec![SERVER],
        ports: parse_ports("top1000").expect("built-in list"),
        timing: Timing::parse("T3").expect("T3"),
        start: Instant::from_secs(1),
        randomize: true,
        repeat: rounds,
    };
    net.add_app(
        a,
        Box::new(SynScan::new(scan, stream(3, "scan"))),
        label("scanner", Class::Malicious, "scan"),
    )
    .map_err(sim)?;
    // A T3 round of the top 1000 ports with 3 filtered ones takes about 2.1 s.
    let end = Instant::from_secs(1 + 3 * i64::from(rounds));
    for i in 0..clients {
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + 1 + i);
        let name = format!("web{i}");
        let c = net
            .add_host(host(&name, addr), label(&name, Class::Benign, "browse"))
            .map_err(sim)?;
        net.add_link(
            c,
            r,
            LinkSpec {
                latency: ms(5),
                ..LinkSpec::default()
            },
        )
        .map_err(sim)?;
        let mut spec = HttpClientSpec::once(SERVER, 80, Instant::ZERO);
        spec.schedule = Schedule::Periodic {
            start: Instant::from_micros(i64::from(i) * 10_000_000 / i64::from(clients.max(1))),
            min: Duration::from_secs(5),
            max: Duration::from_secs(15),
            until: Some(end),
        };
        net.add_app(
            c,
            Box::new(HttpClient::new(spec, stream(3, &name))),
            label(&name, Class::Benign, "browse"),
        )
        .map_err(sim)?;
    }
    let mut frames = Vec::new();
    let mut sink = |f: &Frame<'_>| {
        frames.push((f.at, f.bytes.to_vec(), f.label.class == Class::Malicious));
    };
    net.run_until(end + Duration::from_secs(30), &mut sink)
        .map_err(sim)?;
    Ok(frames)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `frames` as a classic pcap at `path`.
fn write_pcap(path: &Path, frames: &[CapturedFrame]) -> Result<()> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w =
        PcapWriter::new(BufWriter::new(file), PcapFormat::default()).map_err(io_err(path))?;
    for (at, bytes, _) in frames {
        w.write_frame(*at, bytes, None).map_err(io_err(path))?;
    }
    w.finish()
        .map_err(io_err(path))?
        .into_inner()
        .map_err(|e| io_err(path)(e.into_error()))?;
    Ok(())
}

/// Best (shortest) wall time of `runs` runs of `f`.
fn best_of<T>(runs: u32, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs.max(1) {
        let t = Wall::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (out.expect("at least one run"), best)
}

/// A reference tool reading the capture, run in the same process as ours.
struct Reference {
    name: &'static str,
    /// Command line, `FILE` standing for the capture.
    args: &'static [&'static str],
}

const REFERENCES: &[Reference] = &[
    Reference {
        name: "tshark",
        args: &[
            "tshark",
            "-n",
            "-r",
            "FILE",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    },
    Reference {
        name: "tcpdump",
        args: &["tcpdump", "-nn", "-r", "FILE"],
    },
];

impl Reference {
    fn command_line(&self) -> String {
        self.args.join(" ")
    }

    /// Wall seconds of one run over `file` (output discarded), or why not.
    fn time(&self, file: &Path) -> std::result::Result<f64, String> {
        let mut cmd = Command::new(self.args[0]);
        for a in &self.args[1..] {
            if *a == "FILE" {
                cmd.arg(file);
            } else {
                cmd.arg(a);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Wall::now();
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.args[0]))?;
        let s = t.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("{} exited with {status}", self.args[0]));
        }
        Ok(s)
    }

    /// Packets per second over `file` (`frames` packets), net of the tool's
    /// start-up (its time on `one`, a capture of one packet); best of `runs`.
    fn rate(
        &self,
        file: &Path,
        one: &Path,
        frames: usize,
        runs: u32,
    ) -> std::result::Result<(f64, f64), String> {
        let mut full = f64::INFINITY;
        let mut startup = f64::INFINITY;
        for _ in 0..runs.max(1) {
            startup = startup.min(self.time(one)?);
            full = full.min(self.time(file)?);
        }
        let net = (full - startup).max(1e-6);
        Ok((frames as f64 / net, startup))
    }
}

/// The `detectors` workload: each detector's packets per second over the
/// generated capture, against reference tools reading the same pcap.
pub fn detectors(rounds: u32, clients: u32, out: &mut dyn FnMut(&str)) -> Result<()> {
    let frames = detector_capture(rounds, clients)?;
    let n = frames.len();
    let scan = frames.iter().filter(|f| f.2).count();
    let span = frames
        .last()
        .map_or(0.0, |f| f.0.total_micros() as f64 / 1e6);
    out(&format!(
        "detectors: capture of {n} frames on the server's link ({scan} scan, {} benign; {rounds} T3 top-1000 SYN scans + {clients} web clients, {span:.0} s simulated)",
        n - scan
    ));
    let dir = std::env::temp_dir();
    let file = dir.join(format!("scanbench-bench-{}.pcap", std::process::id()));
    let one = dir.join(format!("scanbench-bench-{}-one.pcap", std::process::id()));
    let result = detectors_on(&frames, &file, &one, out);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&one);
    result
}

fn detectors_on(
    frames: &[CapturedFrame],
    file: &Path,
    one: &Path,
    out: &mut dyn FnMut(&str),
) -> Result<()> {
    let n = frames.len();
    write_pcap(file, frames)?;
    write_pcap(one, &frames[..n.min(1)])?;
    const RUNS: u32 = 3;
    let home_net = ["198.51.100.0/24".parse().expect("valid CIDR")];

    // References first, so every ratio below can be printed beside its figure.
    let mut refs: Vec<(&str, f64)> = Vec::new();
    for r in REFERENCES {
        match r.rate(file, one, n, RUNS) {
            Ok((rate, startup)) => {
                out(&format!(
                    "reference {}: {:.3} M pkt/s (`{}`, best of {RUNS}, net of {startup:.2} s start-up)",
                    r.name,
                    rate / 1e6,
                    r.command_line()
                ));
                refs.push((r.name, rate));
            }
            Err(why) => out(&format!("reference {}: skipped ({why})", r.name)),
        }
    }
    let ratios = |rate: f64| -> String {
        if refs.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = refs
            .iter()
            .map(|(name, r)| format!("{:.1}x {name}", rate / r))
            .collect();
        format!(" ({})", parts.join(", "))
    };

    // scanbench's own pcap reader alone, then with the whole default suite.
    let specs: Vec<String> = default_suite()
        .iter()
        .map(|s| with_home_net(s, &home_net))
        .collect::<Result<_>>()?;
    let from_file = |specs: &[String]| -> Result<u64> {
        let mut set = DetectorSet::new(specs)?;
        let mut vantages: Vec<Vantage> = (0..specs.len()).map(|i| set.vantage(i)).collect();
        vantages.sort_by_key(|v| *v == Vantage::DropLog);
        vantages.dedup();
        let mut reader = CaptureReader::open(file)?;
        let mut count = 0u64;
        let mut last = Instant::ZERO;
        while let Some(f) = reader.next_frame() {
            let f = f?;
            last = f.at();
            for &v in &vantages {
                set.observe(v, last, f.index, &f.bytes);
            }
            count += 1;
        }
        set.finish(last);
        Ok(count)
    };
    let (count, s) = best_of(RUNS, || from_file(&[]));
    let count = count?;
    let rate = count as f64 / s;
    out(&format!(
        "pcap read (scanbench's reader, no detector): {count} frames in {s:.3} s = {:.2} M pkt/s{}",
        rate / 1e6,
        ratios(rate)
    ));
    let (count, s) = best_of(RUNS, || from_file(&specs));
    let count = count?;
    let rate = count as f64 / s;
    out(&format!(
        "pcap read + all {} default detector configurations: {count} frames in {s:.3} s = {:.2} M pkt/s{}",
        specs.len(),
        rate / 1e6,
        ratios(rate)
    ));

    // Each detector alone over the frames in memory (at its own vantage).
    for (spec, short) in specs.iter().zip(default_suite()) {
        let mut set = DetectorSet::new(std::slice::from_ref(spec))?;
        let v = set.vantage(0);
        let (_, s) = best_of(RUNS, || {
            set = DetectorSet::new(std::slice::from_ref(spec)).expect("built above");
            for (i, (at, b, _)) in frames.iter().enumerate() {
                set.observe(v, *at, i as u64, b);
            }
            set.finish(frames.last().map_or(Instant::ZERO, |f| f.0));
        });
        let rate = n as f64 / s;
        out(&format!(
            "detector {short}: {n} frames in {s:.3} s = {:.2} M pkt/s{}, {} alerts",
            rate / 1e6,
            ratios(rate),
            set.alerts[0].len()
        ));
    }
    Ok(())
}

/// Runs a workload and hands `out` one line per measurement, each simulator
/// figure with its goal (issue 17; docs/performance.md).
pub fn run(workload: &str, clients: &str, out: &mut dyn FnMut(&str)) -> Result<()> {
    let all = workload == "all";
    if all || workload == "scan" {
        let cpu = crate::bench_sim::cpu_seconds();
        let (pkts, s) = scan(200, None)?;
        let cpu = cpu.zip(crate::bench_sim::cpu_seconds()).map(|(a, b)| b - a);
        let rate = pkts as f64 / s;
        let cpu = cpu.map_or(String::new(), |c| {
            format!(
                ", {c:.2} s CPU = {:.2} M pkt/s per CPU second",
                pkts as f64 / c / 1e6
            )
        });
        out(&format!(
            "scan: 200 x 1000-port SYN scans (T5): {pkts} packets in {s:.2} s = {:.2} M pkt/s{cpu}, {:.0} scans/s (goal >= 3 M pkt/s: {})",
            rate / 1e6,
            200.0 / s,
            met(rate >= 3e6)
        ));
    }
    if all || workload == "bulk" {
        let (pkts, s, simulated) = bulk(100 << 20)?;
        out(&format!(
            "bulk: 100 MiB HTTP download, 1 Gbit/s: {pkts} packets in {s:.2} s = {:.2} M pkt/s ({simulated:.2} s simulated)",
            pkts as f64 / s / 1e6
        ));
    }
    if all || workload == "pollers" {
        let mut ten_thousand: Option<f64> = None;
        for n in clients
            .split(',')
            .filter_map(|c| c.trim().parse::<u32>().ok())
        {
            let p = pollers(n)?;
            let per_packet = |secs: f64| secs / p.packets.max(1) as f64 * 1e9;
            let cpu = p.cpu.map_or(String::new(), |c| {
                format!(", {c:.2} s CPU = {:.0} ns CPU per packet", per_packet(c))
            });
            let goal = match n {
                10_000 => {
                    ten_thousand = Some(p.wall);
                    format!(" (goal <= 5 s: {})", met(p.wall <= 5.0))
                }
                100_000 => match ten_thousand {
                    Some(t) => format!(
                        " ({:.1}x the 10,000-client time; goal about 10x and < 2 GiB)",
                        p.wall / t
                    ),
                    None => " (goal: about 10x the 10,000-client time, < 2 GiB)".into(),
                },
                _ => String::new(),
            };
            out(&format!(
                "pollers: {n} clients x 1 simulated day: {} packets, {} events, {} responses in {:.2} s = {:.2} M pkt/s, {:.0} ns per packet{cpu} ({:.0}x real time; server pool {} sockets; process peak RSS {}){goal}",
                p.packets,
                p.events,
                p.responses,
                p.wall,
                p.packets as f64 / p.wall / 1e6,
                per_packet(p.wall),
                86_400.0 / p.wall,
                p.server_sockets,
                crate::bench_sim::peak_rss().map_or("unknown".into(), crate::bench_sim::mib),
            ));
        }
    }
    if workload == "memory" {
        crate::bench_sim::memory_over_time(1000, 4, out)?;
    }
    if all || workload == "gen" {
        crate::bench_sim::generation(2000, out)?;
    }
    if all || workload == "detectors" {
        detectors(100, 200, out)?;
    }
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}
