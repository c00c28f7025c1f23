//! The smoltcp device of a simulated host: an rx queue the fabric fills and an
//! outbox the fabric drains after each poll. Bare IPv4 packets (Medium::Ip).
//!
//! Packet buffers are reused: the fabric lends the device its pool of empty
//! buffers while the host runs (the stack builds outgoing packets in them),
//! and takes back the buffers of the packets the stack has read. So a packet
//! costs no allocation once the pool has warmed up.

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
    /// Empty buffers to build outgoing packets in (lent by the fabric).
    pub spare: Vec<Vec<u8>>,
    /// Buffers of packets the stack has read, for the fabric to reuse.
    pub read: Vec<Vec<u8>>,
}

/// Receive token owning one packet; its buffer goes to `read` once consumed.
pub struct RxToken<'a> {
    pkt: Vec<u8>,
    read: &'a mut Vec<Vec<u8>>,
}

/// Transmit token appending to the outbox, in a spare buffer if there is one.
pub struct TxToken<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.pkt);
        self.read.push(self.pkt);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.spare.pop().unwrap_or_default();
        // Zeroed, as a fresh buffer would be: the stack need not write every byte.
        buf.clear();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.tx.push(buf);
        r
    }
}

impl phy::Device for SimDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let pkt = self.rx.pop_front()?;
        Some((
            RxToken {
                pkt,
                read: &mut self.read,
            },
            TxToken {
                tx: &mut self.tx,
                spare: &mut self.spare,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            tx: &mut self.tx,
            spare: &mut self.spare,
        })
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

/// Empty packet buffers kept for reuse (at most [`BufferPool::CAP`], so a
/// host that receives far more than it sends does not hoard memory).
#[derive(Debug, Default)]
pub(crate) struct BufferPool(Vec<Vec<u8>>);

impl BufferPool {
    /// Buffers kept at most.
    const CAP: usize = 4096;

    /// Keeps `buf` for reuse.
    pub(crate) fn put(&mut self, buf: Vec<u8>) {
        if self.0.len() < Self::CAP {
            self.0.push(buf);
        }
    }

    /// Lends the pool to `dev` while its host runs.
    pub(crate) fn lend(&mut self, dev: &mut SimDevice) {
        std::mem::swap(&mut self.0, &mut dev.spare);
    }

    /// Takes the pool back from `dev`, with the buffers of what its stack read.
    pub(crate) fn reclaim(&mut self, dev: &mut SimDevice) {
        std::mem::swap(&mut self.0, &mut dev.spare);
        for buf in dev.read.drain(..) {
            self.put(buf);
        }
    }
}
