//! The `FlowRunner`: one call's walk through a flow, as a sans-IO state
//! machine. Inputs are [`FlowEvent`]s and timeouts, each with the current
//! `Instant`; outputs are [`Action`]s for the call task to perform.
//!
//! Rules, in short: a call starts at `start`, or at `hours.closed` when the
//! runner was given a wall clock ([`FlowRunner::with_clock`]) that falls
//! outside the flow's hours. Entering a node emits `NodeEntered`, applies
//! `set`, emits its business `event`, then speaks (`say`, in the call's
//! language: variable `language`, else the flow's) or plays its prompt;
//! after the prompt it does one thing: hang up, transfer, call a webhook,
//! branch, listen (`gather`, `consent`, `survey`) or fire `done`.
//!
//! Listening starts at entry (barge-in per `gather.barge_in` stops the
//! prompt); the no-input timer starts when the prompt ends. Keys end at
//! `digits`/`max_digits`, the terminator or the inter-digit timeout; speech
//! ends at once (see `speech.rs`). Each outcome is an event looked up in the
//! node's `on`; an unmapped event hangs up, so no caller is left in silence.
//! Failures count per node while `on` keeps sending the caller back to it
//! (who then hears `gather.reprompt` if set); past `retries` they become
//! `exhausted`. After 50 node entries with no caller input the call hangs up.
//!
//! Doubtful speech (issue #13): words recognised below `min_confidence`
//! are rejected — an `Action::SpeechRejected` with the words, the intent
//! they would have matched and the confidence — and are a `no_match`. A
//! `no_match` that sends the caller back to the same node opens its prompt
//! with `no_match_say` (the node's, else the flow's, else — when the node
//! has no `reprompt` — a built-in "sorry, I didn't get that" in the call's
//! language); an empty recognition (nothing heard, or the gateway's fall
//! back to keys, which says its own hint) re-asks without it. With
//! `gather.confirm_below`, an intent heard with a confidence from
//! `min_confidence` up to `confirm_below` is confirmed first: the node asks
//! `confirm_say` ("Did you say {{choice}}?") and listens for yes/no (words
//! in English or Spanish, or keys 1/2) for `gather.timeout`; yes fires the
//! intent, no is a rejection and a `no_match`, anything else a `no_match`,
//! silence a `no_input` — all counted against `retries` like any failure.
//!
//! Transfers: each transfer node is tried at most `transfer.max_attempts`
//! times per call (default 2). A failed attempt fires `failed`, or
//! `exhausted` when it used up the attempts and the node maps it; entering
//! the node again afterwards fires `exhausted` at once (hang-up when
//! unmapped), so a `failed` that leads back to the menu cannot loop for
//! ever. Each failure apologises (`transfer.apology`, else a default in
//! the call's language): the apology opens the next node's `say` (one
//! prompt, so the caller can barge in as usual), is the prompt of a node
//! without one, and is said before a hang-up; a node that `play`s a
//! recording drops it.
//!
//! `say` text reaches TTS through `sayas::speakable` (web and e-mail
//! addresses spoken out); the transcript keeps it as written.

mod defaults;
mod input;
mod io;
mod steps;
mod whisper;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use io::{Action, FlowEvent, RejectReason, TransferFailure, TransferOptions, Variables};

use crate::clock;
use crate::context::{CallContext, Speaker, TranscriptLine};
use crate::model::{Flow, Gather, Node, NodeId, Text};
use crate::sayas::speakable;
use crate::template::render;

/// Node entries allowed in a row without caller input before hanging up.
const MAX_ENTRIES_WITHOUT_INPUT: u32 = 50;

/// What a node does once its prompt has played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Listen,
    Transfer,
    Hangup,
    Webhook,
    Branch,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A prompt is playing.
    Playing(Then),
    /// Waiting for the caller's input.
    Listening,
    /// A transfer is under way.
    Transferring,
    /// A webhook is under way; `failed` at the deadline.
    Webhook { deadline: Instant },
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
    /// The language of prompts.
    language: String,
    /// The wall clock at the runner's start instant, if given.
    wall: Option<(SystemTime, Instant)>,
    /// Gather failures at the current node (kept while `on` loops back to it).
    failures: u32,
    entries_without_input: u32,
    /// Armed while the current node listens.
    gathering: Option<Gathering>,
    /// Transfer attempts made per transfer node in this call.
    transfer_attempts: std::collections::BTreeMap<NodeId, u32>,
    /// A failed transfer's apology, said with the next prompt.
    apology: Option<String>,
    /// The last failure was a `no_match` that says `no_match_say` when it
    /// leads back to the same node.
    sorry: bool,
    /// "Did you say …?" asked; the answer decides.
    confirming: Option<Confirming>,
}

/// A mid-confidence hypothesis waiting for the caller's yes or no.
#[derive(Debug, Clone)]
struct Confirming {
    intent: String,
    text: String,
    confidence: f32,
}

/// `now + d`, saturating: absurd durations in a flow (`99999999999s`) must
/// not panic; they become a day.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).or_else(|| now.checked_add(Duration::from_secs(86_400))).unwrap_or(now)
}

/// How a node listens: its `gather`, or the defaults of `consent`/`survey`
/// (one key, speech on).
fn gather_of(node: &Node) -> Option<Gather> {
    match &node.gather {
        Some(g) => Some(g.clone()),
        None if node.consent.is_some() || node.survey.is_some() => Some(Gather { speech: true, ..Gather::default() }),
        None => None,
    }
}

impl FlowRunner {
    /// Starts a call at the flow's `start` node, ignoring business hours.
    /// Its actions are ready in [`FlowRunner::poll_action`] right away.
    pub fn new(flow: Arc<Flow>, vars: Variables, now: Instant) -> Self {
        Self::start(flow, vars, now, None)
    }

    /// Starts a call knowing the wall-clock time `wall` at `now`: business
    /// hours are checked (closed → `hours.closed`) and consent answers are
    /// time-stamped. The gateway passes `SystemTime::now()`.
    pub fn with_clock(flow: Arc<Flow>, vars: Variables, now: Instant, wall: SystemTime) -> Self {
        Self::start(flow, vars, now, Some(wall))
    }

    fn start(flow: Arc<Flow>, mut vars: Variables, now: Instant, wall: Option<SystemTime>) -> Self {
        let var = |name: &str| vars.get(name).cloned().unwrap_or_default();
        let context = CallContext {
            flow: flow.name.clone(),
            caller: var("caller"),
            called: var("called"),
            call_id: var("call_id"),
            ..CallContext::default()
        };
        let language = vars.get("language").filter(|l| !l.trim().is_empty()).cloned().unwrap_or_else(|| flow.language.clone());
        vars.insert("language".to_owned(), language.clone());
        let mut start = flow.start.clone();
        if let (Some(hours), Some(at)) = (&flow.hours, wall) {
            let open = clock::is_open(hours, at);
            vars.insert("hours".to_owned(), if open { "open" } else { "closed" }.to_owned());
            if let (false, Some(closed)) = (open, &hours.closed) {
                start = closed.clone();
            }
        }
        let mut runner = FlowRunner {
            flow,
            vars,
            context,
            actions: VecDeque::new(),
            phase: Phase::Listening,
            node: None,
            language,
            wall: wall.map(|w| (w, now)),
            failures: 0,
            entries_without_input: 0,
            gathering: None,
            transfer_attempts: std::collections::BTreeMap::new(),
            apology: None,
            sorry: false,
            confirming: None,
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
            FlowEvent::Speech { text, confidence } => self.speech(&text, confidence, now),
            FlowEvent::SpeechStarted => self.speech_started(),
            FlowEvent::TransferAccepted => {
                if self.phase == Phase::Transferring {
                    self.phase = Phase::Finished;
                }
            }
            FlowEvent::TransferFailed { reason: _ } => {
                if self.phase == Phase::Transferring {
                    self.transfer_failed(None, now);
                }
            }
            FlowEvent::TransferNotTaken { failure, reason: _ } => {
                if self.phase == Phase::Transferring {
                    self.transfer_failed(Some(failure.event()), now);
                }
            }
            FlowEvent::WebhookResult { status, body } => self.webhook_result(status, &body, now),
            FlowEvent::WebhookFailed { reason } => self.webhook_failed(&reason, now),
        }
    }

    /// Call when the instant from [`FlowRunner::poll_timeout`] has come.
    /// Early or stray calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::Webhook { deadline } = self.phase {
            if deadline <= now {
                self.webhook_failed("timed out", now);
            }
            return;
        }
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
        match self.phase {
            Phase::Finished => return None,
            Phase::Webhook { deadline } => return Some(deadline),
            _ => {}
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

    /// The call's variables (for the simulator's summary and debugging).
    pub fn variables(&self) -> &Variables {
        &self.vars
    }

    /// The words and phrases the current node listens for, for recognisers
    /// that take a grammar; `None` when not listening for speech.
    pub fn active_grammar(&self) -> Option<Vec<String>> {
        self.gathering.as_ref()?;
        let (id, flow) = self.current()?;
        let node = flow.nodes.get(&id)?;
        if !gather_of(node)?.speech {
            return None;
        }
        let mut out: Vec<String> = if node.consent.is_some() || self.confirming.is_some() {
            crate::speech::YES.iter().chain(crate::speech::NO.iter()).map(|s| (*s).to_owned()).collect()
        } else if node.survey.is_some() {
            crate::speech::NUMBERS.iter().map(|(w, _)| (*w).to_owned()).collect()
        } else {
            node.intents.values().flat_map(|i| i.phrases.iter().cloned()).collect()
        };
        out.dedup();
        Some(out)
    }

    fn render(&self, template: &str) -> String {
        render(template, &self.language, |name| self.vars.get(name.strip_prefix("vars.").unwrap_or(name)).map(String::as_str))
    }

    /// [`FlowRunner::render`] for a webhook URL: values percent-encoded.
    fn render_url(&self, template: &str) -> String {
        crate::template::render_url(template, &self.language, |name| {
            self.vars.get(name.strip_prefix("vars.").unwrap_or(name)).map(String::as_str)
        })
    }

    fn text(&self, text: &Text) -> String {
        self.render(text.for_language(&self.language, &self.flow.language).unwrap_or(""))
    }

    fn current(&self) -> Option<(NodeId, Arc<Flow>)> {
        self.node.clone().map(|id| (id, Arc::clone(&self.flow)))
    }

    fn set_var(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_owned(), value.clone());
        self.context.variables.insert(name.to_owned(), value);
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
        let again = self.node.as_ref() == Some(&id);
        if !again {
            self.failures = 0;
        }
        let sorry = std::mem::take(&mut self.sorry) && again;
        self.confirming = None;
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
            self.set_var(name, value);
        }
        if let Some(event) = &node.event {
            self.business_event(event);
        }
        let gather = gather_of(node);
        let reprompt = gather.as_ref().and_then(|g| g.reprompt.as_ref()).filter(|_| again && self.failures > 0);
        let mut prompt = false;
        // Said first: a failed transfer's apology, a no-match's "sorry".
        let sorry = if sorry { self.no_match_say(node, gather.as_ref()) } else { None };
        let opening = [self.apology.take(), sorry].into_iter().flatten().filter(|t| !t.trim().is_empty()).collect::<Vec<_>>().join(" ");
        let opening = Some(opening).filter(|o| !o.is_empty());
        let text = reprompt.or(node.say.as_ref()).map(|t| self.text(t));
        let text = match (opening, text) {
            (Some(a), Some(t)) if !t.trim().is_empty() => Some(format!("{a} {t}")),
            (Some(a), None) if node.play.is_none() => Some(a),
            (_, t) => t,
        };
        if let Some(text) = text {
            if !text.trim().is_empty() {
                self.say(text);
                prompt = true;
            }
        } else if let Some(id) = &node.play {
            self.context.transcript.push(TranscriptLine { speaker: Speaker::Bot, text: format!("[prompt {id}]") });
            self.actions.push_back(Action::Play { prompt: id.clone(), language: self.language.clone() });
            prompt = true;
        }
        let then = if node.hangup {
            Then::Hangup
        } else if node.transfer.is_some() {
            Then::Transfer
        } else if node.webhook.is_some() {
            Then::Webhook
        } else if node.branch.is_some() {
            Then::Branch
        } else if gather.is_some() {
            Then::Listen
        } else {
            Then::Done
        };
        if then == Then::Listen {
            let timeout = gather.map(|g| g.timeout).unwrap_or_default();
            self.gathering = Some(Gathering { no_input_at: (!prompt).then(|| later(now, timeout)), ..Gathering::default() });
        }
        if prompt {
            self.phase = Phase::Playing(then);
        } else {
            self.after_prompt(then, now);
        }
    }

    fn say(&mut self, text: String) {
        let spoken = speakable(&text, &self.language);
        self.context.transcript.push(TranscriptLine { speaker: Speaker::Bot, text });
        self.actions.push_back(Action::Say { text: spoken, language: self.language.clone() });
    }

    fn after_prompt(&mut self, then: Then, now: Instant) {
        match then {
            Then::Listen => {
                self.phase = Phase::Listening;
                let timeout =
                    self.current().and_then(|(id, flow)| flow.nodes.get(&id).and_then(gather_of).map(|g| g.timeout)).unwrap_or_default();
                if let Some(g) = self.gathering.as_mut() {
                    if g.input.is_empty() && g.no_input_at.is_none() && g.inter_digit_at.is_none() {
                        g.no_input_at = Some(later(now, timeout));
                    }
                }
            }
            Then::Transfer => self.transfer(now),
            Then::Hangup => self.hang_up(),
            Then::Webhook => self.start_webhook(now),
            Then::Branch => self.branch(now),
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
        let attempts = self.transfer_attempts.entry(id.clone()).or_insert(0);
        if *attempts >= t.max_attempts {
            // Every attempt of this call has failed already.
            self.fire("exhausted", now);
            return;
        }
        *attempts += 1;
        let to = self.render(&t.to).trim().to_owned();
        if to.is_empty() {
            // Nowhere to send the caller (e.g. no agent URI configured).
            self.transfer_failed(None, now);
            return;
        }
        self.phase = Phase::Transferring;
        let accept_by_key = t.accept == crate::model::AcceptMode::Dtmf;
        let whisper = match &t.whisper {
            Some(text) => self.text(text),
            None => whisper::summary(&self.context, &self.language, accept_by_key),
        };
        let options = TransferOptions {
            whisper,
            accept: t.accept,
            timeout: t.timeout,
            hold: t.hold.as_ref().map(|h| self.text(h)),
            release: t.release,
            caller_id: t.caller_id.as_deref().map(|c| self.render(c)),
            fallback: t.fallback,
        };
        self.actions.push_back(Action::Transfer { to, mode: t.mode, context: self.context.filtered(&t.context), options });
    }

    /// A transfer attempt failed: the apology, then `failed`, or
    /// `exhausted` (when mapped) once the node's attempts are used up.
    /// A failed attempt: the apology, then `exhausted` once the attempts are
    /// used up (when mapped), else `specific` (a warm transfer's
    /// `no_answer`, `busy`, `declined`) when the node maps it, else `failed`.
    fn transfer_failed(&mut self, specific: Option<&'static str>, now: Instant) {
        let Some((id, flow)) = self.current() else {
            self.hang_up();
            return;
        };
        let Some(node) = flow.nodes.get(&id) else {
            self.hang_up();
            return;
        };
        let Some(t) = node.transfer.as_ref() else {
            self.hang_up();
            return;
        };
        let attempts = self.transfer_attempts.get(&id).copied().unwrap_or(0);
        let event = match specific {
            _ if attempts >= t.max_attempts && node.on.contains_key("exhausted") => "exhausted",
            Some(event) if node.on.contains_key(event) => event,
            _ => "failed",
        };
        let apology = match &t.apology {
            Some(text) => self.text(text),
            None => steps::transfer_apology(&self.language).to_owned(),
        };
        self.phase = Phase::Listening;
        self.apology = Some(apology).filter(|a| !a.trim().is_empty());
        self.fire(event, now);
    }

    /// Routes `event` through the current node's `on`; unmapped hangs up.
    fn fire(&mut self, event: &str, now: Instant) {
        let target = self.current().and_then(|(id, flow)| flow.nodes.get(&id)?.on.get(event).cloned());
        match (target, self.apology.take()) {
            (Some(next), apology) => {
                self.apology = apology;
                self.enter(next, now);
            }
            (None, Some(apology)) => {
                self.say(apology);
                self.phase = Phase::Playing(Then::Hangup);
            }
            (None, None) => self.hang_up(),
        }
    }

    /// A listening failure: `no_input` or `no_match`, or `exhausted` past
    /// retries. A `no_match` back to the same node says `no_match_say`.
    fn fail(&mut self, event: &str, now: Instant) {
        self.fail_with(event, event == "no_match", now);
    }

    /// [`FlowRunner::fail`]; `sorry`: open the re-prompt with `no_match_say`.
    fn fail_with(&mut self, event: &str, sorry: bool, now: Instant) {
        self.confirming = None;
        self.failures += 1;
        let retries = self.current().and_then(|(id, flow)| flow.nodes.get(&id).and_then(gather_of).map(|g| g.retries)).unwrap_or(0);
        let event = if self.failures > retries { "exhausted" } else { event };
        self.sorry = sorry && event == "no_match";
        self.fire(event, now);
    }

    /// What a re-prompt after `no_match` opens with, rendered; None: nothing.
    fn no_match_say(&self, node: &Node, gather: Option<&Gather>) -> Option<String> {
        let text = match node.no_match_say.as_ref().or(self.flow.no_match_say.as_ref()) {
            Some(text) => self.text(text),
            None if gather.is_some_and(|g| g.reprompt.is_some()) => return None,
            None => defaults::no_match(&self.language).to_owned(),
        };
        Some(text).filter(|t| !t.trim().is_empty())
    }
}
