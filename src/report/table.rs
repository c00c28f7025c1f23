//! The verdict table: rows scenarios, columns detector configurations, cells
//! `alerts TP/FP` (with several seeds: means and the spread of the alert
//! count), followed by per-detector totals over the suite.

use std::fmt::Write;

use super::{Report, mean_sd};
use crate::evaluate::ScenarioRun;
use crate::score::Pooled;

/// Short column header: `screenos:count_mode=syn-only` -> `screenos[syn-only]`.
pub fn short(spec: &str) -> String {
    // `ext:NAME` is already short, and its `:` is not a parameter list.
    if spec.starts_with(crate::external::PREFIX) {
        return spec.to_string();
    }
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

/// One cell: `-` for no alert, else `alerts TP/FP`; over several seeds
/// `mean±sd TP/FP` with TP and FP as means.
fn cell(runs: &[&ScenarioRun], det: usize) -> String {
    let get = |f: fn(&crate::score::Score) -> u64| -> Vec<f64> {
        runs.iter()
            .map(|r| f(&r.detectors[det].score) as f64)
            .collect()
    };
    if runs.iter().all(|r| !r.detectors[det].applicable) {
        return "n/a".into();
    }
    let alerts = get(|s| s.alerts);
    if alerts.iter().all(|&a| a == 0.0) {
        return "-".into();
    }
    let (tp, fp) = (mean_sd(&get(|s| s.tp)).0, mean_sd(&get(|s| s.fp)).0);
    if runs.len() == 1 {
        return format!("{} {}/{}", alerts[0], tp, fp);
    }
    let (m, sd) = mean_sd(&alerts);
    format!("{m:.1}±{sd:.1} {tp:.1}/{fp:.1}")
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// Rows of the totals table, one per detector:
/// (header, recall, FP rate, benign-triggered alerts per hour, median probes).
pub(crate) fn totals_rows(report: &Report) -> Vec<[String; 6]> {
    (0..report.specs.len())
        .map(|i| {
            let t = Pooled::of(report.runs.iter().map(|r| &r.detectors[i].score));
            let median = t.median_probes().map_or("-".to_string(), |p| p.to_string());
            let per_hour = t
                .benign_alerts_per_hour()
                .map_or("n/a".to_string(), |h| format!("{h:.2}"));
            [
                short(&report.specs[i]),
                format!("{}/{} ({})", t.tp, t.scanners, pct(t.tp, t.scanners)),
                format!(
                    "{}/{} ({})",
                    t.fp,
                    t.benign_sources,
                    pct(t.fp, t.benign_sources)
                ),
                format!("{} of {}", t.benign_alerts, t.alerts),
                per_hour,
                median,
            ]
        })
        .collect()
}

pub(crate) const TOTALS_HEADER: [&str; 6] = [
    "detector",
    "scanners flagged",
    "benign sources flagged",
    "benign-triggered alerts",
    "per benign hour",
    "median probes to alert",
];

fn grid(headers: &[String], rows: &[Vec<String>], markdown: bool) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            let cell = if i == 0 {
                format!("{c}{}", " ".repeat(pad))
            } else {
                format!("{}{c}", " ".repeat(pad))
            };
            if markdown {
                s.push_str(&format!("| {cell} "));
            } else if i == 0 {
                s.push_str(&cell);
            } else {
                s.push_str(&format!(" | {cell}"));
            }
        }
        if markdown {
            s.push('|');
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    if markdown {
        let mut sep = String::new();
        for (i, wi) in w.iter().enumerate() {
            let dashes = "-".repeat((*wi).max(3));
            if i == 0 {
                sep.push_str(&format!("| {dashes} "));
            } else {
                sep.push_str(&format!("| {}: ", &dashes[1..]));
            }
        }
        out.push_str(&sep);
        out.push_str("|\n");
    }
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn verdict_grid(report: &Report, markdown: bool) -> String {
    let mut headers = vec!["scenario".to_string()];
    headers.extend(report.specs.iter().map(|s| short(s)));
    let rows: Vec<Vec<String>> = report
        .by_scenario()
        .iter()
        .map(|(name, runs)| {
            let mut row = vec![name.to_string()];
            row.extend((0..report.specs.len()).map(|i| cell(runs, i)));
            row
        })
        .collect();
    grid(&headers, &rows, markdown)
}

fn totals_grid(report: &Report, markdown: bool) -> String {
    let headers: Vec<String> = TOTALS_HEADER.iter().map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = totals_rows(report)
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    grid(&headers, &rows, markdown)
}

fn seeds_note(report: &Report) -> String {
    let groups = report.by_scenario();
    let max = groups.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
    if max > 1 {
        format!(" over {max} seeds: mean±sd alerts, mean TP/FP")
    } else {
        String::new()
    }
}

/// One line per run whose input ended early: its figures cover only the
/// frames before the damage.
pub fn cut_short_notes(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.runs {
        if let Some(e) = &r.input_error {
            let _ = writeln!(
                out,
                "Input cut short: {}: {e}; every figure covers only the frames before that point.",
                r.scenario
            );
        }
    }
    out
}

/// One line per run in which a detector dropped state to stay under its
/// memcap (nothing when none did): its verdicts may differ from an unbounded
/// run's.
pub fn eviction_notes(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.runs {
        let dropped: Vec<String> = r
            .detectors
            .iter()
            .filter(|d| d.memory.evictions > 0)
            .map(|d| format!("{} {}", short(&d.spec), d.memory.evictions))
            .collect();
        if !dropped.is_empty() {
            let _ = writeln!(
                out,
                "State evicted at the memcap: {} seed {}: {}.",
                r.scenario,
                r.summary.seed,
                dropped.join(", ")
            );
        }
    }
    out
}

/// The terminal table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Verdicts{}: cell = alerts TP/FP (flagged source addresses that are / are not scanners); - = no alert; n/a = no sensor at the detector's vantage point",
        seeds_note(report)
    );
    out.push_str(&verdict_grid(report, false));
    out.push('\n');
    out.push_str("Totals over all runs (docs/metrics.md defines each figure):\n");
    out.push_str(&totals_grid(report, false));
    out.push_str(&cut_short_notes(report));
    out.push_str(&eviction_notes(report));
    out
}

/// The same tables in Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Verdicts\n");
    let _ = writeln!(
        out,
        "Cell = alerts TP/FP (flagged source addresses that are / are not scanners){}; `-` = no alert; n/a = no sensor at the detector's vantage point.\n",
        seeds_note(report)
    );
    out.push_str(&verdict_grid(report, true));
    let _ = writeln!(out, "\n## Totals\n");
    out.push_str(&totals_grid(report, true));
    let notes = cut_short_notes(report) + &eviction_notes(report);
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{notes}");
    }
    let _ = writeln!(out, "\n## Detector configurations\n");
    if let Some(r) = report.runs.first() {
        for d in &r.detectors {
            let _ = writeln!(out, "- `{}`: `{}`", short(&d.spec), d.config);
        }
    }
    out
}
