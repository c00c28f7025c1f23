//! The connection tracker's timer queue: timers come out in the order of
//! their slot, `(deadline, arming sequence number)`, as from one ordered
//! map, at O(1) per timer while packet times run forwards.
//!
//! Each timer kind has its own lane, a FIFO: a kind's deadline is the packet
//! time plus that kind's constant delay, so in a capture whose times run
//! forwards every new timer of a kind is due no earlier than the last one
//! queued, and its sequence number is the largest yet. A timer that would
//! break its lane's order (time stepped back, or a deadline computed from an
//! earlier packet, such as an inactivity timer re-armed for a connection's
//! last packet) goes into a B-tree instead. The next timer is the least of
//! the lanes' heads and the B-tree's first.
//!
//! Cancelling is lazy: the owner keeps a cancelled timer's slot nowhere and
//! skips it when it comes out (so the owner decides what is live), and
//! counts it here; once the cancelled outnumber the live, the owner's test
//! of liveness sweeps them out, so the queue stays within twice the live
//! timers (plus a constant) however many connections are evicted.

use std::collections::{BTreeMap, VecDeque};

/// A timer's place in the order: its deadline (µs) and its arming sequence
/// number, unique per queue.
pub(super) type Slot = (i64, u64);

/// Cancelled timers tolerated before a sweep is considered.
const SWEEP_FLOOR: usize = 1024;

/// Timers in slot order, in `LANES` kinds.
#[derive(Debug)]
pub(super) struct TimerQueue<T, const LANES: usize> {
    /// Per kind, timers queued in slot order.
    lanes: [VecDeque<(Slot, T)>; LANES],
    /// Timers that arrived out of their lane's order.
    late: BTreeMap<Slot, T>,
    /// Cancelled timers still queued.
    cancelled: usize,
    /// The earliest slot queued (asked for on every packet).
    head: Option<Slot>,
}

impl<T, const LANES: usize> TimerQueue<T, LANES> {
    /// An empty queue.
    pub(super) fn new() -> Self {
        TimerQueue {
            lanes: core::array::from_fn(|_| VecDeque::new()),
            late: BTreeMap::new(),
            cancelled: 0,
            head: None,
        }
    }

    /// Timers queued, live and cancelled.
    pub(super) fn len(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum::<usize>() + self.late.len()
    }

    /// Queues `value` under `slot` in lane `lane` (taken modulo `LANES`).
    /// `slot.1` must be larger than every sequence number queued before.
    pub(super) fn push(&mut self, lane: usize, slot: Slot, value: T) {
        let q = &mut self.lanes[lane % LANES];
        if q.back().is_none_or(|(last, _)| last.0 <= slot.0) {
            q.push_back((slot, value));
        } else {
            self.late.insert(slot, value);
        }
        if self.head.is_none_or(|h| slot < h) {
            self.head = Some(slot);
        }
    }

    /// The earliest slot queued.
    pub(super) fn first(&self) -> Option<Slot> {
        self.head
    }

    /// The earliest slot queued, found from the lanes' and the B-tree's heads.
    fn find_head(&self) -> Option<Slot> {
        let heads = self.lanes.iter().filter_map(|q| q.front().map(|(s, _)| *s));
        heads.chain(self.late.keys().next().copied()).min()
    }

    /// Takes the earliest timer out.
    pub(super) fn pop_first(&mut self) -> Option<(Slot, T)> {
        let first = self.head?;
        let popped = match self
            .lanes
            .iter_mut()
            .find(|q| q.front().is_some_and(|(s, _)| *s == first))
        {
            Some(q) => q.pop_front(),
            None => self.late.pop_first(),
        };
        self.head = self.find_head();
        popped
    }

    /// Notes that one queued timer is no longer live.
    pub(super) fn cancelled(&mut self) {
        self.cancelled = self.cancelled.saturating_add(1);
    }

    /// Notes that a timer which came out of the queue was a cancelled one.
    pub(super) fn skipped(&mut self) {
        self.cancelled = self.cancelled.saturating_sub(1);
    }

    /// Drops the cancelled timers once they outnumber the live ones;
    /// `live` says whether a queued timer still counts.
    pub(super) fn sweep(&mut self, live: impl Fn(Slot, &T) -> bool) {
        let live_count = self.len().saturating_sub(self.cancelled);
        if self.cancelled < SWEEP_FLOOR || self.cancelled <= live_count {
            return;
        }
        for q in &mut self.lanes {
            q.retain(|(s, v)| live(*s, v));
        }
        self.late.retain(|s, v| live(*s, v));
        self.cancelled = 0;
        self.head = self.find_head();
    }

    /// Empties the queue.
    pub(super) fn clear(&mut self) {
        self.lanes.iter_mut().for_each(VecDeque::clear);
        self.late.clear();
        self.cancelled = 0;
        self.head = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain ordered map, for deadlines that mostly run forwards
    /// per lane, sometimes step back, and tie: the same timers come out in
    /// the same order, and sweeps drop exactly the cancelled ones.
    #[test]
    fn pops_in_slot_order_like_an_ordered_map() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut q: TimerQueue<u64, 3> = TimerQueue::new();
        let mut model: BTreeMap<Slot, u64> = BTreeMap::new();
        let mut dead = std::collections::BTreeSet::new();
        let mut clock = 0i64;
        let mut seq = 0u64;
        for step in 0..20_000u64 {
            match rand(10) {
                0..=5 => {
                    clock += rand(3) as i64 - i64::from(rand(50) == 0) * 40;
                    let lane = rand(3) as usize;
                    let delay = [5, 300, 5][lane] + i64::from(rand(20) == 0) * rand(200) as i64;
                    seq += 1;
                    q.push(lane, (clock + delay, seq), step);
                    model.insert((clock + delay, seq), step);
                }
                6 => {
                    if let Some((&s, _)) = model.iter().nth(rand(8) as usize) {
                        model.remove(&s);
                        dead.insert(s);
                        q.cancelled();
                        q.sweep(|s, _| !dead.contains(&s));
                    }
                }
                _ => loop {
                    let got = q.pop_first();
                    if got.as_ref().is_some_and(|(s, _)| dead.remove(s)) {
                        q.skipped();
                        continue;
                    }
                    assert_eq!(got, model.pop_first());
                    break;
                },
            }
            assert!(q.len() <= 2 * model.len() + SWEEP_FLOOR + 1);
            assert_eq!(q.first(), q.find_head());
        }
    }

    /// Cancelling most timers (connections evicted in a flood) shrinks the
    /// queue once the cancelled outnumber the live, and the live still come
    /// out in order.
    #[test]
    fn cancelled_timers_are_swept() {
        let mut q: TimerQueue<u64, 3> = TimerQueue::new();
        for seq in 1..=3000u64 {
            q.push((seq % 3) as usize, (seq as i64 / 3, seq), seq);
        }
        let live = |s: Slot, _: &u64| s.1 % 4 == 0;
        for _ in 0..(3000 - 750) {
            q.cancelled();
            q.sweep(live);
        }
        assert_eq!(q.len(), 750);
        let mut out = Vec::new();
        while let Some((s, v)) = q.pop_first() {
            assert_eq!(s.1, v);
            out.push(s);
        }
        assert!(out.is_sorted());
        assert_eq!(out.len(), 750);
    }
}
