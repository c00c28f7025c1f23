//! Ground-truth labels: which actor caused a packet, benign or malicious, and why.
//! [`Label`] and [`Class`] are defined by `scanbench-capture` (the formats that
//! store them); this module interns them for the packets in flight.
//!
//! Labels are interned: packets in flight carry a [`LabelId`] (4 bytes), and the
//! [`Labels`] table owned by the fabric resolves it.

pub use scanbench_capture::label::{Class, Label};

/// Index into [`Labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelId(pub u32);

/// The interned label table.
#[derive(Debug, Default)]
pub struct Labels {
    entries: Vec<Label>,
}

impl Labels {
    /// Interns `label`, returning its id (the same id for an equal label).
    pub fn intern(&mut self, label: Label) -> LabelId {
        if let Some(i) = self.entries.iter().position(|l| *l == label) {
            return LabelId(i as u32);
        }
        self.entries.push(label);
        LabelId(self.entries.len() as u32 - 1)
    }

    /// The same label with another cause (e.g. a middlebox adds `balancer-misconfig`).
    pub fn with_cause(&mut self, id: LabelId, cause: &str) -> LabelId {
        let mut l = self.get(id).clone();
        l.cause = cause.to_string();
        self.intern(l)
    }

    /// Resolves an id.
    ///
    /// # Panics
    /// If `id` did not come from this table.
    pub fn get(&self, id: LabelId) -> &Label {
        &self.entries[id.0 as usize]
    }

    /// All labels, in id order.
    pub fn all(&self) -> &[Label] {
        &self.entries
    }
}
