//! Wall-clock questions, answered for a time the caller of the engine
//! passes in (never read here): is a flow's `hours:` open at that instant,
//! and how to write it (RFC 3339, UTC). Time zones come from the system
//! tz database (`/usr/share/zoneinfo`) through jiff, with jiff's bundled
//! copy as the fallback on machines without one.

use std::time::SystemTime;

use jiff::civil::Weekday as CivilWeekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::model::{Hours, Weekday};

/// Why a time or zone given to the engine was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// Not an RFC 3339 timestamp.
    #[error("invalid timestamp `{text}`: {reason} (expected RFC 3339, e.g. 2026-11-24T13:00:00-03:00)")]
    Timestamp {
        /// The text given.
        text: String,
        /// The parser's reason.
        reason: String,
    },
}

/// Parses an RFC 3339 timestamp (`2026-11-24T13:00:00-03:00`): any
/// offset, `T` or a space, upper or lower case, fractions of a second.
pub fn parse_timestamp(text: &str) -> Result<SystemTime, ClockError> {
    // RFC 3339 §5.6 allows `t`/`z` in lower case; jiff wants capitals.
    let ts: Timestamp = text
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|e: jiff::Error| ClockError::Timestamp { text: text.to_owned(), reason: e.to_string() })?;
    Ok(SystemTime::from(ts))
}

/// `at` as RFC 3339 in UTC, to the second.
pub(crate) fn format_utc(at: SystemTime) -> String {
    match Timestamp::try_from(at) {
        Ok(ts) => ts.round(jiff::Unit::Second).unwrap_or(ts).to_string(),
        Err(_) => "invalid-time".to_owned(),
    }
}

/// Whether the time zone name is known to the system tz database.
pub(crate) fn zone_exists(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

fn weekday(w: CivilWeekday) -> Weekday {
    match w {
        CivilWeekday::Monday => Weekday::Mon,
        CivilWeekday::Tuesday => Weekday::Tue,
        CivilWeekday::Wednesday => Weekday::Wed,
        CivilWeekday::Thursday => Weekday::Thu,
        CivilWeekday::Friday => Weekday::Fri,
        CivilWeekday::Saturday => Weekday::Sat,
        CivilWeekday::Sunday => Weekday::Sun,
    }
}

/// Whether `hours` are open at `at`. An unknown zone counts as UTC (the
/// validator reports it); no `open:` entries means always open (holidays
/// still close).
pub(crate) fn is_open(hours: &Hours, at: SystemTime) -> bool {
    let Ok(ts) = Timestamp::try_from(at) else {
        return true;
    };
    let tz = hours.timezone.as_deref().and_then(|n| TimeZone::get(n).ok()).unwrap_or(TimeZone::UTC);
    let local = ts.to_zoned(tz);
    let date = local.date();
    let holiday = hours.holidays.iter().any(|h| {
        i32::from(h.year) == i32::from(date.year())
            && i32::from(h.month) == i32::from(date.month())
            && i32::from(h.day) == i32::from(date.day())
    });
    if holiday {
        return false;
    }
    if hours.open.is_empty() {
        return true;
    }
    let day = weekday(date.weekday());
    let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
    hours.open.iter().any(|(days, times)| {
        let in_days = if days.first <= days.last { days.first <= day && day <= days.last } else { day >= days.first || day <= days.last };
        in_days && times.start <= minute && minute < times.end
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> Hours {
        let yaml =
            "timezone: America/Argentina/Cordoba\nopen: { mon-fri: \"09:00-18:00\", sat: \"09:00-13:00\" }\nholidays: [\"2026-12-25\"]\n";
        serde_yaml::from_str(yaml).expect("hours parse")
    }

    fn at(s: &str) -> SystemTime {
        parse_timestamp(s).expect("valid timestamp")
    }

    #[test]
    fn open_closed_and_holidays() {
        let h = hours();
        assert!(is_open(&h, at("2026-11-24T12:00:00Z")), "Tue 09:00 in Córdoba");
        assert!(!is_open(&h, at("2026-11-24T11:59:00Z")), "Tue 08:59");
        assert!(!is_open(&h, at("2026-11-24T21:00:00Z")), "Tue 18:00 closes");
        assert!(is_open(&h, at("2026-11-28T15:59:00Z")), "Sat 12:59");
        assert!(!is_open(&h, at("2026-11-28T16:00:00Z")), "Sat 13:00");
        assert!(!is_open(&h, at("2026-11-29T15:00:00Z")), "Sunday");
        assert!(!is_open(&h, at("2026-12-25T15:00:00Z")), "holiday, a Friday");
        assert!(is_open(&Hours::default(), at("2026-12-25T15:00:00Z")));
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_utc(at("2026-11-24T13:00:00.4-03:00")), "2026-11-24T16:00:00Z");
        assert!(parse_timestamp("yesterday").is_err());
        assert!(zone_exists("America/Argentina/Cordoba"));
        assert!(!zone_exists("Mars/Olympus"));
    }
}
