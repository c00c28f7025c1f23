//! Finished sweep jobs kept on disk (`--out DIR` puts them in `DIR/jobs/`),
//! so a sweep that was killed, or is run again with more points, reruns only
//! what is missing: the campaign model of ns-3's SEM.
//!
//! A job is stored under a key that hashes everything its result depends
//! on: the scanbench version, the scenario file's text, the seed and the
//! detector configuration. A changed scenario or configuration therefore
//! misses the store and runs again. Files are written whole (to a temporary
//! name, then renamed), so a kill leaves either a complete file or none; a
//! file that does not read back as the job it should be is ignored and the
//! job rerun.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{JobResult, Point};
use crate::error::{Error, Result};
use crate::scenario::Scenario;

/// The job results under one directory.
#[derive(Clone, Debug)]
pub struct JobStore {
    dir: PathBuf,
}

/// The form of one stored job.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    key: String,
    result: JobResult,
}

impl JobStore {
    /// The store in `out/jobs`, created if missing.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory cannot be created.
    pub fn open(out: &Path) -> Result<JobStore> {
        let dir = out.join("jobs");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        Ok(JobStore { dir })
    }

    /// The key of `point` on `scenario` with `seed`.
    pub fn key(&self, scenario: &Scenario, seed: u64, point: &Point) -> String {
        let mut h = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION").as_bytes(),
            scenario.source().as_bytes(),
            seed.to_string().as_bytes(),
            point.config.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The stored result for `key`, if there is a readable one.
    pub fn load(&self, key: &str) -> Option<JobResult> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        (stored.key == key).then_some(stored.result)
    }

    /// Saves `result` under `key`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, key: &str, result: &JobResult) -> Result<()> {
        let path = self.path(key);
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let text = serde_json::to_string(&Stored {
            key: key.to_string(),
            result: result.clone(),
        })
        .unwrap_or_default();
        let io = |e| Error::Io {
            path: path.clone(),
            source: e,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
