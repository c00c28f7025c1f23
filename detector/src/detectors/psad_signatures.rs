//! psad's signatures, as psad 2.4.6 matches them against iptables LOG lines.
//!
//! Source: the active entries of `/etc/psad/signatures` in Debian's psad
//! 2.4.6-3 package (psad's own file, derived from Snort rules; every entry
//! carries `psad_dl:2`), matched as `psad` `match_sigs` /
//! `match_snort_keywords` do (`psad`, psad 2.4.6). One row per signature:
//! `psad_id proto src sport dir dst dport keyword=value...`, with psad.conf's
//! `$HOME_NET`, `$EXTERNAL_NET` and `$HTTP_SERVERS` resolved to `any`
//! (Debian's defaults) and `flags` already converted to the iptables flag
//! string psad compares (`import_signatures`: order `URG ACK PSH RST SYN FIN`;
//! Snort's `0` becomes the empty string, which never equals the `NULL` psad
//! gives a packet without flags).
//!
//! Matching (per packet, after the ACK/RST conntrack filter): protocol (`ip`
//! rows match every protocol), addresses, ports (`any` is 1..=65535, `N:M`,
//! `N:`, `:M`, `!` negates), `<>` rows in either direction, then every
//! keyword: `flags` equal; `dsize`/`psad_dsize` on the payload length psad
//! computes from `LEN` (TCP: `LEN - 40`, `- 44` more for SYN packets; UDP:
//! the UDP length - 8; ICMP: `LEN - 28`); `ttl`, `id`, `window`, `seq`,
//! `itype`, `icode`, `icmp_id`, `icmp_seq`, `psad_ip_len` as integer ranges
//! (`N`, `>N`, `<N`, `>=N`, `<=N`, `N:M`); `sameip`; `ipopts` never (LOG
//! lines carry IP options only with `--log-ip-options`, the bench writes none).
//!
//! Deviation: detectors see a [`PacketView`], which has no IP total length,
//! TCP header length or ICMP body. `LEN` is taken as 20 + 20 + payload for
//! TCP (so TCP options are not counted; psad allows 44 bytes of them on a
//! SYN, more than any SYN carries) and 20 + 8 + payload for UDP; ICMP
//! signatures on `dsize`, `icmp_id`, `icmp_seq` or `psad_ip_len` never match
//! (an echo request still matches `psad_id` 100122, `itype:8; icode:0`).

use core::net::Ipv4Addr;

use crate::params::Cidr;
use crate::view::{PacketView, Transport};

/// Danger level every matching signature assigns (`psad_dl:2` on each row).
pub const SIGNATURE_DL: u8 = 2;

/// The signature rows (see the module docs).
pub const SIGNATURES: &str = "\
100001 tcp any any -> any 705 flags=SYN
100002 udp any any -> any 31335 psad_dsize=>2
100003 icmp any any -> any any icmp_id=456 icmp_seq=0 itype=0
100004 tcp any 20432 -> any any flags=SYN
100005 udp any any -> any 18753 psad_dsize=>10
100006 udp any any -> any 20433 psad_dsize=>4
100007 tcp any any -> any 27665 flags=SYN
100008 udp any any -> any 27444 psad_dsize=>6
100009 udp any any -> any 6838 psad_dsize=>8
100010 udp any any -> any 10498 psad_dsize=>3
100011 tcp any any -> any 12754 flags=SYN
100012 tcp any any -> any 15104 flags=SYN
100013 icmp any any -> any any icmp_id=51201 icmp_seq=0 itype=0
100014 icmp 3.3.3.3/32 any -> any any icmp_id=666 itype=0
100015 icmp any any -> any any dsize=0 itype=8
100016 icmp any any -> any any dsize=0 icmp_id=666 icmp_seq=0 id=666 itype=8
100017 icmp any any -> any any icode=1 itype=5
100018 icmp any any -> any any icode=0 itype=5
100019 icmp any any -> any any icode=0 itype=4
100020 icmp any any -> any any dsize=4 icmp_id=0 icmp_seq=0 itype=8
100021 icmp any any -> any any icode=13 itype=3
100022 icmp any any -> any any icode=10 itype=3
100023 icmp any any -> any any icode=9 itype=3
100024 icmp any any -> any any dsize=>800
100198 icmp any any -> any any ipopts=rr itype=0
100025 tcp any any -> any 32771 flags=SYN
100026 udp any any -> any 32771 psad_dsize=>12
100027 tcp any any -> any 16959 flags=SYN
100207 tcp any any -> any 27374 flags=SYN
100028 tcp any any -> any 12345:12346 flags=SYN
100029 tcp any any -> any 20034 flags=SYN
100030 udp any any -> any 2140 psad_dsize=>1
100031 udp any 2140 -> any any psad_dsize=>21
100032 udp any any -> any 3150 psad_dsize=>1
100033 udp any 3150 -> any any psad_dsize=>21
100034 udp any any -> any 4120
100035 udp any 4120 -> any any psad_dsize=>21
100036 tcp any any -> any 6789 flags=SYN
100037 tcp any any -> any 1015 flags=SYN
100038 tcp any 1024: -> any 2589 flags=SYN
100039 tcp any any -> any 7597 flags=SYN
100040 tcp any 1000: -> any 146 flags=SYN
100041 tcp any 1024: -> any 666 flags=SYN
100042 tcp any any -> any 31785 flags=SYN
100043 tcp any !80 -> any 21554 flags=SYN
100044 tcp any any -> any 30100:30102 flags=SYN
100045 tcp any any -> any 6969 flags=SYN
100046 tcp any any -> any 5401:5402 flags=SYN
100047 tcp any any -> any 23476
100048 tcp any any -> any 5032 flags=SYN
100049 udp any 3344 -> any 3345 psad_dsize=>7
100050 udp any 3345 -> any 3344 psad_dsize=>8
100051 tcp any any -> any 5714 flags=SYN
100052 tcp 255.255.255.0/24 any -> any any flags=SYN
100053 tcp any any -> any 555 flags=SYN
100054 tcp any 31790 -> any 31789 flags=SYN
100055 ip any any -> 216.80.99.202 any
100056 udp any any -> any 35555 psad_dsize=>27
100057 tcp any any -> any 33270 flags=SYN
100058 tcp any any -> 212.146.0.34 1963
100059 tcp any any -> any 34012 flags=SYN
100060 tcp any any -> any any flags=SYN window=55808
100061 tcp any any -> any 3127:3199 flags=SYN
100062 tcp any any -> any 63536
100063 tcp any any -> any 22222 flags=SYN
100064 tcp any any -> any 23432 flags=SYN
100065 tcp any 10101 -> any any flags=SYN ttl=>220
100066 tcp any any -> any any flags=FIN
100067 tcp any any -> any any flags=
100068 tcp any any -> any any flags=SYN,FIN
100069 tcp any any -> any any flags=URG,ACK,PSH,RST,SYN,FIN
100070 tcp any any -> any any flags=URG,PSH,FIN
100071 tcp any any -> any any flags=SYN,FIN id=39426
100197 tcp any any -> any any flags=SYN seq=1958810375
100206 tcp any any -> any 17300 flags=SYN
100208 udp any any -> any 1434 psad_ip_len=404
100209 icmp any any -> any any itype=8 icode=0 psad_ip_len=92
100210 udp any any -> any 62201 psad_dsize=>130
100205 tcp any any -> any 1433 flags=SYN
100072 tcp any any -> any 1417 flags=SYN
100073 tcp any any -> any 5631:5632 flags=SYN
100202 tcp any any -> any 5900 flags=SYN
100203 tcp any any -> any 7212 flags=SYN
100204 tcp any any -> any 4899 flags=SYN
100074 udp any any -> any 1900 psad_dsize=>8
100075 tcp any any -> any 32000 flags=SYN
100076 udp any 2002 -> any 2002 psad_dsize=>20
100077 tcp any any -> any 3389 flags=SYN
100078 tcp any any -> any 2533 flags=SYN
100079 udp any any -> any 27155 psad_dsize=>8
100080 tcp any any -> any 7100 flags=SYN
100081 udp any 500 -> any 500 psad_dsize=>29
100082 tcp any any -> any 1723 flags=SYN
100083 tcp any any -> any 639 flags=SYN
100084 tcp any any -> any 8000 flags=SYN
100196 udp any any -> any 1026:1029 psad_dsize=>100
100199 ip any any -> any any ipopts=lsrr
100200 ip any any -> any any ipopts=lsrre
100201 ip any any -> any any ipopts=ssrr
100085 udp any any -> any 5632 psad_dsize=>4
100086 tcp any any -> any 9100 flags=SYN
100087 tcp any any -> any 9000:9002 flags=SYN
100088 ip 66.151.158.177 any -> any any
100089 tcp any any -> any 5800:5802 flags=SYN
100090 tcp any any -> any 8888 flags=SYN
100091 tcp any any <> any 6699 flags=SYN
100092 tcp any any <> any 7777 flags=SYN
100093 tcp any any <> any 6666 flags=SYN
100094 tcp any any <> any 5555 flags=SYN
100095 tcp any any <> any 8875 flags=SYN
100096 tcp any any -> any 1214 flags=SYN
100097 tcp any any -> any 6881:6889 flags=SYN
100098 tcp any any -> any 4242 flags=SYN
100099 tcp any any -> any 4711 flags=SYN
100100 tcp any any -> any 3535 flags=SYN
100101 tcp any any <> any 0
100102 udp any any <> any 0
100000 tcp any any -> any any psad_dsize=>20 flags=SYN
100103 ip any any -> any any sameip
100104 ip any any -> any any ttl=0
100106 tcp any any -> 232.0.0.0/8,233.0.0.0/8,239.0.0.0/8 any flags=SYN
100111 tcp any any <> any any flags=SYN id=413 seq=6060842
100112 tcp any any -> any 7070 flags=SYN
100113 tcp any any -> any 617 flags=SYN
100114 tcp any any -> any 3372 flags=SYN
100115 tcp any any -> any 6004 flags=SYN
100116 tcp any any -> any 6789:6790 flags=SYN
100117 icmp any any -> any any itype=9
100118 icmp any any -> any any itype=10
100119 icmp any any -> any any dsize=8 id=13170 itype=8
100120 icmp any any -> any any dsize=8 itype=8
100121 icmp any any -> any any itype=8 ttl=1
100122 icmp any any -> any any icode=0 itype=8
100123 icmp any any -> any any icode=0 itype=18
100124 icmp any any -> any any icode=>0 itype=18
100125 icmp any any -> any any icode=0 itype=17
100126 icmp any any -> any any icode=>0 itype=17
100127 icmp any any -> any any icode=0 itype=6
100128 icmp any any -> any any icode=>0 itype=6
100129 icmp any any -> any any icode=0 itype=31
100130 icmp any any -> any any icode=>0 itype=31
100131 icmp any any -> any any icode=7 itype=3
100132 icmp any any -> any any icode=6 itype=3
100133 icmp any any -> any any icode=4 itype=3
100134 icmp any any -> any any icode=14 itype=3
100135 icmp any any -> any any icode=12 itype=3
100136 icmp any any -> any any icode=1 itype=3
100137 icmp any any -> any any icode=11 itype=3
100138 icmp any any -> any any icode=0 itype=3
100139 icmp any any -> any any icode=3 itype=3
100140 icmp any any -> any any icode=15 itype=3
100141 icmp any any -> any any icode=2 itype=3
100142 icmp any any -> any any icode=8 itype=3
100143 icmp any any -> any any icode=5 itype=3
100144 icmp any any -> any any icode=>15 itype=3
100145 icmp any any -> any any icode=0 itype=0
100146 icmp any any -> any any icode=>0 itype=0
100147 icmp any any -> any any icode=1 itype=11
100148 icmp any any -> any any icode=0 itype=34
100149 icmp any any -> any any icode=>0 itype=34
100150 icmp any any -> any any icode=0 itype=33
100151 icmp any any -> any any icode=>0 itype=33
100152 icmp any any -> any any icode=0 itype=16
100153 icmp any any -> any any icode=>0 itype=16
100154 icmp any any -> any any icode=0 itype=15
100155 icmp any any -> any any icode=>0 itype=15
100156 icmp any any -> any any icode=0 itype=32
100157 icmp any any -> any any icode=>0 itype=32
100158 icmp any any -> any any icode=0 itype=36
100159 icmp any any -> any any icode=>0 itype=36
100160 icmp any any -> any any icode=0 itype=35
100161 icmp any any -> any any icode=>0 itype=35
100162 icmp any any -> any any icode=2 itype=12
100163 icmp any any -> any any icode=1 itype=12
100164 icmp any any -> any any icode=0 itype=12
100165 icmp any any -> any any icode=>2 itype=12
100166 icmp any any -> any any icode=0 itype=40
100167 icmp any any -> any any icode=1 itype=40
100168 icmp any any -> any any icode=2 itype=40
100169 icmp any any -> any any icode=3 itype=40
100170 icmp any any -> any any icode=>3 itype=40
100171 icmp any any -> any any icode=3 itype=5
100172 icmp any any -> any any icode=2 itype=5
100173 icmp any any -> any any icode=>3 itype=5
100174 icmp any any -> any any icode=0 itype=19
100175 icmp any any -> any any icode=>0 itype=19
100176 icmp any any -> any any icode=0 itype=9
100177 icmp any any -> any any icode=0 itype=10
100178 icmp any any -> any any icode=0 itype=39
100179 icmp any any -> any any icode=>0 itype=39
100180 icmp any any -> any any icode=>0 itype=4
100181 icmp any any -> any any icode=0 itype=11
100182 icmp any any -> any any icode=>1 itype=11
100183 icmp any any -> any any icode=0 itype=14
100184 icmp any any -> any any icode=>0 itype=14
100185 icmp any any -> any any icode=0 itype=13
100186 icmp any any -> any any icode=>0 itype=13
100187 icmp any any -> any any icode=0 itype=30
100188 icmp any any -> any any icode=>0 itype=30
100189 icmp any any -> any any icode=0 itype=1
100190 icmp any any -> any any itype=1
100191 icmp any any -> any any icode=0 itype=2
100192 icmp any any -> any any itype=2
100193 icmp any any -> any any icode=0 itype=7
100194 icmp any any -> any any itype=7
100195 icmp any any -> any any icode=>0 itype=8
";

#[derive(Clone, Debug)]
struct Range {
    lo: u64,
    hi: u64,
    neg: bool,
}

impl Range {
    fn parse(v: &str, min: u64, max: u64) -> Option<Range> {
        let (neg, v) = match v.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, v),
        };
        let (lo, hi) = if v == "any" {
            (min, max)
        } else if let Some(r) = v.strip_prefix(">=") {
            (r.parse().ok()?, max)
        } else if let Some(r) = v.strip_prefix("<=") {
            (min, r.parse().ok()?)
        } else if let Some(r) = v.strip_prefix('>') {
            (r.parse::<u64>().ok()?.checked_add(1)?, max)
        } else if let Some(r) = v.strip_prefix('<') {
            (min, r.parse::<u64>().ok()?.checked_sub(1)?)
        } else if let Some((a, b)) = v.split_once(':') {
            (
                if a.is_empty() { min } else { a.parse().ok()? },
                if b.is_empty() { max } else { b.parse().ok()? },
            )
        } else {
            let n = v.parse().ok()?;
            (n, n)
        };
        Some(Range { lo, hi, neg })
    }

    fn contains(&self, v: u64) -> bool {
        ((self.lo..=self.hi).contains(&v)) != self.neg
    }
}

#[derive(Clone, Debug)]
enum Keyword {
    Flags(String),
    Int(&'static str, Range),
    SameIp,
    IpOpts,
}

/// One signature.
#[derive(Clone, Debug)]
pub struct Signature {
    /// psad's `psad_id`.
    pub psad_id: u32,
    proto: String,
    src: Option<Vec<Cidr>>,
    sport: Range,
    dst: Option<Vec<Cidr>>,
    dport: Range,
    bidir: bool,
    keywords: Vec<Keyword>,
}

fn nets(s: &str) -> Option<Option<Vec<Cidr>>> {
    if s == "any" {
        return Some(None);
    }
    s.split(',')
        .map(|n| {
            if n.contains('/') {
                n.parse().ok()
            } else {
                format!("{n}/32").parse().ok()
            }
        })
        .collect::<Option<Vec<Cidr>>>()
        .map(Some)
}

/// The signature table, parsed once.
pub fn signatures() -> &'static [Signature] {
    static TABLE: std::sync::OnceLock<Vec<Signature>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        SIGNATURES
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                if f.len() < 7 {
                    return None;
                }
                let mut keywords = Vec::new();
                for kv in &f[7..] {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    keywords.push(match k {
                        "flags" => Keyword::Flags(v.replace(',', " ")),
                        "sameip" => Keyword::SameIp,
                        "ipopts" => Keyword::IpOpts,
                        "dsize" | "psad_dsize" => {
                            Keyword::Int("dsize", Range::parse(v, 0, u64::MAX)?)
                        }
                        "ttl" => Keyword::Int("ttl", Range::parse(v, 0, 255)?),
                        "id" => Keyword::Int("id", Range::parse(v, 0, 65535)?),
                        "window" => Keyword::Int("window", Range::parse(v, 1, 65535)?),
                        "seq" => Keyword::Int("seq", Range::parse(v, 1, 4_294_967_296)?),
                        "itype" => Keyword::Int("itype", Range::parse(v, 0, 255)?),
                        "icode" => Keyword::Int("icode", Range::parse(v, 0, 255)?),
                        "icmp_id" => Keyword::Int("icmp_id", Range::parse(v, 0, 65535)?),
                        "icmp_seq" => Keyword::Int("icmp_seq", Range::parse(v, 0, 65535)?),
                        "psad_ip_len" => Keyword::Int("ip_len", Range::parse(v, 0, 65535)?),
                        _ => return None,
                    });
                }
                Some(Signature {
                    psad_id: f[0].parse().ok()?,
                    proto: f[1].to_string(),
                    src: nets(f[2])?,
                    sport: Range::parse(f[3], 1, 65535)?,
                    bidir: f[4] == "<>",
                    dst: nets(f[5])?,
                    dport: Range::parse(f[6], 1, 65535)?,
                    keywords,
                })
            })
            .collect()
    })
}

/// The kernel's TCP flag string for `bits`, as psad reads it from a LOG
/// line (`NULL` when no flag is set).
pub fn flag_string(bits: u8) -> String {
    const NAMES: [(u8, &str); 8] = [
        (0x80, "CWR"),
        (0x40, "ECE"),
        (0x20, "URG"),
        (0x10, "ACK"),
        (0x08, "PSH"),
        (0x04, "RST"),
        (0x02, "SYN"),
        (0x01, "FIN"),
    ];
    let s: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if s.is_empty() {
        "NULL".into()
    } else {
        s.join(" ")
    }
}

/// What psad reads of one packet, for signature matching.
struct Fields {
    proto: &'static str,
    sport: u64,
    dport: u64,
    flags: String,
    dsize: Option<u64>,
    ip_len: Option<u64>,
    ints: [(&'static str, Option<u64>); 7],
}

fn fields(p: &PacketView<'_>) -> Option<Fields> {
    let base = |proto, sport: u16, dport: u16, flags: String, dsize, ip_len| Fields {
        proto,
        sport: u64::from(sport),
        dport: u64::from(dport),
        flags,
        dsize,
        ip_len,
        ints: [
            ("ttl", Some(u64::from(p.ttl))),
            ("id", Some(u64::from(p.ident))),
            ("window", None),
            ("seq", None),
            ("itype", None),
            ("icode", None),
            ("icmp_id", None),
        ],
    };
    Some(match &p.transport {
        Transport::Tcp(t) => {
            let flags = flag_string(t.flags.0);
            let ip_len = 40 + t.payload.len() as u64;
            let header = if flags.contains("SYN") { 40 + 44 } else { 40 };
            let dsize = Some(ip_len.saturating_sub(header));
            let mut f = base("tcp", t.src_port, t.dst_port, flags, dsize, Some(ip_len));
            f.ints[2].1 = Some(u64::from(t.window));
            f.ints[3].1 = Some(u64::from(t.seq));
            f
        }
        Transport::Udp(u) => {
            let n = u.payload.len() as u64;
            base(
                "udp",
                u.src_port,
                u.dst_port,
                String::new(),
                Some(n),
                Some(28 + n),
            )
        }
        Transport::Icmp(i) => {
            let mut f = base("icmp", 0, 0, String::new(), None, None);
            f.ints[4].1 = Some(u64::from(i.icmp_type));
            f.ints[5].1 = Some(u64::from(i.code));
            f
        }
        _ => return None,
    })
}

fn in_nets(nets: &Option<Vec<Cidr>>, a: Ipv4Addr) -> bool {
    nets.as_ref()
        .is_none_or(|v| v.iter().any(|c| c.contains(a)))
}

impl Signature {
    fn matches(&self, p: &PacketView<'_>, f: &Fields) -> bool {
        if self.proto != "ip" && self.proto != f.proto {
            return false;
        }
        let ports_ok = |sp: u64, dp: u64| {
            self.proto == "ip"
                || f.proto == "icmp"
                || (self.sport.contains(sp) && self.dport.contains(dp))
        };
        let forward =
            in_nets(&self.src, p.src) && in_nets(&self.dst, p.dst) && ports_ok(f.sport, f.dport);
        let reverse = self.bidir
            && in_nets(&self.src, p.dst)
            && in_nets(&self.dst, p.src)
            && ports_ok(f.dport, f.sport);
        if !forward && !reverse {
            return false;
        }
        self.keywords.iter().all(|k| match k {
            Keyword::Flags(want) => f.proto == "tcp" && f.flags == *want,
            Keyword::SameIp => p.src == p.dst,
            Keyword::IpOpts => false,
            Keyword::Int("dsize", r) => f.dsize.is_some_and(|v| r.contains(v)),
            Keyword::Int("ip_len", r) => f.ip_len.is_some_and(|v| r.contains(v)),
            Keyword::Int(name, r) => f
                .ints
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| *v)
                .is_some_and(|v| r.contains(v)),
        })
    }
}

/// The `psad_id`s of the signatures packet `p` matches.
pub fn matching(p: &PacketView<'_>) -> Vec<u32> {
    let Some(f) = fields(p) else {
        return Vec::new();
    };
    signatures()
        .iter()
        .filter(|s| s.matches(p, &f))
        .map(|s| s.psad_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{S, ip, tcp};

    #[test]
    fn the_table_parses_completely() {
        assert_eq!(signatures().len(), SIGNATURES.lines().count());
    }

    #[test]
    fn port_and_flag_signatures_match_as_psad_does() {
        let m = |dport: u16, flags: u8| {
            let b = tcp(ip("203.0.113.5"), 40000, ip("198.51.100.10"), dport, flags);
            let v = PacketView::parse(0, &b).unwrap();
            matching(&v)
        };
        assert_eq!(
            m(3389, S),
            vec![100077],
            "MISC MS Terminal Server communication attempt"
        );
        assert_eq!(m(1723, S), vec![100082]);
        assert_eq!(m(5900, S), vec![100202]);
        assert!(m(80, S).is_empty());
        assert!(m(3389, 0x12).is_empty(), "flags must equal SYN");
        assert_eq!(m(22, 0x29), vec![100070], "URG PSH FIN");
        assert!(m(22, 0x00).is_empty(), "flags:0 never matches psad's NULL");
        assert_eq!(flag_string(0), "NULL");
    }
}
