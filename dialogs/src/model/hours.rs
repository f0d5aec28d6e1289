//! Business hours of a flow (`hours:`): the time zone, the open days and
//! times, holidays and the node for closed times.
//!
//! Only the shape is parsed and checked here; whether a call comes in while
//! open (time zone, wall clock given by the runner's caller) is decided in
//! `clock.rs`. A day range may wrap (`sat-mon`); times are `[start, end)`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::NodeId;

/// The `hours:` block of a flow.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// IANA time zone (`America/Argentina/Cordoba`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Open times by day range: `{ mon-fri: "09:00-18:00", sat: "09:00-13:00" }`.
    #[serde(default)]
    pub open: BTreeMap<DayRange, TimeRange>,
    /// Closed dates (`2026-12-25`).
    #[serde(default)]
    pub holidays: Vec<Date>,
    /// The node a call enters when closed.
    #[serde(default)]
    pub closed: Option<NodeId>,
}

/// A day of the week, as flows write it (`mon` … `sun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    fn parse(s: &str) -> Option<Weekday> {
        Some(match s {
            "mon" => Weekday::Mon,
            "tue" => Weekday::Tue,
            "wed" => Weekday::Wed,
            "thu" => Weekday::Thu,
            "fri" => Weekday::Fri,
            "sat" => Weekday::Sat,
            "sun" => Weekday::Sun,
            _ => return None,
        })
    }
}

/// `mon-fri` or a single day `sat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayRange {
    /// First day, included.
    pub first: Weekday,
    /// Last day, included.
    pub last: Weekday,
}

impl DayRange {
    fn parse(s: &str) -> Result<DayRange, String> {
        let bad = || format!("invalid day range `{s}`: expected a day (mon..sun) or two joined by `-` (mon-fri)");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first = Weekday::parse(a.trim()).ok_or_else(bad)?;
        let last = Weekday::parse(b.trim()).ok_or_else(bad)?;
        Ok(DayRange { first, last })
    }
}

/// `09:00-18:00`, as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Opening minute of the day.
    pub start: u16,
    /// Closing minute of the day (`24:00` is 1440).
    pub end: u16,
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

impl TimeRange {
    fn parse(s: &str) -> Result<TimeRange, String> {
        let bad = || format!("invalid time range `{s}`: expected HH:MM-HH:MM (09:00-18:00)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a).ok_or_else(bad)?;
        let end = parse_hhmm(b).ok_or_else(bad)?;
        if start >= end {
            return Err(format!("invalid time range `{s}`: it closes before it opens"));
        }
        Ok(TimeRange { start, end })
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31.
    pub day: u8,
}

impl Date {
    fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("invalid date `{s}`: expected YYYY-MM-DD");
        let mut parts = s.trim().split('-');
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year: u16 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if day == 0 || day > days {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn from_text<'de, D, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    parse(&text).map_err(de::Error::custom)
}

impl<'de> Deserialize<'de> for DayRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, DayRange::parse)
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, TimeRange::parse)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, Date::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(DayRange::parse("mon-fri"), Ok(DayRange { first: Weekday::Mon, last: Weekday::Fri }));
        assert!(DayRange::parse("monday").is_err());
        assert_eq!(TimeRange::parse("09:00-18:00"), Ok(TimeRange { start: 540, end: 1080 }));
        assert!(TimeRange::parse("9-18").is_err());
        assert!(TimeRange::parse("18:00-09:00").is_err());
        assert!(TimeRange::parse("09:60-10:00").is_err());
        assert_eq!(Date::parse("2024-02-29").map(|d| d.to_string()), Ok("2024-02-29".into()));
        assert!(Date::parse("2026-02-29").is_err());
        assert!(Date::parse("2026-13-01").is_err());
    }
}
