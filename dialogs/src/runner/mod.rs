//! The `FlowRunner`: one call's walk through a flow, as a sans-IO state
//! machine. Inputs are [`FlowEvent`]s and timeouts, each with the current
//! `Instant`; outputs are [`Action`]s for the call task to perform.
//!
//! Rules, in short: entering a node emits `NodeEntered`, applies `set`, then
//! speaks or plays its prompt. A gather listens from entry (a key pressed
//! during the prompt stops it: barge-in); its no-input timer starts when the
//! prompt ends. Input ends at `digits` keys, at the terminator or after the
//! inter-digit timeout, and is matched against the node's intents by DTMF.
//! Each outcome is an event (`sales`, `no_input`, `no_match`, `exhausted`,
//! `failed`, `done`) looked up in the node's `on`; an unmapped event hangs
//! up, so no caller is ever left in silence. Gather failures count per node
//! while `on` keeps sending the caller back to it; past `retries` they become
//! `exhausted`. After 50 node entries with no caller input the call hangs up.
//! Speech input (`gather.speech`) is parsed but not yet fed to the runner.

mod io;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub use io::{Action, FlowEvent, Variables};

use crate::context::{CallContext, IntentRecord, Speaker, TranscriptLine};
use crate::model::{Flow, Node, NodeId};
use crate::template::render;

/// Node entries allowed in a row without caller input before hanging up.
const MAX_ENTRIES_WITHOUT_INPUT: u32 = 50;

/// What a node does once its prompt has played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Gather,
    Transfer,
    Hangup,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A prompt is playing.
    Playing(Then),
    /// Waiting for the caller's keys.
    Listening,
    /// A transfer is under way.
    Transferring,
    /// Hung up or transferred.
    Finished,
}

/// Input collected by the current node's gather.
#[derive(Debug, Default)]
struct Gathering {
    input: String,
    no_input_at: Option<Instant>,
    inter_digit_at: Option<Instant>,
}

/// Runs one call through a flow. See the crate doc for the run loop.
#[derive(Debug)]
pub struct FlowRunner {
    flow: Arc<Flow>,
    vars: Variables,
    context: CallContext,
    actions: VecDeque<Action>,
    phase: Phase,
    node: Option<NodeId>,
    /// Gather failures at the current node (kept while `on` loops back to it).
    failures: u32,
    entries_without_input: u32,
    /// Armed while the current node's gather listens.
    gathering: Option<Gathering>,
}

fn is_dtmf_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

/// Keys after which the input ends on its own: `digits`, or without a
/// terminator the longest intent DTMF.
fn max_digits(node: &Node) -> Option<usize> {
    let gather = node.gather.as_ref()?;
    match (gather.digits, gather.terminator) {
        (Some(n), _) => Some(n.max(1) as usize),
        (None, Some(_)) => None,
        (None, None) => node.intents.values().filter_map(|i| i.dtmf.as_ref().map(|d| d.chars().count())).max(),
    }
}

impl FlowRunner {
    /// Starts a call: enters the flow's `start` node. Its actions are ready
    /// in [`FlowRunner::poll_action`] right away.
    pub fn new(flow: Arc<Flow>, vars: Variables, now: Instant) -> Self {
        let var = |name: &str| vars.get(name).cloned().unwrap_or_default();
        let context = CallContext {
            flow: flow.name.clone(),
            caller: var("caller"),
            called: var("called"),
            call_id: var("call_id"),
            ..CallContext::default()
        };
        let start = flow.start.clone();
        let mut runner = FlowRunner {
            flow,
            vars,
            context,
            actions: VecDeque::new(),
            phase: Phase::Listening,
            node: None,
            failures: 0,
            entries_without_input: 0,
            gathering: None,
        };
        runner.enter(start, now);
        runner
    }

    /// Feeds one event. Events that mean nothing in the current state (a key
    /// during a transfer, a stray `PromptFinished`) are ignored.
    pub fn handle_event(&mut self, event: FlowEvent, now: Instant) {
        if self.phase == Phase::Finished {
            return;
        }
        match event {
            FlowEvent::CallerHungUp => {
                self.phase = Phase::Finished;
                self.gathering = None;
                self.actions.clear();
            }
            FlowEvent::PromptFinished => {
                if let Phase::Playing(then) = self.phase {
                    self.after_prompt(then, now);
                }
            }
            FlowEvent::Digit(c) => self.digit(c, now),
            FlowEvent::TransferAccepted => {
                if self.phase == Phase::Transferring {
                    self.phase = Phase::Finished;
                }
            }
            FlowEvent::TransferFailed { reason: _ } => {
                if self.phase == Phase::Transferring {
                    self.fire("failed", now);
                }
            }
        }
    }

    /// Call when the instant from [`FlowRunner::poll_timeout`] has come.
    /// Early or stray calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Finished {
            return;
        }
        let Some(g) = &self.gathering else {
            return;
        };
        if g.inter_digit_at.is_some_and(|t| t <= now) {
            self.finish_gather(now);
        } else if g.no_input_at.is_some_and(|t| t <= now) {
            self.gathering = None;
            self.fail("no_input", now);
        }
    }

    /// The next action to perform, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`FlowRunner::handle_timeout`] is next due, if a timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Finished {
            return None;
        }
        let g = self.gathering.as_ref()?;
        match (g.no_input_at, g.inter_digit_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True after a hangup (either side) or an accepted transfer.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// A snapshot of what the flow knows about the call.
    pub fn context(&self) -> CallContext {
        self.context.clone()
    }

    fn render(&self, template: &str) -> String {
        render(template, |name| self.vars.get(name).map(String::as_str))
    }

    fn current(&self) -> Option<(NodeId, Arc<Flow>)> {
        self.node.clone().map(|id| (id, Arc::clone(&self.flow)))
    }

    fn hang_up(&mut self) {
        self.gathering = None;
        self.phase = Phase::Finished;
        self.actions.push_back(Action::Hangup);
    }

    fn enter(&mut self, id: NodeId, now: Instant) {
        if self.entries_without_input >= MAX_ENTRIES_WITHOUT_INPUT {
            self.hang_up();
            return;
        }
        self.entries_without_input += 1;
        if self.node.as_ref() != Some(&id) {
            self.failures = 0;
        }
        self.gathering = None;
        let flow = Arc::clone(&self.flow);
        let Some(node) = flow.nodes.get(&id) else {
            self.hang_up();
            return;
        };
        self.node = Some(id.clone());
        self.context.path.push(id.clone());
        self.actions.push_back(Action::NodeEntered { node: id });
        for (name, template) in &node.set {
            let value = self.render(template);
            self.vars.insert(name.clone(), value.clone());
            self.context.variables.insert(name.clone(), value);
        }
        let language = flow.language.clone();
        let mut prompt = false;
        if let Some(text) = node.say.as_deref().map(|t| self.render(t)) {
            if !text.trim().is_empty() {
                self.say(text, language);
                prompt = true;
            }
        } else if let Some(id) = &node.play {
            self.context.transcript.push(TranscriptLine { speaker: Speaker::Bot, text: format!("[prompt {id}]") });
            self.actions.push_back(Action::Play { prompt: id.clone(), language });
            prompt = true;
        }
        let then = if node.hangup {
            Then::Hangup
        } else if node.transfer.is_some() {
            Then::Transfer
        } else if node.gather.is_some() {
            Then::Gather
        } else {
            Then::Done
        };
        if then == Then::Gather {
            let timeout = node.gather.as_ref().map(|g| g.timeout).unwrap_or_default();
            self.gathering = Some(Gathering { no_input_at: (!prompt).then(|| now + timeout), ..Gathering::default() });
        }
        if prompt {
            self.phase = Phase::Playing(then);
        } else {
            self.after_prompt(then, now);
        }
    }

    fn say(&mut self, text: String, language: String) {
        self.context.transcript.push(TranscriptLine { speaker: Speaker::Bot, text: text.clone() });
        self.actions.push_back(Action::Say { text, language });
    }

    fn after_prompt(&mut self, then: Then, now: Instant) {
        match then {
            Then::Gather => {
                self.phase = Phase::Listening;
                let timeout =
                    self.current().and_then(|(id, flow)| flow.nodes.get(&id)?.gather.as_ref().map(|g| g.timeout)).unwrap_or_default();
                if let Some(g) = self.gathering.as_mut() {
                    if g.input.is_empty() && g.no_input_at.is_none() {
                        g.no_input_at = Some(now + timeout);
                    }
                }
            }
            Then::Transfer => self.transfer(now),
            Then::Hangup => self.hang_up(),
            Then::Done => self.fire("done", now),
        }
    }

    fn transfer(&mut self, now: Instant) {
        let Some((id, flow)) = self.current() else {
            self.hang_up();
            return;
        };
        let Some(t) = flow.nodes.get(&id).and_then(|n| n.transfer.as_ref()) else {
            self.hang_up();
            return;
        };
        let to = self.render(&t.to).trim().to_owned();
        if to.is_empty() {
            // Nowhere to send the caller (e.g. no agent URI configured).
            self.fire("failed", now);
            return;
        }
        self.phase = Phase::Transferring;
        self.actions.push_back(Action::Transfer { to, mode: t.mode, context: self.context.filtered(&t.context) });
    }

    /// Routes `event` through the current node's `on`; unmapped hangs up.
    fn fire(&mut self, event: &str, now: Instant) {
        let target = self.current().and_then(|(id, flow)| flow.nodes.get(&id)?.on.get(event).cloned());
        match target {
            Some(next) => self.enter(next, now),
            None => self.hang_up(),
        }
    }

    /// A gather failure: `no_input` or `no_match`, or `exhausted` past retries.
    fn fail(&mut self, event: &str, now: Instant) {
        self.failures += 1;
        let retries = self.current().and_then(|(id, flow)| flow.nodes.get(&id)?.gather.as_ref().map(|g| g.retries)).unwrap_or(0);
        let event = if self.failures > retries { "exhausted" } else { event };
        self.fire(event, now);
    }

    fn digit(&mut self, c: char, now: Instant) {
        let c = c.to_ascii_uppercase();
        if !is_dtmf_key(c) || self.gathering.is_none() {
            return;
        }
        let Some((id, flow)) = self.current() else {
            return;
        };
        let Some(node) = flow.nodes.get(&id) else {
            return;
        };
        let Some(gather) = node.gather.as_ref() else {
            return;
        };
        self.entries_without_input = 0;
        self.context.digits.push(c);
        if let Phase::Playing(_) = self.phase {
            self.actions.push_back(Action::StopPrompt);
            self.phase = Phase::Listening;
        }
        let max = max_digits(node);
        let Some(g) = self.gathering.as_mut() else {
            return;
        };
        g.no_input_at = None;
        if gather.terminator == Some(c) {
            self.finish_gather(now);
            return;
        }
        g.input.push(c);
        if max.is_some_and(|m| g.input.chars().count() >= m) {
            self.finish_gather(now);
        } else {
            g.inter_digit_at = Some(now + gather.inter_digit_timeout);
        }
    }

    /// The input is complete: match it and fire the outcome.
    fn finish_gather(&mut self, now: Instant) {
        let Some(g) = self.gathering.take() else {
            return;
        };
        let Some((id, flow)) = self.current() else {
            return;
        };
        let Some(node) = flow.nodes.get(&id) else {
            return;
        };
        let input = g.input;
        if !input.is_empty() {
            self.context.transcript.push(TranscriptLine { speaker: Speaker::Caller, text: format!("DTMF {input}") });
        }
        self.vars.insert("digits".to_owned(), input.clone());
        if node.intents.is_empty() && !input.is_empty() {
            // Free input (an account number…): read it as {{digits}}.
            self.failures = 0;
            self.fire("done", now);
            return;
        }
        let matched = node.intents.iter().find(|(_, intent)| intent.dtmf.as_deref() == Some(input.as_str()));
        let Some((name, _)) = matched else {
            self.fail("no_match", now);
            return;
        };
        self.failures = 0;
        self.vars.insert("intent".to_owned(), name.clone());
        self.context.intents.push(IntentRecord { intent: name.clone(), input: input.clone(), node: id });
        self.actions.push_back(Action::IntentMatched { intent: name.clone(), input });
        self.fire(name, now);
    }
}
