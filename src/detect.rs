//! Running detectors over frames, from a simulation or a capture.

use scanbench_detector::Instance;
use scanbench_detector::params::split_spec;
use scanbench_detector::registry;
use scanbench_detector::{Alert, Cidr, Instant, PacketView, Vantage};

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
    Builtin(Instance),
    External(Box<ExternalDetector>),
}

impl Slot {
    /// Feeds one frame (parsed as `view` from `bytes`); an external tool
    /// keeps the bytes for its input file.
    fn observe(&mut self, at: Instant, view: &PacketView<'_>, bytes: &[u8], out: &mut Vec<Alert>) {
        match self {
            Slot::Builtin(inst) => inst.detector.observe(at, view, out),
            Slot::External(ext) => ext.observe(at, view, bytes),
        }
    }
}

/// A set of configured detectors with the alerts they raised.
pub struct DetectorSet {
    /// The spec each was built from (short form, as given).
    pub specs: Vec<String>,
    instances: Vec<Slot>,
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
        let mut instances = Vec::new();
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
                instances.push(Slot::External(Box::new(ext)));
                continue;
            }
            let inst = registry::build(s)?;
            configs.push(inst.config.clone());
            vantages.push(inst.detector.vantage());
            instances.push(Slot::Builtin(inst));
        }
        Ok(DetectorSet {
            specs: specs.to_vec(),
            alerts: vec![Vec::new(); instances.len()],
            instances,
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
    pub fn memory(&self, i: usize) -> scanbench_detector::Memory {
        match &self.instances[i] {
            Slot::Builtin(inst) => inst.detector.memory(),
            Slot::External(_) => scanbench_detector::Memory::default(),
        }
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
        observe_all(
            &mut self.instances,
            &self.vantages,
            &mut self.alerts,
            vantage,
            at,
            view,
            bytes,
        );
    }

    /// Takes the detectors out, to run them elsewhere (see [`crate::fanout`]).
    pub(crate) fn take_instances(&mut self) -> Vec<Slot> {
        std::mem::take(&mut self.instances)
    }

    /// Puts back detectors taken by [`Self::take_instances`], in their
    /// original order, with the alerts they raised meanwhile and the time of
    /// the last frame they were fed.
    pub(crate) fn restore(&mut self, instances: Vec<Slot>, alerts: Vec<Vec<Alert>>, last: Instant) {
        self.instances = instances;
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
        for (i, slot) in self.instances.iter_mut().enumerate() {
            if let Slot::Builtin(inst) = slot {
                inst.detector.flush(self.last, &mut self.alerts[i]);
            }
        }
    }

    /// Runs pending timers at the end of the input (plus [`Self::DRAIN`]),
    /// and runs the external tools over what they collected (a failure is
    /// kept for [`Self::take_error`]).
    pub fn finish(&mut self, at: Instant) {
        let end = at.max(self.last).total_micros();
        let at = Instant::from_micros(end.saturating_add(Self::DRAIN.total_micros() as i64));
        for (i, slot) in self.instances.iter_mut().enumerate() {
            match slot {
                Slot::Builtin(inst) => inst.detector.flush(at, &mut self.alerts[i]),
                Slot::External(ext) => match ext.finish() {
                    Ok(alerts) => self.alerts[i].extend(alerts),
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                },
            }
        }
    }

    /// The first external tool failure of [`Self::finish`], if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

/// Feeds `view` to each of `instances` that reads `vantage`, appending to its
/// alerts: the one loop both the inline and the threaded paths run.
pub(crate) fn observe_all(
    instances: &mut [Slot],
    vantages: &[Vantage],
    alerts: &mut [Vec<Alert>],
    vantage: Vantage,
    at: Instant,
    view: &PacketView<'_>,
    bytes: &[u8],
) {
    for ((slot, v), out) in instances.iter_mut().zip(vantages).zip(alerts) {
        if *v == vantage {
            slot.observe(at, view, bytes, out);
        }
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
