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

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::label::Label;

mod line;
mod stream;

pub use stream::{
    FrameLabel, LABEL_OVERHEAD_BYTES, LabelCount, LabelStream, MAX_LABEL_BYTES, MAX_LINE_BYTES,
};

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

/// A labels file, checked to be readable and to label at least one frame.
/// It is not held in memory: each pass over the capture reads it again as a
/// [`LabelStream`], so memory does not grow with the file's length.
#[derive(Clone, Debug)]
pub struct FrameLabels {
    path: PathBuf,
}

impl FrameLabels {
    /// Checks a labels file (one JSON object per line with at least `frame`,
    /// `actor`, `class` and `cause`, frames ascending) up to its first label.
    /// Later lines are checked as a [`LabelStream`] reaches them.
    ///
    /// # Errors
    /// An unreadable file, a first line that is not such an object (naming
    /// the file, the line and the field), or a file with no label at all.
    pub fn load(path: &Path) -> Result<Self> {
        let labels = FrameLabels {
            path: path.to_path_buf(),
        };
        labels.stream()?;
        Ok(labels)
    }

    /// The file the labels come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file for one pass in frame order.
    ///
    /// # Errors
    /// See [`FrameLabels::load`].
    pub fn stream(&self) -> Result<LabelStream<BufReader<File>>> {
        let file = File::open(&self.path).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })?;
        LabelStream::new(&self.path, BufReader::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::Class;

    /// Streams `text` as the labels file `x.jsonl`.
    fn stream(text: &str) -> Result<LabelStream<&[u8]>> {
        LabelStream::new(Path::new("x.jsonl"), text.as_bytes())
    }

    #[test]
    fn bad_line_names_line_and_field() {
        let text = "{\"frame\":0,\"actor\":\"a\",\"class\":\"benign\",\"cause\":\"c\"}\n{\"frame\":1,\"actor\":\"a\",\"cause\":\"c\"}\n";
        let mut s = stream(text).unwrap();
        assert!(s.frame(0).unwrap().is_some());
        let e = s.frame(1).unwrap_err();
        assert_eq!(e.to_string(), "x.jsonl:2: `class`: missing or not a string");
        let ok = stream(&text[..text.find('\n').unwrap()]).unwrap().finish();
        assert_eq!(ok.unwrap().frames, 1);
        let e = stream("\n  \n").unwrap_err();
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
        let mut back = stream(&line).unwrap();
        let f = back.frame(7).unwrap().unwrap();
        assert_eq!(f.label, &label);
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
            stream(&bare.line())
                .unwrap()
                .frame(7)
                .unwrap()
                .unwrap()
                .addrs,
            None
        );
    }
}
