//! CSV: one row per (run, detector configuration) with every score figure.
//! Empty cells mean "not defined" (a ratio with a zero denominator, a
//! latency with nothing flagged, or any figure that needs ground truth in a
//! run without it).

use super::{Report, needs_truth};

/// Column names, in order (documented in `docs/report-format.md`).
pub const COLUMNS: &[&str] = &[
    "scenario",
    "seed",
    "detector",
    "config",
    "vantage",
    "alerts",
    "flagged",
    "tp",
    "fp",
    "fn",
    "scanners",
    "benign_sources",
    "recall",
    "fp_rate",
    "benign_alerts",
    "benign_alerts_per_hour",
    "fp_alerts",
    "benign_connections",
    "fp_per_benign_connection",
    "sessionless_packets",
    "fp_per_sessionless_packet",
    "latency_s",
    "latency_probes",
    "duration_s",
    "input_error",
];

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

/// The CSV rendering.
pub fn csv(report: &Report) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for r in &report.runs {
        for d in &r.detectors {
            let s = &d.score;
            let worst = s.worst_latency();
            let mut cells = [
                quote(&r.scenario),
                r.seed().map_or(String::new(), |s| s.to_string()),
                quote(&d.spec),
                quote(&d.config),
                super::json::vantage_name(d.vantage).to_string(),
                s.alerts.to_string(),
                s.flagged.to_string(),
                s.tp.to_string(),
                s.fp.to_string(),
                s.fn_.to_string(),
                s.scanners.to_string(),
                s.benign_sources.to_string(),
                opt(s.recall()),
                opt(s.fp_rate()),
                s.benign_alerts.to_string(),
                opt(s.benign_alerts_per_hour()),
                s.fp_alerts.to_string(),
                s.benign_connections.to_string(),
                opt(s.fp_per_benign_connection()),
                s.sessionless_packets.to_string(),
                opt(s.fp_per_sessionless_packet()),
                opt(worst.map(|l| l.micros as f64 / 1e6)),
                worst
                    .and_then(|l| l.probes)
                    .map_or(String::new(), |p| p.to_string()),
                format!("{:.6}", s.duration_us as f64 / 1e6),
                r.input_error.as_deref().map_or(String::new(), quote),
            ];
            if !r.scored {
                // Only `alerts` and `flagged` are facts without ground truth.
                for (cell, name) in cells.iter_mut().zip(COLUMNS) {
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
