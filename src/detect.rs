//! Running detectors over frames, from a simulation or a capture.

use scanbench_detector::flow::{FlowConfig, Members, SharedFeed, flow_config};
use scanbench_detector::params::split_spec;
use scanbench_detector::registry;
use scanbench_detector::{Alert, Cidr, Detector, Instant, Memory, PacketView, Vantage};

use crate::error::{Error, Result};
use crate::external::runner::ExternalDetector;
use crate::external::{Externals, spec_name};

/// Default configurations every registered detector runs in, plus the named
/// variants the verdict table compares (sense levels, count modes, psad with
/// its conntrack-bug filter off).
pub fn default_suite() -> Vec<String> {
    let mut v: Vec<String> = registry::DETECTORS
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    let variants = [
        "screenos:count_mode=syn-only",
        "screenos:count_mode=no-session-any",
        "sfportscan:sense_level=medium",
        "sfportscan:sense_level=high",
        "psad:ignore_conntrack_bug_pkts=n",
    ];
    for s in variants {
        if registry::build(s).is_ok() {
            v.push(s.to_string());
        }
    }
    v
}

/// One configured detector: a built-in re-implementation, or an external
/// tool (`ext:NAME`) that collects the frames and runs at the end.
pub(crate) enum Slot {
    Builtin(Box<dyn Detector>),
    External(Box<ExternalDetector>),
}

/// What is fed each frame as one: a configured detector, or detectors that
/// read the same vantage through equally configured connection trackers,
/// fed from one tracker (their results are what their own trackers would
/// have given; see [`SharedFeed`]).
pub(crate) struct Unit {
    vantage: Vantage,
    kind: UnitKind,
}

enum UnitKind {
    /// A detector and its position in the set.
    One(usize, Slot),
    /// Detectors sharing a tracker, each knowing its position in the set.
    Shared(Box<SharedFeed>),
}

impl Unit {
    /// The positions in the set of this unit's detectors, in order.
    pub(crate) fn ids(&self) -> Vec<usize> {
        match &self.kind {
            UnitKind::One(i, _) => vec![*i],
            UnitKind::Shared(s) => s.sinks().collect(),
        }
    }

    /// The position of its first detector: where the unit stands in the set.
    pub(crate) fn first(&self) -> usize {
        match &self.kind {
            UnitKind::One(i, _) => *i,
            UnitKind::Shared(s) => s.sinks().next().unwrap_or(0),
        }
    }

    /// Feeds one frame (parsed as `view` from `bytes`) if the unit reads
    /// `vantage`; each detector's alerts go to `alerts[its position]`. An
    /// external tool keeps the bytes for its input file.
    fn observe(
        &mut self,
        vantage: Vantage,
        at: Instant,
        view: &PacketView<'_>,
        bytes: &[u8],
        alerts: &mut [Vec<Alert>],
    ) {
        if self.vantage != vantage {
            return;
        }
        match &mut self.kind {
            UnitKind::One(i, Slot::Builtin(d)) => d.observe(at, view, &mut alerts[*i]),
            UnitKind::One(_, Slot::External(ext)) => ext.observe(at, view, bytes),
            UnitKind::Shared(s) => s.observe(at, view, alerts),
        }
    }

    /// Runs the built-in detectors' timers due by `at`.
    fn flush(&mut self, at: Instant, alerts: &mut [Vec<Alert>]) {
        match &mut self.kind {
            UnitKind::One(i, Slot::Builtin(d)) => d.flush(at, &mut alerts[*i]),
            UnitKind::One(_, Slot::External(_)) => {}
            UnitKind::Shared(s) => s.flush(at, alerts),
        }
    }

    /// The state of the detector at position `i`, if it is in this unit.
    fn memory(&self, i: usize) -> Option<Memory> {
        match &self.kind {
            UnitKind::One(j, Slot::Builtin(d)) => (*j == i).then(|| d.memory()),
            UnitKind::One(j, Slot::External(_)) => (*j == i).then(Memory::default),
            UnitKind::Shared(s) => s.memory(i),
        }
    }
}

/// Groups `slots` (the set's detectors, in order, with their vantages)
/// into units: built-in detectors of one vantage that ask for equal
/// connection trackers are fed from one, standing where the first of them
/// stands; every other detector is a unit by itself.
fn into_units(slots: Vec<Slot>, vantages: &[Vantage]) -> Vec<Unit> {
    let keys: Vec<Option<(Vantage, FlowConfig)>> = slots
        .iter()
        .zip(vantages)
        .map(|(slot, v)| match slot {
            Slot::Builtin(d) => flow_config(d.as_ref()).map(|c| (*v, c)),
            Slot::External(_) => None,
        })
        .collect();
    let shares = |k: &Option<(Vantage, FlowConfig)>| {
        k.is_some() && keys.iter().filter(|o| *o == k).count() > 1
    };
    enum Entry {
        Unit(Unit),
        Group(Vantage, FlowConfig, Members),
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (i, (slot, key)) in slots.into_iter().zip(&keys).enumerate() {
        match (slot, key) {
            (Slot::Builtin(d), Some((v, c))) if shares(key) => {
                let group = entries.iter_mut().find_map(|e| match e {
                    Entry::Group(gv, gc, members) if gv == v && gc == c => Some(members),
                    _ => None,
                });
                match group {
                    Some(members) => members.push((i, d)),
                    None => entries.push(Entry::Group(*v, *c, vec![(i, d)])),
                }
            }
            (slot, _) => entries.push(Entry::Unit(Unit {
                vantage: vantages[i],
                kind: UnitKind::One(i, slot),
            })),
        }
    }
    let mut units = Vec::new();
    for e in entries {
        match e {
            Entry::Unit(u) => units.push(u),
            Entry::Group(vantage, _, members) => match SharedFeed::new(members) {
                Ok(s) => units.push(Unit {
                    vantage,
                    kind: UnitKind::Shared(Box::new(s)),
                }),
                // Unreachable (their configurations were compared above);
                // each then keeps its own tracker.
                Err(members) => units.extend(members.into_iter().map(|(i, d)| Unit {
                    vantage,
                    kind: UnitKind::One(i, Slot::Builtin(d)),
                })),
            },
        }
    }
    units
}

/// A set of configured detectors with the alerts they raised.
pub struct DetectorSet {
    /// The spec each was built from (short form, as given).
    pub specs: Vec<String>,
    units: Vec<Unit>,
    configs: Vec<String>,
    vantages: Vec<Vantage>,
    /// The first external tool that failed, reported after [`Self::finish`].
    error: Option<Error>,
    /// Alerts per detector.
    pub alerts: Vec<Vec<Alert>>,
    /// Frames that were not IPv4 packets.
    pub malformed: u64,
    last: Instant,
}

impl DetectorSet {
    /// Builds every spec (`name[:param=value,...]`; `ext:NAME` from the
    /// built-in external definitions).
    ///
    /// # Errors
    /// As [`Self::with_externals`].
    pub fn new(specs: &[String]) -> Result<Self> {
        Self::with_externals(specs, Externals::builtin())
    }

    /// Builds every spec, `ext:NAME` ones from `externals`.
    ///
    /// # Errors
    /// An unknown detector or parameter, listing the valid ones; an
    /// unknown external definition; an external tool's scratch files.
    pub fn with_externals(specs: &[String], externals: &Externals) -> Result<Self> {
        let mut slots = Vec::new();
        let mut configs = Vec::new();
        let mut vantages = Vec::new();
        for s in specs {
            if let Some(name) = spec_name(s) {
                let def = externals.find(name).ok_or_else(|| Error::External {
                    tool: name.to_string(),
                    message: format!(
                        "no such external detector; known: {} (more with --detector-file)",
                        externals.names()
                    ),
                })?;
                configs.push(def.config());
                vantages.push(def.vantage);
                let ext = ExternalDetector::new(def.clone(), externals)?;
                slots.push(Slot::External(Box::new(ext)));
                continue;
            }
            let inst = registry::build(s)?;
            configs.push(inst.config.clone());
            vantages.push(inst.detector.vantage());
            slots.push(Slot::Builtin(inst.detector));
        }
        Ok(DetectorSet {
            specs: specs.to_vec(),
            alerts: vec![Vec::new(); slots.len()],
            units: into_units(slots, &vantages),
            configs,
            vantages,
            error: None,
            malformed: 0,
            last: Instant::ZERO,
        })
    }

    /// Builds every spec for a site whose networks are `home_net` (given to
    /// each detector with a home-network parameter its spec leaves unset).
    ///
    /// # Errors
    /// As [`DetectorSet::new`].
    pub fn for_site(specs: &[String], home_net: &[Cidr]) -> Result<Self> {
        Self::for_site_with(specs, home_net, Externals::builtin())
    }

    /// [`Self::for_site`], `ext:NAME` specs from `externals`.
    ///
    /// # Errors
    /// As [`DetectorSet::with_externals`].
    pub fn for_site_with(
        specs: &[String],
        home_net: &[Cidr],
        externals: &Externals,
    ) -> Result<Self> {
        let configured: Vec<String> = specs
            .iter()
            .map(|s| with_home_net(s, home_net))
            .collect::<Result<_>>()?;
        DetectorSet::with_externals(&configured, externals)
    }

    /// Full configuration text of detector `i`.
    pub fn config(&self, i: usize) -> &str {
        &self.configs[i]
    }

    /// Whether detector `i` reads the wire or a drop log.
    pub fn vantage(&self, i: usize) -> Vantage {
        self.vantages[i]
    }

    /// Detector `i`'s state against its memcap (evictions so far).
    /// An external tool's state is its own: it reports none.
    pub fn memory(&self, i: usize) -> Memory {
        self.units
            .iter()
            .find_map(|u| u.memory(i))
            .unwrap_or_default()
    }

    /// Feeds one frame seen at `vantage` to the detectors that read it.
    pub fn observe(&mut self, vantage: Vantage, at: Instant, frame: u64, bytes: &[u8]) {
        match PacketView::parse(frame, bytes) {
            Ok(view) => self.observe_view(vantage, at, &view, bytes),
            Err(_) => self.malformed += 1,
        }
    }

    /// Feeds one frame already parsed (once, for every detector) from
    /// `bytes` to the detectors that read `vantage`.
    pub fn observe_view(
        &mut self,
        vantage: Vantage,
        at: Instant,
        view: &PacketView<'_>,
        bytes: &[u8],
    ) {
        self.last = self.last.max(at);
        observe_all(&mut self.units, &mut self.alerts, vantage, at, view, bytes);
    }

    /// How many units the detectors are fed as (detectors sharing a
    /// connection tracker are one).
    pub(crate) fn units(&self) -> usize {
        self.units.len()
    }

    /// Takes the detectors out, to run them elsewhere (see [`crate::fanout`]).
    pub(crate) fn take_units(&mut self) -> Vec<Unit> {
        std::mem::take(&mut self.units)
    }

    /// Puts back detectors taken by [`Self::take_units`], in their original
    /// order, with the alerts they raised meanwhile and the time of the last
    /// frame they were fed.
    pub(crate) fn restore(&mut self, units: Vec<Unit>, alerts: Vec<Vec<Alert>>, last: Instant) {
        self.units = units;
        self.alerts = alerts;
        self.last = self.last.max(last);
    }

    /// How long past the end of the input timers still run: real sensors keep
    /// running after the last packet, so checks due shortly after it (psad's
    /// 5 s check interval, Zeek's 5 s attempt delay and 5 min inactivity
    /// timeout) still report.
    pub const DRAIN: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(600);

    /// Runs the timers due by `at` (a live sensor's clock moving on while no
    /// packet arrives); `at` must not go backwards. External tools run only
    /// at [`Self::finish`].
    pub fn flush(&mut self, at: Instant) {
        self.last = self.last.max(at);
        for u in &mut self.units {
            u.flush(self.last, &mut self.alerts);
        }
    }

    /// Runs pending timers at the end of the input (plus [`Self::DRAIN`]),
    /// and runs the external tools over what they collected (a failure is
    /// kept for [`Self::take_error`]).
    pub fn finish(&mut self, at: Instant) {
        let end = at.max(self.last).total_micros();
        let at = Instant::from_micros(end.saturating_add(Self::DRAIN.total_micros() as i64));
        for u in &mut self.units {
            match &mut u.kind {
                UnitKind::One(i, Slot::External(ext)) => match ext.finish() {
                    Ok(alerts) => self.alerts[*i].extend(alerts),
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                },
                _ => u.flush(at, &mut self.alerts),
            }
        }
    }

    /// The first external tool failure of [`Self::finish`], if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

/// Feeds `view` to each of `units` that reads `vantage`, appending to each
/// detector's alerts (`alerts[its position in the set]`): the one loop both
/// the inline and the threaded paths run.
pub(crate) fn observe_all(
    units: &mut [Unit],
    alerts: &mut [Vec<Alert>],
    vantage: Vantage,
    at: Instant,
    view: &PacketView<'_>,
    bytes: &[u8],
) {
    for u in units {
        u.observe(vantage, at, view, bytes, alerts);
    }
}

/// Detector parameters that name the protected site's networks.
const HOME_NET_PARAMS: &[&str] = &["home_net", "local_nets"];

/// Gives `spec` the site's networks `home_net` when its detector has a
/// home-network parameter that the spec leaves at its default. Specs that set
/// it, detectors without one, and an empty `home_net` are returned unchanged.
///
/// # Errors
/// A malformed spec or unknown detector.
pub fn with_home_net(spec: &str, home_net: &[Cidr]) -> Result<String> {
    if home_net.is_empty() || spec_name(spec).is_some() {
        return Ok(spec.to_string());
    }
    let (name, pairs) = split_spec(spec)?;
    let Some(info) = registry::DETECTORS.iter().find(|d| d.name == name) else {
        // Let the registry produce its error listing the valid names.
        registry::build(spec)?;
        return Ok(spec.to_string());
    };
    let Some(param) = info
        .params
        .iter()
        .find(|p| HOME_NET_PARAMS.contains(&p.name))
    else {
        return Ok(spec.to_string());
    };
    if pairs.iter().any(|(k, _)| k == param.name) {
        return Ok(spec.to_string());
    }
    let nets: Vec<String> = home_net.iter().map(|c| c.to_string()).collect();
    let sep = if spec.contains(':') { "," } else { ":" };
    Ok(format!("{spec}{sep}{}={}", param.name, nets.join(";")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    /// Each unit's detectors, by spec.
    fn units(s: &[&str]) -> Vec<Vec<String>> {
        let set = DetectorSet::new(&specs(s)).expect("specs build");
        set.units
            .iter()
            .map(|u| u.ids().into_iter().map(|i| set.specs[i].clone()).collect())
            .collect()
    }

    /// Detectors asking for equal trackers are fed as one unit, standing
    /// where the first of them stands; the rest keep their own.
    #[test]
    fn equal_trackers_make_one_unit() {
        assert_eq!(
            units(&["scanlogd", "trw", "trw-packet", "zeek-scan"]),
            [
                vec!["scanlogd"],
                vec!["trw", "zeek-scan"],
                vec!["trw-packet"]
            ]
        );
        let suite = default_suite();
        let set = DetectorSet::new(&suite).expect("the suite builds");
        assert_eq!(set.units(), suite.len() - 1, "trw and zeek-scan share");
    }

    /// A parameter that changes the tracker (not the name) keeps a detector
    /// on its own tracker; two configurations asking for the same one share.
    #[test]
    fn differing_trackers_stay_apart() {
        for other in [
            "zeek-scan:tcp_attempt_delay=3",
            "zeek-scan:tcp_inactivity_timeout=60",
            "zeek-scan:memcap=131072",
        ] {
            assert_eq!(units(&["trw", other]), [vec!["trw"], vec![other]]);
        }
        assert_eq!(
            units(&[
                "trw:memcap=131072",
                "zeek-scan",
                "zeek-scan:memcap=131072,port_scan_threshold=3",
                "trw"
            ]),
            [
                vec![
                    "trw:memcap=131072",
                    "zeek-scan:memcap=131072,port_scan_threshold=3"
                ],
                vec!["zeek-scan", "trw"]
            ]
        );
    }

    /// Every detector's memory is found in its unit, as its own.
    #[test]
    fn memory_is_reported_per_detector() {
        let set = DetectorSet::new(&specs(&[
            "trw",
            "zeek-scan:memcap=131072",
            "trw:memcap=131072",
        ]))
        .expect("specs build");
        assert_eq!(set.units(), 2);
        let own = |s: &str| registry::build(s).unwrap().detector.memory();
        assert_eq!(set.memory(0), own("trw"));
        assert_eq!(set.memory(1), own("zeek-scan:memcap=131072"));
        assert_eq!(set.memory(2), own("trw:memcap=131072"));
    }
}
