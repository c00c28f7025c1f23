//! A radix heap: a priority queue for keys that never go below the last key
//! taken out, which is how virtual time works (nothing is scheduled in the
//! past). Items come out in (time, sequence) order, exactly as from a binary
//! heap of (time, sequence) pairs, but each item is moved only a few times
//! over its life (at most once per bit in which its time differs from the
//! current time), between plain vectors, instead of sifting through a heap
//! of tens of thousands of timers on every pop.
//!
//! Bucket `b > 0` holds the items whose time first differs from `last` (the
//! time of the current minimum) in bit `b - 1`; bucket 0 holds the items due
//! at `last` itself, in sequence order. When bucket 0 runs dry, the first
//! non-empty bucket is split up: its smallest time becomes `last`, and each of
//! its items falls into a lower bucket.

use std::collections::VecDeque;

/// One queued item.
#[derive(Clone, Copy, Debug)]
struct Item<T> {
    at: u64,
    seq: u64,
    value: T,
}

/// The queue.
pub(crate) struct RadixHeap<T> {
    /// Items due at `last`, by sequence number.
    now: VecDeque<Item<T>>,
    /// Buckets 1..=64 (index 0 unused).
    buckets: [Vec<Item<T>>; 65],
    /// Smallest time in each non-empty bucket.
    mins: [u64; 65],
    /// Index in its bucket of the first item queued with that smallest time
    /// (of the earliest item, unless items due at the same time were queued
    /// out of sequence order: good enough for [`RadixHeap::peek_hint`]).
    min_index: [usize; 65],
    /// Bit `b - 1` set when bucket `b` is not empty.
    nonempty: u64,
    last: u64,
    len: usize,
}

impl<T> Default for RadixHeap<T> {
    fn default() -> Self {
        RadixHeap {
            now: VecDeque::new(),
            buckets: std::array::from_fn(|_| Vec::new()),
            mins: [0; 65],
            min_index: [0; 65],
            nonempty: 0,
            last: 0,
            len: 0,
        }
    }
}

impl<T> RadixHeap<T> {
    fn bucket(&self, at: u64) -> usize {
        (64 - (at ^ self.last).leading_zeros()) as usize
    }

    /// Queues `value` at time `at` with tie-breaker `seq` (unique).
    ///
    /// # Panics
    /// If `at` is earlier than the time of the last item taken out (or
    /// looked at through [`RadixHeap::peek_at`]'s caller popping it).
    pub(crate) fn push(&mut self, at: u64, seq: u64, value: T) {
        assert!(at >= self.last, "the queue never goes back in time");
        self.len += 1;
        let item = Item { at, seq, value };
        let b = self.bucket(at);
        if b == 0 {
            // Usually the newest item; an item re-queued with an older
            // sequence number goes to its place.
            if self.now.back().is_none_or(|last| last.seq < seq) {
                self.now.push_back(item);
            } else {
                let pos = self.now.partition_point(|i| i.seq < seq);
                self.now.insert(pos, item);
            }
            return;
        }
        self.put_in_bucket(b, item);
    }

    /// Puts `item` into bucket `b >= 1`.
    fn put_in_bucket(&mut self, b: usize, item: Item<T>) {
        let bit = 1u64 << (b - 1);
        if self.nonempty & bit == 0 || item.at < self.mins[b] {
            self.mins[b] = item.at;
            self.min_index[b] = self.buckets[b].len();
        }
        self.nonempty |= bit;
        self.buckets[b].push(item);
    }

    /// The first non-empty bucket, if any (`b >= 1`).
    fn first_bucket(&self) -> Option<usize> {
        (self.nonempty != 0).then(|| self.nonempty.trailing_zeros() as usize + 1)
    }

    /// The time of the earliest item.
    pub(crate) fn peek_at(&self) -> Option<u64> {
        if !self.now.is_empty() {
            return Some(self.last);
        }
        self.first_bucket().map(|b| self.mins[b])
    }

    /// The earliest item's value, or one due at the same time: a guess at
    /// what [`RadixHeap::pop`] returns next, for prefetching only (it can be
    /// another item of the same instant; it costs no search).
    pub(crate) fn peek_hint(&self) -> Option<&T> {
        if let Some(item) = self.now.front() {
            return Some(&item.value);
        }
        let b = self.first_bucket()?;
        self.buckets[b].get(self.min_index[b]).map(|i| &i.value)
    }

    /// Removes the earliest item: (time, value).
    pub(crate) fn pop(&mut self) -> Option<(u64, T)> {
        if self.now.is_empty() {
            let b = self.first_bucket()?;
            self.nonempty &= !(1u64 << (b - 1));
            self.last = self.mins[b];
            let mut items = std::mem::take(&mut self.buckets[b]);
            for item in items.drain(..) {
                match self.bucket(item.at) {
                    0 => self.now.push_back(item),
                    nb => self.put_in_bucket(nb, item),
                }
            }
            // Every item fell into a lower bucket; keep the allocation.
            self.buckets[b] = items;
            if self.now.len() > 1 {
                self.now.make_contiguous().sort_unstable_by_key(|i| i.seq);
            }
        }
        let item = self.now.pop_front()?;
        self.len -= 1;
        Some((item.at, item.value))
    }

    /// Items queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a binary heap of (time, sequence): the same items in the
        /// same order, for pushes at or after the current time interleaved
        /// with pops, including re-queued items with older sequence numbers.
        #[test]
        fn same_order_as_a_binary_heap(
            ops in prop::collection::vec((0u8..4, 0u64..3000, any::<bool>()), 1..400)
        ) {
            let mut radix = RadixHeap::default();
            let mut reference = BinaryHeap::new();
            let mut now = 0u64;
            let mut seq = 0u64;
            let mut held: Vec<u64> = Vec::new();
            // Each value's time, to check the hint.
            let mut times = std::collections::BTreeMap::new();
            for (op, delta, far) in ops {
                match op {
                    0 | 1 => {
                        // Mostly near, sometimes far in the future.
                        let at = now + if far { delta << 20 } else { delta % 7 };
                        seq += 1;
                        radix.push(at, seq, seq);
                        times.insert(seq, at);
                        reference.push(Reverse((at, seq)));
                    }
                    2 => {
                        // A sequence number taken earlier, queued now.
                        if let Some(old) = held.pop() {
                            radix.push(now, old, old);
                            times.insert(old, now);
                            reference.push(Reverse((now, old)));
                        } else {
                            seq += 1;
                            held.push(seq);
                        }
                    }
                    _ => {
                        let got = radix.pop();
                        let want = reference.pop().map(|Reverse((at, s))| (at, s));
                        prop_assert_eq!(got, want);
                        if let Some((at, _)) = got {
                            now = at;
                        }
                    }
                }
                prop_assert_eq!(radix.len(), reference.len());
                // The hint is an item due when the earliest one is.
                prop_assert_eq!(radix.peek_hint().map(|v| times[v]), radix.peek_at());
                prop_assert_eq!(radix.peek_at(), reference.peek().map(|Reverse((at, _))| *at));
            }
            while let Some(want) = reference.pop() {
                prop_assert_eq!(radix.pop(), Some((want.0.0, want.0.1)));
            }
            prop_assert_eq!(radix.pop(), None);
        }
    }

    #[test]
    #[should_panic(expected = "never goes back in time")]
    fn the_past_is_refused() {
        let mut q = RadixHeap::default();
        q.push(10, 1, ());
        q.pop();
        q.push(9, 2, ());
    }
}
