//! Subcommand implementations, one file each. `anyhow` lives only here and in
//! `main.rs`, at the binary's edge. This file holds what several commands
//! share: exit codes and usage errors, detector specs, scenario files, the
//! alert and run summaries; [`term`] holds standard output and error, colour
//! and `-q`, [`progress`] the progress display.
//!
//! Conventions for every subcommand (README "Exit codes"):
//! - write reports through [`term::stdout`], chatter through [`term::chatter`]
//!   or `note!`, warnings through `warn!`; never `print!` (it panics on a
//!   closed pipe);
//! - a bad flag value or flag combination is a [`usage`] error (exit 2);
//! - anything wrong with an input file is an ordinary error naming the file and
//!   the place (exit 1).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use scanbench::detect::default_suite;
use scanbench::evaluate::ScenarioRun;
use scanbench::external::{Externals, spec_name};
use scanbench::report::{duration_text, relative_text, short, utc_text};
use scanbench::scenario::suite;
use scanbench::score::ScoredAlert;
use scanbench::{RunSummary, Scenario};
use scanbench_capture::PcapFormat;
use scanbench_detector::params::closest;
use scanbench_detector::{Instant, Vantage, registry};

pub mod bench;
pub mod explain;
pub mod fidelity;
pub mod generate;
pub mod list;
#[cfg(feature = "live")]
pub mod live;
pub mod merge;
pub mod progress;
pub mod replay;
pub mod run;
pub mod shell;
pub mod sweep;
pub mod term;

/// Exit code of a bad input file.
pub const EXIT_BAD_INPUT: u8 = 1;
/// Exit code of a usage error (as clap's own).
pub const EXIT_USAGE: u8 = 2;

/// A bad flag value or a flag combination that does not work: exit 2.
#[derive(Debug)]
pub struct UsageError {
    /// The subcommand, for the `--help` hint.
    pub command: &'static str,
    /// What is wrong and what to do instead.
    pub message: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// A usage error of `command` (`run`, `replay`, ...).
pub fn usage(command: &'static str, message: impl Into<String>) -> anyhow::Error {
    UsageError {
        command,
        message: message.into(),
    }
    .into()
}

/// `e` and its causes as one line, each cause once: a cause whose text the
/// line already holds (an OS error quoted by its wrapper) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// Prints `e` on standard error and returns its exit code: 2 for a
/// [`UsageError`] or the library's [`scanbench::Error::Argument`] (a
/// command-line value it rejected: `--param`, `--shard`, `--tap`, `--hosts`),
/// 1 otherwise.
pub fn exit_with(e: &anyhow::Error) -> ExitCode {
    if let Some(u) = e.downcast_ref::<UsageError>() {
        term::error(format_args!("{u}"));
        term::note(format_args!(
            "\nFor more information, try 'scanbench {} --help'.",
            u.command
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    term::error(format_args!("{}", error_text(e)));
    if matches!(
        e.downcast_ref::<scanbench::Error>(),
        Some(scanbench::Error::Argument(_))
    ) {
        return ExitCode::from(EXIT_USAGE);
    }
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Labels file and capture format flags, shared by the commands that write
/// captures. `--pcapng` and `--nanos` need somewhere to write: each command
/// checks that with [`CaptureFlags::check`].
#[derive(clap::Args)]
pub struct CaptureFlags {
    /// Write labels (JSON lines) here; default: next to the capture.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Write pcapng with per-packet label comments instead of classic pcap
    /// (with a capture to write).
    #[arg(long)]
    pub pcapng: bool,
    /// Nanosecond timestamps, classic pcap or pcapng (with a capture to write).
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

    /// A usage error when `--pcapng` or `--nanos` is given but no capture
    /// is written (`writes` is false); `where_to` names the flags that write one.
    pub fn check(&self, command: &'static str, writes: bool, where_to: &str) -> anyhow::Result<()> {
        for (given, flag) in [(self.pcapng, "--pcapng"), (self.nanos, "--nanos")] {
            if given && !writes {
                return Err(usage(
                    command,
                    format!(
                        "{flag} sets the format of a capture, but none is written: add {where_to}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A count flag that must be at least 1 (`--jobs 0` would run nothing), as
/// a clap value parser.
pub fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(v) if v >= T::from(1) => Ok(v),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// Detector specs from `--detectors` (joined by `+`), or the default suite.
/// `ext:NAME` specs name a definition of `externals`.
///
/// # Errors
/// A usage error of `command` naming the bad spec: an empty one, an unknown
/// detector or parameter (with a hint to join specs with `+` when they were
/// joined with `,`), an unknown external tool, a bad value, or the same
/// configuration twice.
pub fn detector_specs(
    command: &'static str,
    arg: &Option<String>,
    externals: &Externals,
) -> anyhow::Result<Vec<String>> {
    let Some(text) = arg else {
        return Ok(default_suite());
    };
    let mut specs: Vec<String> = Vec::new();
    let mut configs: Vec<String> = Vec::new();
    for part in text.split('+') {
        let spec = part.trim();
        if spec.is_empty() {
            return Err(usage(
                command,
                format!("--detectors `{text}`: an empty spec (join specs with one `+`)"),
            ));
        }
        // A printed external configuration (`ext:NAME:command=...`) pastes
        // back as `ext:NAME`.
        let mut spec = spec.to_string();
        let config = match spec_name(&spec).map(str::to_string) {
            Some(text) => {
                let (config, name) = external_config(command, &text, externals)?;
                spec = format!("{}{name}", scanbench::external::PREFIX);
                config
            }
            None => {
                registry::build(&spec)
                    .map_err(|e| match plus_hint(&spec) {
                        Some(joined) => usage(
                            command,
                            format!(
                                "--detectors `{spec}`: to run several detectors, join them with `+`: `{joined}` (`,` separates the parameters of one spec)"
                            ),
                        ),
                        None => usage(command, format!("--detectors: {e}")),
                    })?
                    .config
            }
        };
        if let Some(i) = configs.iter().position(|c| *c == config) {
            return Err(usage(
                command,
                format!(
                    "--detectors: `{}` and `{spec}` are the same configuration; give each once",
                    specs[i]
                ),
            ));
        }
        configs.push(config);
        specs.push(spec);
    }
    Ok(specs)
}

/// The configuration and name of external tool `text` (`NAME` of
/// `ext:NAME`, or `NAME:...` as its printed configuration), or a usage error
/// naming the known tools and the closest one.
fn external_config(
    command: &'static str,
    text: &str,
    externals: &Externals,
) -> anyhow::Result<(String, String)> {
    let name = text.split(':').next().unwrap_or(text).trim();
    let Some(def) = externals.find(name) else {
        let known = externals.definitions().iter().map(|d| d.name.as_str());
        let hint = closest(name, known)
            .map_or_else(String::new, |c| format!(" (did you mean `ext:{c}`?)"));
        return Err(usage(
            command,
            format!(
                "--detectors: no external detector `{name}`{hint}; known: {} (more with --detector-file)",
                externals.names()
            ),
        ));
    };
    let config = def.config();
    if text != name && format!("{}{text}", scanbench::external::PREFIX) != config {
        return Err(usage(
            command,
            format!(
                "--detectors `ext:{text}`: an external detector takes no parameters here (its configuration is `{config}`); define another in a --detector-file"
            ),
        ));
    }
    Ok((config, name.to_string()))
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

/// `spec` with `+` where `,` joined whole detector specs (`scanlogd,zeek-scan`,
/// `sfportscan:sense_level=medium,scanlogd`), if that makes valid specs.
fn plus_hint(spec: &str) -> Option<String> {
    // A piece starts a new spec if the text before its `:` names a detector
    // (a parameter `k=v` never does).
    let is_detector = |piece: &str| {
        let name = piece.split(':').next().unwrap_or(piece).trim();
        !name.contains('=') && registry::info(name).is_ok()
    };
    let pieces: Vec<&str> = spec.split(',').collect();
    let mut joined = String::new();
    let mut changed = false;
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            if is_detector(p) {
                joined.push('+');
                changed = true;
            } else {
                joined.push(',');
            }
        }
        joined.push_str(p);
    }
    let valid = joined.split('+').all(|s| registry::build(s).is_ok());
    (changed && valid).then_some(joined)
}

/// The scenarios named by `paths` (files, or directories searched
/// recursively for `*.toml`), or the built-in suite when `paths` is empty,
/// keeping those whose name matches one of `patterns` (all when empty).
///
/// # Errors
/// A path that does not exist (with a hint when it names a built-in
/// scenario), a directory without scenarios, a scenario that does not load,
/// or (a usage error) a pattern that matches no scenario.
pub fn load_scenarios(
    command: &'static str,
    paths: &[PathBuf],
    patterns: &[String],
) -> anyhow::Result<Vec<Scenario>> {
    let all = if paths.is_empty() {
        scanbench::scenario::suite::builtin()?
    } else {
        let mut out = Vec::new();
        for f in scenario_files(paths)? {
            out.push(Scenario::load(&f)?);
        }
        out
    };
    select(command, all, patterns)
}

/// One scenario: the file `path`, or, when no such file exists, the
/// built-in scenario of that name (`syn-scan-t3`).
///
/// # Errors
/// Neither a file nor a built-in name (with the closest built-in name), or
/// a scenario that does not load.
pub fn one_scenario(path: &Path) -> anyhow::Result<Scenario> {
    if path.exists() {
        return Ok(Scenario::load(path)?);
    }
    let name = path.to_string_lossy();
    let name = name.strip_suffix(".toml").unwrap_or(&name);
    let suite = scanbench::scenario::suite::builtin()?;
    if let Some(i) = suite.iter().position(|s| s.name == name) {
        return Ok(suite.into_iter().nth(i).expect("found above"));
    }
    let hint = closest(name, suite.iter().map(|s| s.name.as_str()))
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    bail!(
        "{}: no such file, and no built-in scenario of that name{hint}",
        path.display()
    )
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

/// The scenarios `patterns` select (all when empty), in suite order.
///
/// # Errors
/// A usage error for a pattern that matches nothing, with the closest name.
fn select(
    command: &'static str,
    scenarios: Vec<Scenario>,
    patterns: &[String],
) -> anyhow::Result<Vec<Scenario>> {
    if patterns.is_empty() {
        return Ok(scenarios);
    }
    for pat in patterns {
        if !scenarios.iter().any(|s| matches(pat, &s.name)) {
            let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
            let hint = closest(pat, names.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(usage(
                command,
                format!(
                    "--scenarios: no scenario matches `{pat}`{hint}; known: {}",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(scenarios
        .into_iter()
        .filter(|s| patterns.iter().any(|p| matches(p, &s.name)))
        .collect())
}

/// Scenario files named by `paths` (files, or directories searched recursively for `*.toml`).
///
/// # Errors
/// A path that does not exist, or a directory without `*.toml` files.
pub fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = out.len();
            collect_toml(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
            if out.len() == before {
                bail!(
                    "{}: no scenario files (*.toml) in this directory",
                    p.display()
                );
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            let name = p.to_string_lossy();
            let builtin = suite::SUITE
                .iter()
                .any(|(f, _)| f.strip_suffix(".toml") == Some(&*name) || *f == &*name);
            let hint = if builtin {
                format!(
                    " (the built-in scenario `{}` is selected with --scenarios {})",
                    name.trim_end_matches(".toml"),
                    name.trim_end_matches(".toml")
                )
            } else {
                String::new()
            };
            bail!("{}: no such file or directory{hint}", p.display());
        }
    }
    Ok(out)
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

/// One line per run (`name: seed, simulated time, frames, packets`), with
/// per-tap and per-app details when `verbose`.
pub fn print_summary(w: &mut dyn Write, s: &RunSummary, verbose: bool) -> std::io::Result<()> {
    let frames: u64 = s.taps.iter().map(|t| t.frames).sum();
    writeln!(
        w,
        "{}: seed {}, {} simulated, {} frames on {} tap(s), {} packets sent",
        s.scenario,
        s.seed,
        duration_text(s.duration.total_micros()),
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

/// How an input's times read (see `scanbench::time_text`): a real capture's
/// as ISO 8601 UTC date-times, a simulation's as seconds after its start;
/// alerts after `end` (raised by detector timers once the input ended) are
/// marked.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The times are a real capture's (since the Unix epoch).
    pub utc: bool,
    /// The end of the input, if known.
    pub end: Option<Instant>,
}

impl Clock {
    /// The clock of `run`'s input.
    pub fn of(run: &ScenarioRun) -> Clock {
        Clock {
            utc: run.replayed,
            end: Some(run.end),
        }
    }

    /// What the times are, for a heading.
    pub fn meaning(self) -> &'static str {
        if self.utc {
            "UTC, as the capture recorded them"
        } else {
            "after the start of the simulation"
        }
    }

    /// `at` as this clock reads it.
    pub fn moment(self, at: Instant) -> String {
        if self.utc {
            utc_text(at.total_micros())
        } else {
            relative_text(at.total_micros())
        }
    }
}

/// One alert of detector `name` (its column label), with the causes of its
/// packets; times read by `clock`.
pub fn write_alert(
    w: &mut dyn Write,
    name: &str,
    sa: &ScoredAlert,
    clock: Clock,
) -> std::io::Result<()> {
    let al = &sa.alert;
    let drained = if clock.end.is_some_and(|end| al.time > end) {
        " [after the end of the input: detector timers]"
    } else {
        ""
    };
    writeln!(
        w,
        "  [{name}] {}{drained} {} {} -> {}: {}",
        clock.moment(al.time),
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
/// why each alert fired. Alerts raised after the end of the input (by
/// detector timers) are marked.
pub fn print_alerts(w: &mut dyn Write, run: &ScenarioRun) -> std::io::Result<()> {
    const SHOWN: usize = 5;
    let clock = Clock::of(run);
    let any = run.detectors.iter().any(|d| !d.alerts.is_empty());
    if any {
        writeln!(
            w,
            "Alerts (the first {SHOWN} per detector; times {}):",
            clock.meaning()
        )?;
    }
    for d in &run.detectors {
        let name = short(&d.spec);
        if !d.applicable {
            let hint = match d.vantage {
                Vantage::Wire => "a link tap",
                Vantage::DropLog if run.replayed => {
                    "a firewall drop log (replay --iptables-log FILE, or --drop-log for a capture of dropped packets)"
                }
                Vantage::DropLog => "a firewall drop log (a `[[tap]]` with `drop_log = ROUTER`)",
            };
            writeln!(
                w,
                "  [{name}] not applicable: it reads {hint}, which this input lacks"
            )?;
            continue;
        }
        for sa in d.alerts.iter().take(SHOWN) {
            write_alert(w, &name, sa, clock)?;
        }
        if d.alerts.len() > SHOWN {
            writeln!(w, "  [{name}] ... {} more alerts", d.alerts.len() - SHOWN)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration `list ext:NAME` and reports print for a real tool
    /// pastes back into `--detectors` as that tool; anything else after its
    /// name is refused.
    #[test]
    fn printed_external_configs_paste_back() {
        let ext = Externals::builtin();
        for d in ext.definitions() {
            let specs = detector_specs("run", &Some(d.config()), ext).unwrap();
            assert_eq!(specs, vec![format!("ext:{}", d.name)]);
        }
        let e = detector_specs("run", &Some("ext:psad:command=true".into()), ext).unwrap_err();
        assert!(e.to_string().contains("takes no parameters here"), "{e}");
        let e = detector_specs("run", &Some("ext:psad+ext:psad".into()), ext).unwrap_err();
        assert!(e.to_string().contains("same configuration"), "{e}");
    }
}
