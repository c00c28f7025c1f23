//! `scanbench run`: scenarios simulated, captures written, detectors scored.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{Context, bail};
use clap::Args;
use scanbench::evaluate::evaluate_with;
use scanbench::external::Externals;
use scanbench::parallel::{default_threads, map_ordered_with};
use scanbench::report::{TableLayout, json, junit, wrap};
use scanbench::shard::{self, Shard};
use scanbench::simulate::{Budget, Outputs};
use scanbench::{Format, Report, Scenario, ScenarioRun};

use super::progress::Progress;
use super::{
    CaptureFlags, at_least_one, detector_specs, externals, load_scenarios, print_alerts,
    print_summary, term, usage,
};

/// Exit code when `--check` finds a scenario expectation violated.
pub const EXIT_EXPECTATION_FAILED: u8 = 3;

const RUN_EXAMPLES: &str = "\
Examples:
  scanbench run                                     the built-in suite, every detector
  scanbench run -v                                  ... with every variant column and run details
  scanbench run --scenarios 'syn-scan-*,sweep' --detectors scanlogd+zeek-scan
  scanbench run my.toml --pcap my.pcap              a capture and its labels (my.labels.jsonl)
  scanbench run --seeds 5 --format json > report.json
  scanbench run --check                             exit 3 if a scenario's [[expect]] claim fails";

/// `scanbench run`.
#[derive(Args)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// Scenario files or directories (default: the built-in suite, embedded in
    /// the binary; `scanbench list` names its scenarios).
    paths: Vec<PathBuf>,
    /// Only these scenarios (comma-separated names; `*` matches any text).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    scenarios: Vec<String>,
    /// Detectors: specs joined by `+`, e.g.
    /// `scanlogd+sfportscan:sense_level=medium` (default: every detector and variant).
    #[arg(long, value_name = "SPECS", conflicts_with = "no_detectors")]
    detectors: Option<String>,
    /// External detector definitions (`[[detector]]` TOML, see
    /// docs/external-detectors.md) that `ext:NAME` specs can name; repeatable.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
    /// Override every scenario's seed (with --seeds: the first seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run each scenario with this many consecutive seeds and report mean and spread.
    #[arg(long, default_value_t = 1, value_parser = at_least_one::<u64>, value_name = "N")]
    seeds: u64,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write captures, labels and the report (report.json, report.csv,
    /// report.md; with --format html, report.html) for every run into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write the capture here (one scenario, one seed; per tap: `NAME.<tap>.pcap`);
    /// `-` is standard output. A `.pcapng` name writes pcapng.
    #[arg(long, value_name = "FILE")]
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
    #[arg(long, conflicts_with = "no_detectors")]
    check: bool,
    /// Parallel runs (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one::<usize>, value_name = "N")]
    jobs: Option<usize>,
    /// Run only shard K of N of the (scenario, seed) jobs; the JSON report
    /// names the slice for `scanbench merge` (docs/scale-out.md).
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Every variant column of the default suite, and per-tap and per-app
    /// details for each run.
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
    let scenarios = load_scenarios("run", &a.paths, &a.scenarios)?;
    unique_names(&scenarios)?;
    if a.pcap.is_some() && (scenarios.len() > 1 || a.seeds > 1) {
        return Err(usage(
            "run",
            format!(
                "--pcap names one capture, but {} scenario(s) x {} seed(s) are selected; use --out DIR for several",
                scenarios.len(),
                a.seeds
            ),
        ));
    }
    let claims: usize = scenarios.iter().map(|s| s.expectations.len()).sum();
    if a.check && claims == 0 {
        return Err(usage(
            "run",
            format!(
                "--check: none of the {} selected scenario(s) makes a claim (an [[expect]] table), so there is nothing to check",
                scenarios.len()
            ),
        ));
    }
    a.capture.check(
        "run",
        a.pcap.is_some() || a.out.is_some(),
        "--pcap FILE or --out DIR",
    )?;
    // `--pcap x.pcapng` writes pcapng without being told; `--nanos` applies to both.
    let format = a.capture.format(a.pcap.as_deref());
    // `--pcap -`: the capture owns standard output, everything else goes to stderr.
    let pcap_on_stdout = a.pcap.as_deref().is_some_and(scanbench::simulate::is_stdio);
    let externals = externals(&a.detector_file)?;
    let mut specs = if a.no_detectors {
        Vec::new()
    } else {
        detector_specs("run", &a.detectors, &externals)?
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
    // Chatter goes to standard error when standard output carries a
    // machine-readable report or the capture.
    let table = a.format == Format::Table;
    let mut chatter = term::chatter(table && !pcap_on_stdout);
    let started = WallClock::now();
    let verbose = a.verbose || jobs.len() == 1;
    let runs = run_jobs(&jobs, &specs, &externals, a.jobs, &mut chatter, verbose)?;
    writeln!(
        chatter,
        "{} run(s) in {:.2} s wall",
        runs.len(),
        started.elapsed().as_secs_f64()
    )?;
    let report = Report { specs, runs };
    let claims_of: Vec<junit::Claims> = scenarios
        .iter()
        .map(|s| (s.path.clone(), Ok(s.expectations.clone())))
        .collect();
    let rendering = Rendering {
        shard: a.shard,
        jobs_total,
        held: &held,
        claims: &claims_of,
        snapshots: a.snapshots.as_deref(),
    };
    // Files first: a reader that leaves standard output early loses none.
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
            term::note(format_args!("wrote {}", p.display()));
        }
    }
    if !a.no_detectors {
        if report.runs.len() == 1 && table {
            print_alerts(&mut chatter, &report.runs[0])?;
        }
        // `--pcap -`: the capture owns standard output; the report goes to
        // standard error.
        let mut out: Box<dyn Write> = if pcap_on_stdout {
            Box::new(term::Stderr)
        } else {
            Box::new(term::stdout())
        };
        if table {
            if !term::quiet() {
                writeln!(out)?;
            }
            write!(
                out,
                "{}",
                render_table(&report, a.detectors.is_none() && !a.verbose)
            )?;
        } else if !(a.format == Format::Html && a.out.is_some()) {
            // With --out, the HTML page goes to DIR/report.html only.
            write!(out, "{}", rendering.render(&report, a.format))?;
        }
        out.flush()?;
    }
    drop(chatter);
    if a.check {
        let (checked, failures) = check(&scenarios, &report);
        if failures > 0 {
            crate::warn!("--check: {failures} of {checked} claim check(s) failed");
            return Ok(ExitCode::from(EXIT_EXPECTATION_FAILED));
        }
        term::note(format_args!(
            "--check: all {checked} claim check(s) hold ({claims} claim(s) over {} run(s))",
            report.runs.len()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every job on `threads` threads (default: the cores), keeping job
/// order. Each run's summary line goes to `chatter` in job order, as soon as
/// it and every run before it are done; progress (a bar, or periodic lines)
/// shows on standard error meanwhile.
fn run_jobs(
    jobs: &[Job<'_>],
    specs: &[String],
    externals: &Externals,
    threads: Option<usize>,
    chatter: &mut dyn Write,
    verbose: bool,
) -> anyhow::Result<Vec<ScenarioRun>> {
    // Both callbacks below update it, one at a time, on this thread.
    let progress = std::cell::RefCell::new(Progress::new(jobs.len() as u64, "run"));
    let mut ready: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut next = 0;
    let mut outcome: std::io::Result<()> = Ok(());
    let results = map_ordered_with(
        jobs,
        threads.unwrap_or_else(default_threads),
        |job| evaluate_with(job.scenario, job.seed, specs, &job.outputs, externals),
        |i, r| {
            let mut progress = progress.borrow_mut();
            progress.finished(&format!("{} seed {}", jobs[i].scenario.name, jobs[i].seed));
            let mut text = Vec::new();
            if let Ok(run) = r {
                // Writing to a Vec cannot fail.
                let _ = print_summary(&mut text, &run.summary, verbose);
            }
            ready.insert(i, text);
            while let Some(text) = ready.remove(&next) {
                if outcome.is_ok() {
                    outcome = progress.suspend(|| chatter.write_all(&text));
                }
                next += 1;
            }
        },
        || progress.borrow_mut().tick(),
    );
    outcome?;
    Ok(results.into_iter().collect::<scanbench::Result<_>>()?)
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

/// Two scenarios with one name would share captures and report rows (and be
/// averaged as if they were seeds of one scenario).
///
/// # Errors
/// The second file with a name already used, naming both files.
fn unique_names(scenarios: &[Scenario]) -> anyhow::Result<()> {
    for (i, s) in scenarios.iter().enumerate() {
        if let Some(first) = scenarios[..i].iter().find(|t| t.name == s.name) {
            bail!(
                "{}: scenario name `{}` is already used by {}; names must be unique (they name captures and report rows)",
                s.path.display(),
                s.name,
                first.path.display()
            );
        }
    }
    Ok(())
}

/// The terminal table: wrapped to the terminal's width; with `defaults_only`
/// (the default suite without `-v`), the default configurations only, with a
/// line naming the variants left out.
fn render_table(report: &Report, defaults_only: bool) -> String {
    let variants: Vec<usize> = (0..report.specs.len())
        .filter(|&i| report.specs[i].contains(':'))
        .collect();
    let mut layout = TableLayout {
        width: term::width(),
        columns: None,
    };
    let mut note = String::new();
    if defaults_only && !variants.is_empty() {
        layout.columns = Some(
            (0..report.specs.len())
                .filter(|i| !variants.contains(i))
                .collect(),
        );
        let names: Vec<&str> = variants.iter().map(|&i| report.specs[i].as_str()).collect();
        note = format!(
            "\n{}\n",
            wrap(
                &format!(
                    "{} variant configuration(s) not shown ({}): -v shows them; --format json|csv|markdown has every one.",
                    variants.len(),
                    names.join(", ")
                ),
                layout.width
            )
        );
    }
    let mut out = scanbench::report::table_with(report, &layout);
    out.push_str(&note);
    out
}

/// Checks every scenario's expectations against its runs; prints failures.
/// Returns (claim checks made, failed checks): one check per claim and run.
fn check(scenarios: &[Scenario], report: &Report) -> (usize, usize) {
    let mut checked = 0;
    let mut failures = 0;
    for sc in scenarios {
        for run in report.runs.iter().filter(|r| r.file == sc.path) {
            for e in &sc.expectations {
                checked += 1;
                let msgs = scanbench::check::check(e, run);
                if !msgs.is_empty() {
                    failures += 1;
                }
                for msg in msgs {
                    crate::warn!(
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
    (checked, failures)
}
