//! Checking a scenario's `[[expect]]` claims against a run's scores: one
//! message per violated claim.

use crate::evaluate::ScenarioRun;
use crate::scenario::Expectation;

/// Checks the claim against `run`; returns one message per violation.
/// A detector the run did not include is a violation too.
pub fn check(e: &Expectation, run: &ScenarioRun) -> Vec<String> {
    let mut out = Vec::new();
    for spec in &e.detectors {
        let Some(d) = run.detectors.iter().find(|d| &d.spec == spec) else {
            out.push(format!("{spec}: not run"));
            continue;
        };
        let s = &d.score;
        let mut fail = |what: String| out.push(format!("{spec}: {what}"));
        if e.flags_scanners && s.fn_ > 0 {
            fail(format!(
                "{} of {} scanner(s) not flagged",
                s.fn_, s.scanners
            ));
        }
        for l in &s.latency {
            if let Some(max) = e.within_probes {
                match l.probes {
                    Some(p) if p <= max => {}
                    Some(p) => fail(format!(
                        "flagged {} after {p} probes (expected <= {max})",
                        l.scanner
                    )),
                    None => fail(format!(
                        "flagged {} by an alert that names no frame",
                        l.scanner
                    )),
                }
            }
            if let Some(max) = e.within_us
                && l.micros > max
            {
                fail(format!(
                    "flagged {} after {:.3} s (expected <= {:.3} s)",
                    l.scanner,
                    l.micros as f64 / 1e6,
                    max as f64 / 1e6
                ));
            }
        }
        if let Some(max) = e.max_fp
            && s.fp > max
        {
            fail(format!(
                "flagged {} benign source(s) (expected <= {max})",
                s.fp
            ));
        }
        if let Some(min) = e.min_fp
            && s.fp < min
        {
            fail(format!(
                "flagged {} benign source(s) (expected >= {min})",
                s.fp
            ));
        }
        if let Some(max) = e.max_alerts
            && s.alerts > max
        {
            fail(format!("{} alerts (expected <= {max})", s.alerts));
        }
        if let Some(min) = e.min_alerts
            && s.alerts < min
        {
            fail(format!("{} alerts (expected >= {min})", s.alerts));
        }
    }
    out
}
