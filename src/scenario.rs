//! Scenario files: TOML describing hosts, routers, links, applications, taps,
//! duration and seed. `ScenarioFile` is the serde form (unknown fields are
//! rejected); [`Scenario::build`] turns it into a ready-to-run [`Network`],
//! checking every name and value and reporting the file, line and field of
//! anything wrong. The format is documented in `docs/scenarios.md`.

use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use scanbench_sim::app::connect_scan::ConnectScan;
use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec, Schedule};
use scanbench_sim::app::session::{SessionClient, SessionServer, SessionServerSpec, SessionSpec};
use scanbench_sim::app::syn_scan::{ScanSpec, SynScan, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::middlebox::{BalancerSpec, FirewallSpec, Middlebox, NatSpec, Perimeter};
use scanbench_sim::rng::stream;
use scanbench_sim::{
    Class, Duration, HostSpec, Instant, Label, LinkSpec, Network, NodeId, TapPoint,
};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::expect::{ExpectFile, Expectation};
use scanbench_detector::{Cidr, registry};
use scanbench_sim::units;

/// The serde form of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name; defaults to the file stem.
    pub name: Option<String>,
    /// What real-world situation this models.
    #[serde(default)]
    pub description: String,
    /// Seed of every random stream (`--seed` overrides).
    pub seed: u64,
    /// Simulated time, e.g. `60s`, `1d`.
    pub duration: Spanned<String>,
    /// The tap wire detectors read; defaults to the first link tap.
    pub sensor: Option<Spanned<String>>,
    /// The tap drop-log detectors (psad) read; defaults to the first drop-log tap.
    pub drop_log_sensor: Option<Spanned<String>>,
    /// The protected site's networks (CIDR), given to every detector that has
    /// a `home_net` parameter unless its spec sets one.
    pub home_net: Option<Spanned<Vec<String>>>,
    /// Claims about verdicts that must hold whatever the snapshots say.
    #[serde(default, rename = "expect")]
    pub expects: Vec<ExpectFile>,
    /// Hosts.
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostFile>,
    /// Routers.
    #[serde(default, rename = "router")]
    pub routers: Vec<RouterFile>,
    /// Links.
    #[serde(default, rename = "link")]
    pub links: Vec<LinkFile>,
    /// Taps.
    #[serde(default, rename = "tap")]
    pub taps: Vec<TapFile>,
    /// Web servers.
    #[serde(default, rename = "web-server")]
    pub web_servers: Vec<WebServerFile>,
    /// One-shot HTTP clients.
    #[serde(default, rename = "http-client")]
    pub http_clients: Vec<HttpClientFile>,
    /// Periodic pollers.
    #[serde(default, rename = "poller")]
    pub pollers: Vec<PollerFile>,
    /// SYN scanners.
    #[serde(default, rename = "syn-scan")]
    pub syn_scans: Vec<ScanFile>,
    /// Connect scanners.
    #[serde(default, rename = "connect-scan")]
    pub connect_scans: Vec<ScanFile>,
    /// Long-lived sessions with idle gaps.
    #[serde(default, rename = "session")]
    pub sessions: Vec<SessionFile>,
}

/// `[[host]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Unique name.
    pub name: Spanned<String>,
    /// IPv4 address.
    pub addr: Spanned<String>,
    /// Subnet prefix length (default 24).
    pub prefix: Option<u8>,
    /// Ephemeral port range, `lo-hi` (default Linux's `32768-60999`).
    pub ephemeral_ports: Option<Spanned<String>>,
    /// Inbound TCP ports silently dropped (scanners see them filtered).
    #[serde(default)]
    pub drop_ports: Vec<u16>,
}

/// `[[router]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterFile {
    /// Unique name.
    pub name: Spanned<String>,
    /// Stateful firewall (`[router.firewall]`).
    pub firewall: Option<FirewallSpec>,
    /// Source NAT / PAT (`[router.nat]`).
    pub nat: Option<NatSpec>,
    /// Load balancer (`[router.balancer]`).
    pub balancer: Option<BalancerSpec>,
}

/// `[[session]]`: long-lived connections with idle gaps (see `scanbench_sim::app::session`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    /// Client host.
    pub host: Spanned<String>,
    /// Server address.
    pub server: Spanned<String>,
    /// Host that runs the server side (adds a session server on `port`).
    pub server_host: Option<Spanned<String>>,
    /// Server port (default 993).
    pub port: Option<u16>,
    /// Parallel connections (default 1).
    pub connections: Option<usize>,
    /// When the connections open (default `0s`).
    pub start: Option<Spanned<String>>,
    /// Interval between client sends, e.g. `20m..25m` (default: none).
    pub client_every: Option<Spanned<String>>,
    /// Interval between server pushes on each connection (default: none).
    pub server_every: Option<Spanned<String>>,
    /// Bytes per send or push (default 64).
    pub bytes: Option<usize>,
    /// Close the connections (FIN) at this time (default: never).
    pub until: Option<Spanned<String>>,
    /// Abort after sent data stays unacknowledged this long (default `2m`).
    pub give_up: Option<Spanned<String>>,
    /// Reconnect after an abort (default true).
    pub reconnect: Option<bool>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}

/// `[[link]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    /// The two nodes, by name.
    pub between: Spanned<[String; 2]>,
    /// One-way latency (default 500us).
    pub latency: Option<Spanned<String>>,
    /// Uniform extra delay bound (default 0).
    pub jitter: Option<Spanned<String>>,
    /// Loss probability 0..1 (default 0).
    pub loss: Option<Spanned<f64>>,
    /// Bandwidth (default 1Gbps; `inf` for none).
    pub bandwidth: Option<Spanned<String>>,
}

/// `[[tap]]`: on a link, or on a router's drop log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapFile {
    /// Unique name (used in file names).
    pub name: Spanned<String>,
    /// The link, by its two node names.
    pub link: Option<Spanned<[String; 2]>>,
    /// A router whose drop log to record.
    pub drop_log: Option<Spanned<String>>,
}

/// Optional ground-truth overrides for an app.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelFile {
    /// Actor name (default: the host name).
    pub actor: Option<String>,
    /// `benign` or `malicious` (default: malicious for scanners, else benign).
    pub class: Option<Spanned<String>>,
    /// Cause tag (default per app kind: serve, browse, poll, scan).
    pub cause: Option<String>,
}

/// `[[web-server]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebServerFile {
    /// Host it runs on.
    pub host: Spanned<String>,
    /// Ports served (default `[80]`).
    pub ports: Option<Vec<u16>>,
    /// Response body size (default 512).
    pub body_bytes: Option<usize>,
    /// Listening sockets kept ready per port (default 16).
    pub idle_listeners: Option<usize>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}

/// `[[http-client]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientFile {
    /// Host it runs on.
    pub host: Spanned<String>,
    /// Server address.
    pub server: Spanned<String>,
    /// Server port (default 80).
    pub port: Option<u16>,
    /// Request path (default `/`).
    pub path: Option<String>,
    /// When (default `0s`).
    pub at: Option<Spanned<String>>,
    /// Parallel connections (default 1).
    pub parallel: Option<usize>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}

/// `[[poller]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerFile {
    /// Host it runs on.
    pub host: Spanned<String>,
    /// Server address.
    pub server: Spanned<String>,
    /// Server port (default 80).
    pub port: Option<u16>,
    /// Request path (default `/`).
    pub path: Option<String>,
    /// Interval range, e.g. `10m..15m`.
    pub every: Spanned<String>,
    /// First poll (default `0s`).
    pub start: Option<Spanned<String>>,
    /// No poll after this time (default: the end of the run).
    pub until: Option<Spanned<String>>,
    /// Parallel connections per poll (default 1).
    pub parallel: Option<usize>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}

/// `[[syn-scan]]` and `[[connect-scan]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanFile {
    /// Host it runs on.
    pub host: Spanned<String>,
    /// Targets: addresses and CIDR blocks (`198.51.100.0/24`).
    pub targets: Spanned<Vec<String>>,
    /// Ports in nmap notation, or `top1000` (default).
    pub ports: Option<Spanned<String>>,
    /// Timing template T0..T5 (default T3).
    pub timing: Option<Spanned<String>>,
    /// Start time (default `0s`).
    pub start: Option<Spanned<String>>,
    /// Keep nmap's random probe order (default true).
    pub randomize: Option<bool>,
    /// Repeat the scan this many times (default 1).
    pub repeat: Option<u32>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}

/// A loaded, validated scenario.
#[derive(Debug)]
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
    file: ScenarioFile,
    source: String,
}

/// A network built from a scenario, ready to run.
pub struct Built {
    /// The network.
    pub net: Network,
    /// Tap names by tap id.
    pub taps: Vec<String>,
    /// Tap ids that are drop logs.
    pub drop_log_taps: Vec<usize>,
    /// The tap wire detectors read.
    pub sensor: Option<usize>,
    /// The tap drop-log detectors read.
    pub drop_log_sensor: Option<usize>,
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
            let line = e.span().map(|s| line_of(&source, s.start));
            Error::Scenario {
                path: path.to_path_buf(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let mut sc = Scenario {
            path: path.to_path_buf(),
            name,
            description: file.description.trim().to_string(),
            seed: file.seed,
            duration: Duration::ZERO,
            home_net: Vec::new(),
            expectations: Vec::new(),
            file,
            source,
        };
        sc.duration = sc.dur(&sc.file.duration, "duration")?;
        sc.home_net = sc.home_net()?;
        sc.expectations = sc.expectations()?;
        // Build once so every reference and value is checked at load time.
        sc.build(sc.seed)?;
        Ok(sc)
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

    fn err(&self, span: Range<usize>, field: &str, msg: impl Into<String>) -> Error {
        Error::Scenario {
            path: self.path.clone(),
            line: Some(line_of(&self.source, span.start)),
            message: format!("`{field}`: {}", msg.into()),
        }
    }

    fn dur(&self, s: &Spanned<String>, field: &str) -> Result<Duration> {
        units::duration(s.get_ref()).map_err(|m| self.err(s.span(), field, m))
    }

    fn instant(&self, s: &Option<Spanned<String>>, field: &str) -> Result<Instant> {
        match s {
            Some(s) => Ok(Instant::ZERO + self.dur(s, field)?),
            None => Ok(Instant::ZERO),
        }
    }

    fn addr(&self, s: &Spanned<String>, field: &str) -> Result<Ipv4Addr> {
        s.get_ref().trim().parse().map_err(|_| {
            self.err(
                s.span(),
                field,
                format!("`{}` is not an IPv4 address", s.get_ref()),
            )
        })
    }

    fn node(&self, net: &Network, s: &Spanned<String>, field: &str) -> Result<NodeId> {
        net.node(s.get_ref()).ok_or_else(|| {
            let mut names: Vec<&str> = self
                .file
                .hosts
                .iter()
                .map(|h| h.name.get_ref().as_str())
                .collect();
            names.extend(self.file.routers.iter().map(|r| r.name.get_ref().as_str()));
            self.err(
                s.span(),
                field,
                format!(
                    "no host or router named `{}`; known: {}",
                    s.get_ref(),
                    names.join(", ")
                ),
            )
        })
    }

    fn label(&self, l: &LabelFile, host: &str, malicious: bool, cause: &str) -> Result<Label> {
        let class = match &l.class {
            None if malicious => Class::Malicious,
            None => Class::Benign,
            Some(c) => match c.get_ref().as_str() {
                "benign" => Class::Benign,
                "malicious" => Class::Malicious,
                other => {
                    return Err(self.err(
                        c.span(),
                        "label.class",
                        format!("`{other}`: expected benign or malicious"),
                    ));
                }
            },
        };
        Ok(Label {
            actor: l.actor.clone().unwrap_or_else(|| host.to_string()),
            class,
            cause: l.cause.clone().unwrap_or_else(|| cause.to_string()),
        })
    }

    fn targets(&self, s: &Spanned<Vec<String>>) -> Result<Vec<Ipv4Addr>> {
        let mut out = Vec::new();
        for t in s.get_ref() {
            let bad = || {
                self.err(
                    s.span(),
                    "targets",
                    format!("`{t}` is not an address or CIDR block"),
                )
            };
            let (a, p) = t.split_once('/').unwrap_or((t, "32"));
            let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
            let p: u32 = p
                .trim()
                .parse()
                .ok()
                .filter(|p| (16..=32).contains(p))
                .ok_or_else(bad)?;
            let base = u32::from(a) & (u32::MAX.checked_shl(32 - p).unwrap_or(0));
            let n = 1u32 << (32 - p);
            if n == 1 {
                out.push(a);
            } else {
                // Skip the network and broadcast addresses, as nmap does for a /24.
                out.extend((1..n - 1).map(|i| Ipv4Addr::from(base + i)));
            }
        }
        if out.is_empty() {
            return Err(self.err(s.span(), "targets", "no targets"));
        }
        Ok(out)
    }

    fn scan_spec(&self, f: &ScanFile) -> Result<ScanSpec> {
        let ports = match &f.ports {
            Some(p) => parse_ports(p.get_ref()).map_err(|m| self.err(p.span(), "ports", m))?,
            None => parse_ports("top1000").map_err(|m| self.err(f.host.span(), "ports", m))?,
        };
        let timing = match &f.timing {
            Some(t) => Timing::parse(t.get_ref()).ok_or_else(|| {
                self.err(
                    t.span(),
                    "timing",
                    format!("`{}`: expected T0..T5", t.get_ref()),
                )
            })?,
            None => Timing::parse("T3").expect("T3 exists"),
        };
        Ok(ScanSpec {
            targets: self.targets(&f.targets)?,
            ports,
            timing,
            start: self.instant(&f.start, "start")?,
            randomize: f.randomize.unwrap_or(true),
            repeat: f.repeat.unwrap_or(1),
        })
    }

    fn add_session(&self, net: &mut Network, seed: u64, i: usize, s: &SessionFile) -> Result<()> {
        let h = self.node(net, &s.host, "host")?;
        let server = self.addr(&s.server, "server")?;
        let every = |v: &Option<Spanned<String>>,
                     field: &str|
         -> Result<Option<(Duration, Duration)>> {
            let Some(v) = v else { return Ok(None) };
            let r = units::duration_range(v.get_ref()).map_err(|m| self.err(v.span(), field, m))?;
            if r.0 == Duration::ZERO {
                return Err(self.err(v.span(), field, "interval must be positive"));
            }
            Ok(Some(r))
        };
        let give_up = match &s.give_up {
            Some(g) => self.dur(g, "give_up")?,
            None => Duration::from_secs(120),
        };
        let port = s.port.unwrap_or(993);
        let bytes = s.bytes.unwrap_or(64);
        let spec = SessionSpec {
            server,
            port,
            start: self.instant(&s.start, "start")?,
            connections: s.connections.unwrap_or(1).max(1),
            every: every(&s.client_every, "client_every")?,
            bytes,
            until: match &s.until {
                Some(u) => Some(Instant::ZERO + self.dur(u, "until")?),
                None => None,
            },
            give_up,
            reconnect: s.reconnect.unwrap_or(true),
        };
        let label = self.label(&s.label, s.host.get_ref(), false, "session")?;
        let rng = stream(seed, &format!("app:session:{i}:{}", s.host.get_ref()));
        net.add_app(h, Box::new(SessionClient::new(spec, rng)), label)
            .map_err(|e| self.err(s.host.span(), "host", e.to_string()))?;
        if let Some(sh) = &s.server_host {
            let n = self.node(net, sh, "server_host")?;
            let spec = SessionServerSpec {
                port,
                every: every(&s.server_every, "server_every")?,
                bytes,
                give_up,
                listeners: s.connections.unwrap_or(1).clamp(1, 64) + 1,
            };
            let label = Label {
                actor: sh.get_ref().clone(),
                class: Class::Benign,
                cause: "session".into(),
            };
            let rng = stream(seed, &format!("app:session-server:{i}:{}", sh.get_ref()));
            net.add_app(n, Box::new(SessionServer::new(spec, rng)), label)
                .map_err(|e| self.err(sh.span(), "server_host", e.to_string()))?;
        } else if s.server_every.is_some() {
            return Err(self.err(s.host.span(), "server_every", "needs `server_host`"));
        }
        Ok(())
    }

    /// Builds the network with `seed` (the file's seed, or a `--seed` override).
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the line and field of a bad value or reference.
    pub fn build(&self, seed: u64) -> Result<Built> {
        let f = &self.file;
        let mut net = Network::new(seed);
        for h in &f.hosts {
            let addr = self.addr(&h.addr, "addr")?;
            let ephemeral = match &h.ephemeral_ports {
                None => scanbench_sim::ports::LINUX_RANGE,
                Some(r) => {
                    let bad = || {
                        self.err(
                            r.span(),
                            "ephemeral_ports",
                            "expected `lo-hi`, e.g. 32768-60999",
                        )
                    };
                    let (a, b) = r.get_ref().split_once('-').ok_or_else(bad)?;
                    let lo: u16 = a.trim().parse().map_err(|_| bad())?;
                    let hi: u16 = b.trim().parse().map_err(|_| bad())?;
                    (lo, hi)
                }
            };
            let spec = HostSpec {
                name: h.name.get_ref().clone(),
                addr,
                prefix: h.prefix.unwrap_or(24).min(32),
                ephemeral,
                drop_ports: h.drop_ports.clone(),
            };
            let label = Label {
                actor: spec.name.clone(),
                class: Class::Benign,
                cause: "host".into(),
            };
            net.add_host(spec, label)
                .map_err(|e| self.err(h.name.span(), "host", e.to_string()))?;
        }
        for r in &f.routers {
            // Processing order: balancer (DNAT to the backend first), then NAT
            // and firewall as one perimeter (outbound: filter, then translate;
            // inbound: translate back, then filter), see `Perimeter`.
            let name = r.name.get_ref();
            let mut boxes: Vec<Box<dyn Middlebox>> = Vec::new();
            if let Some(b) = &r.balancer {
                let rng = stream(seed, &format!("balancer:{name}"));
                boxes.push(
                    b.build(name, rng)
                        .map_err(|m| self.err(r.name.span(), "balancer", m))?,
                );
            }
            let fw = match &r.firewall {
                Some(fs) => Some(
                    fs.build()
                        .map_err(|m| self.err(r.name.span(), "firewall", m))?,
                ),
                None => None,
            };
            let nat = match &r.nat {
                Some(ns) => {
                    let rng = stream(seed, &format!("nat:{name}"));
                    Some(
                        ns.build(rng)
                            .map_err(|m| self.err(r.name.span(), "nat", m))?,
                    )
                }
                None => None,
            };
            match (nat, fw) {
                (Some(n), Some(fw)) => {
                    let inside = r.nat.as_ref().map(|n| n.inside.clone()).unwrap_or_default();
                    boxes.push(Box::new(Perimeter::new(n, fw, inside)));
                }
                (n, fw) => boxes.extend(n.into_iter().chain(fw)),
            }
            net.add_router(name, boxes)
                .map_err(|e| self.err(r.name.span(), "router", e.to_string()))?;
        }
        for l in &f.links {
            let [a, b] = l.between.get_ref();
            let sp = l.between.span();
            let na = self.node(&net, &Spanned::new(sp.clone(), a.clone()), "between")?;
            let nb = self.node(&net, &Spanned::new(sp.clone(), b.clone()), "between")?;
            let mut spec = LinkSpec::default();
            if let Some(v) = &l.latency {
                spec.latency = self.dur(v, "latency")?;
            }
            if let Some(v) = &l.jitter {
                spec.jitter = self.dur(v, "jitter")?;
            }
            if let Some(v) = &l.loss {
                if !(0.0..=1.0).contains(v.get_ref()) {
                    return Err(self.err(v.span(), "loss", "expected a probability 0..1"));
                }
                spec.loss = *v.get_ref();
            }
            if let Some(v) = &l.bandwidth {
                spec.bandwidth_bps = units::bandwidth(v.get_ref())
                    .map_err(|m| self.err(v.span(), "bandwidth", m))?;
            }
            net.add_link(na, nb, spec)
                .map_err(|e| self.err(sp, "between", e.to_string()))?;
        }
        for w in &f.web_servers {
            let h = self.node(&net, &w.host, "host")?;
            let d = WebServerSpec::default();
            let spec = WebServerSpec {
                ports: w.ports.clone().unwrap_or(d.ports),
                body_bytes: w.body_bytes.unwrap_or(d.body_bytes),
                idle_listeners: w.idle_listeners.unwrap_or(d.idle_listeners).max(1),
            };
            let label = self.label(&w.label, w.host.get_ref(), false, "serve")?;
            net.add_app(h, Box::new(WebServer::new(spec)), label)
                .map_err(|e| self.err(w.host.span(), "host", e.to_string()))?;
        }
        for (i, c) in f.http_clients.iter().enumerate() {
            let h = self.node(&net, &c.host, "host")?;
            let server = self.addr(&c.server, "server")?;
            let mut spec =
                HttpClientSpec::once(server, c.port.unwrap_or(80), self.instant(&c.at, "at")?);
            spec.path = c.path.clone().unwrap_or_else(|| "/".into());
            spec.parallel = c.parallel.unwrap_or(1).max(1);
            let label = self.label(&c.label, c.host.get_ref(), false, "browse")?;
            let rng = stream(seed, &format!("app:http-client:{i}:{}", c.host.get_ref()));
            net.add_app(h, Box::new(HttpClient::new(spec, rng)), label)
                .map_err(|e| self.err(c.host.span(), "host", e.to_string()))?;
        }
        for (i, p) in f.pollers.iter().enumerate() {
            let h = self.node(&net, &p.host, "host")?;
            let server = self.addr(&p.server, "server")?;
            let (min, max) = units::duration_range(p.every.get_ref())
                .map_err(|m| self.err(p.every.span(), "every", m))?;
            if min == Duration::ZERO {
                return Err(self.err(p.every.span(), "every", "interval must be positive"));
            }
            let until = match &p.until {
                Some(u) => Some(Instant::ZERO + self.dur(u, "until")?),
                None => None,
            };
            let mut spec = HttpClientSpec::once(server, p.port.unwrap_or(80), Instant::ZERO);
            spec.schedule = Schedule::Periodic {
                start: self.instant(&p.start, "start")?,
                min,
                max,
                until,
            };
            spec.path = p.path.clone().unwrap_or_else(|| "/".into());
            spec.parallel = p.parallel.unwrap_or(1).max(1);
            let label = self.label(&p.label, p.host.get_ref(), false, "poll")?;
            let rng = stream(seed, &format!("app:poller:{i}:{}", p.host.get_ref()));
            net.add_app(h, Box::new(HttpClient::new(spec, rng)), label)
                .map_err(|e| self.err(p.host.span(), "host", e.to_string()))?;
        }
        for (i, s) in f.syn_scans.iter().enumerate() {
            let h = self.node(&net, &s.host, "host")?;
            let spec = self.scan_spec(s)?;
            let label = self.label(&s.label, s.host.get_ref(), true, "scan")?;
            let rng = stream(seed, &format!("app:syn-scan:{i}:{}", s.host.get_ref()));
            net.add_app(h, Box::new(SynScan::new(spec, rng)), label)
                .map_err(|e| self.err(s.host.span(), "host", e.to_string()))?;
        }
        for (i, s) in f.connect_scans.iter().enumerate() {
            let h = self.node(&net, &s.host, "host")?;
            let spec = self.scan_spec(s)?;
            let label = self.label(&s.label, s.host.get_ref(), true, "scan")?;
            let rng = stream(seed, &format!("app:connect-scan:{i}:{}", s.host.get_ref()));
            net.add_app(h, Box::new(ConnectScan::new(spec, rng)), label)
                .map_err(|e| self.err(s.host.span(), "host", e.to_string()))?;
        }
        for (i, s) in f.sessions.iter().enumerate() {
            self.add_session(&mut net, seed, i, s)?;
        }
        let mut taps = Vec::new();
        let mut drop_log_taps = Vec::new();
        for t in &f.taps {
            let point = match (&t.link, &t.drop_log) {
                (Some(l), None) => {
                    let [a, b] = l.get_ref();
                    let na = self.node(&net, &Spanned::new(l.span(), a.clone()), "link")?;
                    let nb = self.node(&net, &Spanned::new(l.span(), b.clone()), "link")?;
                    let link = net.link_between(na, nb).ok_or_else(|| {
                        self.err(l.span(), "link", format!("no link between `{a}` and `{b}`"))
                    })?;
                    TapPoint::Link(link)
                }
                (None, Some(r)) => {
                    drop_log_taps.push(taps.len());
                    TapPoint::DropLog(self.node(&net, r, "drop_log")?)
                }
                _ => {
                    return Err(self.err(
                        t.name.span(),
                        "tap",
                        "give exactly one of `link` or `drop_log`",
                    ));
                }
            };
            net.add_tap(t.name.get_ref(), point)
                .map_err(|e| self.err(t.name.span(), "tap", e.to_string()))?;
            taps.push(t.name.get_ref().clone());
        }
        let find_tap = |s: &Spanned<String>, field: &str| {
            taps.iter().position(|t| t == s.get_ref()).ok_or_else(|| {
                self.err(
                    s.span(),
                    field,
                    format!("no tap named `{}`; taps: {}", s.get_ref(), taps.join(", ")),
                )
            })
        };
        let sensor = match &f.sensor {
            Some(s) => Some(find_tap(s, "sensor")?),
            None => (0..taps.len()).find(|i| !drop_log_taps.contains(i)),
        };
        let drop_log_sensor = match &f.drop_log_sensor {
            Some(s) => Some(find_tap(s, "drop_log_sensor")?),
            None => drop_log_taps.first().copied(),
        };
        // Routing and link checks happen when the network starts; run it for
        // zero time so a disconnected host is reported now, with the file name.
        Ok(Built {
            net,
            taps,
            drop_log_taps,
            sensor,
            drop_log_sensor,
        })
    }
}

impl Scenario {
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
