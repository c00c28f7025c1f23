//! Test-only helpers shared by every detector's inline tests: the packet
//! shorthands of `scanbench_testkit::shorthand` (`tcp`, `udp`, `icmp_echo`,
//! `TcpSeg`, the flag constants `S`, `SA`, ...), re-exported, and
//!
//! - [`Run`]: a detector built from a registry spec, fed packets with
//!   timestamps in microseconds and auto-numbered frames; alerts accumulate;
//! - [`configure`]: a detector built from a full spec without the registry.

#![allow(dead_code)] // a shared toolbox: not every test uses every helper

pub use scanbench_testkit::shorthand::*;

use crate::{Alert, Detector, Instant, PacketView, registry};

/// A detector fed packets in order, collecting its alerts.
pub struct Run {
    /// The detector under test.
    pub det: Box<dyn Detector>,
    /// All alerts so far.
    pub alerts: Vec<Alert>,
    /// Next frame number.
    pub frame: u64,
}

impl Run {
    /// Builds from a registry spec such as `scanlogd` or `screenos:threshold=2000`.
    pub fn new(spec: &str) -> Self {
        Run::with(registry::build(spec).expect("test spec").detector)
    }

    /// Wraps an already-built detector.
    pub fn with(det: Box<dyn Detector>) -> Self {
        Run {
            det,
            alerts: Vec::new(),
            frame: 0,
        }
    }

    /// Feeds one packet at `t_us` microseconds; returns the number of new alerts.
    pub fn push(&mut self, t_us: i64, bytes: &[u8]) -> usize {
        let before = self.alerts.len();
        let v = PacketView::parse(self.frame, bytes).expect("test packet parses");
        self.frame += 1;
        self.det
            .observe(Instant::from_micros(t_us), &v, &mut self.alerts);
        self.alerts.len() - before
    }

    /// Runs timers up to `t_us`; returns the number of new alerts.
    pub fn flush(&mut self, t_us: i64) -> usize {
        let before = self.alerts.len();
        self.det.flush(Instant::from_micros(t_us), &mut self.alerts);
        self.alerts.len() - before
    }
}

/// Builds `info`'s detector from a full spec (`name:param=value,...`), as the
/// registry would, without going through the registry.
pub fn configure(
    info: &crate::DetectorInfo,
    spec: &str,
) -> Result<crate::Instance, crate::ConfigError> {
    let (name, pairs) = crate::params::split_spec(spec)?;
    assert_eq!(name, info.name, "spec for another detector");
    info.configure(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket};

    #[test]
    fn built_packets_parse_with_valid_checksums() {
        let b = tcp(ip("10.0.0.2"), 0, ip("10.0.0.1"), 0, 0x03);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        let t = TcpPacket::new_checked(p.payload()).unwrap();
        assert!(t.verify_checksum(
            &IpAddress::Ipv4(p.src_addr()),
            &IpAddress::Ipv4(p.dst_addr())
        ));
        let v = PacketView::parse(0, &b).unwrap();
        assert_eq!(v.tcp().unwrap().flags.0, 0x03);
        let u = udp(ip("1.2.3.4"), 53, ip("5.6.7.8"), 9, b"hi");
        assert_eq!(PacketView::parse(0, &u).unwrap().ports(), Some((53, 9)));
        let e = icmp_echo(ip("1.2.3.4"), ip("5.6.7.8"));
        assert!(
            PacketView::parse(0, &e)
                .unwrap()
                .icmp()
                .unwrap()
                .is_echo_request()
        );
        let q = icmp_unreach(ip("5.6.7.8"), ip("1.2.3.4"), 3, &u);
        let qv = PacketView::parse(0, &q).unwrap();
        assert_eq!(qv.icmp().unwrap().quoted.unwrap().dst_port, Some(9));
        let s = TcpSeg::new(ip("1.1.1.1"), 1, ip("2.2.2.2"), 2, S)
            .ttl_tos(33, 0x10)
            .bytes();
        let sv = PacketView::parse(0, &s).unwrap();
        assert_eq!((sv.ttl, sv.tos), (33, 0x10));
    }
}
