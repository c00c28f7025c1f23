//! Fuzz inputs through the commands' own paths (the library functions
//! `scanbench replay` and `scanbench run` call), not only the reader, the
//! detectors and the simulator: for a replay the time clamp, the ground
//! truth, a labels file read beside the capture, the drop-log vantage; for a
//! run the detectors on the taps, the capture and labels files written, the
//! scenario's `[[expect]]` claims checked; for both, scoring and every report
//! format rendered from the result.
//!
//! The replay functions read files and a run writes them, so each input's
//! files go to a scratch directory of this process (removed when the run
//! ends).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use scanbench::capture::{CaptureReader, PcapFormat};
use scanbench::detect::default_suite;
use scanbench::evaluate::evaluate;
use scanbench::labels::FrameLabels;
use scanbench::replay::{ReplayOptions, Replayed, replay_capture, replay_iptables_log};
use scanbench::report::{Format, TableLayout, table_with};
use scanbench::simulate::Outputs;
use scanbench::{Report, Scenario};
use scanbench_detector::iptables_log::LogOptions;

use crate::Rng;

/// A directory for this process's replay inputs.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A fresh directory under the system's temporary directory, named by
    /// this process's id and a count (the smoke tests run targets on
    /// threads of one process).
    pub fn new() -> Scratch {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scanbench-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        Scratch { dir }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Option<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).ok().map(|()| p)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn options(drop_log: bool, labels: Option<FrameLabels>) -> ReplayOptions {
    ReplayOptions {
        specs: default_suite(),
        drop_log,
        labels,
        threads: 1,
        ..ReplayOptions::default()
    }
}

/// Every report format of a replayed input, as the command renders them.
fn render_replayed(r: Replayed) {
    let _ = r.error.as_ref().map(ToString::to_string);
    render(Report {
        specs: default_suite(),
        runs: vec![r.run],
    });
}

/// Every report format of `report`.
fn render(report: Report) {
    for f in [
        Format::Table,
        Format::Json,
        Format::Csv,
        Format::Markdown,
        Format::Html,
        Format::Junit,
    ] {
        let _ = report.render(f);
    }
    let _ = table_with(
        &report,
        &TableLayout {
            width: Some(60),
            columns: None,
        },
    );
}

/// A capture replayed as the command does, sometimes with a labels file
/// beside it (lines for its records, some of them broken), on the wire or as
/// a drop log.
pub fn capture(rng: &mut Rng, scratch: &Scratch, bytes: &[u8]) -> Result<(), String> {
    let written = if rng.one_in(6) {
        gzip(rng, bytes)
    } else {
        bytes.to_vec()
    };
    let Some(path) = scratch.write("input.pcap", &written) else {
        return Ok(());
    };
    let labels = if rng.one_in(2) {
        let text = labels_for(rng, bytes);
        scratch
            .write("input.labels.jsonl", text.as_bytes())
            .and_then(|p| FrameLabels::load(&p).ok())
    } else {
        None
    };
    if let Ok(r) = replay_capture(&path, &options(rng.one_in(3), labels)) {
        render_replayed(r);
    }
    Ok(())
}

/// A scenario run as `scanbench run --check --pcap FILE` runs it: the
/// default detectors and those its claims name, a capture written (either
/// format) with its labels, the claims checked, the report rendered.
pub fn run(rng: &mut Rng, scratch: &Scratch, sc: &Scenario, mut outputs: Outputs) {
    outputs.format = *rng.pick(&[
        PcapFormat::Pcap { nanos: false },
        PcapFormat::Pcap { nanos: true },
        PcapFormat::Pcapng { nanos: false },
        PcapFormat::Pcapng { nanos: true },
    ]);
    outputs.pcap = Some(scratch.dir.join("run.pcap"));
    let mut specs = default_suite();
    for e in &sc.expectations {
        for d in &e.detectors {
            if !specs.contains(d) {
                specs.push(d.clone());
            }
        }
    }
    let Ok(run) = evaluate(sc, sc.seed, &specs, &outputs) else {
        return;
    };
    for e in &sc.expectations {
        let _ = scanbench::check::check(e, &run);
    }
    render(Report {
        specs,
        runs: vec![run],
    });
}

/// The capture `scanbench run --pcap FILE` writes for `sc` in `format`
/// (the first tap's, when it has several), or `None` if the run fails.
pub fn write_capture(scratch: &Scratch, sc: &Scenario, format: PcapFormat) -> Option<Vec<u8>> {
    let outputs = Outputs {
        pcap: Some(scratch.dir.join("suite.pcap")),
        format,
        ..Outputs::default()
    };
    let summary = scanbench::simulate(sc, sc.seed, &outputs, &mut ()).ok()?;
    let file = summary.taps.first()?.files.first()?;
    std::fs::read(file).ok()
}

/// `bytes` gzip'd as `tcpdump -w - | gzip` writes them, sometimes damaged:
/// cut, a byte of the body or of the CRC trailer changed, a second member
/// or noise appended.
fn gzip(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(bytes);
    let mut z = enc.finish().unwrap_or_default();
    let n = z.len();
    match rng.below(6) {
        0 if n > 0 => z.truncate(rng.below(n)),
        1 if n > 0 => {
            let i = rng.below(n);
            z[i] ^= 1 << rng.below(8);
        }
        2 if n >= 8 => z[n - 8] ^= 0xff,
        3 => {
            let again = z.clone();
            z.extend(again);
        }
        4 => z.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8)),
        _ => {}
    }
    z
}

/// An iptables log replayed as `replay --iptables-log` does.
pub fn iptables_log(scratch: &Scratch, text: &str, log: LogOptions) -> Result<(), String> {
    let Some(path) = scratch.write("input.log", text.as_bytes()) else {
        return Ok(());
    };
    if let Ok(r) = replay_iptables_log(&path, &options(true, None), log) {
        render_replayed(r);
    }
    Ok(())
}

/// A labels file for the records of capture `bytes`: one line per record
/// with its addresses as `run` writes them, some lines then broken
/// (dropped, repeated, another frame number, wrong addresses or fields).
fn labels_for(rng: &mut Rng, bytes: &[u8]) -> String {
    let mut lines = Vec::new();
    if let Ok(mut reader) = CaptureReader::new(bytes, "fuzz") {
        while lines.len() < 5_000 {
            let Some(Ok(f)) = reader.next_frame_ref() else {
                break;
            };
            let addr = |at: usize| {
                f.bytes.get(at..at + 4).map_or(Ipv4Addr::UNSPECIFIED, |a| {
                    Ipv4Addr::new(a[0], a[1], a[2], a[3])
                })
            };
            let (class, cause) = if rng.one_in(2) {
                ("malicious", "scan")
            } else {
                ("benign", "poll")
            };
            lines.push(format!(
                r#"{{"frame":{},"tap":"t","time_us":{},"proto":"tcp","src":"{}","sport":1,"dst":"{}","dport":2,"flags":"S","actor":"a{}","class":"{class}","cause":"{cause}"}}"#,
                f.index,
                f.at().total_micros(),
                addr(12),
                addr(16),
                rng.below(4),
            ));
        }
    }
    for _ in 0..rng.below(4) {
        let n = lines.len();
        let i = rng.below(n.max(1));
        let odd = [
            r#"{"frame":18446744073709551615,"actor":"a","class":"malicious","cause":"c"}"#,
            r#"{"frame":-1,"actor":"a","class":"malicious","cause":"c"}"#,
            r#"{"frame":0,"actor":"a","class":"evil","cause":"c"}"#,
            r#"{"frame":0,"actor":"a","class":"benign","cause":"c","src":"999.0.0.1","dst":"1.2.3.4"}"#,
            r#"{"frame":0,"actor":"a","class":"benign","cause":"c","src":"1.2.3.4"}"#,
            r#"{"frame":1e3,"actor":"a","class":"benign","cause":"c"}"#,
            r#"{"frame":2,"frame":1,"actor":"\u0000","class":"benign","cause":"\ud800"}"#,
            r#"[0,"a","benign","c"]"#,
            "",
            "{",
            "null",
        ];
        match rng.below(4) {
            0 if i < n => {
                lines.remove(i);
            }
            1 if i < n => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 if i < n => lines.swap(i, rng.below(n)),
            _ => lines.insert(i.min(n), rng.pick(&odd).to_string()),
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A built capture and the labels file made for it replay labelled:
    /// the replay path's labels and scoring are reached, not refused.
    #[test]
    fn built_captures_replay_with_their_labels() {
        let scratch = Scratch::new();
        let mut rng = Rng::new(11);
        let mut labelled = 0;
        for _ in 0..40 {
            let bytes = crate::capture_gen::build(&mut rng);
            let Some(path) = scratch.write("t.pcap", &bytes) else {
                continue;
            };
            let text = labels_for(&mut rng, &bytes);
            // Only the lines made from the capture's frames (the broken
            // ones carry no `tap`), reordered ones aside.
            let clean: String = text
                .lines()
                .filter(|l| l.contains("\"tap\""))
                .map(|l| format!("{l}\n"))
                .collect();
            let Some(lp) = scratch.write("t.labels.jsonl", clean.as_bytes()) else {
                continue;
            };
            let Ok(labels) = FrameLabels::load(&lp) else {
                continue;
            };
            if let Ok(r) = replay_capture(&path, &options(false, Some(labels)))
                && r.labelled
            {
                labelled += 1;
            }
        }
        assert!(
            labelled >= 5,
            "{labelled} of 40 built captures replayed labelled"
        );
    }
}
