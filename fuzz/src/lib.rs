//! Seeded mutation fuzzing of every input scanbench reads, on the stable
//! toolchain (no libFuzzer, no nightly): the same seed gives the same inputs.
//!
//! Targets ([`Target`]):
//! - `packets`: random and structured IPv4 packets (every TCP flag byte,
//!   ports 0, cut headers, ICMP errors quoting packets) with random,
//!   extreme, repeated and backwards timestamps through every default
//!   detector configuration, timers flushed at the end of time;
//! - `capture`: pcap and pcapng files (the seeds: the findings, the real
//!   captures, files written by the simulator) mutated byte-wise (flips,
//!   interesting values, cut, splice, repeated blocks), read and fed to the
//!   detectors;
//! - `iptables`: iptables LOG lines mutated token-wise, parsed under random
//!   parser options (any year, either clock);
//! - `scenario`: scenario files mutated structurally (valid TOML: wrong
//!   types, extreme and negative numbers, odd addresses, keys dropped or
//!   duplicated), loaded, and, when accepted, simulated under a packet and
//!   wall-time budget.
//!
//! A *finding* is a panic (which, with the overflow checks `cargo test`
//! builds with, includes arithmetic overflow) or, for `scenario`, a run that
//! outlives its wall budget. Each is returned with the input that caused it,
//! so it can be saved and turned into a test (`tests/fixtures/findings/`).
//!
//! `scanbench-fuzz TARGET --cases N --seed S` runs long (`docs/robustness.md`);
//! `fuzz/tests/smoke.rs` runs a few hundred cases of each target in CI. The
//! `cargo-fuzz/` directory holds libFuzzer targets for nightly users.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant as WallClock};

use scanbench::Scenario;
use scanbench::detect::default_suite;
use scanbench::simulate::{Budget, Outputs, simulate};
use scanbench_capture::CaptureReader;
use scanbench_detector::iptables_log::{LogOptions, LogParser, TimeSource};
use scanbench_detector::{Detector, Instant, PacketView, registry};

mod capture_gen;
mod command_path;
mod scenario_gen;

use command_path::Scratch;

/// A small, fast, seeded generator (xorshift64*): the inputs of a run are a
/// function of its seed alone.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `xs`.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// What can be fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Packets through every detector.
    Packets,
    /// pcap and pcapng files.
    Capture,
    /// iptables LOG lines and the parser's options.
    Iptables,
    /// Scenario files, loaded and simulated.
    Scenario,
}

impl Target {
    /// Every target, in the order the smoke test runs them.
    pub const ALL: [Target; 4] = [
        Target::Packets,
        Target::Capture,
        Target::Iptables,
        Target::Scenario,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Packets => "packets",
            Target::Capture => "capture",
            Target::Iptables => "iptables",
            Target::Scenario => "scenario",
        }
    }

    /// The target named `s`.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// An input that broke something.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Which target.
    pub target: Target,
    /// The case number within the run (with the seed, it regenerates the input).
    pub case: u64,
    /// The panic message, or what else went wrong.
    pub what: String,
    /// The input, as bytes (a capture, a log, a scenario file, or packets
    /// as `time_us:hex` lines).
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Inputs tried (packets count one each; a capture, a log or a scenario one each).
    pub inputs: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// Scenario inputs the loader accepted (and so simulated).
    pub accepted: u64,
    /// What broke.
    pub findings: Vec<Finding>,
    /// The input that took the most CPU time (capture and scenario
    /// targets, where one input is a whole file), with that time: a slow
    /// class shows here long before it passes a hang limit.
    pub slowest: Option<(Duration, Finding)>,
}

/// CPU time this thread has used, from `/proc/thread-self/schedstat` (Linux);
/// zero where it cannot be read.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Seed inputs, read from the repository.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Capture files.
    pub captures: Vec<Vec<u8>>,
    /// iptables LOG lines.
    pub log_lines: Vec<String>,
    /// Scenario files.
    pub scenarios: Vec<String>,
}

impl Corpus {
    /// The seeds under the repository at `root`: the suite, the findings,
    /// the real-capture fixtures.
    pub fn load(root: &Path) -> Corpus {
        let mut c = Corpus::default();
        let findings = root.join("tests/fixtures/findings");
        for dir in [findings.join("captures"), root.join("tests/fixtures/real")] {
            for p in files(&dir, &["bin", "pcap", "pcapng"]) {
                if let Ok(b) = std::fs::read(&p) {
                    // Keep seeds small: mutations of a 5 MB file are slow.
                    if b.len() <= 1 << 20 {
                        c.captures.push(b);
                    }
                }
            }
        }
        for p in files(&findings.join("iptables"), &["log"]) {
            if let Ok(t) = std::fs::read(&p) {
                c.log_lines.extend(
                    String::from_utf8_lossy(&t)
                        .lines()
                        .filter(|l| l.contains("IN="))
                        .map(str::to_string),
                );
            }
        }
        for dir in [root.join("scenarios"), findings.join("scenarios")] {
            for p in files(&dir, &["toml"]) {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    c.scenarios.push(t);
                }
            }
        }
        c
    }
}

impl Corpus {
    /// Adds the captures `scanbench run` writes for the suite's scenarios
    /// (pcapng with label comments, and nanosecond pcap), as the outside
    /// testers' seeds were: seconds of simulation in a release build, so
    /// long runs do it (`scanbench-fuzz --run-captures`), the smoke test
    /// does not.
    pub fn add_suite_captures(&mut self, root: &Path) {
        let scratch = Scratch::new();
        for p in files(&root.join("scenarios"), &["toml"]) {
            let Ok(sc) = Scenario::load(&p) else { continue };
            for format in [
                scanbench::capture::PcapFormat::Pcapng { nanos: false },
                scanbench::capture::PcapFormat::Pcap { nanos: true },
            ] {
                let Some(out) = command_path::write_capture(&scratch, &sc, format) else {
                    continue;
                };
                if out.len() <= 1 << 20 {
                    self.captures.push(out);
                }
            }
        }
    }
}

fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    v.sort();
    v
}

/// Runs `cases` cases of `target` from `seed`, stopping early after `limit`
/// of wall time.
pub fn run(target: Target, corpus: &Corpus, seed: u64, cases: u64, limit: Duration) -> Stats {
    let started = WallClock::now();
    let mut stats = Stats::default();
    let suite = Suite::default_configurations();
    let mut frames = Frames::default();
    let scratch = Scratch::new();
    // The panic hook would print every caught panic; findings carry them.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for case in 0..cases {
        if started.elapsed() > limit {
            break;
        }
        let mut rng = Rng::new(seed ^ case.wrapping_mul(0x0100_0000_01b3));
        // The input is kept as it was generated; its bytes are made only
        // for a finding (formatting every packet batch costs more than
        // feeding it).
        let timed = matches!(target, Target::Capture | Target::Scenario);
        let cpu_before = if timed { thread_cpu() } else { Duration::ZERO };
        let (outcome, input): (_, Box<dyn FnOnce() -> Vec<u8>>) = match target {
            Target::Packets => {
                let pkts = packets(&mut rng);
                stats.inputs += pkts.len() as u64;
                let r = catch(|| feed(suite.all(), &pkts));
                (r, Box::new(move || packets_text(&pkts)))
            }
            Target::Capture => {
                stats.inputs += 1;
                let bytes = capture_input(&mut rng, corpus.captures.as_slice());
                let r = if case % COMMAND_EVERY == 0 {
                    catch(|| command_path::capture(&mut rng, &scratch, &bytes))
                } else {
                    let detectors = suite.rotation(case);
                    catch(|| capture(&bytes, detectors, &mut frames))
                };
                (r, Box::new(move || bytes))
            }
            Target::Iptables => {
                stats.inputs += 1;
                let (text, opts) = log_input(&mut rng, &corpus.log_lines);
                let r = if case % COMMAND_EVERY == 0 {
                    catch(|| command_path::iptables_log(&scratch, &text, opts))
                } else {
                    catch(|| iptables(&text, opts))
                };
                (r, Box::new(move || text.into_bytes()))
            }
            Target::Scenario => {
                stats.inputs += 1;
                let text = scenario_gen::scenario_input(&mut rng, &corpus.scenarios);
                let full = (case % COMMAND_EVERY == 0).then_some((&mut rng, &scratch));
                let r = catch(|| scenario(&text, full));
                if matches!(r, Ok(true)) {
                    stats.accepted += 1;
                }
                (r.map(|_| ()), Box::new(move || text.into_bytes()))
            }
        };
        let cpu = thread_cpu().saturating_sub(cpu_before);
        let slowest = stats.slowest.as_ref().map_or(Duration::ZERO, |s| s.0);
        match outcome {
            Err(Some(what)) => stats.findings.push(Finding {
                target,
                case,
                what,
                input: input(),
            }),
            _ if timed && cpu > slowest => {
                let what = format!("{cpu:?} of CPU time");
                stats.slowest = Some((
                    cpu,
                    Finding {
                        target,
                        case,
                        what,
                        input: input(),
                    },
                ));
            }
            _ => {}
        }
    }
    std::panic::set_hook(hook);
    stats.elapsed = started.elapsed();
    stats
}

/// One input in this many goes through its command's own path
/// ([`command_path`]: for a capture or a log `scanbench replay`'s clamping,
/// ground truth, labels file and every report format; for a scenario `run`'s
/// detectors, capture writing and claim checks) instead of only the reader,
/// the detectors or the simulator: it is slower (every configuration, files
/// written), and most of its code is the same for every input.
const COMMAND_EVERY: u64 = 8;

/// A capture input: a seed mutated byte-wise or field by field, or a file
/// built from scratch ([`capture_gen`]), sometimes byte-mutated after.
fn capture_input(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    match rng.below(10) {
        0..=3 => mutate_bytes(rng, seeds),
        4..=6 if !seeds.is_empty() => {
            let seed = &seeds[rng.below(seeds.len())];
            capture_gen::mutate(rng, seed)
        }
        _ => {
            let built = capture_gen::build(rng);
            if rng.one_in(4) {
                mutate_bytes(rng, &[built])
            } else {
                built
            }
        }
    }
}

/// The default detector configurations ([`default_suite`]), resolved once
/// per run, split by what a capture input costs them.
pub struct Suite {
    /// Specs cheap enough to see every capture input.
    cheap: Vec<String>,
    /// Specs that take turns, one per capture input.
    costly: Vec<String>,
}

/// Detectors whose per-packet work dominates a capture input (profiled with
/// `perf record` on the `capture` target: together about 80 % of its time,
/// sfPortscan alone 43 %): in the `capture` target each sees every
/// `costly.len()`-th input, the rest see all of them. The `packets` target
/// and libFuzzer inputs still go through every configuration.
const COSTLY: &[&str] = &["sfportscan", "psad", "bro1-scan", "zeek-scan", "trw"];

impl Suite {
    /// Every default configuration.
    pub fn default_configurations() -> Suite {
        let (costly, cheap) = default_suite().into_iter().partition(|spec| {
            let name = spec.split(':').next().unwrap_or(spec);
            COSTLY.contains(&name)
        });
        Suite { cheap, costly }
    }

    /// Every configuration, fresh.
    pub fn all(&self) -> Vec<Box<dyn Detector>> {
        build(self.cheap.iter().chain(&self.costly))
    }

    /// The cheap configurations and the costly one whose turn `case` is,
    /// fresh: over any `costly.len()` consecutive cases every configuration
    /// runs.
    pub fn rotation(&self, case: u64) -> Vec<Box<dyn Detector>> {
        let turn = self
            .costly
            .get((case % self.costly.len().max(1) as u64) as usize);
        build(self.cheap.iter().chain(turn))
    }
}

fn build<'a>(specs: impl Iterator<Item = &'a String>) -> Vec<Box<dyn Detector>> {
    specs
        .filter_map(|s| registry::build(s).ok())
        .map(|i| i.detector)
        .collect()
}

/// Runs `f`; `Err(Some(message))` if it panicked or reported a hang.
fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, Option<String>> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(what)) => Err(Some(what)),
        Err(p) => Err(Some(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into()),
        )),
    }
}

/// Timestamps a fuzzed packet may carry: ordinary ones, and the extremes,
/// repeats and jumps that broke detectors before.
pub(crate) fn timestamp(rng: &mut Rng, last: i64) -> i64 {
    match rng.below(10) {
        0 => *rng.pick(&[i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1, 0, -1]),
        1 => last,
        2 => last.saturating_sub(rng.below(10_000_000) as i64),
        3 => last.saturating_add((rng.next_u64() >> 8) as i64),
        4 => rng.next_u64() as i64,
        _ => last.saturating_add(rng.below(1_000_000) as i64),
    }
}

/// A batch of (time, packet) for the `packets` target.
fn packets(rng: &mut Rng) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = 0i64;
    let addrs: Vec<[u8; 4]> = (0..rng.below(6) + 2).map(|_| address(rng)).collect();
    for _ in 0..rng.below(200) + 1 {
        t = timestamp(rng, t);
        let pkt = if rng.one_in(8) {
            (0..rng.below(80)).map(|_| rng.next_u64() as u8).collect()
        } else {
            ipv4(rng, &addrs)
        };
        out.push((t, pkt));
    }
    out
}

/// An address for fuzzed packets: random mostly, sometimes one a stack
/// treats specially (unspecified, limited or subnet broadcast, multicast,
/// loopback, reserved, a network address).
pub(crate) fn address(rng: &mut Rng) -> [u8; 4] {
    if rng.one_in(4) {
        *rng.pick(&[
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [224, 0, 0, 1],
            [239, 255, 255, 250],
            [127, 0, 0, 1],
            [240, 0, 0, 1],
            [198, 51, 100, 255],
            [198, 51, 100, 0],
            [203, 0, 113, 66],
        ])
    } else {
        (rng.next_u64() as u32).to_be_bytes()
    }
}

/// A structurally valid IPv4 packet (TCP mostly) between a few addresses,
/// sometimes cut or corrupted.
pub(crate) fn ipv4(rng: &mut Rng, addrs: &[[u8; 4]]) -> Vec<u8> {
    let proto = *rng.pick(&[6u8, 6, 6, 17, 1, 1, 50]);
    let mut l4 = match proto {
        6 => {
            let mut t = vec![0u8; 20];
            let ports = [0u16, 22, 80, 443, 5800, 1, 65535, 40000];
            t[0..2].copy_from_slice(&rng.pick(&ports).to_be_bytes());
            t[2..4].copy_from_slice(&(rng.next_u64() as u16 | rng.below(2) as u16).to_be_bytes());
            if rng.one_in(2) {
                t[2..4].copy_from_slice(&rng.pick(&ports).to_be_bytes());
            }
            t[4..12].copy_from_slice(&rng.next_u64().to_be_bytes());
            t[12] = 0x50;
            t[13] = *rng.pick(&[0x02, 0x12, 0x14, 0x04, 0x10, 0x11, 0x18, 0x00, 0x29, 0x03]);
            if rng.one_in(4) {
                t[13] = rng.next_u64() as u8;
            }
            t.extend((0..rng.below(4) * 8).map(|_| rng.next_u64() as u8));
            t
        }
        17 => {
            let mut u = vec![0u8; 8];
            u[..4].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            u
        }
        1 => {
            let mut i = vec![
                *rng.pick(&[8u8, 0, 3, 11]),
                rng.below(16) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
            ];
            if i[0] == 3 || i[0] == 11 {
                let quoted = ipv4(rng, addrs);
                i.extend(&quoted[..quoted.len().min(28)]);
            }
            i
        }
        _ => (0..rng.below(16)).map(|_| rng.next_u64() as u8).collect(),
    };
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    if rng.one_in(10) {
        ip[6] = rng.next_u64() as u8; // fragment offset / flags
    }
    ip.extend(rng.pick(addrs));
    ip.extend(rng.pick(addrs));
    if rng.one_in(12) {
        // Header options (IHL up to 15), or an IHL that lies.
        let words = rng.below(11);
        ip.extend((0..words * 4).map(|_| *rng.pick(&[0u8, 1, 7, 68, 130, 0xff])));
        ip[0] = 0x40
            | if rng.one_in(4) {
                rng.below(16) as u8
            } else {
                5 + words as u8
            };
    }
    let total = ip.len() + l4.len();
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    if rng.one_in(12) {
        // A total length that lies (shorter than the header, longer than the bytes).
        let lie = *rng.pick(&[0u16, 1, 19, 20, 21, 0xffff]);
        ip[2..4].copy_from_slice(&lie.to_be_bytes());
    }
    if rng.one_in(15) {
        // Data offset below 5 words or past the segment.
        if proto == 6 && l4.len() > 12 {
            l4[12] = (rng.below(16) as u8) << 4;
        }
    }
    ip.append(&mut l4);
    if rng.one_in(10) {
        let cut = rng.below(ip.len() + 1);
        ip.truncate(cut);
    }
    if rng.one_in(10) {
        let i = rng.below(ip.len().max(1));
        if let Some(b) = ip.get_mut(i) {
            *b = rng.next_u64() as u8;
        }
    }
    ip
}

fn packets_text(pkts: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut s = String::new();
    for (t, p) in pkts {
        s.push_str(&t.to_string());
        s.push(':');
        for b in p {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
    }
    s.into_bytes()
}

/// `pkts` through `detectors`, then their timers at the end of time (raw
/// timestamps: no clamping, as a library user could pass them).
fn feed(detectors: Vec<Box<dyn Detector>>, pkts: &[(i64, Vec<u8>)]) -> Result<(), String> {
    for d in detectors {
        drive(
            d,
            pkts.iter()
                .map(|(t, bytes)| (Instant::from_micros(*t), bytes.as_slice())),
        )?;
    }
    Ok(())
}

/// `frames` through `d`, then its timers at the end of time; a peak of
/// state past its memcap is a finding.
fn drive<'a>(
    mut d: Box<dyn Detector>,
    frames: impl Iterator<Item = (Instant, &'a [u8])>,
) -> Result<(), String> {
    let mut out = Vec::new();
    for (i, (at, bytes)) in frames.enumerate() {
        if let Ok(v) = PacketView::parse(i as u64, bytes) {
            d.observe(at, &v, &mut out);
        }
    }
    d.flush(Instant::from_micros(i64::MAX), &mut out);
    let m = d.memory();
    if m.peak > m.memcap {
        return Err(format!(
            "{}: peak {} over memcap {}",
            d.name(),
            m.peak,
            m.memcap
        ));
    }
    Ok(())
}

/// Byte-wise mutation of a seed (or of nothing, when there are no seeds).
fn mutate_bytes(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = if seeds.is_empty() {
        Vec::new()
    } else {
        rng.pick(seeds).clone()
    };
    for _ in 0..rng.below(8) + 1 {
        let n = b.len();
        match rng.below(7) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n >= 4 => {
                let i = rng.below(n - 3);
                let v = *rng.pick(&[
                    0u32,
                    1,
                    0xffff_ffff,
                    0x7fff_ffff,
                    0x8000_0000,
                    12,
                    28,
                    0x1a2b_3c4d,
                ]);
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            2 if n > 0 => {
                let cut = rng.below(n);
                b.truncate(cut);
            }
            3 if n >= 8 => {
                // Repeat a slice (a block twice, a record duplicated).
                let a = rng.below(n);
                let len = rng.below((n - a).min(256)) + 1;
                let piece = b[a..a + len].to_vec();
                let at = rng.below(n);
                b.splice(at..at, piece);
            }
            4 if n >= 8 => {
                // 8-byte values: pcapng `if_tsoffset`, timestamps.
                let i = rng.below(n - 7);
                let v = *rng.pick(&[i64::MAX, i64::MIN, -1i64, 1 << 40]);
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            5 if n > 0 => {
                let i = rng.below(n);
                b[i] = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, 9, 14, 6]);
            }
            _ => b.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8)),
        }
    }
    b
}

/// The frames of one capture input, kept in buffers reused from input to
/// input: every frame's bytes in one `Vec`, and where each lies.
#[derive(Default)]
struct Frames {
    bytes: Vec<u8>,
    frames: Vec<(Instant, Range<usize>)>,
}

/// Frames read from one capture input at most: the seeds hold a few
/// thousand, and a mutation can only repeat a block of 256 bytes.
const MAX_FRAMES: usize = 100_000;

/// A capture through the reader, then its frames through `detectors`.
fn capture(
    bytes: &[u8],
    detectors: Vec<Box<dyn Detector>>,
    buf: &mut Frames,
) -> Result<(), String> {
    buf.bytes.clear();
    buf.frames.clear();
    let Ok(mut reader) = CaptureReader::new(bytes, "fuzz") else {
        return Ok(());
    };
    while buf.frames.len() < MAX_FRAMES {
        let Some(Ok(f)) = reader.next_frame_ref() else {
            break;
        };
        let start = buf.bytes.len();
        buf.bytes.extend_from_slice(f.bytes);
        buf.frames.push((f.at(), start..buf.bytes.len()));
    }
    for d in detectors {
        drive(
            d,
            buf.frames
                .iter()
                .map(|(at, r)| (*at, &buf.bytes[r.clone()])),
        )?;
    }
    Ok(())
}

/// A log text from mutated seed lines, and random parser options.
fn log_input(rng: &mut Rng, seeds: &[String]) -> (String, LogOptions) {
    let mut lines = Vec::new();
    for _ in 0..rng.below(8) + 1 {
        let mut toks: Vec<String> = if seeds.is_empty() {
            vec!["IN=eth0".into()]
        } else {
            rng.pick(seeds).split(' ').map(str::to_string).collect()
        };
        for _ in 0..rng.below(4) {
            let n = toks.len().max(1);
            let i = rng.below(n);
            let odd = [
                "SRC=",
                "DST=999.1.1.1",
                "LEN=70000",
                "TTL=-1",
                "SPT=65536",
                "DPT=0",
                "PROTO=",
                "PROTO=TCP",
                "FRAG:65535",
                "[SRC=1.2.3.4",
                "]",
                "SYN",
                "ID=4294967296",
                "2024-11-21T14:35:01.25+99:99",
                "99999-01-01T00:00:00Z",
                "[9999999999999999.9]",
                "Feb",
                "31",
                "24:00:00",
                "TOS=0xZZ",
                "TYPE=3",
                "CODE=3",
                "[18446744073709551615.999999]",
                "[-1.000000]",
                "[0.0000001]",
                "SRC=0.0.0.0",
                "DST=255.255.255.255",
                "SRC=224.0.0.1",
                "LEN=0",
                "LEN=65535",
                "LEN=19",
                "WINDOW=4294967295",
                "RES=0xff",
                "URGP=65535",
                "SPT=0",
                "PROTO=ICMP",
                "PROTO=UDP",
                "PROTO=47",
                "PROTO=99999",
                "OPT (0101080A00000000)",
                "MF",
                "DF",
                "FRAG:8191",
                "Dec",
                "Jan",
                "29",
                "23:59:60",
                "99:99:99",
                "2024-02-30T00:00:00Z",
                "0000-01-01T00:00:00-23:59",
                "9999-12-31T23:59:59.999999999+00:00",
                "2024-11-21T14:35:01.1234567890123456789Z",
            ];
            let t = rng.pick(&odd).to_string();
            match rng.below(3) {
                0 if i < toks.len() => toks[i] = t,
                1 if i < toks.len() => {
                    toks.remove(i);
                }
                _ => toks.insert(i.min(toks.len()), t),
            }
        }
        lines.push(toks.join(" "));
    }
    if rng.one_in(20) {
        // Syslog stamps whose month goes back again and again: each is a
        // new year for the parser.
        let base = lines[0].clone();
        for i in 0..rng.below(3000) {
            let month = if i % 2 == 0 { "Dec" } else { "Jan" };
            lines.push(format!(
                "{month} {}",
                base.split_once(' ').map_or("", |p| p.1)
            ));
        }
    }
    let opts = LogOptions {
        search: rng.pick(&["DROP", "", "X"]).to_string(),
        year: *rng.pick(&[1970, 2024, 0, -1, i32::MAX, i32::MIN, 9999]),
        time: if rng.one_in(2) {
            TimeSource::Syslog
        } else {
            TimeSource::KernelUptime
        },
    };
    (lines.join("\n"), opts)
}

fn iptables(text: &str, opts: LogOptions) -> Result<(), String> {
    let mut p = LogParser::new(opts);
    for (i, line) in text.lines().enumerate() {
        if let Ok(Some(rec)) = p.parse_line(i + 1, line) {
            let _ = PacketView::parse(0, &rec.packet);
        }
    }
    Ok(())
}

/// Wall time a simulated scenario may take before it counts as a hang.
const SCENARIO_WALL: Duration = Duration::from_secs(10);

/// Loads a scenario; simulates an accepted one under a budget. `Ok(true)`
/// when it was accepted.
fn scenario(text: &str, full: Option<(&mut Rng, &Scratch)>) -> Result<bool, String> {
    let Ok(sc) = Scenario::parse(Path::new("fuzz.toml"), text.to_string()) else {
        return Ok(false);
    };
    let outputs = Outputs {
        budget: Budget {
            max_packets: 20_000,
            max_wall: Duration::from_secs(5),
        },
        ..Outputs::default()
    };
    let started = WallClock::now();
    match full {
        Some((rng, scratch)) => command_path::run(rng, scratch, &sc, outputs),
        None => {
            let _ = simulate(&sc, sc.seed, &outputs, &mut ());
        }
    }
    if started.elapsed() > SCENARIO_WALL {
        return Err(format!(
            "simulation took {:?}, past the {:?} budget",
            started.elapsed(),
            SCENARIO_WALL
        ));
    }
    Ok(true)
}

/// One libFuzzer input for `target` (the `cargo-fuzz/` targets call this):
/// the bytes are the capture, the log or the scenario text; for `packets`
/// they are split into packets, each preceded by an 8-byte timestamp.
/// Panics on a finding, as libFuzzer expects.
pub fn fuzz_bytes(target: Target, data: &[u8]) {
    let r = match target {
        Target::Packets => {
            let mut pkts = Vec::new();
            let mut rest = data;
            while rest.len() >= 9 {
                let (t, tail) = rest.split_at(8);
                let t = i64::from_le_bytes(t.try_into().unwrap_or([0; 8]));
                let len = usize::from(tail[0]).min(tail.len() - 1);
                pkts.push((t, tail[1..1 + len].to_vec()));
                rest = &tail[1 + len..];
            }
            feed(Suite::default_configurations().all(), &pkts)
        }
        Target::Capture => capture(
            data,
            Suite::default_configurations().all(),
            &mut Frames::default(),
        ),
        Target::Iptables => {
            let year = data.first().map_or(1970, |b| i32::from(*b) * 97 - 9000);
            let opts = LogOptions {
                year,
                time: if data.len() % 2 == 0 {
                    TimeSource::Syslog
                } else {
                    TimeSource::KernelUptime
                },
                ..LogOptions::default()
            };
            iptables(&String::from_utf8_lossy(data), opts)
        }
        Target::Scenario => scenario(&String::from_utf8_lossy(data), None).map(|_| ()),
    };
    if let Err(what) = r {
        panic!("{what}");
    }
}
