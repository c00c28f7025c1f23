//! The JSON rendering of an [`Explanation`] (`docs/report-format.md`,
//! section "explain"). Stable: fields are only ever added; a change in
//! meaning bumps [`EXPLAIN_JSON_VERSION`]. Times are integer microseconds of
//! virtual (or capture) time (`*_us`), plus seconds for reading.

use serde_json::{Map, Value, json};

use super::counterfactual::{AlertKey, Counterfactual, Fix, Tally};
use super::field::{FieldReport, Tested, replies_to_own_connections, when};
use super::infer::{Finding, SourceReading};
use super::logline::Addr;
use super::model::{ExplainedAlert, Explanation, Input, Packet};
use super::roles::Role;
use crate::report::json::{label, vantage_name};

/// Version of the explain JSON schema.
pub const EXPLAIN_JSON_VERSION: u32 = 1;

fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}

/// A role as `{"name": ..., <its numbers>}`.
pub fn role(r: &Role) -> Value {
    let mut v = json!({"name": r.name()});
    match r {
        Role::Open { answer } => v["answer"] = json!(answer.name()),
        Role::WrongSource { asked } => v["asked"] = json!(asked.to_string()),
        Role::Late { idle_us, opened_by } => {
            v["idle_us"] = json!(idle_us);
            v["opened_by"] = json!(opened_by.map(|a| a.to_string()));
        }
        Role::InConnection { opened_by } => {
            v["opened_by"] = json!(opened_by.map(|a| a.to_string()));
        }
        _ => {}
    }
    v
}

fn packet(p: &Packet) -> Value {
    let f = &p.frame;
    json!({
        "frame": f.index,
        "time": secs(f.at.total_micros()),
        "time_us": f.at.total_micros(),
        "proto": f.proto_name(),
        "src": f.src.to_string(),
        "sport": f.sport,
        "dst": f.dst.to_string(),
        "dport": f.dport,
        "flags": f.flags.map(|x| x.to_string()),
        "payload_bytes": f.payload,
        "trigger": p.trigger,
        "counted_as": p.counted_as,
        "role": p.role.as_ref().map(role),
        "label": p.label.as_ref().map(label),
        "fate": p.fate.as_ref().map(|x| json!({
            "dropped_by": x.dropped_by,
            "frame": x.frame,
            "label": x.label.as_ref().map(label),
        })),
    })
}

fn key(k: &AlertKey) -> Value {
    json!({
        "kind": k.kind.as_str(),
        "scanner": k.scanner.to_string(),
        "victim": k.victim.map(|v| v.to_string()),
    })
}

fn tally(t: &Tally) -> Value {
    json!({
        "false_before": t.false_before,
        "false_after": t.false_after,
        "true_before": t.true_before,
        "true_kept": t.true_kept,
    })
}

fn alert(a: &ExplainedAlert, cfs: &[Counterfactual]) -> Value {
    let al = &a.alert;
    let rule = &al.evidence.rule;
    let counters: Map<String, Value> = al
        .evidence
        .counters
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let k = AlertKey::of(al);
    json!({
        "number": a.number,
        "detector": {"spec": a.spec, "config": a.config},
        "vantage": vantage_name(a.vantage),
        "kind": al.kind.as_str(),
        "scanner": al.scanner.to_string(),
        "victim": al.victim.map(|v| v.to_string()),
        "time": secs(al.time.total_micros()),
        "time_us": al.time.total_micros(),
        "first_seen_us": al.first_seen.total_micros(),
        "trigger_frame": al.trigger_frame,
        "log_line": al.evidence.log_line,
        "true_positive": a.true_positive,
        "rule": {
            "statement": rule.statement,
            "counted": rule.counted,
            "window_us": rule.window.map(|(f, t)| [f.total_micros(), t.total_micros()]),
            "keys": rule.keys.iter().map(|c| json!({"key": c.key, "frame": c.frame})).collect::<Vec<_>>(),
        },
        "counters": counters,
        "packets": a.packets.iter().map(packet).collect::<Vec<_>>(),
        "diagnosis": {
            "class": a.diagnosis.class,
            "sentence": a.diagnosis.sentence,
            "causes": a.diagnosis.causes.iter().map(|(c, n)| json!({"cause": c, "packets": n})).collect::<Vec<_>>(),
            "actors": a.diagnosis.actors,
        },
        "counterfactuals": cfs.iter().filter_map(|c| {
            let ch = c.change(&a.spec, &k)?;
            Some(json!({
                "switch": c.switch.to_string(),
                "outcome": ch.outcome().name(),
                "before": ch.before,
                "after": ch.after,
            }))
        }).collect::<Vec<_>>(),
    })
}

fn counterfactual(c: &Counterfactual) -> Value {
    json!({
        "switch": c.switch.to_string(),
        "turns_off": c.switch.turns_off(),
        "change": c.switch.describe(),
        "detectors": c.detectors.iter().filter(|d| !d.changes.is_empty()).map(|d| json!({
            "spec": d.spec,
            "considered": d.considered,
            "changes": d.changes.iter().map(|ch| {
                let mut v = key(&ch.key);
                v["true_alert"] = json!(ch.true_alert);
                v["before"] = json!(ch.before);
                v["after"] = json!(ch.after);
                v["outcome"] = json!(ch.outcome().name());
                v
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "totals": tally(&c.tally()),
    })
}

fn fix(f: &Fix) -> Value {
    match f {
        Fix::NothingToFix => json!({"status": "none-needed"}),
        Fix::Found {
            switch,
            weight,
            tally: t,
            also,
        } => json!({
            "status": "found",
            "switch": switch.to_string(),
            "weight": format!("{weight:?}").to_lowercase(),
            "totals": tally(t),
            "also": also.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        }),
        Fix::NoSingleSwitch { closest, pair } => json!({
            "status": "no-single-switch",
            "closest": closest.as_ref().map(|(s, t)| json!({"switch": s.to_string(), "totals": tally(t)})),
            "pair": pair.as_ref().map(|(a, b, t)| json!({
                "switches": [a.to_string(), b.to_string()],
                "totals": tally(t),
            })),
        }),
    }
}

fn finding(f: &Finding, source: std::net::Ipv4Addr) -> Value {
    let addrs = |s: &std::collections::BTreeSet<std::net::Ipv4Addr>| {
        s.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let mut v = match f {
        Finding::WrongSource {
            replies,
            client_ports,
            clients,
            asked,
            service_ports,
        } => json!({
            "replies": replies, "client_ports": client_ports, "clients": addrs(clients),
            "asked": addrs(asked), "service_ports": service_ports,
        }),
        Finding::LostState {
            segments,
            connections,
            peers,
            service_ports,
            idle_min_us,
            idle_max_us,
            retransmissions,
        } => json!({
            "segments": segments, "connections": connections, "peers": addrs(peers),
            "service_ports": service_ports, "idle_min_us": idle_min_us,
            "idle_max_us": idle_max_us, "retransmissions": retransmissions,
        }),
        Finding::Poller {
            server,
            port,
            starts,
            answered,
            period_us,
            spread_us,
            range_us,
        } => json!({
            "server": server.to_string(), "port": port, "starts": starts, "answered": answered,
            "period_us": period_us, "spread_us": spread_us, "range_us": [range_us.0, range_us.1],
        }),
        Finding::Probe {
            probes,
            targets,
            hosts,
            ports,
            kinds,
            answered,
            refused,
            silent,
        } => json!({
            "probes": probes, "targets": targets, "hosts": hosts, "ports": ports,
            "kinds": kinds, "answered": answered, "refused": refused, "silent": silent,
        }),
        Finding::Client {
            packets,
            connections,
            answered,
            services,
            strays_reset,
        } => json!({
            "packets": packets, "connections": connections, "answered": answered,
            "strays_reset": strays_reset,
            "services": services.iter().map(|(a, p)| format!("{a}:{p}")).collect::<Vec<_>>(),
        }),
        Finding::Responder {
            packets,
            accepted,
            refused,
            peers,
        } => json!({
            "packets": packets, "accepted": accepted, "refused": refused, "peers": addrs(peers),
        }),
    };
    v["mechanism"] = json!(f.name());
    v["scan"] = json!(f.is_scan());
    v["anomaly"] = json!(f.is_anomaly());
    v["sentence"] = json!(f.sentence(source));
    v
}

fn source(r: &SourceReading) -> Value {
    json!({
        "source": r.source.to_string(),
        "flagged_by": r.flagged_by,
        "packets": r.packets,
        "mechanism": r.mechanism().map_or("unclear", Finding::name),
        "sentence": r.sentence(),
        "findings": r.findings.iter().map(|f| finding(f, r.source)).collect::<Vec<_>>(),
    })
}

fn addr(a: &Addr) -> Value {
    json!({"addr": a.addr.to_string(), "placeholder": a.placeholder})
}

fn tested(t: &Tested, rank: Option<usize>) -> Value {
    let h = &t.hypothesis;
    json!({
        "id": h.id,
        "rank": rank,
        "class": h.class.as_str(),
        "title": h.title,
        "conditions": h.conditions,
        "reproduces": t.reproduces(),
        "with_defaults": t.with_defaults(),
        "prediction": t.prediction(),
        "trials": t.trials.iter().map(|x| json!({
            "spec": x.spec,
            "alerts": x.alerts,
            "matching": x.matching,
            "first_log_line": x.first.as_ref().map(|a| a.alert.evidence.log_line.clone()),
            "first_diagnosis": x.first.as_ref().map(|a| a.diagnosis.sentence.clone()),
        })).collect::<Vec<_>>(),
    })
}

fn field_report(f: &FieldReport) -> Value {
    let r = &f.reported;
    let mut rank = 0;
    json!({
        "reported": {
            "detector": r.source.detector(),
            "what": r.what,
            "src": addr(&r.src),
            "sport": r.sport,
            "dst": r.dst.as_ref().map(addr),
            "dport": r.dport,
            "ports": r.ports,
            "proto": r.proto,
            "count": r.count,
            "flags": r.flags,
        },
        "when": when(r),
        "specs": f.specs,
        "hypotheses": f.tested.iter().map(|t| {
            let k = t.reproduces().then(|| { rank += 1; rank });
            tested(t, k)
        }).collect::<Vec<_>>(),
        "replies_to_own_connections": replies_to_own_connections(f),
    })
}

/// The JSON rendering (pretty-printed, one document).
pub fn render(e: &Explanation) -> String {
    let input = match &e.input {
        Input::Scenario { name, file, seed } => json!({
            "kind": "scenario",
            "name": name,
            "file": file.display().to_string(),
            "seed": seed,
        }),
        Input::Capture { file, labelled } => json!({
            "kind": "capture",
            "file": file.display().to_string(),
            "labelled": labelled,
        }),
        Input::LogLine { line } => json!({"kind": "log_line", "line": line}),
    };
    let doc = json!({
        "format": "scanbench-explain",
        "version": EXPLAIN_JSON_VERSION,
        "tool": {"name": "scanbench", "version": env!("CARGO_PKG_VERSION")},
        "input": input,
        "detectors": e.specs,
        "total_alerts": e.total_alerts,
        "alerts": e.alerts.iter().map(|a| alert(a, &e.counterfactuals)).collect::<Vec<_>>(),
        "counterfactuals": e.counterfactuals.iter().map(counterfactual).collect::<Vec<_>>(),
        "fix": e.fix.as_ref().map(fix),
        "sources": e.sources.iter().map(source).collect::<Vec<_>>(),
        "field_report": e.field.as_ref().map(field_report),
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
