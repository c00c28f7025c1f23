//! The verdict table: rows scenarios (or replayed captures), columns detector
//! configurations, cells `alerts TP/FP` (with several seeds: means and the
//! spread of the alert count), followed by per-detector totals over the suite.
//! On a terminal the columns wrap into blocks that fit its width
//! ([`TableLayout`]).

use std::fmt::Write;

use super::{Report, mean_sd};
use crate::evaluate::ScenarioRun;
use crate::score::Pooled;

/// Values longer than this are cut in column labels.
const LABEL_VALUE_MAX: usize = 24;

/// Column label of a detector configuration: the spec as requested, which
/// names what a variant changes and pastes back into `--detectors`
/// (`screenos:count_mode=syn-only`, `psad:ignore_conntrack_bug_pkts=n`), with a
/// value longer than 24 characters cut short with `...`.
pub fn short(spec: &str) -> String {
    let Some((name, rest)) = spec.split_once(':') else {
        return spec.to_string();
    };
    let pairs: Vec<String> = rest
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if v.chars().count() > LABEL_VALUE_MAX => {
                let cut: String = v.chars().take(LABEL_VALUE_MAX - 3).collect();
                format!("{k}={cut}...")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{name}:{}", pairs.join(","))
}

/// How the terminal table is laid out.
#[derive(Clone, Debug, Default)]
pub struct TableLayout {
    /// Wrap the columns into blocks at most this wide, each repeating the
    /// first column; `None` puts every column in one block.
    pub width: Option<usize>,
    /// The detector columns shown (indices into [`Report::specs`]); `None`: all.
    pub columns: Option<Vec<usize>>,
}

impl TableLayout {
    fn shown(&self, report: &Report) -> Vec<usize> {
        match &self.columns {
            Some(c) => c
                .iter()
                .copied()
                .filter(|&i| i < report.specs.len())
                .collect(),
            None => (0..report.specs.len()).collect(),
        }
    }
}

/// `text` wrapped at spaces into lines of at most `width` characters (a word
/// longer than that gets a line of its own); unchanged without a width.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

/// Whether every run of the report has ground truth.
fn scored(report: &Report) -> bool {
    report.runs.iter().all(|r| r.scored)
}

/// One cell: `-` for no alert, else `alerts TP/FP`; over several seeds
/// `mean±sd TP/FP` with TP and FP as means; without ground truth the alert
/// count alone.
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
    if !runs.iter().all(|r| r.scored) {
        return runs
            .iter()
            .map(|r| r.detectors[det].score.alerts)
            .sum::<u64>()
            .to_string();
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

/// Rows of the totals table, one per shown detector:
/// (header, recall, FP rate, benign-triggered alerts per hour, median probes).
pub(crate) fn totals_rows(report: &Report, shown: &[usize]) -> Vec<[String; 6]> {
    shown
        .iter()
        .map(|&i| {
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
    "benign-triggered alerts per benign hour",
    "median probes to alert",
];

/// The columns `0..w.len()` split into blocks whose rendered width (column
/// 0 repeated in each, ` | ` between columns) stays within `width`; a column
/// wider than `width` gets a block of its own.
fn blocks(w: &[usize], width: Option<usize>) -> Vec<Vec<usize>> {
    let Some(width) = width else {
        return vec![(0..w.len()).collect()];
    };
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur = vec![0];
    let mut used = w.first().copied().unwrap_or(0);
    for (i, &wi) in w.iter().enumerate().skip(1) {
        if cur.len() > 1 && used + 3 + wi > width {
            out.push(std::mem::replace(&mut cur, vec![0]));
            used = w[0];
        }
        cur.push(i);
        used += 3 + wi;
    }
    out.push(cur);
    out
}

fn grid_within(
    headers: &[String],
    rows: &[Vec<String>],
    markdown: bool,
    width: Option<usize>,
) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    if markdown {
        return grid_block(
            headers,
            rows,
            &w,
            markdown,
            &(0..w.len()).collect::<Vec<_>>(),
        );
    }
    blocks(&w, width)
        .iter()
        .map(|cols| grid_block(headers, rows, &w, markdown, cols))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The columns `cols` of the grid.
fn grid_block(
    headers: &[String],
    rows: &[Vec<String>],
    w: &[usize],
    markdown: bool,
    cols: &[usize],
) -> String {
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cols.iter().map(|&i| (i, &cells[i])) {
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
        for (i, wi) in w.iter().enumerate().filter(|(i, _)| cols.contains(i)) {
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

/// What the rows are: scenarios, or replayed captures.
fn row_noun(report: &Report) -> &'static str {
    if !report.runs.is_empty() && report.runs.iter().all(|r| r.replayed) {
        "capture"
    } else {
        "scenario"
    }
}

fn verdict_grid(report: &Report, layout: &TableLayout, markdown: bool) -> String {
    let shown = layout.shown(report);
    let mut headers = vec![row_noun(report).to_string()];
    headers.extend(shown.iter().map(|&i| short(&report.specs[i])));
    let rows: Vec<Vec<String>> = report
        .by_scenario()
        .iter()
        .map(|(name, runs)| {
            let mut row = vec![name.to_string()];
            row.extend(shown.iter().map(|&i| cell(runs, i)));
            row
        })
        .collect();
    grid_within(&headers, &rows, markdown, layout.width)
}

fn totals_grid(report: &Report, layout: &TableLayout, markdown: bool) -> String {
    let headers: Vec<String> = TOTALS_HEADER.iter().map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = totals_rows(report, &layout.shown(report))
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    grid_within(&headers, &rows, markdown, layout.width)
}

/// Stands in for the totals when the runs have no ground truth.
const UNSCORED: &str =
    "Not scored: the input has no ground truth (give --labels FILE or --scanners ADDR).";

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

/// What a cell holds.
fn cell_legend(report: &Report) -> &'static str {
    if scored(report) {
        "cell = alerts TP/FP (flagged source addresses that are / are not scanners)"
    } else {
        "cell = alerts (not scored: no ground truth)"
    }
}

/// The terminal table, every column in one block.
pub fn table(report: &Report) -> String {
    table_with(report, &TableLayout::default())
}

/// The terminal table laid out by `layout`.
pub fn table_with(report: &Report, layout: &TableLayout) -> String {
    let mut out = String::new();
    let legend = format!(
        "Verdicts{}: {}; - = no alert; n/a = no sensor at the detector's vantage point",
        seeds_note(report),
        cell_legend(report)
    );
    let _ = writeln!(out, "{}", wrap(&legend, layout.width));
    out.push_str(&verdict_grid(report, layout, false));
    out.push('\n');
    if !scored(report) {
        let _ = writeln!(out, "{}", wrap(UNSCORED, layout.width));
        out.push_str(&cut_short_notes(report));
        out.push_str(&eviction_notes(report));
        return out;
    }
    out.push_str("Totals over all runs (docs/metrics.md defines each figure):\n");
    out.push_str(&totals_grid(report, layout, false));
    out.push_str(&cut_short_notes(report));
    out.push_str(&eviction_notes(report));
    out
}

/// The same tables in Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Verdicts\n");
    let mut legend = cell_legend(report).to_string();
    legend[..1].make_ascii_uppercase();
    let _ = writeln!(
        out,
        "{legend}{}; `-` = no alert; n/a = no sensor at the detector's vantage point.\n",
        seeds_note(report)
    );
    let all = TableLayout::default();
    out.push_str(&verdict_grid(report, &all, true));
    let _ = writeln!(out, "\n## Totals\n");
    if scored(report) {
        out.push_str(&totals_grid(report, &all, true));
    } else {
        let _ = writeln!(out, "{UNSCORED}");
    }
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
