//! Reading ground-truth labels back: the JSON-lines files `run` writes next
//! to each capture, and the `actor=... class=... cause=...` comments of
//! scanbench's pcapng files.

use std::collections::BTreeMap;
use std::path::Path;

use scanbench_sim::label::{Class, Label};

use crate::error::{Error, Result};

/// Labels by frame number.
#[derive(Clone, Debug, Default)]
pub struct FrameLabels {
    by_frame: BTreeMap<u64, Label>,
}

impl FrameLabels {
    /// Reads a labels file (one JSON object per line with at least `frame`,
    /// `actor`, `class` and `cause`).
    ///
    /// # Errors
    /// An unreadable file, or a line that is not such an object, naming the
    /// file, the line and the field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(path, &text)
    }

    /// Parses labels text; `path` is used in messages.
    ///
    /// # Errors
    /// See [`FrameLabels::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut by_frame = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| Error::Input {
                path: path.to_path_buf(),
                line: Some(i + 1),
                message,
            };
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let field = |name: &str| -> Result<&str> {
                v.get(name)
                    .and_then(|x| x.as_str())
                    .ok_or_else(|| bad(format!("`{name}`: missing or not a string")))
            };
            let frame = v
                .get("frame")
                .and_then(|x| x.as_u64())
                .ok_or_else(|| bad("`frame`: missing or not a number".into()))?;
            let class = parse_class(field("class")?)
                .ok_or_else(|| bad("`class`: expected benign or malicious".into()))?;
            let label = Label {
                actor: field("actor")?.to_string(),
                class,
                cause: field("cause")?.to_string(),
            };
            by_frame.insert(frame, label);
        }
        Ok(FrameLabels { by_frame })
    }

    /// The label of frame `index`.
    pub fn get(&self, index: u64) -> Option<&Label> {
        self.by_frame.get(&index)
    }

    /// Frames labelled.
    pub fn len(&self) -> usize {
        self.by_frame.len()
    }

    /// No frame labelled.
    pub fn is_empty(&self) -> bool {
        self.by_frame.is_empty()
    }
}

fn parse_class(s: &str) -> Option<Class> {
    match s {
        "benign" => Some(Class::Benign),
        "malicious" => Some(Class::Malicious),
        _ => None,
    }
}

/// Parses a pcapng comment written by scanbench (`actor=A class=C cause=K`).
pub fn from_comment(comment: &str) -> Option<Label> {
    let mut actor = None;
    let mut class = None;
    let mut cause = None;
    for part in comment.split_whitespace() {
        match part.split_once('=')? {
            ("actor", v) => actor = Some(v.to_string()),
            ("class", v) => class = parse_class(v),
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
        assert_eq!(from_comment(&l.to_string()), Some(l));
        assert_eq!(from_comment("a free-form comment"), None);
        assert_eq!(from_comment("actor=x class=evil cause=y"), None);
    }

    #[test]
    fn bad_line_names_line_and_field() {
        let text = "{\"frame\":0,\"actor\":\"a\",\"class\":\"benign\",\"cause\":\"c\"}\n{\"frame\":1,\"actor\":\"a\",\"cause\":\"c\"}\n";
        let e = FrameLabels::parse(Path::new("x.jsonl"), text).unwrap_err();
        assert_eq!(e.to_string(), "x.jsonl:2: `class`: missing or not a string");
        let ok = FrameLabels::parse(Path::new("x.jsonl"), &text[..text.find('\n').unwrap()]);
        assert_eq!(ok.unwrap().len(), 1);
    }
}
