//! One external detector inside a run: it receives the sensor's frames like
//! a built-in detector, writes them to a private temporary directory (a
//! pcap for wire tools, iptables LOG lines for drop-log tools), runs the
//! tool when the input ends, and turns the tool's alerts into bench
//! [`Alert`]s tied to frames, so they are scored exactly like built-in ones.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration as WallDuration, Instant as WallClock};

use scanbench_capture::{PcapFormat, PcapWriter};
use scanbench_detector::{Alert, AlertKind, Evidence, Instant, PacketView, Rule, Vantage};

use super::Externals;
use super::definition::{Definition, Feed, Output};
use super::iptables_write::log_line;
use super::parse::{ExtAlert, parse};
use crate::error::{Error, Result};

/// Longest a tool may run before it is stopped and the run fails.
pub const TOOL_TIMEOUT: WallDuration = WallDuration::from_secs(900);

/// What the mapping needs of every frame the tool was given.
#[derive(Clone, Copy, Debug)]
struct FrameRec {
    at: Instant,
    frame: u64,
    dst: Ipv4Addr,
    dport: u16,
}

/// Frames by source address, in capture order: how a tool's alert (source,
/// victim, port, time) is tied back to the packets behind it.
#[derive(Clone, Debug)]
pub struct FrameIndex {
    by_src: BTreeMap<Ipv4Addr, Vec<FrameRec>>,
    last: Instant,
}

impl Default for FrameIndex {
    fn default() -> Self {
        FrameIndex {
            by_src: BTreeMap::new(),
            last: Instant::ZERO,
        }
    }
}

impl FrameIndex {
    /// Records frame `frame` (a parsed packet seen at `at`).
    pub fn record(&mut self, at: Instant, p: &PacketView<'_>) {
        let dport = p.ports().map_or(0, |(_, d)| d);
        self.last = self.last.max(at);
        self.by_src.entry(p.src).or_default().push(FrameRec {
            at,
            frame: p.frame,
            dst: p.dst,
            dport,
        });
    }

    /// Ties `a` to frames: the trigger is the last frame from its source
    /// (to its victim and port, when named) at or before its time (any time
    /// when it has none); the evidence is up to [`Evidence::MAX_FRAMES`]
    /// such frames ending at the trigger. A named port or victim that no
    /// frame matches is relaxed, so a tool's alert is never lost.
    pub fn to_alert(&self, name: &'static str, a: &ExtAlert) -> Alert {
        let frames = self.by_src.get(&a.src).map_or(&[][..], Vec::as_slice);
        let until = a.at_us.map(Instant::from_micros);
        let pick = |dst: bool, port: bool| -> Vec<&FrameRec> {
            frames
                .iter()
                .filter(|f| until.is_none_or(|t| f.at <= t))
                .filter(|f| !dst || a.dst.is_none_or(|d| f.dst == d))
                .filter(|f| !port || a.port.is_none_or(|p| f.dport == p))
                .collect()
        };
        let mut chosen = pick(true, true);
        if chosen.is_empty() {
            chosen = pick(true, false);
        }
        if chosen.is_empty() {
            chosen = pick(false, false);
        }
        let trigger = chosen.last().copied();
        let skip = chosen.len().saturating_sub(Evidence::MAX_FRAMES);
        let mut counters = Vec::new();
        if let Some(dl) = a.danger_level {
            counters.push(("danger_level", i64::from(dl)));
        }
        let time = until.or(trigger.map(|f| f.at)).unwrap_or(self.last);
        let first_seen = chosen.first().map_or(time, |f| f.at);
        let mut rule = Rule {
            statement: format!("{name} (the real tool) wrote: {}", a.line),
            counted: "the frames from the alert's source (to its victim and port, when the \
                      tool names them) up to the alert's time, which the bench ties the tool's \
                      line to; the tool's own counting is not visible"
                .into(),
            window: Some((first_seen, time)),
            keys: Vec::new(),
        };
        for f in &chosen[skip..] {
            rule.push_key(format!("{} port {}", f.dst, f.dport), f.frame);
        }
        Alert {
            detector: name,
            scanner: a.src,
            victim: a.dst.or(trigger.map(|f| f.dst)),
            kind: AlertKind::Scanner,
            first_seen,
            time,
            trigger_frame: trigger.map(|f| f.frame),
            evidence: Evidence {
                counters,
                ports: a.port.into_iter().collect(),
                frames: chosen[skip..].iter().map(|f| f.frame).collect(),
                log_line: a.line.clone(),
                rule,
            },
        }
    }
}

/// `ext:NAME` as a `'static` detector name (interned once per name).
pub fn static_name(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let full = format!("ext:{name}");
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == full) {
        return n;
    }
    let leaked: &'static str = Box::leak(full.into_boxed_str());
    names.push(leaked);
    leaked
}

enum Sink {
    Pcap(PcapWriter<BufWriter<File>>),
    Log(BufWriter<File>),
}

/// The placeholders' values for one run.
struct Paths {
    pcap: PathBuf,
    log: PathBuf,
    outdir: PathBuf,
}

impl Paths {
    fn expand(&self, s: &str) -> String {
        s.replace("{pcap}", &self.pcap.to_string_lossy())
            .replace("{log}", &self.log.to_string_lossy())
            .replace("{outdir}", &self.outdir.to_string_lossy())
    }
}

/// An external detector collecting one run's frames.
pub struct ExternalDetector {
    /// Its definition.
    pub def: Definition,
    name: &'static str,
    index: FrameIndex,
    sink: Option<Sink>,
    paths: Paths,
    _dir: tempfile::TempDir,
    error: Option<Error>,
    /// Longest live replay allowed, in seconds of shortened schedule.
    max_replay_secs: Option<u64>,
    /// Where the tool's raw output is kept, if anywhere.
    save_output: Option<PathBuf>,
    /// The capture time of every drop-log line written (follow feeds).
    log_times: Vec<Instant>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl ExternalDetector {
    /// Prepares a private directory and the input file for `def`, to run
    /// under `externals`' replay limit and output keeping.
    ///
    /// # Errors
    /// The temporary directory or input file cannot be created.
    pub fn new(def: Definition, externals: &Externals) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("scanbench-ext-")
            .tempdir()
            .map_err(io_err(&std::env::temp_dir()))?;
        let paths = Paths {
            pcap: dir.path().join("capture.pcap"),
            log: dir.path().join("drop.log"),
            outdir: dir.path().join("out"),
        };
        std::fs::create_dir_all(&paths.outdir).map_err(io_err(&paths.outdir))?;
        let sink = match def.vantage {
            Vantage::Wire => {
                let f = File::create(&paths.pcap).map_err(io_err(&paths.pcap))?;
                let w = PcapWriter::new(BufWriter::new(f), PcapFormat::Pcap { nanos: false })
                    .map_err(io_err(&paths.pcap))?;
                Sink::Pcap(w)
            }
            Vantage::DropLog => {
                let f = File::create(&paths.log).map_err(io_err(&paths.log))?;
                Sink::Log(BufWriter::new(f))
            }
        };
        Ok(ExternalDetector {
            name: static_name(&def.name),
            def,
            index: FrameIndex::default(),
            sink: Some(sink),
            paths,
            _dir: dir,
            error: None,
            max_replay_secs: externals.max_replay_secs,
            save_output: externals.save_output.clone(),
            log_times: Vec::new(),
        })
    }

    /// Where this tool reads.
    pub fn vantage(&self) -> Vantage {
        self.def.vantage
    }

    /// Takes one frame the tool would see.
    pub fn observe(&mut self, at: Instant, p: &PacketView<'_>, bytes: &[u8]) {
        self.index.record(at, p);
        if self.error.is_some() {
            return;
        }
        let r = match self.sink.as_mut() {
            Some(Sink::Pcap(w)) => w
                .write_frame(at, bytes, None)
                .map_err(io_err(&self.paths.pcap)),
            Some(Sink::Log(w)) => match log_line(at, bytes) {
                Some(l) => {
                    if matches!(self.def.feed, Feed::Follow { .. }) {
                        self.log_times.push(at);
                    }
                    writeln!(w, "{l}").map_err(io_err(&self.paths.log))
                }
                None => Ok(()),
            },
            None => Ok(()),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn close_input(&mut self) -> Result<()> {
        match self.sink.take() {
            Some(Sink::Pcap(w)) => {
                let mut inner = w.finish().map_err(io_err(&self.paths.pcap))?;
                inner.flush().map_err(io_err(&self.paths.pcap))
            }
            Some(Sink::Log(mut w)) => w.flush().map_err(io_err(&self.paths.log)),
            None => Ok(()),
        }
    }

    /// Runs the tool over everything observed and returns its alerts.
    ///
    /// # Errors
    /// The tool is missing, fails, times out, or writes output that cannot
    /// be read; the message names the tool and the place.
    pub fn finish(&mut self) -> Result<Vec<Alert>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.close_input()?;
        for (name, text) in &self.def.files {
            let p = self.paths.outdir.join(name);
            std::fs::write(&p, self.paths.expand(text)).map_err(io_err(&p))?;
        }
        let (ext, raw) = match &self.def.feed {
            Feed::Offline => self.run_offline()?,
            Feed::Live { .. } => {
                let argv = self.argv();
                let setup = self.paths.expand(&self.def.setup);
                super::live::replay(
                    &self.def,
                    &argv,
                    &setup,
                    &self.paths.pcap,
                    self.max_replay_secs,
                )?
            }
            Feed::Follow { file, checked, .. } => {
                let argv = self.argv();
                let setup = self.paths.expand(&self.def.setup);
                super::follow::replay(
                    &self.def,
                    &argv,
                    &setup,
                    &self.paths.log,
                    &self.log_times,
                    Path::new(&self.paths.expand(file)),
                    Path::new(&self.paths.expand(checked)),
                    self.max_replay_secs,
                )?
            }
        };
        if let Some(dir) = &self.save_output {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let p = dir.join(format!("{}.txt", self.def.name));
            std::fs::write(&p, raw).map_err(io_err(&p))?;
        }
        Ok(ext
            .iter()
            .map(|a| self.index.to_alert(self.name, a))
            .collect())
    }

    /// The command with its placeholders filled in.
    fn argv(&self) -> Vec<String> {
        self.def
            .command
            .iter()
            .map(|a| self.paths.expand(a))
            .collect()
    }

    fn fail(&self, message: String) -> Error {
        Error::External {
            tool: self.def.name.clone(),
            message,
        }
    }

    /// Runs the command once; its alerts and its raw output.
    fn run_offline(&self) -> Result<(Vec<ExtAlert>, String)> {
        let argv = self.argv();
        let stdout = run_command(&argv, &self.paths.outdir).map_err(|m| self.fail(m))?;
        let text = match &self.def.output {
            Output::Stdout => stdout,
            Output::File(f) => {
                let p = PathBuf::from(self.paths.expand(f));
                match std::fs::read(&p) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    // A tool that found nothing may not create its alert file.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                    Err(e) => return Err(io_err(&p)(e)),
                }
            }
            Output::Syslog => return Err(self.fail("syslog output needs a live feed".into())),
        };
        let alerts = parse(self.def.format, &text, 1970)
            .map_err(|e| self.fail(format!("{} output, {e}", self.def.format.name())))?;
        Ok((alerts, text))
    }
}

/// Runs `argv` in `cwd` with `TZ=UTC` and no input, bounded by
/// [`TOOL_TIMEOUT`]; returns its standard output.
///
/// # Errors
/// A message naming the command: not found, killed by the timeout, or a
/// non-zero exit (with the end of its standard error).
pub fn run_command(argv: &[String], cwd: &Path) -> std::result::Result<String, String> {
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    let mut child = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("command `{prog}` not found (is the tool installed?)")
            }
            _ => format!("cannot start `{prog}`: {e}"),
        })?;
    // Drain both pipes on threads so a chatty tool never blocks on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let started = WallClock::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > TOOL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{}` did not finish within {} s",
                    argv.join(" "),
                    TOOL_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(WallDuration::from_millis(10)),
            Err(e) => return Err(format!("waiting for `{prog}`: {e}")),
        }
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`{}` failed ({status}): {}",
            argv.join(" "),
            tail.join(" | ")
        ));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_tie_to_the_last_matching_frame_before_their_time() {
        let mut idx = FrameIndex::default();
        let pkt = |frame: u64, dst: [u8; 4], dport: u16| {
            let mut b = vec![0u8; 40];
            b[0] = 0x45;
            b[3] = 40;
            b[8] = 64;
            b[9] = 6;
            b[12..16].copy_from_slice(&[203, 0, 113, 5]);
            b[16..20].copy_from_slice(&dst);
            b[22..24].copy_from_slice(&dport.to_be_bytes());
            b[32] = 0x50;
            b[33] = 0x02;
            (frame, b)
        };
        for (i, (dst, port)) in [
            ([10, 0, 0, 1], 22),
            ([10, 0, 0, 1], 23),
            ([10, 0, 0, 2], 22),
        ]
        .into_iter()
        .enumerate()
        {
            let (f, b) = pkt(i as u64, dst, port);
            let v = PacketView::parse(f, &b).unwrap();
            idx.record(Instant::from_secs(i as i64), &v);
        }
        let a = ExtAlert {
            src: Ipv4Addr::new(203, 0, 113, 5),
            dst: Some(Ipv4Addr::new(10, 0, 0, 1)),
            port: None,
            at_us: None,
            danger_level: Some(2),
            line: "x".into(),
        };
        let al = idx.to_alert("ext:t", &a);
        assert_eq!(al.trigger_frame, Some(1));
        assert_eq!(al.evidence.frames, vec![0, 1]);
        assert_eq!(al.time, Instant::from_secs(1));
        assert_eq!(al.evidence.counters, vec![("danger_level", 2)]);
        let at0 = ExtAlert {
            at_us: Some(0),
            port: Some(22),
            ..a.clone()
        };
        assert_eq!(idx.to_alert("ext:t", &at0).trigger_frame, Some(0));
        let other = ExtAlert {
            src: Ipv4Addr::new(192, 0, 2, 1),
            ..a
        };
        assert_eq!(idx.to_alert("ext:t", &other).trigger_frame, None);
        assert_eq!(static_name("t"), "ext:t");
    }

    #[test]
    fn commands_that_fail_or_are_missing_say_so() {
        let cwd = std::env::temp_dir();
        let e = run_command(&["scanbench-no-such-tool".into()], &cwd).unwrap_err();
        assert!(e.contains("not found"), "{e}");
        let e = run_command(
            &["sh".into(), "-c".into(), "echo boom >&2; exit 3".into()],
            &cwd,
        )
        .unwrap_err();
        assert!(e.contains("boom"), "{e}");
        assert_eq!(
            run_command(&["echo".into(), "hi".into()], &cwd).unwrap(),
            "hi\n"
        );
    }
}
