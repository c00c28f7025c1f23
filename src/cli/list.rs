//! `scanbench list`: scenarios, applications, middleboxes and detectors; or
//! one scenario or detector in full.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use scanbench::Scenario;
use scanbench::detect::default_suite;
use scanbench::external::definition::{Definition, Feed};
use scanbench::external::{Externals, spec_name};
use scanbench::report::duration_text;
use scanbench_detector::params::closest;
use scanbench_detector::{DetectorInfo, Vantage, registry};

use super::{externals, load_scenarios, scenario_files, term, usage};

/// `scanbench list`.
#[derive(Args)]
pub struct ListArgs {
    /// A scenario or detector to show in full (description, every parameter
    /// with its default and source).
    name: Option<String>,
    /// Scenario files or directory to list instead of the built-in suite.
    #[arg(long, value_name = "PATH")]
    scenarios: Option<PathBuf>,
    /// External detector definitions (`[[detector]]` TOML) to list with the
    /// built-in ones; repeatable.
    #[arg(long = "detector-file", value_name = "FILE")]
    detector_file: Vec<PathBuf>,
}

/// The first sentence of a scenario description, without the
/// "Real-world situation:" lead-in, cut to one terminal line.
fn headline(description: &str) -> String {
    let text = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.strip_prefix("Real-world situation: ").unwrap_or(&text);
    let sentence = text.split(". ").next().unwrap_or(text);
    let mut out: String = sentence.chars().take(90).collect();
    if sentence.chars().count() > 90 {
        out.push_str("...");
    }
    out
}

/// Applications a scenario can run (its tables), one line each.
const APPS: &[(&str, &str)] = &[
    (
        "web-server",
        "serves HTTP on ports (pool of listening smoltcp sockets)",
    ),
    (
        "http-client",
        "one request (or `parallel` connections) at a time",
    ),
    ("poller", "periodic request, `every = \"10m..15m\"`"),
    (
        "syn-scan",
        "nmap -sS-style raw SYN scan, timing T0..T5, ports incl. top1000",
    ),
    ("connect-scan", "nmap -sT-style connect scan"),
    (
        "session",
        "long-lived connections with idle gaps and server pushes (IMAP, push channels)",
    ),
];

/// Middleboxes a router can hold, one line each.
const MIDDLEBOXES: &[(&str, &str)] = &[
    (
        "firewall",
        "stateful rules and conntrack/ScreenOS timeouts; faults: drop, flush, failover; drop log",
    ),
    (
        "nat",
        "source NAT / PAT, sequential or random ports, mapping timeouts",
    ),
    (
        "balancer",
        "virtual IP over a pool; misconfigurations: missing SNAT, a partly wrong member",
    ),
];

/// `scanbench list`.
pub fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let (source, scenarios) = match &a.scenarios {
        Some(p) => {
            let mut out = Vec::new();
            for f in scenario_files(std::slice::from_ref(p))? {
                // A broken file is listed as such rather than hiding the rest.
                out.push(Scenario::load(&f).map_err(|e| (f, e)));
            }
            (p.display().to_string(), out)
        }
        None => (
            "built in".to_string(),
            load_scenarios("list", &[], &[])?
                .into_iter()
                .map(Ok)
                .collect(),
        ),
    };
    let ext = externals(&a.detector_file)?;
    let mut out = term::stdout();
    if let Some(name) = &a.name {
        let external = spec_name(name).and_then(|n| ext.find(n));
        if let Some(sc) = scenarios.iter().flatten().find(|s| &s.name == name) {
            scenario_in_full(&mut out, sc)?;
        } else if let Ok(d) = registry::info(name) {
            detector_in_full(&mut out, d)?;
        } else if let Some(def) = external {
            external_in_full(&mut out, def)?;
        } else {
            let mut names: Vec<String> =
                scenarios.iter().flatten().map(|s| s.name.clone()).collect();
            names.extend(registry::DETECTORS.iter().map(|d| d.name.to_string()));
            names.extend(ext.definitions().iter().map(|d| format!("ext:{}", d.name)));
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let hint = closest(name, names.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(usage(
                "list",
                format!(
                    "no scenario or detector named `{name}`{hint}; known: {}",
                    names.join(", ")
                ),
            ));
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Scenarios ({source}; `scanbench list NAME` shows one):"
    )?;
    for s in &scenarios {
        match s {
            Ok(sc) => writeln!(out, "  {:<32} {}", sc.name, headline(&sc.description))?,
            Err((f, e)) => writeln!(out, "  {:<32} INVALID: {e}", f.display())?,
        }
    }
    writeln!(out, "\nApplications (scenario tables, docs/scenarios.md):")?;
    for (k, d) in APPS {
        writeln!(out, "  {k:<14} {d}")?;
    }
    writeln!(
        out,
        "\nMiddleboxes (tables of a `[[router]]`, docs/middleboxes.md):"
    )?;
    for (k, d) in MIDDLEBOXES {
        writeln!(out, "  {k:<14} {d}")?;
    }
    writeln!(
        out,
        "\nDetectors (spec: name:param=value,...; list values `;`-separated; defaults are upstream's, docs/detectors.md):"
    )?;
    for d in registry::DETECTORS {
        writeln!(out, "  {:<12} {}", d.name, d.summary)?;
        for p in d.params {
            writeln!(out, "      {:<28} = {:<14} {}", p.name, p.default, p.help)?;
        }
    }
    let variants: Vec<String> = default_suite()
        .into_iter()
        .filter(|s| s.contains(':'))
        .collect();
    writeln!(
        out,
        "\nVariants the default suite adds (shown by `run -v`): {}",
        variants.join(", ")
    )?;
    list_externals(&mut out, &ext)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One scenario: its file, description, duration, seed, sensors and claims.
fn scenario_in_full(w: &mut dyn Write, sc: &Scenario) -> std::io::Result<()> {
    writeln!(w, "{} ({})", sc.name, sc.path.display())?;
    writeln!(
        w,
        "duration {}, seed {}",
        duration_text(sc.duration.total_micros()),
        sc.seed
    )?;
    if !sc.home_net.is_empty() {
        let nets: Vec<String> = sc.home_net.iter().map(|c| c.to_string()).collect();
        writeln!(w, "home_net {}", nets.join(", "))?;
    }
    writeln!(w, "\n{}", sc.description)?;
    if !sc.expectations.is_empty() {
        writeln!(w, "\nClaims (checked by `run --check`):")?;
        for e in &sc.expectations {
            writeln!(w, "  - {} [{}]", e.claim, e.detectors.join(", "))?;
        }
    }
    Ok(())
}

/// One detector: summary, vantage point, docs page and every parameter.
fn detector_in_full(w: &mut dyn Write, d: &DetectorInfo) -> std::io::Result<()> {
    writeln!(w, "{}: {}", d.name, d.summary)?;
    let vantage = registry::build(d.name)
        .map(|i| match i.detector.vantage() {
            Vantage::Wire => "a link tap (both directions)",
            Vantage::DropLog => "a firewall's drop log",
        })
        .unwrap_or("?");
    writeln!(w, "reads: {vantage}")?;
    writeln!(
        w,
        "docs: docs/detectors/{}.md (sources, algorithm, deviations from upstream)",
        d.name.strip_suffix("-packet").unwrap_or(d.name)
    )?;
    writeln!(
        w,
        "\nParameters (spec: {}:param=value,...; list values `;`-separated):",
        d.name
    )?;
    let width = d.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in d.params {
        writeln!(w, "  {:<width$}  default {}", p.name, shown(p.default))?;
        writeln!(w, "  {:<width$}  {}", "", p.help)?;
    }
    if let Ok(i) = registry::build(d.name) {
        writeln!(w, "\nFull default configuration:\n  {}", i.config)?;
    }
    Ok(())
}

/// A default as printed: empty text spelt out.
fn shown(v: &str) -> String {
    if v.is_empty() {
        "(empty)".into()
    } else {
        format!("`{v}`")
    }
}

/// The external detectors, one line each.
fn list_externals(w: &mut dyn Write, ext: &Externals) -> std::io::Result<()> {
    writeln!(
        w,
        "\nExternal detectors (the real tools, `--detectors ext:NAME`; root; docs/external-detectors.md):"
    )?;
    for d in ext.definitions() {
        let name = format!("ext:{}", d.name);
        writeln!(w, "  {name:<20} {}", d.summary)?;
    }
    Ok(())
}

/// One external detector: what runs, how it is fed, what it reads and what
/// it is compared with.
fn external_in_full(w: &mut dyn Write, d: &Definition) -> std::io::Result<()> {
    writeln!(w, "ext:{}: {}", d.name, d.summary)?;
    writeln!(w, "command: {}", d.command.join(" "))?;
    let reads = match d.vantage {
        Vantage::Wire => "a link tap (both directions)",
        Vantage::DropLog => "a firewall's drop log (as iptables LOG lines)",
    };
    writeln!(w, "reads: {reads}")?;
    match &d.feed {
        Feed::Offline => writeln!(
            w,
            "feed: offline (the capture is written, then the command runs once)"
        )?,
        Feed::Live { gap_bound, .. } => {
            writeln!(
                w,
                "feed: live, in real time in a network namespace (root); gaps longer than {} are shortened",
                duration_text(gap_bound.total_micros())
            )?;
            if !d.gap_reason.is_empty() {
                writeln!(w, "  why gaps may be shortened: {}", d.gap_reason)?;
            }
        }
        Feed::Follow { file, interval, .. } => writeln!(
            w,
            "feed: follow (root): the daemon reads {file} once per check, one {} interval of lines at a time",
            duration_text(interval.total_micros())
        )?,
    }
    if let Some(c) = &d.counterpart {
        writeln!(
            w,
            "re-implementation: {c} (`scanbench fidelity` compares the two)"
        )?;
    }
    writeln!(w, "docs: docs/external-detectors.md, docs/fidelity.md")?;
    writeln!(w, "\nFull configuration:\n  {}", d.config())?;
    Ok(())
}
