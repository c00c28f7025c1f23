//! Counterfactual switches: one cause of a scenario's packets switched off
//! (or one mechanism changed), everything else as written, so that a rerun
//! with the same seed shows what that cause did.
//!
//! There is one switch per cause the labels carry:
//!
//! | cause (label) | switch | what changes in the file |
//! |---|---|---|
//! | `balancer-misconfig` | `balancer-fixed` | every `[router.balancer]` gets `mode = "correct"` (replies rewritten to the VIP: SNAT on) |
//! | `state-loss` | `no-state-loss` | firewalls lose no entry: faults removed, `established_timeout` and the NAT's `tcp_established_timeout` far above the run, default table size |
//! | `health-check` | `no-health-checks` | balancers send no health checks |
//! | any app cause (`poll`, `browse`, `session`, `scan`, `serve`, or a label's own) | `no-<cause>` | every app whose packets carry that cause is removed |
//!
//! and two for mechanisms behind the causes:
//!
//! | mechanism | switch | what changes |
//! |---|---|---|
//! | parallel connection setup | `serial` | `parallel = 1` for HTTP clients and pollers, `connections = 1` for sessions |
//! | sequential NAT ports | `nat-random-ports` | every sequential NAT allocates at random |
//!
//! Switches edit a copy of the parsed file; [`Scenario::build`] applies the
//! scenario's own [`Scenario::switches`], so every run path (simulate,
//! evaluate, captures) sees the switched network.

use std::collections::BTreeSet;
use std::fmt;

use super::Scenario;
use super::file::{LabelFile, ScenarioFile};

/// One cause switched off, or one mechanism changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Switch {
    /// `balancer-misconfig` off: every balancer answers correctly.
    BalancerFixed,
    /// `state-loss` off: no firewall or NAT forgets a connection.
    NoStateLoss,
    /// `health-check` off: balancers send none.
    NoHealthChecks,
    /// Parallel connection setup off: one connection at a time.
    Serial,
    /// Sequential NAT ports off: NATs allocate at random.
    NatRandomPorts,
    /// Every app whose packets carry this cause removed.
    Remove(String),
}

/// A set of switches (none: the scenario as written).
pub type Switches = BTreeSet<Switch>;

/// How much a switch changes, for ranking fixes: configuration fixes
/// first, then changes of behaviour, then removing an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weight {
    /// A middlebox configured correctly.
    Configuration,
    /// The same applications behaving differently.
    Behaviour,
    /// An application removed.
    Removal,
}

impl Switch {
    /// The switch that turns off the packets labelled `cause`, if the
    /// scenario has one (an app with that cause, or a middlebox that makes it).
    pub fn for_cause(cause: &str, file: &ScenarioFile) -> Option<Switch> {
        let s = match cause {
            "balancer-misconfig" => Switch::BalancerFixed,
            "state-loss" => Switch::NoStateLoss,
            "health-check" => Switch::NoHealthChecks,
            other => Switch::Remove(other.to_string()),
        };
        s.applies(file).then_some(s)
    }

    /// Parses a name as [`fmt::Display`] prints it.
    pub fn parse(name: &str) -> Option<Switch> {
        Some(match name {
            "balancer-fixed" => Switch::BalancerFixed,
            "no-state-loss" => Switch::NoStateLoss,
            "no-health-checks" => Switch::NoHealthChecks,
            "serial" => Switch::Serial,
            "nat-random-ports" => Switch::NatRandomPorts,
            other => Switch::Remove(other.strip_prefix("no-")?.to_string()),
        })
    }

    /// The cause (or mechanism) it turns off, in words.
    pub fn turns_off(&self) -> String {
        match self {
            Switch::BalancerFixed => "balancer-misconfig".into(),
            Switch::NoStateLoss => "state-loss".into(),
            Switch::NoHealthChecks => "health-check".into(),
            Switch::Serial => "parallel connection setup".into(),
            Switch::NatRandomPorts => "sequential NAT ports".into(),
            Switch::Remove(c) => c.clone(),
        }
    }

    /// What the rerun changes, in words.
    pub fn describe(&self) -> String {
        match self {
            Switch::BalancerFixed => {
                "balancer fixed: replies rewritten to the VIP (mode correct, SNAT on)".into()
            }
            Switch::NoStateLoss => "no state loss: firewall faults removed, idle timeouts \
                                    above the run's length"
                .into(),
            Switch::NoHealthChecks => "no balancer health checks".into(),
            Switch::Serial => "one connection at a time (parallel = 1, connections = 1)".into(),
            Switch::NatRandomPorts => "NAT ports allocated at random instead of in sequence".into(),
            Switch::Remove(c) => format!("every app whose packets are `{c}` removed"),
        }
    }

    /// How much it changes.
    pub fn weight(&self) -> Weight {
        match self {
            Switch::BalancerFixed | Switch::NoStateLoss | Switch::NoHealthChecks => {
                Weight::Configuration
            }
            Switch::Serial | Switch::NatRandomPorts => Weight::Behaviour,
            Switch::Remove(_) => Weight::Removal,
        }
    }

    /// Whether it changes anything in `file`.
    pub fn applies(&self, file: &ScenarioFile) -> bool {
        let mut copy = file.clone();
        self.apply(&mut copy)
    }

    /// Edits `file`; returns whether anything changed.
    pub fn apply(&self, f: &mut ScenarioFile) -> bool {
        let mut changed = false;
        match self {
            Switch::BalancerFixed => {
                for b in f.routers.iter_mut().filter_map(|r| r.balancer.as_mut()) {
                    if b.mode.as_deref().is_some_and(|m| m != "correct") {
                        b.mode = Some("correct".into());
                        changed = true;
                    }
                }
            }
            Switch::NoHealthChecks => {
                for b in f.routers.iter_mut().filter_map(|r| r.balancer.as_mut()) {
                    if b.health_checks != Some(false) && b.address.is_some() {
                        b.health_checks = Some(false);
                        changed = true;
                    }
                }
            }
            Switch::NoStateLoss => {
                // Ten years: no idle gap of a run outlasts it.
                let never = Some("3650d".to_string());
                for r in &mut f.routers {
                    if let Some(fw) = r.firewall.as_mut() {
                        changed = true;
                        fw.faults.clear();
                        fw.established_timeout.clone_from(&never);
                        fw.max_sessions = None;
                    }
                    if let Some(nat) = r.nat.as_mut() {
                        changed = true;
                        nat.tcp_established_timeout.clone_from(&never);
                    }
                }
            }
            Switch::Serial => {
                for c in &mut f.http_clients {
                    changed |= c.parallel.is_some_and(|p| p > 1);
                    c.parallel = Some(1);
                }
                for p in &mut f.pollers {
                    changed |= p.parallel.is_some_and(|n| n > 1);
                    p.parallel = Some(1);
                }
                for s in &mut f.sessions {
                    changed |= s.connections.is_some_and(|n| n > 1);
                    s.connections = Some(1);
                }
            }
            Switch::NatRandomPorts => {
                for n in f.routers.iter_mut().filter_map(|r| r.nat.as_mut()) {
                    if n.allocation.as_deref().is_none_or(|a| a == "sequential") {
                        n.allocation = Some("random".into());
                        changed = true;
                    }
                }
            }
            Switch::Remove(cause) => {
                let is =
                    |l: &LabelFile, default: &str| l.cause.as_deref().unwrap_or(default) == cause;
                let before = app_count(f);
                f.web_servers.retain(|a| !is(&a.label, "serve"));
                f.http_clients.retain(|a| !is(&a.label, "browse"));
                f.pollers.retain(|a| !is(&a.label, "poll"));
                f.syn_scans.retain(|a| !is(&a.label, "scan"));
                f.connect_scans.retain(|a| !is(&a.label, "scan"));
                f.sessions.retain(|a| !is(&a.label, "session"));
                changed = app_count(f) != before;
            }
        }
        changed
    }
}

fn app_count(f: &ScenarioFile) -> usize {
    f.web_servers.len()
        + f.http_clients.len()
        + f.pollers.len()
        + f.syn_scans.len()
        + f.connect_scans.len()
        + f.sessions.len()
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Switch::BalancerFixed => f.write_str("balancer-fixed"),
            Switch::NoStateLoss => f.write_str("no-state-loss"),
            Switch::NoHealthChecks => f.write_str("no-health-checks"),
            Switch::Serial => f.write_str("serial"),
            Switch::NatRandomPorts => f.write_str("nat-random-ports"),
            Switch::Remove(c) => write!(f, "no-{c}"),
        }
    }
}

impl Scenario {
    /// The same scenario with `switches` applied to every build.
    pub fn with_switches(&self, switches: Switches) -> Scenario {
        let mut s = self.clone();
        s.switches = switches;
        s
    }

    /// The file with the scenario's switches applied.
    pub(super) fn switched_file(&self) -> ScenarioFile {
        let mut f = self.file.clone();
        for s in &self.switches {
            s.apply(&mut f);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            Switch::BalancerFixed,
            Switch::NoStateLoss,
            Switch::NoHealthChecks,
            Switch::Serial,
            Switch::NatRandomPorts,
            Switch::Remove("poll".into()),
        ] {
            assert_eq!(Switch::parse(&s.to_string()), Some(s));
        }
        assert_eq!(Switch::parse("nonsense"), None);
    }

    const FILE: &str = r#"
seed = 1
duration = "10s"
[[host]]
name = "c"
addr = "192.0.2.10"
[[host]]
name = "b"
addr = "198.51.100.11"
[[router]]
name = "lb"
[router.balancer]
vip = "198.51.100.80"
backends = ["198.51.100.11"]
mode = "missing-snat-asymmetric"
[[link]]
between = ["c", "lb"]
[[link]]
between = ["lb", "b"]
[[tap]]
name = "client"
link = ["c", "lb"]
[[web-server]]
host = "b"
[[poller]]
host = "c"
server = "198.51.100.80"
every = "1s"
parallel = 3
"#;

    #[test]
    fn switches_edit_a_copy_and_every_build_applies_them() {
        let sc = Scenario::parse(std::path::Path::new("t.toml"), FILE.into()).unwrap();
        let f = sc.file();
        assert!(Switch::BalancerFixed.applies(f));
        assert!(Switch::Serial.applies(f));
        assert!(Switch::Remove("poll".into()).applies(f));
        assert!(!Switch::NoStateLoss.applies(f), "no firewall or NAT");
        assert!(!Switch::NatRandomPorts.applies(f));
        assert!(!Switch::Remove("scan".into()).applies(f));
        assert_eq!(
            Switch::for_cause("balancer-misconfig", f),
            Some(Switch::BalancerFixed)
        );
        assert_eq!(Switch::for_cause("state-loss", f), None);
        let fixed = sc.with_switches(Switches::from([Switch::BalancerFixed, Switch::Serial]));
        let sf = fixed.switched_file();
        let mode = sf.routers[0].balancer.as_ref().and_then(|b| b.mode.clone());
        assert_eq!(mode.as_deref(), Some("correct"));
        assert_eq!(sf.pollers[0].parallel, Some(1));
        // The original is untouched, and the switched one still builds.
        assert_eq!(
            sc.file().routers[0]
                .balancer
                .as_ref()
                .unwrap()
                .mode
                .as_deref(),
            Some("missing-snat-asymmetric")
        );
        assert!(fixed.build(1).is_ok());
    }
}
