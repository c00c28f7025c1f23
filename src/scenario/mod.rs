//! Scenario files: TOML describing hosts, routers, links, applications, taps,
//! duration and seed. The format is documented in `docs/scenarios.md`.
//!
//! - [`file`](mod@file): the serde form (unknown fields rejected, spans kept);
//! - `fields`: value checks that name the file, line and field;
//! - [`build`]: the validated file turned into a [`scanbench_sim::Network`];
//! - [`expect`]: the `[[expect]]` claims a scenario makes about verdicts;
//! - [`live`]: the `[live]` table, where the world beyond the simulation attaches.
//!
//! [`Scenario::load`] parses and validates, building the network once so that
//! every reference and value is checked before anything runs.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use scanbench_detector::{Cidr, registry};
use scanbench_sim::Duration;

use crate::error::{Error, Result};

pub mod build;
mod checks;
pub mod expect;
mod fields;
pub mod file;
pub mod limits;
pub mod live;
mod scale;
pub mod suite;
pub mod switch;
mod toml_error;

pub use build::Built;
pub use expect::Expectation;
use file::{LabelFile, ScenarioFile};
pub use live::Live;
pub use switch::{Switch, Switches};

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from.
    pub path: PathBuf,
    /// Its name (file stem unless set).
    pub name: String,
    /// Its description.
    pub description: String,
    /// Seed from the file (may be overridden at build time).
    pub seed: u64,
    /// Simulated duration.
    pub duration: Duration,
    /// The protected site's networks (empty: detectors keep their defaults).
    pub home_net: Vec<Cidr>,
    /// Claims checked after a run.
    pub expectations: Vec<Expectation>,
    /// Counterfactual switches every build applies (none as loaded; see
    /// [`Scenario::with_switches`]).
    pub switches: Switches,
    /// Where the outside attaches (`[live]`), if the file says.
    pub live: Option<Live>,
    file: ScenarioFile,
    source: String,
}

impl Scenario {
    /// Reads and validates a scenario file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable; [`Error::Scenario`] naming the file, line
    /// and field of a syntax error, unknown field, bad value or unknown name.
    pub fn load(path: &Path) -> Result<Scenario> {
        let source = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Scenario::parse(path, source)
    }

    /// Parses and validates scenario text; `path` is used in messages.
    pub fn parse(path: &Path, source: String) -> Result<Scenario> {
        let file: ScenarioFile = toml::from_str(&source).map_err(|e| {
            let at = e.span().map(|s| s.start);
            Error::Scenario {
                path: path.to_path_buf(),
                line: at.map(|at| line_of(&source, at)),
                message: toml_error::explain(e.message(), &source, at),
            }
        })?;
        let name = match &file.name {
            Some(n) => n.get_ref().clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into()),
        };
        let mut sc = Scenario {
            path: path.to_path_buf(),
            name,
            description: file.description.trim().to_string(),
            seed: file.seed,
            duration: Duration::ZERO,
            home_net: Vec::new(),
            expectations: Vec::new(),
            switches: Switches::new(),
            live: None,
            file,
            source,
        };
        sc.check_name()?;
        sc.duration = sc.dur(&sc.file.duration, "duration")?;
        if sc.duration == Duration::ZERO {
            return Err(sc.err(
                sc.file.duration.span(),
                "duration",
                "must be longer than 0s: nothing would happen",
            ));
        }
        sc.home_net = sc.home_net()?;
        sc.expectations = sc.expectations()?;
        sc.live = sc.live_table()?;
        sc.check_limits()?;
        // Build once so every reference and value is checked at load time.
        sc.build(sc.seed)?;
        sc.check_whole()?;
        Ok(sc)
    }

    /// The file's text, as read.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn home_net(&self) -> Result<Vec<Cidr>> {
        let Some(nets) = &self.file.home_net else {
            return Ok(Vec::new());
        };
        nets.get_ref()
            .iter()
            .map(|n| {
                n.parse::<Cidr>()
                    .map_err(|e| self.err(nets.span(), "home_net", format!("`{n}`: {e}")))
            })
            .collect()
    }

    fn expectations(&self) -> Result<Vec<Expectation>> {
        let mut out = Vec::new();
        for e in &self.file.expects {
            let span = e.detectors.span();
            let mut detectors = Vec::new();
            for spec in e.detectors.get_ref() {
                if spec == "defaults" {
                    detectors.extend(registry::DETECTORS.iter().map(|d| d.name.to_string()));
                    continue;
                }
                registry::build(spec)
                    .map_err(|err| self.err(span.clone(), "expect.detectors", err.to_string()))?;
                detectors.push(spec.clone());
            }
            if e.within_probes.is_some() || e.within.is_some() {
                // A latency bound only means something for flagged scanners.
                if !e.flags_scanners {
                    return Err(self.err(
                        span,
                        "expect",
                        "`within` / `within_probes` need `flags_scanners = true`",
                    ));
                }
            }
            let within_us = match &e.within {
                Some(w) => Some(self.dur(w, "expect.within")?.total_micros()),
                None => None,
            };
            out.push(Expectation {
                claim: e.claim.clone(),
                detectors,
                flags_scanners: e.flags_scanners,
                within_probes: e.within_probes,
                within_us,
                max_fp: e.max_fp,
                min_fp: e.min_fp,
                max_alerts: e.max_alerts,
                min_alerts: e.min_alerts,
                line: line_of(&self.source, span.start),
            });
        }
        Ok(out)
    }
}

impl Scenario {
    /// The file as parsed (hosts, routers and their middleboxes, apps, taps),
    /// for tools that read a scenario's topology (`explain`).
    pub fn file(&self) -> &ScenarioFile {
        &self.file
    }

    /// Addresses of the hosts that run a malicious actor (scanners unless
    /// relabelled, or any app labelled `class = "malicious"`): the ground
    /// truth per source entity.
    pub fn malicious_addrs(&self) -> std::collections::BTreeSet<Ipv4Addr> {
        let f = &self.file;
        let is_mal = |l: &LabelFile, default: bool| match &l.class {
            Some(c) => c.get_ref() == "malicious",
            None => default,
        };
        let mut hosts: Vec<&str> = Vec::new();
        hosts.extend(
            f.syn_scans
                .iter()
                .chain(&f.connect_scans)
                .filter(|s| is_mal(&s.label, true))
                .map(|s| s.host.get_ref().as_str()),
        );
        hosts.extend(
            f.web_servers
                .iter()
                .filter(|s| is_mal(&s.label, false))
                .map(|s| s.host.get_ref().as_str()),
        );
        hosts.extend(
            f.http_clients
                .iter()
                .filter(|s| is_mal(&s.label, false))
                .map(|s| s.host.get_ref().as_str()),
        );
        hosts.extend(
            f.pollers
                .iter()
                .filter(|s| is_mal(&s.label, false))
                .map(|s| s.host.get_ref().as_str()),
        );
        f.hosts
            .iter()
            .filter(|h| hosts.contains(&h.name.get_ref().as_str()))
            .filter_map(|h| h.addr.get_ref().trim().parse().ok())
            .collect()
    }
}

/// 1-based line number of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
