//! Shapes of the verbs that talk and listen: per-language text, `gather`
//! with its barge-in rule, intents and `transfer`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::de;

/// Text to speak: one text, or one per language (`{ en-US: Hi, es-AR: Hola }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// The same text in every language.
    Plain(String),
    /// Text by language tag.
    ByLanguage(BTreeMap<String, String>),
}

impl Text {
    /// The text for `language`: the exact tag, then the same primary language
    /// (`es-AR` → `es-MX`), then `fallback` (the flow's language), then any.
    pub fn for_language(&self, language: &str, fallback: &str) -> Option<&str> {
        let map = match self {
            Text::Plain(s) => return Some(s),
            Text::ByLanguage(map) => map,
        };
        let primary = |tag: &str| tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        map.get(language)
            .or_else(|| map.iter().find(|(k, _)| primary(k) == primary(language)).map(|(_, v)| v))
            .or_else(|| map.get(fallback))
            .or_else(|| map.values().next())
            .map(String::as_str)
    }

    /// Every text, for validation.
    pub(crate) fn all(&self) -> Vec<&str> {
        match self {
            Text::Plain(s) => vec![s.as_str()],
            Text::ByLanguage(map) => map.values().map(String::as_str).collect(),
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::Plain(s.to_owned())
    }
}

/// Which input stops a playing prompt (and is taken as the answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BargeIn {
    /// Keys and speech.
    #[default]
    Any,
    /// Keys only.
    Dtmf,
    /// Speech only.
    Speech,
    /// The prompt always plays to the end; input during it is ignored.
    None,
}

impl BargeIn {
    pub(crate) fn allows_dtmf(self) -> bool {
        matches!(self, BargeIn::Any | BargeIn::Dtmf)
    }

    pub(crate) fn allows_speech(self) -> bool {
        matches!(self, BargeIn::Any | BargeIn::Speech)
    }
}

/// How a node listens for input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// Stop after exactly this many digits. Without it (and without a
    /// terminator or `max_digits`) the runner stops at the length of the
    /// longest intent DTMF.
    #[serde(default)]
    pub digits: Option<u32>,
    /// Fewer digits than this are `no_match`.
    #[serde(default)]
    pub min_digits: Option<u32>,
    /// Input ends on its own at this many digits.
    #[serde(default)]
    pub max_digits: Option<u32>,
    /// A key that ends the input (`"#"`); it is not part of the input.
    #[serde(default)]
    pub terminator: Option<char>,
    /// Silence allowed after the prompt before `no_input` (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Silence allowed between two digits before the input ends (default 3s).
    #[serde(default = "default_inter_digit", deserialize_with = "de::duration")]
    pub inter_digit_timeout: Duration,
    /// Listen for speech too ([`crate::FlowEvent::Speech`]).
    #[serde(default)]
    pub speech: bool,
    /// Speech below this confidence (0-1) is rejected: recorded, and
    /// `no_match` (default 0.5).
    #[serde(default = "default_confidence")]
    pub min_confidence: f32,
    /// Speech that matches an intent with a confidence from
    /// `min_confidence` up to (not including) this is confirmed first
    /// ("Did you say agent?", yes/no or keys 1/2). None: never.
    #[serde(default)]
    pub confirm_below: Option<f32>,
    /// The confirmation question; `{{choice}}` is the phrase heard (default
    /// per `confirm_say` of the flow, else a built-in one in the call's language).
    #[serde(default)]
    pub confirm_say: Option<Text>,
    /// Which input interrupts the prompt (default `any`).
    #[serde(default)]
    pub barge_in: BargeIn,
    /// Re-prompts allowed before `no_input`/`no_match` become `exhausted`.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Said instead of the node's prompt when the caller is sent back to it
    /// after a `no_input` or `no_match`.
    #[serde(default)]
    pub reprompt: Option<Text>,
    /// Card numbers, PINs: the call's recording carries silence while the
    /// flow is at this node (issue #19), so the keys' tones are not kept.
    #[serde(default)]
    pub sensitive: bool,
}

impl Default for Gather {
    fn default() -> Self {
        Gather {
            digits: None,
            min_digits: None,
            max_digits: None,
            terminator: None,
            timeout: default_timeout(),
            inter_digit_timeout: default_inter_digit(),
            speech: false,
            min_confidence: default_confidence(),
            confirm_below: None,
            confirm_say: None,
            barge_in: BargeIn::Any,
            retries: default_retries(),
            reprompt: None,
            sensitive: false,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_inter_digit() -> Duration {
    Duration::from_secs(3)
}

fn default_confidence() -> f32 {
    0.5
}

fn default_retries() -> u32 {
    2
}

/// One thing the caller may want, and how they may ask for it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// The keys that select it (`"1"`, or several digits).
    #[serde(default, deserialize_with = "de::opt_scalar")]
    pub dtmf: Option<String>,
    /// Words or phrases that select it by speech.
    #[serde(default)]
    pub phrases: Vec<String>,
}

/// A hand-off of the call to a person.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The target URI; `${transfer.agent_uri}` and `{{var}}` are substituted.
    pub to: String,
    /// Blind (REFER) or warm (B2BUA leg first).
    #[serde(default)]
    pub mode: TransferMode,
    /// Which parts of the call context travel with the transfer.
    #[serde(default)]
    pub context: Vec<ContextField>,
    /// Attempts of this transfer per call (default 2). The failure that
    /// uses them up fires `exhausted` (when mapped) instead of `failed`;
    /// entering the node again fires `exhausted` at once.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Said after each failed attempt, before `failed`/`exhausted`
    /// (default: a short apology in the call's language; `""`: nothing).
    #[serde(default)]
    pub apology: Option<Text>,
    /// Warm: what the agent alone hears on answering, before accepting
    /// (templates allowed; default: a summary of the context).
    #[serde(default)]
    pub whisper: Option<Text>,
    /// Warm: how the agent takes the call (default `dtmf`: 1 accepts, 2
    /// declines, a key during the whisper counts; `auto`: after the whisper).
    #[serde(default)]
    pub accept: AcceptMode,
    /// Warm: how long the agent's phone may ring (default 20 s), then `no_answer`.
    #[serde(default = "default_ring_timeout", deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Warm: what the caller hears while the agent is called (default: a
    /// short built-in music loop).
    #[serde(default)]
    pub hold: Option<Text>,
    /// Warm, once bridged: `refer` asks the caller's side to take the agent
    /// directly (REFER with Replaces, RFC 3891); refused, the bridge stays.
    #[serde(default)]
    pub release: Option<Release>,
    /// Warm: the caller ID (From user) of the agent's INVITE: `caller`
    /// (default: the caller's number), `gateway` (the number they called),
    /// or a number / `{{template}}`.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Blind: `bridge` dials the agent and bridges the call when the REFER
    /// is refused, times out, or the trunk does not take REFER.
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

fn default_attempts() -> u32 {
    2
}

fn default_ring_timeout() -> Duration {
    Duration::from_secs(20)
}

/// How the agent takes a warm transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptMode {
    /// DTMF 1 accepts, 2 declines.
    #[default]
    Dtmf,
    /// Accepted once the whisper has played.
    Auto,
}

/// What the gateway does with a bridged warm transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// REFER with Replaces to the caller's side.
    Refer,
}

/// What a blind transfer does when the REFER fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Dial the agent and bridge, as a warm transfer without whisper.
    Bridge,
}

/// Blind or warm transfer (DESIGN.md §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// REFER the caller to the target.
    #[default]
    Blind,
    /// Call the target first, whisper a summary, then bridge.
    Warm,
}

/// A part of the [`crate::CallContext`] a transfer may carry. The flow name
/// always travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextField {
    /// Caller, called number and call id.
    Caller,
    /// The intents matched so far.
    Intent,
    /// What the bot said and the caller answered.
    Transcript,
    /// Every digit pressed.
    Digits,
    /// The nodes visited.
    Path,
    /// Variables set by the flow (and CRM data from webhooks).
    Variables,
    /// Consent answers.
    Consent,
    /// Survey answers.
    Survey,
    /// A/B variants chosen.
    Variants,
}
