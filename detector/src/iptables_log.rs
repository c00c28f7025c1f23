//! iptables `LOG` lines → raw IPv4 packets, so drop-log detectors (psad) read
//! the same [`PacketView`](crate::PacketView) as every other detector.
//!
//! Source: the Linux kernel's `LOG` target (`net/ipv4/netfilter/nf_log_ipv4.c`,
//! `dump_ipv4_packet`), as printed through syslog (rsyslog/syslog-ng, or ulogd's
//! `LOGEMU` output, which copies the same text):
//!
//! ```text
//! Nov 21 14:35:01 fw kernel: [12345.678901] DROP IN=eth0 OUT= MAC=00:11:.. SRC=192.0.2.1
//!   DST=198.51.100.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=80 DPT=8254
//!   WINDOW=0 RES=0x00 ACK SYN URGP=0
//! ```
//!
//! Layout rules the parser relies on (kernel `dump_ipv4_packet`): IP fields come
//! first (`SRC DST LEN TOS PREC TTL ID`, then `CE DF MF FRAG:n`, `OPT (..)`),
//! then `PROTO=`, then the transport fields. `ID=` and `LEN=` appear twice for
//! ICMP echo and UDP, so the line is split at the first `PROTO=`. An ICMP error
//! carries the quoted packet in `[ ... ]`, parsed with the same rules.
//!
//! | option | default | source |
//! |---|---|---|
//! | `search` | `DROP` | psad `FW_MSG_SEARCH` default (`psad.conf`): only lines whose log prefix contains it count |
//! | `year` | 1970 | syslog lines carry no year; the caller supplies it (December→January rolls it over) |
//! | `time` | [`TimeSource::Syslog`] | see below |
//!
//! # Timestamps
//! psad itself stamps a line with the time it *reads* it (it tails the log every
//! `CHECK_INTERVAL`), so the syslog timestamp is the closest replayable proxy,
//! and it is what [`TimeSource::Syslog`] uses (1 s resolution, UTC, no time
//! zone applied). RFC 3339 stamps (`2024-11-21T14:35:01.123456+01:00`, the
//! rsyslog high-precision format) are read too, with their offset. Lines
//! without any syslog stamp (plain `dmesg`) fall back to the kernel `[uptime]`.
//! [`TimeSource::KernelUptime`] uses the `[uptime]` field instead (µs
//! resolution, seconds since boot): better ordering inside one second, but
//! unrelated to the calendar.
//!
//! # Packets built
//! A 20-byte IPv4 header (no options) with the logged `SRC DST TOS TTL ID DF MF
//! FRAG`, then a 20-byte TCP header (logged ports, `SEQ`/`ACK` when the rule used
//! `--log-tcp-sequence`, otherwise 0, `WINDOW`, `URGP`, flags), an 8-byte UDP
//! header, or an 8-byte ICMP header (plus the quoted IPv4 header and 8 transport
//! bytes for errors). The packet is padded with zero bytes up to the logged
//! `LEN`, so payload length survives (contents do not: the log has none).
//! Checksums are filled in through `smoltcp::wire`.
//!
//! # Deviations from upstream
//! - IP options (`OPT (..)`) and TCP options are not reproduced; only lengths are.
//! - `RES=` (reserved TCP bits) is parsed but not written back.
//! - A line whose prefix lacks `search` is skipped, as psad skips it; a line
//!   without `IN=`/`SRC=` is not an iptables line and is skipped too.

use core::net::Ipv4Addr;

use scanbench_testkit::{Icmp, Ipv4, Tcp, Udp, proto};
use smoltcp::time::Instant;

/// A malformed iptables log line. Every variant names the 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// A field the packet needs is absent.
    #[error("line {line}: missing field {field}")]
    MissingField {
        /// 1-based line number.
        line: usize,
        /// The field name (`SRC`, `DPT`, ...).
        field: &'static str,
    },
    /// A field is present but its value does not parse.
    #[error("line {line}: bad value `{value}` for field {field}")]
    BadField {
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: String,
        /// The text found.
        value: String,
    },
    /// The timestamp at the start of the line does not parse.
    #[error("line {line}: bad timestamp `{text}`")]
    BadTimestamp {
        /// 1-based line number.
        line: usize,
        /// The text found.
        text: String,
    },
}

/// Which clock a record's [`LogRecord::at`] comes from (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// The syslog timestamp (falls back to the kernel uptime when a line has none).
    Syslog,
    /// The kernel `[seconds.micros]` uptime field (falls back to syslog when absent).
    KernelUptime,
}

/// Parser options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Only lines whose log prefix contains this text count (psad `FW_MSG_SEARCH`, default `DROP`).
    /// Empty accepts every iptables line.
    pub search: String,
    /// Year of the first line (syslog stamps have none).
    pub year: i32,
    /// Which timestamp to use.
    pub time: TimeSource,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            search: "DROP".to_string(),
            year: 1970,
            time: TimeSource::Syslog,
        }
    }
}

/// One accepted log line, as a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// 1-based line number in the input.
    pub line: usize,
    /// Time stamp chosen by [`TimeSource`].
    pub at: Instant,
    /// The log prefix (text between the syslog header and `IN=`), trimmed.
    pub prefix: String,
    /// Raw IPv4 bytes with valid checksums.
    pub packet: Vec<u8>,
}

/// Lines [`LogParser::parse_line`] skipped without an error, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines without `IN=` (not iptables `LOG` output: other syslog traffic).
    pub not_iptables: u64,
    /// iptables lines whose log prefix lacks the search text (psad skips them too).
    pub no_search_text: u64,
}

/// Streaming parser: keeps the year across lines (rolls over on December → January).
#[derive(Clone, Debug)]
pub struct LogParser {
    opts: LogOptions,
    year: i32,
    last_month: Option<u32>,
    skipped: Skipped,
}

/// Parses a whole log text; lines that are not matching iptables lines are skipped.
///
/// # Errors
/// The first malformed iptables line, with its line number.
pub fn parse_log(text: &str, opts: &LogOptions) -> Result<Vec<LogRecord>, LogError> {
    let mut p = LogParser::new(opts.clone());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(r) = p.parse_line(i + 1, line)? {
            out.push(r);
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl LogParser {
    /// A parser starting in `opts.year`.
    pub fn new(opts: LogOptions) -> Self {
        let year = opts.year;
        LogParser {
            opts,
            year,
            last_month: None,
            skipped: Skipped::default(),
        }
    }

    /// Lines skipped so far, by reason.
    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    /// The options the parser was made with.
    pub fn options(&self) -> &LogOptions {
        &self.opts
    }

    /// Parses one line. `Ok(None)` for lines that are not iptables lines or
    /// whose prefix lacks the search text.
    ///
    /// # Errors
    /// A malformed timestamp or field, naming `line_no` and the field.
    pub fn parse_line(
        &mut self,
        line_no: usize,
        line: &str,
    ) -> Result<Option<LogRecord>, LogError> {
        let Some(in_at) = find_token(line, "IN=") else {
            self.skipped.not_iptables += 1;
            return Ok(None);
        };
        let head = &line[..in_at];
        let body = &line[in_at..];
        // Syslog header, optional kernel uptime, then the prefix.
        let (syslog_us, rest) = self.parse_syslog_stamp(line_no, head)?;
        let (uptime_us, prefix) = parse_uptime(line_no, rest)?;
        let prefix = prefix.trim().to_string();
        if !self.opts.search.is_empty() && !prefix.contains(self.opts.search.as_str()) {
            self.skipped.no_search_text += 1;
            return Ok(None);
        }
        let at_us = match self.opts.time {
            TimeSource::Syslog => syslog_us.or(uptime_us),
            TimeSource::KernelUptime => uptime_us.or(syslog_us),
        }
        .unwrap_or(0);
        let fields = Fields::parse(line_no, body)?;
        let packet = build_packet(line_no, &fields)?;
        Ok(Some(LogRecord {
            line: line_no,
            at: Instant::from_micros(at_us),
            prefix,
            packet,
        }))
    }

    /// Returns (µs since the Unix epoch, the rest of `head`).
    fn parse_syslog_stamp<'a>(
        &mut self,
        line_no: usize,
        head: &'a str,
    ) -> Result<(Option<i64>, &'a str), LogError> {
        let trimmed = head.trim_start();
        let bad = |t: &str| LogError::BadTimestamp {
            line: line_no,
            text: t.to_string(),
        };
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if let Some(m) = MONTHS.iter().position(|m| *m == first) {
            // `Nov 21 14:35:01 host kernel: ...`
            let mut parts = trimmed[3..].trim_start().splitn(3, ' ');
            let day_s = parts.next().unwrap_or("");
            let time_s = parts.next().unwrap_or("");
            let rest = parts.next().unwrap_or("");
            let day: u32 = day_s.parse().map_err(|_| bad(first))?;
            let (h, mi, s) = parse_hms(time_s).ok_or_else(|| bad(time_s))?;
            let month = m as u32 + 1;
            if self.last_month.is_some_and(|prev| month < prev) {
                // December -> January; a year past i32 is no calendar date.
                self.year = self.year.checked_add(1).ok_or_else(|| bad(first))?;
            }
            self.last_month = Some(month);
            if !(1..=31).contains(&day) {
                return Err(bad(day_s));
            }
            let days = days_from_civil(i64::from(self.year), month, day);
            let us = micros_since_epoch(days, (h, mi, s), 0, 0).ok_or_else(|| bad(first))?;
            // Skip `host kernel:` (everything up to the first `: `), if present.
            let rest = rest.split_once(": ").map(|(_, r)| r).unwrap_or(rest);
            return Ok((Some(us), rest));
        }
        if first.len() >= 19 && first.as_bytes().get(4) == Some(&b'-') && first.contains('T') {
            let us = parse_rfc3339(first).ok_or_else(|| bad(first))?;
            let rest = &trimmed[first.len()..];
            let rest = rest.split_once(": ").map(|(_, r)| r).unwrap_or(rest);
            return Ok((Some(us), rest));
        }
        Ok((None, trimmed))
    }
}

/// Position of `tok` at a token start (start of line or after a space).
fn find_token(line: &str, tok: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(tok) {
        let at = from + i;
        if at == 0 || line.as_bytes()[at - 1] == b' ' {
            return Some(at);
        }
        from = at + tok.len();
    }
    None
}

fn parse_hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let sec: u32 = it.next()?.parse().ok()?;
    (it.next().is_none() && h < 24 && m < 60 && sec < 61).then_some((h, m, sec))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → µs since the epoch.
///
/// As RFC 3339 §5.6 defines it: a four-digit year, an offset of at most
/// 23:59. Anything else is not a timestamp (and cannot overflow).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let y = d.next()?;
    if y.len() != 4 {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (clock, offset_s) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let oh: i64 = oh.parse().ok().filter(|h| (0..24).contains(h))?;
        let om: i64 = om.parse().ok().filter(|m| (0..60).contains(m))?;
        (c, sign * (oh * 3600 + om * 60))
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let (h, mi, sec) = parse_hms(hms)?;
    let mut us: i64 = 0;
    for (i, ch) in frac.chars().take(6).enumerate() {
        us += i64::from(ch.to_digit(10)?) * 10i64.pow(5 - i as u32);
    }
    micros_since_epoch(days_from_civil(y, mo, da), (h, mi, sec), offset_s, us)
}

/// `days` + `hms` − `offset_s` seconds + `frac_us`, as µs since the epoch;
/// `None` past the range of `i64` microseconds (±292,000 years).
fn micros_since_epoch(days: i64, hms: (u32, u32, u32), offset_s: i64, frac_us: i64) -> Option<i64> {
    let (h, m, s) = hms;
    let secs = days
        .checked_mul(86_400)?
        .checked_add(i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s))?
        .checked_sub(offset_s)?;
    secs.checked_mul(1_000_000)?.checked_add(frac_us)
}

/// Returns (uptime µs, the text after the `[uptime]` field).
fn parse_uptime(line_no: usize, s: &str) -> Result<(Option<i64>, &str), LogError> {
    let t = s.trim_start();
    let Some(inner) = t.strip_prefix('[') else {
        return Ok((None, s));
    };
    let Some((num, rest)) = inner.split_once(']') else {
        return Ok((None, s));
    };
    let num = num.trim();
    // A bracketed prefix such as `[UFW BLOCK]` is not an uptime.
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok((None, s));
    }
    let bad = || LogError::BadField {
        line: line_no,
        field: "uptime".to_string(),
        value: num.to_string(),
    };
    let (secs, frac) = num.split_once('.').unwrap_or((num, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let mut us: i64 = 0;
    for (i, ch) in frac.chars().take(6).enumerate() {
        us += i64::from(ch.to_digit(10).ok_or_else(bad)?) * 10i64.pow(5 - i as u32);
    }
    let total = secs
        .checked_mul(1_000_000)
        .and_then(|v| v.checked_add(us))
        .ok_or_else(bad)?;
    Ok((Some(total), rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The fields of one `IN=...` body (or of a quoted `[SRC=...]` block).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Fields {
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    len: Option<u16>,
    tos: u8,
    ttl: u8,
    ident: u16,
    df: bool,
    mf: bool,
    frag: u16,
    proto: Option<String>,
    sport: Option<u16>,
    dport: Option<u16>,
    seq: Option<u32>,
    ack_no: Option<u32>,
    window: u16,
    urgp: u16,
    tcp_flags: u8,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: u16,
    icmp_seq: u16,
    quoted: Option<Box<Fields>>,
}

impl Fields {
    fn parse(line: usize, body: &str) -> Result<Fields, LogError> {
        let mut f = Fields::default();
        let mut after_proto = false;
        let mut rest = body;
        while let Some(tok) = next_token(&mut rest) {
            if tok.starts_with('[') {
                // A quoted packet (ICMP error) or `INCOMPLETE [n bytes]`.
                let inner = tok.trim_start_matches('[').trim_end_matches(']');
                if inner.contains("SRC=") {
                    f.quoted = Some(Box::new(Fields::parse(line, inner)?));
                }
                continue;
            }
            if tok.starts_with('(') {
                continue; // `OPT (...)` contents
            }
            let (key, val) = tok.split_once('=').unwrap_or((tok, ""));
            let has_val = tok.contains('=');
            if !after_proto {
                match key {
                    "SRC" => f.src = Some(ip(line, "SRC", val)?),
                    "DST" => f.dst = Some(ip(line, "DST", val)?),
                    "LEN" => f.len = Some(num(line, "LEN", val)?),
                    "TOS" => f.tos = hex8(line, "TOS", val)?,
                    "TTL" => f.ttl = num(line, "TTL", val)?,
                    "ID" => f.ident = num(line, "ID", val)?,
                    "DF" if !has_val => f.df = true,
                    "MF" if !has_val => f.mf = true,
                    "PROTO" => {
                        f.proto = Some(val.to_string());
                        after_proto = true;
                    }
                    _ if key.starts_with("FRAG:") => {
                        f.frag = num(line, "FRAG", &key[5..])?;
                    }
                    _ => {}
                }
                continue;
            }
            match (key, has_val) {
                ("SPT", true) => f.sport = Some(num(line, "SPT", val)?),
                ("DPT", true) => f.dport = Some(num(line, "DPT", val)?),
                ("SEQ", true) => f.seq = Some(num(line, "SEQ", val)?),
                ("ACK", true) => f.ack_no = Some(num(line, "ACK", val)?),
                ("WINDOW", true) => f.window = num(line, "WINDOW", val)?,
                ("URGP", true) => f.urgp = num(line, "URGP", val)?,
                ("TYPE", true) => f.icmp_type = Some(num(line, "TYPE", val)?),
                ("CODE", true) => f.icmp_code = Some(num(line, "CODE", val)?),
                ("ID", true) => f.icmp_id = num(line, "ID", val)?,
                ("SEQ", false) => {}
                ("CWR", false) => f.tcp_flags |= 0x80,
                ("ECE", false) => f.tcp_flags |= 0x40,
                ("URG", false) => f.tcp_flags |= 0x20,
                ("ACK", false) => f.tcp_flags |= 0x10,
                ("PSH", false) => f.tcp_flags |= 0x08,
                ("RST", false) => f.tcp_flags |= 0x04,
                ("SYN", false) => f.tcp_flags |= 0x02,
                ("FIN", false) => f.tcp_flags |= 0x01,
                _ => {}
            }
            if key == "SEQ" && has_val && f.proto.as_deref() == Some("ICMP") {
                f.icmp_seq = num(line, "SEQ", val)?;
            }
        }
        Ok(f)
    }
}

/// Next whitespace-separated token; a `[` or `(` group is one token up to its matching close.
fn next_token<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let s = rest.trim_start();
    if s.is_empty() {
        *rest = s;
        return None;
    }
    let (open, close) = match s.as_bytes()[0] {
        b'[' => (b'[', b']'),
        b'(' => (b'(', b')'),
        _ => {
            let end = s.find(' ').unwrap_or(s.len());
            *rest = &s[end..];
            return Some(&s[..end]);
        }
    };
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                *rest = &s[i + 1..];
                return Some(&s[..=i]);
            }
        }
    }
    *rest = "";
    Some(s)
}

fn bad(line: usize, field: &str, value: &str) -> LogError {
    LogError::BadField {
        line,
        field: field.to_string(),
        value: value.to_string(),
    }
}

fn ip(line: usize, field: &str, v: &str) -> Result<Ipv4Addr, LogError> {
    v.parse().map_err(|_| bad(line, field, v))
}

fn num<T: core::str::FromStr>(line: usize, field: &str, v: &str) -> Result<T, LogError> {
    v.parse().map_err(|_| bad(line, field, v))
}

fn hex8(line: usize, field: &str, v: &str) -> Result<u8, LogError> {
    let h = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    u8::from_str_radix(h, 16).map_err(|_| bad(line, field, v))
}

fn proto_number(line: usize, p: &str) -> Result<u8, LogError> {
    Ok(match p {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        "UDPLITE" => 136,
        "SCTP" => 132,
        other => num(line, "PROTO", other)?,
    })
}

/// The transport header a log line describes.
enum Header {
    Tcp(Tcp<'static>),
    /// UDP, or UDP-Lite (which reuses UDP's port layout).
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// Type, code, identifier/sequence bytes, and the quoted packet of an error.
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
        quoted: Vec<u8>,
    },
    /// Any other protocol: the log shows no header.
    None,
}

impl Header {
    fn len(&self) -> usize {
        match self {
            Header::Tcp(t) => t.header_len(),
            Header::Udp { .. } => 8,
            Header::Icmp { quoted, .. } => 8 + quoted.len(),
            Header::None => 0,
        }
    }

    /// The header's bytes with checksum 0 (for an ICMP error's quote).
    fn bytes(&self) -> Vec<u8> {
        match self {
            Header::Tcp(t) => t.segment(),
            Header::Udp { src_port, dst_port } => Udp {
                src_port: *src_port,
                dst_port: *dst_port,
                payload: &[],
            }
            .header()
            .to_vec(),
            Header::Icmp {
                ty,
                code,
                rest,
                quoted,
            } => {
                let mut b = vec![*ty, *code, 0, 0];
                b.extend_from_slice(rest);
                b.extend_from_slice(quoted);
                b
            }
            Header::None => Vec::new(),
        }
    }

    /// The whole packet of `total` bytes: header, zero payload (the log
    /// shows none), checksums filled for TCP, UDP and ICMP.
    fn packet(&self, ip: &Ipv4, protocol: u8, total: usize) -> Vec<u8> {
        let payload = vec![0u8; total.saturating_sub(20 + self.len())];
        match self {
            Header::Tcp(t) => Tcp {
                payload: &payload,
                ..*t
            }
            .packet(ip),
            Header::Udp { src_port, dst_port } if protocol == proto::UDP => Udp {
                src_port: *src_port,
                dst_port: *dst_port,
                payload: &payload,
            }
            .packet(ip),
            Header::Icmp {
                ty,
                code,
                rest,
                quoted,
            } => Icmp {
                icmp_type: *ty,
                code: *code,
                rest: *rest,
                body: &[quoted.as_slice(), &payload].concat(),
            }
            .packet(ip),
            // UDP-Lite keeps its 8-byte length and no checksum; others have no header.
            _ => ip.packet(protocol, &[self.bytes(), payload].concat()),
        }
    }
}

/// The transport header `f` describes.
fn transport_header(line: usize, f: &Fields, protocol: u8) -> Result<Header, LogError> {
    let need =
        |o: Option<u16>, field: &'static str| o.ok_or(LogError::MissingField { line, field });
    Ok(match protocol {
        6 => Header::Tcp(Tcp {
            src_port: need(f.sport, "SPT")?,
            dst_port: need(f.dport, "DPT")?,
            seq: f.seq.unwrap_or(0),
            ack: f.ack_no.unwrap_or(0),
            flags: f.tcp_flags,
            window: f.window,
            urgent: f.urgp,
            ..Tcp::default()
        }),
        17 | 136 => Header::Udp {
            src_port: need(f.sport, "SPT")?,
            dst_port: need(f.dport, "DPT")?,
        },
        1 => {
            let ty = f.icmp_type.ok_or(LogError::MissingField {
                line,
                field: "TYPE",
            })?;
            let mut rest = [0u8; 4];
            if matches!(ty, 0 | 8 | 13 | 14) {
                rest[0..2].copy_from_slice(&f.icmp_id.to_be_bytes());
                rest[2..4].copy_from_slice(&f.icmp_seq.to_be_bytes());
            }
            let quoted = match &f.quoted {
                Some(q) => quoted_bytes(line, q)?,
                None => Vec::new(),
            };
            Header::Icmp {
                ty,
                code: f.icmp_code.unwrap_or(0),
                rest,
                quoted,
            }
        }
        _ => Header::None,
    })
}

/// The quoted packet of an ICMP error: IPv4 header plus the first 8 transport bytes.
fn quoted_bytes(line: usize, q: &Fields) -> Result<Vec<u8>, LogError> {
    let protocol = proto_number(line, q.proto.as_deref().unwrap_or("0"))?;
    let mut th = transport_header(line, q, protocol)
        .map(|h| h.bytes())
        .unwrap_or_default();
    th.truncate(8);
    let total = q.len.unwrap_or(20 + th.len() as u16);
    let mut b = ip_header(line, q)?.header(protocol, total).to_vec();
    b.extend_from_slice(&th);
    Ok(b)
}

/// The IPv4 header fields of `f` (source and destination are required).
fn ip_header(line: usize, f: &Fields) -> Result<Ipv4, LogError> {
    Ok(Ipv4 {
        src: f.src.ok_or(LogError::MissingField { line, field: "SRC" })?,
        dst: f.dst.ok_or(LogError::MissingField { line, field: "DST" })?,
        ttl: f.ttl,
        tos: f.tos,
        ident: f.ident,
        dont_frag: f.df,
        more_frags: f.mf,
        frag_offset: f.frag.saturating_mul(8),
    })
}

/// The packet a log line describes, through the shared packet builder.
fn build_packet(line: usize, f: &Fields) -> Result<Vec<u8>, LogError> {
    let proto_s = f.proto.as_deref().ok_or(LogError::MissingField {
        line,
        field: "PROTO",
    })?;
    let protocol = proto_number(line, proto_s)?;
    // A non-first fragment has no transport header in the log.
    let th = if f.frag != 0 {
        Header::None
    } else {
        transport_header(line, f, protocol)?
    };
    let min = 20 + th.len();
    let total = usize::from(f.len.unwrap_or(min as u16))
        .max(min)
        .min(65_535);
    let ip = ip_header(line, f)?;
    Ok(th.packet(&ip, protocol, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PacketView;
    use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket};

    const LINE: &str = "Nov 21 14:35:01 fw kernel: [12345.678901] DROP IN=eth0 OUT= \
        MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=40 \
        TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=80 DPT=8254 WINDOW=0 RES=0x00 ACK SYN URGP=0";

    fn opts(year: i32) -> LogOptions {
        LogOptions {
            year,
            ..LogOptions::default()
        }
    }

    #[test]
    fn tcp_line_round_trips_fields_and_checksums() {
        let r = parse_log(LINE, &opts(2024)).unwrap();
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.prefix, "DROP");
        let secs = days_from_civil(2024, 11, 21) * 86_400 + 14 * 3600 + 35 * 60 + 1;
        assert_eq!(r.at, Instant::from_micros(secs * 1_000_000));
        let v = PacketView::parse(0, &r.packet).unwrap();
        assert_eq!(v.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(v.dst, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(v.ttl, 64);
        let t = v.tcp().unwrap();
        assert_eq!((t.src_port, t.dst_port), (80, 8254));
        assert!(t.flags.is_syn_ack());
        let ip = Ipv4Packet::new_checked(&r.packet[..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(
            &IpAddress::Ipv4(ip.src_addr()),
            &IpAddress::Ipv4(ip.dst_addr())
        ));
        assert_eq!(r.packet.len(), 40);
    }

    #[test]
    fn uptime_time_source_and_plain_dmesg() {
        let o = LogOptions {
            time: TimeSource::KernelUptime,
            ..opts(2024)
        };
        let r = parse_log(LINE, &o).unwrap();
        assert_eq!(r[0].at, Instant::from_micros(12_345_678_901_i64));
        let dmesg = "[  17.5] DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=1 ID=9 PROTO=UDP SPT=1 DPT=2 LEN=8";
        let r = parse_log(dmesg, &opts(2024)).unwrap();
        assert_eq!(r[0].at, Instant::from_micros(17_500_000));
        let v = PacketView::parse(0, &r[0].packet).unwrap();
        assert_eq!(v.udp().unwrap().dst_port, 2);
    }

    #[test]
    fn search_string_filters_and_year_rolls_over() {
        let text = format!(
            "{}\n{}\nDec 31 23:59:59 fw kernel: ACCEPT IN=eth0 SRC=1.1.1.1 DST=2.2.2.2 LEN=40 TTL=1 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=0 SYN URGP=0\n\
             Jan  1 00:00:01 fw kernel: DROP IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=40 TOS=0x10 PREC=0x00 TTL=1 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=0 RES=0x00 RST URGP=0",
            "some unrelated syslog line",
            LINE.replace("Nov 21", "Dec 31"),
        );
        let r = parse_log(&text, &opts(2023)).unwrap();
        assert_eq!(r.len(), 2, "ACCEPT line and non-iptables line skipped");
        assert_eq!(r[1].line, 4);
        let jan1 = days_from_civil(2024, 1, 1) * 86_400 + 1;
        assert_eq!(r[1].at, Instant::from_micros(jan1 * 1_000_000));
        assert_eq!(PacketView::parse(0, &r[1].packet).unwrap().tos, 0x10);
        let mut p = LogParser::new(opts(2023));
        for (i, l) in text.lines().enumerate() {
            p.parse_line(i + 1, l).unwrap();
        }
        assert_eq!(
            p.skipped(),
            &Skipped {
                not_iptables: 1,
                no_search_text: 1
            }
        );
    }

    #[test]
    fn bad_line_names_line_number_and_field() {
        let text = format!("{LINE}\n{}", LINE.replace("DPT=8254", "DPT=99999"));
        let err = parse_log(&text, &opts(2024)).unwrap_err();
        assert_eq!(
            err,
            LogError::BadField {
                line: 2,
                field: "DPT".into(),
                value: "99999".into()
            }
        );
        assert_eq!(err.to_string(), "line 2: bad value `99999` for field DPT");
        let err = parse_log(&LINE.replace("SRC=192.0.2.1 ", ""), &opts(2024)).unwrap_err();
        assert_eq!(
            err,
            LogError::MissingField {
                line: 1,
                field: "SRC"
            }
        );
        let err = parse_log(&LINE.replace("14:35:01", "14:99:01"), &opts(2024)).unwrap_err();
        assert!(matches!(err, LogError::BadTimestamp { line: 1, .. }));
    }

    #[test]
    fn icmp_error_quotes_inner_packet_and_echo_keeps_id() {
        let unreach = "Nov 21 14:35:01 fw kernel: DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=68 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.0.2 DST=10.0.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=7 PROTO=TCP SPT=40000 DPT=81 WINDOW=1024 RES=0x00 SYN URGP=0 ]";
        let r = parse_log(unreach, &opts(2024)).unwrap();
        let v = PacketView::parse(0, &r[0].packet).unwrap();
        let q = v.icmp().unwrap().quoted.unwrap();
        assert_eq!(q.dst_port, Some(81));
        assert_eq!(q.src, Ipv4Addr::new(10, 0, 0, 2));
        let echo = "2024-11-21T14:35:01.250000+01:00 fw kernel: DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=5 DF PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ=3";
        let r = parse_log(echo, &opts(2024)).unwrap();
        let secs = days_from_civil(2024, 11, 21) * 86_400 + 13 * 3600 + 35 * 60 + 1;
        assert_eq!(r[0].at, Instant::from_micros(secs * 1_000_000 + 250_000));
        assert_eq!(&r[0].packet[24..28], &[0, 77, 0, 3]);
        assert_eq!(PacketView::parse(0, &r[0].packet).unwrap().ident, 5);
    }

    #[test]
    fn civil_round_trip() {
        for d in [-1000i64, 0, 59, 365, 11_016, 19_723, 100_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
