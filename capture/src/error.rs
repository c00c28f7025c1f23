//! The crate's error type.

use std::path::PathBuf;

pub use crate::read::{CaptureError, ErrorKind};

/// What can go wrong reading a capture or a labels file; each variant names
/// the file and the place (byte offset, line).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A capture is malformed or truncated (names the byte offset).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A labels file labels no frame (an empty file is a mistake, not "no labels").
    #[error("{}: empty labels file: no frame is labelled", path.display())]
    EmptyLabels {
        /// The file.
        path: PathBuf,
    },
    /// A labels file line is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Labels {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
