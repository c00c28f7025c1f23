//! Alert parsers for the formats real detectors write.
//!
//! Each parser turns a tool's output into [`ExtAlert`]s: the blamed source,
//! the victim and port when the line names them, the time when the line
//! carries one (as capture time: microseconds since the epoch, which is the
//! bench's virtual time 0), and the original line. Lines that are not alerts
//! (start-up chatter, other daemons' messages, comments) are skipped; a line
//! that starts like an alert but cannot be read is an error naming its line.
//!
//! | format | written by | what is read |
//! |---|---|---|
//! | `scanlogd` | scanlogd 2.2 syslog (`scanlogd.c` `do_log`) | `A[:sport] to B[ and others,] ports ...` |
//! | `portsentry` | PortSentry 1.2 syslog (`portsentry.c`), and 2.x `Scan from: [A]` | source, port |
//! | `psad-syslog` | psad 2.4 `scan_logr` syslog line | `scan detected ...: A -> B ... DL: n` |
//! | `psad-report` | psad 2.4 `-A` report (`print_scan_status`) | `SRC:  A, DL: n, ...` and its `DST:` lines |
//! | `snort-fast` | Snort 2/3 `alert_fast` | `MM/DD[/YY]-HH:MM:SS.us [**] ... {PROTO} A[:p] -> B[:p]` |
//! | `snort-csv` | Snort 3 `alert_csv` default fields, or Snort 2 `alert_csv` default fields | timestamp, source, destination |
//! | `snort-json` | Snort 3 `alert_json` | `timestamp`, `src_ap`/`src_addr`, `dst_ap`/`dst_addr` |
//! | `zeek-notice` | Zeek `notice.log`, TSV with `#fields` or JSON lines | `ts`, `src` (else `id.orig_h`), `dst` (else `id.resp_h`), `p` |
//! | `suricata-eve` | Suricata `eve.json` | `event_type: alert`, `timestamp`, `src_ip`, `dest_ip`, `dest_port` |

use std::net::Ipv4Addr;

use serde::Deserialize;

use super::clock::{epoch_micros, parse_epoch_seconds, parse_hms};

/// One alert as the external tool reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtAlert {
    /// The address the tool blames.
    pub src: Ipv4Addr,
    /// The victim, when the line names one.
    pub dst: Option<Ipv4Addr>,
    /// The destination port, when the line names exactly one.
    pub port: Option<u16>,
    /// Capture time (µs since the epoch) the line carries, if any.
    pub at_us: Option<i64>,
    /// psad's danger level, for psad formats.
    pub danger_level: Option<u8>,
    /// The line as written (psad's report: the `SRC:` and `DST:` lines).
    pub line: String,
}

/// An output line that looks like an alert but cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number in the tool's output.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The output formats the bench reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// scanlogd syslog lines.
    Scanlogd,
    /// PortSentry syslog lines (1.2 `attackalert:` and 2.x `Scan from:`).
    Portsentry,
    /// psad `scan detected` syslog lines.
    PsadSyslog,
    /// psad `-A` analysis report.
    PsadReport,
    /// Snort `alert_fast`.
    SnortFast,
    /// Snort `alert_csv`.
    SnortCsv,
    /// Snort 3 `alert_json`.
    SnortJson,
    /// Zeek `notice.log` (TSV with `#fields`, or JSON lines).
    ZeekNotice,
    /// Suricata `eve.json`.
    SuricataEve,
}

impl Format {
    /// Every format, with its TOML name.
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("scanlogd", Format::Scanlogd),
        ("portsentry", Format::Portsentry),
        ("psad-syslog", Format::PsadSyslog),
        ("psad-report", Format::PsadReport),
        ("snort-fast", Format::SnortFast),
        ("snort-csv", Format::SnortCsv),
        ("snort-json", Format::SnortJson),
        ("zeek-notice", Format::ZeekNotice),
        ("suricata-eve", Format::SuricataEve),
    ];

    /// The TOML name.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Parses `text` written in `format`. `year` completes dates printed
/// without one (Snort's `alert_fast` without `-y`; the bench's captures
/// start in 1970).
///
/// # Errors
/// A line that starts like an alert but cannot be read, naming the line.
pub fn parse(format: Format, text: &str, year: i64) -> Result<Vec<ExtAlert>, ParseError> {
    let mut out = Vec::new();
    match format {
        Format::PsadReport => return psad_report(text),
        Format::ZeekNotice if !text.trim_start().starts_with('{') => return zeek_tsv(text),
        _ => {}
    }
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        let parsed = match format {
            Format::Scanlogd => scanlogd(line).map_err(err)?,
            Format::Portsentry => portsentry(line).map_err(err)?,
            Format::PsadSyslog => psad_syslog(line).map_err(err)?,
            Format::SnortFast => snort_fast(line, year).map_err(err)?,
            Format::SnortCsv => snort_csv(line, year).map_err(err)?,
            Format::SnortJson => snort_json(line, year).map_err(err)?,
            Format::ZeekNotice => zeek_json(line).map_err(err)?,
            Format::SuricataEve => suricata_eve(line).map_err(err)?,
            Format::PsadReport => None,
        };
        out.extend(parsed);
    }
    Ok(out)
}

/// The message part of a syslog line: after `ident[pid]: ` if `ident`
/// appears, else the whole line. Works on raw `/dev/log` datagrams
/// (`<38>Jan  1 00:00:05 scanlogd: ...`) and on log-file lines.
fn syslog_message<'a>(line: &'a str, ident: &str) -> &'a str {
    let mut from = 0;
    while let Some(pos) = line[from..].find(ident) {
        let at = from + pos;
        let rest = &line[at + ident.len()..];
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']').map_or(r, |(_, r)| r),
            None => rest,
        };
        if let Some(msg) = rest.strip_prefix(": ") {
            return msg;
        }
        from = at + ident.len();
    }
    line
}

fn ip(s: &str, what: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("bad {what} address `{}`", s.trim()))
}

/// `A[:p]` into the address (and port).
fn addr_port(s: &str, what: &str) -> Result<(Ipv4Addr, Option<u16>), String> {
    match s.trim().rsplit_once(':') {
        Some((a, p)) => Ok((
            ip(a, what)?,
            Some(p.parse().map_err(|_| format!("bad {what} port `{p}`"))?),
        )),
        None => Ok((ip(s, what)?, None)),
    }
}

/// scanlogd 2.2 `do_log`: `saddr[:sport] to daddr[ and others,] ports p1,
/// p2, ..., flags[, TOS xx][, TTL n] @HH:MM:SS`.
fn scanlogd(line: &str) -> Result<Option<ExtAlert>, String> {
    let msg = syslog_message(line, "scanlogd");
    let Some((src, rest)) = msg.split_once(" to ") else {
        return Ok(None);
    };
    let Some((dst, rest)) = rest.split_once(' ') else {
        return Ok(None);
    };
    if !rest.contains("ports ") && !rest.starts_with("and others") {
        return Ok(None);
    }
    let (src, _) = addr_port(src.rsplit(' ').next().unwrap_or(src), "source")?;
    let dst = ip(dst.trim_end_matches(','), "destination")?;
    let ports: Vec<u16> = rest
        .split_once("ports ")
        .map(|(_, p)| p.split(", ").map_while(|x| x.parse::<u16>().ok()).collect())
        .unwrap_or_default();
    Ok(Some(ExtAlert {
        src,
        dst: Some(dst),
        port: (ports.len() == 1).then(|| ports[0]),
        at_us: None,
        danger_level: None,
        line: msg.to_string(),
    }))
}

/// PortSentry 1.2: `attackalert: <type> from host: NAME/A to TCP port: N`
/// (UDP: `UDP scan from host: ... to UDP port: N`); 2.x: `Scan from: [A]
/// (name) protocol: [TCP] port: [N] ...`. Other `attackalert:` lines
/// (already blocked, IP options, errors) are not alerts.
fn portsentry(line: &str) -> Result<Option<ExtAlert>, String> {
    let msg = syslog_message(line, "portsentry");
    if let Some(rest) = msg.strip_prefix("Scan from: [") {
        let (src, rest) = rest.split_once(']').ok_or("unterminated `Scan from: [`")?;
        let port = rest
            .split_once("port: [")
            .and_then(|(_, p)| p.split_once(']'))
            .map(|(p, _)| p.parse::<u16>().map_err(|_| format!("bad port `{p}`")))
            .transpose()?;
        return Ok(Some(ExtAlert {
            src: ip(src, "source")?,
            dst: None,
            port,
            at_us: None,
            danger_level: None,
            line: msg.to_string(),
        }));
    }
    let Some(body) = msg.strip_prefix("attackalert:") else {
        return Ok(None);
    };
    let Some((_, rest)) = body.split_once(" from host: ") else {
        return Ok(None);
    };
    if body.trim_start().starts_with("Packet from host") {
        return Ok(None);
    }
    let (host, rest) = rest
        .split_once(" to ")
        .ok_or("`from host:` without ` to `")?;
    let addr = host.rsplit('/').next().unwrap_or(host);
    let port = rest
        .rsplit_once("port: ")
        .map(|(_, p)| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("bad port `{}`", p.trim()))
        })
        .transpose()?;
    Ok(Some(ExtAlert {
        src: ip(addr, "source")?,
        dst: None,
        port,
        at_us: None,
        danger_level: None,
        line: msg.to_string(),
    }))
}

/// psad 2.4 `scan_logr`: `scan detected[ (style)]: A -> B [tcp: [..] ...] DL: n[ total scan dsts: m]`.
fn psad_syslog(line: &str) -> Result<Option<ExtAlert>, String> {
    let msg = syslog_message(line, "psad");
    let Some(rest) = msg.strip_prefix("scan detected") else {
        return Ok(None);
    };
    // The scan-style text may itself contain ':' ("Nmap -sT or -sS scan"),
    // so the address part starts after the last "): " or the first ": ".
    let addrs = match rest.strip_prefix(" (") {
        Some(r) => r.split_once("): ").map(|(_, a)| a),
        None => rest.strip_prefix(": "),
    }
    .ok_or("`scan detected` without addresses")?;
    let (src, rest) = addrs.split_once(" -> ").ok_or("no ` -> `")?;
    let dst = rest.split(' ').next().unwrap_or(rest);
    let dl = rest
        .split_once("DL: ")
        .map(|(_, d)| d.split(' ').next().unwrap_or(d))
        .map(|d| d.parse::<u8>().map_err(|_| format!("bad DL `{d}`")))
        .transpose()?;
    let port = rest
        .split_once(": [")
        .and_then(|(_, r)| r.split_once(']'))
        .and_then(|(p, _)| p.parse::<u16>().ok());
    Ok(Some(ExtAlert {
        src: ip(src, "source")?,
        dst: Some(ip(dst, "destination")?),
        port,
        at_us: None,
        danger_level: dl,
        line: msg.to_string(),
    }))
}

/// psad 2.4 `-A` report (`print_scan_status`): one alert per `DST:` line
/// under each `SRC:  A, DL: n, ...` line (or one per source without `DST:` lines).
fn psad_report(text: &str) -> Result<Vec<ExtAlert>, ParseError> {
    let mut out = Vec::new();
    let mut current: Option<(Ipv4Addr, u8, String, usize)> = None;
    let flush = |cur: &Option<(Ipv4Addr, u8, String, usize)>, out: &mut Vec<ExtAlert>| {
        if let Some((src, dl, line, dsts)) = cur
            && *dsts == 0
        {
            out.push(ExtAlert {
                src: *src,
                dst: None,
                port: None,
                at_us: None,
                danger_level: Some(*dl),
                line: line.clone(),
            });
        }
    };
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("SRC:") {
            flush(&current, &mut out);
            let mut parts = rest.split(',');
            let src = ip(parts.next().unwrap_or(""), "source").map_err(err)?;
            let dl = parts
                .find_map(|p| p.trim().strip_prefix("DL: "))
                .ok_or_else(|| err("`SRC:` line without `DL:`".into()))?;
            let dl = dl
                .trim()
                .parse::<u8>()
                .map_err(|_| err(format!("bad DL `{dl}`")))?;
            current = Some((src, dl, t.to_string(), 0));
        } else if let Some(rest) = t.strip_prefix("DST:") {
            let Some((src, dl, src_line, dsts)) = current.as_mut() else {
                return Err(err("`DST:` line before any `SRC:` line".into()));
            };
            let dst = ip(rest.split(',').next().unwrap_or(""), "destination").map_err(err)?;
            *dsts += 1;
            out.push(ExtAlert {
                src: *src,
                dst: Some(dst),
                port: None,
                at_us: None,
                danger_level: Some(*dl),
                line: format!("{src_line} / {t}"),
            });
        }
    }
    flush(&current, &mut out);
    Ok(out)
}

/// `MM/DD[/YY]-HH:MM:SS.us` (Snort's `ts_print`) as µs since the epoch.
fn snort_time(s: &str, year: i64) -> Result<i64, String> {
    let bad = || format!("bad timestamp `{s}`");
    let (date, time) = s.split_once('-').ok_or_else(bad)?;
    let mut d = date.split('/');
    let mo: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let day: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let y = match d.next() {
        // Two digits, read as POSIX `%y` does: 69-99 are 1969-1999.
        Some(y) => match y.parse::<i64>().map_err(|_| bad())? {
            yy @ 69..=99 => 1900 + yy,
            yy @ 0..=68 => 2000 + yy,
            _ => return Err(bad()),
        },
        None => year,
    };
    let (h, mi, sec, us) = parse_hms(time).ok_or_else(bad)?;
    epoch_micros(y, mo, day, h, mi, sec, us).ok_or_else(bad)
}

/// Snort `alert_fast`: `TS [**] [g:s:r] msg [**] ... {PROTO} A[:p] -> B[:p]`.
fn snort_fast(line: &str, year: i64) -> Result<Option<ExtAlert>, String> {
    if !line.contains("[**]") {
        return Ok(None);
    }
    let ts = line.split_whitespace().next().unwrap_or("");
    let at = snort_time(ts, year)?;
    let (_, flow) = line
        .rsplit_once('}')
        .ok_or("no `{PROTO}` before the addresses")?;
    let (a, b) = flow.split_once(" -> ").ok_or("no ` -> `")?;
    let (src, _) = addr_port(a, "source")?;
    let (dst, port) = addr_port(b, "destination")?;
    Ok(Some(ExtAlert {
        src,
        dst: Some(dst),
        port,
        at_us: Some(at),
        danger_level: None,
        line: line.to_string(),
    }))
}

/// Snort `alert_csv`. Snort 3's default fields are `timestamp pkt_num proto
/// pkt_gen pkt_len dir src_ap dst_ap rule action`; Snort 2's default is
/// `timestamp,sig_generator,sig_id,sig_rev,msg,proto,src,srcport,dst,dstport,...`.
fn snort_csv(line: &str, year: i64) -> Result<Option<ExtAlert>, String> {
    let f: Vec<&str> = split_csv(line);
    if f.len() < 8 || f[0].starts_with('#') {
        return Ok(None);
    }
    let at = snort_time(f[0].trim(), year)?;
    let (src, dst, port) = if f[6].contains('.') && f[7].contains('.') && f.len() <= 12 {
        let (s, _) = addr_port(f[6], "source")?;
        let (d, p) = addr_port(f[7], "destination")?;
        (s, d, p)
    } else if f.len() >= 10 {
        let s = ip(f[6], "source")?;
        let d = ip(f[8], "destination")?;
        (s, d, f[9].trim().parse().ok())
    } else {
        return Err("unrecognized alert_csv field layout".into());
    };
    Ok(Some(ExtAlert {
        src,
        dst: Some(dst),
        port,
        at_us: Some(at),
        danger_level: None,
        line: line.to_string(),
    }))
}

/// Comma-separated fields, with double-quoted fields (Snort quotes `msg`).
fn split_csv(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(line[start..i].trim().trim_matches('"'));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(line[start..].trim().trim_matches('"'));
    out
}

#[derive(Deserialize)]
struct SnortJson {
    timestamp: Option<String>,
    src_ap: Option<String>,
    dst_ap: Option<String>,
    src_addr: Option<String>,
    dst_addr: Option<String>,
    dst_port: Option<u16>,
}

/// Snort 3 `alert_json`, one object per line.
fn snort_json(line: &str, year: i64) -> Result<Option<ExtAlert>, String> {
    let j: SnortJson = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let (src, dst, port) = match (&j.src_addr, &j.dst_addr, &j.src_ap, &j.dst_ap) {
        (Some(s), Some(d), _, _) => (ip(s, "source")?, ip(d, "destination")?, j.dst_port),
        (_, _, Some(s), Some(d)) => {
            let (s, _) = addr_port(s, "source")?;
            let (d, p) = addr_port(d, "destination")?;
            (s, d, p)
        }
        _ => return Err("no src_addr/dst_addr or src_ap/dst_ap".into()),
    };
    let at = j
        .timestamp
        .as_deref()
        .map(|t| snort_time(t, year))
        .transpose()?;
    Ok(Some(ExtAlert {
        src,
        dst: Some(dst),
        port,
        at_us: at,
        danger_level: None,
        line: line.to_string(),
    }))
}

/// Zeek `notice.log` as TSV: `#separator`, `#fields` name the columns;
/// `-` is unset. The scanner is `src` (set by `Scan::Port_Scan` notices),
/// else `id.orig_h`.
fn zeek_tsv(text: &str) -> Result<Vec<ExtAlert>, ParseError> {
    let mut sep = "\t".to_string();
    let mut fields: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        if let Some(s) = line.strip_prefix("#separator ") {
            sep = match s.trim() {
                "\\x09" => "\t".into(),
                "\\x2c" => ",".into(),
                other => other.to_string(),
            };
            continue;
        }
        if let Some(f) = line.strip_prefix("#fields") {
            fields = f
                .split(sep.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if fields.is_empty() {
            return Err(err("notice.log record before its #fields line".into()));
        }
        let values: Vec<&str> = line.split(sep.as_str()).collect();
        let get = |name: &str| {
            fields
                .iter()
                .position(|f| f == name)
                .and_then(|k| values.get(k).copied())
                .filter(|v| *v != "-" && !v.is_empty())
        };
        let a = zeek_record(
            get("ts"),
            get("src"),
            get("id.orig_h"),
            get("dst"),
            get("id.resp_h"),
            get("p"),
            get("id.resp_p"),
            line,
        )
        .map_err(err)?;
        out.extend(a);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn zeek_record(
    ts: Option<&str>,
    src: Option<&str>,
    orig: Option<&str>,
    dst: Option<&str>,
    resp: Option<&str>,
    p: Option<&str>,
    resp_p: Option<&str>,
    line: &str,
) -> Result<Option<ExtAlert>, String> {
    let Some(s) = src.or(orig) else {
        return Ok(None);
    };
    let at = ts
        .map(|t| parse_epoch_seconds(t).ok_or_else(|| format!("bad ts `{t}`")))
        .transpose()?;
    let dst = dst.or(resp).map(|d| ip(d, "destination")).transpose()?;
    Ok(Some(ExtAlert {
        src: ip(s, "source")?,
        dst,
        port: p.or(resp_p).and_then(|p| p.parse().ok()),
        at_us: at,
        danger_level: None,
        line: line.to_string(),
    }))
}

/// Zeek `notice.log` as JSON lines (`LogAscii::use_json`).
fn zeek_json(line: &str) -> Result<Option<ExtAlert>, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let s = |k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (ts, src, orig, dst, resp, p, rp) = (
        s("ts"),
        s("src"),
        s("id.orig_h"),
        s("dst"),
        s("id.resp_h"),
        s("p"),
        s("id.resp_p"),
    );
    zeek_record(
        ts.as_deref(),
        src.as_deref(),
        orig.as_deref(),
        dst.as_deref(),
        resp.as_deref(),
        p.as_deref(),
        rp.as_deref(),
        line,
    )
}

#[derive(Deserialize)]
struct Eve {
    event_type: Option<String>,
    timestamp: Option<String>,
    src_ip: Option<String>,
    dest_ip: Option<String>,
    dest_port: Option<u16>,
}

/// Suricata `eve.json`: only `event_type: "alert"` records;
/// `timestamp` is ISO 8601 with a `+0000`-style offset.
fn suricata_eve(line: &str) -> Result<Option<ExtAlert>, String> {
    let e: Eve = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    if e.event_type.as_deref() != Some("alert") {
        return Ok(None);
    }
    let src = ip(e.src_ip.as_deref().ok_or("alert without src_ip")?, "source")?;
    let dst = e
        .dest_ip
        .as_deref()
        .map(|d| ip(d, "destination"))
        .transpose()?;
    let at = e.timestamp.as_deref().map(iso8601).transpose()?;
    Ok(Some(ExtAlert {
        src,
        dst,
        port: e.dest_port,
        at_us: at,
        danger_level: None,
        line: line.to_string(),
    }))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac][Z|±HHMM|±HH:MM]` as µs since the epoch.
fn iso8601(s: &str) -> Result<i64, String> {
    let bad = || format!("bad timestamp `{s}`");
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-');
    let y: i64 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let mo: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let day: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let cut = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(cut);
    let (h, mi, sec, us) = parse_hms(time).ok_or_else(bad)?;
    let offset_s: i64 = match zone {
        "" | "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() != 4 {
                return Err(bad());
            }
            let hh: i64 = digits[..2].parse().map_err(|_| bad())?;
            let mm: i64 = digits[2..].parse().map_err(|_| bad())?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    epoch_micros(y, mo, day, h, mi, sec, us)
        .and_then(|t| t.checked_sub(offset_s * 1_000_000))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: Format, text: &str) -> ExtAlert {
        let v = parse(format, text, 1970).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn scanlogd_line_from_the_man_page_layout() {
        let a = one(
            Format::Scanlogd,
            "<38>Jan  1 00:00:05 scanlogd: 203.0.113.5:40000 to 198.51.100.10 ports 21, 22, 23, 25, 53, 80, 110, ..., fSrpauxy, TOS 00, TTL 64 @00:00:05",
        );
        assert_eq!(a.src, Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(a.dst, Some(Ipv4Addr::new(198, 51, 100, 10)));
        assert!(a.line.starts_with("203.0.113.5:40000 to"));
        let b = one(
            Format::Scanlogd,
            "scanlogd: 192.0.2.1 to 198.51.100.2 and others, ports 80, fSrpauxy @01:02:03",
        );
        assert_eq!(b.dst, Some(Ipv4Addr::new(198, 51, 100, 2)));
        assert_eq!(b.port, Some(80));
        assert!(
            parse(Format::Scanlogd, "scanlogd: started\n", 1970)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn portsentry_1_2_and_2_x_lines() {
        let a = one(
            Format::Portsentry,
            "Dec  1 10:00:00 host portsentry[99]: attackalert: TCP SYN/Normal scan from host: 203.0.113.5/203.0.113.5 to TCP port: 79",
        );
        assert_eq!((a.src, a.port), (Ipv4Addr::new(203, 0, 113, 5), Some(79)));
        let n = one(
            Format::Portsentry,
            "attackalert:  TCP NULL scan from host: 192.0.2.9/192.0.2.9 to TCP port: 1",
        );
        assert_eq!(n.port, Some(1));
        let u = one(
            Format::Portsentry,
            "attackalert: UDP scan from host: 192.0.2.9/192.0.2.9 to UDP port: 161",
        );
        assert_eq!(u.port, Some(161));
        let x = one(
            Format::Portsentry,
            "Scan from: [192.0.2.7] (192.0.2.7) protocol: [TCP] port: [111] type: [TCP SYN/Normal scan] IP opts: [unknown] ignored: [false] triggered: [true] noblock: [unset] blocked: [false]",
        );
        assert_eq!(x.port, Some(111));
        let skipped = "attackalert: Host: 192.0.2.9/192.0.2.9 is already blocked Ignoring\n\
                       adminalert: PortSentry is now active and listening.\n\
                       attackalert: Packet from host: 192.0.2.9/192.0.2.9 to TCP port: 1 has IP options set (detection avoidance technique).\n";
        assert!(parse(Format::Portsentry, skipped, 1970).unwrap().is_empty());
        let bad = parse(
            Format::Portsentry,
            "\nattackalert: TCP FIN scan from host: x/nonsense to TCP port: 1",
            1970,
        )
        .unwrap_err();
        assert_eq!(bad.line, 2);
    }

    #[test]
    fn psad_syslog_line_as_psad_writes_it() {
        let a = one(
            Format::PsadSyslog,
            "Jan  1 00:00:10 fw psad: scan detected (Nmap -sT or -sS scan): 203.0.113.5 -> 198.51.100.10 tcp: [3389] flags: SYN tcp pkts: 1 DL: 2 total scan dsts: 1",
        );
        assert_eq!(a.src, Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(a.dst, Some(Ipv4Addr::new(198, 51, 100, 10)));
        assert_eq!((a.port, a.danger_level), (Some(3389), Some(2)));
        let old = one(
            Format::PsadSyslog,
            "scan detected: 192.0.2.1 -> 10.0.0.1 tcp: [1-200] flags: SYN tcp pkts: 200 DL: 3",
        );
        assert_eq!((old.port, old.danger_level), (None, Some(3)));
    }

    #[test]
    fn psad_report_blocks() {
        let text = "[+] IP Status Detail:\n\nSRC:  203.0.113.5, DL: 2, Dsts: 2, Pkts: 1, Total protocols: 1, Unique sigs: 1\n\n    DST: 198.51.100.10\n        Scanned ports: TCP 3389, Pkts: 1, Chain: INPUT, Intf: eth0\n    DST: 198.51.100.11, Local IP\n\nSRC:  192.0.2.1, DL: 1, Dsts: 0, Pkts: 5\n\n    Total scan sources: 2\n";
        let v = parse(Format::PsadReport, text, 1970).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].dst, Some(Ipv4Addr::new(198, 51, 100, 11)));
        assert_eq!(v[2].danger_level, Some(1));
        assert_eq!(v[2].dst, None);
        assert_eq!(
            parse(Format::PsadReport, "    DST: 1.2.3.4\n", 1970)
                .unwrap_err()
                .line,
            1
        );
    }

    #[test]
    fn snort_formats() {
        let fast = one(
            Format::SnortFast,
            "01/01-00:00:05.250000  [**] [122:1:1] (port_scan) TCP portscan [**] [Classification: Attempted Information Leak] [Priority: 2] {PROTO:255} 203.0.113.5 -> 198.51.100.10",
        );
        assert_eq!(fast.at_us, Some(5_250_000));
        assert_eq!(fast.dst, Some(Ipv4Addr::new(198, 51, 100, 10)));
        let fast2 = one(
            Format::SnortFast,
            "01/01/70-00:00:06.000000  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Priority: 2] {TCP} 203.0.113.5:40000 -> 198.51.100.10:22",
        );
        assert_eq!((fast2.at_us, fast2.port), (Some(6_000_000), Some(22)));
        let csv3 = one(
            Format::SnortCsv,
            "01/01-00:00:07.000000, 12, TCP, raw, 40, C2S, 203.0.113.5:40000, 198.51.100.10:22, 122:1:1, allow",
        );
        assert_eq!((csv3.at_us, csv3.port), (Some(7_000_000), Some(22)));
        let csv2 = one(
            Format::SnortCsv,
            "01/01/70-00:00:08.000000 ,122,1,1,\"(portscan) TCP Portscan\",PROTO:255,203.0.113.5,,198.51.100.10,,,,,,,,,,,,,,,,,,",
        );
        assert_eq!(csv2.src, Ipv4Addr::new(203, 0, 113, 5));
        let json = one(
            Format::SnortJson,
            r#"{ "timestamp" : "01/01-00:00:09.000000", "pkt_num" : 3, "proto" : "TCP", "pkt_gen" : "raw", "pkt_len" : 40, "dir" : "C2S", "src_ap" : "203.0.113.5:40000", "dst_ap" : "198.51.100.10:23", "rule" : "122:1:1", "action" : "allow" }"#,
        );
        assert_eq!((json.at_us, json.port), (Some(9_000_000), Some(23)));
        assert!(parse(Format::SnortJson, "{ not json", 1970).is_err());
    }

    #[test]
    fn zeek_notice_tsv_and_json() {
        let tsv = "#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tnote\tmsg\tsub\tsrc\tdst\tp\tn\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\taddr\taddr\tport\tcount\n12.500000\t-\t-\t-\t-\t-\tScan::Port_Scan\t203.0.113.5 scanned at least 15 unique ports of host 198.51.100.10 in 0m1s\tlocal\t203.0.113.5\t198.51.100.10\t-\t-\n#close\t1970-01-01-00-00-20\n";
        let a = one(Format::ZeekNotice, tsv);
        assert_eq!(a.at_us, Some(12_500_000));
        assert_eq!(a.dst, Some(Ipv4Addr::new(198, 51, 100, 10)));
        let j = one(
            Format::ZeekNotice,
            r#"{"ts":13.0,"note":"Scan::Address_Scan","msg":"x","src":"203.0.113.5","p":80}"#,
        );
        assert_eq!((j.at_us, j.port, j.dst), (Some(13_000_000), Some(80), None));
        assert_eq!(
            parse(Format::ZeekNotice, "1.0\tx\n", 1970)
                .unwrap_err()
                .line,
            1
        );
    }

    #[test]
    fn suricata_eve_alerts_only() {
        let text = r#"{"timestamp":"1970-01-01T00:00:14.000000+0000","event_type":"flow","src_ip":"1.2.3.4"}
{"timestamp":"1970-01-01T01:00:14.500000+0100","flow_id":1,"event_type":"alert","src_ip":"203.0.113.5","src_port":40000,"dest_ip":"198.51.100.10","dest_port":5900,"proto":"TCP","alert":{"signature_id":2002910,"signature":"ET SCAN Potential VNC Scan 5800-5820"}}"#;
        let a = one(Format::SuricataEve, text);
        assert_eq!((a.at_us, a.port), (Some(14_500_000), Some(5900)));
    }
}
