//! Applications that run on simulated hosts, on top of the host's real smoltcp
//! stack. Each app is polled whenever its host is (a packet arrived, a stack
//! timer fired, or the app's own timer came due) and returns its next timer.
//!
//! Apps own their sockets and their randomness (a seeded stream per app); they
//! claim the local ports they use so the packets on them carry the app's label.

pub mod connect_scan;
pub mod http;
pub mod http_client;
pub mod probe_order;
pub mod session;
mod sockets;
pub mod syn_scan;
pub mod top_ports;
pub mod web_server;

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use smoltcp::iface::{Interface, SocketHandle};
use smoltcp::time::Instant;

use crate::claims::PortClaims;
use crate::label::LabelId;
use crate::ports::EphemeralPorts;
use crate::socket_buffers::{LentSockets, SocketBufferPool};

pub(crate) use sockets::Sockets;

/// What an app sees of its host while it runs.
pub struct HostCtx<'a> {
    /// Current virtual time.
    pub now: Instant,
    /// The host's address.
    pub addr: Ipv4Addr,
    /// The host's smoltcp interface (apps ask it only for a socket's
    /// `poll_at` and for the context a `connect` needs).
    pub(crate) iface: &'a mut Interface,
    /// The host's sockets (shared by all apps on the host). An app takes out
    /// of the set only sockets it made itself, never one of
    /// [`HostCtx::connect`] (whose buffers are lent: `socket_buffers`).
    /// Mutable accesses are noted, so that the host polls the stack again
    /// only after an app changed a socket (`sockets`).
    pub(crate) sockets: Sockets<'a>,
    /// The host's ephemeral port allocator.
    pub ports: &'a mut EphemeralPorts,
    pub(crate) port_labels: &'a mut PortClaims,
    pub(crate) label: LabelId,
    pub(crate) retired: &'a mut Vec<(SocketHandle, Option<u16>)>,
    /// The network's free socket buffers, and this host's sockets using them.
    pub(crate) buffers: &'a mut SocketBufferPool,
    pub(crate) lent: &'a mut LentSockets,
    /// Whether this app is the only one on its host, so that every socket in
    /// `sockets` is its own.
    pub(crate) sole_app: bool,
}

impl HostCtx<'_> {
    /// Marks `port` as this app's: packets sent from it carry the app's label
    /// (unless they belong to a flow some other actor started).
    pub fn claim_port(&mut self, port: u16) {
        self.port_labels.claim(port, self.label);
    }

    /// Allocates an ephemeral port and claims it.
    pub fn ephemeral_port(&mut self) -> Option<u16> {
        let p = self.ports.alloc()?;
        self.claim_port(p);
        Some(p)
    }

    /// Returns an ephemeral port to the pool.
    pub fn release_port(&mut self, port: u16) {
        self.ports.release(port);
    }

    /// Opens a TCP connection to `remote` from a fresh ephemeral port, with
    /// buffers of `rx` and `tx` bytes: the steps every client app repeats.
    /// On failure the port is back in the pool. The buffers are reused from
    /// sockets the host dropped (`socket_buffers`), so the socket stays in
    /// the set until it is retired.
    pub fn connect(
        &mut self,
        remote: (Ipv4Addr, u16),
        rx: usize,
        tx: usize,
    ) -> Result<(SocketHandle, u16), ConnectError> {
        let port = self.ephemeral_port().ok_or(ConnectError::NoFreePort)?;
        let cx = self.iface.context();
        let opened = self
            .lent
            .add(self.sockets.set_mut(), self.buffers, (rx, tx), |s| {
                s.connect(cx, remote, port)
            });
        match opened {
            Ok(h) => Ok((h, port)),
            Err(_) => {
                self.release_port(port);
                Err(ConnectError::Rejected)
            }
        }
    }

    /// Hands a socket the app is done with to the host, which removes it (and
    /// releases `port`) once the stack has sent what it still owes: the RST of
    /// an `abort()`, the end of TIME-WAIT.
    pub fn retire(&mut self, handle: SocketHandle, port: Option<u16>) {
        self.retired.push((handle, port));
    }
}

/// Why [`HostCtx::connect`] opened nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// Every ephemeral port is in use.
    NoFreePort,
    /// smoltcp refused the endpoint (e.g. port 0 or an unspecified address).
    Rejected,
}

/// Counters an app reports at the end of a run.
pub type AppStats = Vec<(&'static str, u64)>;

/// An application on a simulated host.
pub trait App {
    /// Kind name (`web-server`, `http-client`, `poller`, `syn-scan`, `connect-scan`).
    fn kind(&self) -> &'static str;

    /// Runs the app at `ctx.now`. Returns when it next wants to run on its own
    /// (packet arrivals wake it anyway), or `None` if only packets should wake it.
    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant>;

    /// Called when the host runs, before its stack reads the packets in `rx`
    /// (raw IPv4, in arrival order). An app that keeps sockets out of the
    /// host's socket set while they cannot be affected (see the web server)
    /// puts back here every socket those packets could reach. Default: nothing.
    fn before_ingress(&mut self, ctx: &mut HostCtx<'_>, rx: &VecDeque<Vec<u8>>) {
        let _ = (ctx, rx);
    }

    /// Counters for the run summary (requests made, ports found open, ...).
    fn stats(&self) -> AppStats {
        Vec::new()
    }
}
