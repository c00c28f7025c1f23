//! Subcommand implementations, one file each. `anyhow` lives only here and in
//! `main.rs`, at the binary's edge. This file holds what several commands
//! share: detector specs, scenario files, the alert and run summaries.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use scanbench::detect::default_suite;
use scanbench::evaluate::ScenarioRun;
use scanbench::external::Externals;
use scanbench::report::short;
use scanbench::score::ScoredAlert;
use scanbench::{RunSummary, Scenario};
use scanbench_capture::PcapFormat;
use scanbench_detector::Vantage;

pub mod bench;
pub mod explain;
pub mod fidelity;
pub mod generate;
pub mod list;
#[cfg(feature = "live")]
pub mod live;
pub mod merge;
pub mod replay;
pub mod run;
pub mod sweep;

/// Labels file and capture format flags, shared by the commands that write captures.
#[derive(clap::Args)]
pub struct CaptureFlags {
    /// Write labels (JSON lines) here; default: next to the capture.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Write pcapng with per-packet label comments instead of classic pcap.
    #[arg(long)]
    pub pcapng: bool,
    /// Nanosecond timestamps (classic pcap or pcapng).
    #[arg(long)]
    pub nanos: bool,
}

impl CaptureFlags {
    /// The capture format the flags ask for; a capture path ending in
    /// `.pcapng` asks for pcapng without being told.
    pub fn format(&self, pcap: Option<&Path>) -> PcapFormat {
        match pcap {
            Some(p) => PcapFormat::for_path(p, self.pcapng, self.nanos),
            None if self.pcapng => PcapFormat::Pcapng { nanos: self.nanos },
            None => PcapFormat::Pcap { nanos: self.nanos },
        }
    }
}

/// Detector specs from `--detectors` (joined by `+`), or the default suite.
pub fn detector_specs(arg: &Option<String>) -> Vec<String> {
    match arg {
        Some(s) => s
            .split('+')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        None => default_suite(),
    }
}

/// The external detector definitions: the built-in ones, plus every
/// `[[detector]]` in `files` (`--detector-file`, later files replacing
/// earlier names).
pub fn externals(files: &[PathBuf]) -> anyhow::Result<Externals> {
    let mut ext = Externals::default();
    for f in files {
        ext.load_file(f)?;
    }
    Ok(ext)
}

/// Scenario files named by `paths` (files, or directories searched recursively for `*.toml`).
pub fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect_toml(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

/// `*`-wildcard match of a whole name.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Loads the scenarios under `paths` (default: `scenarios/`), keeping those
/// whose name matches one of `patterns` (all when empty).
pub fn load_scenarios(paths: &[PathBuf], patterns: &[String]) -> anyhow::Result<Vec<Scenario>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    };
    let files = scenario_files(&paths)?;
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push(Scenario::load(f)?);
    }
    if !patterns.is_empty() {
        for pat in patterns {
            if !scenarios.iter().any(|s| matches(pat, &s.name)) {
                let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "--scenarios: no scenario matches `{pat}`; known: {}",
                    names.join(", ")
                );
            }
        }
        scenarios.retain(|s| patterns.iter().any(|p| matches(p, &s.name)));
    }
    if scenarios.is_empty() {
        bail!(
            "no scenario files (*.toml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(scenarios)
}

/// Progress on standard error, only when it is a terminal.
pub struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` steps.
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            enabled: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    /// One step done, `what` naming it.
    pub fn tick(&mut self, what: &str) {
        self.done += 1;
        if self.enabled {
            let width = 30;
            let filled = width * self.done / self.total.max(1);
            eprint!(
                "\r[{}{}] {}/{} {:<40.40}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.done,
                self.total,
                what
            );
            if self.done == self.total {
                eprint!("\r{:78}\r", "");
            }
            let _ = std::io::stderr().flush();
        }
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_toml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

pub fn print_summary(w: &mut dyn Write, s: &RunSummary, verbose: bool) -> std::io::Result<()> {
    let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
    writeln!(
        w,
        "{}: seed {}, {} simulated, {} frames on {} tap(s), {} packets sent",
        s.scenario,
        s.seed,
        fmt_duration(s.duration.total_micros()),
        frames,
        s.taps.len(),
        s.fabric.sent,
    )?;
    if !verbose {
        return Ok(());
    }
    for t in &s.taps {
        let causes: Vec<String> = t
            .by_cause
            .iter()
            .map(|((c, k), n)| format!("{k} ({c}) {n}"))
            .collect();
        // The fingerprint is over the classic pcap rendering; a capture
        // written in another format has its own digest.
        let sha = match &t.capture_sha256 {
            Some(c) if *c != t.sha256 => {
                format!("{c} (as written; classic pcap fingerprint {})", t.sha256)
            }
            _ => t.sha256.clone(),
        };
        writeln!(
            w,
            "  tap {}: {} frames, sha256 {}: {}",
            t.name,
            t.frames,
            sha,
            causes.join(", ")
        )?;
        for f in &t.files {
            writeln!(w, "    wrote {}", f.display())?;
        }
    }
    for (node, kind, stats) in &s.apps {
        let st: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(w, "  {node} {kind}: {}", st.join(" "))?;
    }
    Ok(())
}

fn fmt_duration(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{s:.1} s")
    }
}

/// One alert of detector `name` (short form), with the causes of its packets.
pub fn write_alert(w: &mut dyn Write, name: &str, sa: &ScoredAlert) -> std::io::Result<()> {
    let al = &sa.alert;
    writeln!(
        w,
        "  [{name}] t={:.6}s {} {} -> {}: {}",
        al.time.total_micros() as f64 / 1e6,
        al.kind,
        al.scanner,
        al.victim.map_or_else(|| "*".to_string(), |v| v.to_string()),
        // Multi-line log entries (Snort's) stay under their alert.
        al.evidence.log_line.replace('\n', "\n      ")
    )?;
    if !sa.causes.is_empty() {
        let causes: Vec<String> = sa
            .causes
            .iter()
            .map(|c| {
                format!(
                    "{} {}/{} x{}",
                    c.label.actor, c.label.class, c.label.cause, c.packets
                )
            })
            .collect();
        writeln!(w, "      caused by: {}", causes.join(", "))?;
    }
    Ok(())
}

/// Prints the first alerts of each detector with the causes of their packets:
/// why each alert fired.
pub fn print_alerts(w: &mut dyn Write, run: &ScenarioRun) -> std::io::Result<()> {
    const SHOWN: usize = 5;
    for d in &run.detectors {
        let name = short(&d.spec);
        if !d.applicable {
            writeln!(
                w,
                "  [{name}] not applicable: it reads a {}, which this input lacks",
                match d.vantage {
                    Vantage::Wire => "link tap",
                    Vantage::DropLog => "firewall drop log (use --drop-log or --iptables-log)",
                }
            )?;
            continue;
        }
        for sa in d.alerts.iter().take(SHOWN) {
            write_alert(w, &name, sa)?;
        }
        if d.alerts.len() > SHOWN {
            writeln!(w, "  [{name}] ... {} more alerts", d.alerts.len() - SHOWN)?;
        }
    }
    Ok(())
}
