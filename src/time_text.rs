//! How times and durations read in human output (tables, alert lists, check
//! messages). One convention everywhere:
//!
//! - a **duration** is written as in scenario files, largest unit first and
//!   without spaces (as Go prints durations), so it stays one word:
//!   `1d2h`, `2h13m20s`, `40m`, `1.5s`, `22.012ms`, `9us`;
//! - a **moment** of a simulation is relative to its start (`+1.032s`): a
//!   simulation has no calendar;
//! - a **moment** of a real capture or log is an ISO 8601 UTC date-time
//!   (`2026-11-21T14:35:01.329889Z`), as the capture recorded it.
//!
//! Machine-readable reports keep exact integers (`*_us`), see
//! `docs/report-format.md`.

use std::time::{Duration, UNIX_EPOCH};

/// A duration in microseconds, e.g. `2h13m20s` or `22.012ms`.
pub fn duration_text(us: u64) -> String {
    if us < 1_000 {
        return format!("{us}us");
    }
    if us < 1_000_000 {
        return format!("{}ms", decimals(us, 1_000));
    }
    let secs = us / 1_000_000;
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if secs < 60 {
        // Under a minute, milliseconds still matter.
        parts.push(format!("{}s", decimals(us, 1_000_000)));
    } else if s > 0 {
        parts.push(format!("{s}s"));
    }
    parts.concat()
}

/// `n / unit` with up to three decimals, trailing zeros dropped (`1.5`, `22.012`, `3`).
fn decimals(n: u64, unit: u64) -> String {
    let whole = n / unit;
    let milli = (n % unit) * 1_000 / unit;
    if milli == 0 {
        return whole.to_string();
    }
    let frac = format!("{milli:03}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// A moment of a simulation: `+1.032s` after its start.
pub fn relative_text(us: i64) -> String {
    if us < 0 {
        return format!("-{}", duration_text(us.unsigned_abs()));
    }
    format!("+{}", duration_text(us.unsigned_abs()))
}

/// The last moment RFC 3339 can write (9999-12-31T23:59:59.999999Z), in
/// microseconds since the Unix epoch.
const RFC3339_LAST_US: u64 = 253_402_300_799_999_999;

/// A moment of a real capture: `2026-11-21T14:35:01.329889Z` (microseconds
/// since the Unix epoch, UTC). Moments before 1970 or after 9999 (a damaged
/// capture's stamps) keep the raw form.
pub fn utc_text(us: i64) -> String {
    match u64::try_from(us) {
        Ok(us) if us <= RFC3339_LAST_US => {
            humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(us)).to_string()
        }
        _ => format!("{us}us since 1970-01-01T00:00:00Z"),
    }
}

/// The year (UTC) of a moment given in microseconds since the Unix epoch.
pub fn utc_year(us: i64) -> Option<i32> {
    u64::try_from(us).ok().filter(|&u| u <= RFC3339_LAST_US)?;
    utc_text(us).get(..4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_scenario_files() {
        assert_eq!(duration_text(0), "0us");
        assert_eq!(duration_text(9), "9us");
        assert_eq!(duration_text(22_012), "22.012ms");
        assert_eq!(duration_text(1_500_000), "1.5s");
        assert_eq!(duration_text(30_000_000), "30s");
        assert_eq!(duration_text(2_400_000_000), "40m");
        assert_eq!(duration_text(3_600_000_000), "1h");
        assert_eq!(duration_text(8_000_000_000), "2h13m20s");
        assert_eq!(duration_text(86_400_000_000), "1d");
        assert_eq!(duration_text(u64::MAX), "213503982d8h1m49s");
    }

    #[test]
    fn moments_say_which_clock() {
        assert_eq!(relative_text(1_032_013), "+1.032s");
        assert_eq!(
            utc_text(1_795_274_073_329_889),
            "2026-11-21T15:14:33.329889Z"
        );
        assert_eq!(utc_year(1_795_274_073_329_889), Some(2026));
        assert!(utc_text(-1).contains("since 1970"));
        assert_eq!(
            utc_text(RFC3339_LAST_US as i64),
            "9999-12-31T23:59:59.999999Z"
        );
        assert!(utc_text(i64::MAX).contains("since 1970"));
        assert_eq!(utc_year(i64::MAX), None);
    }
}
