//! A labels file read line by line alongside its capture.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::label::{Class, Label};

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
    /// A read error, a malformed first line (see [`FrameLabels::load`](crate::labels::FrameLabels::load)), or
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
        let f = super::line::fields(&self.buf).map_err(|m| self.bad(m))?;
        let Some(label) = self.table.intern(&f.actor, f.class, &f.cause) else {
            return Err(self.bad(format!(
                "`actor`: more than {MAX_LABEL_BYTES} bytes of distinct actor/class/cause labels"
            )));
        };
        Ok(Entry {
            frame: f.frame,
            label,
            addrs: f.addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::FrameLabels;

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

    /// Lines for `frames`, all with one label.
    fn plain(frames: &[u64]) -> String {
        frames
            .iter()
            .map(|&f| line(f, "a", "benign", "c"))
            .collect()
    }

    #[test]
    fn frames_out_of_order_name_the_line() {
        let text = plain(&[0, 2, 1]);
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
        let text = plain(&[0, 1, 5]);
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

    proptest::proptest! {
        /// Any bytes: the stream gives labels or an error naming the file
        /// and a line, and never panics.
        #[test]
        fn any_bytes_stream_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            asks in proptest::collection::vec(0u64..8, 0..8),
        ) {
            let r = LabelStream::new(Path::new("x.jsonl"), &bytes[..]).and_then(|mut s| {
                let mut at = 0;
                for a in asks {
                    at += a;
                    s.frame(at)?;
                }
                s.finish()
            });
            if let Err(e) = r {
                proptest::prop_assert!(e.to_string().starts_with("x.jsonl"), "{}", e);
            }
        }
    }
}
