//! `recording:` (the flow's policy) and `record:` (a node's order) of
//! issue #19: whether and when the gateway records the call.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The flow's recording policy (`recording:`; default `never`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingPolicy {
    /// Never record (the default).
    #[default]
    Never,
    /// Record from the answer on (nodes may `stop`/`pause` it).
    Always,
    /// Record once the caller has granted consent for this topic
    /// (`recording: { on_consent: recording }`); a caller who refuses (or
    /// never answers) is never recorded.
    OnConsent(String),
}

/// A node's order to the recorder (`record: start|stop|pause|resume`),
/// carried out on entry to the node, only as far as the policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordOp {
    /// (Re)start recording (after a `stop`); the same file continues.
    Start,
    /// Stop recording: nothing more is written unless a later `start`.
    Stop,
    /// Pause: the file carries silence until `resume`.
    Pause,
    /// Resume after `pause`.
    Resume,
}

impl<'de> Deserialize<'de> for RecordingPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecordingPolicy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`never`, `always` or `{ on_consent: TOPIC }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "never" => Ok(RecordingPolicy::Never),
                    "always" => Ok(RecordingPolicy::Always),
                    other => Err(E::custom(format!(
                        "unknown recording policy `{other}`, expected `never`, `always` or `{{ on_consent: TOPIC }}`"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut topic = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "on_consent" || topic.is_some() {
                        return Err(de::Error::custom(format!("unknown key `{key}` in `recording`, expected `on_consent`")));
                    }
                    topic = Some(map.next_value::<String>()?);
                }
                topic.map(RecordingPolicy::OnConsent).ok_or_else(|| de::Error::missing_field("on_consent"))
            }
        }
        d.deserialize_any(V)
    }
}
