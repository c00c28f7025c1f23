//! The smoltcp device of a simulated host: an rx queue the fabric fills and an
//! outbox the fabric drains after each poll. Bare IPv4 packets (Medium::Ip).

use std::collections::VecDeque;

use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// IP MTU of every simulated interface.
pub const MTU: usize = 1500;

/// Queue-backed device.
#[derive(Debug, Default)]
pub struct SimDevice {
    /// Packets delivered by the fabric, not yet read by the stack.
    pub rx: VecDeque<Vec<u8>>,
    /// Packets the stack emitted, not yet taken by the fabric.
    pub tx: Vec<Vec<u8>>,
}

/// Receive token owning one packet.
pub struct RxToken(Vec<u8>);

/// Transmit token appending to the outbox.
pub struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl phy::Device for SimDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let pkt = self.rx.pop_front()?;
        Some((RxToken(pkt), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        // Checksums on: every frame written to a pcap must verify in tshark.
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}
