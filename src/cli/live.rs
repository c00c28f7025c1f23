//! `scanbench live`: the simulated network on a TUN device, in real time.
//!
//! Order matters for "nothing left behind": every check (scenario, detector
//! specs, addresses, privileges, `/dev/net/tun`, the device name, the host's
//! routes) comes before the device is created; the capture files come after
//! it is configured; a failure from then on drops the device, which takes its
//! address and routes with it.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use scanbench::live::kernel::{self, Ip, Plan, check_ifname, network, overlaps};
use scanbench::live::{Driver, LiveError, LiveOptions, LiveRun, Session, Tun};
use scanbench::report::short;
use scanbench::scenario::Live;
use scanbench::simulate::Outputs;
use scanbench::{Format, Report, Scenario};
use scanbench_detector::{Cidr, registry};
use scanbench_sim::{Duration, units};

use super::{CaptureFlags, print_summary, term, write_alert};

/// `scanbench live`.
#[derive(Args)]
pub struct LiveArgs {
    /// Scenario file with a `[live]` table (see docs/live.md).
    scenario: PathBuf,
    /// Name of the TUN device to create (1 to 15 letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "NAME", value_parser = check_ifname)]
    tun: String,
    /// A kernel route into the simulation, via the device (repeatable).
    /// Default: every simulated subnet.
    #[arg(long = "route", value_name = "CIDR", value_parser = parse_cidr)]
    routes: Vec<Cidr>,
    /// The kernel's address on the device, with its subnet's prefix length.
    /// Default: the first address of the first `[live] outside` prefix
    /// (198.18.0.1/15).
    #[arg(long, value_name = "ADDR/LEN", value_parser = parse_addr)]
    addr: Option<(Ipv4Addr, u8)>,
    /// Move the device into this network namespace (made with `ip netns add`)
    /// and configure it there.
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// Only create the device: leave it down, with no address and no route,
    /// for you to configure (or move into a namespace) yourself.
    #[arg(long, conflicts_with_all = ["routes", "addr", "netns"])]
    no_configure: bool,
    /// Stop after this much real time, e.g. `90s`, `10m` (default: at Ctrl-C
    /// or SIGTERM).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Detectors: specs joined by `+` (default: every detector in its default
    /// configuration).
    #[arg(long)]
    detectors: Option<String>,
    /// Seed of the simulated stacks' choices (ISNs, ports; default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the capture here (several taps: `NAME.<tap>.pcap`), stamped with
    /// the wall-clock time.
    #[arg(long)]
    pcap: Option<PathBuf>,
    #[command(flatten)]
    capture: CaptureFlags,
    /// Report format on standard output at the end; with any but `table`,
    /// the startup lines and alerts go to standard error.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse()
}

fn parse_addr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected ADDR/LEN, e.g. 198.18.0.1/15"))?;
    let addr = a
        .parse()
        .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
    let len = p
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("`{p}` is not a prefix length 0..=32"))?;
    Ok((addr, len))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    units::duration(s)
}

/// Every registered detector in its default configuration: one line per
/// detector when alerts are printed as they come.
fn default_specs() -> Vec<String> {
    registry::DETECTORS
        .iter()
        .map(|d| d.name.to_string())
        .collect()
}

/// The first usable address of `c` (its network address for a /31 or /32).
fn first_address(c: &Cidr) -> (Ipv4Addr, u8) {
    let base = u32::from(c.addr);
    let addr = if c.prefix < 31 { base + 1 } else { base };
    (Ipv4Addr::from(addr), c.prefix)
}

/// The device's configuration, from the flags and the scenario, checked
/// against the scenario (not yet against the host).
fn plan(a: &LiveArgs, live: &Live, simulated: Vec<Cidr>) -> anyhow::Result<Plan> {
    let addr = a.addr.unwrap_or_else(|| first_address(&live.outside[0]));
    let outside: Vec<String> = live.outside.iter().map(|c| c.to_string()).collect();
    if !live.is_outside(addr.0) {
        return Err(LiveError::Config(format!(
            "--addr {}/{}: not an outside address of the scenario (`[live] outside` = {}): \
             the simulation's answers to it would have no way out",
            addr.0,
            addr.1,
            outside.join(", ")
        ))
        .into());
    }
    let routes = if a.routes.is_empty() {
        simulated
    } else {
        a.routes.clone()
    };
    if routes.is_empty() {
        bail!("the scenario has no simulated address to route to");
    }
    for r in &routes {
        if let Some(o) = live.outside.iter().find(|o| overlaps(r, o)) {
            return Err(LiveError::Config(format!(
                "--route {r} overlaps the scenario's outside addresses {o}: the kernel would \
                 send its own traffic into the simulation and back"
            ))
            .into());
        }
    }
    Ok(Plan {
        dev: a.tun.clone(),
        netns: a.netns.clone(),
        addr,
        routes,
    })
}

/// `scanbench live`.
pub fn live(a: LiveArgs) -> anyhow::Result<ExitCode> {
    a.capture.check("live", a.pcap.is_some(), "--pcap FILE")?;
    let scenario = Scenario::load(&a.scenario)?;
    let Some(table) = scenario.live.clone() else {
        return Err(LiveError::Config(format!(
            "{}: no [live] table: add one naming the router the outside hangs off, \
             e.g. `[live]` with `attach = \"edge\"` (docs/live.md)",
            scenario.path.display()
        ))
        .into());
    };
    let specs = match &a.detectors {
        Some(_) => super::detector_specs(
            "live",
            &a.detectors,
            scanbench::external::Externals::builtin(),
        )?,
        None => default_specs(),
    };
    let seed = a.seed.unwrap_or(scenario.seed);
    let simulated = scenario
        .build(seed)?
        .net
        .simulated_prefixes()
        .iter()
        .map(|p| network(p.address(), p.prefix_len()))
        .collect();
    let plan = plan(&a, &table, simulated)?;
    kernel::check_privileges()?;
    kernel::check_tun_device()?;
    if a.no_configure {
        Ip::new(None).check_free(&a.tun)?;
    } else {
        plan.check()?;
    }
    // Signals are handled from before the device exists: a SIGTERM during
    // set-up stops the run at its first turn, cleanly.
    let driver = Driver::new(true)?;
    let tun = Tun::create(&a.tun)?;
    let ran = if a.no_configure {
        Vec::new()
    } else {
        plan.apply()?
    };
    let outputs = Outputs {
        pcap: a.pcap.clone(),
        labels: a.capture.labels.clone(),
        format: a.capture.format(a.pcap.as_deref()),
        ..Outputs::default()
    };
    let opts = LiveOptions {
        seed,
        specs: specs.clone(),
        outputs,
        limit: a.duration,
        wall_clock_stamps: true,
    };
    let session = Session::new(&scenario, opts)?;
    let mut chatter = term::chatter(a.format == Format::Table);
    startup(&mut chatter, &a, &scenario, &table, &plan, &ran, &specs)?;
    let mut alert_error = None;
    let result = session.run(driver, &tun, &mut |spec, sa| {
        // Alerts carry virtual time since the start of the live run (the
        // captures, not the detectors, get wall-clock stamps).
        let clock = super::Clock {
            utc: false,
            end: None,
        };
        if let Err(e) = write_alert(&mut chatter, &short(spec), sa, clock)
            && alert_error.is_none()
        {
            alert_error = Some(e);
        }
    });
    // The device goes (with its address and routes) before the report.
    drop(tun);
    let LiveRun { run, stopped, port } = result?;
    if let Some(e) = alert_error {
        return Err(e.into());
    }
    writeln!(
        chatter,
        "{stopped} after {:.1} s: {} packet(s) from the device ({} not IPv4, ignored), \
         {} to it ({} not delivered); TUN device {} removed",
        run.summary.duration.total_micros() as f64 / 1e6,
        port.received + port.ignored,
        port.ignored,
        port.sent + port.send_errors,
        port.send_errors,
        a.tun
    )?;
    print_summary(&mut chatter, &run.summary, true)?;
    drop(chatter);
    let mut out = term::stdout();
    if a.format == Format::Table && !term::quiet() {
        writeln!(out)?;
    }
    let report = Report {
        specs,
        runs: vec![run],
    };
    write!(out, "{}", report.render(a.format))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The lines printed once the device is up; the last starts with `ready`.
fn startup(
    w: &mut dyn Write,
    a: &LiveArgs,
    scenario: &Scenario,
    table: &Live,
    plan: &Plan,
    ran: &[String],
    specs: &[String],
) -> std::io::Result<()> {
    writeln!(
        w,
        "scanbench live: {} ({}), seed {}; the clock runs in real time: determinism is given up",
        scenario.name,
        scenario.path.display(),
        a.seed.unwrap_or(scenario.seed)
    )?;
    let outside: Vec<String> = table.outside.iter().map(|c| c.to_string()).collect();
    writeln!(
        w,
        "  the outside `{}` hangs off router `{}`: packets to {} leave through TUN device {}",
        table.name,
        table.attach,
        outside.join(", "),
        a.tun
    )?;
    let routes: Vec<String> = plan.routes.iter().map(|r| r.to_string()).collect();
    if a.no_configure {
        writeln!(
            w,
            "  {} is down and unconfigured (--no-configure); for example:",
            a.tun
        )?;
        let (addr, len) = plan.addr;
        writeln!(w, "    ip addr add {addr}/{len} dev {}", a.tun)?;
        writeln!(w, "    ip link set dev {} up", a.tun)?;
        for r in &routes {
            writeln!(w, "    ip route add {r} dev {}", a.tun)?;
        }
    } else {
        for c in ran {
            writeln!(w, "  ran: {c}")?;
        }
    }
    let shorts: Vec<String> = specs.iter().map(|s| short(s)).collect();
    writeln!(w, "  detectors: {}", shorts.join(", "))?;
    if let Some(p) = &a.pcap {
        writeln!(w, "  capture: {} (wall-clock timestamps)", p.display())?;
    }
    let limit = a
        .duration
        .map(|d| format!(" (at most {:.0} s)", d.total_micros() as f64 / 1e6))
        .unwrap_or_default();
    writeln!(w, "ready: Ctrl-C or SIGTERM stops{limit}")?;
    w.flush()
}
