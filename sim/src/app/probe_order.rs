//! The order a scan probes its (target, port) pairs in, generated one pair at
//! a time so that memory does not grow with targets × ports.
//!
//! nmap randomizes the order. Up to [`MATERIALIZE_MAX`] pairs the list is
//! built and shuffled at once, drawing from the scan's random stream exactly
//! as the scanners always have (so existing captures stay byte-identical).
//! Above it, the order is a keyed pseudo-random permutation of the pair
//! indices (a four-round Feistel network over the next even power of two,
//! cycle-walked into range), costing O(1) memory and O(1) expected time per
//! probe whatever the size: a /16 × all ports is 4.3 × 10^9 pairs, which as
//! a list would be 34 GB. Without randomization the pairs come in order,
//! targets outer and ports inner, both ways.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use rand::RngExt;
use rand::seq::SliceRandom;

use super::syn_scan::ScanSpec;
use crate::rng::SimRng;

/// Largest pair count built as a list (8 bytes a pair: 8 MiB).
pub const MATERIALIZE_MAX: u64 = 1 << 20;

/// One round of a scan's probe order.
pub(crate) struct ProbeOrder {
    kind: Kind,
}

enum Kind {
    /// Built and shuffled at once, consumed from the front.
    List(VecDeque<(Ipv4Addr, u16)>),
    /// Index `next` of `n`, mapped through `perm` when randomized.
    Lazy {
        next: u64,
        n: u64,
        perm: Option<Permutation>,
    },
}

impl ProbeOrder {
    /// The order for one pass over `spec`'s targets and ports, drawing from `rng`.
    pub(crate) fn new(spec: &ScanSpec, rng: &mut SimRng) -> Self {
        let n = pairs(spec);
        let kind = if spec.randomize && n <= MATERIALIZE_MAX {
            let mut list: Vec<(Ipv4Addr, u16)> = spec
                .targets
                .iter()
                .flat_map(|t| spec.ports.iter().map(move |p| (*t, *p)))
                .collect();
            list.shuffle(rng);
            Kind::List(list.into())
        } else {
            Kind::Lazy {
                next: 0,
                n,
                perm: spec.randomize.then(|| Permutation::new(n, rng)),
            }
        };
        ProbeOrder { kind }
    }

    /// An order with nothing left in it.
    pub(crate) fn empty() -> Self {
        ProbeOrder {
            kind: Kind::List(VecDeque::new()),
        }
    }

    /// True when every pair has been handed out.
    pub(crate) fn is_empty(&self) -> bool {
        match &self.kind {
            Kind::List(l) => l.is_empty(),
            Kind::Lazy { next, n, .. } => next >= n,
        }
    }

    /// The next pair to probe.
    pub(crate) fn next(&mut self, spec: &ScanSpec) -> Option<(Ipv4Addr, u16)> {
        match &mut self.kind {
            Kind::List(l) => l.pop_front(),
            Kind::Lazy { next, n, perm } => {
                if *next >= *n {
                    return None;
                }
                let i = perm.as_ref().map_or(*next, |p| p.apply(*next));
                *next += 1;
                let ports = spec.ports.len() as u64;
                let t = spec.targets.get(usize::try_from(i / ports).ok()?)?;
                let p = spec.ports.get(usize::try_from(i % ports).ok()?)?;
                Some((*t, *p))
            }
        }
    }
}

/// Targets × ports of one pass (at most 2^52: 2^20 targets × 2^16 ports).
fn pairs(spec: &ScanSpec) -> u64 {
    (spec.targets.len() as u64).saturating_mul(spec.ports.len() as u64)
}

/// A keyed bijection of `0..n`: a balanced Feistel network on `2 * half`
/// bits, applied again while the result is `>= n` (cycle walking; the
/// domain is less than 4n, so fewer than 4 steps on average).
struct Permutation {
    n: u64,
    half: u32,
    keys: [u64; 4],
}

impl Permutation {
    fn new(n: u64, rng: &mut SimRng) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half = bits.div_ceil(2).max(1);
        Permutation {
            n,
            half,
            keys: [rng.random(), rng.random(), rng.random(), rng.random()],
        }
    }

    fn round(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let (mut l, mut r) = (x >> self.half, x & mask);
        for k in self.keys {
            let f = splitmix(r ^ k) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half) | r
    }

    fn apply(&self, i: u64) -> u64 {
        let mut x = self.round(i);
        while x >= self.n {
            x = self.round(x);
        }
        x
    }
}

/// SplitMix64's finaliser: a fast, well-mixing 64-bit hash.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::app::syn_scan::Timing;
    use crate::rng::stream;

    fn spec(targets: u32, ports: u16, randomize: bool) -> ScanSpec {
        ScanSpec {
            targets: (0..targets)
                .map(|i| Ipv4Addr::from(0x0a00_0000 + i))
                .collect(),
            ports: (1..=ports).collect(),
            timing: Timing::parse("T3").expect("T3"),
            start: smoltcp::time::Instant::ZERO,
            randomize,
            repeat: 1,
        }
    }

    fn drain(spec: &ScanSpec, seed: u64) -> Vec<(Ipv4Addr, u16)> {
        let mut o = ProbeOrder::new(spec, &mut stream(seed, "scan"));
        std::iter::from_fn(|| o.next(spec)).collect()
    }

    #[test]
    fn every_pair_exactly_once_both_ways() {
        // 2000 x 600 = 1.2 M pairs: above the list threshold, so lazy.
        for s in [
            spec(2000, 600, true),
            spec(3, 7, true),
            spec(2000, 600, false),
        ] {
            let all = drain(&s, 7);
            assert_eq!(all.len() as u64, pairs(&s));
            let mut seen = vec![false; all.len()];
            for (t, p) in all {
                let i = (u32::from(t) - 0x0a00_0000) as usize * s.ports.len() + usize::from(p) - 1;
                assert!(!seen[i], "{t}:{p} twice");
                seen[i] = true;
            }
        }
    }

    #[test]
    fn lazy_order_is_seeded_and_shuffled() {
        let s = spec(2000, 600, true);
        let a = drain(&s, 1);
        assert_eq!(a, drain(&s, 1));
        assert_ne!(a, drain(&s, 2));
        // Not the sequential order, and ports of one target scattered.
        assert_ne!(a[..600], drain(&spec(2000, 600, false), 1)[..600]);
    }

    #[test]
    fn huge_scans_cost_no_memory() {
        // A /16 x all ports: 4.3 x 10^9 pairs, a few words of state.
        let s = ScanSpec {
            targets: (0..65_534)
                .map(|i| Ipv4Addr::from(0x0a01_0001 + i))
                .collect(),
            ports: (1..=65_535).collect(),
            ..spec(1, 1, true)
        };
        let mut o = ProbeOrder::new(&s, &mut stream(3, "scan"));
        let first: BTreeSet<_> = (0..10_000).filter_map(|_| o.next(&s)).collect();
        assert_eq!(first.len(), 10_000);
        assert!(!o.is_empty());
    }

    #[test]
    fn unrandomized_is_targets_then_ports() {
        let s = spec(2, 3, false);
        let t = |i: u32| Ipv4Addr::from(0x0a00_0000 + i);
        assert_eq!(
            drain(&s, 0),
            vec![
                (t(0), 1),
                (t(0), 2),
                (t(0), 3),
                (t(1), 1),
                (t(1), 2),
                (t(1), 3)
            ]
        );
    }
}
