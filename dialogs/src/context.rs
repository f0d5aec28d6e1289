//! The call context: what the flow learned about a call (who called, what
//! they asked for, what was said). It travels with a transfer (filtered by
//! the node's `context:` list) and is served by the admin API as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{ContextField, NodeId, SurveyScale};

/// What a flow knows about one call. Empty fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CallContext {
    /// The flow's name; always present.
    pub flow: String,
    /// The caller (variable `caller`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub caller: String,
    /// The number called (variable `called`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub called: String,
    /// The SIP Call-ID (variable `call_id`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub call_id: String,
    /// Intents matched, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<IntentRecord>,
    /// Every key the caller pressed that the flow took, in order.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digits: String,
    /// The nodes entered, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<NodeId>,
    /// What the bot said and the caller answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TranscriptLine>,
    /// Variables set by the flow's `set` and by webhook results (CRM data).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Consent answers, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<ConsentRecord>,
    /// Survey answers, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub surveys: Vec<SurveyRecord>,
    /// A/B variant chosen, by branch node.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, String>,
}

/// A consent answer: what, yes or no, when (RFC 3339, UTC, from the wall
/// clock given to the runner) and under which flow version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentRecord {
    /// What was consented to (`recording`).
    pub topic: String,
    /// The answer.
    pub granted: bool,
    /// When, if the runner was given a wall clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The flow's `version`.
    pub flow_version: String,
    /// The node that asked.
    pub node: NodeId,
}

/// A survey answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyRecord {
    /// The survey's name.
    pub survey: String,
    /// `csat` or `nps`.
    pub scale: SurveyScale,
    /// The score.
    pub score: u8,
}

/// An intent the caller chose, with the input that chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentRecord {
    /// The intent's name.
    pub intent: String,
    /// The digits (or, later, words) that matched.
    pub input: String,
    /// The node where it matched.
    pub node: NodeId,
}

/// Who said a line of the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The flow's prompts.
    Bot,
    /// The caller's input (`DTMF 1` for keys).
    Caller,
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

impl CallContext {
    /// A copy keeping only `fields` (and the flow name).
    pub fn filtered(&self, fields: &[ContextField]) -> CallContext {
        let mut out = CallContext { flow: self.flow.clone(), ..CallContext::default() };
        for field in fields {
            match field {
                ContextField::Caller => {
                    out.caller.clone_from(&self.caller);
                    out.called.clone_from(&self.called);
                    out.call_id.clone_from(&self.call_id);
                }
                ContextField::Intent => out.intents.clone_from(&self.intents),
                ContextField::Transcript => out.transcript.clone_from(&self.transcript),
                ContextField::Digits => out.digits.clone_from(&self.digits),
                ContextField::Path => out.path.clone_from(&self.path),
                ContextField::Variables => out.variables.clone_from(&self.variables),
                ContextField::Consent => out.consents.clone_from(&self.consents),
                ContextField::Survey => out.surveys.clone_from(&self.surveys),
                ContextField::Variants => out.variants.clone_from(&self.variants),
            }
        }
        out
    }
}
