//! Call status callbacks (issue #13): `status_callback:` in a flow, or in
//! `POST /v1/calls`, names a URL that hears how each call of the flow goes
//! (`ringing`, `answered`, `transferred`, `completed`), like Twilio's
//! `statusCallback` or jambonz's `call_status_hook`. The gateway performs
//! the deliveries; this is only the shape and its words.
//!
//! Written either as the URL alone (every status) or as a mapping:
//!
//! ```yaml
//! status_callback: https://crm.example/calls/status
//! status_callback: { url: https://crm.example/calls/status, events: [answered, completed] }
//! ```

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A call's status, as a status callback names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The far end rings (180/183 received on an outbound call) or the
    /// gateway rings the caller (180 sent before answering).
    Ringing,
    /// The call was answered (200 OK).
    Answered,
    /// A transfer reached the agent (NOTIFY 2xx, or the warm leg bridged).
    Transferred,
    /// The call is over: outcome, duration and who hung up.
    Completed,
}

impl CallStatus {
    /// Every status, in the order a call goes through them.
    pub const ALL: [CallStatus; 4] = [CallStatus::Ringing, CallStatus::Answered, CallStatus::Transferred, CallStatus::Completed];

    /// The status as the callback's JSON says it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ringing => "ringing",
            CallStatus::Answered => "answered",
            CallStatus::Transferred => "transferred",
            CallStatus::Completed => "completed",
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a call's status changes are POSTed, and which ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCallback {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The statuses sent; none given: all of them.
    pub events: Vec<CallStatus>,
}

impl StatusCallback {
    /// Whether `status` is one of the statuses asked for.
    pub fn wants(&self, status: CallStatus) -> bool {
        self.events.contains(&status)
    }

    /// Why the callback cannot be used (a URL that is not absolute http or
    /// https, no events), or None.
    pub fn problem(&self) -> Option<String> {
        let url = self.url.trim();
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default().rsplit('@').next().unwrap_or_default());
        if host.is_none_or(|h| h.is_empty() || h.starts_with(':')) || url.contains(char::is_whitespace) {
            return Some(format!("status_callback URL `{url}` is not an absolute http:// or https:// URL"));
        }
        if self.events.is_empty() {
            return Some(
                "status_callback `events` is empty: list some of ringing, answered, transferred, completed, or leave it out for all".into(),
            );
        }
        None
    }
}

/// The mapping form; `events` absent means all.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Full {
    url: String,
    #[serde(default)]
    events: Option<Vec<CallStatus>>,
}

impl From<Full> for StatusCallback {
    fn from(f: Full) -> Self {
        let mut events = f.events.unwrap_or_else(|| CallStatus::ALL.to_vec());
        events.sort();
        events.dedup();
        StatusCallback { url: f.url, events }
    }
}

struct CallbackVisitor;

impl<'de> Visitor<'de> for CallbackVisitor {
    type Value = StatusCallback;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a URL, or a mapping with `url` and optional `events`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusCallback, E> {
        Ok(StatusCallback { url: v.to_owned(), events: CallStatus::ALL.to_vec() })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StatusCallback, A::Error> {
        Full::deserialize(de::value::MapAccessDeserializer::new(map)).map(Into::into)
    }
}

impl<'de> Deserialize<'de> for StatusCallback {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CallbackVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_alone_means_every_status_and_a_mapping_picks_some() {
        let all: StatusCallback = serde_json::from_str(r#""https://crm.example/s""#).unwrap();
        assert_eq!(all.events, CallStatus::ALL);
        assert!(all.problem().is_none());
        let some: StatusCallback =
            serde_json::from_str(r#"{"url": "http://127.0.0.1:9/s", "events": ["completed", "answered", "completed"]}"#).unwrap();
        assert_eq!(some.events, [CallStatus::Answered, CallStatus::Completed]);
        assert!(some.wants(CallStatus::Completed) && !some.wants(CallStatus::Ringing));
        let err = serde_json::from_str::<StatusCallback>(r#"{"url": "http://h/", "events": ["rung"]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `rung`"), "{err}");
        let err = serde_json::from_str::<StatusCallback>(r#"{"url": "http://h/", "method": "GET"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `method`"), "{err}");
        assert!(serde_json::from_str::<StatusCallback>("3").is_err());
    }

    #[test]
    fn a_flow_names_its_callback_and_validate_points_at_a_bad_one() {
        let flow = |cb: &str| format!("flow: f\nstatus_callback: {cb}\nstart: a\nnodes:\n  a:\n    say: \"Bye.\"\n    hangup: true\n");
        let ok = crate::parse_flow(&flow("https://crm.example/status"), "f.yaml").unwrap();
        assert_eq!(ok.status_callback.as_ref().map(|c| c.events.len()), Some(4));
        assert!(crate::validate(&ok).is_empty(), "{:?}", crate::validate(&ok));
        let some = crate::parse_flow(&flow("{ url: \"http://127.0.0.1:9/s\", events: [answered, completed] }"), "f.yaml").unwrap();
        assert_eq!(some.status_callback.unwrap().events, [CallStatus::Answered, CallStatus::Completed]);
        let bad = crate::parse_flow(&flow("{ url: \"ftp://crm.example/s\" }"), "f.yaml").unwrap();
        let diagnostics = crate::validate(&bad);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].is_error() && diagnostics[0].line == 2, "{}", diagnostics[0]);
        assert!(diagnostics[0].message.contains("not an absolute http:// or https:// URL"), "{}", diagnostics[0]);
        let err = crate::parse_flow(&flow("{ url: \"http://h/\", events: [hangup] }"), "f.yaml").unwrap_err();
        assert!(format!("{err:?}").contains("unknown variant `hangup`"), "{err:?}");
    }

    #[test]
    fn only_absolute_http_urls_and_some_events_are_usable() {
        let cb = |url: &str| StatusCallback { url: url.into(), events: CallStatus::ALL.to_vec() };
        for bad in ["ftp://h/x", "crm.example/status", "http://", "https:///path", "http://a b/", "{{crm}}/status"] {
            assert!(cb(bad).problem().is_some(), "{bad}");
        }
        for good in ["http://127.0.0.1:8080/s", "https://user:pw@crm.example/s?x=1", "http://h"] {
            assert_eq!(cb(good).problem(), None, "{good}");
        }
        let none = StatusCallback { url: "http://h/".into(), events: vec![] };
        assert!(none.problem().unwrap().contains("empty"));
    }
}
