//! `scanbench live`: the simulated network bridged to real kernels.
//!
//! Always run (no root needed):
//! - the real-time driver over a datagram socket pair standing in for the
//!   TUN device: a SYN gets its SYN-ACK, a SYN to a closed port its RST-ACK,
//!   non-IPv4 is ignored, a quick SYN burst raises an alert while the run
//!   goes on, the capture is written with wall-clock stamps and labels
//!   `external`, and the run stops on request or at its time limit;
//! - the command's refusals that come before any privilege is needed (no
//!   `[live]` table, bad names and addresses) and, run as `nobody` where the
//!   test is root, the refusal without CAP_NET_ADMIN.
//!
//! Root only (otherwise skipped, with the reason written to the test
//! output): in network namespaces this test creates (`sb-live-<pid>-*`),
//! with TUN devices named `sblv?<pid>` and addresses from 198.18.0.0/15 and
//! 198.51.100.0/24 only,
//! - `curl` fetches the simulated web server's page and `nmap -sS -p 1-200`
//!   finds its open port 80 and 199 closed ports; the bench's detectors raise
//!   nothing for the curl and flag the nmap scan; SIGTERM stops the run with
//!   the report printed, the capture flushed and the device gone;
//! - through the misconfigured balancer, the real kernel gets the backend's
//!   SYN-ACK from the wrong address and answers it with a bare RST;
//! - refusals: a device name already taken, a route overlapping the host's,
//!   no `/dev/net/tun` (a private mount namespace hides it), each leaving no
//!   device and no capture file behind.
//!
//! Every external command runs under `timeout`, every wait is bounded, and
//! guards kill what the test started and delete its namespaces, on failure too.

#![cfg(feature = "live")]

mod common;

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use scanbench::Scenario;
use scanbench::capture::CaptureReader;
use scanbench::live::kernel::check_privileges;
use scanbench::live::{Driver, LiveOptions, Session, StopHandle, Stopped};
use scanbench::simulate::Outputs;
use scanbench_sim::app::http::body_byte;
use scanbench_testkit::TcpSeg;

/// The real client's address (the kernel side of the device).
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The simulated web server of `examples/live/web.toml`.
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The balancer's VIP in `examples/live/balancer.toml`, and its pool.
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 80);
const BACKENDS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 11),
    Ipv4Addr::new(198, 51, 100, 12),
];

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/live")
        .join(name)
}

/// The reason shows in a plain `cargo test` (see `common::skip`).
fn skip(test: &str, why: &str) {
    common::skip(test, why);
}

// ---------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------

/// A parsed TCP segment (enough for the assertions).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
}

fn seg(p: &[u8]) -> Option<Seg> {
    if p.len() < 40 || p[0] >> 4 != 4 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let t = p.get(ihl..ihl + 20)?;
    let u16_at = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
    let u32_at = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Some(Seg {
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        sport: u16_at(0),
        dport: u16_at(2),
        seq: u32_at(4),
        ack: u32_at(8),
        flags: t[13],
    })
}

fn syn(dport: u16, sport: u16, seq: u32) -> Vec<u8> {
    let mut s = TcpSeg::new(CLIENT, sport, SERVER, dport, 0x02);
    s.seq = seq;
    s.bytes()
}

/// Every frame of a capture, with its time in µs.
fn frames(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let mut r = CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = r.next_frame() {
        let f = f.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((f.at().total_micros(), f.bytes));
    }
    out
}

// ---------------------------------------------------------------------------
// The driver over a socket pair (no root)
// ---------------------------------------------------------------------------

/// Waits (at most `limit`) for a packet on `sock`.
fn recv(sock: &UnixDatagram, limit: Duration) -> Option<Vec<u8>> {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn the_driver_bridges_a_socket_pair_in_real_time() {
    let scenario = Scenario::load(&example("web.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("web.pcap");
    let opts = LiveOptions {
        seed: scenario.seed,
        specs: vec!["scanlogd".into()],
        outputs: Outputs {
            pcap: Some(pcap.clone()),
            ..Outputs::default()
        },
        limit: Some(scanbench_sim::Duration::from_secs(60)),
        wall_clock_stamps: true,
    };
    let session = Session::new(&scenario, opts).unwrap();
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let driver = Driver::new(false).unwrap();
    let stop = driver.stop_handle();
    let (alerts_tx, alerts) = mpsc::channel();
    let started = SystemTime::now();
    // The simulation is not `Send`: it runs here; the real client in a thread.
    let client = std::thread::spawn(move || {
        // However the checks end, the run stops (not at its 60 s limit).
        struct StopOnDrop(StopHandle);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.stop();
            }
        }
        let _stop = StopOnDrop(stop);
        // An open port: SYN-ACK acknowledging the SYN.
        theirs.send(&syn(80, 40000, 1000)).unwrap();
        let a = recv(&theirs, Duration::from_secs(5)).expect("an answer to the SYN");
        let a = seg(&a).expect("TCP");
        assert_eq!(
            (a.src, a.dst, a.sport, a.dport),
            (SERVER, CLIENT, 80, 40000)
        );
        assert_eq!((a.flags, a.ack), (0x12, 1001), "SYN-ACK: {a:?}");
        // A closed port: RST-ACK.
        theirs.send(&syn(81, 40001, 5000)).unwrap();
        let r = seg(&recv(&theirs, Duration::from_secs(5)).expect("an answer")).unwrap();
        assert_eq!(
            (r.flags, r.ack, r.sport),
            (0x14, 5001, 81),
            "RST-ACK: {r:?}"
        );
        // IPv6 (a router solicitation's first bytes) is ignored.
        theirs.send(&[0x60, 0, 0, 0, 0, 8, 58, 255]).unwrap();
        // No alert yet; a burst of SYNs to 20 privileged ports raises one
        // (scanlogd: weight 3 per port, threshold 21) while the run goes on.
        assert!(alerts.try_recv().is_err(), "two probes raised an alert");
        for p in 1..=20u16 {
            theirs.send(&syn(p + 100, 41000 + p, 7)).unwrap();
        }
        for _ in 1..=20 {
            let r = recv(&theirs, Duration::from_secs(5)).expect("an answer to each probe");
            assert_eq!(seg(&r).map(|s| s.flags), Some(0x14));
        }
        let (spec, scanner): (String, Ipv4Addr) = alerts
            .recv_timeout(Duration::from_secs(5))
            .expect("scanlogd alerts during the run");
        assert_eq!((spec.as_str(), scanner), ("scanlogd", CLIENT));
    });
    let run = session
        .run(driver, &ours, &mut |spec, sa| {
            let _ = alerts_tx.send((spec.to_string(), sa.alert.scanner));
        })
        .unwrap();
    client.join().expect("the client's checks");
    assert_eq!(run.stopped, Stopped::Requested);
    assert_eq!(run.port.received, 22);
    assert_eq!(run.port.ignored, 1);
    assert_eq!(run.port.sent, 22, "every SYN answered: {:?}", run.port);
    assert_eq!(run.port.send_errors, 0);
    // The capture: the tap on the outside link saw 22 SYNs and 22 answers,
    // stamped with the wall clock, every one labelled as the outside's doing.
    let got = frames(&pcap);
    assert_eq!(got.len(), 44);
    let start_us = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        got.iter()
            .all(|(t, _)| *t >= start_us - 1_000_000 && *t < start_us + 120_000_000),
        "wall-clock stamps, got {} for a start at {start_us}",
        got[0].0
    );
    let labels = std::fs::read_to_string(dir.path().join("web.labels.jsonl")).unwrap();
    assert_eq!(labels.lines().count(), 44);
    assert!(
        labels
            .lines()
            .all(|l| l.contains(r#""actor":"external","class":"benign","cause":"external""#)),
        "{labels}"
    );
    assert_eq!(run.run.summary.taps[0].frames, 44);
    assert_eq!(run.run.detectors[0].alerts.len(), 1);
}

#[test]
fn the_driver_stops_at_its_time_limit() {
    let scenario = Scenario::load(&example("balancer.toml")).unwrap();
    let opts = LiveOptions {
        seed: 1,
        limit: Some(scanbench_sim::Duration::from_millis(300)),
        ..LiveOptions::default()
    };
    let session = Session::new(&scenario, opts).unwrap();
    let (ours, _theirs) = UnixDatagram::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let driver = Driver::new(false).unwrap();
    let t0 = Instant::now();
    let run = session.run(driver, &ours, &mut |_, _| {}).unwrap();
    let took = t0.elapsed();
    assert_eq!(run.stopped, Stopped::Limit);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // Virtual time followed the wall clock to the limit: the run is 300 ms
    // long, and the balancer's first health check (at 5 s) never came.
    assert_eq!(run.run.summary.duration.total_micros(), 300_000);
    let lb = run
        .run
        .summary
        .apps
        .iter()
        .find(|(_, k, _)| k == "balancer")
        .unwrap();
    assert!(lb.2.contains(&("health_checks", 0)), "{lb:?}");
}

#[test]
fn what_the_simulation_sends_at_time_zero_leaves_and_is_captured() {
    // A simulated client connects to the real side at 0 s: its SYN is the
    // network's very first packet, on the client's link at 0 s, on the
    // outside link 501 us later (latency 500 us, 1 us serialisation).
    let toml = r#"
seed = 1
duration = "1m"
[live]
attach = "edge"
[[host]]
name = "client"
addr = "198.51.100.20"
[[router]]
name = "edge"
[[link]]
between = ["edge", "client"]
[[tap]]
name = "client"
link = ["edge", "client"]
[[http-client]]
host = "client"
server = "198.18.0.1"
"#;
    let scenario = Scenario::parse(Path::new("zero.toml"), toml.to_string()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("zero.pcap");
    let opts = LiveOptions {
        outputs: Outputs {
            pcap: Some(pcap.clone()),
            ..Outputs::default()
        },
        limit: Some(scanbench_sim::Duration::from_secs(30)),
        ..LiveOptions::default()
    };
    let session = Session::new(&scenario, opts).unwrap();
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let driver = Driver::new(false).unwrap();
    let stop = driver.stop_handle();
    let client = std::thread::spawn(move || {
        let got = recv(&theirs, Duration::from_secs(5));
        stop.stop();
        let s = seg(&got.expect("the client's SYN")).expect("TCP");
        assert_eq!((s.dst, s.dport, s.flags), (CLIENT, 80, 0x02));
    });
    let run = session.run(driver, &ours, &mut |_, _| {}).unwrap();
    client.join().expect("the SYN left");
    assert_eq!(run.port.sent, 1);
    // Virtual-time stamps (no wall clock asked for).
    for (tap, at) in [("client", 0), ("outside", 501)] {
        let got = frames(&dir.path().join(format!("zero.{tap}.pcap")));
        assert_eq!(got.len(), 1, "tap {tap}: the SYN");
        assert_eq!(got[0].0, at, "tap {tap}");
    }
}

#[test]
fn the_examples_are_plain_simulations_too() {
    // In `run`, the outside is silent: nothing comes from it, and what is
    // routed to it (the scanner's probes) is counted and dropped.
    for (name, to_outside) in [
        ("web.toml", 0),
        ("balancer.toml", 0),
        ("scanner.toml", 1000),
    ] {
        let scenario = Scenario::load(&example(name)).unwrap();
        let run = scanbench::evaluate(&scenario, scenario.seed, &[], &Outputs::default()).unwrap();
        let outside = run
            .summary
            .apps
            .iter()
            .find(|(n, k, _)| n == "outside" && k == "outside")
            .unwrap_or_else(|| panic!("{name}: no outside node"));
        assert_eq!(
            outside.2,
            vec![("from_outside", 0), ("to_outside", to_outside)],
            "{name}"
        );
        assert_eq!(run.summary.taps.last().unwrap().name, "outside", "{name}");
    }
}

// ---------------------------------------------------------------------------
// The command's refusals
// ---------------------------------------------------------------------------

fn scanbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `scanbench live ARGS` to completion (it refuses at once).
fn live(args: &[&str]) -> Output {
    scanbench()
        .arg("live")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scanbench runs")
}

#[test]
fn a_scenario_without_a_live_table_is_refused() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/web-and-scan.toml");
    let o = live(&[suite.to_str().unwrap(), "--tun", "sblvn0"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_of(&o);
    assert!(e.contains("web-and-scan.toml: no [live] table"), "{e}");
}

#[test]
fn bad_names_and_addresses_are_refused_before_anything_is_made() {
    let web = example("web.toml");
    let web = web.to_str().unwrap();
    // Usage errors (clap): exit 2.
    for bad in [
        vec!["--tun", "much-too-long-name"],
        vec!["--tun", "tun%d"],
        vec!["--tun", "sblvn0", "--addr", "198.18.0.1"],
        vec!["--tun", "sblvn0", "--route", "198.51.100.0/33"],
        vec!["--tun", "sblvn0", "--no-configure", "--netns", "x"],
    ] {
        let mut args = vec![web];
        args.extend(bad.iter());
        let o = live(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr_of(&o));
    }
    // Plans that cannot work: exit 1, naming the problem.
    let o = live(&[web, "--tun", "sblvn0", "--addr", "192.0.2.1/24"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_of(&o);
    assert!(
        e.contains("--addr 192.0.2.1/24: not an outside address"),
        "{e}"
    );
    let o = live(&[web, "--tun", "sblvn0", "--route", "198.18.0.0/16"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_of(&o);
    assert!(
        e.contains("--route 198.18.0.0/16 overlaps the scenario's outside"),
        "{e}"
    );
}

#[test]
fn without_cap_net_admin_live_mode_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("never.pcap");
    let web = example("web.toml");
    let args = [
        "live",
        web.to_str().unwrap(),
        "--tun",
        "sblvn0",
        "--pcap",
        pcap.to_str().unwrap(),
    ];
    let o = if check_privileges().is_ok() {
        // Root: drop to nobody, which has no capabilities.
        if !on_path("setpriv") {
            skip(
                "without_cap_net_admin_live_mode_is_refused",
                "root, and no setpriv to drop privileges with",
            );
            return;
        }
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_scanbench"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    } else {
        scanbench()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr_of(&o));
    let e = stderr_of(&o);
    assert!(e.contains("live mode needs root"), "{e}");
    assert!(e.contains("CAP_NET_ADMIN"), "{e}");
    assert!(!pcap.exists(), "a capture file was left behind");
}

// ---------------------------------------------------------------------------
// Root: real kernels in network namespaces
// ---------------------------------------------------------------------------

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Why the root tests cannot run here, if they cannot.
fn root_unavailable(tools: &[&str]) -> Option<String> {
    if check_privileges().is_err() {
        return Some("not root (TUN devices and namespaces need CAP_NET_ADMIN)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    let missing: Vec<&str> = ["ip", "timeout"]
        .iter()
        .chain(tools)
        .copied()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing tool(s): {}", missing.join(", ")));
    }
    None
}

/// A namespace for root test `test`, which needs `tools`; `None` (the reason
/// written to the test output) where the machine does not allow it.
fn root_namespace(test: &str, tools: &[&str], tag: &str) -> Option<Netns> {
    if let Some(why) = root_unavailable(tools) {
        skip(test, &why);
        return None;
    }
    match Netns::create(tag) {
        Ok(ns) => Some(ns),
        Err(why) => {
            skip(test, &format!("cannot create a network namespace: {why}"));
            None
        }
    }
}

/// Runs `args` under `timeout` (SIGTERM after `secs`, SIGKILL 1 s later).
fn run(args: &[&str], secs: u64) -> Output {
    Command::new("timeout")
        .args(["-k", "1", &secs.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")))
}

/// Like [`run`], failing with the command's error output unless it succeeds.
fn ok(args: &[&str], secs: u64) -> Result<String, String> {
    let o = run(args, secs);
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            o.status,
            stderr_of(&o).trim()
        ))
    }
}

/// A network namespace of this test; dropping it kills what runs inside
/// and deletes it.
struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("sb-live-{}-{tag}", std::process::id());
        ok(&["ip", "netns", "add", &name], 10)?;
        let ns = Netns { name };
        // IPv4 only (no router solicitations on the device), loopback up.
        for key in ["all", "default"] {
            let _ = run(
                &[
                    "ip",
                    "netns",
                    "exec",
                    &ns.name,
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ],
                10,
            );
        }
        ok(&["ip", "-n", &ns.name, "link", "set", "lo", "up"], 10)?;
        Ok(ns)
    }

    /// Runs `args` inside the namespace under `timeout`.
    fn exec(&self, args: &[&str], secs: u64) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full, secs)
    }

    fn has_link(&self, dev: &str) -> bool {
        run(&["ip", "-n", &self.name, "link", "show", "dev", dev], 10)
            .status
            .success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let pids = run(&["ip", "netns", "pids", &self.name], 10);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = run(&["kill", "-KILL", pid], 5);
        }
        let o = run(&["ip", "netns", "del", &self.name], 10);
        if !o.status.success() {
            skip("netns cleanup", &format!("could not delete {}", self.name));
        }
    }
}

/// Whether interface `dev` exists in this process's namespace.
fn has_link_here(dev: &str) -> bool {
    run(&["ip", "link", "show", "dev", dev], 10)
        .status
        .success()
}

/// A running `scanbench live`, its standard output read line by line.
/// Dropping it kills it.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str], limit_secs: u64) -> Running {
        let mut child = Command::new("timeout")
            .args(["-k", "2", &limit_secs.to_string()])
            .arg(env!("CARGO_BIN_EXE_scanbench"))
            .arg("live")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("scanbench starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Collects output until a line satisfies `want` or `limit` passes.
    fn wait_for(&mut self, limit: Duration, want: impl Fn(&str) -> bool) -> bool {
        let t0 = Instant::now();
        if self.seen.iter().any(|l| want(l)) {
            return true;
        }
        while let Some(left) = limit.checked_sub(t0.elapsed()) {
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(l) => {
                    let hit = want(&l);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    /// Starts `scanbench live ARGS` and waits (at most 20 s) for its `ready` line.
    fn ready(args: &[&str], limit_secs: u64) -> Running {
        let mut r = Running::start(args, limit_secs);
        assert!(
            r.wait_for(Duration::from_secs(20), |l| l.starts_with("ready")),
            "no ready line:\n{}",
            r.text()
        );
        r
    }

    /// Everything printed so far.
    fn drain(&mut self) -> &[String] {
        self.seen.extend(self.lines.try_iter());
        &self.seen
    }

    fn text(&self) -> String {
        self.seen.join("\n")
    }

    /// Sends SIGTERM (through `timeout`, which passes it on) and waits for
    /// the exit (at most 20 s); returns the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = run(&["kill", "-TERM", &self.child.id().to_string()], 5);
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Collect the last lines (the readers end with the pipes).
                let t1 = Instant::now();
                while t1.elapsed() < Duration::from_secs(5) {
                    match self.lines.recv_timeout(Duration::from_millis(200)) {
                        Ok(l) => self.seen.push(l),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                }
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "scanbench did not stop on SIGTERM:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// An alert line (`  [detector] t=...`) naming `who` as the scanner.
fn alert_by(line: &str, detector: &str, who: Ipv4Addr) -> bool {
    line.starts_with(&format!("  [{detector}] +"))
        && line.split_whitespace().nth(3) == Some(&who.to_string())
}

#[test]
fn curl_and_nmap_reach_the_simulated_server_through_a_tun_device() {
    const TEST: &str = "curl_and_nmap_reach_the_simulated_server_through_a_tun_device";
    let Some(ns) = root_namespace(TEST, &["curl", "nmap", "kill"], "web") else {
        return;
    };
    let dev = format!("sblvw{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("web.pcap");
    let web = example("web.toml");
    // The device is created here, down and unconfigured, and moved into the
    // namespace by hand, as docs/live.md shows.
    let mut live = Running::ready(
        &[
            web.to_str().unwrap(),
            "--tun",
            &dev,
            "--no-configure",
            "--duration",
            "100s",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        110,
    );
    for step in [
        vec!["ip", "link", "set", "dev", &dev, "netns", &ns.name],
        vec![
            "ip",
            "-n",
            &ns.name,
            "addr",
            "add",
            "198.18.0.1/15",
            "dev",
            &dev,
        ],
        vec!["ip", "-n", &ns.name, "link", "set", "dev", &dev, "up"],
        vec![
            "ip",
            "-n",
            &ns.name,
            "route",
            "add",
            "198.51.100.0/24",
            "dev",
            &dev,
        ],
    ] {
        ok(&step, 10).unwrap();
    }

    // curl gets the page: 200 and the simulated server's 512 body bytes.
    let page = dir.path().join("page");
    let o = ns.exec(
        &[
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-o",
            page.to_str().unwrap(),
            "-w",
            "%{http_code}",
            &format!("http://{SERVER}/"),
        ],
        15,
    );
    assert!(o.status.success(), "curl: {}", stderr_of(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "200");
    let want: Vec<u8> = (0..512).map(body_byte).collect();
    assert_eq!(std::fs::read(&page).unwrap(), want, "the simulated page");
    // No detector raises anything for it (their timers tick every second).
    std::thread::sleep(Duration::from_millis(2500));
    let alerts: Vec<&String> = live
        .drain()
        .iter()
        .filter(|l| l.starts_with("  ["))
        .collect();
    assert!(alerts.is_empty(), "alerts for a page fetch: {alerts:?}");

    // nmap -sS finds the open port and the 199 closed ones.
    let o = ns.exec(
        &[
            "nmap",
            "-sS",
            "-Pn",
            "-n",
            "-T4",
            "-p",
            "1-200",
            &SERVER.to_string(),
        ],
        90,
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "nmap: {out}{}", stderr_of(&o));
    assert!(
        out.lines()
            .any(|l| l.starts_with("80/tcp ") && l.split_whitespace().nth(1) == Some("open")),
        "nmap did not see port 80 open:\n{out}"
    );
    // nmap 7.93 says `Not shown: 199 closed tcp ports (reset)`, older ones
    // `Not shown: 199 closed ports`.
    assert!(
        out.lines().any(|l| l.starts_with("Not shown: 199 closed")),
        "nmap did not see 199 closed ports:\n{out}"
    );
    // ... and the bench's detectors flag it, as it happens.
    for d in ["scanlogd", "sfportscan"] {
        assert!(
            live.wait_for(Duration::from_secs(10), |l| alert_by(l, d, CLIENT)),
            "{d} did not flag the nmap scan:\n{}",
            live.text()
        );
    }

    // SIGTERM: a clean stop, the report printed, the device gone.
    let st = live.terminate();
    let text = live.text();
    assert!(st.success(), "exit {st}:\n{text}");
    assert!(text.contains("stopped by SIGTERM"), "{text}");
    assert!(
        text.contains(&format!("TUN device {dev} removed")),
        "{text}"
    );
    assert!(text.contains("Verdicts:"), "no report:\n{text}");
    assert!(
        !ns.has_link(&dev) && !has_link_here(&dev),
        "device left behind"
    );
    // The capture is complete and clean: the curl connection's SYN and the
    // nmap probes, every frame labelled `external`.
    let got = frames(&pcap);
    let segs: Vec<Seg> = got.iter().filter_map(|(_, b)| seg(b)).collect();
    let probes = segs
        .iter()
        .filter(|s| s.src == CLIENT && s.flags == 0x02)
        .count();
    assert!(probes >= 201, "1 curl SYN + 200 nmap probes, saw {probes}");
    let labels = std::fs::read_to_string(pcap.with_extension("labels.jsonl")).unwrap();
    assert_eq!(labels.lines().count(), got.len());
    assert!(labels.lines().all(|l| l.contains(r#""cause":"external""#)));
}

#[test]
fn a_real_kernel_answers_the_misconfigured_balancers_syn_ack_with_rst() {
    const TEST: &str = "a_real_kernel_answers_the_misconfigured_balancers_syn_ack_with_rst";
    let Some(ns) = root_namespace(TEST, &["curl", "kill"], "lb") else {
        return;
    };
    let dev = format!("sblvb{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("lb.pcap");
    let lb = example("balancer.toml");
    // scanbench moves and configures the device itself (--netns).
    let mut live = Running::ready(
        &[
            lb.to_str().unwrap(),
            "--tun",
            &dev,
            "--netns",
            &ns.name,
            "--duration",
            "60s",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        70,
    );
    assert!(ns.has_link(&dev), "the device is in the namespace");
    // The VIP never answers from its own address: curl times out (28).
    let o = ns.exec(
        &["curl", "-sS", "--max-time", "3", &format!("http://{VIP}/")],
        10,
    );
    assert_eq!(o.status.code(), Some(28), "curl: {}", stderr_of(&o));
    let st = live.terminate();
    assert!(st.success(), "exit {st}:\n{}", live.text());
    assert!(!ns.has_link(&dev), "device left behind");

    let got = frames(&pcap);
    let segs: Vec<Seg> = got.iter().filter_map(|(_, b)| seg(b)).collect();
    let syn = segs
        .iter()
        .find(|s| s.src == CLIENT && s.dst == VIP && s.dport == 80 && s.flags == 0x02)
        .expect("the kernel's SYN to the VIP");
    let syn_ack = segs
        .iter()
        .find(|s| {
            BACKENDS.contains(&s.src)
                && s.sport == 80
                && s.dst == CLIENT
                && s.dport == syn.sport
                && s.flags == 0x12
        })
        .unwrap_or_else(|| panic!("no SYN-ACK from a backend's own address: {segs:?}"));
    assert_eq!(syn_ack.ack, syn.seq.wrapping_add(1), "it answers that SYN");
    let rst = segs
        .iter()
        .find(|s| {
            s.src == CLIENT
                && s.sport == syn.sport
                && s.dst == syn_ack.src
                && s.dport == 80
                && s.flags & 0x04 != 0
        })
        .unwrap_or_else(|| panic!("the kernel did not reset the SYN-ACK: {segs:?}"));
    // Linux's answer to a segment for no socket: a bare RST whose sequence
    // number is the SYN-ACK's acknowledgment (RFC 793 reset generation).
    assert_eq!(rst.flags, 0x04, "a bare RST: {rst:?}");
    assert_eq!(rst.seq, syn_ack.ack);
    // Ground truth: from the balancer on, it is the misconfiguration's doing.
    let labels = std::fs::read_to_string(pcap.with_extension("labels.jsonl")).unwrap();
    let label_of = |s: &Seg| {
        let i = segs.iter().position(|x| x == s).unwrap();
        labels.lines().nth(i).unwrap().to_string()
    };
    assert!(label_of(syn).contains(r#""cause":"external""#));
    for s in [syn_ack, rst] {
        assert!(
            label_of(s).contains(r#""cause":"balancer-misconfig""#),
            "{}",
            label_of(s)
        );
    }
}

/// Runs a `scanbench live` that must refuse at once; checks the message and
/// that neither the device nor the capture was left behind.
fn refused(args: &[&str], dev: &str, pcap: &Path, message: &str) {
    let mut full = vec!["live"];
    full.extend_from_slice(args);
    full.extend(["--tun", dev, "--pcap", pcap.to_str().unwrap()]);
    let mut cmd = vec![env!("CARGO_BIN_EXE_scanbench")];
    cmd.extend(full);
    let o = run(&cmd, 30);
    let e = stderr_of(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(message), "{e}");
    assert!(!pcap.exists(), "a capture file was left behind");
}

#[test]
fn a_taken_name_and_an_overlapping_route_are_refused() {
    const TEST: &str = "a_taken_name_and_an_overlapping_route_are_refused";
    if let Some(why) = root_unavailable(&[]) {
        skip(TEST, &why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("never.pcap");
    let web = example("web.toml");
    let web = web.to_str().unwrap();
    // `lo` exists in every namespace.
    refused(
        &[web],
        "lo",
        &pcap,
        "a network interface named `lo` already exists",
    );
    let ns = match Netns::create("ovl") {
        Ok(ns) => ns,
        Err(why) => {
            skip(TEST, &format!("cannot create a network namespace: {why}"));
            return;
        }
    };
    ok(
        &[
            "ip",
            "-n",
            &ns.name,
            "addr",
            "add",
            "203.0.113.1/24",
            "dev",
            "lo",
        ],
        10,
    )
    .unwrap();
    let dev = format!("sblvo{}", std::process::id());
    refused(
        &[web, "--netns", &ns.name, "--route", "203.0.113.0/25"],
        &dev,
        &pcap,
        "--route 203.0.113.0/25 overlaps the host's route ",
    );
    refused(
        &[web, "--netns", "sb-live-no-such-namespace"],
        &dev,
        &pcap,
        "no network namespace `sb-live-no-such-namespace`",
    );
    assert!(
        !ns.has_link(&dev) && !has_link_here(&dev),
        "device left behind"
    );
}

#[test]
fn without_dev_net_tun_live_mode_is_refused() {
    const TEST: &str = "without_dev_net_tun_live_mode_is_refused";
    if let Some(why) = root_unavailable(&["unshare", "mount"]) {
        skip(TEST, &why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("never.pcap");
    let web = example("web.toml");
    // A private mount namespace with an empty /dev/net: the host's stays.
    let o = run(
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tmpfs sbliveempty /dev/net && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_scanbench"),
            "live",
            web.to_str().unwrap(),
            "--tun",
            "sblvd0",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        30,
    );
    let e = stderr_of(&o);
    if e.contains("mount:") || e.contains("unshare:") {
        skip(
            TEST,
            &format!("cannot hide /dev/net/tun here: {}", e.trim()),
        );
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("no /dev/net/tun"), "{e}");
    assert!(!pcap.exists(), "a capture file was left behind");
    assert!(
        Path::new("/dev/net/tun").exists(),
        "the host's device is untouched"
    );
}
