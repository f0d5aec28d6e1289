//! Times in query strings and bodies: RFC 3339 (`2026-05-01T09:30:00Z`,
//! `2026-05-01T09:30:00.250-03:00`; `t`/space separators and a lowercase `z`
//! accepted, leap second 60 read as 59) or Unix milliseconds (digits, an
//! optional leading `-`). Both become Unix milliseconds, the store's unit.

use std::time::{SystemTime, UNIX_EPOCH};

use super::ApiError;

/// Now in Unix milliseconds (the API is the IO edge: it may read the clock).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Parses the parameter `field`; the error names it.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| bad(field, text));
    }
    rfc3339(text).ok_or_else(|| bad(field, text))
}

fn bad(field: &str, text: &str) -> ApiError {
    ApiError::bad_request(format!("`{field}` must be an RFC 3339 time (e.g. 2026-05-01T00:00:00Z) or Unix milliseconds, not {text:?}"))
}

fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?.min(59));
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        millis = frac.parse::<i64>().ok()? * 10_i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_unix_millis() {
        let t = |s: &str| parse_time("from", s).map_err(|e| e.message().to_string());
        assert_eq!(t("0"), Ok(0));
        assert_eq!(t("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(t("-1"), Ok(-1));
        assert_eq!(t("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(t("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(t("2023-11-14T22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(t("2023-11-14t22:13:20.123456z"), Ok(1_700_000_000_123));
        assert_eq!(t("2023-11-14T19:13:20-03:00"), Ok(1_700_000_000_000));
        assert_eq!(t("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000_000));
        assert_eq!(t("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert_eq!(t("1969-12-31T23:59:59.999Z"), Ok(-1));
        for bad in
            ["", "yesterday", "2023-02-29T00:00:00Z", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z"]
        {
            let e = t(bad).unwrap_err();
            assert!(e.starts_with("`from` must be an RFC 3339 time"), "{bad:?}: {e}");
        }
    }
}
