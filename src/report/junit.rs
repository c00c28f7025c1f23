//! JUnit XML for CI test reporters (GitLab, Jenkins, GitHub actions that
//! read JUnit): one `<testsuite>` per scenario, and in it one `<testcase>`
//! per run and `[[expect]]` claim, and one per run whose verdicts are
//! compared with a verdict snapshot.
//!
//! A claim fails with the violations as its message and, in the body, the
//! claim, where it is written, and what was measured for each detector it
//! names. A verdict case compares the run's verdict text ([`verdicts`]) with
//! the snapshot `snapshots__verdicts@FILE.snap` (as `tests/snapshots.rs`
//! writes them) in the snapshot directory: the header (taps, ground truth)
//! and the block of every detector configuration that ran must match; the
//! failure shows each differing block from both sides. Without a snapshot
//! directory, without a snapshot for the scenario, or for a seed other than
//! the snapshot's, the case is `<skipped>` with the reason, and the run's
//! verdicts are in its `<system-out>` (ready to be saved as a snapshot).
//!
//! The output uses only what every reporter reads: `testsuites` (name,
//! tests, failures, errors), `testsuite` (name, tests, failures, errors,
//! skipped), `testcase` (classname, name) with `failure` / `skipped`
//! (message, type) and `system-out`. No times: the report is deterministic.
//! `tests/junit.rs` validates it against `tests/fixtures/junit/junit.xsd`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Report, verdicts};
use crate::evaluate::ScenarioRun;
use crate::scenario::{Expectation, Scenario};

/// The claims of one scenario file, or why they could not be read.
pub type Claims = (PathBuf, Result<Vec<Expectation>, String>);

/// The claims of every simulated run's scenario file, read again from disk
/// (what [`Report::render`] uses; `run` passes the scenarios it loaded).
pub fn claims_of(report: &Report) -> Vec<Claims> {
    let mut out: Vec<Claims> = Vec::new();
    for r in report.runs.iter().filter(|r| !r.replayed) {
        if out.iter().all(|(f, _)| f != &r.file) {
            let claims = Scenario::load(&r.file)
                .map(|s| s.expectations)
                .map_err(|e| e.to_string());
            out.push((r.file.clone(), claims));
        }
    }
    out
}

/// Escapes text for XML content and attributes; characters XML 1.0 cannot
/// carry (control characters other than tab and line ends) become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

enum Outcome {
    Pass,
    Fail { message: String, body: String },
    Skip { message: String },
}

struct Case {
    name: String,
    outcome: Outcome,
    out: String,
}

/// What was measured for `spec` on `run`, in words.
fn measured(run: &ScenarioRun, spec: &str) -> String {
    let Some(d) = run.detectors.iter().find(|d| d.spec == spec) else {
        return format!("{spec}: not run");
    };
    if !d.applicable {
        return format!("{spec}: n/a (no sensor at its vantage point)");
    }
    let s = &d.score;
    let mut line = format!(
        "{spec}: {} alert(s); scanners flagged {}/{}; benign sources flagged {}/{}; benign-triggered alerts {}",
        s.alerts, s.tp, s.scanners, s.fp, s.benign_sources, s.benign_alerts
    );
    for l in &s.latency {
        let _ = write!(
            line,
            "; {} flagged after {:.6} s / {} probes",
            l.scanner,
            l.micros as f64 / 1e6,
            l.probes.map_or("-".to_string(), |p| p.to_string())
        );
    }
    line
}

fn claim_case(run: &ScenarioRun, e: &Expectation) -> Case {
    let violations = crate::check::check(e, run);
    let body = format!(
        "claim: {}\nwritten at: {}:{}\nmeasured:\n{}\n",
        e.claim,
        run.file.display(),
        e.line,
        e.detectors
            .iter()
            .map(|d| format!("  {}", measured(run, d)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Case {
        name: format!("seed {}: {}", run.summary.seed, e.claim),
        outcome: if violations.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail {
                message: violations.join("; "),
                body: format!("{}\n\n{body}", violations.join("\n")),
            }
        },
        out: body,
    }
}

/// The blocks of a verdict text: the header, then one per detector
/// configuration, keyed by the text before the first `: ` of their first line
/// (the configuration's label, which may hold `:` but never `: `).
fn blocks(text: &str) -> Vec<(String, String)> {
    text.trim_end()
        .split("\n\n")
        .enumerate()
        .map(|(i, b)| {
            let key = if i == 0 {
                "(taps and ground truth)".to_string()
            } else {
                b.split(": ").next().unwrap_or(b).to_string()
            };
            (key, b.trim_end().to_string())
        })
        .collect()
}

/// The body of an insta snapshot file (after its `---` header).
fn snapshot_body(text: &str) -> &str {
    match text.strip_prefix("---\n") {
        Some(rest) => rest.split_once("\n---\n").map_or(rest, |(_, body)| body),
        None => text,
    }
}

fn verdict_case(run: &ScenarioRun, snapshots: Option<&Path>) -> Case {
    let now = verdicts(run);
    let name = format!("seed {}: verdicts match the snapshot", run.summary.seed);
    let skip = |message: String| Case {
        name: name.clone(),
        outcome: Outcome::Skip { message },
        out: now.clone(),
    };
    let Some(dir) = snapshots else {
        return skip("no snapshot directory given (run --snapshots DIR)".into());
    };
    let file = run
        .file
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned());
    let path = dir.join(format!("snapshots__verdicts@{file}.snap"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return skip(format!("no snapshot {}", path.display()));
    };
    let want = blocks(snapshot_body(&text));
    let got = blocks(&now);
    let seed_of = |b: &[(String, String)]| {
        b.first()
            .and_then(|(_, h)| h.split_whitespace().skip_while(|w| *w != "seed").nth(1))
            .map(str::to_string)
    };
    if seed_of(&want) != seed_of(&got) {
        return skip(format!(
            "{} is of seed {}",
            path.display(),
            seed_of(&want).unwrap_or_default()
        ));
    }
    let mut diffs = Vec::new();
    let mut body = String::new();
    for (key, block) in &got {
        match want.iter().find(|(k, _)| k == key) {
            Some((_, w)) if w == block => {}
            Some((_, w)) => {
                diffs.push(key.clone());
                let _ = write!(body, "--- snapshot: {key}\n{w}\n+++ this run:\n{block}\n\n");
            }
            None => {
                diffs.push(format!("{key} (not in the snapshot)"));
                let _ = write!(body, "+++ this run, not in the snapshot:\n{block}\n\n");
            }
        }
    }
    Case {
        name,
        outcome: if diffs.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail {
                message: format!("differs from {}: {}", path.display(), diffs.join(", ")),
                body,
            }
        },
        out: now,
    }
}

/// The JUnit XML of `report`, with the scenarios' `claims` and, if given,
/// the verdict snapshots in `snapshots`.
pub fn junit(report: &Report, claims: &[Claims], snapshots: Option<&Path>) -> String {
    let mut suites: Vec<(String, Vec<Case>)> = Vec::new();
    for (name, runs) in report.by_scenario() {
        let mut cases = Vec::new();
        for run in runs {
            if !run.replayed {
                match claims.iter().find(|(f, _)| f == &run.file) {
                    Some((_, Ok(list))) => {
                        cases.extend(list.iter().map(|e| claim_case(run, e)));
                    }
                    Some((f, Err(why))) => cases.push(Case {
                        name: format!("seed {}: claims", run.summary.seed),
                        outcome: Outcome::Fail {
                            message: format!("cannot read the claims of {}", f.display()),
                            body: why.clone(),
                        },
                        out: String::new(),
                    }),
                    None => {}
                }
            }
            cases.push(verdict_case(run, snapshots));
        }
        suites.push((name.to_string(), cases));
    }
    let count =
        |cases: &[Case], f: fn(&Outcome) -> bool| cases.iter().filter(|c| f(&c.outcome)).count();
    let failed = |o: &Outcome| matches!(o, Outcome::Fail { .. });
    let skipped = |o: &Outcome| matches!(o, Outcome::Skip { .. });
    let all: Vec<&Case> = suites.iter().flat_map(|(_, c)| c).collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"scanbench\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        all.len(),
        all.iter().filter(|c| failed(&c.outcome)).count()
    );
    for (name, cases) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            esc(name),
            cases.len(),
            count(cases, failed),
            count(cases, skipped)
        );
        for c in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"scanbench.{}\" name=\"{}\">",
                esc(name),
                esc(&c.name)
            );
            match &c.outcome {
                Outcome::Pass => {}
                Outcome::Fail { message, body } => {
                    let _ = write!(
                        out,
                        "\n      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        if c.name.ends_with("the snapshot") {
                            "verdicts"
                        } else {
                            "claim"
                        },
                        esc(message),
                        esc(body)
                    );
                }
                Outcome::Skip { message } => {
                    let _ = write!(out, "\n      <skipped message=\"{}\"/>", esc(message));
                }
            }
            if !c.out.is_empty() {
                let _ = write!(out, "\n      <system-out>{}</system-out>", esc(&c.out));
            }
            out.push_str("\n    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
