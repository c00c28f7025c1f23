//! `scanbench explain`: why an alert fired, and what would have prevented it.
//!
//! One scenario run (or one capture) is replayed through the detectors while
//! every frame of every tap is recorded ([`record`]); each alert is then
//! explained from three sources that never guess for one another:
//!
//! - the **rule**, as the detector stated it at the moment of the alert
//!   ([`scanbench_detector::Rule`]: the condition with its numbers, what was
//!   counted, the window, the keys counted with their frames);
//! - the **packets** behind it (trigger and evidence frames), each with its
//!   label, the key it was counted as, its role in its connection read from
//!   the capture alone ([`roles`]), and the drop log that recorded the same
//!   packet, if any (a middlebox may have relabelled it `state-loss` there);
//! - the **diagnosis** ([`diagnose`](mod@diagnose)): one sentence from the packets' shape,
//!   roles and causes.
//!
//! For a scenario, [`counterfactual`] then reruns the same seed once per
//! cause among the explained alerts' packets (plus the mechanism switches
//! that apply: serial connection setup, random NAT ports), says per detector
//! which alerts disappear, stay or appear, and names the minimal fix.
//!
//! Renderers: [`text`] (the terminal), [`markdown`], [`json`] (stable,
//! documented in `docs/report-format.md`).

/// Output format of `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    /// Aligned text for the terminal.
    Text,
    /// Headings and GitHub tables.
    Markdown,
    /// The stable JSON document.
    Json,
}

impl Explanation {
    /// Renders in `format`.
    pub fn render(&self, format: ExplainFormat) -> String {
        if let Some(f) = &self.field {
            return match format {
                ExplainFormat::Text => field_text::text(f),
                ExplainFormat::Markdown => field_text::markdown(f),
                ExplainFormat::Json => json::render(self),
            };
        }
        match format {
            ExplainFormat::Text => text::render(self),
            ExplainFormat::Markdown => markdown::render(self),
            ExplainFormat::Json => json::render(self),
        }
    }
}

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use scanbench_detector::{Cidr, Vantage};
use scanbench_sim::label::Label;

use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::evaluate::{ScenarioRun, evaluate_observed};
use crate::labels::FrameLabels;
use crate::replay::{ReplayOptions, replay_capture};
use crate::report::short;
use crate::scenario::{Scenario, Switch};
use crate::simulate::Outputs;

pub mod counterfactual;
pub mod diagnose;
pub mod field;
pub mod field_text;
pub mod hypotheses;
pub mod infer;
pub mod json;
pub mod logline;
pub mod markdown;
pub mod model;
pub mod record;
pub mod roles;
pub mod text;

pub use model::{Diagnosis, ExplainedAlert, Explanation, Input, Packet};

use diagnose::{Context, diagnose};
use record::{Recorder, Recording};
use roles::Role;

/// Which alerts to explain.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Only alerts of these detector specs (as given, e.g.
    /// `screenos:count_mode=no-session-any`, or as the reports label them);
    /// empty: every detector.
    pub detectors: Vec<String>,
    /// Only the alert with this 1-based number.
    pub alert: Option<usize>,
    /// Only alerts blaming this address.
    pub source: Option<Ipv4Addr>,
}

impl Filters {
    fn detector_ok(&self, spec: &str) -> bool {
        self.detectors.is_empty()
            || self
                .detectors
                .iter()
                .any(|d| d == spec || *d == short(spec))
    }
}

/// The detector specs to run: `base` plus every filter spec it lacks.
pub fn specs_with(base: &[String], filters: &Filters) -> Vec<String> {
    let mut specs = base.to_vec();
    for d in &filters.detectors {
        if !specs.iter().any(|s| s == d || short(s) == *d) {
            specs.push(d.clone());
        }
    }
    specs
}

/// One run of `scenario` with `seed` through `specs`, with every tap's frames.
///
/// # Errors
/// A bad detector spec, or the errors of [`evaluate_observed`].
pub fn record_scenario(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
) -> Result<(ScenarioRun, Recording)> {
    let built = scenario.build(seed)?;
    let mut drop_logs = BTreeMap::new();
    for (i, t) in scenario.file().taps.iter().enumerate() {
        if let Some(r) = &t.drop_log {
            drop_logs.insert(i, r.get_ref().clone());
        }
    }
    let mut recording = Recording::new(&built.taps, &drop_logs);
    drop(built);
    let run = evaluate_observed(
        scenario,
        seed,
        specs,
        &Outputs::default(),
        &mut Recorder {
            recording: &mut recording,
        },
    )?;
    Ok((run, recording))
}

/// Explains the alerts of `run` (whose frames are in `recording`) that pass
/// `filters`; `cx` says what the scenario's middleboxes do.
pub fn explain_run(
    run: &ScenarioRun,
    recording: &Recording,
    filters: &Filters,
    cx: &Context,
    labelled: bool,
) -> Vec<ExplainedAlert> {
    let wire_roles = recording.sensor(true).map(roles::roles).unwrap_or_default();
    let mut out = Vec::new();
    let mut number = 0;
    for d in &run.detectors {
        for sa in &d.alerts {
            number += 1;
            let a = &sa.alert;
            if !filters.detector_ok(&d.spec)
                || filters.alert.is_some_and(|n| n != number)
                || filters.source.is_some_and(|s| s != a.scanner)
            {
                continue;
            }
            let (tap_index, roles) = match d.vantage {
                Vantage::Wire => (recording.wire, &wire_roles),
                Vantage::DropLog => (recording.drop_log, &Vec::new()),
            };
            let tap = tap_index.and_then(|i| recording.taps.get(i));
            let mut frames: Vec<u64> = a.evidence.frames.clone();
            frames.extend(a.trigger_frame);
            frames.sort_unstable();
            frames.dedup();
            let infos: Vec<_> = frames
                .iter()
                .filter_map(|f| tap.and_then(|t| t.get(*f)).copied())
                .collect();
            let fates = tap_index.map_or_else(BTreeMap::new, |i| recording.fates(i, &infos));
            // A drop log has no conversation to read roles from: take each
            // packet's role where the wire sensor saw it, before the drop.
            let wire_twins = match (d.vantage, recording.wire) {
                (Vantage::DropLog, Some(w)) => recording.twins(w, &infos, true),
                _ => BTreeMap::new(),
            };
            let role_of = |f: &record::FrameInfo| -> Option<Role> {
                let (index, table) = match wire_twins.get(&f.index) {
                    Some(t) => (t.index, &wire_roles),
                    None if d.vantage == Vantage::DropLog => return None,
                    None => (f.index, roles),
                };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| table.get(i).copied().flatten())
            };
            let packets: Vec<Packet> = infos
                .iter()
                .map(|f| Packet {
                    frame: *f,
                    label: recording.label(f).cloned(),
                    counted_as: a
                        .evidence
                        .rule
                        .keys
                        .iter()
                        .find(|k| k.frame == f.index)
                        .map(|k| k.key.clone()),
                    trigger: a.trigger_frame == Some(f.index),
                    role: role_of(f),
                    fate: fates.get(&f.index).cloned(),
                })
                .collect();
            let diagnosis = diagnose(&packets, cx);
            out.push(ExplainedAlert {
                number,
                spec: d.spec.clone(),
                config: d.config.clone(),
                vantage: d.vantage,
                alert: a.clone(),
                true_positive: labelled.then_some(sa.blames_scanner),
                packets,
                diagnosis,
            });
        }
    }
    out
}

/// Explains a scenario run.
///
/// # Errors
/// A bad detector spec, or a scenario that does not build or run.
pub fn explain_scenario(
    scenario: &Scenario,
    seed: u64,
    specs: &[String],
    filters: &Filters,
) -> Result<Explanation> {
    let (run, recording) = record_scenario(scenario, seed, specs)?;
    let cx = Context::of(scenario);
    let alerts = explain_run(&run, &recording, filters, &cx, true);
    let file = scenario.file();
    let mut switches: Vec<Switch> = alerts
        .iter()
        .flat_map(|a| a.diagnosis.causes.iter())
        .filter_map(|(c, _)| Switch::for_cause(c, file))
        .chain(
            [Switch::Serial, Switch::NatRandomPorts]
                .into_iter()
                .filter(|s| s.applies(file)),
        )
        .collect();
    switches.sort();
    switches.dedup();
    let considered = |spec: &str| filters.detector_ok(spec);
    let counterfactuals =
        counterfactual::rerun(scenario, seed, specs, &run, &switches, &considered)?;
    let false_before = run
        .detectors
        .iter()
        .filter(|d| considered(&d.spec))
        .flat_map(|d| &d.alerts)
        .filter(|a| !a.blames_scanner)
        .count();
    let fix = counterfactual::minimal_fix(&counterfactuals, false_before, &mut |pair| {
        counterfactual::rerun_with(scenario, seed, specs, &run, pair, &considered)
    })?;
    Ok(Explanation {
        input: Input::Scenario {
            name: scenario.name.clone(),
            file: scenario.path.clone(),
            seed,
        },
        specs: specs.to_vec(),
        total_alerts: run.detectors.iter().map(|d| d.alerts.len()).sum(),
        alerts,
        counterfactuals,
        fix: Some(fix),
        sources: Vec::new(),
        field: None,
    })
}

/// Explains a field report's log line (see [`field`]).
///
/// # Errors
/// As [`field::explain_line`].
pub fn explain_log_line(line: &str) -> Result<Explanation> {
    let report = field::explain_line(line)?;
    Ok(Explanation {
        input: Input::LogLine {
            line: line.trim().to_string(),
        },
        specs: report.specs.clone(),
        alerts: Vec::new(),
        total_alerts: 0,
        counterfactuals: Vec::new(),
        fix: None,
        sources: Vec::new(),
        field: Some(report),
    })
}

/// How to explain a capture.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    /// Detector specs.
    pub specs: Vec<String>,
    /// The site's networks, for detectors with a `home_net` parameter.
    pub home_net: Vec<Cidr>,
    /// Labels by frame, streamed once per pass over the capture (pcapng
    /// label comments are read too).
    pub labels: Option<FrameLabels>,
    /// Read the capture as a firewall drop log.
    pub drop_log: bool,
    /// Read every source's mechanism, not only the flagged ones'.
    pub all_sources: bool,
}

/// Explains a real capture: its alerts as for a scenario (without
/// counterfactuals: there is no scenario to rerun) and, when it carries no
/// labels, the mechanism behind each flagged source read from the capture.
/// A capture damaged after its header is explained up to the damage; the
/// error comes back beside the explanation.
///
/// # Errors
/// A bad detector spec, or a file that cannot be opened or has no valid header.
pub fn explain_capture(
    path: &Path,
    opts: &CaptureOptions,
    filters: &Filters,
) -> Result<(Explanation, Option<Error>)> {
    let replayed = replay_capture(
        path,
        &ReplayOptions {
            specs: opts.specs.clone(),
            home_net: opts.home_net.clone(),
            drop_log: opts.drop_log,
            labels: opts.labels.clone(),
            scanners: None,
            threads: 0,
            externals: Default::default(),
        },
    )?;
    let drop_logs: BTreeMap<usize, String> = if opts.drop_log {
        BTreeMap::from([(0, "the logging firewall".to_string())])
    } else {
        BTreeMap::new()
    };
    let mut recording = Recording::new(&["capture".to_string()], &drop_logs);
    if opts.drop_log {
        recording.drop_log = Some(0);
    } else {
        recording.wire = Some(0);
    }
    let mut reader = CaptureReader::open(path)?;
    // A second pass over the capture, so a second over the labels, in order.
    let mut labels = opts.labels.as_ref().map(|l| l.stream()).transpose()?;
    while let Some(Ok(f)) = reader.next_frame() {
        let comment = f.comment.as_deref().and_then(Label::from_comment);
        let listed = match labels.as_mut() {
            Some(l) => l.frame(f.index)?.map(|l| l.label),
            None => None,
        };
        recording.push(0, f.at(), &f.bytes, listed.or(comment.as_ref()));
    }
    let run = &replayed.run;
    let labelled = replayed.labelled;
    let alerts = explain_run(run, &recording, filters, &Context::default(), labelled);
    let sources = if labelled {
        Vec::new()
    } else {
        let mut flagged: BTreeMap<Ipv4Addr, Vec<String>> = BTreeMap::new();
        for a in &alerts {
            let v = flagged.entry(a.alert.scanner).or_default();
            let name = short(&a.spec);
            if !v.contains(&name) {
                v.push(name);
            }
        }
        if opts.all_sources {
            for f in recording.taps[0].iter() {
                flagged.entry(f.src).or_default();
            }
        }
        // `--source ADDR` reads that source, flagged or not, and no other.
        if let Some(s) = filters.source {
            let by = flagged.remove(&s).unwrap_or_default();
            flagged = BTreeMap::from([(s, by)]);
        }
        let tap = &recording.taps[0];
        infer::read(tap, &roles::roles(tap), &flagged)
    };
    let e = Explanation {
        input: Input::Capture {
            file: path.to_path_buf(),
            labelled,
        },
        specs: opts.specs.clone(),
        total_alerts: run.detectors.iter().map(|d| d.alerts.len()).sum(),
        alerts,
        counterfactuals: Vec::new(),
        fix: None,
        sources,
        field: None,
    };
    Ok((e, replayed.error))
}

/// A role with its numbers, for tables: `late 31m`.
pub fn role_text(r: &Role) -> String {
    match r {
        Role::Late { idle_us, .. } => format!("late {}", diagnose::human_us(*idle_us)),
        Role::WrongSource { asked } => format!("wrong-source (asked {asked})"),
        Role::Open { answer } => format!("open, answer {}", answer.name()),
        other => other.name().to_string(),
    }
}
