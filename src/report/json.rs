//! The JSON report (`docs/report-format.md`). Stable: fields are only ever
//! added; a change in meaning bumps [`JSON_VERSION`]. Times are given both as
//! integer microseconds of virtual time (`*_us`, exact) and as seconds.

use scanbench_detector::{Alert, Vantage};
use scanbench_sim::label::Label;
use serde_json::{Map, Value, json};

use super::{Figure, Report, TRUTH_FIGURES, needs_truth};
use crate::evaluate::{DetectorRun, ScenarioRun};
use crate::score::{Score, ScoredAlert};

/// Version of the JSON report's schema.
pub const JSON_VERSION: u32 = 1;

/// `wire` or `drop_log`.
pub fn vantage_name(v: Vantage) -> &'static str {
    match v {
        Vantage::Wire => "wire",
        Vantage::DropLog => "drop_log",
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// A label as `{"actor", "class", "cause"}`.
pub fn label(l: &Label) -> Value {
    json!({"actor": l.actor, "class": l.class.as_str(), "cause": l.cause})
}

/// One alert in the report's form; `scored`: the run has ground truth (else
/// the fields that judge the alert are `null`).
pub fn alert(a: &ScoredAlert, config: &str, scored: bool) -> Value {
    let al: &Alert = &a.alert;
    let counters: Map<String, Value> = al
        .evidence
        .counters
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "detector": {"name": al.detector, "config": config},
        "scanner": al.scanner.to_string(),
        "victim": al.victim.map(|v| v.to_string()),
        "kind": al.kind.as_str(),
        "time": secs(al.time.total_micros() as u64),
        "time_us": al.time.total_micros(),
        "first_seen": secs(al.first_seen.total_micros() as u64),
        "first_seen_us": al.first_seen.total_micros(),
        "trigger_frame": al.trigger_frame,
        "trigger_label": a.trigger.as_ref().map(label),
        "evidence": {
            "counters": counters,
            "ports": al.evidence.ports,
            "frames": al.evidence.frames,
            "log_line": al.evidence.log_line,
        },
        "causes": a.causes.iter().map(|c| {
            let mut v = label(&c.label);
            v["packets"] = json!(c.packets);
            v
        }).collect::<Vec<_>>(),
        "benign_trigger": scored.then(|| a.benign_trigger()),
        "blames_scanner": scored.then_some(a.blames_scanner),
    })
}

fn score(s: &Score, scored: bool) -> Value {
    let mut v = json!({
        "alerts": s.alerts,
        "flagged": s.flagged,
        "latency": s.latency.iter().map(|l| json!({
            "scanner": l.scanner.to_string(),
            "time": secs(l.micros),
            "time_us": l.micros,
            "probes": l.probes,
        })).collect::<Vec<_>>(),
    });
    if let Value::Object(m) = &mut v {
        for (key, read) in TRUTH_FIGURES {
            let value = match read(s) {
                Figure::Count(n) => json!(n),
                Figure::Ratio(x) => json!(x),
            };
            m.insert((*key).to_string(), value);
        }
        if !scored {
            for (k, x) in m.iter_mut() {
                if needs_truth(k) {
                    *x = Value::Null;
                }
            }
        }
    }
    v
}

fn detector(d: &DetectorRun, scored: bool) -> Value {
    let name = d.spec.split(':').next().unwrap_or(&d.spec);
    json!({
        "spec": d.spec,
        "detector": {"name": name, "config": d.config},
        "vantage": vantage_name(d.vantage),
        "applicable": d.applicable,
        "score": score(&d.score, scored),
        "memory": {
            "memcap_bytes": d.memory.memcap,
            "peak_bytes": d.memory.peak,
            "evictions": d.memory.evictions,
        },
        "alerts": d.alerts.iter().map(|a| alert(a, &d.config, scored)).collect::<Vec<_>>(),
    })
}

fn run(r: &ScenarioRun) -> Value {
    let t = &r.truth;
    let mut v = json!({
        "scenario": r.scenario,
        "file": r.file.display().to_string(),
        "seed": r.seed(),
        "duration": secs(t.duration_us),
        "duration_us": t.duration_us,
        "taps": r.summary.taps.iter().map(|tap| json!({
            "name": tap.name,
            "frames": tap.frames,
            "sha256": tap.sha256,
            "files": tap.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "truth": truth(r),
        "non_ipv4_frames": r.malformed,
        "detectors": r.detectors.iter().map(|d| detector(d, r.scored)).collect::<Vec<_>>(),
    });
    // Replays only (a simulation's input is never cut): null, or why the
    // input ended early.
    if r.replayed {
        v["input_error"] = json!(r.input_error);
        v["clamped_timestamps"] = json!(r.clamped_timestamps);
    }
    // Frames the truth's caps kept out (`truth::TruthLimits`): always in a
    // replay, in a simulation only when some were, so reports of ordinary
    // runs keep their shape.
    let untracked = t.untracked_frames();
    if r.replayed || untracked > 0 {
        v["truth"]["untracked_frames"] = json!(untracked);
    }
    v
}

/// The run's ground truth; the figures that need labels are `null` without them.
fn truth(r: &ScenarioRun) -> Value {
    let t = &r.truth;
    let known = |v: Value| if r.scored { v } else { Value::Null };
    json!({
        "scanners": known(json!(t.scanners.iter().map(|a| a.to_string()).collect::<Vec<_>>())),
        "benign_sources": known(json!(t.benign_sources().len())),
        "benign_connections": known(json!(t.base().benign_connections)),
        "sessionless_packets": known(json!(t.base().sessionless_packets)),
        "wire_frames": t.wire.frames(),
        "drop_log_frames": t.drop_log.frames(),
    })
}

/// The JSON document.
pub fn document(report: &Report) -> Value {
    json!({
        "format": "scanbench-report",
        "version": JSON_VERSION,
        "tool": {"name": "scanbench", "version": env!("CARGO_PKG_VERSION")},
        "detectors": report.specs,
        "runs": report.runs.iter().map(run).collect::<Vec<_>>(),
    })
}

/// A JSON document as the reports print it: pretty, with a final newline.
pub fn text(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON rendering (pretty-printed, one document).
pub fn json(report: &Report) -> String {
    text(&document(report))
}
