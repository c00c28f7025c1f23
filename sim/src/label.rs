//! Ground-truth labels: which actor caused a packet, benign or malicious, and why.
//! [`Label`] and [`Class`] are defined by `scanbench-capture` (the formats that
//! store them); this module interns them for the packets in flight.
//!
//! Labels are interned: packets in flight carry a [`LabelId`] (4 bytes), and the
//! [`Labels`] table owned by the fabric resolves it.

use rustc_hash::FxHashMap;

pub use scanbench_capture::label::{Class, Label};

/// Index into [`Labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelId(pub u32);

/// The interned label table.
#[derive(Debug, Default)]
pub struct Labels {
    entries: Vec<Label>,
    /// Lookup only (a network of 100,000 hosts interns a label per host and app).
    ids: FxHashMap<Label, LabelId>,
}

impl Labels {
    /// Interns `label`, returning its id (the same id for an equal label).
    pub fn intern(&mut self, label: Label) -> LabelId {
        if let Some(&id) = self.ids.get(&label) {
            return id;
        }
        let id = LabelId(self.entries.len() as u32);
        self.entries.push(label.clone());
        self.ids.insert(label, id);
        id
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
