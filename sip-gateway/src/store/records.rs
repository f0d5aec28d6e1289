//! The records the store keeps, as plain serde structs: what call tasks
//! write (`NewCall`, `Step`, …, wrapped in [`Record`] for the writer) and
//! what the admin API reads back (`CallRecord`, `EventRecord`). Closed sets
//! of words (direction, outcome, …) are enums stored as their snake_case
//! text; an unknown word read back is [`StoreError::Corrupt`]. Times are
//! Unix milliseconds here and RFC 3339 strings in JSON ([`super::json_time`]).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::StoreError;

/// An enum stored as TEXT: `as_str` for binding, `parse` for reading.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(StoreError::Corrupt { what: stringify!($name), value: text.to_string() }),
                }
            }
        }
    };
}

text_enum!(Direction { Inbound = "inbound", Outbound = "outbound" });
text_enum!(
    /// How a call ended. `interrupted`: the gateway stopped under it.
    Outcome {
        Completed = "completed",
        Transferred = "transferred",
        Abandoned = "abandoned",
        Failed = "failed",
        Interrupted = "interrupted",
        NoAnswer = "no_answer",
        Busy = "busy",
    }
);
text_enum!(HangupSide { Caller = "caller", Gateway = "gateway", Agent = "agent" });
text_enum!(StepKind { Node = "node", Intent = "intent", Digits = "digits", Transcript = "transcript", Prompt = "prompt", Webhook = "webhook", Release = "release", Rejected = "rejected", Confirm = "confirm" });
text_enum!(TransferMode { Blind = "blind", Warm = "warm" });
text_enum!(SurveyKind { Csat = "csat", Nps = "nps" });
text_enum!(EventKind { Lead = "lead", Order = "order", Recontact = "recontact" });

/// A call as it starts (INVITE received or outbound INVITE sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCall {
    pub id: String,
    pub sip_call_id: String,
    pub caller: String,
    pub called: String,
    pub flow: String,
    pub flow_version: String,
    pub direction: Direction,
    #[serde(with = "super::json_time")]
    pub started_at: i64,
    pub ab_variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEnd {
    pub call_id: String,
    #[serde(with = "super::json_time")]
    pub at: i64,
    pub outcome: Outcome,
    pub hangup_side: HangupSide,
    pub hangup_cause: Option<String>,
}

/// One thing that happened in the flow; `seq` orders a call's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub call_id: String,
    pub seq: i64,
    #[serde(with = "super::json_time")]
    pub at: i64,
    pub kind: StepKind,
    pub node: String,
    pub detail: String,
    pub confidence: Option<f64>,
    pub duration_ms: Option<i64>,
}

/// A transfer attempt with its result: `ok` when the NOTIFY (or the agent
/// leg) reported 2xx; `result_code` is `None` on a timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub call_id: String,
    pub target: String,
    pub mode: TransferMode,
    pub result_code: Option<i64>,
    #[serde(with = "super::json_time")]
    pub tried_at: i64,
    pub answered_ms: Option<i64>,
    pub ok: bool,
    /// `referred` (blind, NOTIFY 2xx), `bridged` (warm), `no_answer`,
    /// `busy`, `declined`, `failed`; None in records from before it existed.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Warm: tried → the agent's phone answered.
    #[serde(default)]
    pub ring_ms: Option<i64>,
    /// Warm and bridged: how long the bridge lasted (set when the call ends).
    #[serde(default)]
    pub bridge_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub call_id: String,
    pub caller: String,
    pub purpose: String,
    pub granted: bool,
    #[serde(with = "super::json_time")]
    pub at: i64,
}

/// CSAT scores are 1–5, NPS scores 0–10; others are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    pub call_id: String,
    pub kind: SurveyKind,
    pub score: i64,
    #[serde(with = "super::json_time")]
    pub at: i64,
}

/// A lead, order or re-contact request. `value`/`currency` matter for
/// orders (revenue KPIs); `payload` is what the CRM receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessEvent {
    pub call_id: Option<String>,
    pub caller: String,
    pub kind: EventKind,
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub payload: serde_json::Value,
    #[serde(with = "super::json_time")]
    pub at: i64,
    pub idempotency_key: String,
}

/// A stored business event with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    #[serde(flatten)]
    pub event: BusinessEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbAssignment {
    pub call_id: String,
    pub experiment: String,
    pub variant: String,
}

/// Everything a call task (or anyone) can write, one transaction each or
/// grouped by the [`StoreWriter`](super::StoreWriter).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Call(NewCall),
    Answered {
        call_id: String,
        at: i64,
    },
    FirstPrompt {
        call_id: String,
        at: i64,
    },
    Ended(CallEnd),
    Step(Step),
    Transfer(Transfer),
    /// The bridge of the call's transfer tried at `tried_at` lasted `bridge_ms`.
    BridgeEnded {
        call_id: String,
        tried_at: i64,
        bridge_ms: i64,
    },
    Consent(Consent),
    Survey(SurveyAnswer),
    Event(BusinessEvent),
    Ab(AbAssignment),
    /// A call's recording started (status `recording`, its path) or
    /// ended (length, size, channels; or why nothing was recorded).
    Recording(super::RecordingUpdate),
    /// A delivery for the outbox; `url` None: `[events].url`.
    Enqueue {
        kind: String,
        payload: serde_json::Value,
        key: String,
        at: i64,
        url: Option<String>,
    },
}

/// A CDR as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub sip_call_id: String,
    pub caller: String,
    pub called: String,
    pub flow: String,
    pub flow_version: String,
    pub direction: Direction,
    #[serde(with = "super::json_time")]
    pub started_at: i64,
    #[serde(with = "super::json_time::opt", default)]
    pub answered_at: Option<i64>,
    #[serde(with = "super::json_time::opt", default)]
    pub first_prompt_at: Option<i64>,
    #[serde(with = "super::json_time::opt", default)]
    pub ended_at: Option<i64>,
    pub outcome: Option<Outcome>,
    pub hangup_side: Option<HangupSide>,
    pub hangup_cause: Option<String>,
    pub ab_variant: Option<String>,
    /// The call's recording (issue #19): its file, or why there is none;
    /// null, like every other documented field without a value, when the
    /// flow never records.
    #[serde(default)]
    pub recording: Option<super::RecordingInfo>,
}

/// The column list [`CallRecord::from_row`] expects.
pub(crate) const CALL_COLUMNS: &str = "id, sip_call_id, caller, called, flow, flow_version, direction, started_at, answered_at, \
     first_prompt_at, ended_at, outcome, hangup_side, hangup_cause, ab_variant, recording_status, recording_reason, recording_path, \
     recording_duration_ms, recording_bytes, recording_channels, recording_deleted_at";

impl CallRecord {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let outcome: Option<String> = row.try_get("outcome")?;
        let side: Option<String> = row.try_get("hangup_side")?;
        Ok(CallRecord {
            id: row.try_get("id")?,
            sip_call_id: row.try_get("sip_call_id")?,
            caller: row.try_get("caller")?,
            called: row.try_get("called")?,
            flow: row.try_get("flow")?,
            flow_version: row.try_get("flow_version")?,
            direction: Direction::parse(&row.try_get::<String, _>("direction")?)?,
            started_at: row.try_get("started_at")?,
            answered_at: row.try_get("answered_at")?,
            first_prompt_at: row.try_get("first_prompt_at")?,
            ended_at: row.try_get("ended_at")?,
            outcome: outcome.as_deref().map(Outcome::parse).transpose()?,
            hangup_side: side.as_deref().map(HangupSide::parse).transpose()?,
            hangup_cause: row.try_get("hangup_cause")?,
            ab_variant: row.try_get("ab_variant")?,
            recording: super::RecordingInfo::from_row(row)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_as_text() {
        for o in [Outcome::Completed, Outcome::NoAnswer, Outcome::Interrupted] {
            assert_eq!(Outcome::parse(o.as_str()).unwrap(), o);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{}\"", o.as_str()));
        }
        assert_eq!(Outcome::NoAnswer.as_str(), "no_answer");
        assert!(matches!(SurveyKind::parse("ces"), Err(StoreError::Corrupt { what: "SurveyKind", .. })));
    }
}
