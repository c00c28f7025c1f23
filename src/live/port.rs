//! Where the outside's packets come from and go to: a TUN device (the
//! `tun-tap` crate), or anything else that carries one raw IPv4 packet per
//! read and write on a non-blocking file descriptor, such as one end of a
//! datagram socket pair (how the driver is tested without root).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;

use tun_tap::{Iface, Mode};

use super::error::LiveError;

/// A packet port: one raw IP packet per call, never blocking.
pub trait Port {
    /// The descriptor the driver polls for readability.
    fn fd(&self) -> RawFd;

    /// Reads one packet into `buf`; `WouldBlock` when none is queued.
    ///
    /// # Errors
    /// As the underlying read.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes one packet.
    ///
    /// # Errors
    /// As the underlying write (a TUN device that is down answers EIO).
    fn send(&self, pkt: &[u8]) -> io::Result<usize>;
}

/// A TUN device (layer 3, no packet-info header), non-blocking. It is not
/// persistent: it disappears, with its addresses and routes, when this
/// handle is dropped or the process ends, in whatever namespace it is by then.
#[derive(Debug)]
pub struct Tun {
    iface: Iface,
}

impl Tun {
    /// Creates TUN device `name` in this process's network namespace.
    ///
    /// # Errors
    /// [`LiveError::NotRoot`] (EPERM), [`LiveError::NoTunDevice`] (no
    /// `/dev/net/tun`), [`LiveError::NameTaken`] (the name appeared since it
    /// was checked), or another OS error.
    pub fn create(name: &str) -> Result<Tun, LiveError> {
        let iface = Iface::without_packet_info(name, Mode::Tun).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => LiveError::NotRoot,
            io::ErrorKind::NotFound => LiveError::NoTunDevice,
            // EBUSY: a TUN device of that name is attached elsewhere; EEXIST
            // or EINVAL: another kind of device has the name.
            io::ErrorKind::ResourceBusy
            | io::ErrorKind::AlreadyExists
            | io::ErrorKind::InvalidInput => LiveError::NameTaken {
                name: name.to_string(),
                netns: None,
            },
            _ => LiveError::io(format!("creating TUN device `{name}`"), e),
        })?;
        if iface.name() != name {
            return Err(LiveError::Config(format!(
                "the kernel named the TUN device `{}`, not `{name}`",
                iface.name()
            )));
        }
        iface
            .set_non_blocking()
            .map_err(|e| LiveError::io(format!("TUN device `{name}`: non-blocking mode"), e))?;
        Ok(Tun { iface })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        self.iface.name()
    }
}

impl Port for Tun {
    fn fd(&self) -> RawFd {
        self.iface.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.iface.recv(buf)
    }

    fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        self.iface.send(pkt)
    }
}

/// One end of a datagram socket pair, set non-blocking by the caller
/// ([`UnixDatagram::set_nonblocking`]).
impl Port for UnixDatagram {
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        UnixDatagram::recv(self, buf)
    }

    fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        UnixDatagram::send(self, pkt)
    }
}
