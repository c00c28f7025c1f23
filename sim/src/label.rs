//! Ground-truth labels: which actor caused a packet, benign or malicious, and why.
//!
//! Labels are interned: packets in flight carry a [`LabelId`] (4 bytes), and the
//! [`Labels`] table owned by the fabric resolves it.

use core::fmt;

/// Ground-truth class of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Caused by legitimate activity (even if it looks odd on the wire).
    Benign,
    /// Caused by an attacker (a scan).
    Malicious,
}

impl Class {
    /// `benign` or `malicious`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Benign => "benign",
            Class::Malicious => "malicious",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused a packet and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The actor (an application instance, usually named after its host: `client-1`).
    pub actor: String,
    /// Benign or malicious.
    pub class: Class,
    /// The cause tag: `scan`, `poll`, `browse`, `balancer-misconfig`, `state-loss`, ...
    pub cause: String,
}

impl fmt::Display for Label {
    /// `actor=client class=benign cause=poll`: the form used in pcapng comments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "actor={} class={} cause={}",
            self.actor, self.class, self.cause
        )
    }
}

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
