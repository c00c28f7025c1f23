//! Which app last claimed each local port of a host, so packets sent from
//! that port carry the app's label.
//!
//! A claim outlives the connection that made it (a connect scanner's stack
//! still answers a late SYN-ACK from the released port, and that RST is the
//! scan's doing), so claims are never dropped. Kept as one entry per port,
//! a client that opens a connection per poll would fill the whole ephemeral
//! range over a long run: memory growing with simulated time. Ports are
//! handed out in sequence, so the claims of one app form long runs of
//! consecutive ports: stored as runs, a host with one client app holds a
//! handful of entries however long it runs. Lookups answer exactly what a
//! map of every claimed port would.

use std::collections::BTreeMap;

use crate::label::LabelId;

/// Port claims as runs of consecutive ports with the same label.
#[derive(Debug, Default)]
pub(crate) struct PortClaims {
    /// First port of a run -> (last port, label). Runs do not overlap, and
    /// neighbouring runs have different labels or a gap between them.
    runs: BTreeMap<u16, (u16, LabelId)>,
    /// The run the last claim made or found, (first, last, label): one of
    /// `runs`. A server claims its ports on every poll and the fabric looks
    /// up the source port of every packet a host sends, nearly always in
    /// this run, so it is checked before the tree.
    recent: Option<(u16, u16, LabelId)>,
}

impl PortClaims {
    /// The label of the last claim of `port`, if it was ever claimed.
    pub(crate) fn get(&self, port: u16) -> Option<LabelId> {
        if let Some((first, last, label)) = self.recent
            && (first..=last).contains(&port)
        {
            return Some(label);
        }
        let (_, &(last, label)) = self.runs.range(..=port).next_back()?;
        (port <= last).then_some(label)
    }

    /// `port` is `label`'s from now on.
    pub(crate) fn claim(&mut self, port: u16, label: LabelId) {
        if let Some((first, last, held)) = self.recent
            && (first..=last).contains(&port)
            && held == label
        {
            return;
        }
        if let Some((&first, &(last, held))) = self.runs.range(..=port).next_back()
            && port <= last
            && held == label
        {
            self.recent = Some((first, last, label));
            return;
        }
        // Cut `port` out of the run holding it, if any.
        if let Some((&first, &(last, old))) = self.runs.range(..=port).next_back()
            && port <= last
        {
            self.runs.remove(&first);
            if first < port {
                self.runs.insert(first, (port - 1, old));
            }
            if port < last {
                self.runs.insert(port + 1, (last, old));
            }
        }
        let mut first = port;
        let mut last = port;
        // Join the run ending just below, and the one starting just above.
        if let Some(below) = port.checked_sub(1)
            && let Some((&f, &(l, lab))) = self.runs.range(..=below).next_back()
            && l == below
            && lab == label
        {
            self.runs.remove(&f);
            first = f;
        }
        if let Some(above) = port.checked_add(1)
            && let Some(&(l, lab)) = self.runs.get(&above)
            && lab == label
        {
            self.runs.remove(&above);
            last = l;
        }
        self.runs.insert(first, (last, label));
        self.recent = Some((first, last, label));
    }

    /// Runs stored.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The same answers as a map of every claimed port.
        #[test]
        fn answers_as_a_map_of_ports(
            claims in prop::collection::vec((prop_oneof![0u16..12, 65530u16..=65535, any::<u16>()], 0u32..3), 0..300),
            probes in prop::collection::vec(any::<u16>(), 0..50),
        ) {
            let mut runs = PortClaims::default();
            let mut map = BTreeMap::new();
            for (port, label) in claims {
                runs.claim(port, LabelId(label));
                map.insert(port, LabelId(label));
                prop_assert_eq!(runs.get(port), Some(LabelId(label)));
            }
            for p in probes.into_iter().chain(map.keys().copied()).chain([0, 1, 11, 12, 65535]) {
                prop_assert_eq!(runs.get(p), map.get(&p).copied(), "port {}", p);
            }
        }
    }

    #[test]
    fn one_app_over_a_whole_range_is_one_run() {
        let mut c = PortClaims::default();
        // A client's sequential ports, starting mid-range and wrapping.
        for p in (40_000..=60_999).chain(32_768..40_000) {
            c.claim(p, LabelId(1));
        }
        assert_eq!(c.len(), 1, "the ports above and below the start, joined");
        c.claim(39_999, LabelId(1));
        assert_eq!(c.len(), 1);
        c.claim(50_000, LabelId(2));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(50_000), Some(LabelId(2)));
        assert_eq!(c.get(49_999), Some(LabelId(1)));
        assert_eq!(c.get(80), None);
    }
}
