//! A TCP connect scan (nmap `-sT`): full handshakes through the host's own
//! stack instead of raw probes. An established connection marks the port open
//! and is torn down at once with RST (`abort`); a RST marks it closed; a
//! connection still in SYN-SENT after the probe timeout is filtered.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;

use super::http_client::min_opt;
use super::probe_order::ProbeOrder;
use super::syn_scan::{PortState, ScanSpec};
use super::{App, AppStats, ConnectError, HostCtx};
use crate::rng::SimRng;

struct Probe {
    handle: SocketHandle,
    local_port: u16,
    started: Instant,
}

/// The connect-scan app.
pub struct ConnectScan {
    spec: ScanSpec,
    rng: SimRng,
    /// Probes not yet sent; built when the scan starts.
    order: Option<ProbeOrder>,
    probes: Vec<Probe>,
    last_send: Option<Instant>,
    results: [u64; 3],
    sent: u64,
}

impl ConnectScan {
    /// A connect scanner with its own random stream.
    pub fn new(spec: ScanSpec, rng: SimRng) -> Self {
        ConnectScan {
            spec,
            rng,
            order: None,
            probes: Vec::new(),
            last_send: None,
            results: [0; 3],
            sent: 0,
        }
    }

    fn record(&mut self, s: PortState) {
        self.results[s as usize] += 1;
    }
}

impl App for ConnectScan {
    fn kind(&self) -> &'static str {
        "connect-scan"
    }

    fn poll(&mut self, ctx: &mut HostCtx<'_>) -> Option<Instant> {
        if ctx.now < self.spec.start {
            return Some(self.spec.start);
        }
        if self.order.is_none() {
            self.order = Some(ProbeOrder::new(&self.spec, &mut self.rng));
        }
        let timing = self.spec.timing;
        let mut i = 0;
        while i < self.probes.len() {
            let p = &self.probes[i];
            let s = ctx.sockets.get_mut::<tcp::Socket>(p.handle);
            let outcome = match s.state() {
                tcp::State::Established => {
                    s.abort();
                    Some(PortState::Open)
                }
                tcp::State::Closed => Some(PortState::Closed),
                tcp::State::SynSent if ctx.now - p.started >= timing.probe_timeout => {
                    s.abort();
                    Some(PortState::Filtered)
                }
                _ => None,
            };
            match outcome {
                Some(o) => {
                    self.record(o);
                    let p = self.probes.swap_remove(i);
                    ctx.retire(p.handle, Some(p.local_port));
                }
                None => i += 1,
            }
        }
        let mut next = None;
        while self.probes.len() < timing.max_window {
            if let Some(last) = self.last_send
                && ctx.now < last + timing.scan_delay
            {
                next = Some(last + timing.scan_delay);
                break;
            }
            let Some((target, port)) = self.order.as_mut().and_then(|o| o.next(&self.spec)) else {
                break;
            };
            let (handle, local_port) = match ctx.connect((target, port), 256, 256) {
                Ok(c) => c,
                Err(ConnectError::NoFreePort) => break,
                Err(ConnectError::Rejected) => continue,
            };
            self.probes.push(Probe {
                handle,
                local_port,
                started: ctx.now,
            });
            self.sent += 1;
            self.last_send = Some(ctx.now);
        }
        for p in &self.probes {
            next = min_opt(next, Some(p.started + timing.probe_timeout));
        }
        next
    }

    fn stats(&self) -> AppStats {
        vec![
            ("probes", self.sent),
            ("open", self.results[PortState::Open as usize]),
            ("closed", self.results[PortState::Closed as usize]),
            ("filtered", self.results[PortState::Filtered as usize]),
        ]
    }
}
