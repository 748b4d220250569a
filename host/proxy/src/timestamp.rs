//! Timestamps as the contracts write them, in UTC to the second: the admin contract's
//! `YYYY-MM-DD HH:MM:SS` (the health endpoint's and the admin API's) and the trading
//! contract's RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` (its error format's).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in the contract's format.
pub fn now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    format(seconds)
}

/// `seconds` after the Unix epoch, in the admin contract's format.
pub fn format(seconds: u64) -> String {
    written(seconds, ' ', "")
}

/// `2026-01-04T10:00:00Z`: `time` in the trading contract's format.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    written(seconds, 'T', "Z")
}

/// The date, `between`, the time of day, then `suffix`.
fn written(seconds: u64, between: char, suffix: &str) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
    let rest = seconds % 86_400;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}{between}{:02}:{:02}:{:02}{suffix}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// days-to-civil calculation, over 400-year eras).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).expect("1..=12"),
        u32::try_from(day).expect("1..=31"),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::{format, rfc3339};

    #[test]
    fn rfc3339_times_are_utc_to_the_second() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_767_520_800), "2026-01-04T10:00:00Z");
        assert_eq!(at(951_827_696), "2000-02-29T12:34:56Z");
    }

    #[test]
    fn seconds_read_as_utc_dates_and_times() {
        assert_eq!(format(0), "1970-01-01 00:00:00");
        assert_eq!(format(1_736_418_600), "2025-01-09 10:30:00");
        assert_eq!(format(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format(4_107_542_399), "2100-02-28 23:59:59");
    }
}
