//! Counterfactual reruns: the same scenario and seed with one cause switched
//! off ([`Switch`]), compared alert by alert with the run as written, and
//! the minimal fix: the single switch that removes every false alert and
//! keeps every true one.
//!
//! Alerts are matched across runs by what they claim: the detector spec, the
//! kind, the blamed address and the victim ([`AlertKey`]). Times and frame
//! numbers differ between runs by design (the traffic changed), so they do
//! not take part; a key present in both runs *stays* (with its counts), one
//! only in the original *disappears*, one only in the rerun *appears*.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use scanbench_detector::{Alert, AlertKind};

use crate::error::Result;
use crate::evaluate::{ScenarioRun, evaluate};
use crate::scenario::{Scenario, Switch, Switches, switch::Weight};
use crate::simulate::Outputs;

/// What an alert claims, for matching across runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    /// The kind of scan claimed.
    pub kind: AlertKind,
    /// The blamed address.
    pub scanner: Ipv4Addr,
    /// The victim, when the alert names one.
    pub victim: Option<Ipv4Addr>,
}

impl AlertKey {
    /// The key of `a`.
    pub fn of(a: &Alert) -> Self {
        AlertKey {
            kind: a.kind,
            scanner: a.scanner,
            victim: a.victim,
        }
    }
}

/// What happened to one key in the rerun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No alert with this key in the rerun.
    Disappears,
    /// Alerts with this key in both runs.
    Stays,
    /// Alerts with this key only in the rerun.
    Appears,
}

impl Outcome {
    /// `disappears`, `stays`, `appears`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Disappears => "disappears",
            Outcome::Stays => "stays",
            Outcome::Appears => "appears",
        }
    }
}

/// One key of one detector across the two runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The claim.
    pub key: AlertKey,
    /// Alerts with it in the run as written.
    pub before: usize,
    /// Alerts with it in the rerun.
    pub after: usize,
    /// The blamed address is a labelled scanner.
    pub true_alert: bool,
}

impl Change {
    /// Disappears, stays or appears.
    pub fn outcome(&self) -> Outcome {
        match (self.before, self.after) {
            (_, 0) => Outcome::Disappears,
            (0, _) => Outcome::Appears,
            _ => Outcome::Stays,
        }
    }
}

/// One detector's alerts across the two runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorChanges {
    /// The detector spec.
    pub spec: String,
    /// Whether the fix search counts this detector (the `--detector` filter).
    pub considered: bool,
    /// Every key of either run, in key order.
    pub changes: Vec<Change>,
}

/// The rerun with one switch (or, for a combined fix, several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterfactual {
    /// The switch (the first of `switches`).
    pub switch: Switch,
    /// Every switch of the rerun.
    pub switches: Switches,
    /// Per detector, in spec order.
    pub detectors: Vec<DetectorChanges>,
}

/// Totals over the considered detectors: (false before, false after, true
/// keys before, true keys kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// False alerts as written.
    pub false_before: usize,
    /// False alerts in the rerun (old and new).
    pub false_after: usize,
    /// True claims (keys) as written.
    pub true_before: usize,
    /// True claims still made in the rerun.
    pub true_kept: usize,
}

impl Counterfactual {
    /// The change of `key` for detector `spec`.
    pub fn change(&self, spec: &str, key: &AlertKey) -> Option<&Change> {
        self.detectors
            .iter()
            .find(|d| d.spec == spec)?
            .changes
            .iter()
            .find(|c| &c.key == key)
    }

    /// Totals over the considered detectors.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for d in self.detectors.iter().filter(|d| d.considered) {
            for c in &d.changes {
                if c.true_alert {
                    if c.before > 0 {
                        t.true_before += 1;
                        if c.after > 0 {
                            t.true_kept += 1;
                        }
                    }
                } else {
                    t.false_before += c.before;
                    t.false_after += c.after;
                }
            }
        }
        t
    }

    /// Removes every false alert and keeps every true claim.
    pub fn is_fix(&self) -> bool {
        let t = self.tally();
        t.false_before > 0 && t.false_after == 0 && t.true_kept == t.true_before
    }
}

/// The minimal fix, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// The run as written has no false alert (among the considered detectors).
    NothingToFix,
    /// The least change that removes every false alert and keeps every true
    /// claim; `also` lists the other switches that do too.
    Found {
        /// The switch.
        switch: Switch,
        /// How much it changes.
        weight: Weight,
        /// Totals of its rerun.
        tally: Tally,
        /// Other switches that fix it too, least change first.
        also: Vec<Switch>,
    },
    /// No single switch does; the one removing the most false alerts
    /// without losing a true claim, if any, and the least pair of switches
    /// that does, if one does.
    NoSingleSwitch {
        /// The closest switch and its totals.
        closest: Option<(Switch, Tally)>,
        /// Two switches that together fix it, with the totals of that rerun.
        pair: Option<(Switch, Switch, Tally)>,
    },
}

/// Per alert key: how many alerts, and whether the claim is true.
type KeyCounts = BTreeMap<AlertKey, (usize, bool)>;

/// Per detector spec, its alert keys.
fn keys(run: &ScenarioRun) -> Vec<(String, KeyCounts)> {
    run.detectors
        .iter()
        .map(|d| {
            let mut m: BTreeMap<AlertKey, (usize, bool)> = BTreeMap::new();
            for sa in &d.alerts {
                let e = m
                    .entry(AlertKey::of(&sa.alert))
                    .or_insert((0, sa.blames_scanner));
                e.0 += 1;
            }
            (d.spec.clone(), m)
        })
        .collect()
}

/// Compares the run as written with a rerun.
pub fn compare(
    switches: Switches,
    before: &ScenarioRun,
    after: &ScenarioRun,
    considered: &dyn Fn(&str) -> bool,
) -> Counterfactual {
    let b = keys(before);
    let a = keys(after);
    let detectors = b
        .iter()
        .map(|(spec, bm)| {
            let empty = BTreeMap::new();
            let am = a.iter().find(|(s, _)| s == spec).map_or(&empty, |(_, m)| m);
            let mut all: BTreeMap<&AlertKey, Change> = BTreeMap::new();
            for (k, (n, t)) in bm {
                all.insert(
                    k,
                    Change {
                        key: k.clone(),
                        before: *n,
                        after: 0,
                        true_alert: *t,
                    },
                );
            }
            for (k, (n, t)) in am {
                all.entry(k)
                    .or_insert(Change {
                        key: k.clone(),
                        before: 0,
                        after: 0,
                        true_alert: *t,
                    })
                    .after = *n;
            }
            DetectorChanges {
                spec: spec.clone(),
                considered: considered(spec),
                changes: all.into_values().collect(),
            }
        })
        .collect();
    Counterfactual {
        switch: switches.first().cloned().unwrap_or(Switch::Serial),
        switches,
        detectors,
    }
}

/// Reruns `scenario` with `seed` once per switch and compares each rerun
/// with `before` (the run as written, through the same `specs`).
///
/// # Errors
/// A switched scenario that does not build or run.
pub fn rerun(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    before: &ScenarioRun,
    switches: &[Switch],
    considered: &dyn Fn(&str) -> bool,
) -> Result<Vec<Counterfactual>> {
    let mut out = Vec::new();
    for s in switches {
        out.push(rerun_with(
            scenario,
            seed,
            specs,
            before,
            Switches::from([s.clone()]),
            considered,
        )?);
    }
    Ok(out)
}

/// One rerun with every switch of `switches` at once.
///
/// # Errors
/// As [`rerun`].
pub fn rerun_with(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    before: &ScenarioRun,
    switches: Switches,
    considered: &dyn Fn(&str) -> bool,
) -> Result<Counterfactual> {
    let after = evaluate(
        &scenario.with_switches(switches.clone()),
        seed,
        specs,
        &Outputs::default(),
    )?;
    Ok(compare(switches, before, &after, considered))
}

/// The minimal fix among the single-switch reruns `cfs`; `false_before`
/// says whether there is anything to fix. Without a single fix, `pairs`
/// reruns two switches at once (least change first) until one pair fixes it.
///
/// # Errors
/// A rerun of `pairs` that fails.
pub fn minimal_fix(
    cfs: &[Counterfactual],
    false_before: usize,
    pairs: &mut dyn FnMut(Switches) -> Result<Counterfactual>,
) -> Result<Fix> {
    let fix = single_fix(cfs, false_before);
    let Fix::NoSingleSwitch { closest, .. } = fix else {
        return Ok(fix);
    };
    // Only switches that keep every true claim and remove something can be
    // half of a fix.
    let mut useful: Vec<&Switch> = cfs
        .iter()
        .filter(|c| {
            let t = c.tally();
            t.true_kept == t.true_before && t.false_after < t.false_before
        })
        .map(|c| &c.switch)
        .collect();
    useful.sort_by_key(|s| (s.weight(), (*s).clone()));
    let mut candidates = Vec::new();
    for (i, a) in useful.iter().enumerate() {
        for b in &useful[i + 1..] {
            candidates.push(((*a).clone(), (*b).clone()));
        }
    }
    candidates.sort_by_key(|(a, b)| (a.weight().max(b.weight()), a.clone(), b.clone()));
    for (a, b) in candidates {
        let c = pairs(Switches::from([a.clone(), b.clone()]))?;
        if c.is_fix() {
            return Ok(Fix::NoSingleSwitch {
                closest,
                pair: Some((a, b, c.tally())),
            });
        }
    }
    Ok(Fix::NoSingleSwitch {
        closest,
        pair: None,
    })
}

fn single_fix(cfs: &[Counterfactual], false_before: usize) -> Fix {
    if false_before == 0 {
        return Fix::NothingToFix;
    }
    let mut fixes: Vec<&Counterfactual> = cfs.iter().filter(|c| c.is_fix()).collect();
    fixes.sort_by(|a, b| (a.switch.weight(), &a.switch).cmp(&(b.switch.weight(), &b.switch)));
    if let Some(best) = fixes.first() {
        return Fix::Found {
            switch: best.switch.clone(),
            weight: best.switch.weight(),
            tally: best.tally(),
            also: fixes[1..].iter().map(|c| c.switch.clone()).collect(),
        };
    }
    let closest = cfs
        .iter()
        .map(|c| (c, c.tally()))
        .filter(|(_, t)| t.true_kept == t.true_before && t.false_after < t.false_before)
        .min_by_key(|(c, t)| (t.false_after, c.switch.weight(), c.switch.clone()))
        .map(|(c, t)| (c.switch.clone(), t));
    Fix::NoSingleSwitch {
        closest,
        pair: None,
    }
}
