//! Subcommand implementations. `anyhow` lives only here, at the binary's edge.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::capture::CaptureReader;
use scanbench::detect::{DetectorSet, Truth, default_suite, score};
use scanbench::simulate::{Outputs, RunSummary, TapObserver};
use scanbench::{Scenario, simulate};
use scanbench_detector::registry;
use scanbench_detector::{Instant, PacketView, Vantage};
use scanbench_sim::Frame;
use scanbench_sim::pcap::PcapFormat;

/// `scanbench run`.
#[derive(Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: `scenarios/`).
    paths: Vec<PathBuf>,
    /// Write the capture here (per tap: `NAME.<tap>.pcap` when there are several).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write labels (JSON lines) here; default: next to the capture.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Write captures and labels for every scenario into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write pcapng with per-packet label comments instead of classic pcap.
    #[arg(long)]
    pcapng: bool,
    /// Nanosecond timestamps (classic pcap).
    #[arg(long)]
    nanos: bool,
    /// Detectors, comma-separated specs joined by `+`, e.g.
    /// `scanlogd+sfportscan:sense_level=medium` (default: every detector and variant).
    #[arg(long)]
    detectors: Option<String>,
    /// Skip detectors: simulate and write captures only.
    #[arg(long)]
    no_detectors: bool,
    /// Print per-tap and per-app details for each scenario.
    #[arg(long, short)]
    verbose: bool,
}

/// `scanbench replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// A pcap or pcapng file.
    file: PathBuf,
    /// Detectors (as for `run`).
    #[arg(long)]
    detectors: Option<String>,
    /// Treat the capture as a firewall drop log (what psad reads).
    #[arg(long)]
    drop_log: bool,
}

/// `scanbench list`.
#[derive(Args)]
pub struct ListArgs {
    /// Scenario directory to list (default: `scenarios/`).
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
}

/// `scanbench bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which workload: `scan`, `bulk`, `pollers`, `detectors`, or `all`.
    #[arg(default_value = "all")]
    workload: String,
    /// Clients for the `pollers` workload (repeatable list, comma-separated).
    #[arg(long, default_value = "100,1000,10000")]
    clients: String,
}

fn detector_specs(arg: &Option<String>) -> Vec<String> {
    match arg {
        Some(s) => s
            .split('+')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        None => default_suite(),
    }
}

/// Short column header: `screenos:count_mode=syn-only` -> `screenos[syn-only]`.
fn short(spec: &str) -> String {
    match spec.split_once(':') {
        None => spec.to_string(),
        Some((name, rest)) => {
            let vals: Vec<&str> = rest
                .split(',')
                .map(|kv| kv.split_once('=').map_or(kv, |(_, v)| v))
                .collect();
            format!("{name}[{}]", vals.join(","))
        }
    }
}

struct Observer<'a> {
    set: Option<&'a mut DetectorSet>,
    sensor: Option<usize>,
    drop_log: Option<usize>,
    frames: Vec<u64>,
    truth: Truth,
    scanners: std::collections::BTreeSet<std::net::Ipv4Addr>,
}

impl TapObserver for Observer<'_> {
    fn frame(&mut self, tap: usize, f: &Frame<'_>) {
        if self.frames.len() <= tap {
            self.frames.resize(tap + 1, 0);
        }
        let n = self.frames[tap];
        self.frames[tap] += 1;
        let vantage = if Some(tap) == self.sensor {
            Vantage::Wire
        } else if Some(tap) == self.drop_log {
            Vantage::DropLog
        } else {
            return;
        };
        if vantage == Vantage::Wire
            && let Ok(v) = PacketView::parse(n, f.bytes)
        {
            self.truth.sources.insert(v.src);
            if self.scanners.contains(&v.src) {
                self.truth.scan_start.entry(v.src).or_insert(f.at);
            }
        }
        if let Some(set) = self.set.as_deref_mut() {
            set.observe(vantage, f.at, n, f.bytes);
        }
    }
}

/// `scanbench run`.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        a.paths.clone()
    };
    let files = crate::scenario_files(&paths)?;
    if files.is_empty() {
        bail!(
            "no scenario files (*.toml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if a.pcap.is_some() && files.len() > 1 {
        bail!("--pcap names one capture; with several scenarios use --out DIR");
    }
    let format = if a.pcapng {
        PcapFormat::Pcapng
    } else {
        PcapFormat::Pcap { nanos: a.nanos }
    };
    let specs = detector_specs(&a.detectors);
    // Validate detector specs before simulating anything.
    if !a.no_detectors {
        DetectorSet::new(&specs)?;
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for file in &files {
        let sc = Scenario::load(file)?;
        let seed = a.seed.unwrap_or(sc.seed);
        let pcap = match (&a.pcap, &a.out) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(dir)) => Some(dir.join(format!("{}.{}", sc.name, format.extension()))),
            _ => None,
        };
        let outputs = Outputs {
            pcap,
            labels: a.labels.clone(),
            format,
        };
        let mut set = if a.no_detectors {
            None
        } else {
            Some(DetectorSet::new(&specs)?)
        };
        let built = sc.build(seed)?;
        let mut obs = Observer {
            set: set.as_mut(),
            sensor: built.sensor,
            drop_log: built.drop_log_sensor,
            frames: Vec::new(),
            truth: Truth {
                scanners: sc.malicious_addrs(),
                ..Truth::default()
            },
            scanners: sc.malicious_addrs(),
        };
        drop(built);
        let started = WallClock::now();
        let summary = simulate(&sc, seed, &outputs, &mut obs)?;
        let wall = started.elapsed();
        let truth = obs.truth.clone();
        print_summary(&summary, wall, a.verbose || files.len() == 1);
        if let Some(set) = set.as_mut() {
            set.finish(Instant::ZERO + sc.duration);
            let cells = (0..specs.len())
                .map(|i| {
                    let s = score(&set.alerts[i], &truth);
                    if s.alerts == 0 {
                        "-".to_string()
                    } else {
                        format!("{} {}/{}", s.alerts, s.tp, s.fp)
                    }
                })
                .collect();
            rows.push((sc.name.clone(), cells));
            if files.len() == 1 {
                print_alerts(set);
            }
        }
    }
    if !a.no_detectors {
        print_table(&specs, &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &RunSummary, wall: std::time::Duration, verbose: bool) {
    let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
    println!(
        "{}: seed {}, {} simulated, {} frames on {} tap(s), {} packets sent, {:.2} s wall",
        s.scenario,
        s.seed,
        fmt_duration(s.duration.total_micros()),
        frames,
        s.taps.len(),
        s.fabric.sent,
        wall.as_secs_f64()
    );
    if !verbose {
        return;
    }
    for t in &s.taps {
        let causes: Vec<String> = t
            .by_cause
            .iter()
            .map(|((c, k), n)| format!("{k} ({c}) {n}"))
            .collect();
        println!(
            "  tap {}: {} frames: {}",
            t.name,
            t.frames,
            causes.join(", ")
        );
        for f in &t.files {
            println!("    wrote {}", f.display());
        }
    }
    for (node, kind, stats) in &s.apps {
        let st: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  {node} {kind}: {}", st.join(" "));
    }
}

fn fmt_duration(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{s:.1} s")
    }
}

fn print_alerts(set: &DetectorSet) {
    for (i, alerts) in set.alerts.iter().enumerate() {
        for al in alerts.iter().take(5) {
            println!(
                "  [{}] t={:.6}s {} {} -> {}: {}",
                short(&set.specs[i]),
                al.time.total_micros() as f64 / 1e6,
                al.kind,
                al.scanner,
                al.victim
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "*".into()),
                al.evidence.log_line
            );
        }
        if alerts.len() > 5 {
            println!(
                "  [{}] ... {} more alerts",
                short(&set.specs[i]),
                alerts.len() - 5
            );
        }
    }
}

fn print_table(specs: &[String], rows: &[(String, Vec<String>)]) {
    println!();
    println!(
        "Verdicts: cell = alerts TP/FP (flagged source addresses that are / are not scanners); - = no alert"
    );
    let headers: Vec<String> = specs.iter().map(|s| short(s)).collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(8).max(8);
    print!("{:<w0$}", "scenario");
    for h in &headers {
        print!(" | {h}");
    }
    println!();
    for (name, cells) in rows {
        print!("{name:<w0$}");
        for (c, h) in cells.iter().zip(&headers) {
            print!(" | {c:>w$}", w = h.len());
        }
        println!();
    }
}

/// `scanbench replay`.
pub fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let specs = detector_specs(&a.detectors);
    let mut set = DetectorSet::new(&specs)?;
    let mut reader = CaptureReader::open(&a.file)?;
    let vantage = if a.drop_log {
        Vantage::DropLog
    } else {
        Vantage::Wire
    };
    let mut last = Instant::ZERO;
    let mut failure = None;
    while let Some(r) = reader.next_frame() {
        match r {
            Ok(f) => {
                last = f.at();
                set.observe(vantage, f.at(), f.index, &f.bytes);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    set.finish(last);
    let st = reader.stats();
    println!("{}: {:?}", a.file.display(), st);
    print_alerts(&set);
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for (i, al) in set.alerts.iter().enumerate() {
        by.insert(short(&set.specs[i]), al.len());
    }
    for (k, v) in by {
        println!("{k}: {v} alert(s)");
    }
    if let Some(e) = failure {
        eprintln!("error: {e} (alerts above come from the frames before the damage)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `scanbench list`.
pub fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    println!("Scenarios ({}):", a.scenarios.display());
    if a.scenarios.is_dir() {
        for f in crate::scenario_files(std::slice::from_ref(&a.scenarios))? {
            match Scenario::load(&f) {
                Ok(sc) => println!(
                    "  {:<32} {}",
                    sc.name,
                    sc.description.lines().next().unwrap_or("")
                ),
                Err(e) => println!("  {:<32} INVALID: {e}", f.display()),
            }
        }
    }
    println!("\nApplications (scenario tables):");
    for (k, d) in [
        (
            "web-server",
            "serves HTTP on ports (pool of listening smoltcp sockets)",
        ),
        (
            "http-client",
            "one request (or `parallel` connections) at a time",
        ),
        ("poller", "periodic request, `every = \"10m..15m\"`"),
        (
            "syn-scan",
            "nmap -sS-style raw SYN scan, timing T0..T5, ports incl. top1000",
        ),
        ("connect-scan", "nmap -sT-style connect scan"),
    ] {
        println!("  {k:<14} {d}");
    }
    println!("\nDetectors (name:param=value,...; defaults are upstream's):");
    for d in registry::DETECTORS {
        println!("  {:<12} {}", d.name, d.summary);
        for p in d.params {
            println!("      {:<28} = {:<14} {}", p.name, p.default, p.help);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `scanbench bench`.
pub fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    scanbench::bench::run(&a.workload, &a.clients)?;
    Ok(ExitCode::SUCCESS)
}
