//! Reports: the verdict table (terminal), Markdown, CSV and JSON renderings
//! of the same runs. The JSON form is documented in `docs/report-format.md`
//! and versioned; the others are for reading.
//!
//! With several seeds per scenario, the table and Markdown show the mean and
//! spread over seeds; CSV and JSON keep one record per run.

mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod plot;
mod table;
mod verdicts;

pub use self::csv::csv;
pub use self::json::{JSON_VERSION, json};
pub use self::table::{
    TableLayout, cut_short_notes, eviction_notes, markdown, short, table, table_with, wrap,
};
pub use self::verdicts::verdicts;
pub use crate::time_text::{duration_text, relative_text, utc_text};

use crate::evaluate::ScenarioRun;
use crate::score::Score;

/// The runs of one invocation, in the order they were requested.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Detector specs, in column order.
    pub specs: Vec<String>,
    /// One entry per (scenario, seed) or replayed capture.
    pub runs: Vec<ScenarioRun>,
}

/// Output format of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for the terminal.
    Table,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    /// One row per run and detector.
    Csv,
    /// The full report (`docs/report-format.md`).
    Json,
    /// One self-contained HTML page: verdict matrix, totals, alert timelines.
    Html,
    /// JUnit XML: a test case per scenario claim and per verdict snapshot.
    Junit,
}

impl Report {
    /// Renders the report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => table(self),
            Format::Markdown => markdown(self),
            Format::Csv => csv(self),
            Format::Json => json(self),
            Format::Html => html::report(self),
            Format::Junit => junit::junit(self, &junit::claims_of(self), None),
        }
    }

    /// Runs grouped by scenario, in first-appearance order.
    pub fn by_scenario(&self) -> Vec<(&str, Vec<&ScenarioRun>)> {
        let mut out: Vec<(&str, Vec<&ScenarioRun>)> = Vec::new();
        for r in &self.runs {
            match out.iter_mut().find(|(n, _)| *n == r.scenario) {
                Some((_, v)) => v.push(r),
                None => out.push((&r.scenario, vec![r])),
            }
        }
        out
    }
}

/// A score figure's value: a count, or a ratio that may be undefined (a zero
/// denominator).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Figure {
    Count(u64),
    Ratio(Option<f64>),
}

/// How a figure is read from a [`Score`].
pub(crate) type ReadFigure = fn(&Score) -> Figure;

/// The score figures that need ground truth, in CSV column order: each one's
/// JSON key and CSV column, and how to read it from a [`Score`]. The one list
/// both renderings take them from, so a new figure cannot reach one and miss
/// the other.
pub(crate) const TRUTH_FIGURES: &[(&str, ReadFigure)] = &[
    ("tp", |s| Figure::Count(s.tp)),
    ("fp", |s| Figure::Count(s.fp)),
    ("fn", |s| Figure::Count(s.fn_)),
    ("scanners", |s| Figure::Count(s.scanners)),
    ("benign_sources", |s| Figure::Count(s.benign_sources)),
    ("recall", |s| Figure::Ratio(s.recall())),
    ("fp_rate", |s| Figure::Ratio(s.fp_rate())),
    ("benign_alerts", |s| Figure::Count(s.benign_alerts)),
    ("benign_alerts_per_hour", |s| {
        Figure::Ratio(s.benign_alerts_per_hour())
    }),
    ("fp_alerts", |s| Figure::Count(s.fp_alerts)),
    ("benign_connections", |s| {
        Figure::Count(s.benign_connections)
    }),
    ("fp_per_benign_connection", |s| {
        Figure::Ratio(s.fp_per_benign_connection())
    }),
    ("sessionless_packets", |s| {
        Figure::Count(s.sessionless_packets)
    }),
    ("fp_per_sessionless_packet", |s| {
        Figure::Ratio(s.fp_per_sessionless_packet())
    }),
];

/// Whether the figure `name` (a JSON score key or CSV column) needs ground
/// truth, so a run without it reports it absent: the figures above and every
/// latency (`latency`, `latency_s`, `latency_probes`). `alerts` and `flagged`
/// are facts of the detector's output and never need it.
pub(crate) fn needs_truth(name: &str) -> bool {
    TRUTH_FIGURES.iter().any(|(n, _)| *n == name)
        || name == "latency"
        || name.starts_with("latency_")
}

/// Mean and population standard deviation of `xs` (0, 0 when empty).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}
