//! Frames as iptables `LOG` lines: what a firewall's drop log looks like to
//! psad, so the real psad can read the bench's drop-log sensor.
//!
//! The layout is the kernel's (`net/netfilter/nf_log_syslog.c`,
//! `dump_ipv4_packet`): `SRC= DST= LEN= TOS=0x.. PREC=0x.. TTL= ID=`, then
//! `CE`/`DF`/`MF`/`FRAG:`, then `PROTO=` and the transport fields, TCP
//! flags in the order `CWR ECE URG ACK PSH RST SYN FIN`. Each line carries
//! a syslog stamp (UTC, from the frame's virtual time since the epoch), a
//! host name, `kernel:`, the `[uptime]` and the log prefix `DROP `, as
//! rsyslog writes them. The bench's own parser
//! (`scanbench_detector::iptables_log`) reads these lines back into the same
//! packets (round trip tested).

use std::fmt::Write as _;

use scanbench_detector::{Instant, PacketView, Transport};

use scanbench_detector::detectors::psad_signatures::flag_string;

use super::clock::syslog_stamp;

/// TCP flags as the kernel prints them (`ACK SYN`); empty for none (psad
/// reads the same names, and says `NULL` for none).
pub fn kernel_flags(bits: u8) -> String {
    match flag_string(bits) {
        s if s == "NULL" => String::new(),
        s => s,
    }
}

/// One LOG line for the IPv4 packet `bytes` captured at `at`; `None` for a
/// frame that is not IPv4.
pub fn log_line(at: Instant, bytes: &[u8]) -> Option<String> {
    let p = PacketView::parse(0, bytes).ok()?;
    let us = at.total_micros();
    let len = u16::from_be_bytes([bytes[2], bytes[3]]);
    let frag = u16::from_be_bytes([bytes[6], bytes[7]]);
    let mut s = format!(
        "{} sensor kernel: [{:>5}.{:06}] DROP IN=eth0 OUT= MAC= SRC={} DST={} LEN={len} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        syslog_stamp(us),
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000),
        p.src,
        p.dst,
        p.tos & 0x1e,
        p.tos & 0xe0,
        p.ttl,
        p.ident,
    );
    if p.tos & 0x03 == 0x03 {
        s.push_str("CE ");
    }
    if frag & 0x4000 != 0 {
        s.push_str("DF ");
    }
    if frag & 0x2000 != 0 {
        s.push_str("MF ");
    }
    if frag & 0x1fff != 0 {
        let _ = write!(s, "FRAG:{} ", frag & 0x1fff);
    }
    match &p.transport {
        Transport::Tcp(t) => {
            let _ = write!(
                s,
                "PROTO=TCP SPT={} DPT={} WINDOW={} RES=0x00 ",
                t.src_port, t.dst_port, t.window
            );
            let flags = kernel_flags(t.flags.0);
            if !flags.is_empty() {
                s.push_str(&flags);
                s.push(' ');
            }
            s.push_str("URGP=0 ");
        }
        Transport::Udp(u) => {
            let _ = write!(
                s,
                "PROTO=UDP SPT={} DPT={} LEN={} ",
                u.src_port,
                u.dst_port,
                u.payload.len() + 8
            );
        }
        Transport::Icmp(i) => {
            let _ = write!(s, "PROTO=ICMP TYPE={} CODE={} ", i.icmp_type, i.code);
            let ip_hl = usize::from(bytes[0] & 0x0f) * 4;
            if matches!(i.icmp_type, 0 | 8)
                && let Some(h) = bytes.get(ip_hl + 4..ip_hl + 8)
            {
                let _ = write!(
                    s,
                    "ID={} SEQ={} ",
                    u16::from_be_bytes([h[0], h[1]]),
                    u16::from_be_bytes([h[2], h[3]])
                );
            }
        }
        Transport::Fragment | Transport::Other => {
            let _ = write!(s, "PROTO={} ", p.protocol);
        }
    }
    Some(s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scanbench_detector::iptables_log::{LogOptions, LogParser};
    use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

    fn syn(dport: u16, flags: u8) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len(40);
            ip.set_hop_limit(50);
            ip.set_ident(1234);
            ip.set_next_header(IpProtocol::Tcp);
            ip.set_src_addr([203, 0, 113, 5].into());
            ip.set_dst_addr([198, 51, 100, 10].into());
            ip.fill_checksum();
        }
        let mut t = TcpPacket::new_unchecked(&mut b[20..]);
        t.set_src_port(40000);
        t.set_dst_port(dport);
        t.set_header_len(20);
        t.set_window_len(1024);
        b[20 + 13] = flags;
        b
    }

    #[test]
    fn the_kernel_layout_and_a_round_trip_through_the_parser() {
        let b = syn(3389, 0x02);
        let line = log_line(Instant::from_secs(100), &b).unwrap();
        assert_eq!(
            line,
            "Jan  1 00:01:40 sensor kernel: [  100.000000] DROP IN=eth0 OUT= MAC= SRC=203.0.113.5 DST=198.51.100.10 LEN=40 TOS=0x00 PREC=0x00 TTL=50 ID=1234 PROTO=TCP SPT=40000 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0"
        );
        let opts = LogOptions {
            year: 1970,
            ..LogOptions::default()
        };
        let rec = LogParser::new(opts).parse_line(1, &line).unwrap().unwrap();
        let v = PacketView::parse(0, &rec.packet).unwrap();
        assert_eq!(rec.at, Instant::from_secs(100));
        assert_eq!(
            (v.src, v.dst, v.ttl),
            (
                "203.0.113.5".parse().unwrap(),
                "198.51.100.10".parse().unwrap(),
                50
            )
        );
        assert_eq!(v.tcp().unwrap().flags.0, 0x02);
        assert_eq!(kernel_flags(0x12), "ACK SYN");
        assert_eq!(kernel_flags(0x29), "URG PSH FIN");
        let null = log_line(Instant::ZERO, &syn(1, 0)).unwrap();
        assert!(null.ends_with("RES=0x00 URGP=0"), "{null}");
    }
}
