//! Text forms of durations, ranges and bandwidths used in scenario files and
//! on the command line: `250ms`, `1.5s`, `10m`, `2h`, `1d`, `10m..15m`, `1Gbps`.

use smoltcp::time::Duration;

/// Parses `500us`, `250ms`, `1.5s`, `10m`, `2h`, `1d`. A number needs its
/// unit (`30` could mean seconds or minutes; only `0` is the same in every
/// unit).
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 250ms, 1.5s, 10m, 2h)"))?;
    let scale = match unit.trim() {
        "" if v == 0.0 => 1.0,
        "" => {
            return Err(format!(
                "`{s}` has no unit; write e.g. `{num}s` or `{num}m` (units: us, ms, s, m, h, d)"
            ));
        }
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86400e6,
        u => return Err(format!("`{s}`: unknown unit `{u}` (us, ms, s, m, h, d)")),
    };
    let us = v * scale;
    if !(0.0..=1e15).contains(&us) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(Duration::from_micros(us.round() as u64))
}

/// Parses `10m..15m` (inclusive range) or a single duration (`12m` = `12m..12m`).
pub fn duration_range(s: &str) -> Result<(Duration, Duration), String> {
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (duration(a)?, duration(b)?);
            if a > b {
                return Err(format!("range `{s}` is reversed"));
            }
            Ok((a, b))
        }
        None => {
            let d = duration(s)?;
            Ok((d, d))
        }
    }
}

/// Parses `1Gbps`, `100Mbps`, `56kbps`, `9600bps`; `inf` is unlimited (`None`).
pub fn bandwidth(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "inf" || t == "infinite" || t == "unlimited" {
        return Ok(None);
    }
    let (num, scale) = if let Some(n) = t.strip_suffix("gbps") {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix("mbps") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix("kbps") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix("bps") {
        (n, 1.0)
    } else {
        return Err(format!(
            "`{s}` is not a bandwidth (e.g. 1Gbps, 100Mbps, inf)"
        ));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a bandwidth"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("`{s}` must be positive"));
    }
    let bps = (v * scale).round();
    if bps < 1.0 {
        return Err(format!("`{s}` is below 1 bps"));
    }
    // Far beyond any link; `as` saturates at u64::MAX bps.
    Ok(Some(bps as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("10m").unwrap(), Duration::from_secs(600));
        assert!(duration("3").unwrap_err().contains("has no unit"));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert!(duration("5 parsecs").is_err());
        assert_eq!(
            duration_range("10m..15m").unwrap(),
            (Duration::from_secs(600), Duration::from_secs(900))
        );
        assert!(duration_range("15m..10m").is_err());
        assert_eq!(bandwidth("1Gbps").unwrap(), Some(1_000_000_000));
        assert_eq!(bandwidth("inf").unwrap(), None);
        assert!(bandwidth("1e-300bps").is_err());
        assert_eq!(bandwidth("1e300Gbps").unwrap(), Some(u64::MAX));
    }
}
