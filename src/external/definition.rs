//! External detector definitions: how to run a real tool and read its
//! alerts. Built-in ones for the tools Debian ships (scanlogd, PortSentry
//! 1.2, psad 2.4), more from a TOML file (`--detector-file`, format in
//! `docs/external-detectors.md`).

use std::path::Path;

use scanbench_detector::{Duration, Vantage};
use serde::Deserialize;

use super::parse::Format;
use crate::error::{Error, Result};

/// How the bench feeds the tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The sensor's frames are written to a file (`{pcap}`, or `{log}` as
    /// iptables LOG lines), then the command runs once.
    Offline,
    /// The capture is replayed into a sensor network namespace where the
    /// command runs as a daemon; its syslog is collected on a private
    /// `/dev/log`. Gaps longer than `gap_bound` are shortened to it.
    Live {
        /// The longest inter-packet gap replayed at its original length.
        gap_bound: Duration,
        /// Whether a packet may wait for the daemon to read its socket.
        pacing: Pacing,
        /// Mirror the capture's servers in the sensor namespace: when a
        /// SYN-ACK from `A:p` is replayed, a socket listening on `A:p` is
        /// opened first, so a tool that skips ports in use (PortSentry)
        /// sees the port in use from then on, as the bench's model does.
        listeners: bool,
    },
    /// The drop log is appended to a file the daemon reads once per check
    /// (psad's `IPT_SYSLOG_FILE`), one check interval of lines per check,
    /// in step with the daemon (`follow`); its syslog is collected on a
    /// private `/dev/log`.
    Follow {
        /// The file the daemon follows, with placeholders.
        file: String,
        /// A file the daemon rewrites at every check, with placeholders:
        /// how the bench sees a check end.
        checked: String,
        /// The capture time one daemon check stands for (the counterpart's
        /// check interval).
        interval: Duration,
        /// The daemon's own interval between checks (wall time), for the
        /// replay's length.
        check_wall: Duration,
        /// Runs of more empty intervals than this are shortened...
        idle_checks: u64,
        /// ...by a multiple of this many checks, keeping the phase of
        /// what the daemon does every so many checks.
        period_checks: u64,
        /// The daemon's scan timeout in checks: a log spanning less than
        /// half of it has its empty intervals skipped (nothing can time out).
        timeout_checks: u64,
    },
}

/// Whether a live replay may hold a packet back while the daemon has not
/// read what is queued on its raw socket. A daemon that falls behind
/// otherwise loses packets (the kernel drops what does not fit the socket's
/// receive buffer), and a replay that lost packets fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Never hold a packet.
    Never,
    /// Hold packets, but fail the replay if it falls more than this behind
    /// its schedule (for tools whose time windows tolerate that much).
    UpTo(Duration),
    /// Hold packets as long as needed: the tool keeps no time.
    Always,
}

/// Where the tool's alerts are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The command's standard output.
    Stdout,
    /// A file, with placeholders (`{outdir}/eve.json`).
    File(String),
    /// Syslog messages sent to the private `/dev/log` (live feeds).
    Syslog,
}

/// One external detector.
#[derive(Clone, Debug)]
pub struct Definition {
    /// Name used as `ext:NAME`.
    pub name: String,
    /// One line for `list` and reports.
    pub summary: String,
    /// Command and arguments, with `{pcap}`, `{log}`, `{outdir}` placeholders.
    pub command: Vec<String>,
    /// How it is fed.
    pub feed: Feed,
    /// Where it reads: the wire tap or the firewall drop log.
    pub vantage: Vantage,
    /// Where its alerts appear.
    pub output: Output,
    /// Their format.
    pub format: Format,
    /// Files written into `{outdir}` before the run: (name, contents with placeholders).
    pub files: Vec<(String, String)>,
    /// The bench re-implementation this tool is the original of (for
    /// `scanbench fidelity`), as a detector spec.
    pub counterpart: Option<String>,
    /// Why gaps may be shortened (live feeds), for docs and `list`.
    pub gap_reason: String,
    /// Shell commands run (live feeds) inside the tool's private mount
    /// namespace before it starts, with placeholders: how a daemon gets
    /// private copies of the directories it writes.
    pub setup: String,
}

impl Definition {
    /// The configuration text reports print for this detector.
    pub fn config(&self) -> String {
        let feed = match &self.feed {
            Feed::Offline => "offline".to_string(),
            Feed::Live {
                gap_bound,
                pacing,
                listeners,
            } => format!(
                "live,gap_bound={}ms,pacing={}{}",
                gap_bound.total_millis(),
                match pacing {
                    Pacing::Never => "never".to_string(),
                    Pacing::UpTo(d) => format!("{}ms", d.total_millis()),
                    Pacing::Always => "always".to_string(),
                },
                if *listeners { ",listeners" } else { "" }
            ),
            Feed::Follow {
                interval,
                check_wall,
                idle_checks,
                period_checks,
                ..
            } => format!(
                "follow,interval={}ms,check={}ms,idle_checks={idle_checks}/{period_checks}",
                interval.total_millis(),
                check_wall.total_millis()
            ),
        };
        format!(
            "ext:{}:command={},feed={feed},format={}",
            self.name,
            self.command.join(" "),
            self.format.name()
        )
    }
}

/// psad's overrides for `-A` runs: every path psad writes goes under the
/// run's private `{outdir}`, and no DNS/whois lookups are made.
const PSAD_OVERRIDE: &str = "PSAD_DIR {outdir}/psad;\nPSAD_RUN_DIR {outdir}/run;\n\
PSAD_FIFO_DIR {outdir}/fifo;\nENABLE_WHOIS_LOOKUPS N;\nENABLE_DNS_LOOKUPS N;\n";

/// psad's overrides for the daemon (`ext:psad-daemon`), after
/// [`PSAD_OVERRIDE`]: it reads the followed file `{outdir}/messages`
/// itself (no kmsgsd, no syslog daemon), sends no email, blocks nothing,
/// starts no psadwatchd, checks no firewall rules and no disk space, and
/// runs five times faster than psad's defaults: `CHECK_INTERVAL` 1 s for 5,
/// `SCAN_TIMEOUT` 720 s for 3600 (the follow feed gives it one 5 s interval
/// of the capture per check, so 720 checks stand for 3600 s as before).
const PSAD_DAEMON_OVERRIDE: &str = "CONF_ARCHIVE_DIR {outdir}/archive;\n\
ENABLE_SYSLOG_FILE Y;\nIPT_SYSLOG_FILE {outdir}/messages;\nAUTO_DETECT_JOURNALCTL N;\n\
ENABLE_FW_MSG_READ_CMD N;\nALERTING_METHODS noemail;\nENABLE_AUTO_IDS N;\n\
ENABLE_PSADWATCHD N;\nENABLE_FW_LOGGING_CHECK N;\nDISK_MAX_PERCENTAGE 0;\n\
CHECK_INTERVAL 1;\nSCAN_TIMEOUT 720;\n";

/// PortSentry reads `/etc/portsentry/portsentry.ignore` (Debian's init
/// script writes it from `portsentry.ignore.static`) and writes its history
/// and blocked files under `/var/lib/portsentry`: the daemon gets private
/// copies, so a run changes nothing on the host.
const PORTSENTRY_SETUP: &str = "mkdir -p {outdir}/etc; cp /etc/portsentry/portsentry.conf {outdir}/etc/; \
cp /etc/portsentry/portsentry.ignore.static {outdir}/etc/portsentry.ignore; \
mount --bind {outdir}/etc /etc/portsentry; mount -t tmpfs tmpfs /var/lib/portsentry";

/// The built-in definitions (Debian 12: scanlogd 2.2.8, portsentry 1.2-14,
/// psad 2.4.6-3).
pub fn builtins() -> Vec<Definition> {
    let live = |ms: u64, pacing: Pacing, listeners: bool| Feed::Live {
        gap_bound: Duration::from_millis(ms),
        pacing,
        listeners,
    };
    vec![
        Definition {
            name: "scanlogd".into(),
            summary: "scanlogd 2.2 (Debian) on a raw socket in a sensor namespace, syslog collected".into(),
            command: vec!["scanlogd".into()],
            feed: live(3_500, Pacing::UpTo(Duration::from_millis(250)), false),
            vantage: Vantage::Wire,
            output: Output::Syslog,
            format: Format::Scanlogd,
            files: Vec::new(),
            counterpart: Some("scanlogd".into()),
            // Debian's scanlogd chroots into /run/scanlogd/empty (made by its init script).
            setup: "mount -t tmpfs tmpfs /run; mkdir -p /run/scanlogd/empty".into(),
            gap_reason: "gaps above 3.5 s are shortened to 3.5 s: scanlogd forgets a source whose last new port is more than SCAN_DELAY_THRESHOLD = 3 s old either way; its log rate limit (5 lines per 20 s) could notice only if more than 5 alerts fell into 20 s of shortened time. Packets may wait for scanlogd to read its socket while the replay stays within 250 ms of its schedule: a gap between two of a source's packets changed by at most 250 ms crosses 3 s (or the 20 s of the log limit) only if it was within 250 ms of it".into(),
        },
        Definition {
            name: "portsentry".into(),
            summary: "PortSentry 1.2 (Debian) -stcp: stealth mode on the configured TCP_PORTS".into(),
            command: vec!["portsentry".into(), "-stcp".into()],
            feed: live(2, Pacing::Always, true),
            vantage: Vantage::Wire,
            output: Output::Syslog,
            format: Format::Portsentry,
            files: Vec::new(),
            counterpart: Some("portsentry:mode=stcp".into()),
            setup: PORTSENTRY_SETUP.into(),
            gap_reason: "gaps above 2 ms are shortened to 2 ms, and a packet waits while PortSentry has not read its socket: PortSentry 1.2 keeps no time at all (no window, SCAN_TRIGGER counts hits only), but does file I/O for every alert and would drop packets on a loaded machine".into(),
        },
        Definition {
            name: "portsentry-atcp".into(),
            summary: "PortSentry 1.2 (Debian) -atcp: advanced stealth mode, every port below ADVANCED_PORTS_TCP".into(),
            command: vec!["portsentry".into(), "-atcp".into()],
            feed: live(2, Pacing::Always, true),
            vantage: Vantage::Wire,
            output: Output::Syslog,
            format: Format::Portsentry,
            files: Vec::new(),
            counterpart: Some("portsentry:mode=atcp".into()),
            setup: PORTSENTRY_SETUP.into(),
            gap_reason: "as for portsentry: no time window".into(),
        },
        Definition {
            name: "psad".into(),
            summary: "psad 2.4 (Debian) -A: offline analysis of the drop log written as iptables LOG lines".into(),
            command: [
                "psad", "-A", "-m", "{log}", "-O", "{outdir}/psad.conf", "--no-whois", "--no-rdns",
            ]
            .map(String::from)
            .to_vec(),
            feed: Feed::Offline,
            vantage: Vantage::DropLog,
            output: Output::Stdout,
            format: Format::PsadReport,
            files: vec![("psad.conf".into(), PSAD_OVERRIDE.into())],
            counterpart: Some("psad:mode=analysis".into()),
            gap_reason: String::new(),
            setup: String::new(),
        },
        Definition {
            name: "psad-daemon".into(),
            summary: "psad 2.4 (Debian) as its daemon, following the drop log as a syslog file, syslog collected".into(),
            command: [
                "psad", "--no-daemon", "-O", "{outdir}/psad.conf", "--no-whois", "--no-rdns",
                "--no-netstat",
            ]
            .map(String::from)
            .to_vec(),
            feed: Feed::Follow {
                file: "{outdir}/messages".into(),
                checked: "{outdir}/psad/packet_ctr".into(),
                interval: Duration::from_secs(5),
                check_wall: Duration::from_secs(1),
                idle_checks: 725,
                period_checks: 5,
                timeout_checks: 720,
            },
            vantage: Vantage::DropLog,
            output: Output::Syslog,
            format: Format::PsadSyslog,
            files: vec![(
                "psad.conf".into(),
                format!("{PSAD_OVERRIDE}{PSAD_DAEMON_OVERRIDE}"),
            )],
            counterpart: Some("psad:mode=daemon".into()),
            gap_reason: "one check per 5 s interval of the drop log (psad's CHECK_INTERVAL; psad dates a scan by the check that reads its line, so nothing finer is visible), run at 1 s per check with SCAN_TIMEOUT 720; a run of more than 725 empty intervals is shortened by a multiple of 5: after SCAN_TIMEOUT (720 checks) and one more delete_old_scans (every PERSISTENCE_CTR_THRESHOLD = 5 checks) every pair from before the gap is deleted either way, and the phase of delete_old_scans is kept; a log spanning less than 360 intervals (half of SCAN_TIMEOUT) has every empty interval skipped: nothing can time out, so an empty check changes nothing".into(),
            setup: String::new(),
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    detector: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Line(String),
    Argv(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    summary: String,
    command: Command,
    #[serde(default = "offline")]
    feed: String,
    #[serde(default)]
    gap_bound: Option<String>,
    #[serde(default)]
    pacing: Option<String>,
    #[serde(default)]
    listeners: bool,
    #[serde(default = "wire")]
    vantage: String,
    #[serde(default = "stdout")]
    output: String,
    format: Format,
    #[serde(default)]
    files: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    counterpart: Option<String>,
    #[serde(default)]
    setup: String,
}

fn offline() -> String {
    "offline".into()
}
fn wire() -> String {
    "wire".into()
}
fn stdout() -> String {
    "stdout".into()
}

/// Reads definitions from a TOML file (`[[detector]]` tables; the format is
/// in `docs/external-detectors.md`).
///
/// # Errors
/// An unreadable file, or a malformed or inconsistent entry, naming the file
/// and line (or the entry and field).
pub fn load_file(path: &Path) -> Result<Vec<Definition>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |line: Option<usize>, message: String| Error::Input {
        path: path.to_path_buf(),
        line,
        message,
    };
    let line_of = |offset: usize| text[..offset.min(text.len())].lines().count().max(1);
    let file: File = toml::from_str(&text)
        .map_err(|e| bad(e.span().map(|s| line_of(s.start)), e.message().to_string()))?;
    let mut defs = Vec::new();
    for (i, e) in file.detector.into_iter().enumerate() {
        let at = |field: &str| format!("detector #{} (`{}`): {field}", i + 1, e.name);
        if e.name.is_empty()
            || !e
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(bad(None, at("name must be letters, digits, `-` or `_`")));
        }
        let command = match e.command {
            Command::Line(s) => s.split_whitespace().map(String::from).collect(),
            Command::Argv(v) => v,
        };
        if command.is_empty() {
            return Err(bad(None, at("command is empty")));
        }
        let feed = match e.feed.as_str() {
            "offline" if e.gap_bound.is_some() || e.pacing.is_some() || e.listeners => {
                return Err(bad(
                    None,
                    at("gap_bound, pacing and listeners need feed = \"live\""),
                ));
            }
            "offline" => Feed::Offline,
            "live" => {
                let text = e.gap_bound.as_deref().unwrap_or("1s");
                let d = scanbench_sim::units::duration(text)
                    .map_err(|m| bad(None, at(&format!("gap_bound: {m}"))))?;
                let pacing = match e.pacing.as_deref() {
                    None | Some("never") => Pacing::Never,
                    Some("always") => Pacing::Always,
                    Some(t) => Pacing::UpTo(scanbench_sim::units::duration(t).map_err(|m| {
                        bad(
                            None,
                            at(&format!("pacing: {m} (never, always, or a duration)")),
                        )
                    })?),
                };
                Feed::Live {
                    gap_bound: d,
                    pacing,
                    listeners: e.listeners,
                }
            }
            other => {
                return Err(bad(
                    None,
                    at(&format!("feed `{other}`: expected offline or live")),
                ));
            }
        };
        let vantage = match e.vantage.as_str() {
            "wire" => Vantage::Wire,
            "drop-log" => Vantage::DropLog,
            other => {
                return Err(bad(
                    None,
                    at(&format!("vantage `{other}`: expected wire or drop-log")),
                ));
            }
        };
        let output = match (e.output.as_str(), &feed) {
            ("stdout", _) => Output::Stdout,
            ("syslog", Feed::Live { .. }) => Output::Syslog,
            ("syslog", Feed::Offline) => {
                return Err(bad(None, at("output syslog needs feed = \"live\"")));
            }
            (file, _) => Output::File(file.to_string()),
        };
        let uses = |p: &str| command.iter().any(|a| a.contains(p));
        if feed == Feed::Offline && !uses("{pcap}") && !uses("{log}") {
            return Err(bad(
                None,
                at("an offline command must name {pcap} or {log}"),
            ));
        }
        defs.push(Definition {
            summary: if e.summary.is_empty() {
                format!("external: {}", command.join(" "))
            } else {
                e.summary
            },
            name: e.name,
            command,
            feed,
            vantage,
            output,
            format: e.format,
            files: e.files.into_iter().collect(),
            counterpart: e.counterpart,
            gap_reason: String::new(),
            setup: e.setup,
        });
    }
    Ok(defs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_load_and_bad_entries_name_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ids.toml");
        std::fs::write(
            &p,
            "[[detector]]\nname = \"my-suricata\"\ncommand = \"suricata -r {pcap} -l {outdir}\"\noutput = \"{outdir}/eve.json\"\nformat = \"suricata-eve\"\n",
        )
        .unwrap();
        let defs = load_file(&p).unwrap();
        assert_eq!(defs.len(), 1);
        let d = &defs[0];
        assert_eq!(d.name, "my-suricata");
        assert_eq!(d.output, Output::File("{outdir}/eve.json".into()));
        assert_eq!(d.feed, Feed::Offline);
        std::fs::write(
            &p,
            "[[detector]]\nname = \"x\"\ncommand = \"true\"\nformat = \"nosuch\"\n",
        )
        .unwrap();
        let e = load_file(&p).unwrap_err().to_string();
        assert!(e.contains("ids.toml:4"), "{e}");
        std::fs::write(
            &p,
            "[[detector]]\nname = \"x\"\ncommand = \"true\"\nformat = \"scanlogd\"\n",
        )
        .unwrap();
        let e = load_file(&p).unwrap_err().to_string();
        assert!(e.contains("{pcap} or {log}"), "{e}");
    }
}
