//! The runner's inputs and outputs: the [`FlowEvent`]s the call task feeds
//! in and the [`Action`]s it performs, plus the call [`Variables`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::context::CallContext;
use crate::model::{EventKind, HttpMethod, NodeId, PromptId, SurveyScale, TransferMode};

/// Call variables by name: `caller`, `called`, `call_id`, gateway settings
/// such as `transfer.agent_uri`, and whatever the flow sets.
pub type Variables = BTreeMap<String, String>;

/// Something that happened on the call, for [`FlowRunner::handle_event`].
#[derive(Debug, Clone, PartialEq)]
pub enum FlowEvent {
    /// The last `Say` or `Play` finished playing.
    PromptFinished,
    /// The caller pressed a key (`0`-`9`, `*`, `#`, `A`-`D`).
    Digit(char),
    /// The transfer target took the call; the flow is over.
    TransferAccepted,
    /// The transfer failed; the node's `failed` event follows.
    TransferFailed {
        /// Why, for logs (e.g. `486 Busy Here`).
        reason: String,
    },
    /// A warm transfer's agent did not take the call: the node's
    /// `no_answer`, `busy` or `declined` event when it maps it, else `failed`.
    TransferNotTaken {
        /// Which of the three.
        failure: TransferFailure,
        /// Why, for logs.
        reason: String,
    },
    /// The caller hung up; the flow is over and emits nothing more.
    CallerHungUp,
    /// The recogniser's final result for the caller's speech.
    Speech {
        /// What was said.
        text: String,
        /// The recogniser's confidence, 0-1.
        confidence: f32,
    },
    /// The caller started speaking (voice activity, before any words are
    /// recognised): barge-in per `gather.barge_in`, and the no-input timer
    /// stops while they talk.
    SpeechStarted,
    /// The webhook answered; its `map` fills variables. A 2xx status is the
    /// node's `done`, anything else its `failed`.
    WebhookResult {
        /// The HTTP status.
        status: u16,
        /// The response body (JSON; `Null` when empty or not JSON).
        body: serde_json::Value,
    },
    /// The webhook could not be performed; the node's `failed` follows.
    WebhookFailed {
        /// Why, for logs.
        reason: String,
    },
}

/// Why a warm transfer's agent did not take the call (DESIGN.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferFailure {
    /// Nobody answered within the node's `timeout`.
    NoAnswer,
    /// The agent's side answered busy (486, 600).
    Busy,
    /// The agent declined (DTMF 2, 603, or hung up during the whisper).
    Declined,
}

impl TransferFailure {
    /// The `on:` event it fires.
    pub fn event(self) -> &'static str {
        match self {
            TransferFailure::NoAnswer => "no_answer",
            TransferFailure::Busy => "busy",
            TransferFailure::Declined => "declined",
        }
    }
}

/// A transfer node's settings beyond the target, templates rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferOptions {
    /// Warm: the text the agent hears before accepting.
    pub whisper: String,
    /// Warm: DTMF or automatic acceptance.
    pub accept: crate::model::AcceptMode,
    /// Warm: how long the agent may ring.
    pub timeout: Duration,
    /// Warm: what the caller hears meanwhile; None: the built-in music.
    pub hold: Option<String>,
    /// Warm: leave the media path by REFER with Replaces once bridged.
    pub release: Option<crate::model::Release>,
    /// Warm: the agent INVITE's caller ID: `caller` (None too), `gateway`,
    /// or a number, templates rendered.
    pub caller_id: Option<String>,
    /// Blind: bridge when the REFER fails.
    pub fallback: Option<crate::model::Fallback>,
}

/// Something the call task must do, from [`FlowRunner::poll_action`].
// `Transfer` carries the whole context by value: a few actions per call,
// and the gateway matches on the plain struct.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The flow entered a node (for logs and metrics).
    NodeEntered {
        /// The node.
        node: NodeId,
    },
    /// Speak this text; report [`FlowEvent::PromptFinished`] when done.
    Say {
        /// Text with templates resolved.
        text: String,
        /// The flow's language.
        language: String,
    },
    /// Play this recorded prompt; report [`FlowEvent::PromptFinished`].
    Play {
        /// The prompt's id in the library.
        prompt: PromptId,
        /// The flow's language.
        language: String,
    },
    /// Stop the prompt playing now (the caller barged in).
    StopPrompt,
    /// The caller's input matched an intent.
    IntentMatched {
        /// The intent's name.
        intent: String,
        /// The input that matched.
        input: String,
    },
    /// The caller's speech was not taken (issue #13): recognised below the
    /// gather's `min_confidence`, or the caller said no to "Did you say
    /// …?". A `no_match` follows; record it, so a right answer heard with
    /// low confidence is never thrown away silently.
    SpeechRejected {
        /// What the recogniser heard.
        text: String,
        /// Its confidence, 0-1.
        confidence: f32,
        /// What it would have meant: the intent (or `yes`/`no`, a score)
        /// it matches, if any.
        guess: Option<String>,
        /// Why it was not taken.
        reason: RejectReason,
    },
    /// A hypothesis between `min_confidence` and `gather.confirm_below`:
    /// the caller is asked "Did you say …?" (a `Say` follows); yes fires
    /// the intent, no is a `no_match`.
    ConfirmationAsked {
        /// The intent heard.
        intent: String,
        /// What the recogniser heard.
        text: String,
        /// Its confidence, 0-1.
        confidence: f32,
    },
    /// Transfer the call; report `TransferAccepted` or `TransferFailed`.
    Transfer {
        /// Target URI with settings substituted.
        to: String,
        /// Blind or warm.
        mode: TransferMode,
        /// The call context, filtered by the node's `context:` list.
        context: CallContext,
        /// Warm-transfer and fallback settings, rendered.
        options: TransferOptions,
    },
    /// Hang up the call; the flow is over.
    Hangup,
    /// Make an HTTP request; report [`FlowEvent::WebhookResult`] or
    /// [`FlowEvent::WebhookFailed`] (the runner gives up after `timeout`).
    Webhook {
        /// The webhook's name.
        name: String,
        /// The URL with templates resolved.
        url: String,
        /// GET or POST.
        method: HttpMethod,
        /// Body fields with templates resolved (a JSON object of strings).
        body: BTreeMap<String, String>,
        /// How long the runner waits.
        timeout: Duration,
    },
    /// A business event for KPIs (DESIGN.md §6); nothing to answer.
    BusinessEvent {
        /// `lead`, `order` or `recontact`.
        kind: EventKind,
        /// The value (orders), rendered.
        value: Option<String>,
        /// Its currency.
        currency: Option<String>,
        /// Other fields, rendered.
        data: BTreeMap<String, String>,
    },
    /// The caller answered a consent question; store it.
    ConsentRecorded {
        /// What was consented to.
        topic: String,
        /// The answer.
        granted: bool,
        /// When (RFC 3339 UTC), if the runner has a wall clock.
        at: Option<String>,
        /// The flow's version.
        flow_version: String,
    },
    /// The caller answered a survey question; store it.
    SurveyAnswer {
        /// The survey's name.
        survey: String,
        /// CSAT or NPS.
        scale: SurveyScale,
        /// The score.
        score: u8,
    },
    /// A branch chose an A/B variant (sticky per caller).
    VariantChosen {
        /// The branch node.
        branch: NodeId,
        /// The variant's name.
        variant: String,
    },
}

/// Why the caller's speech was not taken ([`Action::SpeechRejected`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RejectReason {
    /// The confidence was below the gather's `min_confidence` (given).
    LowConfidence {
        /// The node's `min_confidence`.
        min_confidence: f32,
    },
    /// Asked "Did you say …?", the caller said no (or pressed 2).
    Denied,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::LowConfidence { min_confidence } => write!(f, "below min_confidence {min_confidence:.2}"),
            RejectReason::Denied => f.write_str("the caller said no"),
        }
    }
}
