//! The runner's inputs and outputs: the [`FlowEvent`]s the call task feeds
//! in and the [`Action`]s it performs, plus the call [`Variables`].

use std::collections::BTreeMap;

use crate::context::CallContext;
use crate::model::{NodeId, PromptId, TransferMode};

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
    /// The caller hung up; the flow is over and emits nothing more.
    CallerHungUp,
}

/// Something the call task must do, from [`FlowRunner::poll_action`].
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
    /// Transfer the call; report `TransferAccepted` or `TransferFailed`.
    Transfer {
        /// Target URI with settings substituted.
        to: String,
        /// Blind or warm.
        mode: TransferMode,
        /// The call context, filtered by the node's `context:` list.
        context: CallContext,
    },
    /// Hang up the call; the flow is over.
    Hangup,
}
