//! Limits that keep every accepted scenario bounded in memory and in work, and
//! the address rules smoltcp relies on. Checked at load time, before the
//! network is built, so a bad value is an error naming the file, line, field
//! and the limit instead of a panic, an abort on allocation or a run without
//! end. `docs/scenarios.md` lists the limits.
//!
//! What is bounded here:
//! - addresses: hosts, servers and scan targets are unicast (smoltcp asserts
//!   it), and no client connects to its own host (the packets would leave the
//!   host and come back through the router: no real stack does that);
//! - counts: nodes, parallel connections, listening sockets, body and send
//!   sizes, scan targets;
//! - rates against the duration: poller rounds and session sends over the run.
//!
//! Work that stays proportional to the simulated time (a fast scan over a long
//! run) is bounded by the run budget instead (`run --max-packets`).

use std::net::Ipv4Addr;
use std::ops::Range;

use scanbench_sim::{Duration, units};
use toml::Spanned;

use super::Scenario;
use super::file::{ScanFile, SessionFile};
use crate::error::Result;

/// Hosts plus routers in one scenario.
pub const MAX_NODES: usize = 65_536;
/// Parallel connections of one client (`parallel`, session `connections`):
/// each holds a socket with its buffers (64 KiB for an HTTP client).
pub const MAX_PARALLEL: usize = 1024;
/// Listening sockets a web server keeps ready per port (`idle_listeners`);
/// 20 KiB of buffers each.
pub const MAX_LISTENERS: usize = 1024;
/// Ports one web server serves.
pub const MAX_SERVED_PORTS: usize = 64;
/// Response body of a web server (`body_bytes`).
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// One session send or push (`bytes`).
pub const MAX_SEND_BYTES: usize = 1 << 20;
/// Connections a poller opens, or sends a session makes, over the whole run
/// (rounds × parallel; sends per connection × connections).
pub const MAX_ROUNDS: u64 = 1_000_000;
/// Shortest poller interval: faster, the connections of successive rounds
/// pile up on the host faster than they close, and every poll of its stack
/// walks them all.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Addresses one scan's targets expand to (sixteen /16 blocks).
pub const MAX_TARGETS: u64 = 1 << 20;

/// Why `a` cannot be a host's own address or a destination, if it cannot.
fn not_unicast(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_broadcast() {
        Some("the limited broadcast address")
    } else if a.is_multicast() {
        Some("a multicast address (224.0.0.0/4)")
    } else if o[0] >= 240 {
        Some("a reserved address (240.0.0.0/4)")
    } else if o[0] == 0 {
        Some("an address of \"this network\" (0.0.0.0/8), never a destination")
    } else if a.is_loopback() {
        Some("a loopback address (127.0.0.0/8): simulated hosts have no loopback")
    } else {
        None
    }
}

impl Scenario {
    /// Checks every limit and address rule of this module.
    ///
    /// # Errors
    /// [`crate::Error::Scenario`] naming the line, the field and the limit.
    pub(super) fn check_limits(&self) -> Result<()> {
        let f = &self.file;
        let nodes = f.hosts.len() + f.routers.len();
        if nodes > MAX_NODES {
            let span = f.hosts.get(MAX_NODES).map_or(0..0, |h| h.name.span());
            return Err(self.err(
                span,
                "host",
                format!("{nodes} hosts and routers; at most {MAX_NODES}"),
            ));
        }
        for h in &f.hosts {
            let addr = self.addr(&h.addr, "addr")?;
            if let Some(why) = not_unicast(addr) {
                return Err(self.err(
                    h.addr.span(),
                    "addr",
                    format!("{addr} is {why}; a host needs a unicast address"),
                ));
            }
            let prefix = h.prefix.as_ref().map_or(24, |p| *p.get_ref()).min(32);
            if prefix <= 30 {
                let host_bits = u32::from(addr) & (u32::MAX >> prefix);
                if host_bits == 0 || host_bits == u32::MAX >> prefix {
                    let which = if host_bits == 0 {
                        "network"
                    } else {
                        "broadcast"
                    };
                    return Err(self.err(
                        h.addr.span(),
                        "addr",
                        format!("{addr} is the {which} address of its /{prefix} subnet"),
                    ));
                }
            }
        }
        for w in &f.web_servers {
            if let Some(n) = w.idle_listeners.filter(|n| *n > MAX_LISTENERS) {
                return Err(self.err(
                    w.host.span(),
                    "idle_listeners",
                    format!("{n}; at most {MAX_LISTENERS} per port"),
                ));
            }
            if let Some(n) = w
                .ports
                .as_ref()
                .map(Vec::len)
                .filter(|n| *n > MAX_SERVED_PORTS)
            {
                return Err(self.err(
                    w.host.span(),
                    "ports",
                    format!("{n} ports; at most {MAX_SERVED_PORTS}"),
                ));
            }
            if let Some(n) = w.body_bytes.filter(|n| *n > MAX_BODY_BYTES) {
                return Err(self.err(
                    w.host.span(),
                    "body_bytes",
                    format!("{n}; at most {MAX_BODY_BYTES} (16 MiB)"),
                ));
            }
        }
        for c in &f.http_clients {
            self.check_client(&c.host, &c.server, "server")?;
            self.check_parallel(&c.host, c.parallel, "parallel")?;
        }
        for p in &f.pollers {
            self.check_client(&p.host, &p.server, "server")?;
            self.check_parallel(&p.host, p.parallel, "parallel")?;
            let (min, _) = units::duration_range(p.every.get_ref())
                .map_err(|m| self.err(p.every.span(), "every", m))?;
            if min > Duration::ZERO && min < MIN_POLL_INTERVAL {
                return Err(self.err(
                    p.every.span(),
                    "every",
                    format!(
                        "{} µs between polls; at least {} µs",
                        min.total_micros(),
                        MIN_POLL_INTERVAL.total_micros()
                    ),
                ));
            }
            let start = self.opt_dur(&p.start, "start")?;
            let until = match &p.until {
                Some(u) => self.dur(u, "until")?.min(self.duration),
                None => self.duration,
            };
            let per_round = p.parallel.unwrap_or(1).max(1) as u64;
            self.check_rounds(p.every.span(), "every", min, start, until, per_round)?;
        }
        for s in &f.sessions {
            self.check_session(s)?;
        }
        for s in f.syn_scans.iter().chain(&f.connect_scans) {
            self.check_scan(s)?;
        }
        Ok(())
    }

    fn opt_dur(&self, s: &Option<Spanned<String>>, field: &str) -> Result<Duration> {
        match s {
            Some(s) => self.dur(s, field),
            None => Ok(Duration::ZERO),
        }
    }

    /// The address of host `name`, if it is a host with a valid address.
    fn host_addr(&self, name: &str) -> Option<Ipv4Addr> {
        self.file
            .hosts
            .iter()
            .find(|h| h.name.get_ref() == name)
            .and_then(|h| h.addr.get_ref().trim().parse().ok())
    }

    /// A client's destination: unicast, and not its own host.
    fn check_client(
        &self,
        host: &Spanned<String>,
        server: &Spanned<String>,
        field: &str,
    ) -> Result<()> {
        let addr = self.addr(server, field)?;
        if let Some(why) = not_unicast(addr) {
            return Err(self.err(
                server.span(),
                field,
                format!("{addr} is {why}; a connection needs a unicast destination"),
            ));
        }
        if self.host_addr(host.get_ref()) == Some(addr) {
            return Err(self.err(
                server.span(),
                field,
                format!(
                    "{addr} is the address of host `{}` itself: a client may not connect to its own host",
                    host.get_ref()
                ),
            ));
        }
        Ok(())
    }

    fn check_parallel(&self, host: &Spanned<String>, n: Option<usize>, field: &str) -> Result<()> {
        match n {
            Some(n) if n > MAX_PARALLEL => Err(self.err(
                host.span(),
                field,
                format!("{n} connections; at most {MAX_PARALLEL}"),
            )),
            _ => Ok(()),
        }
    }

    /// Rounds of `per_round` connections every `min` from `start` to `until`.
    fn check_rounds(
        &self,
        span: Range<usize>,
        field: &str,
        min: Duration,
        start: Duration,
        until: Duration,
        per_round: u64,
    ) -> Result<()> {
        if min == Duration::ZERO || until < start {
            return Ok(());
        }
        let span_us = (until - start).total_micros();
        let rounds = span_us / min.total_micros() + 1;
        let total = rounds.saturating_mul(per_round);
        if total > MAX_ROUNDS {
            return Err(self.err(
                span,
                field,
                format!(
                    "every {} µs over {} s makes {total} connections or sends; at most {MAX_ROUNDS} per run",
                    min.total_micros(),
                    span_us / 1_000_000
                ),
            ));
        }
        Ok(())
    }

    fn check_session(&self, s: &SessionFile) -> Result<()> {
        self.check_client(&s.host, &s.server, "server")?;
        if let Some(sh) = &s.server_host
            && sh.get_ref() == s.host.get_ref()
        {
            return Err(self.err(
                sh.span(),
                "server_host",
                format!(
                    "`{}` is the client's own host: a session may not connect to itself",
                    sh.get_ref()
                ),
            ));
        }
        self.check_parallel(&s.host, s.connections, "connections")?;
        if let Some(n) = s.bytes.filter(|n| *n > MAX_SEND_BYTES) {
            return Err(self.err(
                s.host.span(),
                "bytes",
                format!("{n}; at most {MAX_SEND_BYTES} (1 MiB) per send"),
            ));
        }
        let conns = s.connections.unwrap_or(1).max(1) as u64;
        let start = self.opt_dur(&s.start, "start")?;
        let until = match &s.until {
            Some(u) => self.dur(u, "until")?.min(self.duration),
            None => self.duration,
        };
        for (v, field) in [
            (&s.client_every, "client_every"),
            (&s.server_every, "server_every"),
        ] {
            if let Some(v) = v {
                let (min, _) =
                    units::duration_range(v.get_ref()).map_err(|m| self.err(v.span(), field, m))?;
                self.check_rounds(v.span(), field, min, start, until, conns)?;
            }
        }
        Ok(())
    }

    fn check_scan(&self, s: &ScanFile) -> Result<()> {
        let own = self.host_addr(s.host.get_ref());
        let mut total: u64 = 0;
        for t in s.targets.get_ref() {
            let (a, p) = t.split_once('/').unwrap_or((t, "32"));
            // Malformed entries are reported by `targets()` with the same span.
            let (Ok(a), Ok(p)) = (a.trim().parse::<Ipv4Addr>(), p.trim().parse::<u32>()) else {
                continue;
            };
            if !(16..=32).contains(&p) {
                continue;
            }
            let n = 1u64 << (32 - p);
            total = total.saturating_add(if n == 1 { 1 } else { n - 2 });
            let base = u32::from(a) & u32::MAX.checked_shl(32 - p).unwrap_or(0);
            let last = base | u32::MAX.checked_shr(p).unwrap_or(0);
            // The addresses probed: the block without its network and
            // broadcast addresses (as nmap skips them), or the one address.
            let probed = if n == 1 {
                base..=base
            } else {
                base + 1..=last - 1
            };
            // Blocks are /16 or narrower and every class of non-unicast
            // addresses is an aligned /8 or wider, so one address tells.
            let first = Ipv4Addr::from(*probed.start());
            if let Some(why) = not_unicast(first) {
                return Err(self.err(
                    s.targets.span(),
                    "targets",
                    format!("`{t}` holds {first}, {why}; scan targets must be unicast"),
                ));
            }
            if let Some(own) = own.filter(|o| probed.contains(&u32::from(*o))) {
                return Err(self.err(
                    s.targets.span(),
                    "targets",
                    format!(
                        "`{t}` holds {own}, the address of the scanning host `{}` itself",
                        s.host.get_ref()
                    ),
                ));
            }
        }
        if total > MAX_TARGETS {
            return Err(self.err(
                s.targets.span(),
                "targets",
                format!("{total} addresses; at most {MAX_TARGETS} per scan"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
seed = 1
duration = "10s"
[[host]]
name = "a"
addr = "192.0.2.1"
[[host]]
name = "b"
addr = "192.0.2.2"
[[link]]
between = ["a", "b"]
[[tap]]
name = "t"
link = ["a", "b"]
"#;

    fn load(extra: &str) -> Result<Scenario> {
        Scenario::parse(Path::new("x.toml"), format!("{BASE}{extra}"))
    }

    /// Each case: scenario text to append, the message it must give (field and limit).
    #[test]
    fn out_of_bounds_values_name_field_and_limit() {
        let cases = [
            (
                "[[host]]\nname = \"c\"\naddr = \"224.0.0.1\"\n",
                "`addr`: 224.0.0.1 is a multicast address",
            ),
            (
                "[[host]]\nname = \"c\"\naddr = \"192.0.2.255\"\n",
                "is the broadcast address of its /24 subnet",
            ),
            (
                "[[http-client]]\nhost = \"a\"\nserver = \"192.0.2.1\"\n",
                "`server`: 192.0.2.1 is the address of host `a` itself",
            ),
            (
                "[[http-client]]\nhost = \"a\"\nserver = \"192.0.2.2\"\nparallel = 5000\n",
                "`parallel`: 5000 connections; at most 1024",
            ),
            (
                "[[poller]]\nhost = \"a\"\nserver = \"192.0.2.2\"\nevery = \"1us\"\n",
                "`every`: 1 µs between polls; at least 1000 µs",
            ),
            (
                "[[web-server]]\nhost = \"b\"\nidle_listeners = 100000\n",
                "`idle_listeners`: 100000; at most 1024 per port",
            ),
            (
                "[[syn-scan]]\nhost = \"a\"\ntargets = [\"0.0.0.0\"]\n",
                "`targets`: `0.0.0.0` holds 0.0.0.0, the unspecified address",
            ),
            (
                "[[syn-scan]]\nhost = \"a\"\ntargets = [\"192.0.2.0/24\"]\n",
                "holds 192.0.2.1, the address of the scanning host `a` itself",
            ),
            (
                "[[session]]\nhost = \"a\"\nserver = \"192.0.2.2\"\nserver_host = \"a\"\n",
                "`server_host`: `a` is the client's own host",
            ),
        ];
        for (extra, want) in cases {
            let err = load(extra).expect_err(want).to_string();
            assert!(err.starts_with("x.toml:"), "{err}");
            assert!(err.contains(want), "{err}\nwanted: {want}");
        }
    }

    #[test]
    fn values_inside_the_limits_load() {
        let ok = "[[web-server]]\nhost = \"b\"\nidle_listeners = 1024\n\
                  [[poller]]\nhost = \"a\"\nserver = \"192.0.2.2\"\nevery = \"2ms\"\n\
                  [[syn-scan]]\nhost = \"a\"\ntargets = [\"198.51.100.0/24\"]\n";
        load(ok).expect("within limits");
    }
}
