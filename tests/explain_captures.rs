//! `scanbench explain` on captures made by real tools, without labels: it
//! must name the mechanism behind each source from the capture alone, and
//! never call the benign ones scans.
//!
//! Two captures made here, in network namespaces this test creates, plus the
//! three of `tests/real_captures.rs` (nmap `-sS`, nmap `-sT`, a curl poller):
//!
//! - **DNAT without SNAT** (`dnat-no-snat.pcap`): client 192.0.2.10 — edge
//!   router — balancer (iptables DNAT of the VIP 198.51.100.80:80 to the
//!   backend 198.51.100.11:80) — backend, whose return route goes straight
//!   back to the edge, bypassing the balancer's un-DNAT. curl opens 12
//!   parallel connections to the VIP; the backend's SYN-ACKs reach the client
//!   from 198.51.100.11, the client's kernel resets them and retransmits its
//!   SYNs. Captured on the edge's client-side interface. Expected reading:
//!   **wrong-source replies** from the backend.
//! - **conntrack -D** (`conntrack-lost-state.pcap`): client 192.0.2.10 —
//!   stateful firewall (iptables FORWARD: established allowed, new SYNs from
//!   inside allowed, INVALID dropped; `nf_conntrack_tcp_loose=0`, so a
//!   mid-stream packet is INVALID, as on a strict firewall) — web server
//!   198.51.100.2 (`python3 -m http.server`). curl downloads a 512 KiB file 12
//!   times in parallel at 1 KiB/s (client receive buffer 4 KiB, so the
//!   transfers are still running); 1.5 s in, `conntrack -D -p tcp` deletes
//!   the firewall's entries. The server's later segments and retransmissions
//!   are dropped as INVALID and never answered. Captured on the firewall's
//!   server-side interface (snaplen 128). Expected reading: **lost state** on
//!   the server.
//!
//! As in `tests/real_captures.rs`: the committed fixtures (`fixture_*`) are
//! always checked; fresh captures are made and checked the same way where
//! the machine allows (root, `ip netns add`, and `ip`, `tcpdump`, `curl`,
//! `python3`, `iptables`, `conntrack`, `timeout`, `kill`; `.ci/run` installs
//! them), else the test prints `SKIPPED <test>: <reason>` (`common::skip`). Namespaces are named
//! `sbx-<role>-<pid>`; every process runs under `timeout`, every loop is
//! bounded, and a guard kills what is left and deletes the namespaces, on
//! failure and panic too. Only 192.0.2.0/24, 198.51.100.0/24 and
//! 198.18.0.0/15 are used, with no route out.
//!
//! Environment: `SCANBENCH_NO_NETNS=1` skips the fresh captures;
//! `SCANBENCH_EXPLAIN_CAPTURES_OUT=<dir>` copies them into `<dir>` (how the
//! fixtures were made).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scanbench::detect::default_suite;
use scanbench::explain::infer::{Finding, SourceReading};
use scanbench::explain::{CaptureOptions, Explanation, Filters, explain_capture};

mod common;
use common::netns::{self, Namespaces, run};

const CLIENT: &str = "192.0.2.10";
const VIP: &str = "198.51.100.80";
const BACKEND: &str = "198.51.100.11";
const SERVER: &str = "198.51.100.2";
/// Parallel connections the client opens in both captures.
const CONNECTIONS: usize = 12;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real")
        .join(name)
}

fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Explains `path` without labels, reading every source.
fn explain(path: &Path) -> Explanation {
    let opts = CaptureOptions {
        specs: default_suite(),
        all_sources: true,
        ..CaptureOptions::default()
    };
    let (e, damage) = explain_capture(path, &opts, &Filters::default())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(damage.is_none(), "{}: {damage:?}", path.display());
    e
}

fn reading<'a>(e: &'a Explanation, source: &str) -> &'a SourceReading {
    e.sources
        .iter()
        .find(|r| r.source == addr(source))
        .unwrap_or_else(|| panic!("no reading of {source}: {:?}", e.sources))
}

/// No source of a benign capture reads as a scan, not even as a side finding.
fn no_scan_anywhere(label: &str, e: &Explanation) {
    for r in &e.sources {
        assert!(
            r.findings.iter().all(|f| !f.is_scan()),
            "{label}: {} read as a scan: {}",
            r.source,
            r.sentence()
        );
    }
}

// ---------------------------------------------------------------------------
// Assertions (shared by fresh captures and fixtures)
// ---------------------------------------------------------------------------

/// The backend's SYN-ACKs answer SYNs the client sent to the VIP.
fn check_dnat(label: &str, path: &Path) {
    let e = explain(path);
    let backend = reading(&e, BACKEND);
    eprintln!("{label}: {}", backend.sentence());
    match backend.mechanism() {
        Some(Finding::WrongSource {
            replies,
            client_ports,
            clients,
            asked,
            service_ports,
        }) => {
            assert!(*replies >= CONNECTIONS, "{label}: {replies} replies");
            assert_eq!(*client_ports, CONNECTIONS, "{label}");
            assert_eq!(clients.iter().collect::<Vec<_>>(), [&addr(CLIENT)]);
            assert_eq!(asked.iter().collect::<Vec<_>>(), [&addr(VIP)]);
            assert_eq!(service_ports.iter().collect::<Vec<_>>(), [&80]);
        }
        other => panic!("{label}: backend read as {other:?}"),
    }
    no_scan_anywhere(label, &e);
    // Whatever a detector blamed, the alert's packets are wrong-source replies.
    for a in &e.alerts {
        assert_eq!(a.alert.scanner, addr(BACKEND), "{label}: #{}", a.number);
        assert!(
            a.diagnosis
                .sentence
                .contains("replies from the wrong address"),
            "{label}: {}",
            a.diagnosis.sentence
        );
    }
}

/// The server's segments after the flush are late and never answered.
fn check_lost_state(label: &str, path: &Path) {
    let e = explain(path);
    let server = reading(&e, SERVER);
    eprintln!("{label}: {}", server.sentence());
    match server.mechanism() {
        Some(Finding::LostState {
            segments,
            connections,
            peers,
            service_ports,
            idle_min_us,
            ..
        }) => {
            assert!(*connections >= CONNECTIONS - 2, "{label}: {connections}");
            assert!(*segments >= *connections, "{label}: {segments}");
            assert_eq!(peers.iter().collect::<Vec<_>>(), [&addr(CLIENT)]);
            assert_eq!(service_ports.iter().collect::<Vec<_>>(), [&80]);
            assert!(*idle_min_us >= 1_000_000, "{label}: {idle_min_us}");
        }
        other => panic!("{label}: server read as {other:?}"),
    }
    no_scan_anywhere(label, &e);
}

/// The nmap scans read as probe patterns from the scanner; the target only answers.
fn check_nmap(label: &str, path: &Path) {
    let e = explain(path);
    let scanner = reading(&e, "198.51.100.1");
    match scanner.mechanism() {
        Some(Finding::Probe {
            targets, refused, ..
        }) => {
            assert_eq!(*targets, 1000, "{label}");
            assert!(*refused >= 990, "{label}: {refused}");
        }
        other => panic!("{label}: scanner read as {other:?}"),
    }
    assert!(
        !scanner.flagged_by.is_empty(),
        "{label}: scanner not flagged"
    );
    let target = reading(&e, "198.51.100.2");
    assert!(
        matches!(target.mechanism(), Some(Finding::Responder { .. })),
        "{label}: {}",
        target.sentence()
    );
    assert!(target.findings.iter().all(|f| !f.is_scan()));
}

#[test]
fn fixture_dnat_without_snat_reads_as_wrong_source_replies() {
    check_dnat("dnat fixture", &fixture("dnat-no-snat.pcap"));
    // And the default ScreenOS screen flags the backend for it (S1b).
    let e = explain(&fixture("dnat-no-snat.pcap"));
    assert!(
        reading(&e, BACKEND)
            .flagged_by
            .contains(&"screenos".to_string()),
        "{:?}",
        reading(&e, BACKEND).flagged_by
    );
}

#[test]
fn fixture_conntrack_flush_reads_as_lost_state() {
    check_lost_state("conntrack fixture", &fixture("conntrack-lost-state.pcap"));
}

#[test]
fn fixture_nmap_scans_read_as_probe_patterns() {
    check_nmap("nmap -sS", &fixture("nmap-syn.pcap"));
    check_nmap("nmap -sT", &fixture("nmap-connect.pcap"));
}

#[test]
fn fixture_curl_poller_reads_as_a_poller_not_a_scan() {
    let e = explain(&fixture("curl-poll.pcap"));
    let client = reading(&e, "198.51.100.1");
    match client.mechanism() {
        Some(Finding::Poller {
            starts,
            period_us,
            spread_us,
            ..
        }) => {
            assert_eq!(*starts, 6);
            assert!((900_000..1_200_000).contains(period_us), "{period_us}");
            assert!(*spread_us < 100_000, "{spread_us}");
        }
        other => panic!("curl poller read as {other:?}"),
    }
    no_scan_anywhere("curl poll", &e);
    assert!(e.alerts.is_empty());
}

/// `scanbench explain CAPTURE --source ADDR` reads a source no detector
/// flagged (the lost-state server: the IDSs rightly ignore its segments).
#[test]
fn fixture_cli_names_the_mechanism_of_one_source() {
    let o = Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .arg("explain")
        .arg(fixture("conntrack-lost-state.pcap"))
        .args(["--source", SERVER])
        .output()
        .expect("scanbench runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains(&format!("{SERVER} (not flagged): lost state:")),
        "{out}"
    );
    assert!(!out.contains("probe pattern"), "{out}");
}

// ---------------------------------------------------------------------------
// Fresh captures in network namespaces (when the machine allows)
// ---------------------------------------------------------------------------

fn ip(args: &[&str]) -> Result<(), String> {
    let mut full = vec!["ip"];
    full.extend_from_slice(args);
    run(&full, 10).map(|_| ())
}

/// A veth pair `a_if` in `a` and `b_if` in `b`, addressed and up.
fn link(
    a: &str,
    a_if: &str,
    a_addr: &str,
    b: &str,
    b_if: &str,
    b_addr: &str,
) -> Result<(), String> {
    ip(&[
        "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
    ])?;
    ip(&["-n", a, "addr", "add", a_addr, "dev", a_if])?;
    ip(&["-n", b, "addr", "add", b_addr, "dev", b_if])?;
    ip(&["-n", a, "link", "set", a_if, "up"])?;
    ip(&["-n", b, "link", "set", b_if, "up"])
}

fn sysctl(ns: &Namespaces, n: &str, kv: &str) -> Result<(), String> {
    ns.exec(n, &["sysctl", "-q", "-w", kv], 10).map(|_| ())
}

/// `curl` with `CONNECTIONS` parallel transfers of `url` and `extra` options.
fn parallel_curl(url: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "curl",
        "-sS",
        "-Z",
        "--parallel-immediate",
        "--parallel-max",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(CONNECTIONS.to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    for _ in 0..CONNECTIONS {
        a.extend(["-o".to_string(), "/dev/null".to_string(), url.to_string()]);
    }
    a
}

/// Client — edge — balancer (DNAT) — backend, backend's return route
/// straight to the edge. Captures on the edge's client side.
fn make_dnat(dir: &Path, file: &Path) -> Result<Result<(), String>, String> {
    let pid = std::process::id();
    let [c, e, l, b] = ["c", "e", "l", "b"].map(|r| format!("sbx-{r}-{pid}"));
    let mut ns = Namespaces::create(&[c.clone(), e.clone(), l.clone(), b.clone()])?;
    for n in [&c, &e, &l, &b] {
        for key in ["all", "default"] {
            sysctl(&ns, n, &format!("net.ipv4.conf.{key}.rp_filter=0"))?;
        }
    }
    link(&c, "c0", "192.0.2.10/24", &e, "e0", "192.0.2.1/24")?;
    link(&e, "e1", "198.18.0.1/30", &l, "l0", "198.18.0.2/30")?;
    link(&l, "l1", "198.18.1.1/30", &b, "b0", "198.18.1.2/30")?;
    link(&b, "b1", "198.18.2.2/30", &e, "e2", "198.18.2.1/30")?;
    ip(&["-n", &c, "route", "add", "default", "via", "192.0.2.1"])?;
    ip(&[
        "-n",
        &e,
        "route",
        "add",
        &format!("{VIP}/32"),
        "via",
        "198.18.0.2",
    ])?;
    ip(&[
        "-n",
        &e,
        "route",
        "add",
        &format!("{BACKEND}/32"),
        "via",
        "198.18.2.2",
    ])?;
    ip(&["-n", &l, "addr", "add", &format!("{VIP}/32"), "dev", "lo"])?;
    ip(&[
        "-n",
        &l,
        "route",
        "add",
        &format!("{BACKEND}/32"),
        "via",
        "198.18.1.2",
    ])?;
    ip(&[
        "-n",
        &l,
        "route",
        "add",
        "192.0.2.0/24",
        "via",
        "198.18.0.1",
    ])?;
    ip(&[
        "-n",
        &b,
        "addr",
        "add",
        &format!("{BACKEND}/32"),
        "dev",
        "lo",
    ])?;
    ip(&["-n", &b, "route", "add", "default", "via", "198.18.2.1"])?;
    for n in [&e, &l] {
        sysctl(&ns, n, "net.ipv4.ip_forward=1")?;
    }
    // The balancer's misconfiguration: DNAT to the backend, no SNAT.
    ns.exec(
        &l,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-d",
            VIP,
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "DNAT",
            "--to-destination",
            "198.51.100.11:80",
        ],
        10,
    )?;
    let www = netns::web_root(dir, &[])?;
    ns.http_server(&b, BACKEND, 80, &www, 60)?;
    // The backend answers when contacted directly (not captured).
    ns.wait_http(&c, &format!("http://{BACKEND}/"))?;
    let curl = parallel_curl(
        &format!("http://{VIP}/"),
        &["--connect-timeout", "4", "--max-time", "5"],
    );
    let args: Vec<&str> = curl.iter().map(String::as_str).collect();
    Ok(ns.capture(&e, "e0", file, None, || {
        // Every connection times out: the client never gets an answer it
        // can use. curl's own failure is the expected outcome.
        let _ = ns.exec(&c, &args, 10);
    }))
}

/// Client — stateful firewall — web server; the firewall's state flushed
/// mid-transfer. Captures on the firewall's server side.
fn make_lost_state(dir: &Path, file: &Path) -> Result<Result<(), String>, String> {
    let pid = std::process::id();
    let [c, f, s] = ["c", "f", "s"].map(|r| format!("sbx-{r}-{pid}"));
    let mut ns = Namespaces::create(&[c.clone(), f.clone(), s.clone()])?;
    // A small receive buffer keeps the slow transfers running.
    sysctl(&ns, &c, "net.ipv4.tcp_rmem=4096 4096 4096")?;
    link(&c, "c0", "192.0.2.10/24", &f, "f0", "192.0.2.1/24")?;
    link(&f, "f1", "198.51.100.1/24", &s, "s0", "198.51.100.2/24")?;
    ip(&["-n", &c, "route", "add", "default", "via", "192.0.2.1"])?;
    ip(&["-n", &s, "route", "add", "default", "via", "198.51.100.1"])?;
    sysctl(&ns, &f, "net.ipv4.ip_forward=1")?;
    for rule in [
        vec!["-P", "FORWARD", "DROP"],
        vec![
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ],
        vec![
            "-A",
            "FORWARD",
            "-i",
            "f0",
            "-p",
            "tcp",
            "--syn",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "ACCEPT",
        ],
        vec![
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "INVALID",
            "-j",
            "DROP",
        ],
    ] {
        let mut a = vec!["iptables"];
        a.extend(rule);
        ns.exec(&f, &a, 10)?;
    }
    // Strict TCP tracking: a mid-stream packet with no entry is INVALID.
    sysctl(&ns, &f, "net.netfilter.nf_conntrack_tcp_loose=0")?;
    let mail = vec![b'x'; 512 * 1024];
    let www = netns::web_root(dir, &[("mail.txt", &mail)])?;
    ns.http_server(&s, SERVER, 80, &www, 60)?;
    ns.wait_http(&c, &format!("http://{SERVER}/"))?;
    let curl = parallel_curl(
        &format!("http://{SERVER}/mail.txt"),
        &["--limit-rate", "1k", "--max-time", "6"],
    );
    let args: Vec<&str> = curl.iter().map(String::as_str).collect();
    let result = ns.capture(&f, "f1", file, Some(128), || {
        std::thread::scope(|scope| {
            // The transfers stall after the flush and time out: expected.
            scope.spawn(|| ns.exec(&c, &args, 12));
            std::thread::sleep(Duration::from_millis(1500));
            let flushed = ns.exec(&f, &["conntrack", "-D", "-p", "tcp"], 10);
            assert!(flushed.is_ok(), "conntrack -D: {flushed:?}");
        });
    });
    Ok(result)
}

#[test]
fn live_captures_from_network_namespaces() {
    if std::env::var_os("SCANBENCH_NO_NETNS").is_some_and(|v| !v.is_empty() && v != "0") {
        common::skip(
            "live_captures_from_network_namespaces",
            "SCANBENCH_NO_NETNS is set (the fixture_* tests still run)",
        );
        return;
    }
    let tools = [
        "ip",
        "tcpdump",
        "curl",
        "python3",
        "iptables",
        "conntrack",
        "timeout",
        "kill",
    ];
    if let Err(why) = netns::tools_present(&tools) {
        common::skip(
            "live_captures_from_network_namespaces",
            &format!("{why} (the fixture_* tests still run)"),
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dnat = dir.path().join("dnat-no-snat.pcap");
    let lost = dir.path().join("conntrack-lost-state.pcap");
    let mut lossy = Vec::new();
    for (name, made) in [
        ("DNAT without SNAT", make_dnat(dir.path(), &dnat)),
        ("conntrack -D", make_lost_state(dir.path(), &lost)),
    ] {
        match made {
            Err(why) => {
                common::skip(
                    "live_captures_from_network_namespaces",
                    &format!(
                        "cannot build the {name} namespaces: {why} (the fixture_* tests still run)"
                    ),
                );
                return;
            }
            Ok(Err(lost_packets)) => lossy.push(lost_packets),
            Ok(Ok(())) => {}
        }
    }
    if !lossy.is_empty() {
        common::skip(
            "live_captures_from_network_namespaces",
            &format!(
                "the machine dropped captured packets ({}); the fixture_* tests still run",
                lossy.join(" / ")
            ),
        );
        return;
    }
    if let Some(out) = std::env::var_os("SCANBENCH_EXPLAIN_CAPTURES_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        for f in [&dnat, &lost] {
            std::fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
        }
        eprintln!("copied the captures to {}", out.display());
    }
    check_dnat("fresh dnat", &dnat);
    check_lost_state("fresh conntrack", &lost);
}
