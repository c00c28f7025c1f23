//! One live run: the scenario's network built with its outside node, the
//! taps' captures and labels, the detectors on the sensor taps (their alerts
//! handed over as they happen), then the same report a simulated run gets.

use std::time::SystemTime;

use scanbench_sim::{Duration, Frame, FrameSink, Instant, Network, NodeId};

use super::driver::{Driver, PortStats, Stopped, Ticks};
use super::error::LiveError;
use super::port::Port;
use crate::detect::DetectorSet;
use crate::error::{Error, Result};
use crate::evaluate::{ScenarioRun, Sensing, Sensors, score_set};
use crate::scenario::Scenario;
use crate::score::{ScoredAlert, explain};
use crate::simulate::{Outputs, RunSummary, TapObserver, TapSinks};
use crate::truth::GroundTruth;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Seed of the simulated components' random streams (ISNs, ports, ...).
    pub seed: u64,
    /// Detector specs, run on the scenario's sensor taps.
    pub specs: Vec<String>,
    /// Captures and labels to write.
    pub outputs: Outputs,
    /// Stop after this much real time (`None`: when stopped).
    pub limit: Option<Duration>,
    /// Stamp captured frames with the wall-clock time (the run's start plus
    /// the virtual time), so captures line up with other tools' logs;
    /// otherwise with the virtual time, from 0.
    pub wall_clock_stamps: bool,
}

/// What a live run produced.
#[derive(Debug)]
pub struct LiveRun {
    /// Taps, counters, alerts and scores, as for a simulated run.
    pub run: ScenarioRun,
    /// Why it ended.
    pub stopped: Stopped,
    /// The port's counters.
    pub port: PortStats,
}

/// A live run that is set up (network built, outputs created, detectors
/// configured) and not yet started.
pub struct Session<'s> {
    scenario: &'s Scenario,
    opts: LiveOptions,
    net: Network,
    outside: NodeId,
    sensors: (Option<usize>, Option<usize>),
    sinks: TapSinks,
    set: DetectorSet,
    truth: GroundTruth,
}

impl<'s> Session<'s> {
    /// Builds `scenario` (which must have a `[live]` table) and creates its outputs.
    ///
    /// # Errors
    /// No `[live]` table, a bad detector spec, an output file that cannot be
    /// created, or a topology the simulator refuses.
    pub fn new(scenario: &'s Scenario, opts: LiveOptions) -> Result<Session<'s>> {
        let built = scenario.build(opts.seed)?;
        let Some(outside) = built.outside else {
            return Err(LiveError::Config(format!(
                "{}: no [live] table: add one naming the router the outside hangs off, \
                 e.g. `[live]` with `attach = \"edge\"` (docs/live.md)",
                scenario.path.display()
            ))
            .into());
        };
        let set = DetectorSet::for_site(&opts.specs, &scenario.home_net)?;
        // A throwaway copy, started, reports a topology error (a host with
        // no link) with the file's name before anything runs; the real one
        // starts with the driver, so its first frames reach the sinks.
        scenario
            .build(opts.seed)?
            .net
            .run_until(Instant::ZERO, &mut |_: &Frame<'_>| {})
            .map_err(|e| Error::Sim {
                path: scenario.path.clone(),
                source: e,
            })?;
        let sinks = TapSinks::create(&built.taps, &opts.outputs)?;
        Ok(Session {
            scenario,
            net: built.net,
            outside,
            sensors: (built.sensor, built.drop_log_sensor),
            sinks,
            set,
            truth: GroundTruth::new(scenario.malicious_addrs()),
            opts,
        })
    }

    /// The network's simulated address space (for routes into it).
    pub fn simulated_prefixes(&self) -> Vec<smoltcp::wire::Ipv4Cidr> {
        self.net.simulated_prefixes()
    }

    /// Runs until `driver` stops, bridging the outside to `port`; each alert
    /// goes to `on_alert` (with the spec of the detector that raised it) as
    /// it is raised.
    ///
    /// # Errors
    /// The device or poll loop failing, or an output that cannot be written
    /// (the captures are flushed either way, up to the failure).
    pub fn run(
        mut self,
        driver: Driver,
        port: &dyn Port,
        on_alert: &mut dyn FnMut(&str, &ScoredAlert),
    ) -> Result<LiveRun> {
        let started = SystemTime::now();
        let stamp = if self.opts.wall_clock_stamps {
            let since = started
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            Duration::from_micros(u64::try_from(since.as_micros()).unwrap_or(0))
        } else {
            Duration::ZERO
        };
        let mut port_stats = PortStats::default();
        let mut nobody_else = ();
        let mut sensors = Sensors::new(&mut self.set, &mut self.truth, &mut nobody_else);
        sensors.sensors(self.sensors.0, self.sensors.1);
        let mut feed = Feed {
            sinks: &mut self.sinks,
            sensors,
            specs: &self.opts.specs,
            reported: vec![0; self.opts.specs.len()],
            stamp,
            on_alert,
            now: Instant::ZERO,
        };
        let stopped = driver.run(
            &mut self.net,
            self.outside,
            port,
            self.opts.limit,
            &mut feed,
            &mut port_stats,
        );
        let end = feed.now;
        drop(feed);
        let elapsed = started.elapsed().unwrap_or_default();
        let taps = self.sinks.finish()?;
        let stopped = stopped?;
        let mut truth = self.truth;
        truth.duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // Real clients a `[live] label.class = "malicious"` names are
        // scanners as much as the scenario's own.
        truth.scanners.extend(truth.inferred_scanners());
        let summary = RunSummary {
            scenario: self.scenario.name.clone(),
            seed: self.opts.seed,
            duration: end - Instant::ZERO,
            taps,
            fabric: self.net.stats().clone(),
            apps: self.net.app_stats(),
        };
        let sensing = Sensing {
            wire: self.sensors.0.is_some(),
            drop_log: self.sensors.1.is_some(),
        };
        let detectors = score_set(&mut self.set, &self.opts.specs, &truth, sensing);
        Ok(LiveRun {
            run: ScenarioRun {
                scenario: self.scenario.name.clone(),
                file: self.scenario.path.clone(),
                summary,
                truth,
                detectors,
                malformed: self.set.malformed,
                replayed: false,
                input_error: None,
                clamped_timestamps: 0,
                scored: true,
                end,
            },
            stopped,
            port: port_stats,
        })
    }
}

/// Frames to the taps' files and the sensors; new alerts to the caller.
struct Feed<'a> {
    sinks: &'a mut TapSinks,
    sensors: Sensors<'a>,
    specs: &'a [String],
    /// Per detector, how many of its alerts were handed over.
    reported: Vec<usize>,
    /// Added to the virtual time of captured frames.
    stamp: Duration,
    on_alert: &'a mut dyn FnMut(&str, &ScoredAlert),
    now: Instant,
}

impl Feed<'_> {
    fn report_new(&mut self) {
        for (i, spec) in self.specs.iter().enumerate() {
            let alerts = &self.sensors.set.alerts[i];
            let vantage = self.sensors.set.vantage(i);
            for a in &alerts[self.reported[i]..] {
                (self.on_alert)(spec, &explain(a.clone(), vantage, self.sensors.truth));
            }
            self.reported[i] = alerts.len();
        }
    }
}

impl FrameSink for Feed<'_> {
    fn frame(&mut self, f: &Frame<'_>) {
        self.now = self.now.max(f.at);
        self.sinks.frame(&Frame {
            at: f.at + self.stamp,
            ..*f
        });
        self.sensors.frame(f.tap.0 as usize, f);
        self.report_new();
    }
}

impl Ticks for Feed<'_> {
    fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.sensors.set.flush(now);
        self.report_new();
    }
}
