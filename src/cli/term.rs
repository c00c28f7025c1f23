//! The terminal conventions every subcommand shares, so that `scanbench`
//! behaves like the Unix tools its users know (grep, tshark, nmap):
//!
//! - **Standard output** carries the report. A reader that goes away
//!   (`scanbench list | head -1`) is not an error: the first write that meets
//!   a closed pipe marks standard output closed, later writes are dropped, and
//!   the command finishes its other work (files, `--check`) and exits with its
//!   usual code. Any other write error is named as standard output's.
//! - **Standard error** carries chatter (per-run lines, notes, progress),
//!   silenced by `-q`, and warnings and errors, never silenced. Writing to it
//!   never fails the command: a closed standard error loses the text only.
//! - **Colour** follows `--color auto|always|never`; `auto` colours a stream
//!   only when it is a terminal and `NO_COLOR` is unset (<https://no-color.org>).
//!
//! [`init`] is called once by `main` with the global flags.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--color`: when to colour output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour a stream when it is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether a stream that is (or is not) a terminal gets colour.
    fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// The same choice for clap's own messages (help, usage errors).
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

struct Settings {
    quiet: bool,
    color_stderr: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Records the global flags; later calls are ignored.
pub fn init(quiet: bool, color: ColorChoice) {
    let _ = SETTINGS.set(Settings {
        quiet,
        color_stderr: color.enabled(io::stderr().is_terminal()),
    });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        quiet: false,
        color_stderr: false,
    })
}

/// `-q` was given: no chatter, no progress.
pub fn quiet() -> bool {
    settings().quiet
}

/// Whether standard error is coloured.
pub fn color_stderr() -> bool {
    settings().color_stderr
}

/// Standard output met a closed pipe: its reader is gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Standard output, as described in the module docs. Cheap to create; every
/// instance shares the closed state.
pub struct Stdout(io::Stdout);

/// The report stream.
pub fn stdout() -> Stdout {
    Stdout(io::stdout())
}

impl Stdout {
    fn result<T>(&self, r: io::Result<T>, done: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(done)
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("writing to standard output: {e}"),
            )),
            ok => ok,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if stdout_closed() {
            return Ok(buf.len());
        }
        let r = self.0.write(buf);
        self.result(r, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if stdout_closed() {
            return Ok(());
        }
        let r = self.0.flush();
        self.result(r, ())
    }
}

/// Standard error; write errors are dropped (there is nowhere left to report them).
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

/// Where chatter goes: standard output when it carries a human-readable
/// report (`to_stdout`), else standard error; nowhere with `-q`.
pub fn chatter(to_stdout: bool) -> Box<dyn Write> {
    if quiet() {
        Box::new(io::sink())
    } else if to_stdout {
        Box::new(stdout())
    } else {
        Box::new(Stderr)
    }
}

/// A note on standard error (suppressed by `-q`).
pub fn note(args: fmt::Arguments<'_>) {
    if !quiet() {
        let _ = writeln!(Stderr, "{args}");
    }
}

/// A warning on standard error (never suppressed).
pub fn warn(args: fmt::Arguments<'_>) {
    let _ = writeln!(Stderr, "{} {args}", paint("warning:", YELLOW));
}

/// An error line on standard error (never suppressed).
pub fn error(args: fmt::Arguments<'_>) {
    let _ = writeln!(Stderr, "{} {args}", paint("error:", RED));
}

/// ANSI style of error prefixes.
pub const RED: &str = "\x1b[1;31m";
/// ANSI style of warning prefixes.
pub const YELLOW: &str = "\x1b[1;33m";

/// `text` in `style` when standard error is coloured.
pub fn paint(text: &str, style: &str) -> String {
    if color_stderr() {
        format!("{style}{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A note on standard error (`-q` silences it), formatted like `eprintln!`.
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => { $crate::cli::term::note(format_args!($($t)*)) };
}

/// A warning on standard error, formatted like `eprintln!`.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::cli::term::warn(format_args!($($t)*)) };
}

/// The width to lay tables out in: `COLUMNS` if set, the terminal's width
/// when standard output is one, else `None` (no limit: a file or pipe gets
/// every column in one block).
pub fn width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(c);
    }
    if !io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_rows, cols)| usize::from(cols))
}
