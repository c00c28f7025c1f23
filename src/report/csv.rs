//! CSV: one row per (run, detector configuration) with every score figure.
//! Empty cells mean "not defined" (a ratio with a zero denominator, a
//! latency with nothing flagged, or any figure that needs ground truth in a
//! run without it).

use super::{Figure, Report, TRUTH_FIGURES, needs_truth};

/// The columns before the truth figures: the run, the detector, and the two
/// facts of its output that need no ground truth.
const LEAD: &[&str] = &[
    "scenario", "seed", "detector", "config", "vantage", "alerts", "flagged",
];

/// The columns after the truth figures.
const TAIL: &[&str] = &["latency_s", "latency_probes", "duration_s", "input_error"];

/// Column names, in order (documented in `docs/report-format.md`): [`LEAD`],
/// the truth figures, [`TAIL`].
pub fn columns() -> impl Iterator<Item = &'static str> {
    let truth = TRUTH_FIGURES.iter().map(|(name, _)| *name);
    LEAD.iter()
        .copied()
        .chain(truth)
        .chain(TAIL.iter().copied())
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v:.6}"))
}

fn figure(f: Figure) -> String {
    match f {
        Figure::Count(n) => n.to_string(),
        Figure::Ratio(x) => opt(x),
    }
}

/// The CSV rendering.
pub fn csv(report: &Report) -> String {
    let mut out = columns().collect::<Vec<_>>().join(",");
    out.push('\n');
    for r in &report.runs {
        for d in &r.detectors {
            let s = &d.score;
            let worst = s.worst_latency();
            let mut cells = vec![
                quote(&r.scenario),
                r.seed().map_or(String::new(), |s| s.to_string()),
                quote(&d.spec),
                quote(&d.config),
                super::json::vantage_name(d.vantage).to_string(),
                s.alerts.to_string(),
                s.flagged.to_string(),
            ];
            cells.extend(TRUTH_FIGURES.iter().map(|(_, read)| figure(read(s))));
            cells.extend([
                opt(worst.map(|l| l.micros as f64 / 1e6)),
                worst
                    .and_then(|l| l.probes)
                    .map_or(String::new(), |p| p.to_string()),
                format!("{:.6}", s.duration_us as f64 / 1e6),
                r.input_error.as_deref().map_or(String::new(), quote),
            ]);
            if !r.scored {
                // Only `alerts` and `flagged` are facts without ground truth.
                for (cell, name) in cells.iter_mut().zip(columns()) {
                    if needs_truth(name) {
                        cell.clear();
                    }
                }
            }
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    out
}
