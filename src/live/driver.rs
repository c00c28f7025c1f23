//! The real-time driver: the simulation's clock follows the wall clock.
//!
//! One thread, one poll loop (mio) over the port's descriptor, a waker (for
//! [`StopHandle::stop`]) and, when asked, SIGINT and SIGTERM (signal-hook).
//! Each turn: the virtual time becomes the real time elapsed since the start;
//! the network runs every event due by then; every packet the port has queued
//! is injected at the outside node; every packet that reached the outside is
//! written to the port; then the loop sleeps until the next event is due, a
//! packet arrives, a signal or a stop request comes, or a second has passed
//! (the detectors' timers run at least that often).
//!
//! Nothing here is deterministic: when packets arrive is up to the kernel and
//! the machine's load, and timers fire up to a millisecond late (the poll's
//! resolution).

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant as WallClock;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use scanbench_sim::{Duration, FrameSink, Instant, Network, NodeId};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use super::error::LiveError;
use super::port::Port;

const PORT: Token = Token(0);
const WAKE: Token = Token(1);
const SIGNALS: Token = Token(2);

/// Longest sleep: the detectors' timers run at least this often.
pub const TICK: Duration = Duration::from_secs(1);

/// Packets read from the port per turn before the network runs again, so a
/// flood cannot stall the clock.
const BURST: usize = 1024;

/// Largest packet read from the port (an IPv4 packet's maximum length).
const MAX_PACKET: usize = 65535;

/// Why a live run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT (Ctrl-C) or SIGTERM.
    Signal(&'static str),
    /// The time limit passed.
    Limit,
    /// [`StopHandle::stop`] was called.
    Requested,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::Signal(s) => write!(f, "stopped by {s}"),
            Stopped::Limit => f.write_str("time limit reached"),
            Stopped::Requested => f.write_str("stopped on request"),
        }
    }
}

/// Counters of the port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// IPv4 packets read and injected.
    pub received: u64,
    /// Packets read that were not IPv4 (IPv6 router solicitations, ...): ignored.
    pub ignored: u64,
    /// Packets written.
    pub sent: u64,
    /// Packets that could not be written (a TUN device that is still down).
    pub send_errors: u64,
}

/// What the driver feeds besides frames: the clock's progress.
pub trait Ticks: FrameSink {
    /// Virtual time reached `now` (at least every [`TICK`]).
    fn tick(&mut self, now: Instant);
}

/// Stops a running [`Driver`] from another thread.
#[derive(Clone, Debug)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the driver to stop after its current turn.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // A failed wake only delays the stop to the next tick.
        let _ = self.waker.wake();
    }
}

/// The poll loop's state.
pub struct Driver {
    poll: Poll,
    events: Events,
    stop: StopHandle,
    signals: Option<Signals>,
}

fn clock(start: WallClock) -> Instant {
    Instant::from_micros(i64::try_from(start.elapsed().as_micros()).unwrap_or(i64::MAX))
}

impl Driver {
    /// A driver; with `signals`, SIGINT and SIGTERM stop it (and no longer
    /// end the process at once).
    ///
    /// # Errors
    /// The poll or the signal handlers cannot be set up.
    pub fn new(signals: bool) -> Result<Driver, LiveError> {
        let poll = Poll::new().map_err(|e| LiveError::io("creating the poll loop", e))?;
        let waker = Waker::new(poll.registry(), WAKE)
            .map_err(|e| LiveError::io("creating the poll loop's waker", e))?;
        let signals = if signals {
            let mut s = Signals::new([SIGINT, SIGTERM])
                .map_err(|e| LiveError::io("handling SIGINT and SIGTERM", e))?;
            poll.registry()
                .register(&mut s, SIGNALS, Interest::READABLE)
                .map_err(|e| LiveError::io("handling SIGINT and SIGTERM", e))?;
            Some(s)
        } else {
            None
        };
        Ok(Driver {
            poll,
            events: Events::with_capacity(16),
            stop: StopHandle {
                flag: Arc::new(AtomicBool::new(false)),
                waker: Arc::new(waker),
            },
            signals,
        })
    }

    /// A handle that stops [`Driver::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs `net` in real time, its outside node `outside` bridged to
    /// `port`, for at most `limit`, feeding every tapped frame and the
    /// clock's progress to `sink`. Returns why it stopped. A driver runs
    /// once: its poll (and signal handling) ends with it.
    ///
    /// # Errors
    /// The network refusing to start (a topology error), or the poll failing.
    pub fn run<S: Ticks>(
        mut self,
        net: &mut Network,
        outside: NodeId,
        port: &dyn Port,
        limit: Option<Duration>,
        sink: &mut S,
        stats: &mut PortStats,
    ) -> crate::Result<Stopped> {
        let fd: RawFd = port.fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), PORT, Interest::READABLE)
            .map_err(|e| LiveError::io("polling the device", e))?;
        net.attach_outside(outside);
        let end = limit.map(|d| Instant::ZERO + d);
        let start = WallClock::now();
        let mut buf = vec![0u8; MAX_PACKET];
        let mut last_tick = Instant::ZERO;
        let mut stopped = None;
        loop {
            let mut now = clock(start);
            if let Some(e) = end {
                now = now.min(e);
            }
            net.run_until(now, sink)
                .map_err(|e| LiveError::Config(e.to_string()))?;
            let backlog = self.read(net, outside, port, &mut buf, sink, stats)?;
            for pkt in net.take_outgoing(outside) {
                match port.send(&pkt) {
                    Ok(_) => stats.sent += 1,
                    Err(_) => stats.send_errors += 1,
                }
            }
            if now - last_tick >= TICK {
                sink.tick(now);
                last_tick = now;
            }
            if self.stop.flag.load(Ordering::SeqCst) {
                stopped.get_or_insert(Stopped::Requested);
            }
            if end.is_some_and(|e| now >= e) {
                stopped.get_or_insert(Stopped::Limit);
            }
            if let Some(s) = stopped {
                sink.tick(now);
                return Ok(s);
            }
            let mut wait = TICK;
            if backlog {
                wait = Duration::ZERO;
            }
            for t in net.next_event().into_iter().chain(end) {
                let until = Duration::from_micros(
                    u64::try_from(t.total_micros() - now.total_micros()).unwrap_or(0),
                );
                wait = wait.min(until);
            }
            stopped = self.sleep(wait)?;
        }
    }

    /// Injects what the port has queued (at most [`BURST`] packets); true if
    /// more may be waiting.
    fn read<S: Ticks>(
        &mut self,
        net: &mut Network,
        outside: NodeId,
        port: &dyn Port,
        buf: &mut [u8],
        sink: &mut S,
        stats: &mut PortStats,
    ) -> crate::Result<bool> {
        for _ in 0..BURST {
            match port.recv(buf) {
                Ok(n) => {
                    let pkt = &buf[..n];
                    // IPv4 only: the simulation speaks nothing else.
                    if pkt.first().is_some_and(|b| b >> 4 == 4) {
                        stats.received += 1;
                        net.inject(outside, pkt.to_vec(), sink);
                    } else {
                        stats.ignored += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LiveError::io("reading from the device", e).into()),
            }
        }
        Ok(true)
    }

    /// Sleeps at most `wait`; returns a stop reason if a signal came.
    fn sleep(&mut self, wait: Duration) -> crate::Result<Option<Stopped>> {
        let wait = std::time::Duration::from_micros(wait.total_micros());
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(LiveError::io("waiting for packets", e).into()),
        }
        let mut stopped = None;
        for ev in self.events.iter() {
            if ev.token() != SIGNALS {
                continue;
            }
            if let Some(signals) = &mut self.signals {
                for s in signals.pending() {
                    stopped = Some(Stopped::Signal(if s == SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    }));
                }
            }
        }
        Ok(stopped)
    }
}
