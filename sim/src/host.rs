//! A simulated host: one smoltcp interface (Medium::Ip) with its own seed,
//! sockets, ephemeral ports and applications.

use std::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr, IpProtocol, Ipv4Packet};

use crate::app::{App, HostCtx, Sockets};
use crate::claims::PortClaims;
use crate::device::{BufferPool, SimDevice};
use crate::label::LabelId;
use crate::ports::EphemeralPorts;
use crate::rng::SimRng;
use crate::socket_buffers::{LentSockets, SocketBufferPool};

/// Static description of a host.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// Unique name.
    pub name: String,
    /// The host's address.
    pub addr: Ipv4Addr,
    /// Prefix length of its subnet (informational for Medium::Ip).
    pub prefix: u8,
    /// Ephemeral port range `lo..=hi`.
    pub ephemeral: (u16, u16),
    /// TCP ports whose inbound packets the host silently drops before its
    /// stack sees them (a host firewall with DROP rules: scanners see "filtered").
    pub drop_ports: Vec<u16>,
}

impl HostSpec {
    /// Host `name` at `addr` with the defaults of a scenario file: a /24,
    /// Linux's ephemeral port range, no dropped ports.
    pub fn new(name: &str, addr: Ipv4Addr) -> HostSpec {
        HostSpec {
            name: name.to_string(),
            addr,
            prefix: 24,
            ephemeral: crate::ports::LINUX_RANGE,
            drop_ports: Vec::new(),
        }
    }
}

pub(crate) struct AppSlot {
    pub app: Box<dyn App>,
    pub label: LabelId,
}

/// A host at run time.
pub struct Host {
    pub(crate) spec: HostSpec,
    iface: Interface,
    pub(crate) dev: SimDevice,
    sockets: SocketSet<'static>,
    pub(crate) apps: Vec<AppSlot>,
    ports: EphemeralPorts,
    pub(crate) port_labels: PortClaims,
    retired: Vec<(SocketHandle, Option<u16>)>,
    /// The stack's `poll_at` as the last run left it: no socket has changed
    /// since (only a run changes them).
    stack_at: Option<Instant>,
    /// Sockets whose buffers are lent from the network's pool.
    lent: LentSockets,
    /// Label for packets that match neither a known flow nor a claimed port.
    pub(crate) default_label: LabelId,
    /// Packets dropped by `drop_ports`.
    pub(crate) dropped_inbound: u64,
}

impl Host {
    pub(crate) fn new(
        spec: HostSpec,
        stack_seed: u64,
        port_rng: &mut SimRng,
        default_label: LabelId,
    ) -> Self {
        let mut dev = SimDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        // Distinct per host: smoltcp's default seed 0 gives every host the same ISNs.
        cfg.random_seed = stack_seed;
        let mut iface = Interface::new(cfg, &mut dev, Instant::ZERO);
        iface.update_ip_addrs(|a| {
            // Cannot fail: the list is empty and holds at least one address.
            let _ = a.push(IpCidr::new(spec.addr.into(), spec.prefix));
        });
        let ports = EphemeralPorts::new(spec.ephemeral.0, spec.ephemeral.1, port_rng);
        Host {
            spec,
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
            apps: Vec::new(),
            ports,
            port_labels: PortClaims::default(),
            retired: Vec::new(),
            stack_at: None,
            lent: LentSockets::default(),
            default_label,
            dropped_inbound: 0,
        }
    }

    /// Queues a packet for the stack, unless the host firewall drops it.
    pub(crate) fn deliver(&mut self, pkt: Vec<u8>) {
        if !self.spec.drop_ports.is_empty()
            && let Some(port) = tcp_dst_port(&pkt)
            && self.spec.drop_ports.contains(&port)
        {
            self.dropped_inbound += 1;
            self.dev.read.push(pkt);
            return;
        }
        self.dev.rx.push_back(pkt);
    }

    /// Polls stack and apps at `now`; emitted packets are left in `dev.tx`,
    /// built in buffers from `pool`, which gets back the buffers of the
    /// packets read, and sockets' buffers from `buffers`. Returns when the
    /// host next needs to run.
    pub(crate) fn run(
        &mut self,
        now: Instant,
        pool: &mut BufferPool,
        buffers: &mut SocketBufferPool,
    ) -> Option<Instant> {
        pool.lend(&mut self.dev);
        let next = self.run_stack_and_apps(now, buffers);
        pool.reclaim(&mut self.dev);
        next
    }

    /// Runs the apps and the stack at `now`, polling the stack only where a
    /// poll can do something, so that the packets are those of polling it
    /// before and after the apps every time:
    ///
    /// * smoltcp's `Interface::poll` reads every received packet, then runs
    ///   egress passes over all sockets until one pass emits nothing. A TCP
    ///   or raw socket's `dispatch` that emits nothing leaves it where a
    ///   second `dispatch` at the same instant emits nothing and changes
    ///   nothing (smoltcp 0.14, `socket/tcp.rs`: the timer and timeout checks
    ///   it acts on are cleared by acting on them). So the poll after the
    ///   apps is skipped unless an app touched a socket (`Sockets`).
    /// * A socket whose `poll_at` is later than `now` (or only on ingress)
    ///   emits nothing and changes nothing in `dispatch` at `now`: `poll_at`
    ///   mirrors `dispatch`'s tests, and depends on the socket alone, not on
    ///   the time it is asked. So with no packet received, no socket touched
    ///   since the last run computed the stack's `poll_at` (kept in
    ///   `stack_at`), and that time not reached, the poll before the apps is
    ///   skipped too; only the interface's clock is set, as the poll would.
    ///
    /// Both rest on this build of smoltcp: Medium::Ip (no neighbour cache
    /// to wait on) and no congestion-control feature (its controller's
    /// `pre_transmit` is a no-op). Builds with debug assertions (every
    /// `cargo test`) run each skipped poll anyway and check that it sends
    /// nothing.
    fn run_stack_and_apps(
        &mut self,
        now: Instant,
        buffers: &mut SocketBufferPool,
    ) -> Option<Instant> {
        let sole_app = self.apps.len() == 1;
        let mut touched = false;
        for slot in &mut self.apps {
            let mut ctx = HostCtx {
                now,
                addr: self.spec.addr,
                iface: &mut self.iface,
                sockets: Sockets::new(&mut self.sockets),
                ports: &mut self.ports,
                port_labels: &mut self.port_labels,
                label: slot.label,
                retired: &mut self.retired,
                buffers,
                lent: &mut self.lent,
                sole_app,
            };
            slot.app.before_ingress(&mut ctx, &self.dev.rx);
            touched |= ctx.sockets.touched();
        }
        let due = self.stack_at.is_some_and(|t| t <= now);
        let mut polled = false;
        if touched || due || !self.dev.rx.is_empty() {
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            polled = true;
        } else {
            self.iface.poll_maintenance(now);
            self.check_idle_poll(now);
        }
        let mut next: Option<Instant> = None;
        let mut apps_touched = false;
        for slot in &mut self.apps {
            let mut ctx = HostCtx {
                now,
                addr: self.spec.addr,
                iface: &mut self.iface,
                sockets: Sockets::new(&mut self.sockets),
                ports: &mut self.ports,
                port_labels: &mut self.port_labels,
                label: slot.label,
                retired: &mut self.retired,
                buffers,
                lent: &mut self.lent,
                sole_app,
            };
            if let Some(t) = slot.app.poll(&mut ctx) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            apps_touched |= ctx.sockets.touched();
        }
        if apps_touched {
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            polled = true;
        } else {
            self.check_idle_poll(now);
        }
        let reaped = self.reap(buffers);
        if polled || touched || reaped {
            self.stack_at = self.iface.poll_at(now, &self.sockets);
        }
        match (next, self.stack_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// With debug assertions: polls the stack where `run_stack_and_apps`
    /// skipped a poll, and checks that the poll found nothing to do.
    fn check_idle_poll(&mut self, now: Instant) {
        if cfg!(debug_assertions) {
            let sent = self.dev.tx.len();
            let result = self.iface.poll(now, &mut self.dev, &mut self.sockets);
            assert!(
                result == PollResult::None && self.dev.tx.len() == sent,
                "{}: a skipped stack poll at {now} would have sent {} packet(s)",
                self.spec.name,
                self.dev.tx.len() - sent,
            );
        }
    }

    /// Removes retired sockets once they have nothing left to send; returns
    /// whether it removed any.
    fn reap(&mut self, buffers: &mut SocketBufferPool) -> bool {
        if self.retired.is_empty() {
            // Most runs: `retain` is not inlined, and costs a call and its
            // set-up even on an empty vector.
            return false;
        }
        let sockets = &mut self.sockets;
        let ports = &mut self.ports;
        let lent = &mut self.lent;
        let before = self.retired.len();
        self.retired.retain(|(h, port)| {
            let s = sockets.get::<tcp::Socket>(*h);
            let done = s.state() == tcp::State::Closed && s.remote_endpoint().is_none();
            if done {
                lent.remove(sockets, buffers, *h);
                if let Some(p) = port {
                    ports.release(*p);
                }
            }
            !done
        });
        self.retired.len() != before
    }
}

impl Drop for Host {
    /// Drops the sockets before the buffers lent to them.
    fn drop(&mut self) {
        let sockets = std::mem::replace(&mut self.sockets, SocketSet::new(vec![]));
        self.lent.free_with(sockets);
    }
}

fn tcp_dst_port(pkt: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    if ip.next_header() != IpProtocol::Tcp || ip.frag_offset() != 0 {
        return None;
    }
    let p = ip.payload();
    Some(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]))
}
