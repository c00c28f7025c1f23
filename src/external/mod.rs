//! External detectors: real tools (scanlogd, PortSentry, psad, Snort, Zeek,
//! Suricata, or any program) run over a run's sensor traffic, their alerts
//! read back and scored exactly like the built-in re-implementations.
//!
//! A detector spec `ext:NAME` names a [`definition::Definition`] in the
//! run's [`Externals`]: built-in ([`definition::builtins`]) or loaded from a
//! TOML file ([`Externals::load_file`], the CLI's `--detector-file`). Two
//! feeds:
//! - offline ([`runner`]): the sensor's frames are written to a temporary
//!   pcap or iptables LOG file ([`iptables_write`]) and the command runs
//!   once with `{pcap}`, `{log}` and `{outdir}` filled in;
//! - live ([`live`]): the capture is replayed into a sensor network
//!   namespace where the tool runs as a daemon; its syslog is collected on a
//!   private `/dev/log`. Root only;
//! - follow ([`follow`]): the drop log is appended, check by check, to a
//!   file a daemon reads itself (psad); its syslog is collected likewise.
//!   Root only.
//!
//! The tool's output is read by [`parse`] and every alert is tied to the
//! frames behind it ([`runner::FrameIndex`]). Times in tool output are read
//! as UTC since the epoch, the bench's virtual time 0 ([`clock`]).

pub mod clock;
pub mod definition;
pub mod follow;
pub mod iptables_write;
pub mod live;
pub mod parse;
pub mod runner;
#[cfg(feature = "live")]
pub mod sandbox;

/// The spec prefix that names an external detector.
pub const PREFIX: &str = "ext:";

/// The definition name of an `ext:NAME` spec, if `spec` is one.
pub fn spec_name(spec: &str) -> Option<&str> {
    spec.trim().strip_prefix(PREFIX).map(str::trim)
}

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use definition::Definition;

use crate::error::Result;

/// The external detectors a run can name as `ext:NAME`, and the limit its
/// live replays run under. Passed down explicitly (no process-wide
/// registry), so two runs in one process never see each other's files.
#[derive(Clone, Debug)]
pub struct Externals {
    definitions: Vec<Definition>,
    /// Live replays whose shortened schedule is longer than this many
    /// seconds are refused with a "skipped" error (`None`: no limit).
    pub max_replay_secs: Option<u64>,
    /// Where to keep each tool's raw output (its syslog messages, standard
    /// output or alert file) as `NAME.txt`, for fixtures and debugging.
    pub save_output: Option<PathBuf>,
}

impl Default for Externals {
    /// The built-in definitions, no replay limit.
    fn default() -> Self {
        Externals {
            definitions: definition::builtins(),
            max_replay_secs: None,
            save_output: None,
        }
    }
}

impl Externals {
    /// The built-in definitions, shared (what [`Default`] gives).
    pub fn builtin() -> &'static Externals {
        static BUILTIN: LazyLock<Externals> = LazyLock::new(Externals::default);
        &BUILTIN
    }

    /// Adds `def`; a definition of the same name is replaced.
    pub fn add(&mut self, def: Definition) {
        self.definitions.retain(|d| d.name != def.name);
        self.definitions.push(def);
    }

    /// Adds every definition in a TOML file (`--detector-file`) and returns
    /// their names.
    ///
    /// # Errors
    /// As [`definition::load_file`]: the file and the place in it.
    pub fn load_file(&mut self, path: &Path) -> Result<Vec<String>> {
        let defs = definition::load_file(path)?;
        let names = defs.iter().map(|d| d.name.clone()).collect();
        for d in defs {
            self.add(d);
        }
        Ok(names)
    }

    /// The definition named `name`.
    pub fn find(&self, name: &str) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.name == name)
    }

    /// Every definition, built-in ones first, then loaded ones in load order.
    pub fn definitions(&self) -> &[Definition] {
        &self.definitions
    }

    /// Every definition name, comma-separated (for error messages).
    pub fn names(&self) -> String {
        let v: Vec<&str> = self.definitions.iter().map(|d| d.name.as_str()).collect();
        v.join(", ")
    }
}

/// A tool's log line as `scanbench fidelity` compares it with the
/// re-implementation's: scanlogd ends its line with the wall-clock time the
/// scan started (`@HH:MM:SS`), which a replay cannot reproduce, so that
/// stamp is dropped (from both sides).
pub fn comparable_line(tool: &str, line: &str) -> String {
    if tool == "scanlogd" {
        if let Some((head, stamp)) = line.rsplit_once(" @") {
            if stamp.len() == 8 && stamp.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                return head.to_string();
            }
        }
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scanlogds_clock_stamp_is_dropped() {
        let l = "203.0.113.5:40000 to 198.51.100.10 ports 21, 22, ..., fSrpauxy, TOS 00 @00:00:05";
        assert_eq!(
            comparable_line("scanlogd", l),
            "203.0.113.5:40000 to 198.51.100.10 ports 21, 22, ..., fSrpauxy, TOS 00"
        );
        assert_eq!(comparable_line("portsentry", l), l);
        assert_eq!(comparable_line("scanlogd", "x @late"), "x @late");
    }

    #[test]
    fn loaded_definitions_join_the_builtins_and_replace_by_name() {
        let mut ext = Externals::default();
        assert!(ext.find("psad").is_some());
        assert!(ext.find("nosuch").is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ids.toml");
        std::fs::write(
            &p,
            "[[detector]]\nname = \"psad\"\ncommand = \"my-psad {log}\"\nvantage = \"drop-log\"\nformat = \"psad-syslog\"\n",
        )
        .unwrap();
        assert_eq!(ext.load_file(&p).unwrap(), vec!["psad".to_string()]);
        assert_eq!(ext.find("psad").unwrap().command[0], "my-psad");
        assert_eq!(
            ext.names().split(", ").filter(|n| *n == "psad").count(),
            1,
            "{}",
            ext.names()
        );
        assert!(Externals::builtin().find("psad").unwrap().command[0] == "psad");
    }
}
