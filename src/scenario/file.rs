//! The serde form of a scenario file: one struct per TOML table, unknown
//! fields rejected, values kept as written (with their spans) so that
//! validation can name the line of anything wrong. Nothing here checks a
//! value; `super::fields` and [`super::build`] do.

use scanbench_sim::middlebox::{BalancerSpec, FirewallSpec, NatSpec};
use serde::Deserialize;
use toml::Spanned;

use super::expect::ExpectFile;

/// The serde form of a scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name; defaults to the file stem. It names captures and report
    /// rows, so it must be usable as a file name.
    pub name: Option<Spanned<String>>,
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
    /// Where the world beyond the simulation attaches (`scanbench live`).
    pub live: Option<LiveFile>,
}

/// `[live]`: the outside node, the world beyond the simulation. In
/// `scanbench live` its link is the TUN device; in a simulated run it is
/// silent. See `docs/live.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveFile {
    /// The router the outside is linked to.
    pub attach: Spanned<String>,
    /// Name of the outside node and of the tap on its link (default `outside`).
    pub name: Option<Spanned<String>>,
    /// Addresses beyond the simulation, reached through the outside link
    /// (CIDR; default `["198.18.0.0/15"]`).
    pub outside: Option<Spanned<Vec<String>>>,
    /// One-way latency of the outside link (default 500us).
    pub latency: Option<Spanned<String>>,
    /// Ground truth of packets from outside that open a flow (default actor
    /// `external`, class benign, cause `external`).
    #[serde(default)]
    pub label: LabelFile,
}

/// `[[host]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Unique name.
    pub name: Spanned<String>,
    /// IPv4 address.
    pub addr: Spanned<String>,
    /// Subnet prefix length 0..=32 (default 24).
    pub prefix: Option<Spanned<u8>>,
    /// Ephemeral port range, `lo-hi` (default Linux's `32768-60999`).
    pub ephemeral_ports: Option<Spanned<String>>,
    /// Inbound TCP ports silently dropped (scanners see them filtered).
    #[serde(default)]
    pub drop_ports: Vec<u16>,
}

/// `[[router]]`.
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Default, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
    /// `syn-scan` only: probe type, `syn` (default, nmap `-sS`), `fin`
    /// (`-sF`), `null` (`-sN`) or `xmas` (`-sX`).
    pub probe: Option<Spanned<String>>,
    /// `syn-scan` only: a fixed source port for every probe (nmap `-g`).
    pub source_port: Option<Spanned<u16>>,
    /// Ground truth.
    #[serde(default)]
    pub label: LabelFile,
}
