//! `scanbench list`: scenarios, applications, middleboxes and detectors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use scanbench::Scenario;
use scanbench_detector::registry;

use super::scenario_files;

/// `scanbench list`.
#[derive(Args)]
pub struct ListArgs {
    /// Scenario directory to list (default: `scenarios/`).
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
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

/// `scanbench list`.
pub fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    println!("Scenarios ({}):", a.scenarios.display());
    if a.scenarios.is_dir() {
        for f in scenario_files(std::slice::from_ref(&a.scenarios))? {
            match Scenario::load(&f) {
                Ok(sc) => println!("  {:<32} {}", sc.name, headline(&sc.description)),
                Err(e) => println!("  {:<32} INVALID: {e}", f.display()),
            }
        }
    }
    println!("\nApplications (scenario tables):");
    for (k, d) in [
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
    ] {
        println!("  {k:<14} {d}");
    }
    println!("\nMiddleboxes (tables of a `[[router]]`, docs/middleboxes.md):");
    for (k, d) in [
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
    ] {
        println!("  {k:<14} {d}");
    }
    println!("\nDetectors (name:param=value,...; defaults are upstream's):");
    for d in registry::DETECTORS {
        println!("  {:<12} {}", d.name, d.summary);
        for p in d.params {
            println!("      {:<28} = {:<14} {}", p.name, p.default, p.help);
        }
    }
    Ok(ExitCode::SUCCESS)
}
