//! Network namespaces for tests that capture real tools' traffic: creation
//! with a guard that kills every process left in them and deletes them (on
//! failure and panic too), bounded command runs, and a bounded tcpdump
//! capture. Nothing leaves the machine: the namespaces get no route out and
//! no link to the host's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A web root `dir/www` with a 39-byte `index.html` (a webmail inbox) and
/// the `extra` files; returns its path.
pub fn web_root(dir: &Path, extra: &[(&str, &[u8])]) -> Result<std::path::PathBuf, String> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    std::fs::write(
        www.join("index.html"),
        "<html><body>inbox: 0 new</body></html>\n",
    )
    .map_err(|e| e.to_string())?;
    for (name, bytes) in extra {
        std::fs::write(www.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(www)
}

/// `Ok` if the test runs as root and every tool of `tools` is on the PATH.
pub fn tools_present(tools: &[&str]) -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            !std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing tool(s): {}", missing.join(", ")))
    }
}

/// Runs `args` under `timeout` (SIGTERM after `secs`, SIGKILL 1 s later).
pub fn run(args: &[&str], secs: u64) -> Result<Output, String> {
    let o = Command::new("timeout")
        .args(["-k", "1", &secs.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if o.status.success() {
        Ok(o)
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Waits for `child` at most `limit`, then kills it.
pub fn wait_bounded(child: &mut Child, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Namespaces this test created. Dropping it kills every process in them
/// (the background servers and their `timeout` wrappers, a stray tcpdump)
/// and deletes them.
pub struct Namespaces {
    /// The namespaces, in creation order.
    pub names: Vec<String>,
    background: Vec<Child>,
}

impl Namespaces {
    /// Creates `names` (IPv6 off, loopback up).
    pub fn create(names: &[String]) -> Result<Namespaces, String> {
        let mut ns = Namespaces {
            names: Vec::new(),
            background: Vec::new(),
        };
        for n in names {
            run(&["ip", "netns", "add", n], 10)?;
            ns.names.push(n.clone());
            // IPv4 only: keeps router solicitations and MLD out of the
            // captures (the reader would skip them anyway). Best effort.
            for key in ["all", "default"] {
                let _ = run(
                    &[
                        "ip",
                        "netns",
                        "exec",
                        n,
                        "sysctl",
                        "-q",
                        "-w",
                        &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                    ],
                    10,
                );
            }
            run(&["ip", "-n", n, "link", "set", "lo", "up"], 10)?;
        }
        Ok(ns)
    }

    /// Runs `args` inside namespace `ns` under `timeout`.
    pub fn exec(&self, ns: &str, args: &[&str], secs: u64) -> Result<Output, String> {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full, secs)
    }

    /// Starts `args` in the background inside `ns`, under `timeout secs`;
    /// stopped at the latest when `self` drops.
    pub fn spawn(&mut self, ns: &str, args: &[&str], secs: u64) -> Result<(), String> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "timeout", "-k", "1", &secs.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", args.join(" ")))?;
        self.background.push(child);
        Ok(())
    }

    /// Serves `www` over HTTP on `addr:port` from namespace `ns`
    /// (`python3 -m http.server`, stopped after `secs` or when `self` drops).
    pub fn http_server(
        &mut self,
        ns: &str,
        addr: &str,
        port: u16,
        www: &Path,
        secs: u64,
    ) -> Result<(), String> {
        let www = www.to_string_lossy().into_owned();
        let port = port.to_string();
        let args = [
            "python3",
            "-m",
            "http.server",
            &port,
            "--bind",
            addr,
            "--directory",
            &www,
        ];
        self.spawn(ns, &args, secs)
    }

    /// Waits (at most 10 s) until `url` answers from namespace `from`.
    pub fn wait_http(&self, from: &str, url: &str) -> Result<(), String> {
        let t0 = Instant::now();
        while self
            .exec(
                from,
                &["curl", "-s", "-o", "/dev/null", "--max-time", "1", url],
                3,
            )
            .is_err()
        {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("{url} did not come up"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Captures interface `iface` of namespace `ns` into `file` while
    /// `traffic` runs (`snaplen`: bytes kept per packet, default tcpdump's).
    /// `Err` says the kernel dropped captured packets (the machine's load,
    /// not a defect of ours): the caller skips rather than asserting on a
    /// partial capture.
    ///
    /// # Panics
    /// If tcpdump cannot start or writes no file.
    pub fn capture(
        &self,
        ns: &str,
        iface: &str,
        file: &Path,
        snaplen: Option<u32>,
        traffic: impl FnOnce(),
    ) -> Result<(), String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "timeout", "-k", "1", "40"])
            .args([
                "tcpdump", "-i", iface, "-n", "-U", "-B", "8192", "-Z", "root",
            ]);
        if let Some(s) = snaplen {
            cmd.args(["-s", &s.to_string()]);
        }
        let mut tcpdump = cmd
            .arg("-w")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump starts");
        // A guard of its own, so a panic in `traffic` stops tcpdump too.
        struct Stop(Option<Child>);
        impl Drop for Stop {
            fn drop(&mut self) {
                if let Some(c) = self.0.as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let stderr = tcpdump.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut guard = Stop(Some(tcpdump));
        // tcpdump says "listening on ..." once the socket is open.
        let t0 = Instant::now();
        let mut log = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let ready = line.contains("listening on");
                    log.push(line);
                    if ready {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("tcpdump exited: {}", log.join("\n"))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "tcpdump not ready: {}",
                log.join("\n")
            );
        }
        traffic();
        // Let the last answers arrive and libpcap hand over its last ring
        // block (tcpdump's 1 s buffer timeout; packets still in an unretired
        // block are lost on exit), then stop it cleanly (SIGTERM to `timeout`,
        // which passes it on; tcpdump then flushes and exits). Not
        // `--immediate-mode`: that switches libpcap to one ring slot per
        // 256 KiB snaplen, and the kernel drops most of a fast nmap scan.
        std::thread::sleep(Duration::from_millis(1500));
        let mut child = guard.0.take().unwrap();
        let _ = run(&["kill", "-TERM", &child.id().to_string()], 5);
        wait_bounded(&mut child, Duration::from_secs(5));
        let _ = reader.join();
        log.extend(rx.try_iter());
        eprintln!("{}: {}", file.display(), log.join("; "));
        assert!(file.is_file(), "tcpdump wrote no {}", file.display());
        if log.iter().any(|l| l == "0 packets dropped by kernel") {
            Ok(())
        } else {
            Err(format!("tcpdump lost packets: {}", log.join("; ")))
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Everything still running in our namespaces is ours: kill it by pid.
        for ns in &self.names {
            if let Ok(o) = run(&["ip", "netns", "pids", ns], 10) {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = run(&["kill", "-KILL", pid], 5);
                }
            }
        }
        for c in &mut self.background {
            let _ = c.kill();
            wait_bounded(c, Duration::from_secs(5));
        }
        for ns in self.names.drain(..).rev() {
            if let Err(e) = run(&["ip", "netns", "del", &ns], 10) {
                eprintln!("warning: could not delete namespace {ns}: {e}");
            }
        }
    }
}
