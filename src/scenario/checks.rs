//! Checks of a whole scenario file that no single value shows: its name is
//! usable as a file name, it has a tap (or a `[live]` table, which adds one),
//! every client talks to an address something answers on (a host, a VIP, a
//! NAT address, or the outside of `[live]`), and everything scheduled starts
//! before the end.
//! Each error names the file, the line and the field.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use toml::Spanned;

use super::Scenario;
use crate::error::{Error, Result};
use crate::time_text::duration_text;

impl Scenario {
    /// The name becomes part of file names (`--out DIR/<name>.pcap`): no path
    /// separators, no `..`, nothing hidden, nothing a shell would mangle.
    pub(super) fn check_name(&self) -> Result<()> {
        let Some(n) = &self.file.name else {
            return Ok(());
        };
        let name = n.get_ref();
        let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+');
        let why = if name.is_empty() {
            Some("is empty".to_string())
        } else if name.starts_with('.') || name.contains("..") {
            Some("may not start with `.` or contain `..` (it becomes a file name)".to_string())
        } else {
            name.chars().find(|&c| !fine(c)).map(|c| {
                format!(
                    "may not contain `{c}` (it becomes a file name: letters, digits and - _ . + only)"
                )
            })
        };
        match why {
            Some(why) => Err(self.err(n.span(), "name", format!("`{name}` {why}"))),
            None => Ok(()),
        }
    }

    /// Checks that need the whole file.
    pub(super) fn check_whole(&self) -> Result<()> {
        self.check_taps()?;
        self.check_servers()?;
        self.check_starts()
    }

    fn check_taps(&self) -> Result<()> {
        // A `[live]` table adds a tap on the outside link.
        if self.file.taps.is_empty() && self.live.is_none() {
            return Err(Error::Scenario {
                path: self.path.clone(),
                line: None,
                message: "no `[[tap]]`: nothing would be captured or seen by a detector; add one on a link or a router's drop log (docs/scenarios.md)".into(),
            });
        }
        Ok(())
    }

    /// Addresses something answers on: hosts, balancer VIPs, NAT addresses.
    fn answering(&self) -> BTreeSet<Ipv4Addr> {
        let f = &self.file;
        let mut out: BTreeSet<Ipv4Addr> = f
            .hosts
            .iter()
            .filter_map(|h| h.addr.get_ref().trim().parse().ok())
            .collect();
        for r in &f.routers {
            let texts = r.balancer.iter().map(|b| b.vip.as_str());
            let texts = texts.chain(r.nat.iter().map(|n| n.public.as_str()));
            out.extend(texts.filter_map(|t| t.trim().parse::<Ipv4Addr>().ok()));
        }
        out
    }

    /// A client whose `server` no host, VIP or NAT has would only ever
    /// retransmit SYNs into nothing: almost always a typo.
    fn check_servers(&self) -> Result<()> {
        let f = &self.file;
        let known = self.answering();
        let servers = f
            .http_clients
            .iter()
            .map(|c| &c.server)
            .chain(f.pollers.iter().map(|p| &p.server))
            .chain(f.sessions.iter().map(|s| &s.server));
        for s in servers {
            let addr = self.addr(s, "server")?;
            let outside = self.live.as_ref().is_some_and(|l| l.is_outside(addr));
            if !known.contains(&addr) && !outside {
                let list: Vec<String> = known.iter().map(|a| a.to_string()).collect();
                return Err(self.err(
                    s.span(),
                    "server",
                    format!(
                        "no host, balancer VIP or NAT address is {addr}; known: {}",
                        list.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A start at or after the end would never happen.
    fn check_starts(&self) -> Result<()> {
        let f = &self.file;
        let starts = f
            .http_clients
            .iter()
            .filter_map(|c| c.at.as_ref().map(|s| (s, "at")))
            .chain(
                f.pollers
                    .iter()
                    .filter_map(|p| p.start.as_ref().map(|s| (s, "start"))),
            )
            .chain(
                f.syn_scans
                    .iter()
                    .chain(&f.connect_scans)
                    .filter_map(|s| s.start.as_ref().map(|s| (s, "start"))),
            )
            .chain(
                f.sessions
                    .iter()
                    .filter_map(|s| s.start.as_ref().map(|s| (s, "start"))),
            );
        for (s, field) in starts {
            self.before_end(s, field)?;
        }
        Ok(())
    }

    fn before_end(&self, s: &Spanned<String>, field: &str) -> Result<()> {
        let at = self.dur(s, field)?;
        if at >= self.duration {
            return Err(self.err(
                s.span(),
                field,
                format!(
                    "{} is not before the end of the scenario (`duration` = {}): it would never happen",
                    duration_text(at.total_micros()),
                    duration_text(self.duration.total_micros())
                ),
            ));
        }
        Ok(())
    }
}
