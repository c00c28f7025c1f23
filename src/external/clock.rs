//! Calendar arithmetic for the timestamps external tools print.
//!
//! The bench writes captures whose clock starts at the Unix epoch (virtual
//! time 0 is 1970-01-01 00:00:00 UTC), so a tool's printed date and time
//! converts back to the capture's virtual time by plain UTC arithmetic.
//! No time zone database is consulted: the tools are run with `TZ=UTC`.

use scanbench_detector::iptables_log::{self, civil_from_days};

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian);
/// `None` for an impossible month or day, or a year beyond +-100,000.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(-100_000..=100_000).contains(&y) {
        return None;
    }
    Some(iptables_log::days_from_civil(y, m, d))
}

/// Microseconds since the epoch for a UTC civil date and time of day.
pub fn epoch_micros(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<i64> {
    if h > 23 || mi > 59 || s > 60 || us > 999_999 {
        return None;
    }
    let days = days_from_civil(y, mo, d)?;
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    secs.checked_mul(1_000_000)?.checked_add(i64::from(us))
}

/// `HH:MM:SS[.frac]` into (h, m, s, µs).
pub fn parse_hms(t: &str) -> Option<(u32, u32, u32, u32)> {
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut it = hms.split(':');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let s = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((h, m, s, frac_micros(frac)?))
}

/// A decimal fraction's digits (`"5"` = 0.5 s) as microseconds, truncated.
pub fn frac_micros(frac: &str) -> Option<u32> {
    if frac.is_empty() {
        return Some(0);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(6).collect();
    while digits.len() < 6 {
        digits.push('0');
    }
    digits.parse().ok()
}

/// `seconds[.fraction]` since the epoch (Zeek's `ts`) as microseconds.
pub fn parse_epoch_seconds(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    secs.checked_mul(1_000_000)?
        .checked_add(i64::from(frac_micros(frac)?))
}

/// Three-letter English month name (syslog) to 1..=12.
pub fn month(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

/// The syslog (RFC 3164) stamp of an epoch time: `Mmm dd HH:MM:SS`, day
/// padded with a space, as syslog daemons and psad expect.
pub fn syslog_stamp(micros: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = micros.div_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let _ = y;
    let tod = secs.rem_euclid(86_400);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(epoch_micros(1970, 1, 1, 0, 0, 5, 250_000), Some(5_250_000));
        assert_eq!(syslog_stamp(5_250_000), "Jan  1 00:00:05");
        assert_eq!(syslog_stamp(86_400_000_000 * 40), "Feb 10 00:00:00");
        assert_eq!(parse_epoch_seconds("12.5"), Some(12_500_000));
        assert_eq!(parse_hms("01:02:03.000004"), Some((1, 2, 3, 4)));
        assert_eq!(epoch_micros(1970, 13, 1, 0, 0, 0, 0), None);
        assert_eq!(parse_epoch_seconds("99999999999999999999"), None);
    }
}
