//! The terminal rendering of an [`Explanation`].

use std::fmt::Write as _;

use super::counterfactual::{AlertKey, Counterfactual, Fix, Tally};
use super::model::{ExplainedAlert, Explanation, Input, Packet};
use super::role_text;
use crate::report::short;

/// Seconds with microseconds: `1861.073022`.
pub fn secs(us: i64) -> String {
    format!(
        "{}.{:06}",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
}

/// At most this many packets per alert in the text form (JSON has all).
const SHOWN_PACKETS: usize = 16;

fn header(e: &Explanation) -> String {
    let what = match &e.input {
        Input::Scenario { name, file, seed } => {
            format!("{name} ({}), seed {seed}", file.display())
        }
        Input::Capture { file, labelled } => format!(
            "{} ({})",
            file.display(),
            if *labelled { "labelled" } else { "no labels" }
        ),
        Input::LogLine { line } => format!("the log line `{line}`"),
    };
    format!(
        "explain {what}: {} detector configuration(s), {} alert(s), {} explained\n",
        e.specs.len(),
        e.total_alerts,
        e.alerts.len()
    )
}

/// `#3 screenos[no-session-any] portscan A -> B at 1861.073022 s`.
pub fn headline(a: &ExplainedAlert) -> String {
    let al = &a.alert;
    format!(
        "#{} {} {} {} -> {} at {} s",
        a.number,
        short(&a.spec),
        al.kind,
        al.scanner,
        al.victim.map_or_else(|| "*".into(), |v| v.to_string()),
        secs(al.time.total_micros())
    )
}

/// What the alert says of itself, as (name, text): its log line, the rule
/// it met, what was counted, the window. Every rendering shows these.
pub fn rule_lines(a: &ExplainedAlert) -> Vec<(&'static str, String)> {
    let rule = &a.alert.evidence.rule;
    let mut v = vec![
        ("log", a.alert.evidence.log_line.clone()),
        ("rule", rule.statement.clone()),
        ("counted", rule.counted.clone()),
    ];
    if let Some((from, to)) = rule.window {
        v.push((
            "window",
            format!(
                "{}-{} s",
                secs(from.total_micros()),
                secs(to.total_micros())
            ),
        ));
    }
    v
}

/// One packet's row.
pub fn packet_row(p: &Packet) -> [String; 7] {
    let f = &p.frame;
    let label = match &p.label {
        Some(l) => format!("{} {} {}", l.actor, l.class, l.cause),
        None => "-".into(),
    };
    let fate = match &p.fate {
        Some(fate) => match &fate.label {
            Some(l) if Some(l) != p.label.as_ref() => {
                format!("; dropped by {} as {}", fate.dropped_by, l.cause)
            }
            _ => format!("; dropped by {}", fate.dropped_by),
        },
        None => String::new(),
    };
    [
        format!("{}{}", if p.trigger { "*" } else { "" }, f.index),
        secs(f.at.total_micros()),
        f.endpoints(),
        f.flags.map_or_else(|| f.proto_name(), |fl| fl.to_string()),
        p.counted_as.clone().unwrap_or_else(|| "-".into()),
        p.role.as_ref().map_or_else(|| "-".into(), role_text),
        format!("{label}{fate}"),
    ]
}

/// Rows aligned in columns, each line prefixed by `indent`.
pub fn columns(indent: &str, rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(indent);
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn verdict(a: &ExplainedAlert) -> String {
    match a.true_positive {
        Some(true) => format!("true positive: {} is a scanner", a.alert.scanner),
        Some(false) => format!("false positive: {} is not a scanner", a.alert.scanner),
        None => "unscored: no labels".into(),
    }
}

fn alert(out: &mut String, a: &ExplainedAlert) {
    let _ = writeln!(out, "{} ({})", headline(a), verdict(a));
    for (name, value) in rule_lines(a) {
        let _ = writeln!(
            out,
            "  {:<10} {}",
            format!("{name}:"),
            value.replace('\n', "\n             ")
        );
    }
    let _ = writeln!(
        out,
        "  packets:   {} (* = trigger), at the {} sensor",
        a.packets.len(),
        match a.vantage {
            scanbench_detector::Vantage::Wire => "wire",
            scanbench_detector::Vantage::DropLog => "drop-log",
        }
    );
    let mut rows = vec![
        [
            "frame",
            "time (s)",
            "packet",
            "flags",
            "counted as",
            "role",
            "label",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in a.packets.iter().take(SHOWN_PACKETS) {
        rows.push(packet_row(p).to_vec());
    }
    out.push_str(&columns("    ", &rows));
    if a.packets.len() > SHOWN_PACKETS {
        let _ = writeln!(
            out,
            "    ... {} more (--format json lists all)",
            a.packets.len() - SHOWN_PACKETS
        );
    }
    let _ = writeln!(out, "  diagnosis: {}", a.diagnosis.sentence);
}

/// `balancer-fixed: disappears; serial: stays (2 -> 1)` for one alert.
fn fates(a: &ExplainedAlert, cfs: &[Counterfactual]) -> String {
    let key = AlertKey::of(&a.alert);
    cfs.iter()
        .map(|c| match c.change(&a.spec, &key) {
            Some(ch) if ch.after == 0 => format!("{}: disappears", c.switch),
            Some(ch) => format!("{}: stays ({} -> {})", c.switch, ch.before, ch.after),
            None => format!("{}: ?", c.switch),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn key_text(k: &AlertKey) -> String {
    format!(
        "{} {} -> {}",
        k.kind,
        k.scanner,
        k.victim.map_or_else(|| "*".into(), |v| v.to_string())
    )
}

/// `false alerts 33 -> 1, true claims kept 0 of 0`.
pub fn tally_text(t: &Tally) -> String {
    format!(
        "false alerts {} -> {}, true claims kept {} of {}",
        t.false_before, t.false_after, t.true_kept, t.true_before
    )
}

fn counterfactuals(out: &mut String, e: &Explanation) {
    if e.counterfactuals.is_empty() {
        return;
    }
    let seed = match &e.input {
        Input::Scenario { seed, .. } => format!(", seed {seed}"),
        Input::Capture { .. } | Input::LogLine { .. } => String::new(),
    };
    let _ = writeln!(
        out,
        "\nCounterfactuals (same scenario{seed}, one cause off; alerts matched by detector, kind, blamed address and victim):"
    );
    for c in &e.counterfactuals {
        let _ = writeln!(
            out,
            "  {} (turns off {}): {}",
            c.switch,
            c.switch.turns_off(),
            c.switch.describe()
        );
        let mut rows = Vec::new();
        for d in &c.detectors {
            let mut name = short(&d.spec);
            if !d.considered {
                name.push_str(" (not considered)");
            }
            for ch in &d.changes {
                rows.push(vec![
                    std::mem::take(&mut name),
                    key_text(&ch.key),
                    if ch.true_alert { "true" } else { "false" }.to_string(),
                    format!("{} -> {}", ch.before, ch.after),
                    ch.outcome().name().to_string(),
                ]);
            }
        }
        if rows.is_empty() {
            let _ = writeln!(out, "    no detector alerts in either run");
        } else {
            out.push_str(&columns("    ", &rows));
        }
        let _ = writeln!(out, "    totals: {}", tally_text(&c.tally()));
    }
}

fn sources(out: &mut String, e: &Explanation) {
    if !matches!(
        e.input,
        Input::Capture {
            labelled: false,
            ..
        }
    ) {
        return;
    }
    if e.sources.is_empty() {
        let _ = writeln!(
            out,
            "\nSources: no detector flagged a source (--all-sources reads every source)."
        );
        return;
    }
    let _ = writeln!(
        out,
        "\nSources (the mechanism read from the capture, without labels; thresholds in docs/explain.md):"
    );
    for r in &e.sources {
        let flagged = if r.flagged_by.is_empty() {
            "not flagged".to_string()
        } else {
            format!("flagged by {}", r.flagged_by.join(", "))
        };
        let _ = writeln!(out, "  {} ({flagged}): {}", r.source, r.sentence());
        for f in r.findings.iter().skip(1) {
            let _ = writeln!(out, "    also {}", f.sentence(r.source));
        }
    }
}

fn fix(out: &mut String, f: &Fix) {
    match f {
        Fix::NothingToFix => {
            let _ = writeln!(out, "\nMinimal fix: none needed (no false alert).");
        }
        Fix::Found {
            switch,
            weight,
            tally,
            also,
        } => {
            let _ = writeln!(
                out,
                "\nMinimal fix: {switch} ({}, a {} change): {}{}",
                switch.describe(),
                format!("{weight:?}").to_lowercase(),
                tally_text(tally),
                if also.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; also fixed by {}",
                        also.iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
        }
        Fix::NoSingleSwitch { closest, pair } => {
            let _ = writeln!(
                out,
                "\nMinimal fix: no single switch removes every false alert and keeps every true one{}{}",
                match closest {
                    Some((s, t)) => format!("; closest: {s} ({})", tally_text(t)),
                    None => String::new(),
                },
                match pair {
                    Some((a, b, t)) => format!("; together, {a} + {b} do ({})", tally_text(t)),
                    None => String::new(),
                }
            );
        }
    }
}

/// The text rendering.
pub fn render(e: &Explanation) -> String {
    let mut out = header(e);
    for a in &e.alerts {
        out.push('\n');
        alert(&mut out, a);
        if !e.counterfactuals.is_empty() {
            let _ = writeln!(out, "  counterfactuals: {}", fates(a, &e.counterfactuals));
        }
    }
    counterfactuals(&mut out, e);
    if let Some(f) = &e.fix {
        fix(&mut out, f);
    }
    sources(&mut out, e);
    out
}
