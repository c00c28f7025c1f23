//! The kernel side: the checks made before anything is created, and the
//! device's configuration, done with `ip` (iproute2), the same commands
//! `docs/live.md` shows, so what scanbench did can be read and repeated.
//!
//! Checks: CAP_NET_ADMIN (from `/proc/self/status`), `/dev/net/tun`, a free
//! device name in this namespace and the target one, and no overlap between
//! the routes (and the device's own subnet) and the host's routes in any
//! table, the default route excepted (every prefix is inside it).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use scanbench_detector::Cidr;

use super::error::LiveError;

/// Linux's interface name limit (IFNAMSIZ 16, with the terminating NUL).
pub const IFNAME_MAX: usize = 15;

/// Checks a TUN device name: 1 to 15 characters from `[A-Za-z0-9._-]`, and
/// not `.` or `..` (the kernel's `dev_valid_name`, without the characters
/// that need quoting; `%`, which the kernel would expand, is refused).
///
/// # Errors
/// What is wrong with the name.
pub fn check_ifname(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > IFNAME_MAX {
        return Err(format!(
            "`{name}`: an interface name has 1 to {IFNAME_MAX} characters"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{name}`: `{c}` is not allowed (letters, digits, `.`, `_`, `-`)"
        ));
    }
    Ok(name.to_string())
}

/// Fails with [`LiveError::NotRoot`] unless this process has CAP_NET_ADMIN.
/// Where `/proc/self/status` cannot be read the check is left to the kernel
/// (creating the device then fails with EPERM, reported the same way).
///
/// # Errors
/// [`LiveError::NotRoot`].
pub fn check_privileges() -> Result<(), LiveError> {
    const CAP_NET_ADMIN: u32 = 12;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Ok(());
    };
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match effective {
        Some(caps) if caps & (1 << CAP_NET_ADMIN) == 0 => Err(LiveError::NotRoot),
        _ => Ok(()),
    }
}

/// Fails with [`LiveError::NoTunDevice`] unless `/dev/net/tun` exists.
///
/// # Errors
/// [`LiveError::NoTunDevice`].
pub fn check_tun_device() -> Result<(), LiveError> {
    if Path::new("/dev/net/tun").exists() {
        Ok(())
    } else {
        Err(LiveError::NoTunDevice)
    }
}

/// `ip` (iproute2), in this process's network namespace or a named one.
#[derive(Clone, Copy, Debug)]
pub struct Ip<'a> {
    netns: Option<&'a str>,
}

/// A route the host already has, as `ip -j route show table all` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRoute {
    /// Destination prefix.
    pub dst: Cidr,
    /// Route type (`unicast`, `local`, `broadcast`, ...).
    pub kind: String,
    /// Output device, if any.
    pub dev: Option<String>,
    /// Routing table (`main` unless it says).
    pub table: String,
}

impl std::fmt::Display for HostRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind != "unicast" {
            write!(f, "{} ", self.kind)?;
        }
        write!(f, "{}", self.dst)?;
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        write!(f, " (table {})", self.table)
    }
}

impl<'a> Ip<'a> {
    /// `ip` in namespace `netns` (`None`: this process's).
    pub fn new(netns: Option<&'a str>) -> Self {
        Ip { netns }
    }

    fn netns(&self) -> Option<String> {
        self.netns.map(str::to_string)
    }

    /// The command line for `args`, as it is run (for messages and the log).
    pub fn line(&self, args: &[&str]) -> String {
        let mut v = vec!["ip"];
        if let Some(ns) = self.netns {
            v.extend(["-n", ns]);
        }
        v.extend_from_slice(args);
        v.join(" ")
    }

    /// Runs `ip [-n NS] args`, returning its standard output.
    ///
    /// # Errors
    /// [`LiveError::Command`] with `ip`'s own message, or saying it is missing.
    pub fn run(&self, args: &[&str]) -> Result<String, LiveError> {
        let mut cmd = Command::new("ip");
        if let Some(ns) = self.netns {
            cmd.args(["-n", ns]);
        }
        let out = cmd.args(args).output().map_err(|e| LiveError::Command {
            command: self.line(args),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "`ip` not found: live mode configures the device with iproute2 \
                 (apt-get install iproute2)"
                    .to_string()
            } else {
                e.to_string()
            },
        })?;
        if !out.status.success() {
            return Err(LiveError::Command {
                command: self.line(args),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Names of the network interfaces in the namespace.
    ///
    /// # Errors
    /// `ip` failing, or output it cannot read.
    pub fn interfaces(&self) -> Result<Vec<String>, LiveError> {
        let args = ["-j", "link", "show"];
        let v = self.json(&args)?;
        Ok(v.iter()
            .filter_map(|l| l.get("ifname").and_then(|n| n.as_str()))
            .map(str::to_string)
            .collect())
    }

    /// Fails with [`LiveError::NameTaken`] if an interface is named `name`.
    ///
    /// # Errors
    /// [`LiveError::NameTaken`], or `ip` failing.
    pub fn check_free(&self, name: &str) -> Result<(), LiveError> {
        if self.interfaces()?.iter().any(|n| n == name) {
            return Err(LiveError::NameTaken {
                name: name.to_string(),
                netns: self.netns(),
            });
        }
        Ok(())
    }

    /// The IPv4 routes of every table.
    ///
    /// # Errors
    /// `ip` failing, or output it cannot read.
    pub fn routes(&self) -> Result<Vec<HostRoute>, LiveError> {
        let args = ["-j", "-4", "route", "show", "table", "all"];
        let v = self.json(&args)?;
        let mut out = Vec::new();
        for r in &v {
            let Some(dst) = r.get("dst").and_then(|d| d.as_str()) else {
                continue;
            };
            let dst = if dst == "default" { "0.0.0.0/0" } else { dst };
            let Ok(dst) = dst.parse::<Cidr>() else {
                continue;
            };
            let text = |k: &str| r.get(k).and_then(|x| x.as_str()).map(str::to_string);
            out.push(HostRoute {
                dst,
                kind: text("type").unwrap_or_else(|| "unicast".into()),
                dev: text("dev"),
                table: text("table").unwrap_or_else(|| "main".into()),
            });
        }
        Ok(out)
    }

    fn json(&self, args: &[&str]) -> Result<Vec<serde_json::Value>, LiveError> {
        let text = self.run(args)?;
        let text = if text.trim().is_empty() { "[]" } else { &text };
        serde_json::from_str(text).map_err(|e| LiveError::Command {
            command: self.line(args),
            message: format!("unreadable output: {e}"),
        })
    }
}

/// The netmask of a prefix length (0..=32).
fn mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

/// The network `addr` is in, with prefix length `prefix`.
pub fn network(addr: Ipv4Addr, prefix: u8) -> Cidr {
    Cidr {
        addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
        prefix: prefix.min(32),
    }
}

/// Whether two prefixes share an address.
pub fn overlaps(a: &Cidr, b: &Cidr) -> bool {
    let m = mask(a.prefix.min(b.prefix));
    u32::from(a.addr) & m == u32::from(b.addr) & m
}

/// The first host route `ours` overlaps, the default route excepted.
pub fn overlapping<'r>(ours: &Cidr, host: &'r [HostRoute]) -> Option<&'r HostRoute> {
    host.iter()
        .find(|r| r.dst.prefix > 0 && overlaps(ours, &r.dst))
}

/// Fails if a prefix we would route (`what` names its flag) overlaps one of
/// the `host` routes of namespace `netns`.
///
/// # Errors
/// [`LiveError::RouteOverlap`] naming both routes.
pub fn check_overlap(
    what: &'static str,
    ours: &[Cidr],
    host: &[HostRoute],
    netns: Option<&str>,
) -> Result<(), LiveError> {
    for c in ours {
        if let Some(r) = overlapping(c, host) {
            return Err(LiveError::RouteOverlap {
                what,
                ours: c.to_string(),
                theirs: r.to_string(),
                netns: netns.map(str::to_string),
            });
        }
    }
    Ok(())
}

/// Fails unless network namespace `name` exists (as `ip netns add` makes them).
///
/// # Errors
/// [`LiveError::NoNetns`], or `ip` failing.
pub fn check_netns(name: &str) -> Result<(), LiveError> {
    let list = Ip::new(None).run(&["netns", "list"])?;
    // Lines are `name` or `name (id: N)`.
    if list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
    {
        Ok(())
    } else {
        Err(LiveError::NoNetns(name.to_string()))
    }
}

/// How the kernel side of the device is set up.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The device.
    pub dev: String,
    /// Move it into this namespace first.
    pub netns: Option<String>,
    /// The kernel's address on it, with the prefix of its subnet.
    pub addr: (Ipv4Addr, u8),
    /// Routes into the simulation.
    pub routes: Vec<Cidr>,
}

impl Plan {
    /// The device's own subnet (the connected route `ip addr add` creates).
    pub fn subnet(&self) -> Cidr {
        network(self.addr.0, self.addr.1)
    }

    /// Checks the plan against the namespace it will run in: the name is
    /// free there (and here, where the device is created), and neither the
    /// device's subnet nor a route overlaps the host's routes.
    ///
    /// # Errors
    /// [`LiveError::NameTaken`], [`LiveError::RouteOverlap`], [`LiveError::NoNetns`].
    pub fn check(&self) -> Result<(), LiveError> {
        if let Some(ns) = &self.netns {
            check_netns(ns)?;
        }
        Ip::new(None).check_free(&self.dev)?;
        let ip = Ip::new(self.netns.as_deref());
        if self.netns.is_some() {
            ip.check_free(&self.dev)?;
        }
        let host = ip.routes()?;
        check_overlap("--addr", &[self.subnet()], &host, self.netns.as_deref())?;
        check_overlap("--route", &self.routes, &host, self.netns.as_deref())
    }

    /// Moves the device (if asked), addresses it, brings it up and adds the
    /// routes. Returns the commands run, in order.
    ///
    /// # Errors
    /// The first `ip` command that fails.
    pub fn apply(&self) -> Result<Vec<String>, LiveError> {
        let mut done = Vec::new();
        let dev = self.dev.as_str();
        if let Some(ns) = &self.netns {
            let args = ["link", "set", "dev", dev, "netns", ns];
            Ip::new(None).run(&args)?;
            done.push(Ip::new(None).line(&args));
        }
        let ip = Ip::new(self.netns.as_deref());
        let addr = format!("{}/{}", self.addr.0, self.addr.1);
        let src = self.addr.0.to_string();
        let mut steps: Vec<Vec<String>> = vec![
            vec!["addr".into(), "add".into(), addr, "dev".into(), dev.into()],
            vec![
                "link".into(),
                "set".into(),
                "dev".into(),
                dev.into(),
                "up".into(),
            ],
        ];
        for r in &self.routes {
            steps.push(
                ["route", "add", &r.to_string(), "dev", dev, "src", &src]
                    .map(str::to_string)
                    .to_vec(),
            );
        }
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            ip.run(&args)?;
            done.push(ip.line(&args));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn route(dst: &str, kind: &str) -> HostRoute {
        HostRoute {
            dst: cidr(dst),
            kind: kind.into(),
            dev: Some("eth0".into()),
            table: "main".into(),
        }
    }

    #[test]
    fn interface_names() {
        assert!(check_ifname("sblive0").is_ok());
        assert!(check_ifname("a.b_c-d").is_ok());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("sixteen-chars-xx").is_err());
        assert!(check_ifname("..").is_err());
        for bad in ["tun%d", "a/b", "a b", "tün"] {
            assert!(check_ifname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_overlap_when_one_holds_the_other() {
        assert!(overlaps(&cidr("198.51.100.0/24"), &cidr("198.51.100.0/24")));
        assert!(overlaps(
            &cidr("198.51.100.0/24"),
            &cidr("198.51.100.128/25")
        ));
        assert!(overlaps(
            &cidr("198.51.100.128/25"),
            &cidr("198.51.100.0/24")
        ));
        assert!(overlaps(&cidr("0.0.0.0/1"), &cidr("10.0.0.0/8")));
        assert!(!overlaps(
            &cidr("198.51.100.0/25"),
            &cidr("198.51.100.128/25")
        ));
        assert!(!overlaps(&cidr("192.0.2.0/24"), &cidr("198.51.100.0/24")));
    }

    #[test]
    fn the_default_route_overlaps_nothing() {
        let host = [
            route("0.0.0.0/0", "unicast"),
            route("192.0.2.0/24", "unicast"),
            route("127.0.0.1/32", "local"),
        ];
        assert_eq!(overlapping(&cidr("198.51.100.0/24"), &host), None);
        assert_eq!(overlapping(&cidr("192.0.2.128/25"), &host), Some(&host[1]));
        assert_eq!(overlapping(&cidr("127.0.0.0/8"), &host), Some(&host[2]));
        let e = check_overlap("--route", &[cidr("192.0.2.0/24")], &host, Some("lab"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "--route 192.0.2.0/24 overlaps the host's route 192.0.2.0/24 dev eth0 \
                 (table main) in network namespace `lab`"
            ),
            "{e}"
        );
    }
}
