//! A sweep's report as a table (terminal), CSV and JSON. The JSON holds
//! every job's score, so [`from_json`] rebuilds the report (for `merge`) and
//! every rendering of the rebuilt report equals the original's.
//!
//! Figures per point (`docs/sweep.md`, `docs/metrics.md`), pooled over the
//! point's runs that had a sensor at the detector's vantage point: recall
//! (scanners flagged / scanners), FP rate (benign sources flagged / benign
//! sources), benign-triggered alerts per hour of traffic, the median probes
//! and the median virtual time from a scanner's first packet to the first
//! alert naming it.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Grid, JobResult, PointFigures, ScenarioEntry, SweepReport};
use crate::error::{Error, Result};

/// The JSON document's `format`.
pub const FORMAT: &str = "scanbench-sweep";

/// Version of the sweep JSON's schema: fields are only ever added; a change
/// in meaning bumps it.
pub const VERSION: u64 = 1;

/// Column names of the figures, after one column per swept parameter.
pub const FIGURE_COLUMNS: &[&str] = &[
    "runs",
    "applicable_runs",
    "alerts",
    "scanners_flagged",
    "scanners",
    "recall",
    "benign_sources_flagged",
    "benign_sources",
    "fp_rate",
    "benign_alerts",
    "hours",
    "benign_alerts_per_hour",
    "median_probes",
    "median_latency_s",
];

fn ratio_text(n: u64, d: u64) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{n}/{d} ({:.1}%)", 100.0 * n as f64 / d as f64)
    }
}

fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Headers of the figures in the table and the HTML report, after one
/// column per swept parameter.
pub const TABLE_HEADERS: [&str; 7] = [
    "runs",
    "recall (scanners)",
    "FP rate (benign sources)",
    "benign alerts/h",
    "median probes",
    "median latency (s)",
    "alerts",
];

/// The figures of one point for reading, under [`TABLE_HEADERS`].
pub fn human_cells(f: &PointFigures) -> Vec<String> {
    let p = &f.pooled;
    vec![
        format!("{}/{}", p.runs, f.runs),
        ratio_text(p.tp, p.scanners),
        ratio_text(p.fp, p.benign_sources),
        p.benign_alerts_per_hour()
            .map_or("n/a".into(), |h| format!("{h:.2}")),
        p.median_probes().map_or("-".into(), |n| n.to_string()),
        p.median_latency_us()
            .map_or("-".into(), |us| format!("{:.3}", secs(us))),
        p.alerts.to_string(),
    ]
}

/// The figures of one point for CSV, under [`FIGURE_COLUMNS`].
fn csv_cells(f: &PointFigures) -> Vec<String> {
    let p = &f.pooled;
    vec![
        f.runs.to_string(),
        p.runs.to_string(),
        p.alerts.to_string(),
        p.tp.to_string(),
        p.scanners.to_string(),
        opt(p.recall().map(|r| format!("{r:.6}"))),
        p.fp.to_string(),
        p.benign_sources.to_string(),
        opt(p.fp_rate().map(|r| format!("{r:.6}"))),
        p.benign_alerts.to_string(),
        format!("{:.6}", p.hours()),
        opt(p.benign_alerts_per_hour().map(|r| format!("{r:.6}"))),
        opt(p.median_probes()),
        opt(p.median_latency_us().map(|us| format!("{:.6}", secs(us)))),
    ]
}

/// One line naming what was swept over what.
pub fn headline(r: &SweepReport) -> String {
    let seeds: usize = r.scenarios.iter().map(|s| s.seeds.len()).sum();
    let mut s = format!(
        "Sweep of {} over {} ({} point(s)) on {} scenario(s), {} run(s) per point",
        r.grid.base,
        r.grid
            .axes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(" x "),
        r.grid.points.len(),
        r.scenarios.len(),
        seeds
    );
    if let Some(shard) = r.shard {
        let _ = write!(s, "; shard {shard}: these figures cover only its jobs");
    }
    s
}

/// The terminal table: one row per point.
pub fn table(r: &SweepReport) -> String {
    let mut headers: Vec<String> = r.grid.axes.iter().map(|a| a.name.clone()).collect();
    headers.extend(TABLE_HEADERS.map(String::from));
    let rows: Vec<Vec<String>> = r
        .grid
        .points
        .iter()
        .zip(r.figures())
        .map(|(p, f)| {
            let mut row = p.values.clone();
            row.extend(human_cells(&f));
            row
        })
        .collect();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:>width$}", width = w[i]))
            .collect();
        padded.join(" | ").trim_end().to_string() + "\n"
    };
    let mut out = headline(r) + "\n";
    out.push_str(
        "runs: scored (a sensor at the detector's vantage point) / run; recall: scanners flagged; \
         FP rate: benign sources flagged; benign alerts/h: benign-triggered alerts per benign hour; \
         median probes and latency (virtual time) to the first alert naming a scanner (docs/sweep.md)\n",
    );
    out.push_str(&line(&headers));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// CSV: one row per point, a column per swept parameter then
/// [`FIGURE_COLUMNS`]; empty cells are undefined figures.
pub fn csv(r: &SweepReport) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut header: Vec<String> = r.grid.axes.iter().map(|a| quote(&a.name)).collect();
    header.extend(FIGURE_COLUMNS.iter().map(|c| c.to_string()));
    let mut out = header.join(",") + "\n";
    for (p, f) in r.grid.points.iter().zip(r.figures()) {
        let mut row: Vec<String> = p.values.iter().map(|v| quote(v)).collect();
        row.extend(csv_cells(&f));
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn figures_json(f: &PointFigures) -> Value {
    let p = &f.pooled;
    json!({
        "runs": f.runs,
        "applicable_runs": p.runs,
        "alerts": p.alerts,
        "scanners_flagged": p.tp,
        "scanners": p.scanners,
        "recall": p.recall(),
        "benign_sources_flagged": p.fp,
        "benign_sources": p.benign_sources,
        "fp_rate": p.fp_rate(),
        "benign_alerts": p.benign_alerts,
        "hours": p.hours(),
        "duration_us": p.duration_us,
        "benign_alerts_per_hour": p.benign_alerts_per_hour(),
        "median_probes": p.median_probes(),
        "median_latency": p.median_latency_us().map(secs),
        "median_latency_us": p.median_latency_us(),
    })
}

/// The JSON document, with every job that ran as a record in `runs`, and a
/// `shard` object when the report is a shard's.
pub fn json_value(r: &SweepReport) -> Value {
    let jobs = r.jobs();
    let mut held = Vec::new();
    let runs: Vec<Value> = jobs
        .iter()
        .zip(&r.results)
        .enumerate()
        .filter_map(|(i, (job, res))| {
            let res = res.as_ref()?;
            held.push(i);
            Some(json!({
                "scenario": r.scenarios[job.scenario].name,
                "seed": job.seed,
                "point": job.point,
                "applicable": res.applicable,
                "score": serde_json::to_value(&res.score).unwrap_or(Value::Null),
            }))
        })
        .collect();
    let points: Vec<Value> = r
        .grid
        .points
        .iter()
        .zip(r.figures())
        .map(|(p, f)| {
            let mut v = figures_json(&f);
            v["values"] = json!(p.values);
            v["spec"] = json!(p.spec);
            v["config"] = json!(p.config);
            v
        })
        .collect();
    let mut doc = json!({
        "format": FORMAT,
        "version": VERSION,
        "tool": {"name": "scanbench", "version": env!("CARGO_PKG_VERSION")},
        "detector": r.grid.base,
        "params": r.grid.axes.iter().map(|a| json!({"name": a.name, "values": a.values})).collect::<Vec<_>>(),
        "scenarios": r.scenarios.iter().map(|s| json!({
            "name": s.name,
            "file": s.file.display().to_string(),
            "seeds": s.seeds,
        })).collect::<Vec<_>>(),
        "points": points,
        "runs": runs,
    });
    if let Some(shard) = r.shard {
        crate::shard::annotate(&mut doc, shard, jobs.len(), &held);
    }
    doc
}

/// The JSON rendering (pretty-printed, one document).
pub fn json(r: &SweepReport) -> String {
    crate::report::json::text(&json_value(r))
}

/// Rebuilds a complete (unsharded) report from its JSON `doc`, read from
/// `path` (named in errors). Figures are recomputed from the runs.
///
/// # Errors
/// [`Error::Input`] when the document is not a sweep report of this
/// version, its grid no longer configures, or a run is missing or out of
/// place.
pub fn from_json(path: &Path, doc: &Value) -> Result<SweepReport> {
    let bad = |message: String| Error::Input {
        path: path.to_path_buf(),
        line: None,
        message,
    };
    if doc["format"] != FORMAT || doc["version"] != VERSION {
        return Err(bad(format!("not a {FORMAT} document of version {VERSION}")));
    }
    let base = doc["detector"]
        .as_str()
        .ok_or_else(|| bad("no `detector`".into()))?;
    let params: Vec<String> = doc["params"]
        .as_array()
        .ok_or_else(|| bad("no `params` list".into()))?
        .iter()
        .map(|a| {
            let values: Option<Vec<&str>> = a["values"]
                .as_array()
                .and_then(|v| v.iter().map(Value::as_str).collect());
            match (a["name"].as_str(), values) {
                (Some(n), Some(v)) => Ok(format!("{n}={}", v.join(","))),
                _ => Err(bad("a `params` entry lacks `name` or `values`".into())),
            }
        })
        .collect::<Result<_>>()?;
    let grid = Grid::new(base, &params).map_err(|e| bad(format!("the grid: {e}")))?;
    let scenarios: Vec<ScenarioEntry> = doc["scenarios"]
        .as_array()
        .ok_or_else(|| bad("no `scenarios` list".into()))?
        .iter()
        .map(|s| {
            let seeds: Option<Vec<u64>> = s["seeds"]
                .as_array()
                .and_then(|v| v.iter().map(Value::as_u64).collect());
            match (s["name"].as_str(), s["file"].as_str(), seeds) {
                (Some(name), Some(file), Some(seeds)) => Ok(ScenarioEntry {
                    name: name.to_string(),
                    file: PathBuf::from(file),
                    seeds,
                }),
                _ => Err(bad(
                    "a `scenarios` entry lacks `name`, `file` or `seeds`".into()
                )),
            }
        })
        .collect::<Result<_>>()?;
    let mut report = SweepReport {
        grid,
        scenarios,
        results: Vec::new(),
        shard: None,
    };
    let runs = doc["runs"]
        .as_array()
        .ok_or_else(|| bad("no `runs` list".into()))?;
    // Count before listing the jobs: the scenarios' seeds are input.
    if report.job_count() != Some(runs.len()) {
        return Err(bad(format!(
            "{} runs, but the scenarios, seeds and grid make {} jobs",
            runs.len(),
            report
                .job_count()
                .map_or("too many".to_string(), |n| n.to_string())
        )));
    }
    let jobs = report.jobs();
    for (i, (job, run)) in jobs.iter().zip(runs).enumerate() {
        let expected = (
            report.scenarios[job.scenario].name.as_str(),
            job.seed,
            job.point as u64,
        );
        let found = (
            run["scenario"].as_str().unwrap_or(""),
            run["seed"].as_u64().unwrap_or(u64::MAX),
            run["point"].as_u64().unwrap_or(u64::MAX),
        );
        if found != expected {
            return Err(bad(format!(
                "run {i} is {found:?}, expected (scenario, seed, point) {expected:?}"
            )));
        }
        let result = JobResult {
            applicable: run["applicable"]
                .as_bool()
                .ok_or_else(|| bad(format!("run {i}: no `applicable`")))?,
            score: serde_json::from_value(run["score"].clone())
                .map_err(|e| bad(format!("run {i}: `score`: {e}")))?,
        };
        report.results.push(Some(result));
    }
    Ok(report)
}
