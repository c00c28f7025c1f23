//! Bounded detector state: a map whose entries carry a time and a size in
//! bytes, kept under a byte budget (a detector's `memcap`) by evicting the
//! entry with the oldest time, in O(1) while times run forwards and
//! O(log n) at worst, counting every eviction.
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
//! by key. Finding an entry is a hash look-up and moving one to a later time
//! costs nothing more (the order catches up lazily, see [`TimedMap`]), so a
//! per-packet touch is cheap.
//!
//! [`Lru`] is the plain least-recently-used list, O(1) per touch, for
//! tables ordered by their last use alone (sfPortscan's trackers and
//! sessions), whose owner charges its own budget. [`PortSet`] is a set of
//! ports as a bitmap, for per-packet port look-ups.

use std::collections::HashMap;
use std::hash::Hash;

/// The hash table under [`TimedMap`] and [`Lru`]. Its keys are addresses and
/// ports from the capture, which an attacker chooses, so the hash is seeded
/// at random per table (foldhash's `RandomState`: no set of keys collides
/// for every seed, and a capture is written before the seed exists). An
/// unseeded hash such as Fx has keys that collide whatever the run, which
/// would turn every look-up of such a capture into a walk of the colliding
/// entries. The seed changes only where entries sit: nothing walks the
/// table in its own order, so no result depends on it.
type Table<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

mod order;
mod ports;

use order::{Filing, Order};
pub use ports::PortSet;

/// What one [`TimedMap`] entry with key `K` and value `V` is charged, plus
/// `heap` bytes its value owns: the key and value (with the entry's time and
/// charge, 16 bytes) in the map, the key again (with its time, 8 bytes) in
/// the order, both in B-tree nodes that are at worst half full (11 slots, at
/// least 5 used), rounded up to 2.5 times the payload. (The charge is a
/// documented constant, not a measurement: it stays what it was when the
/// map itself became a hash table.)
pub const fn entry_cost<K, V>(heap: usize) -> u64 {
    let inline = 2 * size_of::<K>() + size_of::<V>() + 24;
    (inline * 5 / 2 + heap) as u64
}

/// One entry: the value, its time, where the order has it filed, its charge.
#[derive(Clone, Debug)]
struct Slot<V> {
    value: V,
    at: i64,
    /// The time the order files this entry under: never later than `at`
    /// (see [`TimedMap::touch`]).
    filed: i64,
    /// Where the order keeps it.
    filing: Filing,
    bytes: u64,
}

/// Whether a queued pair of `k` under time `t` is the one its entry is
/// filed under (see `order`).
fn live<K: Hash + Eq, V>(map: &Table<K, Slot<V>>) -> impl Fn(&K, i64) -> bool + '_ {
    move |k, t| {
        map.get(k)
            .is_some_and(|s| s.filing == Filing::Queue && s.filed == t)
    }
}

/// A map under a byte budget, ordered by entry time (see the module docs).
///
/// The entries live in a hash table (`Table`, whose order is never walked: no
/// result depends on it); the time order is that of a B-tree set of
/// `(time, key)`, kept as a queue of the pairs filed in order and a B-tree
/// of the others (see `order`).
/// Moving an entry to a later time (an LRU touch, the common case: one per
/// packet) only rewrites its time; the order keeps it filed under the old,
/// earlier time until it reaches the front, where it is refiled
/// (`TimedMap::settle`). Every entry is filed at or before its time, so
/// once the front entry's filed time is its time it is the oldest: the
/// order of evictions and expiries is exactly that of an eagerly kept
/// order, at a fraction of the B-tree work.
#[derive(Clone, Debug)]
pub struct TimedMap<K, V> {
    map: Table<K, Slot<V>>,
    order: Order<K>,
    cap: u64,
    used: u64,
    peak: u64,
    evictions: u64,
}

impl<K: Ord + Hash + Clone, V> Default for TimedMap<K, V> {
    /// An empty map with no budget to speak of (`u64::MAX` bytes): for
    /// tables whose bound is set when the detector is built.
    fn default() -> Self {
        TimedMap::new(u64::MAX)
    }
}

impl<K: Ord + Hash + Clone, V> TimedMap<K, V> {
    /// An empty map that may hold `cap` bytes of entries.
    pub fn new(cap: u64) -> Self {
        TimedMap {
            map: Table::default(),
            order: Order::default(),
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

    /// Entries in key order. Sorts a list of them: for walks that happen
    /// once (a drain at the end), not per packet.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut v: Vec<(&K, &V)> = self.map.iter().map(|(k, s)| (k, &s.value)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// Entries in key order, values mutable (sorted as [`TimedMap::iter`]).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        let mut v: Vec<(&K, &mut V)> = self
            .map
            .iter_mut()
            .map(|(k, s)| (k, &mut s.value))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// Refiles front entries whose time moved on until the front one is
    /// filed under its own time: it is then the oldest entry (every other
    /// entry is filed at or before its time, and after the front).
    fn settle(&mut self) -> Option<(&K, i64)> {
        self.settle_time()?;
        self.order.first(live(&self.map)).map(|(at, k)| (k, at))
    }

    /// [`TimedMap::settle`], answering only the oldest entry's time (the
    /// front is then its entry: [`Order::pop_first`] takes it).
    fn settle_time(&mut self) -> Option<i64> {
        loop {
            let (filed, k) = self.order.first(live(&self.map))?;
            let at = self.map.get(k).map_or(filed, |s| s.at);
            if at == filed {
                return Some(at);
            }
            let (_, k) = self.order.pop_first()?;
            let filing = self.order.file(at, k.clone());
            if let Some(s) = self.map.get_mut(&k) {
                s.filed = at;
                s.filing = filing;
            }
        }
    }

    /// The entry with the oldest time: its key and time.
    pub fn oldest(&mut self) -> Option<(&K, i64)> {
        self.settle()
    }

    /// The entry with the oldest time if that time is at or before `t` (a
    /// deadline that is due): one comparison while nothing is.
    pub fn oldest_due(&mut self, t: i64) -> Option<(&K, i64)> {
        if t < i64::MAX && self.order.none_before(t + 1) {
            return None;
        }
        self.settle().filter(|(_, at)| *at <= t)
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
        let filing = self.order.file(at, k.clone());
        self.map.insert(
            k,
            Slot {
                value,
                at,
                filed: at,
                filing,
                bytes,
            },
        );
        self.used += bytes;
        self.peak = self.peak.max(self.used);
        evicted
    }

    /// Moves `k` to time `at` (an LRU touch, a deadline moved). A later
    /// time is only written down (the order catches up when the entry
    /// reaches its front); an earlier one refiles the entry at once.
    pub fn touch(&mut self, k: &K, at: i64) {
        self.touch_mut(k, at);
    }

    /// [`TimedMap::touch`], then the value of `k`, to change in place: one
    /// look-up for the per-packet "touch and update".
    pub fn touch_mut(&mut self, k: &K, at: i64) -> Option<&mut V> {
        // Dead pairs an earlier step back left are compacted first (that
        // needs the whole map), so a step back now refiles the entry found
        // by the one look-up below.
        self.order.compact(live(&self.map));
        let s = self.map.get_mut(k)?;
        if at < s.filed {
            self.order.unfile(s.filed, k, s.filing);
            s.filing = self.order.file(at, k.clone());
            s.filed = at;
        }
        s.at = at;
        Some(&mut s.value)
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
        let (filed, filing) = (s.filed, s.filing);
        self.peak = self.peak.max(self.used);
        if bytes > self.cap {
            if let Some(v) = self.remove(k) {
                self.evictions += 1;
                evicted.push((k.clone(), v));
            }
            return evicted;
        }
        if self.used <= self.cap {
            return evicted;
        }
        // The oldest entries other than `k`: take `k` out of the order
        // while they go.
        self.order.unfile(filed, k, filing);
        s.filing = Filing::Out;
        while self.used > self.cap {
            let Some(e) = self.pop_oldest() else {
                break;
            };
            self.evictions += 1;
            evicted.push(e);
        }
        let filing = self.order.file(filed, k.clone());
        if let Some(s) = self.map.get_mut(k) {
            s.filing = filing;
        }
        self.order.compact(live(&self.map));
        evicted
    }

    /// Removes `k`, returning its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let s = self.map.remove(k)?;
        self.order.unfile(s.filed, k, s.filing);
        self.order.compact(live(&self.map));
        self.used -= s.bytes;
        Some(s.value)
    }

    /// Removes and returns the entry with the oldest time.
    pub fn pop_oldest(&mut self) -> Option<(K, V)> {
        self.settle_time()?;
        self.take_front()
    }

    /// Removes the front entry of a settled order.
    fn take_front(&mut self) -> Option<(K, V)> {
        let (_, k) = self.order.pop_first()?;
        let s = self.map.remove(&k)?;
        self.used -= s.bytes;
        Some((k, s.value))
    }

    /// True if no entry's time is before `t`, answered from a kept lower
    /// bound of the filed times (one comparison while nothing is due);
    /// false if one may be: [`TimedMap::pop_before`] then tells.
    #[inline]
    pub fn nothing_before(&mut self, t: i64) -> bool {
        self.order.none_before(t)
    }

    /// Removes and returns the oldest entry if its time is before `t`
    /// (expiry: call until `None`).
    #[inline]
    pub fn pop_before(&mut self, t: i64) -> Option<(K, V, i64)> {
        // Every entry's time is at or after the time it is filed under, so
        // nothing is due while no filing is: the per-packet "anything
        // expired?" is usually one comparison, inlined into the caller.
        if self.order.none_before(t) {
            return None;
        }
        self.pop_due(t)
    }

    /// [`TimedMap::pop_before`] once the kept floor could not answer.
    #[inline(never)]
    fn pop_due(&mut self, t: i64) -> Option<(K, V, i64)> {
        let at = self.settle_time()?;
        if at >= t {
            return None;
        }
        let (k, v) = self.take_front()?;
        Some((k, v, at))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.used = 0;
    }
}

/// No node (the end of the list).
const NIL: u32 = u32::MAX;

/// One [`Lru`] entry, linked to the entries touched just before and after it.
#[derive(Clone, Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    prev: u32,
    next: u32,
}

/// A table in exact least-recently-used order: what a B-tree keyed by a
/// touch counter gives (Snort's `sfxhash` with its LRU list, which
/// sfPortscan's trackers and stream sessions live in), in O(1) per touch.
///
/// The entries are a dense vector linked into a list from the least to the
/// most recently inserted or touched; a hash table finds a key's node.
/// Nothing walks the hash table, so no order depends on it. Budgets are the
/// owner's business (it knows what an entry is charged).
#[derive(Clone, Debug)]
pub struct Lru<K, V> {
    index: Table<K, u32>,
    nodes: Vec<Node<K, V>>,
    head: u32,
    tail: u32,
}

impl<K: Hash + Eq + Clone, V> Default for Lru<K, V> {
    fn default() -> Self {
        Lru {
            index: Table::default(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// True if `k` has an entry.
    pub fn contains_key(&self, k: &K) -> bool {
        self.index.contains_key(k)
    }

    /// The value of `k` (its place in the order stays).
    pub fn get(&self, k: &K) -> Option<&V> {
        let &i = self.index.get(k)?;
        self.nodes.get(i as usize).map(|n| &n.value)
    }

    /// The value of `k`, to change in place (its place in the order stays).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let &i = self.index.get(k)?;
        self.nodes.get_mut(i as usize).map(|n| &mut n.value)
    }

    /// Where `k`'s entry sits, for [`Lru::at`] and [`Lru::at_mut`]: one
    /// look-up for a run of accesses. Valid until the next insert or removal
    /// (which may move entries); a stale position names another entry.
    pub fn position(&self, k: &K) -> Option<u32> {
        self.index.get(k).copied()
    }

    /// The value at position `i` (see [`Lru::position`]).
    pub fn at(&self, i: u32) -> Option<&V> {
        self.nodes.get(i as usize).map(|n| &n.value)
    }

    /// The value at position `i`, to change in place (see [`Lru::position`]).
    pub fn at_mut(&mut self, i: u32) -> Option<&mut V> {
        self.nodes.get_mut(i as usize).map(|n| &mut n.value)
    }

    /// Makes `k` the most recently used entry and returns its value.
    pub fn touch(&mut self, k: &K) -> Option<&mut V> {
        let i = self.touch_position(k)?;
        self.nodes.get_mut(i as usize).map(|n| &mut n.value)
    }

    /// Makes `k` the most recently used entry and returns where it sits
    /// (see [`Lru::position`]): a touch and a position in one look-up.
    pub fn touch_position(&mut self, k: &K) -> Option<u32> {
        let &i = self.index.get(k)?;
        if i != self.tail {
            self.unlink(i);
            self.link_back(i);
        }
        Some(i)
    }

    /// Inserts `k` as the most recently used entry (replacing any entry
    /// it had); returns where it sits (see [`Lru::position`]).
    pub fn insert(&mut self, k: K, value: V) -> u32 {
        self.remove(&k);
        let i = self.nodes.len() as u32;
        self.index.insert(k.clone(), i);
        self.nodes.push(Node {
            key: k,
            value,
            prev: NIL,
            next: NIL,
        });
        self.link_back(i);
        i
    }

    /// Removes `k`, returning its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.index.remove(k)?;
        Some(self.take(i).1)
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_front(&mut self) -> Option<(K, V)> {
        if self.head == NIL {
            return None;
        }
        let i = self.head;
        let key = self.nodes.get(i as usize)?.key.clone();
        self.index.remove(&key);
        Some(self.take(i))
    }

    /// The least recently used entry.
    pub fn front(&self) -> Option<(&K, &V)> {
        self.nodes
            .get(self.head as usize)
            .map(|n| (&n.key, &n.value))
    }

    /// Entries from the least to the most recently used.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut i = self.head;
        core::iter::from_fn(move || {
            let n = self.nodes.get(i as usize)?;
            i = n.next;
            Some((&n.key, &n.value))
        })
    }

    fn link_back(&mut self, i: u32) {
        let tail = self.tail;
        if let Some(n) = self.nodes.get_mut(i as usize) {
            n.prev = tail;
            n.next = NIL;
        }
        match self.nodes.get_mut(tail as usize) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }

    fn unlink(&mut self, i: u32) {
        let Some(n) = self.nodes.get(i as usize) else {
            return;
        };
        let (prev, next) = (n.prev, n.next);
        match self.nodes.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.nodes.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    /// Unlinks node `i` (its key already out of the index) and moves the
    /// last node into its place, so the vector stays dense.
    fn take(&mut self, i: u32) -> (K, V) {
        self.unlink(i);
        let n = self.nodes.swap_remove(i as usize);
        if let Some(moved) = self.nodes.get(i as usize) {
            // The former last node sits at `i` now: point its neighbours
            // and its key there.
            let (prev, next) = (moved.prev, moved.next);
            if let Some(slot) = self.index.get_mut(&moved.key) {
                *slot = i;
            }
            match self.nodes.get_mut(prev as usize) {
                Some(p) => p.next = i,
                None => self.head = i,
            }
            match self.nodes.get_mut(next as usize) {
                Some(x) => x.prev = i,
                None => self.tail = i,
            }
        }
        (n.key, n.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

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

    /// The order every [`TimedMap`] keeps, kept eagerly: every entry filed
    /// under its time at once, in a B-tree map and set.
    #[derive(Default)]
    struct Eager {
        map: std::collections::BTreeMap<u8, (u32, i64, u64)>,
        order: BTreeSet<(i64, u8)>,
        cap: u64,
        used: u64,
        peak: u64,
        evictions: u64,
    }

    impl Eager {
        fn remove(&mut self, k: u8) -> Option<u32> {
            let (v, at, b) = self.map.remove(&k)?;
            self.order.remove(&(at, k));
            self.used -= b;
            Some(v)
        }
        fn pop_oldest(&mut self) -> Option<(u8, u32)> {
            let (_, k) = *self.order.first()?;
            Some((k, self.remove(k)?))
        }
        fn evict_for(&mut self, bytes: u64, keep: Option<u8>) -> Vec<(u8, u32)> {
            let mut out = Vec::new();
            while self.used + bytes > self.cap {
                let Some(&(_, k)) = self.order.iter().find(|(_, k)| Some(*k) != keep) else {
                    break;
                };
                self.evictions += 1;
                out.push((k, self.remove(k).unwrap()));
            }
            out
        }
        fn insert(&mut self, k: u8, v: u32, at: i64, bytes: u64) -> Vec<(u8, u32)> {
            self.remove(k);
            if bytes > self.cap {
                self.evictions += 1;
                return Vec::new();
            }
            let out = self.evict_for(bytes, None);
            self.map.insert(k, (v, at, bytes));
            self.order.insert((at, k));
            self.used += bytes;
            self.peak = self.peak.max(self.used);
            out
        }
        fn touch(&mut self, k: u8, at: i64) {
            if let Some(e) = self.map.get_mut(&k) {
                self.order.remove(&(e.1, k));
                e.1 = at;
                self.order.insert((at, k));
            }
        }
        fn resize(&mut self, k: u8, bytes: u64) -> Vec<(u8, u32)> {
            let Some(e) = self.map.get_mut(&k) else {
                return Vec::new();
            };
            self.used = self.used - e.2 + bytes;
            e.2 = bytes;
            self.peak = self.peak.max(self.used);
            if bytes > self.cap {
                self.evictions += 1;
                return vec![(k, self.remove(k).unwrap())];
            }
            self.evict_for(0, Some(k))
        }
    }

    /// A seeded xorshift, so every run tries the same sequences.
    fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    /// Whatever the operations and however the clock runs (forwards,
    /// backwards, ties), the lazily ordered map evicts, expires and reports
    /// exactly what the eagerly ordered one does.
    #[test]
    fn lazy_order_is_the_eager_order() {
        for seed in 1..200u64 {
            let mut r = xorshift(seed);
            // A tight budget (evictions), or a loose one and more keys (dead
            // queued pairs pile up and get compacted away).
            let loose = seed % 2 == 1;
            let cap = if loose { 100_000 } else { 20 + r(200) };
            let mut m: TimedMap<u8, u32> = TimedMap::new(cap);
            let mut e = Eager {
                cap,
                ..Eager::default()
            };
            let mut clock = 0i64;
            let (keys, steps) = if loose { (200, 3000) } else { (12, 400) };
            for step in 0..steps {
                // Mostly forwards, sometimes a tie or a step back.
                clock += r(7) as i64 - 2;
                let k = r(keys) as u8;
                let at = clock + r(3) as i64;
                match r(8) {
                    0 | 1 => {
                        let b = 1 + r(30);
                        assert_eq!(m.insert(k, step, at, b), e.insert(k, step, at, b));
                    }
                    2 | 3 => {
                        m.touch(&k, at);
                        e.touch(k, at);
                    }
                    4 => {
                        let b = r(40);
                        assert_eq!(m.resize(&k, b), e.resize(k, b));
                    }
                    5 => assert_eq!(m.remove(&k), e.remove(k)),
                    6 => {
                        let want = e.order.first().copied().filter(|(t, _)| *t < at);
                        let got = m.pop_before(at);
                        assert_eq!(got.map(|(k, _, t)| (t, k)), want);
                        if let Some((_, k)) = want {
                            e.remove(k);
                        }
                    }
                    _ => {
                        let want = e.order.first().map(|(t, k)| (*k, *t));
                        let due = want.filter(|(_, t)| *t <= at);
                        assert_eq!(m.oldest_due(at).map(|(k, t)| (*k, t)), due);
                        assert_eq!(m.oldest().map(|(k, t)| (*k, t)), want);
                        if r(2) == 0 {
                            assert_eq!(m.pop_oldest(), e.pop_oldest());
                        }
                    }
                }
                let state = (m.len(), m.used(), m.peak(), m.evictions());
                assert_eq!(
                    state,
                    (e.map.len(), e.used, e.peak, e.evictions),
                    "seed {seed}"
                );
                assert_eq!(m.time(&k), e.map.get(&k).map(|x| x.1));
                // Steps back leave dead queued pairs; they are compacted.
                assert!(m.order.queued() <= 2 * m.len() + 20, "seed {seed}");
            }
            let keys: Vec<u8> = m.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys, e.map.keys().copied().collect::<Vec<_>>());
        }
    }

    /// Entries replaced over and over leave dead pairs in the order's
    /// queue; they are dropped, so the queue stays within about twice the
    /// live entries, and the order is still exact.
    #[test]
    fn replaced_entries_do_not_pile_up_in_the_order() {
        let mut m: TimedMap<u32, u32> = TimedMap::new(u64::MAX);
        for k in 0..100 {
            m.insert(k, 0, i64::from(k), 1);
        }
        for round in 1..=50 {
            for k in (0..100).step_by(2) {
                m.insert(k, round, 1000 * i64::from(round) + i64::from(k), 1);
                assert!(m.order.queued() <= 2 * m.len() + 20, "{}", m.order.queued());
            }
        }
        // The odd keys kept their first times; the even ones the last.
        let mut want: Vec<(i64, u32)> = (0..100)
            .map(|k| {
                (
                    if k % 2 == 1 {
                        i64::from(k)
                    } else {
                        50_000 + i64::from(k)
                    },
                    k,
                )
            })
            .collect();
        want.sort_unstable();
        let got: Vec<(i64, u32)> = std::iter::from_fn(|| m.pop_before(i64::MAX))
            .map(|(k, _, t)| (t, k))
            .collect();
        assert_eq!(got, want);
    }

    /// The LRU list keeps the order a B-tree keyed by a touch counter keeps.
    #[test]
    fn lru_is_the_stamp_order() {
        for seed in 1..200u64 {
            let mut r = xorshift(seed);
            let mut lru: Lru<u8, u32> = Lru::default();
            let mut by_stamp: std::collections::BTreeMap<u64, u8> = Default::default();
            let mut stamps: std::collections::BTreeMap<u8, (u64, u32)> = Default::default();
            for step in 0..400u64 {
                let k = r(16) as u8;
                match r(6) {
                    0 | 1 => {
                        let at = lru.insert(k, step as u32);
                        assert_eq!(lru.position(&k), Some(at));
                        if let Some((old, _)) = stamps.insert(k, (step, step as u32)) {
                            by_stamp.remove(&old);
                        }
                        by_stamp.insert(step, k);
                    }
                    2 | 3 => {
                        let at = lru.position(&k);
                        let got = if r(2) == 0 {
                            lru.touch(&k).map(|v| *v)
                        } else {
                            assert_eq!(lru.touch_position(&k), at);
                            at.and_then(|i| lru.at(i)).copied()
                        };
                        assert_eq!(lru.position(&k), at, "a touch moves no entry");
                        let want = stamps.get_mut(&k).map(|e| {
                            by_stamp.remove(&e.0);
                            by_stamp.insert(step, k);
                            e.0 = step;
                            e.1
                        });
                        assert_eq!(got, want);
                    }
                    4 => {
                        let want = stamps.remove(&k).map(|(st, v)| {
                            by_stamp.remove(&st);
                            v
                        });
                        assert_eq!(lru.remove(&k), want);
                    }
                    _ => {
                        let want = by_stamp
                            .pop_first()
                            .map(|(_, k)| (k, stamps.remove(&k).unwrap().1));
                        assert_eq!(lru.pop_front(), want);
                    }
                }
                let order: Vec<(u8, u32)> = lru.iter().map(|(k, v)| (*k, *v)).collect();
                let want: Vec<(u8, u32)> = by_stamp.values().map(|k| (*k, stamps[k].1)).collect();
                assert_eq!(order, want, "seed {seed} step {step}");
                assert_eq!(lru.len(), want.len());
                assert_eq!(lru.front().map(|(k, v)| (*k, *v)), want.first().copied());
                // Every key's position names its own value.
                for (k, (_, v)) in &stamps {
                    let at = lru.position(k);
                    assert_eq!(at.and_then(|i| lru.at(i)), Some(v));
                    assert_eq!(at.and_then(|i| lru.at_mut(i)).map(|x| *x), Some(*v));
                }
                assert_eq!(lru.position(&99), None);
            }
        }
    }
}
