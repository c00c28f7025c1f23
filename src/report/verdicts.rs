//! The verdict snapshot of a run: what `tests/snapshots.rs` records per
//! scenario (every tap's frame count and SHA-256, the ground truth, and per
//! detector configuration its alerts, entities, latency and the labelled
//! causes behind its alerts) and what `run --format junit --snapshots DIR`
//! compares a run with. Integers and fixed decimals only, so the text is
//! the same on every machine.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::table::short;
use crate::evaluate::ScenarioRun;
use crate::score::ScoredAlert;

/// Latency and other times are printed in milliseconds with 3 decimals:
/// virtual time is exact, so they are stable.
fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1e3)
}

/// `class/cause (actor, ...)` per distinct class and cause of an alert's packets.
fn causes(a: &ScoredAlert) -> String {
    let mut by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in &a.causes {
        let actors = by
            .entry(format!("{}/{}", c.label.class, c.label.cause))
            .or_default();
        actors.push(&c.label.actor);
        actors.sort_unstable();
        actors.dedup();
    }
    by.iter()
        .map(|(k, v)| format!("{k} ({})", v.join(", ")))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The verdicts of `run` as the snapshot suite records them.
pub fn verdicts(run: &ScenarioRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} seed {} duration {}",
        run.scenario,
        run.summary.seed,
        ms(run.truth.duration_us)
    );
    for t in &run.summary.taps {
        let _ = writeln!(
            out,
            "tap {}: {} frames sha256 {}",
            t.name, t.frames, t.sha256
        );
    }
    let base = run.truth.base();
    let _ = writeln!(
        out,
        "truth: scanners [{}], benign sources {}, benign connections {}, sessionless packets {}",
        run.truth
            .scanners
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        run.truth.benign_sources().len(),
        base.benign_connections,
        base.sessionless_packets
    );
    for d in &run.detectors {
        let s = &d.score;
        let _ = write!(out, "\n{}", short(&d.spec));
        if !d.applicable {
            let _ = writeln!(out, ": n/a");
            continue;
        }
        let _ = writeln!(
            out,
            ": alerts {} | tp {} fp {} fn {} | benign-triggered {} | fp alerts {}",
            s.alerts, s.tp, s.fp, s.fn_, s.benign_alerts, s.fp_alerts
        );
        for l in &s.latency {
            let _ = writeln!(
                out,
                "  latency {}: {} / {} probes",
                l.scanner,
                ms(l.micros),
                l.probes.map_or("-".to_string(), |p| p.to_string())
            );
        }
        let mut by: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for a in &d.alerts {
            *by.entry((
                a.alert.kind.to_string(),
                a.alert.scanner.to_string(),
                causes(a),
            ))
            .or_default() += 1;
        }
        for ((kind, scanner, causes), n) in by {
            let _ = writeln!(out, "  {n} x {kind} blaming {scanner}, caused by {causes}");
        }
        if let Some(a) = d.alerts.first() {
            let _ = writeln!(out, "  first: {}", a.alert.evidence.log_line);
        }
    }
    out
}
