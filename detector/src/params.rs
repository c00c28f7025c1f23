//! Detector configuration: `name:param=value,...` strings, typed parameter
//! access, and the errors a user sees when a name or value is wrong.
//!
//! Parameter names are the upstream configuration names, lower-cased
//! (`sense_level`, `ignore_conntrack_bug_pkts`, `threshold`), so users can carry
//! their settings over.
//!
//! # Separators
//! `,` separates the parameters of a spec, so a list-valued parameter
//! separates its values with `;` (`tcp_ports=1;7;9;11-13`,
//! `home_net=192.0.2.0/24;198.51.100.0/24`), and `+` (used by callers to join
//! several specs) appears in no value. The full configuration
//! [`Params::describe`] prints therefore parses back to the same configuration.

use core::fmt;
use core::net::Ipv4Addr;
use std::collections::BTreeMap;

/// One parameter a detector accepts, with its upstream default.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Upstream name, lower-cased.
    pub name: &'static str,
    /// Default value as text, equal to upstream's documented default.
    pub default: &'static str,
    /// One line: meaning, unit, and where the default comes from.
    pub help: &'static str,
}

/// A bad detector specification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No detector has this name.
    #[error(
        "unknown detector `{name}`{}; valid detectors: {valid}",
        did_you_mean(suggestion)
    )]
    UnknownDetector {
        /// The name given.
        name: String,
        /// Comma-separated valid names.
        valid: String,
        /// The valid name closest to `name`, if one is close.
        suggestion: Option<String>,
    },
    /// The detector has no such parameter.
    #[error(
        "detector `{detector}` has no parameter `{param}`{}; valid parameters: {valid}",
        did_you_mean(suggestion)
    )]
    UnknownParam {
        /// Detector name.
        detector: String,
        /// The parameter given.
        param: String,
        /// Comma-separated valid parameter names.
        valid: String,
        /// The valid name closest to `param`, if one is close.
        suggestion: Option<String>,
    },
    /// The value does not parse or is out of range.
    #[error("detector `{detector}`: bad value `{value}` for `{param}`: {reason}")]
    BadValue {
        /// Detector name.
        detector: String,
        /// Parameter name.
        param: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// `name:...` text that is not `param=value` pairs.
    #[error("bad detector specification `{spec}`: expected name[:param=value,...]")]
    Syntax {
        /// The text given.
        spec: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

/// The candidate closest to `word` by edit distance (Jaro-Winkler similarity
/// at least 0.8, the threshold clap uses for its own "did you mean"), for
/// "did you mean" hints on misspelt names.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An IPv4 network in CIDR form, e.g. `192.0.2.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

impl Cidr {
    /// True if `ip` is inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl core::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let prefix: u8 = p
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`{p}` is not a prefix length 0..=32"))?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        Ok(Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Resolved parameter values of one detector instance: every parameter the
/// detector declares, with the user's value or the default. Iterates in
/// declaration order, so the printed configuration is stable.
#[derive(Clone, Debug)]
pub struct Params {
    detector: &'static str,
    values: Vec<(&'static str, String)>,
}

impl Params {
    /// Resolves `given` (`param=value` pairs) against `specs`, rejecting unknown names.
    pub fn resolve(
        detector: &'static str,
        specs: &'static [ParamSpec],
        given: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in given {
            let key = k.trim().to_ascii_lowercase();
            let Some(spec) = specs.iter().find(|s| s.name == key) else {
                return Err(ConfigError::UnknownParam {
                    detector: detector.to_string(),
                    param: k.clone(),
                    valid: specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                    suggestion: closest(&key, specs.iter().map(|s| s.name)).map(String::from),
                });
            };
            map.insert(spec.name, v.trim());
        }
        let values = specs
            .iter()
            .map(|s| (s.name, map.get(s.name).unwrap_or(&s.default).to_string()))
            .collect();
        Ok(Params { detector, values })
    }

    /// The raw text of a declared parameter.
    ///
    /// # Panics
    /// If `name` was not declared by the detector: that is a programming error.
    pub fn raw(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("detector {} reads undeclared param {name}", self.detector))
    }

    fn bad(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::BadValue {
            detector: self.detector.to_string(),
            param: name.to_string(),
            value: self.raw(name).to_string(),
            reason: reason.into(),
        }
    }

    /// An unsigned integer.
    pub fn u64(&self, name: &str) -> Result<u64, ConfigError> {
        self.raw(name)
            .replace('_', "")
            .parse()
            .map_err(|_| self.bad(name, "expected a non-negative integer"))
    }

    /// An unsigned integer within `lo..=hi`.
    pub fn u64_in(&self, name: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
        let v = self.u64(name)?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(self.bad(name, format!("expected {lo}..={hi}")))
        }
    }

    /// A real number.
    pub fn f64(&self, name: &str) -> Result<f64, ConfigError> {
        self.raw(name)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| self.bad(name, "expected a number"))
    }

    /// A boolean: `y/yes/true/on/1` or `n/no/false/off/0` (psad writes Y/N).
    pub fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        match self.raw(name).to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" | "on" | "1" => Ok(true),
            "n" | "no" | "false" | "off" | "0" => Ok(false),
            _ => Err(self.bad(name, "expected y or n")),
        }
    }

    /// One of a fixed set of words; returns its index in `choices`.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<usize, ConfigError> {
        let v = self.raw(name).to_ascii_lowercase();
        choices
            .iter()
            .position(|c| *c == v)
            .ok_or_else(|| self.bad(name, format!("expected one of: {}", choices.join(", "))))
    }

    /// A port list such as `1;7;9;11-13` (see the module docs on separators;
    /// `,` and spaces are read too, for callers that build [`Params`]
    /// directly). Empty text is an empty list.
    pub fn ports(&self, name: &str) -> Result<Vec<u16>, ConfigError> {
        let mut out = Vec::new();
        for part in self
            .raw(name)
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
        {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u16 = a.parse().map_err(|_| self.bad(name, "expected ports"))?;
            let b: u16 = b.parse().map_err(|_| self.bad(name, "expected ports"))?;
            if a > b {
                return Err(self.bad(name, "port range is reversed"));
            }
            out.extend(a..=b);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// A list of networks such as `192.0.2.0/24;198.51.100.0/24` (separators as
    /// for [`Params::ports`]). Empty text is an empty list.
    pub fn cidrs(&self, name: &str) -> Result<Vec<Cidr>, ConfigError> {
        self.raw(name)
            .split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Cidr>().map_err(|e| self.bad(name, e)))
            .collect()
    }

    /// `name:param=value,...` with every parameter, in declaration order.
    pub fn describe(&self) -> String {
        let body: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}:{}", self.detector, body.join(","))
    }
}

/// Splits `name[:param=value,...]` into the name and its pairs.
///
/// Values may not contain `,` themselves; list-valued parameters use `;`
/// (`home_net=192.0.2.0/24;198.51.100.0/24`, see the module docs).
pub fn split_spec(spec: &str) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut pairs = Vec::new();
    for part in rest.split(',').filter(|s| !s.trim().is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| ConfigError::Syntax {
            spec: spec.to_string(),
        })?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    if name.trim().is_empty() {
        return Err(ConfigError::Syntax {
            spec: spec.to_string(),
        });
    }
    Ok((name.trim().to_ascii_lowercase(), pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "threshold",
            default: "5000",
            help: "",
        },
        ParamSpec {
            name: "home_net",
            default: "",
            help: "",
        },
    ];

    #[test]
    fn defaults_and_overrides_resolve_in_declaration_order() {
        let (name, pairs) = split_spec("x:home_net=192.0.2.0/24;10.0.0.0/8").unwrap();
        assert_eq!(name, "x");
        let p = Params::resolve("x", SPECS, &pairs).unwrap();
        assert_eq!(p.u64("threshold").unwrap(), 5000);
        assert_eq!(p.cidrs("home_net").unwrap().len(), 2);
        assert_eq!(
            p.describe(),
            "x:threshold=5000,home_net=192.0.2.0/24;10.0.0.0/8"
        );
    }

    #[test]
    fn unknown_param_lists_valid_ones() {
        let err = Params::resolve("x", SPECS, &[("nope".into(), "1".into())]).unwrap_err();
        assert!(err.to_string().contains("threshold, home_net"), "{err}");
    }

    #[test]
    fn misspelt_names_get_a_suggestion() {
        let err = Params::resolve("x", SPECS, &[("treshold".into(), "1".into())]).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `threshold`?"),
            "{err}"
        );
        let err = Params::resolve("x", SPECS, &[("colour".into(), "1".into())]).unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "192.0.2.77/24".parse().unwrap();
        assert_eq!(c.addr, Ipv4Addr::new(192, 0, 2, 0));
        assert!(c.contains(Ipv4Addr::new(192, 0, 2, 1)));
        assert!(!c.contains(Ipv4Addr::new(192, 0, 3, 1)));
    }
}
