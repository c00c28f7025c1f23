//! Value checks shared by loading and building: each turns one field of the
//! file into a typed value or an error naming the file, line and field.

use std::net::Ipv4Addr;
use std::ops::Range;

use scanbench_sim::app::syn_scan::{Probe, ScanSpec, Timing};
use scanbench_sim::app::top_ports::parse_ports;
use scanbench_sim::{Class, Duration, Instant, Label, Network, NodeId, units};
use toml::Spanned;

use super::Scenario;
use super::file::{LabelFile, ScanFile};
use super::line_of;
use crate::error::{Error, Result};
use crate::time_text::duration_text;

impl Scenario {
    pub(super) fn err(&self, span: Range<usize>, field: &str, msg: impl Into<String>) -> Error {
        Error::Scenario {
            path: self.path.clone(),
            line: Some(line_of(&self.source, span.start)),
            message: format!("`{field}`: {}", msg.into()),
        }
    }

    pub(super) fn dur(&self, s: &Spanned<String>, field: &str) -> Result<Duration> {
        units::duration(s.get_ref()).map_err(|m| self.err(s.span(), field, m))
    }

    /// A link delay: no longer than the whole run (a packet delayed past the
    /// end is never delivered, and `1000d` is a typo, not a network).
    pub(super) fn within_run(&self, s: &Spanned<String>, field: &str) -> Result<Duration> {
        let d = self.dur(s, field)?;
        if d > self.duration {
            return Err(self.err(
                s.span(),
                field,
                format!(
                    "{} is longer than the whole scenario (`duration` = {})",
                    duration_text(d.total_micros()),
                    duration_text(self.duration.total_micros())
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn instant(&self, s: &Option<Spanned<String>>, field: &str) -> Result<Instant> {
        match s {
            Some(s) => Ok(Instant::ZERO + self.dur(s, field)?),
            None => Ok(Instant::ZERO),
        }
    }

    pub(super) fn addr(&self, s: &Spanned<String>, field: &str) -> Result<Ipv4Addr> {
        s.get_ref().trim().parse().map_err(|_| {
            self.err(
                s.span(),
                field,
                format!("`{}` is not an IPv4 address", s.get_ref()),
            )
        })
    }

    pub(super) fn node(&self, net: &Network, s: &Spanned<String>, field: &str) -> Result<NodeId> {
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

    pub(super) fn label(
        &self,
        l: &LabelFile,
        host: &str,
        malicious: bool,
        cause: &str,
    ) -> Result<Label> {
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

    pub(super) fn targets(&self, s: &Spanned<Vec<String>>) -> Result<Vec<Ipv4Addr>> {
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
            let p: u32 = p.trim().parse().ok().filter(|p| *p <= 32).ok_or_else(bad)?;
            if p < 16 {
                return Err(self.err(
                    s.span(),
                    "targets",
                    format!(
                        "`{t}` is too large: a CIDR block must be /16 or narrower (at most 65534 targets); list several blocks instead"
                    ),
                ));
            }
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

    /// The probe of a `syn-scan`; a `connect-scan` takes none (its kernel
    /// sends SYNs from ports of its choosing).
    pub(super) fn scan_probe(&self, f: &ScanFile, raw: bool) -> Result<Probe> {
        let mut probe = Probe::default();
        if let Some(p) = &f.probe {
            if !raw {
                return Err(self.err(p.span(), "probe", "only a syn-scan sends raw probes"));
            }
            probe.flags = Probe::flags_named(p.get_ref()).ok_or_else(|| {
                self.err(
                    p.span(),
                    "probe",
                    format!("`{}`: expected syn, fin, null or xmas", p.get_ref()),
                )
            })?;
        }
        if let Some(sp) = &f.source_port {
            if !raw {
                return Err(self.err(
                    sp.span(),
                    "source_port",
                    "only a syn-scan sets its source port",
                ));
            }
            if *sp.get_ref() == 0 {
                return Err(self.err(sp.span(), "source_port", "port 0 cannot be used"));
            }
            probe.source_port = Some(*sp.get_ref());
        }
        Ok(probe)
    }

    pub(super) fn scan_spec(&self, f: &ScanFile) -> Result<ScanSpec> {
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
}
