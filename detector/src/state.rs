//! Bounded detector state: a map whose entries carry a time and a size in
//! bytes, kept under a byte budget (a detector's `memcap`) by evicting the
//! entry with the oldest time, in O(log n), counting every eviction.
//!
//! Detectors keep their per-source, per-pair and per-connection tables in a
//! [`TimedMap`]. The time is whatever the detector ages entries by: the last
//! packet (an LRU, like Snort's `sfxhash`), the first packet (psad's
//! `s_time`), or a deadline (a reply timeout). The same order serves expiry
//! ([`TimedMap::pop_before`]: O(log n) per expired entry instead of a scan of
//! the table) and eviction.
//!
//! Sizes are charged, not measured: each detector documents what one entry
//! costs (its key, its value and the map's per-entry overhead, rounded up),
//! so the bound is deterministic and the same on every machine. Times are
//! plain `i64` values (microseconds, or a counter where an exact LRU is
//! wanted) and may run backwards or jump: the order is by time, ties broken
//! by key.

use std::collections::{BTreeMap, BTreeSet};

/// What one [`TimedMap`] entry with key `K` and value `V` is charged, plus
/// `heap` bytes its value owns: the key and value (with the entry's time and
/// charge, 16 bytes) in the map, the key again (with its time, 8 bytes) in
/// the order, both in B-tree nodes that are at worst half full (11 slots, at
/// least 5 used), rounded up to 2.5 times the payload.
pub const fn entry_cost<K, V>(heap: usize) -> u64 {
    let inline = 2 * size_of::<K>() + size_of::<V>() + 24;
    (inline * 5 / 2 + heap) as u64
}

/// One entry: the value, its time, its charge.
#[derive(Clone, Debug)]
struct Slot<V> {
    value: V,
    at: i64,
    bytes: u64,
}

/// A map under a byte budget, ordered by entry time (see the module docs).
#[derive(Clone, Debug)]
pub struct TimedMap<K, V> {
    map: BTreeMap<K, Slot<V>>,
    order: BTreeSet<(i64, K)>,
    cap: u64,
    used: u64,
    peak: u64,
    evictions: u64,
}

impl<K: Ord + Clone, V> Default for TimedMap<K, V> {
    /// An empty map with no budget to speak of (`u64::MAX` bytes): for
    /// tables whose bound is set when the detector is built.
    fn default() -> Self {
        TimedMap::new(u64::MAX)
    }
}

impl<K: Ord + Clone, V> TimedMap<K, V> {
    /// An empty map that may hold `cap` bytes of entries.
    pub fn new(cap: u64) -> Self {
        TimedMap {
            map: BTreeMap::new(),
            order: BTreeSet::new(),
            cap,
            used: 0,
            peak: 0,
            evictions: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Most bytes ever charged at once.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The budget, in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Entries dropped to stay under the budget.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// True if `k` has an entry.
    pub fn contains_key(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|s| &s.value)
    }

    /// The value of `k`, to change in place (its time stays).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|s| &mut s.value)
    }

    /// The time of `k`'s entry.
    pub fn time(&self, k: &K) -> Option<i64> {
        self.map.get(k).map(|s| s.at)
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    /// Entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.map.iter_mut().map(|(k, s)| (k, &mut s.value))
    }

    /// The entry with the oldest time: its key and time.
    pub fn oldest(&self) -> Option<(&K, i64)> {
        self.order.first().map(|(at, k)| (k, *at))
    }

    /// Inserts (or replaces) `k` with time `at`, charging `bytes`. Entries
    /// with the oldest times are evicted first until the budget holds it;
    /// they are returned so the caller can drop what hangs off them. An entry
    /// larger than the whole budget is not kept (and counts as evicted).
    pub fn insert(&mut self, k: K, value: V, at: i64, bytes: u64) -> Vec<(K, V)> {
        self.remove(&k);
        let mut evicted = Vec::new();
        if bytes > self.cap {
            self.evictions += 1;
            return evicted;
        }
        while self.used + bytes > self.cap {
            match self.pop_oldest() {
                Some(e) => {
                    self.evictions += 1;
                    evicted.push(e);
                }
                None => break,
            }
        }
        self.order.insert((at, k.clone()));
        self.map.insert(k, Slot { value, at, bytes });
        self.used += bytes;
        self.peak = self.peak.max(self.used);
        evicted
    }

    /// Moves `k` to time `at` (an LRU touch, a deadline moved).
    pub fn touch(&mut self, k: &K, at: i64) {
        let Some(s) = self.map.get_mut(k) else {
            return;
        };
        self.order.remove(&(s.at, k.clone()));
        s.at = at;
        self.order.insert((at, k.clone()));
    }

    /// Charges `k`'s entry `bytes` more (its value grew). Older entries are
    /// evicted to make room; if `k` alone is over the budget it is evicted
    /// too. Returns the evicted entries, `k`'s own included if it went.
    pub fn grow(&mut self, k: &K, bytes: u64) -> Vec<(K, V)> {
        let Some(now) = self.map.get(k).map(|s| s.bytes) else {
            return Vec::new();
        };
        self.resize(k, now.saturating_add(bytes))
    }

    /// Sets `k`'s charge to `bytes` (its value changed size): a smaller one
    /// frees room; a larger one evicts as [`TimedMap::grow`] does.
    pub fn resize(&mut self, k: &K, bytes: u64) -> Vec<(K, V)> {
        let mut evicted = Vec::new();
        let Some(s) = self.map.get_mut(k) else {
            return evicted;
        };
        self.used = (self.used - s.bytes).saturating_add(bytes);
        s.bytes = bytes;
        let own_bytes = bytes;
        self.peak = self.peak.max(self.used);
        if own_bytes > self.cap {
            if let Some(v) = self.remove(k) {
                self.evictions += 1;
                evicted.push((k.clone(), v));
            }
            return evicted;
        }
        while self.used > self.cap {
            // The oldest entry other than `k`.
            let Some(victim) = self
                .order
                .iter()
                .take(2)
                .map(|(_, key)| key)
                .find(|key| *key != k)
                .cloned()
            else {
                break;
            };
            if let Some(v) = self.remove(&victim) {
                self.evictions += 1;
                evicted.push((victim, v));
            }
        }
        evicted
    }

    /// Removes `k`, returning its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let s = self.map.remove(k)?;
        self.order.remove(&(s.at, k.clone()));
        self.used -= s.bytes;
        Some(s.value)
    }

    /// Removes and returns the entry with the oldest time.
    pub fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, k) = self.order.pop_first()?;
        let s = self.map.remove(&k)?;
        self.used -= s.bytes;
        Some((k, s.value))
    }

    /// Removes and returns the oldest entry if its time is before `t`
    /// (expiry: call until `None`).
    pub fn pop_before(&mut self, t: i64) -> Option<(K, V, i64)> {
        let &(at, _) = self.order.first()?;
        if at >= t {
            return None;
        }
        let (k, v) = self.pop_oldest()?;
        Some((k, v, at))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_oldest_to_stay_under_the_budget() {
        let mut m: TimedMap<u32, ()> = TimedMap::new(30);
        for k in 0..3 {
            assert!(m.insert(k, (), i64::from(k) * 10, 10).is_empty());
        }
        m.touch(&0, 100);
        let ev = m.insert(3, (), 40, 10);
        assert_eq!(ev, vec![(1, ())], "0 was touched, 1 is the oldest");
        assert_eq!((m.len(), m.used(), m.evictions()), (3, 30, 1));
        assert_eq!(m.oldest(), Some((&2, 20)));
    }

    #[test]
    fn expiry_pops_in_time_order_whatever_the_clock_did() {
        let mut m: TimedMap<u32, &str> = TimedMap::new(u64::MAX);
        m.insert(1, "late", i64::MAX, 1);
        m.insert(2, "early", i64::MIN, 1);
        m.insert(3, "mid", 0, 1);
        assert_eq!(m.pop_before(1), Some((2, "early", i64::MIN)));
        assert_eq!(m.pop_before(1), Some((3, "mid", 0)));
        assert_eq!(m.pop_before(1), None);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn growing_past_the_budget_evicts_others_then_itself() {
        let mut m: TimedMap<u32, ()> = TimedMap::new(100);
        m.insert(1, (), 0, 40);
        m.insert(2, (), 1, 40);
        // 1 is the oldest but growing: 2 goes.
        assert_eq!(m.grow(&1, 30), vec![(2, ())]);
        assert_eq!(m.used(), 70);
        assert_eq!(m.grow(&1, 40), vec![(1, ())]);
        assert!(m.is_empty());
        assert_eq!(m.used(), 0);
        assert!(m.insert(9, (), 0, 101).is_empty());
        assert_eq!((m.len(), m.evictions()), (0, 3));
    }
}
