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
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLabel<'a> {
    /// Ground truth (interned: the same `&Label` for every frame with the
    /// same actor, class and cause).
    pub label: &'a Label,
    /// `src` and `dst`, when the line has them.
    pub addrs: Option<(Ipv4Addr, Ipv4Addr)>,
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

/// The longest line a labels file may have, newline included. Lines `run`
/// writes are about 250 bytes; the bound keeps a file without newlines from
/// filling memory.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// At most this much distinct actor and cause text is interned (plus
/// [`LABEL_OVERHEAD_BYTES`] per distinct label); a scenario has a few dozen
/// combinations, so only a file written to exhaust memory reaches it.
pub const MAX_LABEL_BYTES: usize = 16 << 20;

/// What each distinct label counts against [`MAX_LABEL_BYTES`] besides its
/// text: the `Label`, its table slot and its index entry, rounded up.
pub const LABEL_OVERHEAD_BYTES: usize = 128;

/// How many frames a labels file labelled and the highest frame number, as
/// counted by [`LabelStream::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelCount {
    /// Labelled frames (lines with a label).
    pub frames: u64,
    /// The highest frame number labelled.
    pub last_frame: Option<u64>,
}

/// A parsed line not yet asked for.
#[derive(Clone, Copy, Debug)]
struct Entry {
    frame: u64,
    label: u32,
    addrs: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// Distinct labels, each stored once; looked up by actor without building a
/// `Label` (or allocating) per line.
#[derive(Debug, Default)]
struct LabelTable {
    labels: Vec<Label>,
    by_actor: BTreeMap<String, Vec<u32>>,
    bytes: usize,
}

impl LabelTable {
    /// The id of (`actor`, `class`, `cause`), interned if new; `None` when a
    /// new label would pass [`MAX_LABEL_BYTES`].
    fn intern(&mut self, actor: &str, class: Class, cause: &str) -> Option<u32> {
        if let Some(ids) = self.by_actor.get(actor) {
            let found = ids.iter().copied().find(|&id| {
                let l = &self.labels[id as usize];
                l.class == class && l.cause == cause
            });
            if found.is_some() {
                return found;
            }
        }
        let cost = (actor.len() + cause.len()).saturating_add(LABEL_OVERHEAD_BYTES);
        let bytes = self.bytes.saturating_add(cost);
        if bytes > MAX_LABEL_BYTES {
            return None;
        }
        let id = u32::try_from(self.labels.len()).ok()?;
        self.bytes = bytes;
        self.labels.push(Label::new(actor, class, cause));
        self.by_actor.entry(actor.to_string()).or_default().push(id);
        Some(id)
    }
}

/// A labels file read line by line, in frame order, alongside its capture:
/// one line buffer reused, labels interned, so memory is independent of the
/// file's length. Frames must be asked for in ascending order (as a capture
/// is read); the file's frame numbers must ascend, one line per frame, as
/// `run` writes them.
#[derive(Debug)]
pub struct LabelStream<R> {
    path: PathBuf,
    reader: R,
    buf: String,
    /// 1-based number of the line last read.
    line: usize,
    table: LabelTable,
    pending: Option<Entry>,
    /// Labelled lines read so far (the pending one included).
    frames: u64,
    last_frame: Option<u64>,
    at_end: bool,
}

impl<R: BufRead> LabelStream<R> {
    /// Starts reading `reader` (`path` is used in messages) and reads up to
    /// its first label.
    ///
    /// # Errors
    /// A read error, a malformed first line (see [`FrameLabels::load`]), or
    /// no label at all.
    pub fn new(path: &Path, reader: R) -> Result<Self> {
        let mut s = LabelStream {
            path: path.to_path_buf(),
            reader,
            buf: String::new(),
            line: 0,
            table: LabelTable::default(),
            pending: None,
            frames: 0,
            last_frame: None,
            at_end: false,
        };
        s.pending = s.next_entry()?;
        if s.pending.is_none() {
            return Err(Error::EmptyLabels {
                path: path.to_path_buf(),
            });
        }
        Ok(s)
    }

    /// The file the labels come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The label of frame `index`, if the file has a line for it. Lines for
    /// frames below `index` that were not asked for are passed over (and
    /// still counted by [`LabelStream::finish`]).
    ///
    /// # Errors
    /// A read error or a malformed line reached on the way, naming the file,
    /// the line and the field; frame numbers that do not ascend.
    pub fn frame(&mut self, index: u64) -> Result<Option<FrameLabel<'_>>> {
        loop {
            let Some(e) = self.pending else {
                if self.at_end {
                    return Ok(None);
                }
                self.pending = self.next_entry()?;
                continue;
            };
            if e.frame > index {
                return Ok(None);
            }
            self.pending = None;
            if e.frame == index {
                return Ok(Some(FrameLabel {
                    label: &self.table.labels[e.label as usize],
                    addrs: e.addrs,
                }));
            }
        }
    }

    /// Reads (and checks) the rest of the file and counts its labels.
    ///
    /// # Errors
    /// See [`LabelStream::frame`].
    pub fn finish(mut self) -> Result<LabelCount> {
        while self.next_entry()?.is_some() {}
        Ok(LabelCount {
            frames: self.frames,
            last_frame: self.last_frame,
        })
    }

    /// Distinct labels interned so far.
    pub fn distinct_labels(&self) -> usize {
        self.table.labels.len()
    }

    fn bad(&self, message: String) -> Error {
        Error::Labels {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }

    /// The next labelled line, `None` at the end of the file.
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        while !self.at_end {
            self.buf.clear();
            // One byte more than a line may have, to tell a line that fits.
            let limit = (MAX_LINE_BYTES as u64).saturating_add(1);
            let n = (&mut self.reader)
                .take(limit)
                .read_line(&mut self.buf)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData => self.bad_next("not UTF-8".into()),
                    _ => Error::Io {
                        path: self.path.clone(),
                        source: e,
                    },
                })?;
            if n == 0 {
                self.at_end = true;
                break;
            }
            self.line = self.line.saturating_add(1);
            if n > MAX_LINE_BYTES {
                return Err(self.bad(format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
            if self.buf.trim().is_empty() {
                continue;
            }
            let e = self.parse_line()?;
            if let Some(last) = self.last_frame.filter(|&l| e.frame <= l) {
                return Err(self.bad(format!(
                    "`frame`: {} after frame {last}: frame numbers must ascend, one line per frame",
                    e.frame
                )));
            }
            self.last_frame = Some(e.frame);
            self.frames = self.frames.saturating_add(1);
            return Ok(Some(e));
        }
        Ok(None)
    }

    /// An error on the line being read (not yet counted).
    fn bad_next(&self, message: String) -> Error {
        Error::Labels {
            path: self.path.clone(),
            line: self.line.saturating_add(1),
            message,
        }
    }

    /// The line in the buffer as an entry, its label interned.
    fn parse_line(&mut self) -> Result<Entry> {
        let v: serde_json::Value =
            serde_json::from_str(&self.buf).map_err(|e| self.bad(format!("not JSON: {e}")))?;
        let field = |name: &str| -> Result<&str> {
            v.get(name)
                .and_then(|x| x.as_str())
                .ok_or_else(|| self.bad(format!("`{name}`: missing or not a string")))
        };
        let frame = v
            .get("frame")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| self.bad("`frame`: missing or not a number".into()))?;
        let class = Class::parse(field("class")?)
            .ok_or_else(|| self.bad("`class`: expected benign or malicious".into()))?;
        let (actor, cause) = (field("actor")?, field("cause")?);
        let addr = |name: &str| v.get(name)?.as_str()?.parse::<Ipv4Addr>().ok();
        let addrs = addr("src").zip(addr("dst"));
        let Some(label) = self.table.intern(actor, class, cause) else {
            return Err(self.bad(format!(
                "`actor`: more than {MAX_LABEL_BYTES} bytes of distinct actor/class/cause labels"
            )));
        };
        Ok(Entry {
            frame,
            label,
            addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `text` as the labels file `x.jsonl`.
    fn stream(text: &str) -> Result<LabelStream<&[u8]>> {
        LabelStream::new(Path::new("x.jsonl"), text.as_bytes())
    }

    /// A line for `frame` with these parts.
    fn line(frame: u64, actor: &str, class: &str, cause: &str) -> String {
        format!(
            "{{\"frame\":{frame},\"actor\":\"{actor}\",\"class\":\"{class}\",\"cause\":\"{cause}\"}}\n"
        )
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

    #[test]
    fn frames_out_of_order_name_the_line() {
        let text = line(0, "a", "benign", "c")
            + &line(2, "a", "benign", "c")
            + &line(1, "a", "benign", "c");
        let mut s = stream(&text).unwrap();
        assert!(s.frame(0).unwrap().is_some());
        assert!(s.frame(1).unwrap().is_none());
        assert!(s.frame(2).unwrap().is_some());
        let e = s.frame(3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.jsonl:3: `frame`: 1 after frame 2: frame numbers must ascend, one line per frame"
        );
        // A repeated frame is refused the same way, also when only counted.
        let text = line(0, "a", "benign", "c") + "\n" + &line(0, "a", "benign", "c");
        let e = stream(&text).unwrap().finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.jsonl:3: `frame`: 0 after frame 0: frame numbers must ascend, one line per frame"
        );
    }

    #[test]
    fn labels_are_interned() {
        let mut text = String::new();
        for i in 0..1_000u64 {
            let (actor, class) = if i % 3 == 0 {
                ("scanner", "malicious")
            } else {
                ("client-1", "benign")
            };
            text += &line(i, actor, class, if i % 2 == 0 { "scan" } else { "poll" });
        }
        let mut s = stream(&text).unwrap();
        let mut seen: Vec<*const Label> = Vec::new();
        for i in 0..1_000u64 {
            let f = s.frame(i).unwrap().unwrap();
            assert_eq!(
                f.label.actor,
                if i % 3 == 0 { "scanner" } else { "client-1" }
            );
            let p: *const Label = f.label;
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        // Four combinations, each stored once, whatever the file's length.
        assert_eq!(seen.len(), 4);
        assert_eq!(s.distinct_labels(), 4);
        let n = s.finish().unwrap();
        assert_eq!(
            n,
            LabelCount {
                frames: 1_000,
                last_frame: Some(999)
            }
        );
    }

    #[test]
    fn interning_and_lines_are_bounded() {
        let long = "a".repeat(MAX_LINE_BYTES);
        let text = line(0, "a", "benign", "c") + &line(1, &long, "benign", "c");
        let mut s = stream(&text).unwrap();
        assert!(s.frame(0).unwrap().is_some());
        let e = s.frame(1).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("x.jsonl:2: line longer than {MAX_LINE_BYTES} bytes")
        );
        // Distinct labels of 32 KiB each: the table refuses the first one
        // past the budget, and names its line.
        let actor = "b".repeat(32 << 10);
        let (mut text, mut bytes, mut refused) = (String::new(), 0, None);
        for i in 0..1_000u64 {
            let cause = i.to_string();
            text += &line(i, &actor, "benign", &cause);
            bytes += actor.len() + cause.len() + LABEL_OVERHEAD_BYTES;
            if bytes > MAX_LABEL_BYTES {
                refused = Some(i + 1);
                break;
            }
        }
        let e = stream(&text).unwrap().finish().unwrap_err().to_string();
        let refused = refused.expect("the budget binds within 1,000 labels");
        assert_eq!(
            e,
            format!(
                "x.jsonl:{refused}: `actor`: more than {MAX_LABEL_BYTES} bytes of distinct actor/class/cause labels"
            )
        );
    }

    #[test]
    fn counts_what_the_capture_skipped_and_what_runs_ahead() {
        let text = line(0, "a", "benign", "c")
            + &line(1, "a", "benign", "c")
            + &line(5, "a", "benign", "c");
        let mut s = stream(&text).unwrap();
        // Frame 1 is never asked for: passed over, still counted.
        assert!(s.frame(0).unwrap().is_some());
        assert!(s.frame(2).unwrap().is_none());
        assert_eq!(
            s.finish().unwrap(),
            LabelCount {
                frames: 3,
                last_frame: Some(5)
            }
        );
    }

    #[test]
    fn unreadable_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.jsonl");
        let e = FrameLabels::load(&missing).unwrap_err();
        assert!(
            matches!(e, Error::Io { ref path, .. } if path == &missing),
            "{e}"
        );
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            FrameLabels::load(&empty),
            Err(Error::EmptyLabels { .. })
        ));
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, b"{\"frame\":0,\"actor\":\"\xff\"}\n").unwrap();
        assert_eq!(
            FrameLabels::load(&bad).unwrap_err().to_string(),
            format!("{}:1: not UTF-8", bad.display())
        );
        let good = dir.path().join("good.jsonl");
        std::fs::write(&good, line(0, "a", "benign", "c")).unwrap();
        let l = FrameLabels::load(&good).unwrap();
        // Each pass reads the file again from the start.
        for _ in 0..2 {
            let mut s = l.stream().unwrap();
            assert_eq!(s.frame(0).unwrap().unwrap().label.cause, "c");
        }
    }
}
