//! The registry: every detector by name, with its parameters and defaults.
//!
//! This is the one list of detectors: adding one is a line in [`DETECTORS`]
//! (each detector module exports a `pub static INFO:` [`DetectorInfo`]).
//! Detectors depend on the descriptor type in [`crate::detector`], never on
//! this module, so the dependency runs one way.

use crate::detector::{DetectorInfo, Instance};
use crate::detectors;
use crate::params::{ConfigError, closest, split_spec};

/// All registered detectors, in the order reports list them.
pub static DETECTORS: &[&DetectorInfo] = &[
    &detectors::screenos::INFO,
    &detectors::scanlogd::INFO,
    &detectors::trw::INFO,
    &detectors::trw::PACKET_INFO,
    &detectors::zeek_scan::INFO,
    &detectors::bro1_scan::INFO,
    &detectors::sfportscan::INFO,
    &detectors::psad::INFO,
    &detectors::portsentry::INFO,
    &detectors::threshold_rules::INFO,
];

/// Looks a detector up by name.
pub fn info(name: &str) -> Result<&'static DetectorInfo, ConfigError> {
    DETECTORS
        .iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| ConfigError::UnknownDetector {
            name: name.to_string(),
            valid: DETECTORS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
            suggestion: closest(name, DETECTORS.iter().map(|d| d.name)).map(String::from),
        })
}

/// Builds a detector from `name[:param=value,...]`.
pub fn build(spec: &str) -> Result<Instance, ConfigError> {
    let (name, pairs) = split_spec(spec)?;
    info(&name)?.configure(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{RA, Run, S, ip, tcp};

    /// A fast SYN scan of one host (closed ports answer RST-ACK) and a sweep
    /// of port 22 over 60 hosts: traffic every registered detector flags.
    fn scan_and_sweep(r: &mut Run) {
        let (scanner, victim) = (ip("192.0.2.9"), ip("10.0.0.1"));
        let mut t = 0;
        let ports = (1..=1100u16).chain(5800..=5820);
        for port in ports {
            r.push(t, &tcp(scanner, 40000, victim, port, S));
            r.push(t + 50, &tcp(victim, port, scanner, 40000, RA));
            t += 100;
        }
        for host in 1..=60u8 {
            let h = core::net::Ipv4Addr::new(10, 0, 1, host);
            r.push(t, &tcp(scanner, 40001, h, 22, S));
            r.push(t + 50, &tcp(h, 22, scanner, 40001, RA));
            t += 100;
        }
        r.flush(t + 3_600_000_000);
    }

    /// Every detector states the rule each alert met, and the keys it names
    /// were counted from the alert's own frames.
    #[test]
    fn every_detector_states_its_rule() {
        for info in DETECTORS {
            let mut r = Run::new(info.name);
            scan_and_sweep(&mut r);
            assert!(!r.alerts.is_empty(), "{}: no alert", info.name);
            for a in &r.alerts {
                let rule = &a.evidence.rule;
                assert!(!rule.statement.is_empty(), "{}: {a:?}", info.name);
                assert!(!rule.counted.is_empty(), "{}: {a:?}", info.name);
                if let Some((from, to)) = rule.window {
                    assert!(from <= to, "{}: window {from}..{to}", info.name);
                }
                for k in &rule.keys {
                    assert!(
                        a.evidence.frames.contains(&k.frame) || a.trigger_frame == Some(k.frame),
                        "{}: key {k:?} not among the alert's frames",
                        info.name
                    );
                }
            }
            assert!(
                r.alerts.iter().any(|a| !a.evidence.rule.keys.is_empty()),
                "{}: no alert names the keys it counted",
                info.name
            );
        }
    }

    /// The full configuration a report prints (`config`) is a spec that builds
    /// the same detector: every parameter, defaults filled in, pasted back.
    #[test]
    fn every_default_config_round_trips_as_a_spec() {
        for d in DETECTORS {
            let first = build(d.name).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            let again = build(&first.config).unwrap_or_else(|e| panic!("{}: {e}", first.config));
            assert_eq!(first.config, again.config);
            for p in d.params {
                assert!(
                    !p.default.contains([',', '+']),
                    "{}: default of `{}` uses a spec separator: {}",
                    d.name,
                    p.name,
                    p.default
                );
            }
        }
    }

    #[test]
    fn a_misspelt_detector_gets_a_suggestion() {
        let Err(err) = build("scanlog") else {
            panic!("`scanlog` is not a detector");
        };
        assert!(
            err.to_string().contains("did you mean `scanlogd`?"),
            "{err}"
        );
    }
}
