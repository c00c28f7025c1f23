//! Subcommand implementations. `anyhow` lives only here, at the binary's edge.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::detect::{DetectorSet, default_suite};
use scanbench::evaluate::ScenarioRun;
use scanbench::labels::FrameLabels;
use scanbench::replay::{ReplayOptions, Replayed, replay_capture, replay_iptables_log};
use scanbench::report::short;
use scanbench::simulate::Outputs;
use scanbench::{Format, Report, RunSummary, Scenario, evaluate};
use scanbench_detector::{Cidr, Vantage, registry};
use scanbench_sim::pcap::PcapFormat;

/// Exit code when `--check` finds a scenario expectation violated.
pub const EXIT_EXPECTATION_FAILED: u8 = 3;

/// `scanbench run`.
#[derive(Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: `scenarios/`).
    paths: Vec<PathBuf>,
    /// Only these scenarios (comma-separated names; `*` matches any text).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Detectors: specs joined by `+`, e.g.
    /// `scanlogd+sfportscan:sense_level=medium` (default: every detector and variant).
    #[arg(long)]
    detectors: Option<String>,
    /// Override every scenario's seed (with --seeds: the first seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run each scenario with this many consecutive seeds and report mean and spread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write captures, labels and the report (report.json, report.csv,
    /// report.md) for every run into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the capture here (one scenario, one seed; per tap: `NAME.<tap>.pcap`).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write labels (JSON lines) here; default: next to the capture.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Write pcapng with per-packet label comments instead of classic pcap.
    #[arg(long)]
    pcapng: bool,
    /// Nanosecond timestamps (classic pcap).
    #[arg(long)]
    nanos: bool,
    /// Skip detectors: simulate and write captures only.
    #[arg(long)]
    no_detectors: bool,
    /// Check each scenario's `[[expect]]` claims; exit 3 if any fails.
    #[arg(long)]
    check: bool,
    /// Parallel runs (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Print per-tap and per-app details for each run.
    #[arg(long, short)]
    verbose: bool,
}

/// `scanbench replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// A pcap or pcapng file.
    #[arg(
        required_unless_present = "iptables_log",
        conflicts_with = "iptables_log"
    )]
    file: Option<PathBuf>,
    /// Read an iptables LOG file (kernel or ulogd text, as psad parses) as a
    /// firewall drop log instead of a capture.
    #[arg(long, value_name = "FILE")]
    iptables_log: Option<PathBuf>,
    /// The site's networks (CIDR, comma-separated), for detectors with a
    /// `home_net` parameter.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    home_net: Vec<Cidr>,
    /// Ground-truth labels (the JSON lines `run` writes); enables scoring.
    /// pcapng files written by `run --pcapng` carry their labels already.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// The scanners' addresses (comma-separated); default: the sources of
    /// packets the labels call malicious probes.
    #[arg(long, value_delimiter = ',', value_name = "ADDR")]
    scanners: Vec<Ipv4Addr>,
    /// Detectors (as for `run`).
    #[arg(long)]
    detectors: Option<String>,
    /// Treat the capture as a firewall drop log (what psad reads).
    #[arg(long)]
    drop_log: bool,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
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

/// Detector specs from `--detectors` (joined by `+`), or the default suite.
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

/// `*`-wildcard match of a whole name.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// One (scenario, seed) job.
struct Job<'a> {
    scenario: &'a Scenario,
    seed: u64,
    outputs: Outputs,
}

/// Progress on standard error, only when it is a terminal.
struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            enabled: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, what: &str) {
        self.done += 1;
        if self.enabled {
            let width = 30;
            let filled = width * self.done / self.total.max(1);
            eprint!(
                "\r[{}{}] {}/{} {:<40.40}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.done,
                self.total,
                what
            );
            if self.done == self.total {
                eprint!("\r{:78}\r", "");
            }
            let _ = std::io::stderr().flush();
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
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push(Scenario::load(f)?);
    }
    if !a.scenarios.is_empty() {
        for pat in &a.scenarios {
            if !scenarios.iter().any(|s| matches(pat, &s.name)) {
                let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "--scenarios: no scenario matches `{pat}`; known: {}",
                    names.join(", ")
                );
            }
        }
        scenarios.retain(|s| a.scenarios.iter().any(|p| matches(p, &s.name)));
    }
    if scenarios.is_empty() {
        bail!(
            "no scenario files (*.toml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if a.pcap.is_some() && (scenarios.len() > 1 || a.seeds > 1) {
        bail!("--pcap names one capture; with several scenarios or seeds use --out DIR");
    }
    let format = if a.pcapng {
        PcapFormat::Pcapng
    } else {
        PcapFormat::Pcap { nanos: a.nanos }
    };
    let mut specs = if a.no_detectors {
        Vec::new()
    } else {
        detector_specs(&a.detectors)
    };
    if a.check {
        // Every detector an expectation names must run.
        for sc in &scenarios {
            for e in &sc.expectations {
                for d in &e.detectors {
                    if !specs.contains(d) {
                        specs.push(d.clone());
                    }
                }
            }
        }
    }
    // Validate detector specs before simulating anything.
    DetectorSet::new(&specs)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut jobs = Vec::new();
    for sc in &scenarios {
        for k in 0..a.seeds {
            let seed = a.seed.unwrap_or(sc.seed).wrapping_add(k);
            let stem = if a.seeds > 1 {
                format!("{}.seed{seed}", sc.name)
            } else {
                sc.name.clone()
            };
            let pcap = match (&a.pcap, &a.out) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(dir)) => Some(dir.join(format!("{stem}.{}", format.extension()))),
                _ => None,
            };
            jobs.push(Job {
                scenario: sc,
                seed,
                outputs: Outputs {
                    pcap,
                    labels: a.labels.clone(),
                    format,
                },
            });
        }
    }
    let started = WallClock::now();
    let runs = run_jobs(&jobs, &specs, a.jobs)?;
    let wall = started.elapsed();
    // Chatter goes to standard error when standard output carries a
    // machine-readable report.
    let mut chatter: Box<dyn Write> = if a.format == Format::Table {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    };
    for r in &runs {
        print_summary(&mut chatter, &r.summary, a.verbose || runs.len() == 1)?;
    }
    writeln!(
        chatter,
        "{} run(s) in {:.2} s wall",
        runs.len(),
        wall.as_secs_f64()
    )?;
    let report = Report { specs, runs };
    if !a.no_detectors {
        if report.runs.len() == 1 && a.format == Format::Table {
            print_alerts(&mut chatter, &report.runs[0])?;
        }
        drop(chatter);
        if a.format == Format::Table {
            println!();
        }
        print!("{}", report.render(a.format));
    }
    if let Some(dir) = &a.out
        && !a.no_detectors
    {
        for (name, f) in [
            ("report.json", Format::Json),
            ("report.csv", Format::Csv),
            ("report.md", Format::Markdown),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, report.render(f))
                .with_context(|| format!("writing {}", p.display()))?;
        }
    }
    if a.check {
        let failures = check(&scenarios, &report);
        if failures > 0 {
            eprintln!("{failures} expectation(s) failed");
            return Ok(ExitCode::from(EXIT_EXPECTATION_FAILED));
        }
        eprintln!("all expectations hold");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every job on `jobs` threads (default: the cores), keeping job order.
fn run_jobs(
    jobs: &[Job<'_>],
    specs: &[String],
    threads: Option<usize>,
) -> anyhow::Result<Vec<ScenarioRun>> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut results: Vec<Option<scanbench::Result<ScenarioRun>>> =
        (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = evaluate(job.scenario, job.seed, specs, &job.outputs);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut progress = Progress::new(jobs.len());
        for (i, r) in rx {
            progress.tick(&format!("{} seed {}", jobs[i].scenario.name, jobs[i].seed));
            results[i] = Some(r);
        }
    });
    let mut out = Vec::with_capacity(jobs.len());
    for r in results {
        out.push(r.context("a run did not finish")??);
    }
    Ok(out)
}

/// Checks every scenario's expectations against its runs; prints failures.
fn check(scenarios: &[Scenario], report: &Report) -> usize {
    let mut failures = 0;
    for sc in scenarios {
        for run in report.runs.iter().filter(|r| r.file == sc.path) {
            for e in &sc.expectations {
                for msg in scanbench::check::check(e, run) {
                    failures += 1;
                    eprintln!(
                        "{}:{}: seed {}: \"{}\": {msg}",
                        sc.path.display(),
                        e.line,
                        run.summary.seed,
                        e.claim
                    );
                }
            }
        }
    }
    failures
}

fn print_summary(w: &mut dyn Write, s: &RunSummary, verbose: bool) -> std::io::Result<()> {
    let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
    writeln!(
        w,
        "{}: seed {}, {} simulated, {} frames on {} tap(s), {} packets sent",
        s.scenario,
        s.seed,
        fmt_duration(s.duration.total_micros()),
        frames,
        s.taps.len(),
        s.fabric.sent,
    )?;
    if !verbose {
        return Ok(());
    }
    for t in &s.taps {
        let causes: Vec<String> = t
            .by_cause
            .iter()
            .map(|((c, k), n)| format!("{k} ({c}) {n}"))
            .collect();
        writeln!(
            w,
            "  tap {}: {} frames, sha256 {}: {}",
            t.name,
            t.frames,
            t.sha256,
            causes.join(", ")
        )?;
        for f in &t.files {
            writeln!(w, "    wrote {}", f.display())?;
        }
    }
    for (node, kind, stats) in &s.apps {
        let st: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(w, "  {node} {kind}: {}", st.join(" "))?;
    }
    Ok(())
}

fn fmt_duration(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{s:.1} s")
    }
}

/// Prints the first alerts of each detector with the causes of their packets:
/// why each alert fired.
fn print_alerts(w: &mut dyn Write, run: &ScenarioRun) -> std::io::Result<()> {
    const SHOWN: usize = 5;
    for d in &run.detectors {
        let name = short(&d.spec);
        if !d.applicable {
            writeln!(
                w,
                "  [{name}] not applicable: it reads a {}, which this input lacks",
                match d.vantage {
                    Vantage::Wire => "link tap",
                    Vantage::DropLog => "firewall drop log (use --drop-log or --iptables-log)",
                }
            )?;
            continue;
        }
        for sa in d.alerts.iter().take(SHOWN) {
            let al = &sa.alert;
            writeln!(
                w,
                "  [{name}] t={:.6}s {} {} -> {}: {}",
                al.time.total_micros() as f64 / 1e6,
                al.kind,
                al.scanner,
                al.victim.map_or_else(|| "*".to_string(), |v| v.to_string()),
                // Multi-line log entries (Snort's) stay under their alert.
                al.evidence.log_line.replace('\n', "\n      ")
            )?;
            if !sa.causes.is_empty() {
                let causes: Vec<String> = sa
                    .causes
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}/{} x{}",
                            c.label.actor, c.label.class, c.label.cause, c.packets
                        )
                    })
                    .collect();
                writeln!(w, "      caused by: {}", causes.join(", "))?;
            }
        }
        if d.alerts.len() > SHOWN {
            writeln!(w, "  [{name}] ... {} more alerts", d.alerts.len() - SHOWN)?;
        }
    }
    Ok(())
}

/// `scanbench replay`.
pub fn replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let specs = detector_specs(&a.detectors);
    let labels = match &a.labels {
        Some(p) => Some(FrameLabels::load(p)?),
        None => None,
    };
    let opts = ReplayOptions {
        specs: specs.clone(),
        home_net: a.home_net.clone(),
        drop_log: a.drop_log,
        labels,
        scanners: (!a.scanners.is_empty())
            .then(|| a.scanners.iter().copied().collect::<BTreeSet<_>>()),
    };
    let replayed: Replayed = match (&a.file, &a.iptables_log) {
        (_, Some(log)) => replay_iptables_log(log, &opts)?,
        (Some(file), None) => replay_capture(file, &opts)?,
        (None, None) => bail!("replay needs a capture FILE or --iptables-log FILE"),
    };
    let mut chatter: Box<dyn Write> = if a.format == Format::Table {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    };
    let run = &replayed.run;
    let input = run.file.display();
    match &replayed.stats {
        Some(st) => writeln!(
            chatter,
            "{input}: {} records, {} IPv4 frames, {} non-IPv4 skipped, {} cut by snaplen",
            st.records, st.ipv4_frames, st.skipped_non_ipv4, st.snapped
        )?,
        None => writeln!(
            chatter,
            "{input}: {} logged packets",
            run.summary.taps.first().map_or(0, |t| t.frames)
        )?,
    }
    print_alerts(&mut chatter, run)?;
    for d in &run.detectors {
        if d.applicable {
            writeln!(chatter, "{}: {} alert(s)", short(&d.spec), d.alerts.len())?;
        } else {
            writeln!(chatter, "{}: not applicable", short(&d.spec))?;
        }
    }
    let scored = replayed.labelled || !opts.scanners.as_ref().is_none_or(|s| s.is_empty());
    let report = Report {
        specs,
        runs: vec![replayed.run.clone()],
    };
    if a.format == Format::Table {
        if scored {
            writeln!(chatter)?;
            write!(chatter, "{}", report.render(Format::Table))?;
        } else {
            writeln!(
                chatter,
                "(no labels: alerts are not scored; give --labels FILE or --scanners ADDR)"
            )?;
        }
    } else {
        drop(chatter);
        print!("{}", report.render(a.format));
    }
    if let Some(e) = replayed.error {
        eprintln!("error: {e} (alerts above come from the input before the damage)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The first sentence of a scenario description, without the
/// "Real-world situation:" lead-in, cut to one terminal line.
fn headline(description: &str) -> String {
    let text = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.strip_prefix("Real-world situation: ").unwrap_or(&text);
    let sentence = text.split(". ").next().unwrap_or(text);
    let mut out: String = sentence.chars().take(90).collect();
    if sentence.chars().count() > 90 {
        out.push_str("...");
    }
    out
}

/// `scanbench list`.
pub fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    println!("Scenarios ({}):", a.scenarios.display());
    if a.scenarios.is_dir() {
        for f in crate::scenario_files(std::slice::from_ref(&a.scenarios))? {
            match Scenario::load(&f) {
                Ok(sc) => println!("  {:<32} {}", sc.name, headline(&sc.description)),
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
        (
            "session",
            "long-lived connections with idle gaps and server pushes (IMAP, push channels)",
        ),
    ] {
        println!("  {k:<14} {d}");
    }
    println!("\nMiddleboxes (tables of a `[[router]]`, docs/middleboxes.md):");
    for (k, d) in [
        (
            "firewall",
            "stateful rules and conntrack/ScreenOS timeouts; faults: drop, flush, failover; drop log",
        ),
        (
            "nat",
            "source NAT / PAT, sequential or random ports, mapping timeouts",
        ),
        (
            "balancer",
            "virtual IP over a pool; misconfigurations: missing SNAT, a partly wrong member",
        ),
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
