//! Times in JSON (issue #13 item 10): the store keeps Unix milliseconds
//! (`i64`), the API shows RFC 3339 strings in UTC (`2026-01-01T09:30:00Z`,
//! `.250` when there are milliseconds). Reading accepts both an RFC 3339
//! string (any offset) and the Unix milliseconds older clients sent.
//! Use with `#[serde(with = "json_time")]` (or `json_time::opt` for
//! `Option<i64>`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// `ms` as RFC 3339 in UTC; `None` outside jiff's range (±9999 years).
pub fn to_rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}

/// An RFC 3339 time (any offset) as Unix milliseconds.
pub fn from_rfc3339(text: &str) -> Option<i64> {
    text.trim().parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    match to_rfc3339(*ms) {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_i64(*ms),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Either {
    Millis(i64),
    Text(String),
}

fn read(v: Either) -> Result<i64, String> {
    match v {
        Either::Millis(ms) => Ok(ms),
        Either::Text(t) => from_rfc3339(&t).ok_or_else(|| format!("{t:?} is not an RFC 3339 time (e.g. 2026-05-01T09:30:00Z)")),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    read(Either::deserialize(d)?).map_err(D::Error::custom)
}

/// The same for optional times (`null` stays `null`).
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => super::serialize(ms, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Either>::deserialize(d)?.map(read).transpose().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        #[serde(with = "super")]
        at: i64,
        #[serde(with = "super::opt", default)]
        end: Option<i64>,
    }

    #[test]
    fn rfc3339_out_both_in() {
        let t = T { at: 1_767_225_600_250, end: None };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"at":"2026-01-01T00:00:00.25Z","end":null}"#);
        assert_eq!(
            serde_json::to_value(T { at: 0, end: Some(1_000) }).unwrap(),
            serde_json::json!({"at": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:00:01Z"})
        );
        let back: T = serde_json::from_str(r#"{"at":"2025-12-31T21:00:00.25-03:00","end":5}"#).unwrap();
        assert_eq!(back, T { at: 1_767_225_600_250, end: Some(5) });
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).unwrap_err().to_string().contains("RFC 3339"));
    }
}
