//! A set of 16-bit port numbers as 65,536 bits (8 KiB): a per-packet "is
//! this port watched?" or "is it in use?" is one bit test, where a sorted
//! list or a B-tree of ports is a search. Walks (none are per packet) go
//! in port order.

/// Words of 64 bits that hold every port.
const WORDS: usize = 65_536 / 64;

/// See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; WORDS]>,
    len: usize,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            bits: Box::new([0; WORDS]),
            len: 0,
        }
    }
}

impl core::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl PortSet {
    /// True if `port` is in the set.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        let (word, bit) = (usize::from(port) / 64, port % 64);
        self.bits[word] >> bit & 1 == 1
    }

    /// Adds `port`; true if it was not there before.
    #[inline]
    pub fn insert(&mut self, port: u16) -> bool {
        let (word, bit) = (usize::from(port) / 64, port % 64);
        let new = self.bits[word] >> bit & 1 == 0;
        self.bits[word] |= 1 << bit;
        // Not `self.len += usize::from(new)`: rustc 1.95 -O drops that
        // increment when two inserts are joined by `&&` (the test below
        // fails in release builds with it).
        if new {
            self.len += 1;
        }
        new
    }

    /// Adds every port of `from..=to`.
    pub fn insert_range(&mut self, from: u16, to: u16) {
        for port in from..=to {
            self.insert(port);
        }
    }

    /// Number of ports in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the set holds no port.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ports in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|p| self.contains(*p))
    }
}

impl FromIterator<u16> for PortSet {
    fn from_iter<I: IntoIterator<Item = u16>>(ports: I) -> Self {
        let mut set = PortSet::default();
        for port in ports {
            set.insert(port);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::PortSet;

    #[test]
    fn holds_each_port_once_at_both_ends_of_the_range() {
        let mut s = PortSet::default();
        assert!(s.is_empty() && !s.contains(0) && !s.contains(65_535));
        assert!(s.insert(0) && s.insert(65_535) && s.insert(64) && !s.insert(64));
        assert_eq!(s.len(), 3);
        assert!(s.contains(0) && s.contains(64) && s.contains(65_535));
        assert!(!s.contains(1) && !s.contains(63) && !s.contains(65_534));
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 64, 65_535]);
        s.insert_range(5800, 5820);
        assert_eq!(s.len(), 24);
        assert!(s.contains(5800) && s.contains(5820) && !s.contains(5821));
        let t: PortSet = [22, 22, 80].into_iter().collect();
        assert_eq!((t.len(), format!("{t:?}")), (2, "{22, 80}".to_string()));
    }
}
