//! [`Scenario::build`]: the validated file turned into a ready-to-run
//! [`Network`]: hosts, routers with their middleboxes, links, apps, taps and
//! the sensor choice.

use scanbench_sim::app::connect_scan::ConnectScan;
use scanbench_sim::app::http_client::{HttpClient, HttpClientSpec, Schedule};
use scanbench_sim::app::session::{SessionClient, SessionServer, SessionServerSpec, SessionSpec};
use scanbench_sim::app::syn_scan::SynScan;
use scanbench_sim::app::web_server::{WebServer, WebServerSpec};
use scanbench_sim::middlebox::{Middlebox, Perimeter};
use scanbench_sim::rng::stream;
use scanbench_sim::{
    Class, Duration, HostSpec, Instant, Label, LinkSpec, Network, NodeId, TapPoint, units,
};
use toml::Spanned;

use super::Scenario;
use super::file::SessionFile;
use crate::error::Result;

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
    /// The outside node (`[live]`), whose link is the last tap.
    pub outside: Option<NodeId>,
}

impl Scenario {
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

    /// Builds the network with `seed` (the file's seed, or a `--seed`
    /// override), with the scenario's [`Scenario::switches`] applied.
    ///
    /// # Errors
    /// [`crate::error::Error::Scenario`] naming the line and field of a bad value or reference.
    pub fn build(&self, seed: u64) -> Result<Built> {
        let switched;
        let f = if self.switches.is_empty() {
            &self.file
        } else {
            switched = self.switched_file();
            &switched
        };
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
            let prefix = match &h.prefix {
                Some(p) if *p.get_ref() > 32 => {
                    return Err(self.err(
                        p.span(),
                        "prefix",
                        format!("{} is not a prefix length 0..=32", p.get_ref()),
                    ));
                }
                Some(p) => *p.get_ref(),
                None => 24,
            };
            let spec = HostSpec {
                name: h.name.get_ref().clone(),
                addr,
                prefix,
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
                spec.latency = self.within_run(v, "latency")?;
            }
            if let Some(v) = &l.jitter {
                spec.jitter = self.within_run(v, "jitter")?;
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
        let outside = match &self.live {
            Some(live) => Some(self.add_outside(&mut net, live)?),
            None => None,
        };
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
            let probe = self.scan_probe(s, true)?;
            let rng = stream(seed, &format!("app:syn-scan:{i}:{}", s.host.get_ref()));
            let scan = SynScan::new(spec, rng).with_probe(probe);
            net.add_app(h, Box::new(scan), label)
                .map_err(|e| self.err(s.host.span(), "host", e.to_string()))?;
        }
        for (i, s) in f.connect_scans.iter().enumerate() {
            let h = self.node(&net, &s.host, "host")?;
            let spec = self.scan_spec(s)?;
            self.scan_probe(s, false)?;
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
        if let (Some(live), Some(node)) = (&self.live, outside) {
            self.add_outside_tap(&mut net, live, node)?;
            taps.push(live.name.clone());
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
            outside,
        })
    }
}
