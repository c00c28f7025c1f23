//! What each TCP packet of a capture is, read from the capture alone: the
//! role it plays in a connection the same tap saw (an opening SYN, the answer
//! to one, a reply from the wrong address, a late segment nobody answers, a
//! refusal). Labels are not used, so the same reading serves simulated runs
//! (beside their labels) and real captures (instead of them).
//!
//! Thresholds (documented in `docs/explain.md`):
//! - [`LATE`]: a segment is late when the other end of its connection has
//!   been silent for at least 1 s before it and stays silent for 1 s after
//!   it. A live peer answers data within one retransmission timeout (RFC 6298
//!   sets the minimum RTO to 1 s), so a peer that misses both is either gone
//!   or cannot see the packet: a firewall or NAT between them dropped it.
//! - [`ASKED_WITHIN`]: a SYN-ACK comes from the wrong address when the
//!   receiving port sent its SYN to another address at most 3 s before (the
//!   first SYN retransmission of RFC 6298 and Linux comes 1 s after the SYN,
//!   the second 3 s after it: each retransmission draws a fresh wrong-address
//!   answer).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use scanbench_detector::{Duration, Instant};

use super::record::{FrameInfo, TapFrames};

/// The least silence of the peer, before and after, that makes a segment late.
pub const LATE: Duration = Duration::from_secs(1);

/// How long before a SYN-ACK the receiving port's SYN to another address may be.
pub const ASKED_WITHIN: Duration = Duration::from_secs(3);

/// The role of one TCP packet in its connection, as the tap saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// A SYN without ACK: the sender opens (or probes) a connection; what
    /// its peer answered next.
    Open {
        /// The peer's first answer on the connection after this SYN.
        answer: Answer,
    },
    /// A SYN-ACK answering the receiver's SYN on the same connection: a reply
    /// within a connection the receiver opened.
    Answer,
    /// A SYN-ACK to a port whose SYN went to another address (`asked`) shortly
    /// before: the answer comes from the wrong address (a balancer's backend
    /// replying without SNAT).
    WrongSource {
        /// The address the receiver's SYN went to.
        asked: Ipv4Addr,
    },
    /// A SYN-ACK no SYN on this tap asked for.
    Unsolicited,
    /// A RST or RST-ACK refusing the receiver's SYN (a closed port).
    Refusal,
    /// A RST from the receiver of a stray SYN-ACK (its stack has no socket).
    RejectsStray,
    /// Any other segment of a connection the tap saw, answered in time.
    InConnection {
        /// The connection's opener, if the tap saw its SYN.
        opened_by: Option<Ipv4Addr>,
    },
    /// A segment of a known connection whose other end was silent for
    /// `idle_us` before it and stayed silent for [`LATE`] after it: the peer
    /// never saw it (lost state on the way) or is gone.
    Late {
        /// Microseconds since the peer's last packet on the connection.
        idle_us: i64,
        /// The connection's opener, if the tap saw its SYN.
        opened_by: Option<Ipv4Addr>,
    },
    /// A segment of a connection the tap never saw before (it began before
    /// the capture, or is unsolicited).
    Midstream,
}

/// What a SYN got back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// A SYN-ACK: the port is open.
    SynAck,
    /// A RST: the port is closed.
    Reset,
    /// Nothing the tap saw (filtered, or lost).
    Nothing,
}

impl Answer {
    /// `syn-ack`, `rst`, `none`.
    pub fn name(self) -> &'static str {
        match self {
            Answer::SynAck => "syn-ack",
            Answer::Reset => "rst",
            Answer::Nothing => "none",
        }
    }
}

impl Role {
    /// A short name for tables and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Open { .. } => "open",
            Role::Answer => "answer",
            Role::WrongSource { .. } => "wrong-source",
            Role::Unsolicited => "unsolicited",
            Role::Refusal => "refusal",
            Role::RejectsStray => "rejects-stray",
            Role::InConnection { .. } => "in-connection",
            Role::Late { .. } => "late",
            Role::Midstream => "midstream",
        }
    }
}

/// Direction-free connection key.
type Conn = ((Ipv4Addr, u16), (Ipv4Addr, u16));

fn conn(f: &FrameInfo) -> Option<(Conn, bool)> {
    let a = (f.src, f.sport?);
    let b = (f.dst, f.dport?);
    f.flags?;
    Some(if a <= b {
        ((a, b), true)
    } else {
        ((b, a), false)
    })
}

/// Pure SYNs by sending endpoint: (time, destination, destination port).
type SynsFrom = BTreeMap<(Ipv4Addr, u16), Vec<(Instant, Ipv4Addr, u16)>>;

/// What is known of one connection while walking the tap.
#[derive(Default)]
struct ConnState {
    /// Who sent the first pure SYN.
    opener: Option<Ipv4Addr>,
    /// The responder answered the SYN.
    answered: bool,
    /// Last packet time per side (side 0 = the lower endpoint).
    last: [Option<Instant>; 2],
}

/// The role of every TCP frame of `tap`, by frame number (`None` for frames
/// that are not TCP).
pub fn roles(tap: &TapFrames) -> Vec<Option<Role>> {
    // Pass 1: per connection and side, the times of its packets (for the
    // look-ahead of `Late`), and every pure SYN by its sending endpoint.
    let mut times: BTreeMap<(Conn, bool), Vec<(Instant, u8)>> = BTreeMap::new();
    let mut syns: SynsFrom = BTreeMap::new();
    for f in tap.iter() {
        let Some((c, side)) = conn(f) else { continue };
        times
            .entry((c, side))
            .or_default()
            .push((f.at, f.flags.map_or(0, |x| x.0)));
        if let (Some(fl), Some(sp), Some(dp)) = (f.flags, f.sport, f.dport)
            && fl.is_pure_syn()
        {
            syns.entry((f.src, sp)).or_default().push((f.at, f.dst, dp));
        }
    }
    let mut state: BTreeMap<Conn, ConnState> = BTreeMap::new();
    let mut out = vec![None; tap.frames.len()];
    for f in tap.iter() {
        let (Some((c, side)), Some(flags)) = (conn(f), f.flags) else {
            continue;
        };
        let st = state.entry(c).or_default();
        let me = usize::from(!side);
        let peer = 1 - me;
        let peer_times = times.get(&(c, !side)).map(Vec::as_slice).unwrap_or(&[]);
        let role = if flags.is_pure_syn() {
            st.opener.get_or_insert(f.src);
            let answer = match peer_times.iter().find(|(t, _)| *t > f.at) {
                Some((_, fl)) if fl & 0x12 == 0x12 => Answer::SynAck,
                Some((_, fl)) if fl & 0x04 != 0 => Answer::Reset,
                _ => Answer::Nothing,
            };
            Role::Open { answer }
        } else if flags.syn() && flags.ack() {
            if st.opener == Some(f.dst) {
                st.answered = true;
                Role::Answer
            } else {
                match asked_elsewhere(&syns, f) {
                    Some(asked) => Role::WrongSource { asked },
                    None => Role::Unsolicited,
                }
            }
        } else if flags.rst() && st.opener == Some(f.dst) && !st.answered {
            Role::Refusal
        } else if flags.rst() && !flags.ack() && st.last[peer].is_some() && st.opener.is_none() {
            Role::RejectsStray
        } else if st.last == [None, None] {
            Role::Midstream
        } else {
            let before = st.last[peer].or(st.last[me]);
            let idle = before.map_or(0, |t| (f.at - t).total_micros() as i64);
            let answered_soon = peer_times
                .iter()
                .any(|(t, _)| *t > f.at && *t <= f.at + LATE);
            if idle >= LATE.total_micros() as i64 && !answered_soon && !flags.rst() {
                Role::Late {
                    idle_us: idle,
                    opened_by: st.opener,
                }
            } else {
                Role::InConnection {
                    opened_by: st.opener,
                }
            }
        };
        st.last[me] = Some(f.at);
        if let Some(slot) = usize::try_from(f.index).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some(role);
        }
    }
    out
}

/// The address the receiver of SYN-ACK `f` sent its SYN to from the same
/// port, within [`ASKED_WITHIN`] before, when that address is not `f`'s source.
fn asked_elsewhere(syns: &SynsFrom, f: &FrameInfo) -> Option<Ipv4Addr> {
    let dport = f.dport?;
    let sent = syns.get(&(f.dst, dport))?;
    let from = f.at - ASKED_WITHIN;
    sent.iter()
        .rev()
        .filter(|(t, _, _)| *t <= f.at && *t >= from)
        .find(|(_, addr, _)| *addr != f.src)
        .map(|(_, addr, _)| *addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::record::Recording;

    const S: u8 = 0x02;
    const SA: u8 = 0x12;
    const A: u8 = 0x10;
    const PA: u8 = 0x18;
    const RA: u8 = 0x14;
    const R: u8 = 0x04;

    fn seg(src: &str, sp: u16, dst: &str, dp: u16, flags: u8) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&40u16.to_be_bytes());
        b[8] = 64;
        b[9] = 6;
        b[12..16].copy_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
        b[16..20].copy_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        b[20..22].copy_from_slice(&sp.to_be_bytes());
        b[22..24].copy_from_slice(&dp.to_be_bytes());
        b[32] = 0x50;
        b[33] = flags;
        b
    }

    fn tap(packets: &[(i64, Vec<u8>)]) -> TapFrames {
        let mut r = Recording::new(&["t".into()], &BTreeMap::new());
        for (at, b) in packets {
            r.push(0, Instant::from_micros(*at), b, None);
        }
        r.taps.remove(0)
    }

    #[test]
    fn answers_wrong_sources_refusals_and_late_segments() {
        let c = "203.0.113.1";
        let t = tap(&[
            (0, seg(c, 5000, "198.51.100.80", 80, S)),
            (1_000, seg("198.51.100.80", 80, c, 5000, SA)),
            (2_000, seg(c, 5001, "198.51.100.80", 80, S)),
            (3_000, seg("198.51.100.11", 80, c, 5001, SA)),
            (3_500, seg(c, 5001, "198.51.100.11", 80, R)),
            (4_000, seg(c, 5002, "198.51.100.9", 22, S)),
            (5_000, seg("198.51.100.9", 22, c, 5002, RA)),
            (6_000, seg(c, 5000, "198.51.100.80", 80, A)),
            // 30 min later the server pushes; the client never answers.
            (1_800_006_000, seg("198.51.100.80", 80, c, 5000, PA)),
            (1_801_006_000, seg("198.51.100.80", 80, c, 5000, PA)),
        ]);
        let r = roles(&t);
        assert_eq!(
            r[0],
            Some(Role::Open {
                answer: Answer::SynAck
            })
        );
        assert_eq!(
            r[2],
            Some(Role::Open {
                answer: Answer::Nothing
            })
        );
        assert_eq!(
            r[5],
            Some(Role::Open {
                answer: Answer::Reset
            })
        );
        assert_eq!(r[1], Some(Role::Answer));
        assert_eq!(
            r[3],
            Some(Role::WrongSource {
                asked: "198.51.100.80".parse().unwrap()
            })
        );
        assert_eq!(r[4], Some(Role::RejectsStray));
        assert_eq!(r[6], Some(Role::Refusal));
        assert_eq!(
            r[7],
            Some(Role::InConnection {
                opened_by: Some(c.parse().unwrap())
            })
        );
        assert_eq!(
            r[8],
            Some(Role::Late {
                idle_us: 1_800_000_000,
                opened_by: Some(c.parse().unwrap())
            })
        );
        assert!(matches!(r[9], Some(Role::Late { .. })));
    }

    #[test]
    fn an_answered_segment_after_a_pause_is_not_late() {
        let (c, s) = ("192.0.2.10", "198.51.100.2");
        let t = tap(&[
            (0, seg(c, 40000, s, 80, S)),
            (100, seg(s, 80, c, 40000, SA)),
            (200, seg(c, 40000, s, 80, A)),
            // The server closes an idle keep-alive connection 5 s later and
            // the client answers at once.
            (5_000_200, seg(s, 80, c, 40000, 0x11)),
            (5_000_300, seg(c, 40000, s, 80, 0x11)),
        ]);
        let r = roles(&t);
        assert!(matches!(r[3], Some(Role::InConnection { .. })), "{r:?}");
    }
}
