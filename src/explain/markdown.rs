//! The Markdown rendering of an [`Explanation`]: the same content as the
//! text form, as headings and GitHub tables (for issues and reports).

use std::fmt::Write as _;

use super::counterfactual::{AlertKey, Fix};
use super::model::{ExplainedAlert, Explanation, Input};
use super::text::{headline, packet_row, rule_lines, tally_text};
use crate::report::short;

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn alert(out: &mut String, a: &ExplainedAlert, e: &Explanation) {
    let al = &a.alert;
    let _ = writeln!(out, "### {}\n", headline(a));
    let verdict = match a.true_positive {
        Some(true) => "true positive",
        Some(false) => "false positive",
        None => "unscored (no labels)",
    };
    let _ = writeln!(out, "- **Verdict:** {verdict}");
    for (name, value) in rule_lines(a) {
        let value = value.replace('\n', " / ");
        let (first, rest) = name.split_at(1);
        let title = format!("{}{rest}", first.to_uppercase());
        if name == "log" {
            let _ = writeln!(out, "- **{title}:** `{value}`");
        } else {
            let _ = writeln!(out, "- **{title}:** {value}");
        }
    }
    let _ = writeln!(out, "- **Diagnosis:** {}", a.diagnosis.sentence);
    if !e.counterfactuals.is_empty() {
        let k = AlertKey::of(al);
        let fates: Vec<String> = e
            .counterfactuals
            .iter()
            .filter_map(|c| {
                let ch = c.change(&a.spec, &k)?;
                Some(format!("`{}` {}", c.switch, ch.outcome().name()))
            })
            .collect();
        let _ = writeln!(out, "- **Counterfactuals:** {}", fates.join(", "));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = a.packets.iter().map(|p| packet_row(p).to_vec()).collect();
    table(
        out,
        &[
            "frame",
            "time (s)",
            "packet",
            "flags",
            "counted as",
            "role",
            "label",
        ],
        &rows,
    );
}

/// The Markdown rendering.
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let title = match &e.input {
        Input::Scenario { name, seed, .. } => format!("{name} (seed {seed})"),
        Input::Capture { file, .. } => file.display().to_string(),
        Input::LogLine { line } => format!("`{line}`"),
    };
    let _ = writeln!(out, "# explain: {title}\n");
    let _ = writeln!(
        out,
        "{} detector configuration(s), {} alert(s), {} explained.\n",
        e.specs.len(),
        e.total_alerts,
        e.alerts.len()
    );
    if !e.alerts.is_empty() {
        let _ = writeln!(out, "## Alerts\n");
    }
    for a in &e.alerts {
        alert(&mut out, a, e);
    }
    if !e.counterfactuals.is_empty() {
        let _ = writeln!(out, "## Counterfactuals\n");
        for c in &e.counterfactuals {
            let _ = writeln!(
                out,
                "### `{}`: {} off\n\n{}. Totals: {}.\n",
                c.switch,
                c.switch.turns_off(),
                c.switch.describe(),
                tally_text(&c.tally())
            );
            let rows: Vec<Vec<String>> = c
                .detectors
                .iter()
                .flat_map(|d| {
                    d.changes.iter().map(move |ch| {
                        vec![
                            short(&d.spec),
                            format!(
                                "{} {} -> {}",
                                ch.key.kind,
                                ch.key.scanner,
                                ch.key.victim.map_or_else(|| "*".into(), |v| v.to_string())
                            ),
                            if ch.true_alert { "true" } else { "false" }.into(),
                            ch.before.to_string(),
                            ch.after.to_string(),
                            ch.outcome().name().into(),
                        ]
                    })
                })
                .collect();
            if !rows.is_empty() {
                table(
                    &mut out,
                    &["detector", "claim", "true", "before", "after", "outcome"],
                    &rows,
                );
            }
        }
    }
    if !e.sources.is_empty() {
        let _ = writeln!(out, "## Sources\n");
        for r in &e.sources {
            let flagged = if r.flagged_by.is_empty() {
                "not flagged".to_string()
            } else {
                format!("flagged by {}", r.flagged_by.join(", "))
            };
            let _ = writeln!(out, "- **{}** ({flagged}): {}", r.source, r.sentence());
        }
        out.push('\n');
    }
    if let Some(f) = &e.fix {
        let _ = writeln!(out, "## Minimal fix\n");
        let _ = writeln!(
            out,
            "{}\n",
            match f {
                Fix::NothingToFix => "None needed: no false alert.".to_string(),
                Fix::Found { switch, tally, .. } => {
                    format!("`{switch}`: {}. {}.", switch.describe(), tally_text(tally))
                }
                Fix::NoSingleSwitch { closest, pair } => format!(
                    "No single switch removes every false alert and keeps every true one.{}{}",
                    closest.as_ref().map_or(String::new(), |(s, t)| format!(
                        " Closest: `{s}` ({}).",
                        tally_text(t)
                    )),
                    pair.as_ref().map_or(String::new(), |(a, b, t)| format!(
                        " Together, `{a}` + `{b}` do ({}).",
                        tally_text(t)
                    ))
                ),
            }
        );
    }
    out
}
