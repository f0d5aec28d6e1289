//! The text simulator behind `centralita simulate`: the real [`FlowRunner`]
//! driven by typed lines, with prompts shown as text and every action as a
//! line. Pure and deterministic: time is virtual (it starts at the
//! `Instant` given and moves only on `:silence` and `:wait`), prompts
//! finish as soon as they are shown, and the wall clock is the one passed
//! in [`SimOptions::at`].
//!
//! Input lines:
//! - keys: `1`, `123#`, `*` (only 0-9, `*`, `#`, A-D);
//! - words: anything else is speech with confidence 1; `agent@0.4` or
//!   `talk to a person@0.62` (a number from 0 to 1 after the last `@`)
//!   sets the confidence, as does `:say 0.4 words`;
//! - `:silence`: jump to the next timeout and fire it; `:wait 2s`: let
//!   time pass, firing timeouts due on the way; `:hangup`: the caller hangs up;
//! - `:webhook 200 {"name":"Ana"}` / `:webhook-fail reason` answer a pending
//!   webhook, `:transfer-ok` / `:transfer-fail reason` a pending transfer
//!   (`:agent-answer`, `:agent-decline`, `:agent-noanswer`, `:agent-busy`
//!   for a warm one: the agent takes it, declines, never answers, is busy).
//!   Any other input while one is pending fails the webhook (there is no
//!   network here) or accepts the transfer first;
//! - `# comment` lines are skipped.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::model::{parse_duration, Flow};
use crate::runner::{Action, FlowEvent, FlowRunner, Variables};

/// Steps of silence after the end of input before the simulator gives up.
const MAX_SILENT_STEPS: usize = 200;

/// Who the simulated caller is, and when they call.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The caller's number (`caller`).
    pub caller: String,
    /// The number called (`called`).
    pub called: String,
    /// The wall-clock time of the call (business hours, consent stamps);
    /// `None` ignores hours.
    pub at: Option<SystemTime>,
    /// The call's language (default: the flow's).
    pub language: Option<String>,
    /// `${transfer.agent_uri}`.
    pub agent_uri: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            caller: "+5491100000000".to_owned(),
            called: "5550100".to_owned(),
            at: None,
            language: None,
            agent_uri: "sip:agents@127.0.0.1:5070".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Nothing,
    Webhook,
    Transfer,
}

/// One simulated call. Feed lines with [`Simulator::input`], read what to
/// print with [`Simulator::output`], end with [`Simulator::finish`].
#[derive(Debug)]
pub struct Simulator {
    runner: FlowRunner,
    start: Instant,
    now: Instant,
    pending: Pending,
    ended: Option<&'static str>,
    out: Vec<String>,
}

fn is_keys(line: &str) -> bool {
    !line.is_empty() && line.chars().all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
}

/// Words with an optional `@confidence` (`agent@0.4`); confidence 1
/// without. A suffix that is not a number is part of the words
/// (`ana@example.com`); a number outside 0-1 is an error (given back).
fn words_at(line: &str) -> Result<(&str, f32), &str> {
    let Some((words, conf)) = line.rsplit_once('@') else {
        return Ok((line, 1.0));
    };
    let (words, conf) = (words.trim_end(), conf.trim());
    match conf.parse::<f32>() {
        Ok(c) if (0.0..=1.0).contains(&c) && !words.is_empty() => Ok((words, c)),
        Ok(_) => Err(conf),
        Err(_) => Ok((line, 1.0)),
    }
}

impl Simulator {
    /// Starts the call at virtual time `start`.
    pub fn new(flow: Arc<Flow>, options: SimOptions, start: Instant) -> Simulator {
        let mut vars = Variables::new();
        vars.insert("caller".into(), options.caller);
        vars.insert("called".into(), options.called);
        vars.insert("call_id".into(), "simulated-call".into());
        vars.insert("transfer.agent_uri".into(), options.agent_uri);
        if let Some(lang) = options.language {
            vars.insert("language".into(), lang);
        }
        let runner = match options.at {
            Some(at) => FlowRunner::with_clock(flow, vars, start, at),
            None => FlowRunner::new(flow, vars, start),
        };
        let mut sim = Simulator { runner, start, now: start, pending: Pending::Nothing, ended: None, out: Vec::new() };
        sim.pump();
        sim
    }

    /// Lines to print since the last call.
    pub fn output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }

    /// Whether the call is over.
    pub fn is_finished(&self) -> bool {
        self.runner.is_finished()
    }

    /// Feeds one typed line.
    pub fn input(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || line.starts_with("# ") || line == "#!" {
            return;
        }
        self.out.push(format!("> {line}"));
        if self.is_finished() {
            self.out.push("(the call is over)".to_owned());
            return;
        }
        let (command, rest) = line.split_once(' ').map_or((line, ""), |(c, r)| (c, r.trim()));
        match command {
            ":silence" => self.silence(),
            ":wait" => match parse_duration(rest) {
                Some(d) => self.wait(d),
                None => self.out.push(format!("(bad duration `{rest}`: try 2s or 500ms)")),
            },
            ":hangup" => {
                self.runner.handle_event(FlowEvent::CallerHungUp, self.now);
                self.ended = Some("the caller hung up");
            }
            ":webhook" if self.pending == Pending::Webhook => {
                let (status, body) = rest.split_once(' ').map_or((rest, ""), |(s, b)| (s, b.trim()));
                let Ok(status) = status.parse::<u16>() else {
                    self.out.push(format!("(bad status `{status}`: try `:webhook 200 {{\"name\":\"Ana\"}}`)"));
                    return;
                };
                let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
                self.pending = Pending::Nothing;
                self.feed(FlowEvent::WebhookResult { status, body });
            }
            ":webhook-fail" if self.pending == Pending::Webhook => {
                self.pending = Pending::Nothing;
                self.feed(FlowEvent::WebhookFailed { reason: rest.to_owned() });
            }
            ":transfer-ok" | ":agent-answer" if self.pending == Pending::Transfer => self.resolve(),
            ":agent-decline" | ":agent-noanswer" | ":agent-busy" if self.pending == Pending::Transfer => {
                use crate::runner::TransferFailure;
                let failure = match command {
                    ":agent-decline" => TransferFailure::Declined,
                    ":agent-noanswer" => TransferFailure::NoAnswer,
                    _ => TransferFailure::Busy,
                };
                self.pending = Pending::Nothing;
                self.out.push(format!("(agent: {})", failure.event()));
                self.feed(FlowEvent::TransferNotTaken { failure, reason: command.trim_start_matches(':').to_owned() });
            }
            ":transfer-fail" if self.pending == Pending::Transfer => {
                self.pending = Pending::Nothing;
                self.feed(FlowEvent::TransferFailed { reason: rest.to_owned() });
            }
            ":say" => {
                let (conf, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let confidence = conf.parse::<f32>().unwrap_or(1.0);
                self.resolve();
                self.feed(FlowEvent::Speech { text: text.to_owned(), confidence });
            }
            c if c.starts_with(':') => self.out.push(format!("(unknown or unexpected command `{c}`)")),
            _ => {
                if is_keys(line) {
                    self.resolve();
                    for c in line.chars() {
                        self.feed(FlowEvent::Digit(c));
                    }
                    return;
                }
                let (text, confidence) = match words_at(line) {
                    Ok(said) => said,
                    Err(bad) => {
                        self.out.push(format!("(bad confidence `{bad}`: after the words, use a number from 0 to 1, as in agent@0.4)"));
                        return;
                    }
                };
                self.resolve();
                self.feed(FlowEvent::Speech { text: text.to_owned(), confidence });
            }
        }
    }

    /// Ends the input: resolves what is pending, lets the caller stay
    /// silent until the flow ends (at most 200 timeouts) and prints a summary.
    pub fn finish(&mut self) {
        self.resolve();
        for _ in 0..MAX_SILENT_STEPS {
            if self.is_finished() || self.runner.poll_timeout().is_none() {
                break;
            }
            self.silence();
            self.resolve();
        }
        self.summary();
    }

    /// Settles a pending webhook (failed) or transfer (accepted).
    fn resolve(&mut self) {
        match self.pending {
            Pending::Nothing => {}
            Pending::Webhook => {
                self.pending = Pending::Nothing;
                let reason = "no answer given in the simulator".to_owned();
                self.out.push(format!("(webhook failed: {reason})"));
                self.feed(FlowEvent::WebhookFailed { reason });
            }
            Pending::Transfer => {
                self.pending = Pending::Nothing;
                self.out.push("(transfer accepted)".to_owned());
                self.feed(FlowEvent::TransferAccepted);
                self.ended = Some("transferred");
            }
        }
    }

    fn feed(&mut self, event: FlowEvent) {
        self.runner.handle_event(event, self.now);
        self.pump();
    }

    fn silence(&mut self) {
        let Some(at) = self.runner.poll_timeout() else {
            self.out.push("(silence: nothing is waiting for a timeout)".to_owned());
            return;
        };
        let at = at.max(self.now);
        self.out.push(format!("(silence {:.1}s)", at.saturating_duration_since(self.now).as_secs_f64()));
        self.now = at;
        self.runner.handle_timeout(at);
        self.pump();
    }

    fn wait(&mut self, d: Duration) {
        let until = crate::runner::later(self.now, d);
        while let Some(at) = self.runner.poll_timeout().filter(|t| *t <= until) {
            self.now = at.max(self.now);
            self.runner.handle_timeout(self.now);
            self.pump();
            if self.is_finished() {
                break;
            }
        }
        self.now = until.max(self.now);
    }

    /// Prints every action; prompts end at once.
    fn pump(&mut self) {
        loop {
            let mut prompt = false;
            while let Some(action) = self.runner.poll_action() {
                prompt |= matches!(action, Action::Say { .. } | Action::Play { .. });
                self.show(action);
            }
            if !prompt || self.is_finished() {
                break;
            }
            self.runner.handle_event(FlowEvent::PromptFinished, self.now);
        }
    }

    fn show(&mut self, action: Action) {
        let line = match action {
            Action::NodeEntered { node } => format!("[{node}]"),
            Action::Say { text, .. } => format!("bot: {text}"),
            Action::Play { prompt, language } => format!("bot: [play {prompt} ({language})]"),
            Action::StopPrompt => "(prompt stopped)".to_owned(),
            Action::IntentMatched { intent, input } => format!("intent: {intent} ({input})"),
            Action::SpeechRejected { text, confidence, guess, reason } => {
                let guess = guess.map_or_else(|| "no intent".to_owned(), |g| format!("heard as {g}"));
                format!("rejected: \"{text}\" at {confidence:.2} ({guess}; {reason})")
            }
            Action::ConfirmationAsked { intent, text, confidence } => format!("confirm: {intent}? (\"{text}\" at {confidence:.2})"),
            Action::Transfer { to, mode, context, options } => {
                self.pending = Pending::Transfer;
                let mut line = format!("transfer: {to} ({}) context: {}", json(&mode), json(&context));
                if mode == crate::model::TransferMode::Warm {
                    line.push_str(&format!("\n  whisper to the agent: {:?} (accept: {})", options.whisper, json(&options.accept)));
                }
                line
            }
            Action::Hangup => {
                self.ended.get_or_insert("hung up");
                "hangup".to_owned()
            }
            Action::Webhook { name, url, method, body, timeout } => {
                self.pending = Pending::Webhook;
                format!("webhook: {name} {} {url} body: {} timeout: {}s", json(&method), json(&body), timeout.as_secs_f64())
            }
            Action::BusinessEvent { kind, value, currency, data } => {
                let mut line = format!("event: {}", json(&kind));
                if let Some(v) = value {
                    line.push_str(&format!(" value={v}"));
                }
                if let Some(c) = currency {
                    line.push_str(&format!(" currency={c}"));
                }
                if !data.is_empty() {
                    line.push_str(&format!(" data: {}", json(&data)));
                }
                line
            }
            Action::ConsentRecorded { topic, granted, at, flow_version } => format!(
                "consent: {topic} = {} at {} (flow version {flow_version})",
                if granted { "yes" } else { "no" },
                at.as_deref().unwrap_or("unknown time")
            ),
            Action::SurveyAnswer { survey, scale, score } => format!("survey: {survey} ({}) = {score}", scale.as_str()),
            Action::VariantChosen { branch, variant } => format!("variant: {branch} = {variant}"),
        };
        self.out.push(line);
    }

    fn summary(&mut self) {
        let ctx = self.runner.context();
        let elapsed = self.now.saturating_duration_since(self.start).as_secs_f64();
        let result = if self.is_finished() { self.ended.unwrap_or("ended") } else { "still running (gave up waiting)" };
        self.out.push("--- summary ---".to_owned());
        self.out.push(format!("result: {result} after {elapsed:.1}s"));
        let path: Vec<&str> = ctx.path.iter().map(|n| n.as_str()).collect();
        self.out.push(format!("path: {}", path.join(" > ")));
        let intents: Vec<String> = ctx.intents.iter().map(|i| format!("{} ({})", i.intent, i.input)).collect();
        self.out.push(format!("intents: {}", if intents.is_empty() { "none".to_owned() } else { intents.join(", ") }));
        let vars = serde_json::to_string(self.runner.variables()).unwrap_or_default();
        self.out.push(format!("variables: {vars}"));
        for c in &ctx.consents {
            self.out.push(format!("consent: {} = {}", c.topic, if c.granted { "yes" } else { "no" }));
        }
        for s in &ctx.surveys {
            self.out.push(format!("survey: {} = {}", s.survey, s.score));
        }
        for (branch, variant) in &ctx.variants {
            self.out.push(format!("variant: {branch} = {variant}"));
        }
    }
}

/// Compact JSON of `value`, without the quotes of a bare string (`blind`).
fn json<T: serde::Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    text.trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_a_confidence() {
        assert_eq!(words_at("agent@0.4"), Ok(("agent", 0.4)));
        assert_eq!(words_at("talk to a person @ 0.62"), Ok(("talk to a person", 0.62)));
        assert_eq!(words_at("agent"), Ok(("agent", 1.0)));
        assert_eq!(words_at("ana@example.com"), Ok(("ana@example.com", 1.0)), "not a number: words");
        assert_eq!(words_at("agent@1.5"), Err("1.5"));
        assert_eq!(words_at("@0.5"), Err("0.5"), "no words");
    }
}
