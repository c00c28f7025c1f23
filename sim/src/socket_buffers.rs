//! Socket buffers reused from one connection to the next.
//!
//! Every request of a client app opens a new connection, and smoltcp 0.14
//! takes a socket's buffers by value and has no way to hand them back: with a
//! fresh zeroed `Vec` per socket, zeroing the 64 KiB receive buffers was half
//! of all instructions of a fleet of pollers (`docs/performance.md`). Here the
//! buffers are lent to smoltcp as `ManagedSlice::Borrowed` slices instead and
//! taken back when the host drops the socket, so each one is zeroed once, when
//! it is first allocated.
//!
//! Stale bytes are never observed. smoltcp's ring buffer (`storage/
//! ring_buffer.rs`) only reads bytes it enqueued: a TCP socket reads its
//! receive buffer through `dequeue_*`/`get_allocated`/`read_allocated`, which
//! stay within what `write_unallocated` wrote and the socket's assembler (new
//! with each socket) counted as contiguous; its send buffer holds only what
//! the app enqueued. The apps that use these buffers (`http_client`,
//! `session`, `connect_scan`) write the slice `send` hands them before
//! enqueuing it, and read received data through `recv`/`recv_slice`. So the
//! bytes on the wire are those of zeroed buffers, as the byte-identity checks
//! (every scenario's tap SHA-256, `tests/gen.rs`) confirm.
//!
//! # Safety
//!
//! A lent buffer is a heap slice turned into a raw pointer, from which one
//! `&'static mut [u8]` is made and moved into one socket. The pointer is used
//! again only after that socket has been dropped, which ends the borrow:
//! [`LentSockets::remove`] drops the socket itself before it takes the buffers
//! back, and [`LentSockets::free_with`] drops the whole socket set first. This
//! needs one invariant of the crate: a socket made by [`LentSockets::add`] stays
//! in its host's socket set until `remove` takes it out (apps `retire` such
//! sockets; none takes them out of the set itself). `remove` also checks that
//! the socket it drops has the lent buffers' capacities and otherwise leaks
//! the buffers rather than reuse memory that might still be borrowed.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use rustc_hash::FxHashMap;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;

/// Free buffers for reuse, by length: one pool per network, shared by its
/// hosts, so it holds at most as many buffers as were ever in use at once.
#[derive(Debug, Default)]
pub(crate) struct SocketBufferPool {
    /// (length, free buffers of that length); a handful of lengths at most.
    free: Vec<(usize, Vec<Box<[u8]>>)>,
}

impl SocketBufferPool {
    /// A buffer of `len` bytes, reused or newly zeroed.
    fn take(&mut self, len: usize) -> Box<[u8]> {
        self.free
            .iter_mut()
            .find(|(l, _)| *l == len)
            .and_then(|(_, v)| v.pop())
            .unwrap_or_else(|| vec![0; len].into_boxed_slice())
    }

    /// Adds `n` buffers of `len` bytes, every byte `fill`: stale contents
    /// for the tests to prove unobserved.
    #[cfg(test)]
    pub(crate) fn add_dirty(&mut self, len: usize, n: usize, fill: u8) {
        for _ in 0..n {
            self.put(vec![fill; len].into_boxed_slice());
        }
    }

    /// Keeps `buf` for reuse.
    fn put(&mut self, buf: Box<[u8]>) {
        let len = buf.len();
        match self.free.iter_mut().find(|(l, _)| *l == len) {
            Some((_, v)) => v.push(buf),
            None => self.free.push((len, vec![buf])),
        }
    }
}

/// A buffer lent to a socket: the pointer its `&'static mut` was made from.
#[derive(Debug)]
struct Lent(NonNull<[u8]>);

// SAFETY: a `Lent` owns its heap slice as a `Box<[u8]>` would (the socket
// holding the borrow moves between threads with the host that holds both).
unsafe impl Send for Lent {}

impl Lent {
    /// Lends `buf`: the slice to hand to smoltcp, and the record to take it
    /// back with.
    fn new(buf: Box<[u8]>) -> (Lent, &'static mut [u8]) {
        let raw = Box::into_raw(buf);
        // SAFETY: `raw` comes from a live `Box`, which gives up its ownership;
        // this is the only reference made from it until `into_box`, which
        // callers reach only once the socket holding this reference is gone.
        let slice = unsafe { &mut *raw };
        // `Box::into_raw` never returns null.
        let ptr = NonNull::new(raw).unwrap_or_else(|| unreachable!("Box::into_raw is never null"));
        (Lent(ptr), slice)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The buffer back. Only called once the socket it was lent to is dropped
    /// (see the module's safety section).
    fn into_box(self) -> Box<[u8]> {
        // SAFETY: the pointer came from `Box::into_raw` in `new`, and the only
        // reference made from it died with its socket.
        unsafe { Box::from_raw(self.0.as_ptr()) }
    }
}

/// The sockets of one host whose buffers are lent from a [`SocketBufferPool`].
#[derive(Debug, Default)]
pub(crate) struct LentSockets {
    /// (receive, send) buffers by the socket's handle.
    by_handle: FxHashMap<SocketHandle, (Lent, Lent)>,
}

impl LentSockets {
    /// A TCP socket with buffers of `rx` and `tx` bytes from `pool`, set up
    /// by `open` and, if that succeeds, added to `set`. On failure the
    /// buffers go back to the pool.
    pub(crate) fn add<E>(
        &mut self,
        set: &mut SocketSet<'static>,
        pool: &mut SocketBufferPool,
        (rx, tx): (usize, usize),
        open: impl FnOnce(&mut tcp::Socket<'static>) -> Result<(), E>,
    ) -> Result<SocketHandle, E> {
        let (rx_lent, rx_buf) = Lent::new(pool.take(rx));
        let (tx_lent, tx_buf) = Lent::new(pool.take(tx));
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(rx_buf),
            tcp::SocketBuffer::new(tx_buf),
        );
        if let Err(e) = open(&mut s) {
            drop(s);
            pool.put(rx_lent.into_box());
            pool.put(tx_lent.into_box());
            return Err(e);
        }
        let h = set.add(s);
        self.by_handle.insert(h, (rx_lent, tx_lent));
        Ok(h)
    }

    /// Takes the socket `h` out of `set` and drops it; if its buffers came
    /// from [`LentSockets::add`], they go back to `pool`.
    pub(crate) fn remove(
        &mut self,
        set: &mut SocketSet<'static>,
        pool: &mut SocketBufferPool,
        h: SocketHandle,
    ) {
        let s = set.remove(h);
        let Some((rx, tx)) = self.by_handle.remove(&h) else {
            return;
        };
        let matches = match &s {
            smoltcp::socket::Socket::Tcp(t) => {
                t.recv_capacity() == rx.len() && t.send_capacity() == tx.len()
            }
            #[allow(unreachable_patterns)]
            _ => false,
        };
        drop(s);
        if matches {
            pool.put(rx.into_box());
            pool.put(tx.into_box());
        }
        // Otherwise the invariant was broken: some other socket took this
        // handle, and the lent buffers may still be borrowed. Leak them.
    }

    /// Drops `set`, and with it every socket, then frees the lent buffers.
    pub(crate) fn free_with(&mut self, set: SocketSet<'static>) {
        drop(set);
        for (_, (rx, tx)) in self.by_handle.drain() {
            drop(rx.into_box());
            drop(tx.into_box());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use smoltcp::time::{Duration, Instant};

    use super::*;
    use crate::app::http_client::{HttpClient, HttpClientSpec, Schedule};
    use crate::app::web_server::{WebServer, WebServerSpec};
    use crate::rng::stream;
    use crate::{Class, Frame, HostSpec, Label, LinkSpec, Network, TapPoint};

    fn open(s: &mut tcp::Socket<'static>) -> Result<(), ()> {
        s.listen(80).map_err(|_| ())
    }

    /// An empty socket set, pool and lending record.
    fn fixture() -> (SocketSet<'static>, SocketBufferPool, LentSockets) {
        (
            SocketSet::new(vec![]),
            SocketBufferPool::default(),
            LentSockets::default(),
        )
    }

    /// A socket with buffers of its own (not lent).
    fn own_socket(len: usize) -> tcp::Socket<'static> {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; len]),
            tcp::SocketBuffer::new(vec![0; len]),
        )
    }

    fn label(actor: &str) -> Label {
        Label {
            actor: actor.into(),
            class: Class::Benign,
            cause: "test".into(),
        }
    }

    /// Every frame on the server's link of a day's worth of polling from
    /// clients on lossy links (so segments arrive after holes and the
    /// receive buffers are written out of order), with the network's pool
    /// first filled with `dirty` buffers of the clients' sizes.
    fn polling(dirty: Option<u8>) -> Vec<(i64, Vec<u8>)> {
        let server_addr = Ipv4Addr::new(198, 51, 100, 10);
        let mut net = Network::new(3);
        if let Some(fill) = dirty {
            net.socket_buffers().add_dirty(65535, 8, fill);
            net.socket_buffers().add_dirty(1024, 8, fill);
        }
        let r = net.add_router("r", vec![]).expect("router");
        let s = net
            .add_host(HostSpec::new("server", server_addr), label("server"))
            .expect("server");
        let l = net.add_link(s, r, LinkSpec::default()).expect("link");
        net.add_tap("server", TapPoint::Link(l)).expect("tap");
        let spec = WebServerSpec {
            body_bytes: 20_000,
            ..WebServerSpec::default()
        };
        net.add_app(s, Box::new(WebServer::new(spec)), label("server"))
            .expect("app");
        for i in 0..4u8 {
            let name = format!("c{i}");
            let c = net
                .add_host(
                    HostSpec::new(&name, Ipv4Addr::new(192, 0, 2, 10 + i)),
                    label(&name),
                )
                .expect("client");
            let link = LinkSpec {
                loss: 0.1,
                ..LinkSpec::default()
            };
            net.add_link(c, r, link).expect("link");
            let mut spec = HttpClientSpec::once(server_addr, 80, Instant::ZERO);
            spec.parallel = 2;
            spec.schedule = Schedule::Periodic {
                start: Instant::from_millis(i64::from(i) * 100),
                min: Duration::from_millis(200),
                max: Duration::from_millis(900),
                until: None,
            };
            net.add_app(
                c,
                Box::new(HttpClient::new(spec, stream(3, &name))),
                label(&name),
            )
            .expect("app");
        }
        let mut frames = Vec::new();
        let mut sink = |f: &Frame<'_>| frames.push((f.at.total_micros(), f.bytes.to_vec()));
        net.run_until(Instant::from_secs(30), &mut sink)
            .expect("run");
        frames
    }

    #[test]
    fn stale_bytes_in_reused_buffers_change_no_packet() {
        let clean = polling(None);
        assert!(clean.len() > 2_000, "busy enough: {}", clean.len());
        for fill in [0xa5, 0xff] {
            assert!(
                polling(Some(fill)) == clean,
                "dirty buffers ({fill:#x}) changed the capture"
            );
        }
    }

    #[test]
    fn a_removed_sockets_buffers_are_reused() {
        let (mut set, mut pool, mut lent) = fixture();
        let h = lent.add(&mut set, &mut pool, (4096, 512), open).unwrap();
        assert_eq!(set.get::<tcp::Socket>(h).recv_capacity(), 4096);
        assert!(pool.free.is_empty());
        lent.remove(&mut set, &mut pool, h);
        assert_eq!(pool.free.len(), 2);
        let h = lent.add(&mut set, &mut pool, (4096, 512), open).unwrap();
        assert!(pool.free.iter().all(|(_, v)| v.is_empty()), "both reused");
        assert_eq!(set.get::<tcp::Socket>(h).send_capacity(), 512);
        lent.free_with(set);
        assert!(lent.by_handle.is_empty());
    }

    #[test]
    fn a_failed_open_returns_the_buffers() {
        let (mut set, mut pool, mut lent) = fixture();
        let r = lent.add(&mut set, &mut pool, (256, 256), |_| Err("no"));
        assert_eq!(r, Err("no"));
        assert_eq!(
            pool.free,
            vec![(256, vec![vec![0u8; 256].into_boxed_slice(); 2])]
        );
        assert_eq!(set.iter().count(), 0);
    }

    #[test]
    fn a_socket_not_lent_is_only_removed() {
        let (mut set, mut pool, mut lent) = fixture();
        let h = set.add(own_socket(64));
        lent.remove(&mut set, &mut pool, h);
        assert_eq!(set.iter().count(), 0);
        assert!(pool.free.is_empty());
    }

    #[test]
    fn a_handle_reused_by_another_socket_leaks_rather_than_reuses() {
        let (mut set, mut pool, mut lent) = fixture();
        let h = lent.add(&mut set, &mut pool, (128, 128), open).unwrap();
        // Breaking the invariant: the lent socket leaves the set and a socket
        // of other sizes takes its handle.
        let escaped = set.remove(h);
        assert_eq!(set.add(own_socket(64)), h);
        lent.remove(&mut set, &mut pool, h);
        assert!(
            pool.free.is_empty(),
            "the escaped socket's buffers are not reused"
        );
        drop(escaped);
    }
}
