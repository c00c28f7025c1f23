//! The main job for one scenario and seed: simulate, stream the sensors'
//! frames into the detectors and the ground-truth recorder, then link every
//! alert to the labelled causes of its packets and score it.

use std::path::PathBuf;

use scanbench_detector::{Instant, Vantage};
use scanbench_sim::Frame;

use crate::detect::DetectorSet;
use crate::error::Result;
use crate::external::Externals;
use crate::scenario::Scenario;
use crate::score::{Score, ScoredAlert, explain, score};
use crate::simulate::{Outputs, RunSummary, TapObserver, simulate};
use crate::truth::GroundTruth;

/// One detector configuration's result on one run.
#[derive(Clone, Debug)]
pub struct DetectorRun {
    /// The spec as requested (`sfportscan:sense_level=medium`).
    pub spec: String,
    /// The full configuration: every parameter, defaults filled in.
    pub config: String,
    /// Where it read its packets.
    pub vantage: Vantage,
    /// The run had a sensor at that vantage point (psad on a plain capture
    /// has none: it is not applicable rather than silent).
    pub applicable: bool,
    /// Its alerts, each linked to the causes of its packets.
    pub alerts: Vec<ScoredAlert>,
    /// Its score.
    pub score: Score,
    /// Its state against its memcap: what it dropped to stay under it.
    pub memory: scanbench_detector::Memory,
}

/// Everything one scenario run produced.
#[derive(Clone, Debug)]
pub struct ScenarioRun {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: PathBuf,
    /// What the simulation produced (taps, hashes, counters).
    pub summary: RunSummary,
    /// Ground truth at the sensors.
    pub truth: GroundTruth,
    /// One entry per requested detector spec, in request order.
    pub detectors: Vec<DetectorRun>,
    /// Frames the detectors could not parse as IPv4.
    pub malformed: u64,
    /// A real capture replayed, not a simulation (no seed; times are the
    /// capture's, since the Unix epoch).
    pub replayed: bool,
    /// Why a replayed input ended early (truncated or damaged), if it did:
    /// the report then covers only the part before the damage.
    pub input_error: Option<String>,
    /// Replayed frames whose timestamp lay outside the range replay accepts
    /// and was clamped into it ([`crate::replay::TIME_RANGE_US`]).
    pub clamped_timestamps: u64,
    /// The run has ground truth (a simulation, or a capture with labels or
    /// named scanners): its scores mean something. Without it, reports show
    /// the alerts and mark every score figure absent.
    pub scored: bool,
    /// The end of the input: the scenario's duration, or a capture's last
    /// frame. Alerts after it come from the detectors' timers running on past
    /// the input ([`crate::detect::DetectorSet::DRAIN`]).
    pub end: Instant,
}

impl ScenarioRun {
    /// The seed a simulated run used.
    pub fn seed(&self) -> Option<u64> {
        (!self.replayed).then_some(self.summary.seed)
    }
}

/// Feeds the sensor taps to the detectors and the truth recorder.
pub(crate) struct Sensors<'a> {
    pub(crate) set: &'a mut DetectorSet,
    pub(crate) truth: &'a mut GroundTruth,
    wire: Option<usize>,
    drop_log: Option<usize>,
    counts: Vec<u64>,
    /// Sees every frame of every tap too (`explain` records them).
    also: &'a mut dyn TapObserver,
}

impl<'a> Sensors<'a> {
    pub(crate) fn new(
        set: &'a mut DetectorSet,
        truth: &'a mut GroundTruth,
        also: &'a mut dyn TapObserver,
    ) -> Self {
        Sensors {
            set,
            truth,
            wire: None,
            drop_log: None,
            counts: Vec::new(),
            also,
        }
    }
}

impl TapObserver for Sensors<'_> {
    fn sensors(&mut self, wire: Option<usize>, drop_log: Option<usize>) {
        self.wire = wire;
        self.drop_log = drop_log;
        self.also.sensors(wire, drop_log);
    }

    fn frame(&mut self, tap: usize, f: &Frame<'_>) {
        self.also.frame(tap, f);
        if self.counts.len() <= tap {
            self.counts.resize(tap + 1, 0);
        }
        let index = self.counts[tap];
        self.counts[tap] += 1;
        let vantage = if Some(tap) == self.wire {
            Vantage::Wire
        } else if Some(tap) == self.drop_log {
            Vantage::DropLog
        } else {
            return;
        };
        self.truth
            .record(vantage, index, f.at, f.bytes, Some(f.label));
        self.set.observe(vantage, f.at, index, f.bytes);
    }
}

/// Runs `scenario` with `seed` through the detectors `specs` (the scenario's
/// `home_net` is given to detectors that take one), writing `outputs`.
///
/// # Errors
/// A bad detector spec, or I/O and topology errors from [`simulate`].
pub fn evaluate(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    outputs: &Outputs,
) -> Result<ScenarioRun> {
    evaluate_observed(scenario, seed, specs, outputs, &mut ())
}

/// [`evaluate`], also handing every frame of every tap to `also` (after the
/// detectors' own sensors are told which taps they read).
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_observed(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    outputs: &Outputs,
    also: &mut dyn TapObserver,
) -> Result<ScenarioRun> {
    run_scenario(scenario, seed, specs, outputs, Externals::builtin(), also)
}

/// [`evaluate`] with `ext:NAME` specs resolved in `externals` (built-in
/// and `--detector-file` definitions, the live-replay limit).
///
/// # Errors
/// As [`evaluate`], and an external tool that cannot be run or read.
pub fn evaluate_with(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    outputs: &Outputs,
    externals: &Externals,
) -> Result<ScenarioRun> {
    run_scenario(scenario, seed, specs, outputs, externals, &mut ())
}

fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    outputs: &Outputs,
    externals: &Externals,
    also: &mut dyn TapObserver,
) -> Result<ScenarioRun> {
    let mut set = DetectorSet::for_site_with(specs, &scenario.home_net, externals)?;
    let mut truth = GroundTruth::new(scenario.malicious_addrs());
    truth.duration_us = scenario.duration.total_micros();
    let (summary, wire, drop_log) = {
        let mut sensors = Sensors::new(&mut set, &mut truth, also);
        let summary = simulate(scenario, seed, outputs, &mut sensors)?;
        (summary, sensors.wire, sensors.drop_log)
    };
    set.finish(Instant::ZERO + scenario.duration);
    if let Some(e) = set.take_error() {
        return Err(e);
    }
    let sensors = Sensing {
        wire: wire.is_some(),
        drop_log: drop_log.is_some(),
    };
    let detectors = score_set(&mut set, specs, &truth, sensors);
    Ok(ScenarioRun {
        scenario: scenario.name.clone(),
        file: scenario.path.clone(),
        summary,
        malformed: set.malformed,
        replayed: false,
        input_error: None,
        clamped_timestamps: 0,
        scored: true,
        end: Instant::ZERO + scenario.duration,
        truth,
        detectors,
    })
}

/// Which vantage points a run had a sensor at.
#[derive(Clone, Copy, Debug)]
pub struct Sensing {
    /// A link tap.
    pub wire: bool,
    /// A firewall drop log.
    pub drop_log: bool,
}

/// Explains and scores every detector of `set` (built from `specs`, in
/// order), moving its alerts into the runs.
pub fn score_set(
    set: &mut DetectorSet,
    specs: &[String],
    truth: &GroundTruth,
    sensing: Sensing,
) -> Vec<DetectorRun> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let vantage = set.vantage(i);
            // Moved, not copied: the set's alerts are not read again.
            let alerts: Vec<ScoredAlert> = std::mem::take(&mut set.alerts[i])
                .into_iter()
                .map(|a| explain(a, vantage, truth))
                .collect();
            DetectorRun {
                spec: spec.clone(),
                config: set.config(i).to_string(),
                vantage,
                applicable: match vantage {
                    Vantage::Wire => sensing.wire,
                    Vantage::DropLog => sensing.drop_log,
                },
                score: score(&alerts, vantage, truth),
                memory: set.memory(i),
                alerts,
            }
        })
        .collect()
}
