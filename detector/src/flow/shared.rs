//! Detectors that act only on a tracker's connection events, and one
//! tracker feeding several of them.
//!
//! TRW and Zeek's `scan.zeek` look at packets only through the connection
//! events of a [`FlowTracker`](super::FlowTracker). The tracker is a
//! function of its [`FlowConfig`] and of the calls it gets (packets and
//! timer runs, in order): two trackers with equal configurations fed the
//! same calls hold the same connections, fire the same events, evict the
//! same connections and charge the same bytes. A detector set feeds all its
//! detectors of one vantage the same calls, so detectors whose trackers are
//! configured alike can be fed from one tracker ([`SharedFeed`]) with
//! nothing changed but the work: each still reports its own memcap, peak
//! and evictions (the shared tracker's, which are what its own tracker's
//! would have been, plus its own tables').
//!
//! Whether two detectors share is decided from the tracker configurations
//! they ask for ([`ConnConsumer::flow_config`], compared whole), not from
//! their names: a `trw` whose memcap differs from `zeek-scan`'s keeps its
//! own tracker.

use super::{ConnEvent, ConnFeed, FlowConfig};
use crate::{Alert, Detector, Instant, Memory, PacketView};

/// The part of a detector that acts on connection events: everything but
/// the tracker.
pub trait ConnConsumer: Send {
    /// Registry name, as [`Detector::name`].
    fn name(&self) -> &'static str;

    /// The tracker this detector reads (timeouts and memcap).
    fn flow_config(&self) -> FlowConfig;

    /// The events of one packet captured at `now`: those of timers due by
    /// `now`, then the packet's own.
    fn on_packet(&mut self, now: Instant, events: &[ConnEvent], out: &mut Vec<Alert>);

    /// The events of the timers a flush at `now` ran.
    fn on_timers(&mut self, now: Instant, events: &[ConnEvent], out: &mut Vec<Alert>);

    /// This detector's own tables against their memcaps (without the
    /// tracker's).
    fn memory(&self) -> Memory;
}

/// A [`ConnConsumer`] over a tracker of its own: a whole [`Detector`].
#[derive(Debug)]
pub struct Tracked<C> {
    feed: ConnFeed,
    consumer: C,
}

impl<C: ConnConsumer> Tracked<C> {
    /// `consumer` over a fresh tracker configured as it asks.
    pub fn new(consumer: C) -> Self {
        Tracked {
            feed: ConnFeed::new(consumer.flow_config()),
            consumer,
        }
    }

    /// The detector without its tracker.
    pub fn inner(&self) -> &C {
        &self.consumer
    }
}

impl<C: ConnConsumer> Detector for Tracked<C> {
    fn name(&self) -> &'static str {
        self.consumer.name()
    }

    fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, out: &mut Vec<Alert>) {
        let events = self.feed.observe(now, pkt);
        self.consumer.on_packet(now, events, out);
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Alert>) {
        let events = self.feed.advance(now);
        self.consumer.on_timers(now, events, out);
    }

    fn memory(&self) -> Memory {
        self.feed.memory() + self.consumer.memory()
    }

    fn consumer(&self) -> Option<&dyn ConnConsumer> {
        Some(&self.consumer)
    }

    fn consumer_mut(&mut self) -> Option<&mut dyn ConnConsumer> {
        Some(&mut self.consumer)
    }
}

/// The tracker configuration `d` reads its packets through, if it acts only
/// on connection events: detectors (of one vantage) with equal ones may
/// share a [`SharedFeed`].
pub fn flow_config(d: &dyn Detector) -> Option<FlowConfig> {
    d.consumer().map(ConnConsumer::flow_config)
}

/// Detectors, each with the index of the sink its alerts go to.
pub type Members = Vec<(usize, Box<dyn Detector>)>;

/// Detectors fed by one tracker, each writing its alerts to its own sink.
///
/// Each member keeps the tracker it was built with, unused (an empty table
/// and timer queue: no entries, no heap).
pub struct SharedFeed {
    feed: ConnFeed,
    /// Each member with the index of its sink in the slices that
    /// [`Self::observe`] and [`Self::flush`] take.
    members: Members,
}

impl std::fmt::Debug for SharedFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFeed")
            .field("feed", &self.feed)
            .field("sinks", &self.sinks().collect::<Vec<_>>())
            .finish()
    }
}

impl SharedFeed {
    /// One tracker for `members` (each with its sink index), if every one
    /// acts only on connection events and all ask for the same tracker;
    /// otherwise the members are handed back.
    ///
    /// # Errors
    /// The members, unchanged, if they cannot share.
    pub fn new(members: Members) -> Result<Self, Members> {
        let mut cfgs = members.iter().map(|(_, d)| flow_config(d.as_ref()));
        let Some(Some(cfg)) = cfgs.next() else {
            return Err(members);
        };
        if !cfgs.all(|c| c == Some(cfg)) {
            return Err(members);
        }
        Ok(SharedFeed {
            feed: ConnFeed::new(cfg),
            members,
        })
    }

    /// The members' sink indices, in member order.
    pub fn sinks(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().map(|(s, _)| *s)
    }

    /// One packet to every member; member `k`'s alerts go to
    /// `sinks[its sink index]`.
    pub fn observe(&mut self, now: Instant, pkt: &PacketView<'_>, sinks: &mut [Vec<Alert>]) {
        let events = self.feed.observe(now, pkt);
        for (sink, d) in &mut self.members {
            if let (Some(c), Some(out)) = (d.consumer_mut(), sinks.get_mut(*sink)) {
                c.on_packet(now, events, out);
            }
        }
    }

    /// Runs the timers due by `now` for every member (as
    /// [`Detector::flush`]).
    pub fn flush(&mut self, now: Instant, sinks: &mut [Vec<Alert>]) {
        let events = self.feed.advance(now);
        for (sink, d) in &mut self.members {
            if let (Some(c), Some(out)) = (d.consumer_mut(), sinks.get_mut(*sink)) {
                c.on_timers(now, events, out);
            }
        }
    }

    /// The state of the member whose sink index is `sink`, as its own
    /// [`Detector::memory`] would have been over a tracker of its own: the
    /// tracker's table plus its own tables.
    pub fn memory(&self, sink: usize) -> Option<Memory> {
        let (_, d) = self.members.iter().find(|(s, _)| *s == sink)?;
        d.consumer().map(|c| self.feed.memory() + c.memory())
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::registry;
    use crate::testutil::*;

    /// What a stream does: a packet (from the remote side or the local
    /// side, with flags and maybe payload) or a timer run, after a pause.
    #[derive(Clone, Debug)]
    enum Step {
        Packet { pause_us: i64, packet: Packet },
        Flush { pause_us: i64 },
    }

    /// A TCP segment between remote 198.51.100.`remote` and local
    /// 10.0.0.`local`, on a service port chosen by `port`.
    #[derive(Clone, Debug)]
    struct Packet {
        remote: u8,
        local: u8,
        port: u16,
        from_remote: bool,
        flags: u8,
        payload: bool,
    }

    fn pause() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => 0i64..2_000_000,
            1 => 0i64..400_000_000,
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        let flags = prop::sample::select(vec![S, S, SA, RA, R, A, FA, PA]);
        prop_oneof![
            12 => (pause(), 0u8..4, 1u8..40, 0u16..24, any::<bool>(), flags, any::<bool>())
                .prop_map(|(pause_us, remote, local, port, from_remote, flags, payload)| {
                    let packet = Packet { remote, local, port, from_remote, flags, payload };
                    Step::Packet { pause_us, packet }
                }),
            1 => pause().prop_map(|pause_us| Step::Flush { pause_us }),
        ]
    }

    impl Packet {
        fn bytes(&self) -> Vec<u8> {
            let r = Ipv4Addr::new(198, 51, 100, self.remote);
            let l = Ipv4Addr::new(10, 0, 0, self.local);
            // A few likely server ports among them, for role flipping.
            let service = [22, 80, 443, 8080][usize::from(self.port % 4)] + self.port / 4 * 1000;
            let client = 40000 + u16::from(self.remote);
            let (src, sport, dst, dport) = if self.from_remote {
                (r, client, l, service)
            } else {
                (l, service, r, client)
            };
            let seg = TcpSeg::new(src, sport, dst, dport, self.flags);
            if self.payload {
                seg.payload(b"x").bytes()
            } else {
                seg.bytes()
            }
        }
    }

    /// Alerts per detector and each one's memory, after `steps` and the
    /// end-of-input flush: fed to `specs` built each with its own tracker,
    /// or to all of them over one [`SharedFeed`].
    fn run(specs: &[&str], shared: bool, steps: &[Step]) -> (Vec<Vec<Alert>>, Vec<Memory>) {
        let built: Vec<Box<dyn Detector>> = specs
            .iter()
            .map(|s| registry::build(s).expect("test spec").detector)
            .collect();
        let mut sinks = vec![Vec::new(); specs.len()];
        enum Fed {
            Own(Vec<Box<dyn Detector>>),
            One(Box<SharedFeed>),
        }
        let mut fed = if shared {
            let members = built.into_iter().enumerate().collect();
            let Ok(s) = SharedFeed::new(members) else {
                panic!("{specs:?}: equal trackers share");
            };
            Fed::One(Box::new(s))
        } else {
            Fed::Own(built)
        };
        let (mut t, mut frame) = (0i64, 0u64);
        let mut at = |fed: &mut Fed, sinks: &mut Vec<Vec<Alert>>, now: i64, pkt: Option<&[u8]>| {
            let now = Instant::from_micros(now);
            match (fed, pkt) {
                (Fed::Own(ds), Some(b)) => {
                    let v = PacketView::parse(frame, b).expect("test packet parses");
                    for (d, out) in ds.iter_mut().zip(sinks.iter_mut()) {
                        d.observe(now, &v, out);
                    }
                }
                (Fed::Own(ds), None) => {
                    for (d, out) in ds.iter_mut().zip(sinks.iter_mut()) {
                        d.flush(now, out);
                    }
                }
                (Fed::One(s), Some(b)) => {
                    let v = PacketView::parse(frame, b).expect("test packet parses");
                    s.observe(now, &v, sinks);
                }
                (Fed::One(s), None) => s.flush(now, sinks),
            }
            frame += u64::from(pkt.is_some());
        };
        for s in steps {
            match s {
                Step::Packet { pause_us, packet } => {
                    t += *pause_us;
                    at(&mut fed, &mut sinks, t, Some(&packet.bytes()));
                }
                Step::Flush { pause_us } => {
                    t += *pause_us;
                    at(&mut fed, &mut sinks, t, None);
                }
            }
        }
        at(&mut fed, &mut sinks, t + 3_600_000_000, None);
        let memory = match &fed {
            Fed::Own(ds) => ds.iter().map(|d| d.memory()).collect(),
            Fed::One(s) => (0..specs.len())
                .map(|i| s.memory(i).expect("a member"))
                .collect(),
        };
        (sinks, memory)
    }

    /// The default pair, and the smallest memcap (25 connections in the
    /// table: evictions all the time), with a third member that repeats one.
    const SETS: &[&[&str]] = &[
        &["trw", "zeek-scan"],
        &[
            "trw:memcap=65536",
            "zeek-scan:memcap=65536",
            "trw:memcap=65536",
        ],
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// One tracker gives every member the alerts (evidence included)
        /// and the memcap, peak and evictions its own tracker gave it.
        #[test]
        fn a_shared_tracker_changes_nothing(steps in prop::collection::vec(step(), 1..400)) {
            for specs in SETS {
                let own = run(specs, false, &steps);
                let one = run(specs, true, &steps);
                prop_assert_eq!(&own.0, &one.0, "{:?}: alerts", specs);
                prop_assert_eq!(&own.1, &one.1, "{:?}: memory", specs);
            }
        }
    }

    /// The property above is not vacuous: a scan through the smallest
    /// table both alerts and evicts, and the shared tracker agrees.
    #[test]
    fn a_scan_under_memcap_pressure_alerts_and_evicts_alike() {
        let mut steps = Vec::new();
        for remote in 1..4u8 {
            for local in 1..40u8 {
                for port in 0..24u16 {
                    let probe = |from_remote, flags| Step::Packet {
                        pause_us: 250_000,
                        packet: Packet {
                            remote,
                            local,
                            port,
                            from_remote,
                            flags,
                            payload: false,
                        },
                    };
                    steps.push(probe(true, S));
                    if port % 3 != 0 {
                        steps.push(probe(false, RA));
                    }
                }
            }
        }
        let specs = SETS[1];
        let own = run(specs, false, &steps);
        let one = run(specs, true, &steps);
        assert_eq!(own, one);
        for (spec, (alerts, memory)) in specs.iter().zip(own.0.iter().zip(&own.1)) {
            assert!(!alerts.is_empty(), "{spec}: no alert");
            assert!(memory.evictions > 0, "{spec}: no eviction: {memory:?}");
        }
    }

    /// Sharing is decided from the tracker each asks for: a parameter that
    /// changes the tracker keeps a detector on its own, and a detector that
    /// reads packets itself never shares.
    #[test]
    fn differing_trackers_are_not_shared() {
        let build = |s: &str| registry::build(s).unwrap().detector;
        let pairs = [
            ("trw", "zeek-scan:tcp_attempt_delay=3"),
            ("trw", "zeek-scan:tcp_inactivity_timeout=60"),
            ("trw:memcap=131072", "zeek-scan"),
            ("trw", "trw-packet"),
            ("trw", "bro1-scan"),
        ];
        for (a, b) in pairs {
            let members = vec![(0, build(a)), (1, build(b))];
            let Err(back) = SharedFeed::new(members) else {
                panic!("{a} and {b} must not share a tracker");
            };
            assert_eq!(back.len(), 2, "{a}, {b}: members handed back");
        }
        let same = [
            ("trw", "zeek-scan"),
            (
                "trw:memcap=131072",
                "zeek-scan:memcap=131072,tcp_attempt_delay=5",
            ),
            (
                "trw:home_net=192.0.2.0/24",
                "zeek-scan:port_scan_threshold=3",
            ),
        ];
        for (a, b) in same {
            assert!(
                SharedFeed::new(vec![(0, build(a)), (1, build(b))]).is_ok(),
                "{a} and {b} ask for the same tracker"
            );
        }
    }
}
