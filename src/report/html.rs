//! The report a person opens: one self-contained HTML file (inline CSS and
//! SVG, no script, no link off the page) that reads at 1280 px.
//!
//! For `run`: the verdict matrix (rows scenarios, columns detector
//! configurations grouped by detector, variants abbreviated with a legend,
//! cells coloured by what the alerts blamed), the totals per detector, and
//! per scenario an alert timeline (which detector fired when, blaming whom)
//! with the first alerts and the labelled causes of their packets. For
//! `sweep`: the figures per point, the plots of [`super::plot`], and the
//! matrix of scenarios against points.
//!
//! Every matrix row carries `data-scenario`, every plot is an `<svg>` with
//! `class="plot"`: the browser test in `tests/html_report.rs` counts them.

use std::fmt::Write;

use super::table::{TOTALS_HEADER, short, totals_rows};
use super::{Report, mean_sd};
use crate::error::Result;
use crate::evaluate::ScenarioRun;
use crate::score::{Pooled, Score};
use crate::sweep::{SweepReport, render};

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:13px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1b1b1b;margin:0 auto;padding:12px 16px;max-width:1248px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}h3{font-size:14px;margin:14px 0 4px}
p.meta{color:#555;margin:2px 0}
table{border-collapse:collapse}
th,td{border:1px solid #d0d0d0;padding:2px 4px}
th{background:#f3f3f3;font-weight:600}
table.matrix{table-layout:fixed;width:100%}
table.matrix td{text-align:center;font-variant-numeric:tabular-nums;line-height:1.15;overflow:hidden}
table.matrix td small{display:block;color:#333;font-size:11px}
table.matrix th.scenario{text-align:left;width:228px;font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.matrix thead th{font-size:11px}
td.tp{background:#c9ecc9}td.fp{background:#f6b8b8}td.mixed{background:#f9dc9c}
td.miss{background:#fbeaea;color:#8a1f1f}td.quiet{background:#fff;color:#999}
td.na{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#f8f8f8 4px,#f8f8f8 8px);color:#888}
.key span{display:inline-block;padding:0 6px;margin:0 4px 2px 0;border:1px solid #ccc}
.key .tp{background:#c9ecc9}.key .fp{background:#f6b8b8}.key .mixed{background:#f9dc9c}.key .miss{background:#fbeaea}.key .quiet{background:#fff}.key .na{background:#eee}
table.num td{text-align:right;font-variant-numeric:tabular-nums}table.num td:first-child{text-align:left}
dl.legend{display:grid;grid-template-columns:repeat(3,max-content 1fr);gap:0 10px;margin:6px 0;font-size:12px}
dl.legend dt{font-weight:600}dl.legend dd{margin:0}
td.config{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11px;overflow-wrap:anywhere}
svg.plot{display:block;max-width:100%;height:auto;margin:4px 0}
svg.timeline rect.tp{fill:#1a7f37}svg.timeline rect.fp{fill:#c62828}
svg.timeline text{font-size:11px;fill:#333}svg.timeline line{stroke:#ddd}
table.alerts{width:100%;font-size:12px}table.alerts td{vertical-align:top}
details{margin:4px 0 10px}
";

/// A matrix column: its group (a detector, or the sweep), the abbreviation
/// shown, and what it stands for.
struct Column {
    group: String,
    code: String,
    spec: String,
    config: String,
}

/// A matrix cell.
struct Cell {
    class: &'static str,
    text: String,
    sub: String,
    title: String,
}

/// `syn-only` -> `so`, `medium` -> `med`, `n` (of `ignore_conntrack_bug_pkts`) -> `icbp=n`.
fn abbreviate_pair(key: &str, value: &str) -> String {
    let initials = |s: &str, sep: char| -> String {
        s.split(sep)
            .filter_map(|w| w.chars().next())
            .collect::<String>()
    };
    let word = value.to_ascii_lowercase();
    if [
        "y", "n", "yes", "no", "true", "false", "on", "off", "0", "1",
    ]
    .contains(&word.as_str())
    {
        return format!("{}={value}", initials(key, '_'));
    }
    if value.contains('-') {
        return initials(value, '-');
    }
    if value.chars().count() > 4 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        return value.chars().take(3).collect();
    }
    value.to_string()
}

/// Columns for detector specs, grouped by detector name in first-appearance
/// order; `configs[i]` is the full configuration of `specs[i]`.
fn detector_columns(specs: &[String], configs: &[String]) -> Vec<Column> {
    let mut cols: Vec<Column> = Vec::new();
    for (spec, config) in specs.iter().zip(configs) {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut code = if rest.is_empty() {
            "def".to_string()
        } else {
            rest.split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or(("", kv));
                    abbreviate_pair(k, v)
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        if code.chars().count() > 9 {
            code = format!("v{}", cols.iter().filter(|c| c.group == name).count() + 1);
        }
        while cols.iter().any(|c| c.group == name && c.code == code) {
            code.push('\'');
        }
        cols.push(Column {
            group: name.to_string(),
            code,
            spec: spec.clone(),
            config: config.clone(),
        });
    }
    // Keep each detector's variants together, detectors in first-seen order.
    let order: Vec<String> = cols.iter().fold(Vec::new(), |mut v, c| {
        if !v.contains(&c.group) {
            v.push(c.group.clone());
        }
        v
    });
    let mut sorted = Vec::with_capacity(cols.len());
    for g in &order {
        sorted.extend(cols.iter().filter(|c| &c.group == g).map(|c| Column {
            group: c.group.clone(),
            code: c.code.clone(),
            spec: c.spec.clone(),
            config: c.config.clone(),
        }));
    }
    sorted
}

/// The cell of one scenario and configuration over its runs' scores
/// (`None`: the run had no sensor at the detector's vantage point).
fn cell(scenario: &str, what: &str, scores: &[Option<&Score>]) -> Cell {
    let applicable: Vec<&Score> = scores.iter().flatten().copied().collect();
    if applicable.is_empty() {
        return Cell {
            class: "na",
            text: "n/a".into(),
            sub: String::new(),
            title: format!("{scenario} / {what}: no sensor at the detector's vantage point"),
        };
    }
    let p = Pooled::of(applicable.iter().copied());
    let n = applicable.len();
    let num = |x: u64| {
        if n == 1 {
            x.to_string()
        } else {
            format!("{:.1}", x as f64 / n as f64)
        }
    };
    let class = match (p.tp > 0, p.fp > 0) {
        (true, true) => "mixed",
        (false, true) => "fp",
        (true, false) => "tp",
        (false, false) if p.scanners > 0 => "miss",
        (false, false) => "quiet",
    };
    let alerts: Vec<f64> = applicable.iter().map(|s| s.alerts as f64).collect();
    let spread = if n > 1 {
        format!(" (sd {:.1})", mean_sd(&alerts).1)
    } else {
        String::new()
    };
    Cell {
        class,
        text: if p.alerts == 0 {
            "–".into()
        } else {
            num(p.alerts)
        },
        sub: if p.alerts == 0 {
            String::new()
        } else {
            format!("{}/{}", num(p.tp), num(p.fp))
        },
        title: format!(
            "{scenario} / {what}: {} alert(s){spread}; scanners flagged {}/{}; benign sources flagged {}/{}; over {n} run(s)",
            num(p.alerts),
            p.tp,
            p.scanners,
            p.fp,
            p.benign_sources
        ),
    }
}

fn matrix(out: &mut String, columns: &[Column], rows: &[(String, Vec<Cell>)]) {
    out.push_str(
        "<table class=\"matrix\"><thead><tr><th class=\"scenario\" rowspan=\"2\">scenario</th>",
    );
    let mut i = 0;
    while i < columns.len() {
        let g = &columns[i].group;
        let span = columns[i..].iter().take_while(|c| &c.group == g).count();
        let _ = write!(
            out,
            "<th colspan=\"{span}\" class=\"group\">{}</th>",
            esc(g).replace('-', "-<wbr>")
        );
        i += span;
    }
    out.push_str("</tr><tr>");
    for c in columns {
        let _ = write!(out, "<th title=\"{}\">{}</th>", esc(&c.spec), esc(&c.code));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (scenario, cells) in rows {
        let _ = write!(
            out,
            "<tr data-scenario=\"{0}\"><th class=\"scenario\" title=\"{0}\">{0}</th>",
            esc(scenario)
        );
        for c in cells {
            let _ = write!(
                out,
                "<td class=\"{}\" title=\"{}\">{}{}</td>",
                c.class,
                esc(&c.title),
                esc(&c.text),
                if c.sub.is_empty() {
                    String::new()
                } else {
                    format!("<small>{}</small>", esc(&c.sub))
                }
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out.push_str(
        "<p class=\"key\">Cell: alerts, then scanners / benign sources flagged (means over seeds). \
         <span class=\"tp\">flags scanners only</span><span class=\"fp\">flags benign sources only</span>\
         <span class=\"mixed\">both</span><span class=\"miss\">misses the scanners</span>\
         <span class=\"quiet\">silent, nothing to find</span><span class=\"na\">n/a: no sensor where it reads</span></p>\n",
    );
    out.push_str("<dl class=\"legend\">");
    for c in columns {
        let _ = write!(
            out,
            "<dt>{} {}</dt><dd>{}</dd>",
            esc(&c.group),
            esc(&c.code),
            esc(&c.spec)
        );
    }
    out.push_str("</dl>\n");
}

fn configs(out: &mut String, columns: &[Column]) {
    out.push_str("<table class=\"configs\"><thead><tr><th>column</th><th>spec</th><th>full configuration</th></tr></thead><tbody>\n");
    for c in columns {
        let _ = writeln!(
            out,
            "<tr><td>{} {}</td><td>{}</td><td class=\"config\">{}</td></tr>",
            esc(&c.group),
            esc(&c.code),
            esc(&c.spec),
            esc(&c.config)
        );
    }
    out.push_str("</tbody></table>\n");
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// `12.5 s`, `3.0 min`, `2.4 h`.
fn span(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s >= 7200.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.3} s")
    }
}

/// A tick label: `span` without trailing zeros.
fn tick(us: u64) -> String {
    let s = span(us);
    match s.split_once(' ') {
        Some((n, unit)) if n.contains('.') => {
            format!("{} {unit}", n.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s,
    }
}

/// Most alert marks drawn per timeline lane: beyond it a lane would be a
/// solid bar, and the page would grow with the alert count.
const MARKS_PER_LANE: usize = 400;
/// Alerts listed per scenario under its timeline.
const ALERTS_LISTED: usize = 40;

fn causes(a: &crate::score::ScoredAlert) -> String {
    a.causes
        .iter()
        .map(|c| {
            format!(
                "{} {}/{} ×{}",
                c.label.actor, c.label.class, c.label.cause, c.packets
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The alert timeline of one run: a lane per configuration that alerted.
fn timeline(out: &mut String, run: &ScenarioRun, columns: &[Column]) {
    let duration = run.truth.duration_us.max(1);
    let lanes: Vec<(usize, &Column)> = columns
        .iter()
        .filter_map(|c| {
            let i = run.detectors.iter().position(|d| d.spec == c.spec)?;
            (!run.detectors[i].alerts.is_empty()).then_some((i, c))
        })
        .collect();
    if lanes.is_empty() {
        out.push_str("<p>No detector alerted.</p>\n");
        return;
    }
    let (left, width, lane_h, top) = (150.0, 1200.0, 16.0, 6.0);
    let plot_w = width - left - 10.0;
    let height = top + lane_h * lanes.len() as f64 + 22.0;
    let _ = writeln!(
        out,
        "<svg class=\"plot timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"alert timeline of {}\">",
        esc(&run.scenario)
    );
    let x_of = |us: i64| left + plot_w * (us.max(0) as f64 / duration as f64).min(1.0);
    for k in 0..=5u64 {
        let us = duration * k / 5;
        let x = x_of(us as i64);
        let anchor = match k {
            0 => "start",
            5 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            height - 20.0,
            height - 6.0,
            tick(us)
        );
    }
    for (lane, (i, col)) in lanes.iter().enumerate() {
        let y = top + lane_h * lane as f64;
        let d = &run.detectors[*i];
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} {} ({})</text>",
            left - 6.0,
            y + 11.0,
            esc(&col.group),
            esc(&col.code),
            d.alerts.len()
        );
        for a in d.alerts.iter().take(MARKS_PER_LANE) {
            let al = &a.alert;
            let _ = writeln!(
                out,
                "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"11\"><title>{:.6} s: {} {} blaming {}{}; caused by {}</title></rect>",
                if a.blames_scanner { "tp" } else { "fp" },
                x_of(al.time.total_micros()) - 1.5,
                y + 2.0,
                al.time.total_micros() as f64 / 1e6,
                esc(&short(&d.spec)),
                al.kind,
                al.scanner,
                al.victim.map_or(String::new(), |v| format!(" -> {v}")),
                esc(&causes(a))
            );
        }
    }
    out.push_str("</svg>\n");
    if lanes
        .iter()
        .any(|(i, _)| run.detectors[*i].alerts.len() > MARKS_PER_LANE)
    {
        let _ = writeln!(
            out,
            "<p class=\"meta\">Lanes show their first {MARKS_PER_LANE} alerts.</p>"
        );
    }
    let mut all: Vec<(&crate::score::ScoredAlert, &Column)> = lanes
        .iter()
        .flat_map(|(i, c)| run.detectors[*i].alerts.iter().map(move |a| (a, *c)))
        .collect();
    all.sort_by_key(|(a, c)| (a.alert.time, c.group.clone(), c.code.clone()));
    let _ = writeln!(
        out,
        "<details><summary>{} alert(s), first {} by time, with the labelled causes of their packets</summary>",
        all.len(),
        all.len().min(ALERTS_LISTED)
    );
    out.push_str("<table class=\"alerts\"><thead><tr><th>time (s)</th><th>detector</th><th>kind</th><th>blames</th><th>on packets of (actor class/cause ×packets)</th><th>log line</th></tr></thead><tbody>\n");
    for (a, c) in all.iter().take(ALERTS_LISTED) {
        let al = &a.alert;
        let _ = writeln!(
            out,
            "<tr><td>{:.6}</td><td>{} {}</td><td>{}</td><td class=\"{}\">{}{}</td><td>{}</td><td class=\"config\">{}</td></tr>",
            al.time.total_micros() as f64 / 1e6,
            esc(&c.group),
            esc(&c.code),
            al.kind,
            if a.blames_scanner { "tp" } else { "fp" },
            al.scanner,
            al.victim.map_or(String::new(), |v| format!(" → {v}")),
            esc(&causes(a)),
            esc(&al.evidence.log_line)
        );
    }
    out.push_str("</tbody></table></details>\n");
}

/// The HTML report of `run` (or `replay`).
pub fn report(r: &Report) -> String {
    let configs_of: Vec<String> = r
        .specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            r.runs
                .first()
                .and_then(|run| run.detectors.get(i))
                .map_or(s.clone(), |d| d.config.clone())
        })
        .collect();
    let columns = detector_columns(&r.specs, &configs_of);
    let groups = r.by_scenario();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>scanbench report</h1>\n<p class=\"meta\">{} run(s) of {} scenario(s), {} detector configuration(s); scanbench {}. Figures: docs/metrics.md.</p>",
        r.runs.len(),
        groups.len(),
        r.specs.len(),
        env!("CARGO_PKG_VERSION")
    );
    body.push_str("<h2 id=\"verdicts\">Verdicts</h2>\n");
    let rows: Vec<(String, Vec<Cell>)> = groups
        .iter()
        .map(|(name, runs)| {
            let cells = columns
                .iter()
                .map(|c| {
                    let i = r.specs.iter().position(|s| s == &c.spec).unwrap_or(0);
                    let scores: Vec<Option<&Score>> = runs
                        .iter()
                        .map(|run| {
                            run.detectors
                                .get(i)
                                .filter(|d| d.applicable)
                                .map(|d| &d.score)
                        })
                        .collect();
                    cell(name, &c.spec, &scores)
                })
                .collect();
            (name.to_string(), cells)
        })
        .collect();
    matrix(&mut body, &columns, &rows);
    body.push_str("<h2 id=\"totals\">Totals per detector</h2>\n<table class=\"num\"><thead><tr>");
    for h in TOTALS_HEADER {
        let _ = write!(body, "<th>{}</th>", esc(h));
    }
    body.push_str("</tr></thead><tbody>\n");
    let all: Vec<usize> = (0..r.specs.len()).collect();
    for row in totals_rows(r, &all) {
        body.push_str("<tr>");
        for c in row {
            let _ = write!(body, "<td>{}</td>", esc(&c));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody></table>\n");
    body.push_str("<h2 id=\"timelines\">Alert timelines</h2>\n<p class=\"meta\">Per scenario (its first run): one lane per configuration that alerted; a green mark blames a scanner, a red one a benign source. Hover a mark for the alert and the causes of its packets.</p>\n");
    for (name, runs) in &groups {
        let run = runs[0];
        let _ = writeln!(
            body,
            "<section class=\"scenario\" data-scenario=\"{}\"><h3>{}</h3><p class=\"meta\">{}duration {}; scanners: {}; benign sources: {}</p>",
            esc(name),
            esc(name),
            run.seed()
                .map_or("replayed capture; ".to_string(), |s| format!("seed {s}; ")),
            span(run.truth.duration_us),
            if run.truth.scanners.is_empty() {
                "none".to_string()
            } else {
                run.truth
                    .scanners
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            run.truth.benign_sources().len()
        );
        timeline(&mut body, run, &columns);
        body.push_str("</section>\n");
    }
    body.push_str("<h2 id=\"configurations\">Detector configurations</h2>\n");
    configs(&mut body, &columns);
    page("scanbench report", &body)
}

/// The HTML report of a sweep, with its plots.
///
/// # Errors
/// [`crate::Error::Plot`] if the plots cannot be drawn.
pub fn sweep(r: &SweepReport) -> Result<String> {
    let svg = super::plot::sweep_svg(r)?;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>scanbench sweep</h1>\n<p class=\"meta\">{}; scanbench {}. Figures: docs/sweep.md.</p>",
        esc(&render::headline(r)),
        env!("CARGO_PKG_VERSION")
    );
    body.push_str("<h2 id=\"figures\">Figures per point</h2>\n<table class=\"num\"><thead><tr>");
    for h in r
        .grid
        .axes
        .iter()
        .map(|a| a.name.as_str())
        .chain(render::TABLE_HEADERS)
    {
        let _ = write!(body, "<th>{}</th>", esc(h));
    }
    body.push_str("</tr></thead><tbody>\n");
    for (p, f) in r.grid.points.iter().zip(r.figures()) {
        body.push_str("<tr>");
        for c in p.values.iter().chain(&render::human_cells(&f)) {
            let _ = write!(body, "<td>{}</td>", esc(c));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody></table>\n<h2 id=\"plots\">Plots</h2>\n");
    body.push_str(&svg.replacen("<svg ", "<svg class=\"plot sweep\" ", 1));
    let columns: Vec<Column> = r
        .grid
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let label = p.values.join(",");
            Column {
                group: r.grid.detector().to_string(),
                code: if label.chars().count() <= 8 {
                    label
                } else {
                    format!("p{}", i + 1)
                },
                spec: p.spec.clone(),
                config: p.config.clone(),
            }
        })
        .collect();
    let jobs = r.jobs();
    let rows: Vec<(String, Vec<Cell>)> = r
        .scenarios
        .iter()
        .enumerate()
        .map(|(s, entry)| {
            let cells = columns
                .iter()
                .enumerate()
                .map(|(p, c)| {
                    let scores: Vec<Option<&Score>> = jobs
                        .iter()
                        .zip(&r.results)
                        .filter(|(j, _)| j.scenario == s && j.point == p)
                        .filter_map(|(_, res)| res.as_ref())
                        .map(|res| res.applicable.then_some(&res.score))
                        .collect();
                    cell(&entry.name, &c.spec, &scores)
                })
                .collect();
            (entry.name.clone(), cells)
        })
        .collect();
    body.push_str("<h2 id=\"verdicts\">Verdicts per scenario and point</h2>\n");
    matrix(&mut body, &columns, &rows);
    body.push_str("<h2 id=\"configurations\">Configurations</h2>\n");
    configs(&mut body, &columns);
    Ok(page("scanbench sweep", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_abbreviated_and_grouped() {
        let specs: Vec<String> = [
            "screenos",
            "scanlogd",
            "screenos:count_mode=syn-only",
            "sfportscan:sense_level=medium",
            "psad:ignore_conntrack_bug_pkts=n",
            "screenos:count_mode=no-session-any",
            "scanlogd:scan_weight_threshold=1000000",
        ]
        .map(String::from)
        .to_vec();
        let cols = detector_columns(&specs, &specs);
        let got: Vec<String> = cols
            .iter()
            .map(|c| format!("{} {}", c.group, c.code))
            .collect();
        assert_eq!(
            got,
            [
                "screenos def",
                "screenos so",
                "screenos nsa",
                "scanlogd def",
                "scanlogd 1000000",
                "sfportscan med",
                "psad icbp=n"
            ]
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
