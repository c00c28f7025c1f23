//! A web server: serves every request on its ports with a fixed-size `200 OK`
//! and closes the connection (HTTP/1.1 with `Connection: close`).
//!
//! smoltcp has no accept queue: one listening socket takes one connection, and
//! a SYN that finds no listening socket is answered with RST. The server keeps
//! `idle_listeners` sockets listening per port at all times and re-listens
//! sockets once they are closed, so bursts of parallel clients are served.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;

use super::{App, AppStats, HostCtx, http};

/// Server parameters.
#[derive(Clone, Debug)]
pub struct WebServerSpec {
    /// Ports to serve (e.g. 80 and 443; 443 carries the same plain HTTP).
    pub ports: Vec<u16>,
    /// Response body size in bytes.
    pub body_bytes: usize,
    /// Listening sockets kept ready per port.
    pub idle_listeners: usize,
}

impl Default for WebServerSpec {
    fn default() -> Self {
        WebServerSpec {
            ports: vec![80],
            body_bytes: 512,
            idle_listeners: 16,
        }
    }
}

struct Conn {
    handle: SocketHandle,
    port: u16,
    request: Vec<u8>,
    /// Response bytes still to send: (header, body offset), set once the request is complete.
    sending: Option<(Vec<u8>, usize)>,
    busy: bool,
}

/// The web-server app.
pub struct WebServer {
    spec: WebServerSpec,
    conns: Vec<Conn>,
    served: u64,
}

impl WebServer {
    /// A server with `spec`; sockets are created on first poll.
    pub fn new(spec: WebServerSpec) -> Self {
        WebServer {
            spec,
            conns: Vec::new(),
            served: 0,
        }
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let rx = tcp::SocketBuffer::new(vec![0; 4096]);
        let tx = tcp::SocketBuffer::new(vec![0; 16384]);
        tcp::Socket::new(rx, tx)
    }
}

impl App for WebServer {
    fn kind(&self) -> &'static str {
        "web-server"
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        for port in self.spec.ports.clone() {
            ctx.claim_port(port);
        }
        let body_len = self.spec.body_bytes;
        for c in &mut self.conns {
            let s = ctx.sockets.get_mut::<tcp::Socket>(c.handle);
            match s.state() {
                tcp::State::Closed => {
                    if c.busy {
                        c.busy = false;
                        c.request.clear();
                        c.sending = None;
                    }
                    // Re-listen; cannot fail for a closed socket with a non-zero port.
                    let _ = s.listen(c.port);
                    continue;
                }
                tcp::State::Listen => continue,
                _ => c.busy = true,
            }
            if c.sending.is_none() && s.can_recv() {
                let _ = s.recv(|buf| {
                    c.request.extend_from_slice(buf);
                    (buf.len(), ())
                });
                if http::head_complete(&c.request) {
                    c.sending = Some((http::response_header(body_len), 0));
                    self.served += 1;
                }
            }
            if let Some((header, offset)) = &mut c.sending {
                if !header.is_empty() && s.can_send() {
                    let n = s.send_slice(header).unwrap_or(0);
                    header.drain(..n);
                }
                while header.is_empty() && *offset < body_len && s.can_send() {
                    let start = *offset;
                    let n = s
                        .send(|buf| {
                            let n = buf.len().min(body_len - start);
                            for (i, b) in buf[..n].iter_mut().enumerate() {
                                *b = http::body_byte(start + i);
                            }
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    *offset += n;
                }
                if header.is_empty() && *offset >= body_len && s.may_send() {
                    s.close();
                }
            }
            if !s.may_recv() && c.sending.is_none() && s.state() == tcp::State::CloseWait {
                // Client closed without a full request.
                s.close();
            }
        }
        // Keep enough sockets listening on every port.
        for port in self.spec.ports.clone() {
            let listening = self
                .conns
                .iter()
                .filter(|c| c.port == port && !c.busy)
                .count();
            for _ in listening..self.spec.idle_listeners {
                let mut s = self.new_socket();
                let _ = s.listen(port);
                let handle = ctx.sockets.add(s);
                self.conns.push(Conn {
                    handle,
                    port,
                    request: Vec::new(),
                    sending: None,
                    busy: false,
                });
            }
        }
        None
    }

    fn stats(&self) -> AppStats {
        vec![
            ("responses", self.served),
            ("sockets", self.conns.len() as u64),
        ]
    }
}
