//! `scanbench run`: scenarios simulated, captures written, detectors scored.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::detect::DetectorSet;
use scanbench::evaluate::{ScenarioRun, evaluate_with};
use scanbench::external::Externals;
use scanbench::parallel::{default_threads, map_ordered};
use scanbench::report::{json, junit};
use scanbench::shard::{self, Shard};
use scanbench::simulate::{Budget, Outputs};
use scanbench::{Format, Report, Scenario};

use super::{
    CaptureFlags, Progress, detector_specs, externals, load_scenarios, print_alerts, print_summary,
};

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
    /// External detector definitions (`[[detector]]` TOML, see
    /// docs/external-detectors.md) that `ext:NAME` specs can name; repeatable.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
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
    /// report.md; with --format html, report.html) for every run into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the capture here (one scenario, one seed; per tap: `NAME.<tap>.pcap`);
    /// `-` is standard output. A `.pcapng` name writes pcapng.
    #[arg(long)]
    pcap: Option<PathBuf>,
    #[command(flatten)]
    capture: CaptureFlags,
    /// Skip detectors: simulate and write captures only.
    #[arg(long)]
    no_detectors: bool,
    /// With --format junit: compare each run's verdicts with the snapshots
    /// in DIR (`snapshots__verdicts@FILE.snap`, e.g. tests/snapshots).
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// Check each scenario's `[[expect]]` claims; exit 3 if any fails.
    #[arg(long)]
    check: bool,
    /// Parallel runs (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run only shard K of N of the (scenario, seed) jobs; the JSON report
    /// names the slice for `scanbench merge` (docs/scale-out.md).
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Print per-tap and per-app details for each run.
    #[arg(long, short)]
    verbose: bool,
    /// Stop a run with an error once its links have carried this many
    /// packets; the captures and labels written so far are flushed.
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT_MAX_PACKETS)]
    max_packets: u64,
    /// Stop a run with an error after this much wall-clock time (`90s`,
    /// `10m`, `1h`); the captures and labels written so far are flushed.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = wall_time)]
    max_wall: std::time::Duration,
}

fn wall_time(s: &str) -> Result<std::time::Duration, String> {
    let d = scanbench_sim::units::duration(s)?;
    Ok(std::time::Duration::from_micros(d.total_micros()))
}

/// One (scenario, seed) job.
struct Job<'a> {
    scenario: &'a Scenario,
    seed: u64,
    outputs: Outputs,
}

/// `scanbench run`.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let scenarios = load_scenarios(&a.paths, &a.scenarios)?;
    if a.pcap.is_some() && (scenarios.len() > 1 || a.seeds > 1) {
        bail!("--pcap names one capture; with several scenarios or seeds use --out DIR");
    }
    // `--pcap x.pcapng` writes pcapng without being told; `--nanos` applies to both.
    let format = a.capture.format(a.pcap.as_deref());
    // `--pcap -`: the capture owns standard output, everything else goes to stderr.
    let pcap_on_stdout = a.pcap.as_deref().is_some_and(scanbench::simulate::is_stdio);
    let mut specs = if a.no_detectors {
        Vec::new()
    } else {
        detector_specs(&a.detectors)
    };
    if a.check || a.format == Format::Junit {
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
    let externals = externals(&a.detector_file)?;
    DetectorSet::with_externals(&specs, &externals)?;
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
                    labels: a.capture.labels.clone(),
                    format,
                    budget: Budget {
                        max_packets: a.max_packets,
                        max_wall: a.max_wall,
                    },
                },
            });
        }
    }
    let jobs_total = jobs.len();
    let held: Vec<usize> = (0..jobs_total)
        .filter(|&i| a.shard.is_none_or(|s| s.owns(i)))
        .collect();
    let mut index = 0;
    jobs.retain(|_| {
        index += 1;
        held.contains(&(index - 1))
    });
    let started = WallClock::now();
    let runs = run_jobs(&jobs, &specs, &externals, a.jobs)?;
    let wall = started.elapsed();
    // Chatter goes to standard error when standard output carries a
    // machine-readable report.
    let mut chatter: Box<dyn Write> = if a.format == Format::Table && !pcap_on_stdout {
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
    let claims: Vec<junit::Claims> = scenarios
        .iter()
        .map(|s| (s.path.clone(), Ok(s.expectations.clone())))
        .collect();
    let rendering = Rendering {
        shard: a.shard,
        jobs_total,
        held: &held,
        claims: &claims,
        snapshots: a.snapshots.as_deref(),
    };
    if !a.no_detectors {
        if report.runs.len() == 1 && a.format == Format::Table {
            print_alerts(&mut chatter, &report.runs[0])?;
        }
        drop(chatter);
        // With --out, the HTML page goes to DIR/report.html only.
        if !(a.format == Format::Html && a.out.is_some()) {
            let text = rendering.render(&report, a.format);
            if pcap_on_stdout {
                eprint!("\n{text}");
            } else {
                if a.format == Format::Table {
                    println!();
                }
                print!("{text}");
            }
        }
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
            std::fs::write(&p, rendering.render(&report, f))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        if a.format == Format::Html {
            let p = dir.join("report.html");
            std::fs::write(&p, report.render(Format::Html))
                .with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
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

/// What rendering the report needs besides the runs: the shard's slice
/// (`held` of `jobs_total` jobs) for its JSON, and the claims and verdict
/// snapshots for JUnit.
struct Rendering<'a> {
    shard: Option<Shard>,
    jobs_total: usize,
    held: &'a [usize],
    claims: &'a [junit::Claims],
    snapshots: Option<&'a Path>,
}

impl Rendering<'_> {
    fn render(&self, report: &Report, format: Format) -> String {
        match (format, self.shard) {
            (Format::Json, Some(s)) => {
                let mut doc = json::document(report);
                shard::annotate(&mut doc, s, self.jobs_total, self.held);
                json::text(&doc)
            }
            (Format::Junit, _) => junit::junit(report, self.claims, self.snapshots),
            _ => report.render(format),
        }
    }
}

/// Runs every job on `jobs` threads (default: the cores), keeping job order.
fn run_jobs(
    jobs: &[Job<'_>],
    specs: &[String],
    externals: &Externals,
    threads: Option<usize>,
) -> anyhow::Result<Vec<ScenarioRun>> {
    let mut progress = Progress::new(jobs.len());
    let results = map_ordered(
        jobs,
        threads.unwrap_or_else(default_threads),
        |job| evaluate_with(job.scenario, job.seed, specs, &job.outputs, externals),
        |i, _| progress.tick(&format!("{} seed {}", jobs[i].scenario.name, jobs[i].seed)),
    );
    Ok(results.into_iter().collect::<scanbench::Result<_>>()?)
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
