//! The `[live]` table: where the world beyond the simulation attaches. In
//! `scanbench live` the outside node's link is the TUN device (see
//! `docs/live.md`); in a simulated run the outside is silent and packets
//! routed to it are only counted.

use std::ops::Range;

use scanbench_detector::Cidr;
use scanbench_sim::{Duration, Label, LinkSpec, Network, NodeId, TapPoint};
use smoltcp::wire::Ipv4Cidr;

use super::Scenario;
use super::file::LiveFile;
use crate::error::Result;

/// The outside addresses when `[live]` names none: the benchmarking range of
/// RFC 2544 (198.18.0.0/15), which no real network routes.
pub const DEFAULT_OUTSIDE: &str = "198.18.0.0/15";

/// The checked `[live]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    /// The router the outside is linked to.
    pub attach: String,
    /// Name of the outside node, and of the tap on its link.
    pub name: String,
    /// Addresses beyond the simulation, reached through the outside link.
    pub outside: Vec<Cidr>,
    /// One-way latency of the outside link.
    pub latency: Duration,
    /// Label of packets from outside that open a flow.
    pub label: Label,
    /// Where the table names the outside node, for messages.
    span: Range<usize>,
}

impl Live {
    /// Whether `addr` is an outside address.
    pub fn is_outside(&self, addr: std::net::Ipv4Addr) -> bool {
        self.outside.iter().any(|c| c.contains(addr))
    }
}

impl Scenario {
    /// Checks the `[live]` table against the rest of the file.
    pub(super) fn live_table(&self) -> Result<Option<Live>> {
        let Some(l) = &self.file.live else {
            return Ok(None);
        };
        let attach = l.attach.get_ref();
        if !self.file.routers.iter().any(|r| r.name.get_ref() == attach) {
            let routers: Vec<&str> = self
                .file
                .routers
                .iter()
                .map(|r| r.name.get_ref().as_str())
                .collect();
            return Err(self.err(
                l.attach.span(),
                "live.attach",
                format!(
                    "no router named `{attach}` (the outside hangs off a router); routers: {}",
                    routers.join(", ")
                ),
            ));
        }
        let outside = self.outside_prefixes(l)?;
        let latency = match &l.latency {
            Some(v) => self.dur(v, "live.latency")?,
            None => LinkSpec::default().latency,
        };
        Ok(Some(Live {
            attach: attach.clone(),
            name: l
                .name
                .as_ref()
                .map_or_else(|| "outside".to_string(), |n| n.get_ref().clone()),
            outside,
            latency,
            label: self.label(&l.label, "external", false, "external")?,
            span: l.name.as_ref().map_or(l.attach.span(), |n| n.span()),
        }))
    }

    fn outside_prefixes(&self, l: &LiveFile) -> Result<Vec<Cidr>> {
        let Some(nets) = &l.outside else {
            return Ok(vec![DEFAULT_OUTSIDE.parse().expect("a valid CIDR")]);
        };
        let mut out = Vec::new();
        for n in nets.get_ref() {
            let c: Cidr = n
                .parse()
                .map_err(|e| self.err(nets.span(), "live.outside", format!("`{n}`: {e}")))?;
            // Simulated addresses are never outside: a packet to one would
            // have two destinations.
            for h in &self.file.hosts {
                if let Ok(a) = h.addr.get_ref().trim().parse()
                    && c.contains(a)
                {
                    return Err(self.err(
                        nets.span(),
                        "live.outside",
                        format!(
                            "`{n}` contains host `{}` ({a}): simulated addresses cannot be outside",
                            h.name.get_ref()
                        ),
                    ));
                }
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err(self.err(nets.span(), "live.outside", "no prefix"));
        }
        Ok(out)
    }

    /// Adds the outside node and its link to `attach` (the tap comes later,
    /// after the file's own taps, so their numbering does not change).
    pub(super) fn add_outside(&self, net: &mut Network, live: &Live) -> Result<NodeId> {
        let prefixes = live
            .outside
            .iter()
            .map(|c| Ipv4Cidr::new(c.addr, c.prefix))
            .collect();
        let node = net
            .add_external(&live.name, prefixes, live.label.clone())
            .map_err(|e| self.err(live.span.clone(), "live.name", e.to_string()))?;
        let attach = net.node(&live.attach).expect("checked: the router exists");
        let spec = LinkSpec {
            latency: live.latency,
            ..LinkSpec::default()
        };
        net.add_link(node, attach, spec)
            .map_err(|e| self.err(live.span.clone(), "live.attach", e.to_string()))?;
        Ok(node)
    }

    /// Adds the tap on the outside link, named after the outside node.
    pub(super) fn add_outside_tap(
        &self,
        net: &mut Network,
        live: &Live,
        node: NodeId,
    ) -> Result<()> {
        let attach = net.node(&live.attach).expect("checked: the router exists");
        let link = net
            .link_between(node, attach)
            .expect("added by add_outside");
        net.add_tap(&live.name, TapPoint::Link(link)).map_err(|e| {
            let msg = format!("the tap on the outside link: {e}");
            self.err(live.span.clone(), "live.name", msg)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
seed = 1
duration = "1s"
[[host]]
name = "server"
addr = "198.51.100.10"
[[router]]
name = "edge"
[[link]]
between = ["edge", "server"]
"#;

    fn load(live: &str) -> crate::Result<Scenario> {
        Scenario::parse(Path::new("x.toml"), format!("{BASE}{live}"))
    }

    fn error(live: &str) -> String {
        load(live).expect_err("rejected").to_string()
    }

    #[test]
    fn defaults() {
        let sc = load("[live]\nattach = \"edge\"\n").unwrap();
        let live = sc.live.clone().unwrap();
        assert_eq!(live.name, "outside");
        assert_eq!(live.outside, vec![DEFAULT_OUTSIDE.parse().unwrap()]);
        assert_eq!(live.latency, LinkSpec::default().latency);
        assert_eq!(
            live.label.to_string(),
            "actor=external class=benign cause=external"
        );
        assert!(live.is_outside("198.19.255.1".parse().unwrap()));
        assert!(!live.is_outside("198.51.100.10".parse().unwrap()));
        // The outside tap comes after the file's own, and is the sensor when
        // the file has none.
        let built = sc.build(1).unwrap();
        assert_eq!(built.taps, ["outside"]);
        assert_eq!(built.sensor, Some(0));
        assert!(built.outside.is_some());
    }

    #[test]
    fn no_live_table_no_outside() {
        // Without `[live]` the file needs a tap of its own.
        let sc = load("[[tap]]\nname = \"t\"\nlink = [\"edge\", \"server\"]\n").unwrap();
        assert!(sc.live.is_none());
        assert!(sc.build(1).unwrap().outside.is_none());
    }

    #[test]
    fn attach_must_name_a_router() {
        let e = error("[live]\nattach = \"server\"\n");
        assert!(e.starts_with("x.toml:"), "{e}");
        assert!(e.contains("`live.attach`: no router named `server`"), "{e}");
        assert!(e.contains("routers: edge"), "{e}");
    }

    #[test]
    fn outside_must_not_hold_simulated_hosts() {
        let e = error("[live]\nattach = \"edge\"\noutside = [\"198.51.100.0/24\"]\n");
        assert!(e.contains("contains host `server` (198.51.100.10)"), "{e}");
        let e = error("[live]\nattach = \"edge\"\noutside = [\"198.18.0.0/33\"]\n");
        assert!(e.contains("`live.outside`: `198.18.0.0/33`"), "{e}");
        let e = error("[live]\nattach = \"edge\"\noutside = []\n");
        assert!(e.contains("`live.outside`: no prefix"), "{e}");
    }

    #[test]
    fn the_outside_name_must_be_free() {
        let e = error("[live]\nattach = \"edge\"\nname = \"server\"\n");
        assert!(
            e.contains("`live.name`: name `server` is used twice"),
            "{e}"
        );
        let tap = "[[tap]]\nname = \"outside\"\nlink = [\"edge\", \"server\"]\n";
        let e = error(&format!("{tap}[live]\nattach = \"edge\"\n"));
        assert!(e.contains("the tap on the outside link"), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = error("[live]\nattach = \"edge\"\ncolour = 1\n");
        assert!(e.contains("unknown key or table `colour`"), "{e}");
    }
}
