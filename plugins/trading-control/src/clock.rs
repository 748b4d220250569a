//! Time as the contract writes and reads it: RFC 3339 in UTC to the second on the way
//! out; epoch seconds or RFC 3339 (`start_time`), and `YYYY-MM-DD` dates (`start_date`),
//! on the way in. The store keeps Unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-01-04T10:00:00Z`: Unix milliseconds in UTC, to the second.
pub fn rfc3339(ms: u64) -> String {
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| at.replace_nanosecond(0).ok())
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A time parameter: Unix seconds (`1767520800`) or RFC 3339 (`2026-01-04T10:00:00Z`),
/// as Unix milliseconds; `None` when it is neither or lies before 1970.
pub fn parse_instant(text: &str) -> Option<u64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok()?.checked_mul(1000);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A `YYYY-MM-DD` date as the Unix milliseconds of its first instant (UTC).
pub fn parse_date(text: &str) -> Option<u64> {
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    let at = date.with_time(Time::MIDNIGHT).assume_utc();
    u64::try_from(at.unix_timestamp()).ok()?.checked_mul(1000)
}

/// The Unix milliseconds in an entry id `<ms>-<seq>`.
pub fn entry_ms(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_to_the_second() {
        assert_eq!(rfc3339(1_767_520_800_999), "2026-01-04T10:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn time_parameters_take_epoch_seconds_or_rfc3339() {
        assert_eq!(parse_instant("1767520800"), Some(1_767_520_800_000));
        assert_eq!(
            parse_instant("2026-01-04T10:00:00Z"),
            Some(1_767_520_800_000)
        );
        assert_eq!(
            parse_instant("2026-01-04T18:00:00.5+08:00"),
            Some(1_767_520_800_500)
        );
        for bad in ["", "yesterday", "2026-01-04", "-5", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_year_month_day() {
        assert_eq!(parse_date("2026-01-04"), Some(1_767_484_800_000));
        for bad in [
            "2026-1-4",
            "2026-02-30",
            "04/01/2026",
            "2026-01-04T00:00:00Z",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn entry_ids_carry_their_time() {
        assert_eq!(entry_ms("1767520800000-3"), 1_767_520_800_000);
        assert_eq!(entry_ms("junk"), 0);
    }
}
