//! Progress of a batch of jobs on standard error (never on standard output,
//! which carries the report):
//!
//! - on a terminal, a bar with the count, elapsed time and ETA (indicatif),
//!   redrawn in place;
//! - elsewhere (a CI log, `2> file`), one plain line every
//!   [`PLAIN_EVERY`], starting once the batch has run for [`PLAIN_AFTER`], so
//!   short runs stay silent and long ones show they are alive;
//! - nothing with `-q`.
//!
//! Wall-clock time is used only here, for the display: it never reaches a
//! report.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::term;

/// No plain progress line before the batch has run this long.
pub const PLAIN_AFTER: Duration = Duration::from_secs(3);
/// Interval between plain progress lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Progress of `total` jobs.
pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    /// When the last plain line was printed, as time since `started`.
    last_line: Option<Duration>,
    mode: Mode,
}

enum Mode {
    Bar(ProgressBar),
    Plain,
    Off,
}

impl Progress {
    /// Progress of `total` jobs, each one `what` (`run`, `workload`).
    pub fn new(total: u64, what: &'static str) -> Self {
        let mode = if term::quiet() || total == 0 {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} {msg:30!} {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            Mode::Bar(bar)
        } else {
            Mode::Plain
        };
        Progress {
            what,
            total,
            done: 0,
            started: Instant::now(),
            last_line: None,
            mode,
        }
    }

    /// One job finished; `label` names it.
    pub fn finished(&mut self, label: &str) {
        self.finished_up_to(self.done + 1, label);
    }

    /// The first `done` jobs are finished (for batches that finish several
    /// at once); `label` names the last.
    pub fn finished_up_to(&mut self, done: u64, label: &str) {
        self.done = self.done.max(done);
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(label.to_string());
            bar.set_position(self.done);
        }
        self.tick();
    }

    /// Prints a plain progress line if one is due. Call it now and then while
    /// waiting, so a long job still shows the batch is alive.
    pub fn tick(&mut self) {
        if !matches!(self.mode, Mode::Plain) || self.done >= self.total {
            return;
        }
        let elapsed = self.started.elapsed();
        if !plain_due(elapsed, self.last_line) {
            return;
        }
        self.last_line = Some(elapsed);
        term::note(format_args!(
            "{}",
            plain_line(self.done, self.total, self.what, elapsed)
        ));
    }

    /// Runs `f` (which prints) with the bar cleared, so text and bar do not mix.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(f),
            _ => f(),
        }
    }
}

/// Whether a plain line is due `elapsed` after the start, the last one having
/// been printed at `last` (after the start): the first after [`PLAIN_AFTER`],
/// then one every [`PLAIN_EVERY`].
fn plain_due(elapsed: Duration, last: Option<Duration>) -> bool {
    match last {
        None => elapsed >= PLAIN_AFTER,
        Some(at) => elapsed.saturating_sub(at) >= PLAIN_EVERY,
    }
}

/// `progress: 3/16 runs done, 12s elapsed, ETA 52s`.
fn plain_line(done: u64, total: u64, what: &str, elapsed: Duration) -> String {
    let eta = if done == 0 {
        "unknown".to_string()
    } else {
        let left = elapsed.as_secs_f64() * total.saturating_sub(done) as f64 / done as f64;
        whole_seconds(left)
    };
    format!(
        "progress: {done}/{total} {what}s done, {} elapsed, ETA {eta}",
        whole_seconds(elapsed.as_secs_f64())
    )
}

/// Whole seconds in the report's duration words (`52s`, `3m10s`).
fn whole_seconds(secs: f64) -> String {
    scanbench::time_text::duration_text((secs.max(0.0).round() as u64).saturating_mul(1_000_000))
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_wait_then_repeat() {
        let s = Duration::from_secs;
        assert!(!plain_due(s(2), None), "short runs stay silent");
        assert!(plain_due(s(3), None));
        assert!(!plain_due(s(12), Some(s(3))));
        assert!(plain_due(s(13), Some(s(3))));
        assert_eq!(
            plain_line(4, 16, "run", s(12)),
            "progress: 4/16 runs done, 12s elapsed, ETA 36s"
        );
        assert_eq!(
            plain_line(0, 16, "run", s(4)),
            "progress: 0/16 runs done, 4s elapsed, ETA unknown"
        );
    }
}
