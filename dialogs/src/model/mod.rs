//! The flow model: what a flow file says, as typed Rust values.
//!
//! Every struct denies unknown keys, so a typo in a flow is a parse error
//! with a line number rather than a silently ignored verb. The verbs' own
//! shapes live in `verbs` (listening, transfers) and `steps` (webhooks,
//! branches, consent, surveys, business events).

mod de;
mod hours;
mod recording;
mod status;
mod steps;
mod verbs;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::locate::SourceMap;

pub(crate) use de::parse_duration;
pub use hours::{Date, DayRange, Hours, TimeRange, Weekday};
pub use recording::{RecordOp, RecordingPolicy};
pub use status::{CallStatus, StatusCallback};
pub use steps::{Branch, BusinessEvent, Case, CompareOp, Condition, Consent, EventKind, HttpMethod, Survey, SurveyScale, Variant, Webhook};
pub use verbs::{AcceptMode, BargeIn, ContextField, Fallback, Gather, Intent, Release, Text, Transfer, TransferMode};

/// The name of a node in a flow (`welcome`, `to_agent`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_owned())
    }
}

/// The id of a recorded prompt in the prompt library (`play: welcome_es`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PromptId(pub String);

impl PromptId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PromptId {
    fn from(s: &str) -> Self {
        PromptId(s.to_owned())
    }
}

/// A whole flow file. Build one with [`crate::parse_flow`] or
/// [`crate::load_flow`]; it remembers where each key was in its source so
/// that [`crate::validate`] can point at lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// The flow's name (`flow: demo`).
    #[serde(rename = "flow")]
    pub name: String,
    /// The flow's version, recorded with consent answers (default `1`).
    #[serde(default = "default_version", deserialize_with = "de::scalar")]
    pub version: String,
    /// The language passed with every prompt (default `en-US`).
    #[serde(default = "default_language")]
    pub language: String,
    /// The node a call enters first.
    pub start: NodeId,
    /// Outbound calls running this flow need the callee's recorded consent
    /// for this topic (`consent_required: marketing`); none: no check.
    #[serde(default)]
    pub consent_required: Option<String>,
    /// Where each call's status changes (`ringing`, `answered`,
    /// `transferred`, `completed`) are POSTed (issue #13); a
    /// `POST /v1/calls` `status_callback` replaces it for that call.
    #[serde(default)]
    pub status_callback: Option<StatusCallback>,
    /// When the call is recorded (issue #19): `never` (default), `always`
    /// or `{ on_consent: TOPIC }`.
    #[serde(default)]
    pub recording: RecordingPolicy,
    /// Business hours (parsed and shape-checked only for now).
    #[serde(default)]
    pub hours: Option<Hours>,
    /// Said before the prompt when a node re-asks after `no_match`, for
    /// nodes without their own `no_match_say` (default: a built-in "sorry,
    /// I didn't get that" in the call's language; `""`: nothing).
    #[serde(default)]
    pub no_match_say: Option<Text>,
    /// The question that confirms a mid-confidence answer
    /// (`gather.confirm_below`), for gathers without their own `confirm_say`.
    #[serde(default)]
    pub confirm_say: Option<Text>,
    /// The nodes, by id.
    pub nodes: BTreeMap<NodeId, Node>,
    #[serde(skip)]
    pub(crate) source: SourceMap,
}

impl Flow {
    /// The file name given when the flow was parsed.
    pub fn file(&self) -> &str {
        self.source.file()
    }
}

fn default_version() -> String {
    "1".to_owned()
}

fn default_language() -> String {
    "en-US".to_owned()
}

/// One step of a flow: what to say, what to listen for, where to go next.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Text to speak (TTS), with `{{var}}` templates; one text or one per
    /// language (`{ en-US: …, es-AR: … }`).
    #[serde(default)]
    pub say: Option<Text>,
    /// A recorded prompt to play.
    #[serde(default)]
    pub play: Option<PromptId>,
    /// Listen for the caller's input.
    #[serde(default)]
    pub gather: Option<Gather>,
    /// Said before the prompt when the caller is asked again after a
    /// `no_match` (default: the flow's `no_match_say`, else a built-in
    /// "sorry" unless `gather.reprompt` is set; `""`: nothing).
    #[serde(default)]
    pub no_match_say: Option<Text>,
    /// What the caller may say or press here, by intent name.
    #[serde(default)]
    pub intents: BTreeMap<String, Intent>,
    /// Event name (an intent, `no_input`, `no_match`, `exhausted`, `failed`,
    /// `done`) to the next node.
    #[serde(default)]
    pub on: BTreeMap<String, NodeId>,
    /// Hand the call to a person.
    #[serde(default)]
    pub transfer: Option<Transfer>,
    /// End the call (after the prompt, if any).
    #[serde(default)]
    pub hangup: bool,
    /// Variables to set on entry; values are templates.
    #[serde(default, deserialize_with = "de::scalar_map")]
    pub set: BTreeMap<String, String>,
    /// Call an HTTP service (a CRM look-up or an event); `done` or `failed`.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// Choose the next node by conditions on variables or an A/B split.
    #[serde(default)]
    pub branch: Option<Branch>,
    /// Ask for consent (the node's prompt is the question); `yes` or `no`.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// Ask a CSAT (1-5) or NPS (0-10) question; `done` with the score.
    #[serde(default)]
    pub survey: Option<Survey>,
    /// Emit a business event (`lead`, `order`, `recontact`) on entry.
    #[serde(default)]
    pub event: Option<BusinessEvent>,
    /// Start, stop, pause or resume the call's recording on entry, as far
    /// as the flow's `recording:` policy allows.
    #[serde(default)]
    pub record: Option<RecordOp>,
}
