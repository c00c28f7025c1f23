//! The labels side file: one JSON object per captured frame, written next to
//! each capture (`x.pcap` -> `x.labels.jsonl`) and read back by `replay`.
//!
//! A line, with the packet fields present when the frame parses as IPv4 (ports
//! for TCP and UDP, flags for TCP, in tcpdump's letters):
//!
//! ```text
//! {"frame":0,"tap":"perimeter","time_us":1000,"proto":"tcp","src":"203.0.113.66",
//!  "dst":"198.51.100.10","sport":40000,"dport":80,"flags":"S","actor":"scanner",
//!  "class":"malicious","cause":"scan"}
//! ```
//!
//! `frame` is the 0-based frame number on the tap, equal to the record's index
//! in the capture written beside it. Readers need only `frame`, `actor`,
//! `class` and `cause`; the other fields are for people and other tools.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::label::{Class, Label};

/// The default labels path for a capture path: `x.pcap` -> `x.labels.jsonl`.
pub fn path_for(capture: &Path) -> PathBuf {
    capture.with_extension("labels.jsonl")
}

/// Where `run` would have written the labels of a capture read from
/// `capture`: [`path_for`], after dropping a `.gz` the capture got later
/// (`x.pcap.gz` -> `x.labels.jsonl`).
pub fn beside(capture: &Path) -> PathBuf {
    match capture.extension() {
        Some(e) if e.eq_ignore_ascii_case("gz") => path_for(&capture.with_extension("")),
        _ => path_for(capture),
    }
}

/// What a labels line says about the packet itself (when it parses as IPv4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketSummary {
    /// IP protocol number (written as `icmp`, `tcp`, `udp` or the number).
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source and destination port, for TCP and UDP.
    pub ports: Option<(u16, u16)>,
    /// TCP flags in tcpdump's letters (`S`, `S.`, `R.`, `none`), for TCP.
    pub tcp_flags: Option<String>,
}

/// One line of a labels file.
#[derive(Clone, Debug)]
pub struct LabelRecord<'a> {
    /// Frame number on the tap (0-based).
    pub frame: u64,
    /// Tap name.
    pub tap: &'a str,
    /// Capture time, microseconds of virtual time.
    pub time_us: i64,
    /// The packet's addresses, ports and flags, if it parses.
    pub packet: Option<PacketSummary>,
    /// Ground truth.
    pub label: &'a Label,
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl LabelRecord<'_> {
    /// The JSON line, newline included.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{{\"frame\":{},\"tap\":{},\"time_us\":{}",
            self.frame,
            json_str(self.tap),
            self.time_us
        );
        // Writing to a String cannot fail.
        if let Some(p) = &self.packet {
            let proto = match p.protocol {
                1 => "icmp".to_string(),
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                n => n.to_string(),
            };
            let _ = write!(
                line,
                ",\"proto\":\"{proto}\",\"src\":\"{}\",\"dst\":\"{}\"",
                p.src, p.dst
            );
            if let Some((sp, dp)) = p.ports {
                let _ = write!(line, ",\"sport\":{sp},\"dport\":{dp}");
            }
            if let Some(f) = &p.tcp_flags {
                let _ = write!(line, ",\"flags\":{}", json_str(f));
            }
        }
        let _ = writeln!(
            line,
            ",\"actor\":{},\"class\":\"{}\",\"cause\":{}}}",
            json_str(&self.label.actor),
            self.label.class,
            json_str(&self.label.cause)
        );
        line
    }
}

/// A frame's label as a labels file gives it, with the packet fields that
/// let a reader check the file belongs to its capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLabel {
    /// Ground truth.
    pub label: Label,
    /// `src` and `dst`, when the line has them.
    pub addrs: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// Labels by frame number, as read from a labels file.
#[derive(Clone, Debug, Default)]
pub struct FrameLabels {
    path: PathBuf,
    by_frame: BTreeMap<u64, FrameLabel>,
}

impl FrameLabels {
    /// Reads a labels file (one JSON object per line with at least `frame`,
    /// `actor`, `class` and `cause`).
    ///
    /// # Errors
    /// An unreadable file, a line that is not such an object (naming the
    /// file, the line and the field), or a file with no label at all.
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
            let bad = |message: String| Error::Labels {
                path: path.to_path_buf(),
                line: i + 1,
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
            let class = Class::parse(field("class")?)
                .ok_or_else(|| bad("`class`: expected benign or malicious".into()))?;
            let label = Label {
                actor: field("actor")?.to_string(),
                class,
                cause: field("cause")?.to_string(),
            };
            let addr = |name: &str| v.get(name)?.as_str()?.parse::<Ipv4Addr>().ok();
            let addrs = addr("src").zip(addr("dst"));
            by_frame.insert(frame, FrameLabel { label, addrs });
        }
        if by_frame.is_empty() {
            return Err(Error::EmptyLabels {
                path: path.to_path_buf(),
            });
        }
        Ok(FrameLabels {
            path: path.to_path_buf(),
            by_frame,
        })
    }

    /// The file the labels came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The label of frame `index`.
    pub fn get(&self, index: u64) -> Option<&Label> {
        self.by_frame.get(&index).map(|f| &f.label)
    }

    /// The label of frame `index` with the addresses its line names.
    pub fn frame(&self, index: u64) -> Option<&FrameLabel> {
        self.by_frame.get(&index)
    }

    /// The highest frame number labelled.
    pub fn last_frame(&self) -> Option<u64> {
        self.by_frame.keys().next_back().copied()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_line_names_line_and_field() {
        let text = "{\"frame\":0,\"actor\":\"a\",\"class\":\"benign\",\"cause\":\"c\"}\n{\"frame\":1,\"actor\":\"a\",\"cause\":\"c\"}\n";
        let e = FrameLabels::parse(Path::new("x.jsonl"), text).unwrap_err();
        assert_eq!(e.to_string(), "x.jsonl:2: `class`: missing or not a string");
        let ok = FrameLabels::parse(Path::new("x.jsonl"), &text[..text.find('\n').unwrap()]);
        assert_eq!(ok.unwrap().len(), 1);
        let e = FrameLabels::parse(Path::new("x.jsonl"), "\n  \n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.jsonl: empty labels file: no frame is labelled"
        );
    }

    #[test]
    fn labels_beside_a_capture() {
        assert_eq!(
            path_for(Path::new("d/x.pcap")),
            Path::new("d/x.labels.jsonl")
        );
        assert_eq!(
            beside(Path::new("d/x.pcap.gz")),
            Path::new("d/x.labels.jsonl")
        );
        assert_eq!(beside(Path::new("x.pcapng")), Path::new("x.labels.jsonl"));
    }

    #[test]
    fn written_lines_read_back() {
        let label = Label {
            actor: "scan\"ner".into(),
            class: Class::Malicious,
            cause: "scan".into(),
        };
        let rec = LabelRecord {
            frame: 7,
            tap: "perimeter",
            time_us: 1_000,
            packet: Some(PacketSummary {
                protocol: 6,
                src: Ipv4Addr::new(203, 0, 113, 66),
                dst: Ipv4Addr::new(198, 51, 100, 10),
                ports: Some((40000, 80)),
                tcp_flags: Some("S".into()),
            }),
            label: &label,
        };
        let line = rec.line();
        assert_eq!(
            line,
            "{\"frame\":7,\"tap\":\"perimeter\",\"time_us\":1000,\"proto\":\"tcp\",\
             \"src\":\"203.0.113.66\",\"dst\":\"198.51.100.10\",\"sport\":40000,\"dport\":80,\
             \"flags\":\"S\",\"actor\":\"scan\\\"ner\",\"class\":\"malicious\",\"cause\":\"scan\"}\n"
        );
        let back = FrameLabels::parse(Path::new("x"), &line).unwrap();
        let f = back.frame(7).unwrap();
        assert_eq!(f.label, label);
        assert_eq!(
            f.addrs,
            Some((
                rec.packet.as_ref().unwrap().src,
                Ipv4Addr::new(198, 51, 100, 10)
            ))
        );
        let bare = LabelRecord {
            packet: None,
            ..rec
        };
        assert_eq!(
            FrameLabels::parse(Path::new("x"), &bare.line())
                .unwrap()
                .frame(7)
                .unwrap()
                .addrs,
            None
        );
    }
}
