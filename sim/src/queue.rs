//! The fabric's event queue: what is due when, in (virtual time, insertion
//! sequence) order, so ties resolve the same way on every run.
//!
//! Entries are small and carry no packet. A link direction delivers in FIFO
//! order (its arrivals never decrease, and later packets get later sequence
//! numbers), so only the first packet in flight on each direction has an
//! entry here; the rest wait in the link's own queue (see
//! [`InFlight`]) and the next one takes its place, with its own sequence
//! number, when the first is delivered. The order of events is exactly that
//! of one queue holding every packet, at a fraction of the queue size.

use std::collections::VecDeque;

use smoltcp::time::Instant;

use crate::fabric::{LinkId, NodeId};
use crate::middlebox::Packet;
use crate::radix::RadixHeap;

/// What falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// A host's wake-up.
    Wake(NodeId),
    /// A router's middlebox timer.
    Timer(NodeId),
    /// The first packet in flight on a link, sent from `side`.
    Link(LinkId, usize),
    /// A packet a middlebox delayed, held in slot `n` of the fabric's store.
    Resume(u32),
}

/// The queue: a radix heap of small entries (see [`crate::radix`]); the
/// sequence counter numbers every event, including packets waiting behind
/// another on a link.
#[derive(Default)]
pub(crate) struct EventQueue {
    heap: RadixHeap<Due>,
    seq: u64,
}

/// Virtual time as the radix heap's key (time never goes below zero).
fn key(at: Instant) -> u64 {
    u64::try_from(at.total_micros()).expect("virtual time starts at zero")
}

impl EventQueue {
    /// The next sequence number: call once per event, in the order events are created.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queues `due` at `at` as a new event.
    pub(crate) fn push(&mut self, at: Instant, due: Due) {
        let seq = self.next_seq();
        self.push_numbered(at, seq, due);
    }

    /// Queues `due` at `at` under a sequence number taken earlier.
    pub(crate) fn push_numbered(&mut self, at: Instant, seq: u64, due: Due) {
        self.heap.push(key(at), seq, due);
    }

    /// When the earliest event is due.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek_at().map(|t| Instant::from_micros(t as i64))
    }

    /// The next event to come out, or one due at the same time: a guess, for
    /// prefetching what it will read (see [`RadixHeap::peek_hint`]).
    pub(crate) fn peek_hint(&self) -> Option<Due> {
        self.heap.peek_hint().copied()
    }

    /// Removes and returns the earliest event if it is due at or before `end`.
    pub(crate) fn pop_until(&mut self, end: Instant) -> Option<(Instant, Due)> {
        if self.next_at()? > end {
            return None;
        }
        self.heap
            .pop()
            .map(|(t, due)| (Instant::from_micros(t as i64), due))
    }
}

/// A packet on its way along one direction of a link.
pub(crate) struct Flight {
    at: Instant,
    seq: u64,
    pkt: Packet,
}

/// Packets in flight on one direction of a link, in arrival order.
#[derive(Default)]
pub(crate) struct InFlight(VecDeque<Flight>);

impl InFlight {
    /// Sends `pkt` to arrive at `at`; `due` is this direction's queue entry,
    /// queued only if the packet is first in line.
    pub(crate) fn send(&mut self, queue: &mut EventQueue, at: Instant, pkt: Packet, due: Due) {
        let seq = queue.next_seq();
        debug_assert!(
            self.0.back().is_none_or(|b| (b.at, b.seq) < (at, seq)),
            "a link direction delivers in order"
        );
        if self.0.is_empty() {
            queue.push_numbered(at, seq, due);
        }
        self.0.push_back(Flight { at, seq, pkt });
    }

    /// Takes the first packet (its entry just came due) and queues the next one's entry.
    pub(crate) fn arrive(&mut self, queue: &mut EventQueue, due: Due) -> Packet {
        let first = self
            .0
            .pop_front()
            .expect("a link entry is queued only while a packet is in flight");
        if let Some(next) = self.0.front() {
            queue.push_numbered(next.at, next.seq, due);
        }
        first.pkt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(tag: u8) -> Packet {
        Packet {
            bytes: vec![tag],
            label: crate::label::LabelId(0),
        }
    }

    /// Packets queued behind each other on links come out interleaved with
    /// other events exactly as from a single queue of (time, sequence).
    #[test]
    fn link_queues_keep_the_global_order() {
        let t = Instant::from_micros;
        let mut q = EventQueue::default();
        let mut links = [InFlight::default(), InFlight::default()];
        let due = |i: usize| Due::Link(LinkId(i as u32), 0);
        // (time, link or wake): the order of creation.
        let plan: [(i64, Option<usize>); 7] = [
            (5, Some(0)),
            (5, None),
            (5, Some(0)),
            (3, Some(1)),
            (9, Some(0)),
            (3, None),
            (9, Some(1)),
        ];
        let mut expected = Vec::new();
        for (k, &(at, link)) in plan.iter().enumerate() {
            match link {
                Some(l) => links[l].send(&mut q, t(at), pkt(k as u8), due(l)),
                None => q.push(t(at), Due::Wake(NodeId(k as u32))),
            }
            expected.push((at, k));
        }
        expected.sort();
        let mut got = Vec::new();
        while let Some((at, d)) = q.pop_until(t(100)) {
            let k = match d {
                Due::Link(l, _) => links[l.0 as usize].arrive(&mut q, d).bytes[0] as usize,
                Due::Wake(n) => n.0 as usize,
                Due::Timer(_) | Due::Resume(_) => unreachable!(),
            };
            got.push((at.total_micros(), k));
        }
        assert_eq!(got, expected);
    }
}
