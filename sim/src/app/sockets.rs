//! The host's socket set as an app sees it, noting every access that could
//! change what the stack does next.
//!
//! A host polls its stack before its apps run and again after them
//! (`host.rs`). The second poll only matters when an app changed a socket:
//! smoltcp's `Interface::poll` ends with an egress pass in which no socket
//! emitted anything, so with its receive queue empty (that poll read every
//! packet) and every socket as that pass left it, another poll at the same
//! instant finds nothing to send and changes nothing. The host skips it then,
//! and asks this wrapper whether any app touched a socket: any `get_mut`,
//! `add` or `remove` counts, whether or not it changed a byte. Reading
//! through [`Sockets::get`] does not.

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{AnySocket, Socket};

/// A host's socket set, with a flag for mutable accesses.
pub(crate) struct Sockets<'a> {
    set: &'a mut SocketSet<'static>,
    touched: bool,
}

impl<'a> Sockets<'a> {
    /// `set`, not touched yet.
    pub(crate) fn new(set: &'a mut SocketSet<'static>) -> Self {
        Sockets {
            set,
            touched: false,
        }
    }

    /// Whether any socket was accessed mutably, added or removed.
    pub(crate) fn touched(&self) -> bool {
        self.touched
    }

    /// The socket of `handle`, to read.
    pub(crate) fn get<T: AnySocket<'static>>(&self, handle: SocketHandle) -> &T {
        self.set.get(handle)
    }

    /// The socket of `handle`, to change: the stack will be polled again.
    pub(crate) fn get_mut<T: AnySocket<'static>>(&mut self, handle: SocketHandle) -> &mut T {
        self.touched = true;
        self.set.get_mut(handle)
    }

    /// Adds `socket` to the set.
    pub(crate) fn add<T: AnySocket<'static>>(&mut self, socket: T) -> SocketHandle {
        self.touched = true;
        self.set.add(socket)
    }

    /// Takes the socket of `handle` out of the set.
    pub(crate) fn remove(&mut self, handle: SocketHandle) -> Socket<'static> {
        self.touched = true;
        self.set.remove(handle)
    }

    /// Whether the set holds no socket.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.iter().next().is_none()
    }

    /// The whole set, to change (for code that manages sockets itself, such
    /// as lending buffers): counts as touched.
    pub(crate) fn set_mut(&mut self) -> &mut SocketSet<'static> {
        self.touched = true;
        self.set
    }
}
