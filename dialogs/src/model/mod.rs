//! The flow model: what a flow file says, as typed Rust values.
//!
//! Every struct denies unknown keys, so a typo in a flow is a parse error
//! with a line number rather than a silently ignored verb. Verbs that a later
//! issue adds (`webhook`, `branch`, `consent`, `survey`) become new optional
//! fields of [`Node`]; the runner handles what it knows.

mod de;
mod hours;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::locate::SourceMap;

pub use hours::{Date, DayRange, Hours, TimeRange, Weekday};

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
    /// The language passed with every prompt (default `en-US`).
    #[serde(default = "default_language")]
    pub language: String,
    /// The node a call enters first.
    pub start: NodeId,
    /// Business hours (parsed and shape-checked only for now).
    #[serde(default)]
    pub hours: Option<Hours>,
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

fn default_language() -> String {
    "en-US".to_owned()
}

/// One step of a flow: what to say, what to listen for, where to go next.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Text to speak (TTS), with `{{var}}` templates.
    #[serde(default)]
    pub say: Option<String>,
    /// A recorded prompt to play.
    #[serde(default)]
    pub play: Option<PromptId>,
    /// Listen for the caller's input.
    #[serde(default)]
    pub gather: Option<Gather>,
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
}

/// How a node listens for input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// Stop after this many digits. Without it (and without a terminator)
    /// the runner stops at the length of the longest intent DTMF.
    #[serde(default)]
    pub digits: Option<u32>,
    /// A key that ends the input (`"#"`); it is not part of the input.
    #[serde(default)]
    pub terminator: Option<char>,
    /// Silence allowed after the prompt before `no_input` (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Silence allowed between two digits before the input ends (default 3s).
    #[serde(default = "default_inter_digit", deserialize_with = "de::duration")]
    pub inter_digit_timeout: Duration,
    /// Listen for speech too (used once recognition reaches the runner).
    #[serde(default)]
    pub speech: bool,
    /// Re-prompts allowed before `no_input`/`no_match` become `exhausted`.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl Default for Gather {
    fn default() -> Self {
        Gather {
            digits: None,
            terminator: None,
            timeout: default_timeout(),
            inter_digit_timeout: default_inter_digit(),
            speech: false,
            retries: default_retries(),
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_inter_digit() -> Duration {
    Duration::from_secs(3)
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
    /// Variables set by the flow.
    Variables,
}
