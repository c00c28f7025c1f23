//! `scanbench fidelity`: each re-implementation next to the real tool it
//! copies, on the same scenarios, and where they disagree.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use scanbench::evaluate::{DetectorRun, evaluate_with};
use scanbench::external::live::SKIPPED;
use scanbench::external::{Externals, comparable_line};
use scanbench::parallel::map_ordered_with;
use scanbench::simulate::Outputs;
use scanbench::{Error, Scenario};

use super::progress::Progress;
use super::{externals, load_scenarios, term, usage};

/// Exit code when a disagreement is not a documented deviation.
pub const EXIT_DISAGREEMENT: u8 = 3;

/// What a comparison looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aspect {
    /// The set of sources each flagged.
    Flagged,
    /// How many alerts each raised.
    Alerts,
    /// The highest psad danger level.
    DangerLevel,
    /// The alerts' log lines (sorted, as [`comparable_line`] gives them).
    LogLines,
}

impl Aspect {
    fn name(self) -> &'static str {
        match self {
            Aspect::Flagged => "flagged",
            Aspect::Alerts => "alerts",
            Aspect::DangerLevel => "danger level",
            Aspect::LogLines => "log lines",
        }
    }
}

/// Disagreements explained in docs/fidelity.md: (tool, scenario or `*`,
/// aspect). Empty: every difference found so far was a bench bug and was
/// fixed; an entry needs a paragraph in docs/fidelity.md saying why the
/// difference is right.
pub const DOCUMENTED: &[(&str, &str, Aspect)] = &[];

/// `scanbench fidelity`.
#[derive(Args)]
pub struct FidelityArgs {
    /// Scenario files or directories (default: the built-in suite).
    paths: Vec<PathBuf>,
    /// Real tools to compare, by external definition name (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "scanlogd,portsentry,portsentry-atcp,psad,psad-daemon"
    )]
    tools: Vec<String>,
    /// Skip live replays longer than this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_replay: u64,
    /// More external definitions (`[[detector]]` TOML); a tool compared
    /// must name its bench `counterpart`.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
    /// Comparisons run at once (each live replay has its own namespace and
    /// mostly sleeps; default 4).
    #[arg(long, default_value_t = 4, value_parser = super::at_least_one::<u16>)]
    jobs: u16,
    /// Keep each real tool's raw output as `DIR/SCENARIO/TOOL.txt`.
    #[arg(long, value_name = "DIR")]
    save_output: Option<PathBuf>,
}

/// The outcome of one (scenario, tool) comparison.
enum Outcome {
    /// Both ran: the bench detector's run and the real tool's.
    Ran(Box<(DetectorRun, DetectorRun)>),
    /// Both ran on a second attempt; why the first failed.
    Retried(Box<(DetectorRun, DetectorRun)>, String),
    /// The live replay was longer than `--max-replay`.
    Skipped(String),
    /// The real tool could not be run or read.
    Failed(String),
}

impl Outcome {
    /// This outcome, reached after a first attempt failed with `why`.
    fn retried(self, why: String) -> Outcome {
        match self {
            Outcome::Ran(b) => Outcome::Retried(b, why),
            other => other,
        }
    }
}

struct Pair<'a> {
    scenario: &'a Scenario,
    tool: &'a str,
    counterpart: &'a str,
}

fn compare(p: &Pair<'_>, ext: &Externals) -> anyhow::Result<Outcome> {
    let specs = vec![p.counterpart.to_string(), format!("ext:{}", p.tool)];
    let sc = p.scenario;
    let mut ext = ext.clone();
    ext.save_output = ext.save_output.map(|d| d.join(&sc.name));
    let ext = &ext;
    Ok(
        match evaluate_with(sc, sc.seed, &specs, &Outputs::default(), ext) {
            Ok(run) => {
                let mut d = run.detectors.into_iter();
                let (Some(bench), Some(real)) = (d.next(), d.next()) else {
                    bail!("{}: two detectors ran, fewer came back", sc.name);
                };
                Outcome::Ran(Box::new((bench, real)))
            }
            Err(Error::External { message, .. }) if message.starts_with(SKIPPED) => {
                Outcome::Skipped(message)
            }
            Err(Error::External { message, .. }) => Outcome::Failed(message),
            Err(e) => return Err(e.into()),
        },
    )
}

fn flagged(d: &DetectorRun) -> Vec<String> {
    let mut v: Vec<String> = d
        .alerts
        .iter()
        .map(|a| a.alert.scanner.to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn danger(d: &DetectorRun) -> Option<i64> {
    d.alerts
        .iter()
        .filter_map(|a| {
            a.alert
                .evidence
                .counters
                .iter()
                .find(|(k, _)| *k == "danger_level")
                .map(|(_, v)| *v)
        })
        .max()
}

fn lines(tool: &str, d: &DetectorRun) -> Vec<String> {
    let mut v: Vec<String> = d
        .alerts
        .iter()
        .map(|a| comparable_line(tool, &a.alert.evidence.log_line))
        .collect();
    v.sort();
    v
}

/// Writes the first five pairs of sorted lines that differ.
fn print_line_diff(out: &mut dyn Write, bench: &[String], real: &[String]) -> std::io::Result<()> {
    let (mut i, mut j, mut shown) = (0, 0, 0);
    while (i < bench.len() || j < real.len()) && shown < 5 {
        match (bench.get(i), real.get(j)) {
            (Some(b), Some(r)) if b == r => {
                i += 1;
                j += 1;
                continue;
            }
            (Some(b), Some(r)) if b < r => {
                writeln!(out, "    bench only: {b}")?;
                i += 1;
            }
            (Some(_), Some(r)) | (None, Some(r)) => {
                writeln!(out, "    real only:  {r}")?;
                j += 1;
            }
            (Some(b), None) => {
                writeln!(out, "    bench only: {b}")?;
                i += 1;
            }
            (None, None) => break,
        }
        shown += 1;
    }
    Ok(())
}

/// `scanbench fidelity`.
pub fn fidelity(a: FidelityArgs) -> anyhow::Result<ExitCode> {
    let mut ext = externals(&a.detector_file)?;
    ext.max_replay_secs = (a.max_replay > 0).then_some(a.max_replay);
    ext.save_output = a.save_output.clone();
    let mut tools = Vec::new();
    for t in &a.tools {
        let Some(def) = ext.find(t) else {
            let known = ext.definitions().iter().map(|d| d.name.as_str());
            let hint = scanbench_detector::params::closest(t, known)
                .map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"));
            return Err(usage(
                "fidelity",
                format!(
                    "--tools: no external detector `{t}`{hint}; known: {}",
                    ext.names()
                ),
            ));
        };
        let Some(counterpart) = def.counterpart.clone() else {
            return Err(usage(
                "fidelity",
                format!("--tools: `{t}` names no bench counterpart"),
            ));
        };
        tools.push((t.clone(), counterpart));
    }
    let scenarios = load_scenarios("fidelity", &a.paths, &[])?;
    let pairs: Vec<Pair<'_>> = scenarios
        .iter()
        .flat_map(|scenario| {
            tools.iter().map(move |(tool, counterpart)| Pair {
                scenario,
                tool,
                counterpart,
            })
        })
        .collect();
    // A real tool's run that failed (the machine too loaded for a live
    // replay: socket drops, a late schedule) is tried once more, and says so.
    let progress = std::cell::RefCell::new(Progress::new(pairs.len() as u64, "comparison"));
    let outcomes = map_ordered_with(
        &pairs,
        usize::from(a.jobs),
        |p| match compare(p, &ext) {
            Ok(Outcome::Failed(first)) => match compare(p, &ext) {
                Ok(Outcome::Failed(second)) => Ok(Outcome::Failed(format!(
                    "{second} (and before a retry: {first})"
                ))),
                other => other.map(|o| o.retried(first)),
            },
            other => other,
        },
        |i, _| {
            let p = &pairs[i];
            progress
                .borrow_mut()
                .finished(&format!("{} {}", p.scenario.name, p.tool));
        },
        || progress.borrow_mut().tick(),
    );
    drop(progress);
    let mut out = term::stdout();
    writeln!(
        out,
        "{:<30} {:<16} {:>12} {:>12} {:>7} {:>7}  verdict",
        "scenario", "tool", "flagged b/r", "alerts b/r", "DL b", "DL r"
    )?;
    let (mut undocumented, mut failed) = (0, 0);
    for (p, outcome) in pairs.iter().zip(outcomes) {
        let head = format!("{:<30} {:<16}", p.scenario.name, p.tool);
        let (bench, real) = match outcome? {
            Outcome::Skipped(why) => {
                writeln!(out, "{head} {why}")?;
                continue;
            }
            Outcome::Failed(why) => {
                failed += 1;
                writeln!(out, "{head} FAILED: {why}")?;
                continue;
            }
            Outcome::Ran(b) => *b,
            Outcome::Retried(b, why) => {
                writeln!(out, "{head} (retried; the first run failed: {why})")?;
                *b
            }
        };
        if !bench.applicable {
            writeln!(out, "{head} n/a (no sensor at its vantage point)")?;
            continue;
        }
        let (fb, fr) = (flagged(&bench), flagged(&real));
        let (db, dr) = (danger(&bench), danger(&real));
        let (lb, lr) = (lines(p.tool, &bench), lines(p.tool, &real));
        let mut diffs = Vec::new();
        if fb != fr {
            diffs.push(Aspect::Flagged);
        }
        if bench.alerts.len() != real.alerts.len() {
            diffs.push(Aspect::Alerts);
        }
        if db != dr {
            diffs.push(Aspect::DangerLevel);
        }
        if lb != lr {
            diffs.push(Aspect::LogLines);
        }
        let documented = |what: Aspect| {
            DOCUMENTED
                .iter()
                .any(|(t, s, w)| *t == p.tool && (*s == "*" || *s == p.scenario.name) && *w == what)
        };
        let open: Vec<&str> = diffs
            .iter()
            .filter(|d| !documented(**d))
            .map(|d| d.name())
            .collect();
        let verdict = match (open.is_empty(), diffs.is_empty()) {
            (true, true) => "agree".to_string(),
            (true, false) => "agree (documented deviations)".to_string(),
            (false, _) => format!("DIFFER: {}", open.join(", ")),
        };
        writeln!(
            out,
            "{head} {:>12} {:>12} {:>7} {:>7}  {verdict}",
            format!("{}/{}", fb.len(), fr.len()),
            format!("{}/{}", bench.alerts.len(), real.alerts.len()),
            db.map_or("-".into(), |v| v.to_string()),
            dr.map_or("-".into(), |v| v.to_string()),
        )?;
        if !open.is_empty() {
            undocumented += 1;
            print_line_diff(&mut out, &lb, &lr)?;
        }
    }
    if failed > 0 {
        term::error(format_args!(
            "{failed} real tool run(s) failed (see FAILED above)"
        ));
        return Ok(ExitCode::FAILURE);
    }
    if undocumented > 0 {
        term::error(format_args!(
            "{undocumented} (scenario, tool) pair(s) disagree beyond the documented deviations"
        ));
        return Ok(ExitCode::from(EXIT_DISAGREEMENT));
    }
    Ok(ExitCode::SUCCESS)
}
