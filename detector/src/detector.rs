//! The [`Detector`] trait every algorithm implements, where it reads
//! ([`Vantage`]), and the static descriptor ([`DetectorInfo`]) each detector
//! module exports for the registry.

use crate::flow::ConnConsumer;
use crate::params::{ConfigError, ParamSpec, Params};
use crate::{Alert, Instant, PacketView};

/// Where a detector reads its packets, mirroring where the real tool sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vantage {
    /// Every packet crossing a link tap, both directions (Snort, Zeek, scanlogd, an inline screen).
    Wire,
    /// Only packets a firewall dropped and logged (psad reads iptables LOG lines).
    DropLog,
}

/// A port-scan detection algorithm.
///
/// Push model, as in a real sensor: the caller hands over packets in capture
/// order with their timestamps, and the detector appends alerts to a sink the
/// caller owns (no allocation per call when nothing fires). Time only moves
/// through `now`; timers that would fire with no packet arriving are run by
/// [`Detector::flush`], which the caller calls at the end of the capture (and
/// may call at any time, with a non-decreasing `now`).
pub trait Detector: Send {
    /// Registry name (`screenos`, `scanlogd`, ...), copied into every alert.
    fn name(&self) -> &'static str;

    /// Where this detector reads packets. Most read the wire.
    fn vantage(&self) -> Vantage {
        Vantage::Wire
    }

    /// Observes one packet captured at `now`.
    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>);

    /// Runs timers due at or before `now` (window expiry, pending attempts).
    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        let _ = (now, out);
    }

    /// The detector's state against its memcap: every detector bounds its
    /// tables (see [`crate::state`]) and counts what it dropped to stay
    /// under the bound.
    fn memory(&self) -> Memory;

    /// This detector without its connection tracker, if it acts only on a
    /// tracker's events ([`crate::flow::Tracked`]): a detector set may then
    /// feed it from one tracker shared with others that ask for an equal
    /// tracker ([`crate::flow::SharedFeed`]).
    fn consumer(&self) -> Option<&dyn ConnConsumer> {
        None
    }

    /// [`Self::consumer`], to feed it.
    fn consumer_mut(&mut self) -> Option<&mut dyn ConnConsumer> {
        None
    }
}

/// A detector's state against its memcap, as the report shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// The bound on the detector's state, in bytes, at its documented
    /// per-entry costs (the `memcap` parameter, or what a fixed-size table
    /// such as scanlogd's `LIST_SIZE` amounts to).
    pub memcap: u64,
    /// The most bytes the state was charged at once.
    pub peak: u64,
    /// Entries dropped to stay under the memcap (the oldest first).
    pub evictions: u64,
}

impl Memory {
    /// The memory of one [`crate::state::TimedMap`].
    pub fn of<K: Ord + std::hash::Hash + Clone, V>(m: &crate::state::TimedMap<K, V>) -> Self {
        Memory {
            memcap: m.cap(),
            peak: m.peak(),
            evictions: m.evictions(),
        }
    }
}

impl core::ops::Add for Memory {
    type Output = Memory;
    /// The memory of two tables of one detector: caps, peaks and evictions
    /// add up (the peaks may not have been at the same time, so the sum is
    /// an upper bound).
    fn add(self, o: Memory) -> Memory {
        Memory {
            memcap: self.memcap.saturating_add(o.memcap),
            peak: self.peak.saturating_add(o.peak),
            evictions: self.evictions.saturating_add(o.evictions),
        }
    }
}

/// Static description of one detector, and how to build it from parameters.
pub struct DetectorInfo {
    /// Registry name, used on the command line (`screenos`, `scanlogd`, ...).
    pub name: &'static str,
    /// One line: what upstream tool or paper this re-implements.
    pub summary: &'static str,
    /// Parameters with upstream defaults, in the order they are printed.
    pub params: &'static [ParamSpec],
    /// Builds an instance from resolved parameters.
    pub build: fn(&Params) -> Result<Box<dyn Detector>, ConfigError>,
}

impl DetectorInfo {
    /// Builds an instance from `param=value` pairs (upstream names; defaults
    /// fill the rest).
    ///
    /// # Errors
    /// An unknown parameter (listing the valid ones) or a bad value.
    pub fn configure(&self, pairs: &[(String, String)]) -> Result<Instance, ConfigError> {
        let params = Params::resolve(self.name, self.params, pairs)?;
        Ok(Instance {
            detector: (self.build)(&params)?,
            config: params.describe(),
        })
    }
}

/// A configured detector instance, with its full configuration text.
pub struct Instance {
    /// The detector.
    pub detector: Box<dyn Detector>,
    /// `name:param=value,...` with every parameter (defaults filled in).
    pub config: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.config)
    }
}
