//! Ground-truth labels: which actor caused a packet, benign or malicious, and
//! why. The simulator attaches one to every frame; captures carry it as a
//! pcapng comment ([`Label`]'s `Display` form, read back by
//! [`Label::from_comment`]) and in the labels side file ([`crate::labels`]).

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

    /// The class named `benign` or `malicious`.
    pub fn parse(s: &str) -> Option<Class> {
        match s {
            "benign" => Some(Class::Benign),
            "malicious" => Some(Class::Malicious),
            _ => None,
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

impl Label {
    /// A label from its three parts.
    pub fn new(actor: &str, class: Class, cause: &str) -> Label {
        Label {
            actor: actor.to_string(),
            class,
            cause: cause.to_string(),
        }
    }

    /// Parses a pcapng comment written by scanbench (`actor=A class=C
    /// cause=K`, the `Display` form); `None` for any other comment.
    pub fn from_comment(comment: &str) -> Option<Label> {
        let mut actor = None;
        let mut class = None;
        let mut cause = None;
        for part in comment.split_whitespace() {
            match part.split_once('=')? {
                ("actor", v) => actor = Some(v.to_string()),
                ("class", v) => class = Class::parse(v),
                ("cause", v) => cause = Some(v.to_string()),
                _ => return None,
            }
        }
        Some(Label {
            actor: actor?,
            class: class?,
            cause: cause?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_round_trips() {
        let l = Label {
            actor: "client-1".into(),
            class: Class::Benign,
            cause: "poll".into(),
        };
        assert_eq!(Label::from_comment(&l.to_string()), Some(l));
        assert_eq!(Label::from_comment("a free-form comment"), None);
        assert_eq!(Label::from_comment("actor=x class=evil cause=y"), None);
    }
}
