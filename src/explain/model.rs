//! The explanation as data: what every renderer (text, Markdown, JSON) prints.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use scanbench_detector::{Alert, Vantage};
use scanbench_sim::label::Label;

use super::counterfactual::{Counterfactual, Fix};
use super::field::FieldReport;
use super::infer::SourceReading;
use super::record::{Fate, FrameInfo};
use super::roles::Role;

/// What was explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A simulated scenario run.
    Scenario {
        /// Scenario name.
        name: String,
        /// Scenario file.
        file: PathBuf,
        /// Seed used.
        seed: u64,
    },
    /// A real capture.
    Capture {
        /// The capture file.
        file: PathBuf,
        /// Whether its frames carried labels (pcapng comments or `--labels`).
        labelled: bool,
    },
    /// A detector's log line (a field report with no capture).
    LogLine {
        /// The line.
        line: String,
    },
}

/// One packet behind an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The frame at the detector's vantage point.
    pub frame: FrameInfo,
    /// Its ground-truth label there.
    pub label: Option<Label>,
    /// The key the detector counted it as (`port 8201`), if it says.
    pub counted_as: Option<String>,
    /// The packet that tripped the rule.
    pub trigger: bool,
    /// Its role in its connection, read from the capture.
    pub role: Option<Role>,
    /// A drop log that recorded the same packet.
    pub fate: Option<Fate>,
}

impl Packet {
    /// The label that says best why the packet exists: the one a middlebox
    /// gave it when it dropped it (its cause may have become `state-loss`),
    /// else the label at the sensor.
    pub fn cause_label(&self) -> Option<&Label> {
        self.fate
            .as_ref()
            .and_then(|f| f.label.as_ref())
            .or(self.label.as_ref())
    }
}

/// The one-sentence answer for an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// `benign`, `malicious`, `mixed`, or `unlabelled`.
    pub class: String,
    /// The sentence.
    pub sentence: String,
    /// Causes of the packets (after drop-log relabelling), most packets first.
    pub causes: Vec<(String, u64)>,
    /// Actors behind the packets, sorted.
    pub actors: Vec<String>,
}

/// One alert, explained.
#[derive(Clone, Debug)]
pub struct ExplainedAlert {
    /// 1-based number over the whole run (detectors in order, alerts in order).
    pub number: usize,
    /// The detector spec as run.
    pub spec: String,
    /// Its full configuration.
    pub config: String,
    /// Where it read.
    pub vantage: Vantage,
    /// The alert, with the rule it states.
    pub alert: Alert,
    /// Whether the blamed address is a labelled scanner (`None`: no labels).
    pub true_positive: Option<bool>,
    /// The packets behind it: the trigger and every evidence frame, in order.
    pub packets: Vec<Packet>,
    /// The answer.
    pub diagnosis: Diagnosis,
}

/// Everything `explain` found.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// What was explained.
    pub input: Input,
    /// Detector specs run, in order.
    pub specs: Vec<String>,
    /// The explained alerts (after the filters).
    pub alerts: Vec<ExplainedAlert>,
    /// Alerts in the run before filtering.
    pub total_alerts: usize,
    /// Counterfactual reruns (scenarios only): one per switch.
    pub counterfactuals: Vec<Counterfactual>,
    /// The minimal fix, when the counterfactuals were run.
    pub fix: Option<Fix>,
    /// Per source, the mechanism read from the capture (unlabelled captures).
    pub sources: Vec<SourceReading>,
    /// The hypotheses tried on a field report's log line.
    pub field: Option<FieldReport>,
}

impl Explanation {
    /// Alerts blaming `addr`.
    pub fn blaming(&self, addr: Ipv4Addr) -> impl Iterator<Item = &ExplainedAlert> {
        self.alerts.iter().filter(move |a| a.alert.scanner == addr)
    }
}
