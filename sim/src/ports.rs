//! Ephemeral port allocation, as an OS does it: a configurable range
//! (Linux's default is 32768-60999), a seeded starting point, then sequential
//! allocation that skips ports still in use.

use std::collections::BTreeSet;

use rand::RngExt;

use crate::rng::SimRng;

/// Linux's default `net.ipv4.ip_local_port_range`.
pub const LINUX_RANGE: (u16, u16) = (32768, 60999);

/// Allocator for one host.
#[derive(Debug)]
pub struct EphemeralPorts {
    lo: u16,
    hi: u16,
    next: u16,
    in_use: BTreeSet<u16>,
}

impl EphemeralPorts {
    /// A range `lo..=hi` with a starting point drawn from `rng`.
    ///
    /// # Panics
    /// If `lo > hi` (validated when the scenario is loaded).
    pub fn new(lo: u16, hi: u16, rng: &mut SimRng) -> Self {
        assert!(lo <= hi, "ephemeral range {lo}-{hi} is reversed");
        EphemeralPorts {
            lo,
            hi,
            next: rng.random_range(lo..=hi),
            in_use: BTreeSet::new(),
        }
    }

    /// The next free port, or `None` if the whole range is in use.
    pub fn alloc(&mut self) -> Option<u16> {
        let span = u32::from(self.hi - self.lo) + 1;
        for _ in 0..span {
            let p = self.next;
            self.next = if self.next == self.hi {
                self.lo
            } else {
                self.next + 1
            };
            if self.in_use.insert(p) {
                return Some(p);
            }
        }
        None
    }

    /// Returns a port to the pool.
    pub fn release(&mut self, port: u16) {
        self.in_use.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn sequential_wraps_and_skips_in_use() {
        let mut p = EphemeralPorts::new(100, 102, &mut stream(1, "h"));
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        let c = p.alloc().unwrap();
        assert_eq!(p.alloc(), None);
        let mut all = [a, b, c];
        all.sort();
        assert_eq!(all, [100, 101, 102]);
        p.release(b);
        assert_eq!(p.alloc(), Some(b));
    }
}
