//! The sensor namespace of a live replay: everything created for one
//! replay, and torn down when it is dropped (also on failure).
//!
//! - a network namespace `<prefix><pid><n>` (`sbx` for a live replay,
//!   `sbpd` for a followed log) that owns every address in the capture (each a /32 on a TUN device moved into it), with `rp_filter`
//!   off and `accept_local` on, so every packet is one the host receives,
//!   and with locally generated packets dropped (`iptables -P OUTPUT DROP`):
//!   the kernel's own RSTs would otherwise loop back into the daemon;
//! - a private `/dev` for the daemon's mount namespace, holding `null`,
//!   `zero`, `random`, `urandom` (bound from the real ones at start) and
//!   `log`, a datagram socket read by a [`Collector`];
//! - sockets listening in the namespace where the capture shows a server
//!   ([`Sandbox::listen`]);
//! - the daemon's processes: whatever runs in the namespace at the end is
//!   stopped by process id, then the namespace is deleted.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration as WallDuration, Instant as WallClock};

/// Runs a command, its failure as a message naming it and its stderr.
pub fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One replay's namespace, TUN device, private `/dev` and listeners.
pub struct Sandbox {
    /// The namespace's (and the TUN device's) name.
    pub netns: String,
    dir: tempfile::TempDir,
    /// The TUN device the capture is written to. Dropped before the
    /// namespace is deleted.
    tun: Option<tun_tap::Iface>,
    listeners: Vec<TcpListener>,
    listening: BTreeSet<(Ipv4Addr, u16)>,
}

impl Sandbox {
    /// Creates the namespace `<prefix><pid><n>` owning `addrs`, with its
    /// TUN device (`prefix` tells one feed's namespaces from another's).
    ///
    /// # Errors
    /// A step that fails, as a message naming the command.
    pub fn create(prefix: &str, addrs: &[Ipv4Addr]) -> Result<Sandbox, String> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}{}{}", std::process::id(), n);
        if name.len() > 15 {
            return Err(format!("interface name `{name}` too long"));
        }
        let dir = tempfile::Builder::new()
            .prefix("scanbench-live-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        sh(&["ip", "netns", "add", &name])?;
        let mut sandbox = Sandbox {
            netns: name.clone(),
            dir,
            tun: None,
            listeners: Vec::new(),
            listening: BTreeSet::new(),
        };
        let tun = tun_tap::Iface::without_packet_info(&name, tun_tap::Mode::Tun)
            .map_err(|e| format!("TUN device {name}: {e}"))?;
        sandbox.tun = Some(tun);
        sh(&["ip", "link", "set", &name, "netns", &name])?;
        let mut batch = format!("link set lo up\nlink set {name} up\n");
        for a in addrs {
            batch.push_str(&format!("addr add {a}/32 dev {name}\n"));
        }
        let ns_batch = sandbox.dir.path().join("ns.batch");
        std::fs::write(&ns_batch, &batch).map_err(|e| e.to_string())?;
        sh(&["ip", "-n", &name, "-batch", &ns_batch.to_string_lossy()])?;
        for k in [
            "net.ipv4.conf.all.rp_filter=0".to_string(),
            format!("net.ipv4.conf.{name}.rp_filter=0"),
            format!("net.ipv4.conf.{name}.accept_local=1"),
        ] {
            sh(&["ip", "netns", "exec", &name, "sysctl", "-q", "-w", &k])?;
        }
        sh(&[
            "ip", "netns", "exec", &name, "iptables", "-P", "OUTPUT", "DROP",
        ])?;
        Ok(sandbox)
    }

    /// Writes one packet into the namespace, as received on its TUN device.
    ///
    /// # Errors
    /// The kernel refuses the write.
    pub fn send(&self, packet: &[u8]) -> std::io::Result<usize> {
        match &self.tun {
            Some(t) => t.send(packet),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    /// A private `/dev` directory for the daemon (see the module docs) with
    /// its `log` socket, read by the returned collector.
    ///
    /// # Errors
    /// The directory or socket cannot be made.
    pub fn dev_with_log(&self) -> Result<(PathBuf, Collector), String> {
        use std::os::unix::fs::PermissionsExt;
        let dev = self.dir.path().join("dev");
        std::fs::create_dir(&dev).map_err(|e| e.to_string())?;
        for f in ["null", "zero", "random", "urandom"] {
            std::fs::write(dev.join(f), b"").map_err(|e| e.to_string())?;
        }
        let log =
            UnixDatagram::bind(dev.join("log")).map_err(|e| format!("/dev/log socket: {e}"))?;
        for p in [self.dir.path(), dev.as_path(), &dev.join("log")] {
            let mode = if p.ends_with("log") { 0o666 } else { 0o755 };
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        }
        Ok((dev, Collector::start(log)?))
    }

    /// Process ids running in the namespace (the daemon's).
    pub fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.netns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Opens a socket listening on `addr:port` inside the namespace (once
    /// per address and port): from then on the port is in use there.
    ///
    /// # Errors
    /// The namespace cannot be entered or the address not bound.
    pub fn listen(&mut self, addr: Ipv4Addr, port: u16) -> Result<(), String> {
        if !self.listening.insert((addr, port)) {
            return Ok(());
        }
        let ns = File::open(format!("/run/netns/{}", self.netns))
            .map_err(|e| format!("namespace {}: {e}", self.netns))?;
        // A namespace switch is per thread: bind on a thread of its own; the
        // socket stays in the namespace it was made in.
        let listener = std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| format!("entering namespace {}: {e}", self.netns))?;
                TcpListener::bind((addr, port))
                    .map_err(|e| format!("listening on {addr}:{port}: {e}"))
            })
            .join()
            .unwrap_or_else(|_| Err("the listener thread panicked".into()))
        })?;
        self.listeners.push(listener);
        Ok(())
    }

    fn stop_daemons(&self) {
        for signal in ["-TERM", "-KILL"] {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for p in pids {
                let _ = Command::new("kill").args([signal, &p.to_string()]).status();
            }
            std::thread::sleep(WallDuration::from_millis(200));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_daemons();
        self.listeners.clear();
        self.tun = None;
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .stderr(Stdio::null())
            .status();
    }
}

/// Syslog messages arriving on a replay's private `/dev/log`, each with its
/// arrival time. The reading thread stops when the collector is dropped.
pub struct Collector {
    messages: Arc<Mutex<Vec<(WallClock, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(log: UnixDatagram) -> Result<Collector, String> {
        log.set_read_timeout(Some(WallDuration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let messages: Arc<Mutex<Vec<(WallClock, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (messages, stop) = (Arc::clone(&messages), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = log.recv(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).trim_end().to_string();
                        messages
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((WallClock::now(), text));
                    }
                }
            })
        };
        Ok(Collector {
            messages,
            stop,
            thread: Some(thread),
        })
    }

    /// How many messages have arrived.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no message has arrived.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any message so far contains `text`.
    pub fn any_contains(&self, text: &str) -> bool {
        self.lock().iter().any(|(_, m)| m.contains(text))
    }

    /// The last `n` messages, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let msgs = self.lock();
        msgs[msgs.len().saturating_sub(n)..]
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Stops reading and returns every message with its arrival time.
    pub fn finish(mut self) -> Vec<(WallClock, String)> {
        self.halt();
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(WallClock, String)>> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The receive queues (bytes) and drop counters of the raw sockets in
/// `pid`'s network namespace, summed (`/proc/<pid>/net/raw`).
pub fn raw_socket_state(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/raw")).ok()?;
    Some(raw_socket_totals(&text))
}

/// `/proc/net/raw` summed: `rx_queue` is the hex after the colon of the
/// fifth column, `drops` the last column.
fn raw_socket_totals(text: &str) -> (u64, u64) {
    let (mut queued, mut drops) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let rx = cols
            .get(4)
            .and_then(|c| c.split_once(':'))
            .and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok());
        let dropped = cols.last().and_then(|d| d.parse::<u64>().ok());
        if let (Some(rx), Some(d)) = (rx, dropped) {
            queued = queued.saturating_add(rx);
            drops = drops.saturating_add(d);
        }
    }
    (queued, drops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_socket_queues_and_drops_are_summed() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
    1: 00000000:0006 00000000:0000 07 00000000:00000a00 00:00000000 00000000     0        0 4242 2 0000000000000000 3
    2: 00000000:0011 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 4243 2 0000000000000000 0
";
        assert_eq!(raw_socket_totals(text), (0xa00 + 0x100, 3));
        assert_eq!(raw_socket_totals(""), (0, 0));
    }
}
