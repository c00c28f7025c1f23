//! Replay of captures made by real tools: nmap and curl, not the simulator.
//!
//! Two sources of captures, checked by the same assertions:
//!
//! - **Fresh** (`live_captures_from_network_namespaces`): when the machine
//!   allows (root, `ip netns add` works, and `ip`, `tcpdump`, `nmap`, `curl`,
//!   `python3`, `timeout` and `kill` are installed; `.ci/run` installs them),
//!   the test creates two network namespaces (`sb-scan-<pid>`,
//!   `sb-target-<pid>`) joined by a veth pair with the documentation addresses
//!   198.51.100.1 (scanner) and 198.51.100.2 (target), starts two HTTP servers
//!   (`python3 -m http.server`, ports 80 and 443) in the target namespace, and
//!   captures with `tcpdump` on the target's interface: `nmap -sS`, `nmap -sT`
//!   (ports 1-1000, `-T4 -Pn -n`) and a curl polling loop (6 polls 1 s apart;
//!   the real webmail poller polls every 10-15 min, but the detectors' default
//!   windows see 6 polls seconds apart as more suspicious, not less). Nothing
//!   leaves the machine: the namespaces have no route out and no link to the
//!   host's. Every process runs under `timeout`, every loop is bounded, and a
//!   `Drop` guard kills every process left in the namespaces and deletes them,
//!   on failure and panic too. Where the machine does not allow it, the test
//!   prints `SKIPPED <test>: <reason>` (through `common::skip`,
//!   so it shows in normal `cargo test` output) and passes.
//! - **Committed fixtures** (`fixture_*`, always run): the same three
//!   captures, made by this harness, in `tests/fixtures/real/`, with their
//!   provenance (commands, tool versions, sha256) in `PROVENANCE.md` there. So
//!   the assertions always run, whatever the machine.
//!
//! Assertions: the nmap SYN scan and connect scan are each flagged by scanlogd
//! and sfPortscan, blaming the scanner address; the curl polling loop is
//! flagged by no wire detector of `default_suite()`; and `scanbench replay`
//! exits 0 and names the scanner on each nmap capture.
//!
//! Environment:
//! - `SCANBENCH_NO_NETNS=1` skips the fresh captures as if the machine did not
//!   allow them (to exercise the fixture-only path).
//! - `SCANBENCH_REAL_CAPTURES_OUT=<dir>` copies the fresh captures into `<dir>`
//!   (how `tests/fixtures/real/` was made).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use scanbench::capture::CaptureReader;
use scanbench::detect::{DetectorSet, default_suite};
use scanbench_detector::Vantage;

mod common;
use common::netns::{self, Namespaces, run};

/// The scanning (and polling) host.
const SCANNER: &str = "198.51.100.1";
/// The scanned host, serving HTTP on [`OPEN_PORTS`].
const TARGET: &str = "198.51.100.2";
/// Ports the target listens on (both in nmap's 1-1000 range).
const OPEN_PORTS: [u16; 2] = [80, 443];
/// Polls in the curl loop, and the pause between them.
const POLLS: usize = 6;
const POLL_GAP: Duration = Duration::from_secs(1);
/// Upper bound for the whole curl loop.
const POLL_BUDGET: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real")
        .join(name)
}

// ---------------------------------------------------------------------------
// Assertions (shared by fresh captures and fixtures)
// ---------------------------------------------------------------------------

/// Replays `path` on the wire vantage through `specs`, as `scanbench replay`
/// does.
fn replay(path: &Path, specs: &[String]) -> DetectorSet {
    let mut set = DetectorSet::new(specs).expect("detectors build");
    let mut reader = CaptureReader::open(path).expect("capture opens");
    let mut last = smoltcp::time::Instant::ZERO;
    let mut frames = 0u64;
    while let Some(r) = reader.next_frame() {
        let f = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        last = f.at();
        frames += 1;
        set.observe(Vantage::Wire, f.at(), f.index, &f.bytes);
    }
    set.finish(last);
    assert!(frames > 0, "{}: no IPv4 frames", path.display());
    assert_eq!(
        set.malformed,
        0,
        "{}: malformed IPv4 frames",
        path.display()
    );
    set
}

/// Alert count per detector, for the test log.
fn summary(label: &str, set: &DetectorSet) {
    let counts: Vec<String> = set
        .specs
        .iter()
        .zip(&set.alerts)
        .map(|(s, a)| format!("{s}={}", a.len()))
        .collect();
    eprintln!("{label}: {}", counts.join(" "));
}

fn alerts_blaming(set: &DetectorSet, i: usize, who: &str) -> usize {
    set.alerts[i]
        .iter()
        .filter(|a| a.scanner.to_string() == who)
        .count()
}

fn specs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Both scans: scanlogd and sfPortscan each blame the scanner, and nobody
/// blames the target (whose RSTs and SYN-ACKs answer the scan).
fn check_scan(label: &str, path: &Path) {
    let set = replay(path, &specs(&["scanlogd", "sfportscan"]));
    summary(label, &set);
    for (i, spec) in set.specs.iter().enumerate() {
        assert!(
            alerts_blaming(&set, i, SCANNER) >= 1,
            "{label}: {spec} did not flag {SCANNER}: {:?}",
            set.alerts[i]
        );
        assert_eq!(
            alerts_blaming(&set, i, TARGET),
            0,
            "{label}: {spec} blamed the target: {:?}",
            set.alerts[i]
        );
    }
}

/// `nmap -sS`: half-open SYNs from a raw socket to 1000 ports in well under a
/// second. scanlogd's weight reaches 21 after the first 7 privileged ports;
/// sfPortscan (low) sees 5+ RSTs from the target across 5+ port changes.
fn check_nmap_syn(path: &Path) {
    check_scan("nmap -sS", path);
}

/// `nmap -sT`: the same probes made by the kernel's `connect()`. Both flag it.
/// scanlogd only counts new destination ports on packets without ACK/RST, so
/// it sees exactly what it sees in a SYN scan (one SYN per port; the kernel's
/// SYN carries more options, which scanlogd does not read); the difference
/// between the scans is after the target's SYN-ACK on an open port (a full
/// handshake, then nmap's RST, instead of the scanner kernel's bare RST), on a
/// port scanlogd already holds, so only its flags summary changes.
/// sfPortscan counts the completed handshakes (C-1 each) but decides on the
/// target's RSTs from the 998 closed ports, as for the SYN scan.
fn check_nmap_connect(path: &Path) {
    check_scan("nmap -sT", path);
}

/// The curl polling loop: a handful of complete HTTP exchanges with one open
/// port. No detector that reads the wire raises anything in its default
/// configuration (drop-log detectors, psad, are not fed wire frames and are
/// left out of the assertion).
fn check_curl_poll(path: &Path) {
    let set = replay(path, &default_suite());
    summary("curl poll", &set);
    let mut checked = 0;
    for (i, spec) in set.specs.iter().enumerate() {
        if set.vantage(i) != Vantage::Wire {
            continue;
        }
        checked += 1;
        assert!(
            set.alerts[i].is_empty(),
            "curl poll: {spec} raised {:?}",
            set.alerts[i]
        );
    }
    assert!(checked >= 8, "only {checked} wire detectors in the suite");
    // It really is a polling loop: one SYN per poll from the scanner.
    let syns = count_client_syns(path);
    assert!(
        (POLLS - 1..=POLLS + 1).contains(&syns),
        "expected about {POLLS} polls, saw {syns} client SYNs"
    );
}

/// SYNs (without ACK) from [`SCANNER`] in the capture.
fn count_client_syns(path: &Path) -> usize {
    let scanner: [u8; 4] = SCANNER.parse::<std::net::Ipv4Addr>().unwrap().octets();
    let mut reader = CaptureReader::open(path).unwrap();
    let mut n = 0;
    while let Some(r) = reader.next_frame() {
        let b = r.unwrap().bytes;
        if b.len() < 20 || b[9] != 6 || b[12..16] != scanner {
            continue;
        }
        let ihl = usize::from(b[0] & 0x0f) * 4;
        if let Some(&flags) = b.get(ihl + 13)
            && flags & 0x12 == 0x02
        {
            n += 1;
        }
    }
    n
}

/// `scanbench replay FILE --detectors scanlogd+sfportscan` exits 0 and names
/// the scanner (only those two facts, so the output format may change).
fn check_cli(path: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .arg("replay")
        .arg(path)
        .args(["--detectors", "scanlogd+sfportscan"])
        .output()
        .expect("scanbench runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "replay {} failed: {out}{}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(SCANNER),
        "replay {} does not name {SCANNER}: {out}",
        path.display()
    );
}

// ---------------------------------------------------------------------------
// Committed fixtures (always run)
// ---------------------------------------------------------------------------

#[test]
fn fixture_nmap_syn_scan_is_flagged_by_scanlogd_and_sfportscan() {
    check_nmap_syn(&fixture("nmap-syn.pcap"));
}

#[test]
fn fixture_nmap_connect_scan_is_flagged_by_scanlogd_and_sfportscan() {
    check_nmap_connect(&fixture("nmap-connect.pcap"));
}

#[test]
fn fixture_curl_polling_loop_is_flagged_by_no_detector() {
    check_curl_poll(&fixture("curl-poll.pcap"));
}

#[test]
fn fixture_cli_replay_names_the_scanner() {
    check_cli(&fixture("nmap-syn.pcap"));
    check_cli(&fixture("nmap-connect.pcap"));
}

// ---------------------------------------------------------------------------
// Fresh captures in network namespaces (when the machine allows)
// ---------------------------------------------------------------------------

#[test]
fn live_captures_from_network_namespaces() {
    if std::env::var_os("SCANBENCH_NO_NETNS").is_some_and(|v| !v.is_empty() && v != "0") {
        common::skip(
            "live_captures_from_network_namespaces",
            "SCANBENCH_NO_NETNS is set (the fixture_* tests still run)",
        );
        return;
    }
    if let Err(why) = tools_present() {
        common::skip(
            "live_captures_from_network_namespaces",
            &format!("{why} (the fixture_* tests still run)"),
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let net = match Netns::create(dir.path()) {
        Ok(n) => n,
        Err(why) => {
            common::skip(
                "live_captures_from_network_namespaces",
                &format!("cannot build network namespaces: {why} (the fixture_* tests still run)"),
            );
            return;
        }
    };
    let started = Instant::now();
    let syn = dir.path().join("nmap-syn.pcap");
    let connect = dir.path().join("nmap-connect.pcap");
    let poll = dir.path().join("curl-poll.pcap");
    let nmap = |kind: &str| {
        let o = net.exec_scanner(
            &["nmap", kind, "-Pn", "-n", "-T4", "-p", "1-1000", TARGET],
            30,
        );
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        for p in OPEN_PORTS {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{p}/tcp "))
                    && l.split_whitespace().nth(1) == Some("open")),
                "nmap {kind}: {text}"
            );
        }
    };
    let mut lossy = Vec::new();
    lossy.extend(net.capture(&syn, || nmap("-sS")).err());
    lossy.extend(net.capture(&connect, || nmap("-sT")).err());
    let polled = net.capture(&poll, || {
        let t0 = Instant::now();
        for i in 0..POLLS {
            if i > 0 {
                std::thread::sleep(POLL_GAP);
            }
            assert!(t0.elapsed() < POLL_BUDGET, "curl loop over budget");
            let url = format!("http://{TARGET}:{}/", OPEN_PORTS[0]);
            let o = net.exec_scanner(
                &["curl", "-sS", "-o", "/dev/null", "--max-time", "2", &url],
                5,
            );
            assert!(o.status.success(), "curl poll {i} failed");
        }
    });
    lossy.extend(polled.err());
    drop(net);
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
    eprintln!(
        "made fresh captures in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    if let Some(out) = std::env::var_os("SCANBENCH_REAL_CAPTURES_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        for f in [&syn, &connect, &poll] {
            std::fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
        }
        eprintln!("copied the captures to {}", out.display());
    }

    check_nmap_syn(&syn);
    check_nmap_connect(&connect);
    check_curl_poll(&poll);
    check_cli(&syn);
    check_cli(&connect);
}

/// Root and every tool the harness runs.
fn tools_present() -> Result<(), String> {
    netns::tools_present(&[
        "ip", "tcpdump", "nmap", "curl", "python3", "timeout", "kill",
    ])
}

/// Two namespaces joined by a veth pair, HTTP servers in the target. Dropping
/// it kills every process in both namespaces and deletes them.
struct Netns {
    scan: String,
    target: String,
    ns: Namespaces,
}

impl Netns {
    fn create(dir: &Path) -> Result<Netns, String> {
        let pid = std::process::id();
        let (scan, target) = (format!("sb-scan-{pid}"), format!("sb-target-{pid}"));
        let mut ns = Namespaces::create(&[scan.clone(), target.clone()])?;
        let (s, t) = (scan.as_str(), target.as_str());
        run(
            &[
                "ip", "-n", s, "link", "add", "vscan", "type", "veth", "peer", "name", "vtgt",
                "netns", t,
            ],
            10,
        )?;
        run(
            &[
                "ip",
                "-n",
                s,
                "addr",
                "add",
                &format!("{SCANNER}/24"),
                "dev",
                "vscan",
            ],
            10,
        )?;
        run(
            &[
                "ip",
                "-n",
                t,
                "addr",
                "add",
                &format!("{TARGET}/24"),
                "dev",
                "vtgt",
            ],
            10,
        )?;
        run(&["ip", "-n", s, "link", "set", "vscan", "up"], 10)?;
        run(&["ip", "-n", t, "link", "set", "vtgt", "up"], 10)?;

        let www = netns::web_root(dir, &[])?;
        for port in OPEN_PORTS {
            ns.http_server(t, TARGET, port, &www, 60)?;
        }
        // Wait (bounded) until both servers answer; before any capture starts.
        for port in OPEN_PORTS {
            ns.wait_http(s, &format!("http://{TARGET}:{port}/"))?;
        }
        Ok(Netns { scan, target, ns })
    }

    /// Runs a command in the scanner namespace under `timeout`; panics if it
    /// cannot be run at all (the machine allowed the namespaces, so a failure
    /// here is a real failure).
    fn exec_scanner(&self, args: &[&str], secs: u64) -> Output {
        self.ns
            .exec(&self.scan, args, secs)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Captures the target's interface into `file` while `traffic` runs.
    fn capture(&self, file: &Path, traffic: impl FnOnce()) -> Result<(), String> {
        self.ns.capture(&self.target, "vtgt", file, None, traffic)
    }
}
