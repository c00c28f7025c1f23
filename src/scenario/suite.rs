//! The built-in suite: every `scenarios/*.toml` of the source tree, embedded
//! in the binary when it is built (`build.rs`), so that `scanbench run` and
//! `scanbench list` work from any directory and from an installed binary. A
//! file or directory named on the command line replaces it.

use std::path::{Path, PathBuf};

use super::Scenario;
use crate::error::Result;

include!(concat!(env!("OUT_DIR"), "/suite.rs"));

/// The path a built-in scenario reports as its file: `scenarios/<file name>`,
/// as in the source tree, so reports read the same inside and outside it.
pub fn builtin_path(file_name: &str) -> PathBuf {
    Path::new("scenarios").join(file_name)
}

/// Loads every built-in scenario, in file-name order.
///
/// # Errors
/// None for a binary whose tests passed (the suite is checked by them); a
/// scenario that fails to load is reported like a file on disk.
pub fn builtin() -> Result<Vec<Scenario>> {
    SUITE
        .iter()
        .map(|(name, text)| Scenario::parse(&builtin_path(name), text.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded suite is the source tree's `scenarios/` directory, file
    /// for file and byte for byte.
    #[test]
    fn embedded_suite_equals_the_scenarios_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = SUITE.iter().map(|(n, _)| *n).collect();
        assert_eq!(embedded, on_disk);
        for (name, text) in SUITE {
            assert_eq!(*text, std::fs::read_to_string(dir.join(name)).unwrap());
        }
        assert_eq!(builtin().unwrap().len(), SUITE.len());
    }
}
