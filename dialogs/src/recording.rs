//! The recording gate (issue #19): a sans-IO state machine that turns the
//! flow's `recording:` policy, the nodes' `record:` orders and the
//! caller's consent answers into what the recorder should do now.
//!
//! The call task feeds it what the [`crate::FlowRunner`] already tells it
//! (the call was answered, [`crate::Action::NodeEntered`],
//! [`crate::Action::ConsentRecorded`]) and performs each
//! [`RecordState`] it returns. At the call's end
//! [`RecordingGate::verdict`] says whether the call was recorded and, if
//! not, why — the call record keeps both, so "the caller said no" is
//! visible next to a call without a file.

use crate::model::{Flow, Node, RecordOp, RecordingPolicy};

/// What the recorder should be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Not writing (never started, stopped, or consent refused).
    Off,
    /// Writing both channels.
    On,
    /// Writing silence (a `pause`): the file keeps the call's timeline.
    Paused,
}

/// Why a call was or was not recorded (the record's `recording_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingVerdict {
    /// Something was recorded.
    Recorded,
    /// The flow's policy is `never` (or it has none).
    Never,
    /// The caller refused consent for this topic.
    Refused(String),
    /// The consent this topic needs was never given (not asked, or no answer).
    NoConsent(String),
    /// The policy allowed it but the flow stopped recording before it began.
    NotStarted,
}

impl RecordingVerdict {
    /// The short status stored with the call: `recorded`, `never`,
    /// `refused`, `no_consent`, `not_started`.
    pub fn status(&self) -> &'static str {
        match self {
            RecordingVerdict::Recorded => "recorded",
            RecordingVerdict::Never => "never",
            RecordingVerdict::Refused(_) => "refused",
            RecordingVerdict::NoConsent(_) => "no_consent",
            RecordingVerdict::NotStarted => "not_started",
        }
    }

    /// The reason in words, for the record.
    pub fn reason(&self) -> String {
        match self {
            RecordingVerdict::Recorded => "recorded".to_owned(),
            RecordingVerdict::Never => "the flow's recording policy is never".to_owned(),
            RecordingVerdict::Refused(topic) => format!("the caller refused consent `{topic}`"),
            RecordingVerdict::NoConsent(topic) => format!("consent `{topic}` was never given"),
            RecordingVerdict::NotStarted => "the flow stopped recording before it started".to_owned(),
        }
    }
}

/// The gate of one call. See the module documentation.
#[derive(Debug, Clone)]
pub struct RecordingGate {
    policy: RecordingPolicy,
    /// The consent answer for the policy's topic, once given.
    consent: Option<bool>,
    /// The caller refused at some point: never recorded again.
    refused: bool,
    /// The flow wants recording (not `stop`ped).
    wanted: bool,
    /// A `pause` not yet `resume`d.
    paused: bool,
    /// At a node whose gather is `sensitive: true`: silence meanwhile.
    sensitive: bool,
    /// The call was answered (recording starts no earlier).
    answered: bool,
    state: RecordState,
    ever_on: bool,
}

impl RecordingGate {
    /// A gate for a call running `flow`.
    pub fn new(flow: &Flow) -> Self {
        Self::with_policy(flow.recording.clone())
    }

    /// A gate for a policy.
    pub fn with_policy(policy: RecordingPolicy) -> Self {
        RecordingGate {
            policy,
            consent: None,
            refused: false,
            wanted: true,
            paused: false,
            sensitive: false,
            answered: false,
            state: RecordState::Off,
            ever_on: false,
        }
    }

    /// True when the policy may ever record (not `never`).
    pub fn may_record(&self) -> bool {
        self.policy != RecordingPolicy::Never
    }

    /// The state now.
    pub fn state(&self) -> RecordState {
        self.state
    }

    /// The call was answered (media flows). Returns the new state if it changed.
    pub fn answered(&mut self) -> Option<RecordState> {
        self.answered = true;
        self.update()
    }

    /// The flow entered `node`; its `record:` order, if any, applies, and
    /// a `sensitive: true` gather is recorded as silence until the flow
    /// leaves the node.
    pub fn node_entered(&mut self, node: &Node) -> Option<RecordState> {
        self.sensitive = node.gather.as_ref().is_some_and(|g| g.sensitive);
        match node.record {
            Some(RecordOp::Start) => {
                self.wanted = true;
                self.paused = false;
            }
            Some(RecordOp::Stop) => self.wanted = false,
            Some(RecordOp::Pause) => self.paused = true,
            Some(RecordOp::Resume) => self.paused = false,
            None => {}
        }
        self.update()
    }

    /// The caller answered a consent question.
    pub fn consent(&mut self, topic: &str, granted: bool) -> Option<RecordState> {
        if let RecordingPolicy::OnConsent(t) = &self.policy {
            if t == topic {
                self.consent = Some(granted);
                self.refused |= !granted;
            }
        }
        self.update()
    }

    /// Whether the call was recorded, and why not.
    pub fn verdict(&self) -> RecordingVerdict {
        if self.ever_on {
            return RecordingVerdict::Recorded;
        }
        match &self.policy {
            RecordingPolicy::Never => RecordingVerdict::Never,
            RecordingPolicy::OnConsent(topic) if self.refused => RecordingVerdict::Refused(topic.clone()),
            RecordingPolicy::OnConsent(topic) if self.consent != Some(true) => RecordingVerdict::NoConsent(topic.clone()),
            _ => RecordingVerdict::NotStarted,
        }
    }

    fn allowed(&self) -> bool {
        match &self.policy {
            RecordingPolicy::Never => false,
            RecordingPolicy::Always => true,
            RecordingPolicy::OnConsent(_) => self.consent == Some(true) && !self.refused,
        }
    }

    fn update(&mut self) -> Option<RecordState> {
        let next = if !self.answered || !self.allowed() || !self.wanted {
            RecordState::Off
        } else if self.paused || self.sensitive {
            RecordState::Paused
        } else {
            RecordState::On
        };
        if next == self.state {
            return None;
        }
        self.state = next;
        self.ever_on |= next != RecordState::Off;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: RecordOp) -> Node {
        Node { record: Some(op), ..Node::default() }
    }

    #[test]
    fn never_records_and_says_so() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::Never);
        assert_eq!(g.answered(), None);
        assert_eq!(g.node_entered(&node(RecordOp::Start)), None);
        assert_eq!(g.verdict(), RecordingVerdict::Never);
        assert_eq!(g.verdict().status(), "never");
    }

    #[test]
    fn always_records_from_the_answer_and_pauses() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::Always);
        assert_eq!(g.answered(), Some(RecordState::On));
        assert_eq!(g.node_entered(&Node::default()), None);
        assert_eq!(g.node_entered(&node(RecordOp::Pause)), Some(RecordState::Paused));
        assert_eq!(g.node_entered(&node(RecordOp::Resume)), Some(RecordState::On));
        assert_eq!(g.node_entered(&node(RecordOp::Stop)), Some(RecordState::Off));
        assert_eq!(g.node_entered(&node(RecordOp::Start)), Some(RecordState::On));
        assert_eq!(g.verdict(), RecordingVerdict::Recorded);
    }

    #[test]
    fn consent_granted_starts_recording() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::OnConsent("recording".into()));
        assert_eq!(g.answered(), None);
        assert_eq!(g.consent("marketing", true), None);
        assert_eq!(g.consent("recording", true), Some(RecordState::On));
        assert_eq!(g.verdict(), RecordingVerdict::Recorded);
    }

    #[test]
    fn refused_consent_is_never_recorded_even_if_a_node_says_start() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::OnConsent("recording".into()));
        g.answered();
        assert_eq!(g.consent("recording", false), None);
        assert_eq!(g.node_entered(&node(RecordOp::Start)), None);
        assert_eq!(g.consent("recording", true), None, "a later yes does not undo a refusal");
        let v = g.verdict();
        assert_eq!(v.status(), "refused");
        assert_eq!(v.reason(), "the caller refused consent `recording`");
    }

    #[test]
    fn unanswered_consent_is_no_consent() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::OnConsent("recording".into()));
        g.answered();
        assert_eq!(g.verdict().status(), "no_consent");
    }

    #[test]
    fn pause_before_consent_takes_effect_once_granted() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::OnConsent("recording".into()));
        g.answered();
        assert_eq!(g.node_entered(&node(RecordOp::Pause)), None);
        assert_eq!(g.consent("recording", true), Some(RecordState::Paused));
    }

    #[test]
    fn a_sensitive_gather_is_silence_until_the_next_node() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::Always);
        g.answered();
        let pin = Node { gather: Some(crate::model::Gather { sensitive: true, ..Default::default() }), ..Node::default() };
        assert_eq!(g.node_entered(&pin), Some(RecordState::Paused));
        assert_eq!(g.node_entered(&pin), None, "re-asked: still silent");
        assert_eq!(g.node_entered(&Node::default()), Some(RecordState::On));
    }

    #[test]
    fn nothing_before_the_answer() {
        let mut g = RecordingGate::with_policy(RecordingPolicy::Always);
        assert_eq!(g.node_entered(&node(RecordOp::Start)), None);
        assert_eq!(g.answered(), Some(RecordState::On));
    }
}
