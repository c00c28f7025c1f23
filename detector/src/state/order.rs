//! The time order of a [`TimedMap`](super::TimedMap): `(time, key)` pairs,
//! smallest first, in a queue for the pairs filed in order and a B-tree for
//! the rest.
//!
//! Detectors file their entries under the time of the packet at hand, which
//! almost never runs backwards, so nearly every pair sorts after every pair
//! filed before it. Those go to the back of a queue: O(1) to file and to
//! take from the front, where a B-tree used as a queue shifts its front leaf
//! on every removal. A pair that sorts before the queue's back (a clock
//! step back, a tie won by a smaller key, a deadline earlier than the
//! last) goes to the B-tree. The front of the order is the smaller of the
//! two fronts, so the order is exactly that of one B-tree of every pair.
//!
//! Pairs leave the queue lazily: a removed or refiled pair stays in the
//! queue, dead, until it reaches the front or the queue is compacted
//! (whenever the dead outnumber the live), so the queue holds at most about
//! twice the live pairs. A queued pair is live if its key's entry says it is
//! queued under that time: the queue only grows by pairs larger than all it
//! holds, so a key refiled under the same time cannot be queued twice (it
//! sorts no later than its own dead pair and goes to the B-tree).

use std::collections::{BTreeSet, VecDeque};

/// Where an entry's `(time, key)` pair is filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Filing {
    /// In the queue.
    Queue,
    /// In the B-tree.
    Tree,
    /// Nowhere (taken out for a while).
    Out,
}

/// Dead queued pairs tolerated before a compaction is considered.
const COMPACT_AFTER: usize = 16;

/// See the module docs.
#[derive(Clone, Debug)]
pub(super) struct Order<K> {
    queue: VecDeque<(i64, K)>,
    tree: BTreeSet<(i64, K)>,
    /// Dead pairs in the queue.
    dead: usize,
    /// No later than every live pair's time: lowered by every filing,
    /// brought up to [`Order::lower_bound`] when that answers a question
    /// it could not (`i64::MAX` when nothing is filed).
    floor: i64,
}

impl<K> Default for Order<K> {
    fn default() -> Self {
        Order {
            queue: VecDeque::new(),
            tree: BTreeSet::new(),
            dead: 0,
            floor: i64::MAX,
        }
    }
}

impl<K: Ord + Clone> Order<K> {
    /// Files `k` under `at`; returns where, for the entry to remember.
    pub(super) fn file(&mut self, at: i64, k: K) -> Filing {
        self.floor = self.floor.min(at);
        let in_order = self
            .queue
            .back()
            .is_none_or(|(t, last)| (at, &k) > (*t, last));
        if in_order {
            self.queue.push_back((at, k));
            Filing::Queue
        } else {
            self.tree.insert((at, k));
            Filing::Tree
        }
    }

    /// Takes `k`, filed under `at` as `filing` says, out of the order. The
    /// caller sets its entry's filing to something else before the next
    /// look at the front (a queued pair is only marked dead).
    pub(super) fn unfile(&mut self, at: i64, k: &K, filing: Filing) {
        match filing {
            Filing::Queue => self.dead += 1,
            Filing::Tree => {
                self.tree.remove(&(at, k.clone()));
            }
            Filing::Out => {}
        }
    }

    /// Drops the dead queued pairs if they outnumber the live ones. `live`
    /// tells whether `k` is still queued under time `t`.
    pub(super) fn compact(&mut self, live: impl Fn(&K, i64) -> bool) {
        if self.dead > COMPACT_AFTER && self.dead * 2 > self.queue.len() {
            self.queue.retain(|(t, k)| live(k, *t));
            self.dead = 0;
        }
    }

    /// The smallest pair, dropping dead pairs from the queue's front.
    pub(super) fn first(&mut self, live: impl Fn(&K, i64) -> bool) -> Option<(i64, &K)> {
        while let Some((t, k)) = self.queue.front() {
            if live(k, *t) {
                break;
            }
            self.queue.pop_front();
            self.dead -= 1;
        }
        match (self.queue.front(), self.tree.first()) {
            (Some((qt, qk)), Some((tt, tk))) if (tt, tk) < (qt, qk) => Some((*tt, tk)),
            (Some((qt, qk)), _) => Some((*qt, qk)),
            (None, Some((tt, tk))) => Some((*tt, tk)),
            (None, None) => None,
        }
    }

    /// A time no later than every live pair's: the smaller of the queue's
    /// and the B-tree's first times, dead queued pairs not skipped (the
    /// queue is sorted, so a dead front only makes the bound lower). `None`
    /// if nothing is filed. Lets an expiry check stop without touching the
    /// entries.
    fn lower_bound(&self) -> Option<i64> {
        let queued = self.queue.front().map(|(t, _)| *t);
        let tree = self.tree.first().map(|(t, _)| *t);
        match (queued, tree) {
            (Some(q), Some(t)) => Some(q.min(t)),
            (q, t) => q.or(t),
        }
    }

    /// True if no live pair is filed before `t`: one comparison while the
    /// floor says so, the queue's and the B-tree's fronts otherwise.
    #[inline]
    pub(super) fn none_before(&mut self, t: i64) -> bool {
        self.floor >= t || self.none_before_raised(t)
    }

    /// [`Order::none_before`] with the floor raised to the fronts' times.
    #[inline(never)]
    fn none_before_raised(&mut self, t: i64) -> bool {
        self.floor = self.lower_bound().unwrap_or(i64::MAX);
        self.floor >= t
    }

    /// Removes and returns the smallest pair; call right after
    /// [`Order::first`], which clears dead pairs off the queue's front.
    pub(super) fn pop_first(&mut self) -> Option<(i64, K)> {
        let tree_first = match (self.queue.front(), self.tree.first()) {
            (Some((qt, qk)), Some((tt, tk))) => (tt, tk) < (qt, qk),
            (None, Some(_)) => true,
            _ => false,
        };
        if tree_first {
            self.tree.pop_first()
        } else {
            self.queue.pop_front()
        }
    }

    /// Pairs in the queue, dead ones included.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Removes every pair.
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.tree.clear();
        self.dead = 0;
        self.floor = i64::MAX;
    }
}
