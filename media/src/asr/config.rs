//! Serde helpers shared by the adapters' `[speech.<name>]` config tables.
//!
//! Durations are written either as humantime strings (`"300ms"`, `"5s"`,
//! `"1m 30s"`, see the `humantime` crate) or as integer milliseconds.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// `#[serde(deserialize_with = "duration")]`: `"5s"` or `5000`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration: a string such as \"300ms\" or \"5s\", or milliseconds as an integer")
    }

    fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(ms))
    }

    fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Duration, E> {
        u64::try_from(ms).map(Duration::from_millis).map_err(|_| E::invalid_value(de::Unexpected::Signed(ms), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text.trim()).map_err(|e| E::custom(format_args!("invalid duration {text:?}: {e}")))
    }
}

/// A credential from the config: deserialised from a plain string, never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// The primary language subtag of a BCP 47 tag, lower case: `"es-AR"` →
/// `"es"` (ISO 639-1 for the usual languages).
pub(crate) fn primary_language(tag: &str) -> String {
    tag.split(['-', '_']).next().unwrap_or_default().trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "duration")]
        d: Duration,
    }

    fn parse(json: &str) -> Result<Duration, serde_json::Error> {
        serde_json::from_str::<T>(json).map(|t| t.d)
    }

    #[test]
    fn strings_and_milliseconds() {
        assert_eq!(parse(r#"{"d":"300ms"}"#).unwrap(), Duration::from_millis(300));
        assert_eq!(parse(r#"{"d":"1m 30s"}"#).unwrap(), Duration::from_secs(90));
        assert_eq!(parse(r#"{"d":2500}"#).unwrap(), Duration::from_millis(2500));
        assert!(parse(r#"{"d":-1}"#).is_err());
        assert!(parse(r#"{"d":"soon"}"#).is_err());
    }

    #[test]
    fn language_subtag() {
        assert_eq!(primary_language("es-AR"), "es");
        assert_eq!(primary_language("EN_us"), "en");
        assert_eq!(primary_language("pt"), "pt");
    }
}
