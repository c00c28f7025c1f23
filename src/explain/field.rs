//! A field report with no capture: one detector log line. The line is read
//! into the alert it reports ([`logline`]), every hypothesis of the library
//! ([`super::hypotheses`]) is simulated through that detector's configurations, and
//! the hypotheses whose runs raise an alert of the same shape (same detector,
//! same blamed address and victim, same port roles: a service port to a high
//! port) are ranked, with what they need and what a capture would show.
//!
//! A simulated alert's shape is read from its own log line by the same
//! parser, so the comparison is between like and like.

use std::path::{Path, PathBuf};

use scanbench_sim::label::Class;

use super::diagnose::{Context, mechanism, shape};
use super::hypotheses::{Hypothesis, Setting, library};
use super::logline::{self, LineError, PortRole, Reported, Source};
use super::model::ExplainedAlert;
use super::roles::Role;
use super::{Filters, explain_run, record_scenario};
use crate::error::{Error, Result};
use crate::report::short;
use crate::scenario::Scenario;

/// One detector configuration tried on one hypothesis.
#[derive(Clone, Debug)]
pub struct Trial {
    /// The detector spec.
    pub spec: String,
    /// Alerts it raised in the hypothesis's run.
    pub alerts: usize,
    /// Of those, alerts with the report's shape.
    pub matching: usize,
    /// The first matching alert, explained.
    pub first: Option<ExplainedAlert>,
    /// The first alert of another shape, its log line.
    pub other: Option<String>,
    /// Alerts of the report's shape before the hypothesis's onset (the
    /// connections' setup, counted by another hypothesis).
    pub early: usize,
}

/// A hypothesis and what its run showed.
#[derive(Clone, Debug)]
pub struct Tested {
    /// The hypothesis.
    pub hypothesis: Hypothesis,
    /// One trial per detector configuration, in order.
    pub trials: Vec<Trial>,
}

impl Tested {
    /// Some configuration raised an alert of the report's shape.
    pub fn reproduces(&self) -> bool {
        self.trials.iter().any(|t| t.matching > 0)
    }

    /// The configuration in its defaults (the first trial) reproduces it.
    pub fn with_defaults(&self) -> bool {
        self.trials.first().is_some_and(|t| t.matching > 0)
    }

    /// The first reproducing trial.
    pub fn best(&self) -> Option<&Trial> {
        self.trials.iter().find(|t| t.matching > 0)
    }

    /// What a capture would show if this hypothesis is right: the shape and
    /// role of the reproduced alert's packets.
    pub fn prediction(&self) -> Option<String> {
        let a = self.best()?.first.as_ref()?;
        let mut p = shape(&a.packets);
        if let Some(m) = mechanism(&a.packets) {
            p.push_str(&format!("; {m}"));
        }
        Some(p)
    }
}

/// The explanation of a field report.
#[derive(Clone, Debug)]
pub struct FieldReport {
    /// The line, as read.
    pub reported: Reported,
    /// The detector configurations each hypothesis was tried with (the
    /// session timeout of a screen's `no-session-any` mode follows the
    /// hypothesis's perimeter: the screen is the perimeter).
    pub specs: Vec<String>,
    /// Every hypothesis, ranked: reproducing ones first (those reproducing
    /// with the detector's defaults before those needing another
    /// configuration, benign before malicious), then the rest.
    pub tested: Vec<Tested>,
}

impl FieldReport {
    /// The reproducing hypotheses, ranked.
    pub fn reproducing(&self) -> impl Iterator<Item = &Tested> {
        self.tested.iter().filter(|t| t.reproduces())
    }

    /// The hypothesis with `id`.
    pub fn get(&self, id: &str) -> Option<&Tested> {
        self.tested.iter().find(|t| t.hypothesis.id == id)
    }
}

/// The detector configurations a line's detector is tried in: its defaults
/// first, then the variants that change what it counts.
fn specs(r: &Reported, session_timeout_s: u64) -> Vec<String> {
    match r.source {
        Source::ScreenOs => {
            let base = match &r.zone {
                Some((z, i)) if !z.contains([',', '=', ':']) && !i.contains([',', '=', ':']) => {
                    format!("screenos:zone={z},interface={i}")
                }
                _ => "screenos".to_string(),
            };
            let sep = if base.contains(':') { "," } else { ":" };
            vec![
                base.clone(),
                format!("{base}{sep}count_mode=syn-only"),
                format!(
                    "{base}{sep}count_mode=no-session-any,tcp_session_timeout={session_timeout_s}"
                ),
            ]
        }
        Source::Scanlogd => vec!["scanlogd".into()],
        Source::Psad => vec!["psad".into(), "psad:ignore_conntrack_bug_pkts=n".into()],
        Source::SfPortscan => vec![
            "sfportscan".into(),
            "sfportscan:sense_level=medium".into(),
            "sfportscan:sense_level=high".into(),
        ],
    }
}

/// Whether a simulated alert's line has the report's shape: same detector,
/// blamed address and victim, port roles, alarm (ScreenOS) or sid
/// (sfPortscan), and the flags the line names (psad, scanlogd).
pub fn same_shape(r: &Reported, line: &str) -> bool {
    let Ok(s) = logline::parse(line) else {
        return false;
    };
    let role_ok = |want: Option<PortRole>, got: Option<u16>| match want {
        None => true,
        Some(w) => got.is_some_and(|p| PortRole::of(p) == w),
    };
    s.source == r.source
        && s.src.addr == r.src.addr
        && r.dst
            .as_ref()
            .is_none_or(|d| s.dst.as_ref().is_some_and(|x| x.addr == d.addr))
        && role_ok(r.sport_role(), s.sport)
        && role_ok(r.dport_role(), s.dport)
        && (r.source != Source::ScreenOs
            || s.what.ends_with(r.what.rsplit(' ').next().unwrap_or("")))
        && (r.source != Source::SfPortscan || s.count == r.count)
        && flags_agree(r, &s)
}

/// The flags a line names agree: psad's flag names as a set; scanlogd's
/// always-set flags (its upper-case letters).
fn flags_agree(r: &Reported, s: &Reported) -> bool {
    let (Some(a), Some(b)) = (&r.flags, &s.flags) else {
        return true;
    };
    match r.source {
        Source::Psad => {
            let set = |f: &str| {
                let mut v: Vec<String> = f.split(',').map(|x| x.trim().to_string()).collect();
                v.sort_unstable();
                v
            };
            set(a) == set(b)
        }
        Source::Scanlogd => {
            let upper = |f: &str| {
                f.chars()
                    .filter(char::is_ascii_uppercase)
                    .collect::<String>()
            };
            upper(a) == upper(b)
        }
        _ => true,
    }
}

/// Tries one hypothesis.
fn try_one(r: &Reported, h: &Hypothesis) -> Result<Tested> {
    let path = PathBuf::from(format!("{}.toml", h.id));
    let sc = Scenario::parse(&path, h.scenario.clone())?;
    let specs = specs(r, h.session_timeout_s);
    let (run, recording) = record_scenario(&sc, sc.seed, &specs)?;
    let cx = Context::of(&sc);
    let mut trials = Vec::new();
    let mut number = 0;
    for d in &run.detectors {
        let mut matching = 0;
        let mut first = None;
        let mut other = None;
        let mut early = 0;
        let onset = scanbench_detector::Instant::from_secs(h.onset_s as i64);
        for (i, sa) in d.alerts.iter().enumerate() {
            let shaped = same_shape(r, &sa.alert.evidence.log_line);
            if shaped && sa.alert.time < onset {
                early += 1;
            } else if shaped {
                matching += 1;
                if first.is_none() {
                    let filters = Filters {
                        alert: Some(number + i + 1),
                        ..Filters::default()
                    };
                    first = explain_run(&run, &recording, &filters, &cx, true).pop();
                }
            } else if other.is_none() {
                other = Some(sa.alert.evidence.log_line.clone());
            }
        }
        number += d.alerts.len();
        trials.push(Trial {
            spec: d.spec.clone(),
            alerts: d.alerts.len(),
            matching,
            first,
            other,
            early,
        });
    }
    Ok(Tested {
        hypothesis: h.clone(),
        trials,
    })
}

/// Explains a field report's log line.
///
/// # Errors
/// [`Error::Input`] naming what was expected for a line that is not one of
/// the known forms; the errors of a hypothesis run (none expected: the
/// library is tested).
pub fn explain_line(line: &str) -> Result<FieldReport> {
    let reported = logline::parse(line).map_err(|LineError(message)| Error::Input {
        path: PathBuf::from("--alert"),
        line: None,
        message,
    })?;
    let dst = reported.dst.as_ref().ok_or_else(|| Error::Input {
        path: PathBuf::from("--alert"),
        line: None,
        message: "the line names no destination: the hypotheses need the reporting side's address"
            .into(),
    })?;
    if dst.addr == reported.src.addr {
        return Err(Error::Input {
            path: PathBuf::from("--alert"),
            line: None,
            message: "the line's source and destination are the same address".into(),
        });
    }
    let setting = Setting {
        server: reported.src.addr,
        port: reported.sport.unwrap_or(80),
        company: dst.addr,
        dport: reported.dport,
    };
    let mut tested = Vec::new();
    for h in library(&setting) {
        tested.push(try_one(&reported, &h)?);
    }
    let order: Vec<String> = tested.iter().map(|t| t.hypothesis.id.clone()).collect();
    tested.sort_by_key(|t| {
        (
            !t.reproduces(),
            !t.with_defaults(),
            t.hypothesis.class != Class::Benign,
            order.iter().position(|id| *id == t.hypothesis.id),
        )
    });
    Ok(FieldReport {
        specs: specs(&reported, 1800),
        reported,
        tested,
    })
}

/// Writes every reproducing hypothesis's scenario into `dir` as
/// `<id>.toml`, with an `[[expect]]` claim that its first reproducing
/// configuration alerts; returns the files written.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn write_scenarios(report: &FieldReport, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut out = Vec::new();
    for t in report.reproducing() {
        let Some(best) = t.best() else { continue };
        let mut text = t.hypothesis.scenario.clone();
        text.push_str(&format!(
            "[[expect]]\nclaim = \"{} raises an alert of the field report's shape\"\ndetectors = [\"{}\"]\nmin_alerts = 1\n",
            short(&best.spec).replace('"', "'"),
            best.spec
        ));
        let path = dir.join(format!("{}.toml", t.hypothesis.id));
        std::fs::write(&path, text).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// Whether every packet of every benign reproduction belongs to a
/// connection the reporting side (`company`) opened: SYN-ACKs answering its
/// SYNs, late segments or other segments of its connections, answers to SYNs
/// it sent to another address. Returns the roles seen, or `None` if some
/// packet does not.
pub fn replies_to_own_connections(report: &FieldReport) -> Option<Vec<&'static str>> {
    let company = report.reported.dst.as_ref()?.addr;
    let mut seen = Vec::new();
    let mut any = false;
    for t in report
        .reproducing()
        .filter(|t| t.hypothesis.class == Class::Benign)
    {
        let a = t.best()?.first.as_ref()?;
        for p in &a.packets {
            any = true;
            let ok = match p.role? {
                Role::Answer => p.frame.dst == company,
                Role::WrongSource { .. } => p.frame.dst == company,
                Role::Late { opened_by, .. } | Role::InConnection { opened_by } => {
                    opened_by == Some(company)
                }
                _ => false,
            };
            if !ok {
                return None;
            }
            let name = p.role?.name();
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
    }
    any.then_some(seen)
}

/// A detector parameter's default, from the registry.
fn default_of(detector: &str, param: &str) -> String {
    scanbench_detector::registry::info(detector)
        .ok()
        .and_then(|i| i.params.iter().find(|p| p.name == param))
        .map_or_else(|| "?".into(), |p| p.default.to_string())
}

/// When the line's detector writes such a line, in its own terms, with its
/// default numbers (from the registry).
pub fn when(r: &Reported) -> String {
    let from = match r.sport {
        Some(p) => format!("{}:{p}", r.src),
        None => r.src.to_string(),
    };
    let to = match (&r.dst, r.dport) {
        (Some(d), Some(p)) => format!("{d}:{p}"),
        (Some(d), None) => d.to_string(),
        (None, _) => "*".into(),
    };
    match r.source {
        Source::ScreenOs => format!(
            "ScreenOS's port-scan screen writes system-alert-00016 when one source sends TCP \
             packets to {} different destination ports of one destination within {} us (its \
             `threshold`), and names only the packet that completed the count ({from} -> {to}); \
             \"Occurred N times\" counts the further packets from that source during the block \
             that follows. Which packets count is not documented by the vendor: SYN segments, \
             SYN-ACKs included (count_mode=syn-set, the bench's default), SYNs without ACK \
             (syn-only), or every TCP segment that matches none of the screen's sessions \
             (no-session-any). Every hypothesis was tried in all three.",
            default_of("screenos", "ports_needed"),
            default_of("screenos", "threshold")
        ),
        Source::Scanlogd => format!(
            "scanlogd logs a source once the new destination ports it sent to reach weight {} \
             (ports below 1024 weigh 3, others 1), each at most {} ticks (1/100 s) after the \
             previous one; a packet with ACK never starts an entry, and a new port on a packet \
             with ACK or RST is ignored.",
            default_of("scanlogd", "scan_weight_threshold"),
            default_of("scanlogd", "scan_delay_threshold")
        ),
        Source::Psad => format!(
            "psad reads the firewall's log of dropped packets and raises danger level 1 when one \
             source has {} logged packets to one destination spanning a port range of at least {} \
             within {} s (level 2 at {}, 3 at {}); by default it ignores TCP packets with ACK or \
             RST (IGNORE_CONNTRACK_BUG_PKTS Y), so replies and late segments of lost connections \
             only count with that switch off. Both were tried.",
            default_of("psad", "danger_level1"),
            default_of("psad", "port_range_scan_threshold"),
            default_of("psad", "scan_timeout"),
            default_of("psad", "danger_level2"),
            default_of("psad", "danger_level3")
        ),
        Source::SfPortscan => "Snort's sfPortscan raises TCP Portscan (122:1) when one scanned \
             host sees, within its window (60 s at sense level low), at least 5 negative answers \
             (RSTs from the host, ICMP unreachables) while the destination port changed at least \
             5 times and the scanner address fewer than 25; it ignores packets of established \
             sessions. Sense levels low, medium and high were tried."
            .to_string(),
    }
}
