//! Scaling a scenario's background: [`Scenario::with_hosts`] copies its
//! benign client hosts until it has the number asked for (`scanbench gen
//! --hosts N`), so one file describes a situation and the command line says
//! how big the crowd around it is.
//!
//! A *client host* runs only benign client applications (HTTP clients,
//! pollers, session clients) and nothing a client talks to (no web server,
//! session server or scanner). Copies are made of the client hosts in file
//! order, round robin. A copy of host `H`:
//!
//! - is named `H-2`, `H-3`, ... (the copy's number among `H`'s copies, from 2),
//!   so its packets' actor is its own name (unless the file names an actor);
//! - takes the next free address after `H`'s in `H`'s subnet (its `prefix`,
//!   default 24; no network or broadcast address, no address the file uses);
//! - hangs off the same node as `H` over a link with `H`'s link parameters,
//!   and is listed wherever `H` is listed by name (firewall zones, a NAT's
//!   `inside` neighbours), so it crosses the same middleboxes in the same way;
//! - runs copies of `H`'s applications, each starting later by
//!   `k / (copies + 1)` of its spacing (a poller's shortest interval, a
//!   session's shortest client interval, one second for a one-shot HTTP
//!   client), `k` the copy's index: copies do not all start in the same
//!   microsecond; their random streams differ by name, so they drift apart.
//!
//! Taps stay where they are: a copy's traffic shows on every tap its path crosses.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use scanbench_sim::{Duration, units};
use toml::Spanned;

use super::Scenario;
use super::file::{LabelFile, ScenarioFile};
use crate::error::{Error, Result};

impl Scenario {
    /// This scenario with its benign client hosts copied until there are
    /// `hosts` of them (see the module documentation).
    ///
    /// # Errors
    /// [`Error::Argument`] if the scenario has no client host or more than
    /// `hosts` already; [`Error::Scenario`] (naming the host's line) if a
    /// client host's subnet has no free address left.
    pub fn with_hosts(&self, hosts: usize) -> Result<Scenario> {
        let f = &self.file;
        let clients = client_hosts(f);
        if clients.is_empty() {
            return Err(Error::Argument(format!(
                "--hosts: {} has no benign client host (HTTP client, poller or session client) to copy",
                self.path.display()
            )));
        }
        if hosts < clients.len() {
            return Err(Error::Argument(format!(
                "--hosts {hosts}: {} already has {} client hosts ({})",
                self.path.display(),
                clients.len(),
                clients.join(", ")
            )));
        }
        let mut out = f.clone();
        let mut used: BTreeSet<Ipv4Addr> = used_addrs(f);
        let mut names: BTreeSet<String> =
            f.hosts.iter().map(|h| h.name.get_ref().clone()).collect();
        names.extend(f.routers.iter().map(|r| r.name.get_ref().clone()));
        let extra = hosts - clients.len();
        // Copies per original, and each original's next free address.
        let copies: Vec<usize> = (0..clients.len())
            .map(|c| extra / clients.len() + usize::from(c < extra % clients.len()))
            .collect();
        let mut next_addr: Vec<Option<Ipv4Addr>> = vec![None; clients.len()];
        for k in 0..extra {
            let c = k % clients.len();
            let copy = k / clients.len(); // 0-based among this original's copies
            let orig = &clients[c];
            let host = f
                .hosts
                .iter()
                .find(|h| h.name.get_ref() == orig)
                .expect("client hosts are hosts");
            let name = format!("{orig}-{}", copy + 2);
            if !names.insert(name.clone()) {
                return Err(self.err(
                    host.name.span(),
                    "--hosts",
                    format!(
                        "a copy of `{orig}` would be named `{name}`, which the file already uses"
                    ),
                ));
            }
            let base = next_addr[c].unwrap_or(self.addr(&host.addr, "addr")?);
            let prefix = host.prefix.as_ref().map_or(24, |p| *p.get_ref()).min(32);
            let addr = free_addr(base, prefix, &used).ok_or_else(|| {
                self.err(
                    host.addr.span(),
                    "--hosts",
                    format!(
                        "no free address left in {orig}'s /{prefix} for copy {} of {}; give `{orig}` a shorter `prefix`",
                        copy + 1,
                        copies[c]
                    ),
                )
            })?;
            used.insert(addr);
            next_addr[c] = Some(addr);
            let mut h = host.clone();
            h.name = Spanned::new(host.name.span(), name.clone());
            h.addr = Spanned::new(host.addr.span(), addr.to_string());
            out.hosts.push(h);
            for l in f
                .links
                .iter()
                .filter(|l| l.between.get_ref().contains(orig))
            {
                let mut l = l.clone();
                let ends = l
                    .between
                    .get_ref()
                    .clone()
                    .map(|e| if e == *orig { name.clone() } else { e });
                l.between = Spanned::new(l.between.span(), ends);
                out.links.push(l);
            }
            for r in &mut out.routers {
                if let Some(fw) = r.firewall.as_mut() {
                    for members in fw.zones.values_mut() {
                        if members.contains(orig) {
                            members.push(name.clone());
                        }
                    }
                }
                if let Some(nat) = r.nat.as_mut()
                    && nat.inside.contains(orig)
                {
                    nat.inside.push(name.clone());
                }
            }
            // The copy's place among its original's copies spreads its start.
            let frac = (copy + 1) as f64 / (copies[c] + 1) as f64;
            let later = |start: &Option<Spanned<String>>,
                         spacing: Duration|
             -> Result<Option<Spanned<String>>> {
                let at = match start {
                    Some(s) => self.dur(s, "start")?,
                    None => Duration::ZERO,
                };
                let shift = Duration::from_micros((spacing.total_micros() as f64 * frac) as u64);
                let span = start.as_ref().map_or(0..0, |s| s.span());
                Ok(Some(Spanned::new(
                    span,
                    format!("{}us", (at + shift).total_micros()),
                )))
            };
            for a in f.pollers.iter().filter(|a| a.host.get_ref() == orig) {
                let mut a = a.clone();
                let (min, _) = units::duration_range(a.every.get_ref())
                    .map_err(|m| self.err(a.every.span(), "every", m))?;
                a.start = later(&a.start, min)?;
                a.host = Spanned::new(a.host.span(), name.clone());
                out.pollers.push(a);
            }
            for a in f.http_clients.iter().filter(|a| a.host.get_ref() == orig) {
                let mut a = a.clone();
                a.at = later(&a.at, Duration::from_secs(1))?;
                a.host = Spanned::new(a.host.span(), name.clone());
                out.http_clients.push(a);
            }
            for a in f.sessions.iter().filter(|a| a.host.get_ref() == orig) {
                let mut a = a.clone();
                let spacing = match &a.client_every {
                    Some(e) => {
                        units::duration_range(e.get_ref())
                            .map_err(|m| self.err(e.span(), "client_every", m))?
                            .0
                    }
                    None => Duration::from_secs(1),
                };
                a.start = later(&a.start, spacing)?;
                a.host = Spanned::new(a.host.span(), name.clone());
                out.sessions.push(a);
            }
        }
        let mut sc = self.clone();
        sc.file = out;
        // Build once, as loading does, so a bad copy is reported now.
        sc.build(sc.seed)?;
        Ok(sc)
    }
}

fn benign(l: &LabelFile) -> bool {
    l.class.as_ref().is_none_or(|c| c.get_ref() != "malicious")
}

/// Names of the hosts that run only benign client applications, in file order.
fn client_hosts(f: &ScenarioFile) -> Vec<String> {
    let mut serving: BTreeSet<&str> = BTreeSet::new();
    serving.extend(f.web_servers.iter().map(|a| a.host.get_ref().as_str()));
    serving.extend(f.syn_scans.iter().map(|a| a.host.get_ref().as_str()));
    serving.extend(f.connect_scans.iter().map(|a| a.host.get_ref().as_str()));
    serving.extend(
        f.sessions
            .iter()
            .filter_map(|a| a.server_host.as_ref())
            .map(|h| h.get_ref().as_str()),
    );
    serving.extend(
        f.http_clients
            .iter()
            .filter(|a| !benign(&a.label))
            .map(|a| a.host.get_ref().as_str()),
    );
    serving.extend(
        f.pollers
            .iter()
            .filter(|a| !benign(&a.label))
            .map(|a| a.host.get_ref().as_str()),
    );
    serving.extend(
        f.sessions
            .iter()
            .filter(|a| !benign(&a.label))
            .map(|a| a.host.get_ref().as_str()),
    );
    let mut client: BTreeSet<&str> = BTreeSet::new();
    client.extend(f.http_clients.iter().map(|a| a.host.get_ref().as_str()));
    client.extend(f.pollers.iter().map(|a| a.host.get_ref().as_str()));
    client.extend(f.sessions.iter().map(|a| a.host.get_ref().as_str()));
    f.hosts
        .iter()
        .map(|h| h.name.get_ref())
        .filter(|n| client.contains(n.as_str()) && !serving.contains(n.as_str()))
        .cloned()
        .collect()
}

/// Every address the file gives a host or a middlebox.
fn used_addrs(f: &ScenarioFile) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    let mut add = |s: &str| {
        if let Ok(a) = s.trim().parse() {
            out.insert(a);
        }
    };
    for h in &f.hosts {
        add(h.addr.get_ref());
    }
    for r in &f.routers {
        if let Some(n) = &r.nat {
            add(&n.public);
        }
        if let Some(b) = &r.balancer {
            add(&b.vip);
            b.backends.iter().for_each(|a| add(a));
            if let Some(a) = &b.address {
                add(a);
            }
        }
    }
    out
}

/// The first address after `after` in its /`prefix` that is neither the
/// subnet's network nor broadcast address nor in `used`.
fn free_addr(after: Ipv4Addr, prefix: u8, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let net = u32::from(after) & mask;
    let last = net | !mask;
    let (lo, hi) = if prefix <= 30 {
        (net + 1, last - 1)
    } else {
        (net, last)
    };
    let mut a = u32::from(after).checked_add(1)?.max(lo);
    while a <= hi {
        let addr = Ipv4Addr::from(a);
        if !used.contains(&addr) {
            return Some(addr);
        }
        a = a.checked_add(1)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addresses_stay_in_the_subnet() {
        let used: BTreeSet<Ipv4Addr> = ["192.0.2.12".parse().unwrap()].into();
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(free_addr(a("192.0.2.11"), 24, &used), Some(a("192.0.2.13")));
        assert_eq!(
            free_addr(a("192.0.2.253"), 24, &used),
            Some(a("192.0.2.254"))
        );
        assert_eq!(free_addr(a("192.0.2.254"), 24, &used), None, "no broadcast");
        assert_eq!(free_addr(a("192.0.2.255"), 16, &used), Some(a("192.0.3.0")));
        assert_eq!(free_addr(a("255.255.255.255"), 32, &used), None);
    }
}
