//! The root crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading scenarios, reading captures or
/// configuring detectors. Each variant names the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A scenario file is malformed or inconsistent.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A text input other than a scenario (labels, firewall log) is malformed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The simulator refused the topology.
    #[error("{}: {source}", path.display())]
    Sim {
        /// The scenario file.
        path: PathBuf,
        /// The simulator's error.
        source: scanbench_sim::Error,
    },
    /// A run went past its budget (`--max-packets`, `--max-wall`).
    #[error("{}: {message}", path.display())]
    Budget {
        /// The scenario file.
        path: PathBuf,
        /// Which budget, and where the run stopped.
        message: String,
    },
    /// A capture file is malformed or truncated.
    #[error(transparent)]
    Capture(#[from] scanbench_capture::CaptureError),
    /// A detector specification is wrong.
    #[error(transparent)]
    Detector(#[from] scanbench_detector::ConfigError),
    /// A command-line value (a sweep's `--param`, a `--shard`) is malformed;
    /// the message names the option and what it expects.
    #[error("{0}")]
    Argument(String),
    /// A plot could not be drawn.
    #[error("drawing a plot: {0}")]
    Plot(String),
    /// Live mode cannot start or stopped on a failure.
    #[cfg(feature = "live")]
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
    /// An external detector (`ext:NAME`) could not be run or read.
    #[error("ext:{tool}: {message}")]
    External {
        /// The definition name.
        tool: String,
        /// What went wrong, naming the command or the output line.
        message: String,
    },
}

impl From<scanbench_capture::Error> for Error {
    fn from(e: scanbench_capture::Error) -> Self {
        match e {
            scanbench_capture::Error::Capture(e) => Error::Capture(e),
            scanbench_capture::Error::Io { path, source } => Error::Io { path, source },
            scanbench_capture::Error::EmptyLabels { path } => Error::Input {
                path,
                line: None,
                message: "empty labels file: no frame is labelled".into(),
            },
            scanbench_capture::Error::Labels {
                path,
                line,
                message,
            } => Error::Input {
                path,
                line: Some(line),
                message,
            },
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
