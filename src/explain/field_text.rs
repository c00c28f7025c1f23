//! The text and Markdown renderings of a [`FieldReport`].

use std::fmt::Write as _;

use scanbench_detector::params::split_spec;
use scanbench_sim::label::Class;

use super::diagnose::shape;
use super::field::{FieldReport, Tested, replies_to_own_connections, when};
use super::logline::Source;

fn class(t: &Tested) -> &'static str {
    match t.hypothesis.class {
        Class::Benign => "benign",
        Class::Malicious => "malicious",
    }
}

/// A detector spec as the field report shows it: the count mode or level
/// that matters, without the cosmetic zone and interface.
pub fn spec_label(spec: &str) -> String {
    let Ok((name, pairs)) = split_spec(spec) else {
        return spec.to_string();
    };
    let shown: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "zone" | "interface"))
        .filter(|(k, v)| !(k == "tcp_session_timeout" && v == "1800"))
        .map(|(k, v)| match k.as_str() {
            "count_mode" | "sense_level" => v.clone(),
            _ => format!("{k}={v}"),
        })
        .collect();
    match (name.as_str(), shown.is_empty()) {
        ("screenos", true) => "screenos[syn-set]".into(),
        (_, true) => name,
        _ => format!("{name}[{}]", shown.join(", ")),
    }
}

fn by(t: &Tested, reproducing: bool) -> String {
    let v: Vec<String> = t
        .trials
        .iter()
        .filter(|x| (x.matching > 0) == reproducing)
        .map(|x| {
            if reproducing {
                format!(
                    "{} ({} alert{})",
                    spec_label(&x.spec),
                    x.matching,
                    if x.matching == 1 { "" } else { "s" }
                )
            } else {
                spec_label(&x.spec)
            }
        })
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Why a hypothesis did not reproduce the line: its note, and what its
/// runs raised instead.
fn why_not(t: &Tested, source: Source) -> String {
    let mut parts = Vec::new();
    // The notes are about the ScreenOS screen's window and sessions.
    if !t.hypothesis.note.is_empty() && source == Source::ScreenOs {
        parts.push(t.hypothesis.note.clone());
    }
    let others: Vec<String> = t
        .trials
        .iter()
        .filter_map(|x| {
            x.other
                .as_ref()
                .map(|l| format!("{}: `{l}`", spec_label(&x.spec)))
        })
        .collect();
    let early: Vec<String> = t
        .trials
        .iter()
        .filter(|x| x.early > 0)
        .map(|x| spec_label(&x.spec))
        .collect();
    if !early.is_empty() {
        parts.push(format!(
            "{} alerted only before the hypothesis's mechanism acts, on the connections' own parallel setup (the parallel-setup hypothesis)",
            early.join(", ")
        ));
    }
    if !others.is_empty() {
        parts.push(format!("alerts of another shape: {}", others.join("; ")));
    }
    if others.is_empty() && early.is_empty() {
        parts.push("no configuration raised any alert".into());
    }
    parts.join("; ")
}

/// The NetScreen-poller question: which configurations make a 10-15 minute
/// poller produce the line, and which cannot.
fn poller(f: &FieldReport) -> Option<String> {
    let alone = f.get("poller")?;
    let held = f.get("long-poll-timeout")?;
    let default = f.get("long-poll-default")?;
    let mut s = format!(
        "a poller alone (one new connection every 10-15 min) reproduces it with {}",
        by(alone, true)
    );
    if !alone.reproduces() {
        s.push_str(&format!(
            " of {}: {}",
            by(alone, false),
            alone.hypothesis.note
        ));
    }
    s.push_str(&format!(
        ". Behind a NAT with session timeouts ({}), its long-poll connections reproduce it with {}, not with {}. With ScreenOS's default 30 min timeout the same connections reproduce it with {}{}.",
        held.hypothesis.conditions,
        by(held, true),
        by(held, false),
        by(default, true),
        if default.reproduces() {
            String::new()
        } else {
            format!(": {}", default.hypothesis.note)
        }
    ));
    Some(s)
}

/// What the benign reproductions' packets are, in words.
fn role_words(roles: &[&str], company: &str) -> String {
    let words: Vec<String> = roles
        .iter()
        .map(|r| match *r {
            "answer" => format!("SYN-ACKs answering {company}'s SYNs"),
            "late" => format!("late segments of {company}'s own connections"),
            "wrong-source" => format!("answers to SYNs {company} sent to a balancer's VIP"),
            "in-connection" => format!("segments of {company}'s own connections"),
            other => other.to_string(),
        })
        .collect();
    words.join(", ")
}

/// `H1, H3 (parallel-setup, balancer-no-snat) predict ...`, one clause per
/// distinct prediction.
fn asks(f: &FieldReport) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (i, t) in f.reproducing().enumerate() {
        let Some(a) = t.best().and_then(|b| b.first.as_ref()) else {
            continue;
        };
        let p = shape(&a.packets);
        let tag = format!("H{} ({})", i + 1, t.hypothesis.id);
        match groups.iter_mut().find(|(q, _)| *q == p) {
            Some((_, v)) => v.push(tag),
            None => groups.push((p, vec![tag])),
        }
    }
    groups
        .into_iter()
        .map(|(p, tags)| {
            format!(
                "{} predict{} {p}",
                tags.join(", "),
                if tags.len() == 1 { "s" } else { "" }
            )
        })
        .collect()
}

/// The text rendering.
pub fn text(f: &FieldReport) -> String {
    let r = &f.reported;
    let mut out = String::new();
    let _ = writeln!(out, "Field report: {}", r.line);
    let _ = writeln!(out, "  read as: {}", r.describe());
    let placeholders: Vec<String> = [Some(&r.src), r.dst.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|a| {
            a.placeholder
                .as_ref()
                .map(|p| format!("{p} stands for {}", a.addr))
        })
        .collect();
    if !placeholders.is_empty() {
        let _ = writeln!(
            out,
            "  placeholders: {} in the reproductions",
            placeholders.join(", ")
        );
    }
    let _ = writeln!(out, "\nWhen: {}", when(r));
    let k = f.reproducing().count();
    let _ = writeln!(
        out,
        "\nHypotheses: {} simulated, each through {}; {k} raise an alert of the same shape (same detector, blamed address and victim, port roles), counted from the moment each hypothesis's mechanism acts.",
        f.tested.len(),
        f.specs
            .iter()
            .map(|s| spec_label(s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\nReproduce it, ranked (the detector's defaults first, benign first):"
    );
    for (i, t) in f.reproducing().enumerate() {
        let h = &t.hypothesis;
        let _ = writeln!(out, "  H{} [{}] {}: {}", i + 1, class(t), h.id, h.title);
        let _ = writeln!(out, "     reproduced by: {}", by(t, true));
        let _ = writeln!(out, "     not by:        {}", by(t, false));
        if let Some(a) = t.best().and_then(|b| b.first.as_ref()) {
            let _ = writeln!(
                out,
                "     first alert:   {} (at {} s)",
                a.alert.evidence.log_line,
                super::text::secs(a.alert.time.total_micros())
            );
        }
        let _ = writeln!(out, "     needs:         {}", h.conditions);
        if let Some(p) = t.prediction() {
            let _ = writeln!(out, "     a capture would show: {p}");
        }
    }
    if k == 0 {
        let _ = writeln!(out, "  none");
    }
    let _ = writeln!(out, "\nDo not reproduce it:");
    for t in f.tested.iter().filter(|t| !t.reproduces()) {
        let _ = writeln!(
            out,
            "  [{}] {}: {} Why not: {}.",
            class(t),
            t.hypothesis.id,
            t.hypothesis.title,
            why_not(t, r.source)
        );
    }
    let asks = asks(f);
    if !asks.is_empty() {
        let _ = writeln!(out, "\nAsk for a capture: {}.", asks.join("; "));
    }
    if let (Some(roles), Some(dst)) = (replies_to_own_connections(f), &r.dst) {
        let company = dst.addr.to_string();
        let _ = writeln!(
            out,
            "\nWhy the server's own firewall rules cannot rule it out: in every benign reproduction the packets the detector counted are {}: replies within connections {company}'s side opened itself. A server firewall that lets {} answer established connections only passes every one of them, and no process on the server chose the destination port: the company's NAT did.",
            role_words(&roles, &company),
            r.sport
                .map_or("the service".to_string(), |p| format!("port {p}"))
        );
    }
    if r.source == Source::ScreenOs
        && let Some(p) = poller(f)
    {
        let _ = writeln!(out, "\nA 10-15 minute poller: {p}");
    }
    out
}

/// The Markdown rendering.
pub fn markdown(f: &FieldReport) -> String {
    let r = &f.reported;
    let mut out = String::new();
    let _ = writeln!(out, "# explain: field report\n\n`{}`\n", r.line);
    let _ = writeln!(out, "- **Read as:** {}", r.describe());
    let _ = writeln!(out, "- **When:** {}\n", when(r));
    let _ = writeln!(out, "## Hypotheses\n");
    let _ = writeln!(
        out,
        "| rank | class | hypothesis | reproduced by | not by | a capture would show |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut rank = 0;
    for t in &f.tested {
        let label = if t.reproduces() {
            rank += 1;
            format!("H{rank}")
        } else {
            "-".into()
        };
        let shows = t
            .prediction()
            .unwrap_or_else(|| format!("(why not: {})", why_not(t, r.source)));
        let _ = writeln!(
            out,
            "| {label} | {} | `{}`: {} | {} | {} | {} |",
            class(t),
            t.hypothesis.id,
            t.hypothesis.title.replace('|', "\\|"),
            by(t, true),
            by(t, false),
            shows.replace('|', "\\|")
        );
    }
    out.push('\n');
    if let (Some(roles), Some(dst)) = (replies_to_own_connections(f), &r.dst) {
        let _ = writeln!(
            out,
            "**Why the server's firewall cannot rule it out:** every benign reproduction's packets are {}.\n",
            role_words(&roles, &dst.addr.to_string())
        );
    }
    if r.source == Source::ScreenOs
        && let Some(p) = poller(f)
    {
        let _ = writeln!(out, "**A 10-15 minute poller:** {p}\n");
    }
    out
}
