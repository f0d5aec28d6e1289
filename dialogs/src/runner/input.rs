//! The caller's input while a node listens: keys (with count, terminator
//! and inter-digit rules), speech, and what they mean at a menu, a consent
//! question, a survey question or a "Did you say …?" confirmation; speech
//! below `min_confidence` is rejected (and recorded), not dropped.

use std::time::Instant;

use super::{defaults, gather_of, later, Action, Confirming, FlowRunner, Gathering, Phase, RejectReason, Then};
use crate::clock;
use crate::context::{ConsentRecord, IntentRecord, Speaker, SurveyRecord, TranscriptLine};
use crate::model::{Gather, Node, SurveyScale};
use crate::speech;

fn is_dtmf_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

/// Whether `input` is complete at `node` without waiting for more keys.
fn complete(node: &Node, input: &str) -> bool {
    let len = input.chars().count();
    if let Some(survey) = &node.survey {
        return match survey.scale {
            SurveyScale::Csat => len >= 1,
            // A lone `1` may become `10`.
            SurveyScale::Nps => len >= 2 || input != "1",
        };
    }
    if node.consent.is_some() {
        return len >= 1;
    }
    let Some(gather) = node.gather.as_ref() else {
        return true;
    };
    let max = match (gather.digits, gather.max_digits, gather.terminator) {
        (Some(n), _, _) => Some(n.max(1) as usize),
        (None, Some(m), _) => Some(m.max(1) as usize),
        (None, None, Some(_)) => None,
        (None, None, None) => node.intents.values().filter_map(|i| i.dtmf.as_ref().map(|d| d.chars().count())).max(),
    };
    max.is_some_and(|m| len >= m)
}

/// Which answer a node expects.
enum Answer<'a> {
    Menu,
    Consent(&'a str),
    Survey(SurveyScale, String),
}

/// The intent `said` asks for at a menu node, with the phrase that matched
/// (the intent's name for a spoken number: "one" for the intent on key 1).
fn menu_match<'a>(node: &'a Node, said: &str) -> Option<(&'a str, &'a str)> {
    speech::match_phrase(said, node.intents.iter().map(|(n, i)| (n.as_str(), i.phrases.as_slice()))).or_else(|| {
        // "uno" / "one" for the intent on key 1.
        let key = speech::spoken_number(said)?.to_string();
        node.intents.iter().find(|(_, i)| i.dtmf.as_deref() == Some(key.as_str())).map(|(n, _)| (n.as_str(), n.as_str()))
    })
}

/// What `said` would mean at `node`: an intent, `yes`/`no`, a score.
fn guess(node: &Node, said: &str) -> Option<String> {
    match answer_kind(node) {
        Answer::Menu => menu_match(node, said).map(|(name, _)| name.to_owned()),
        Answer::Consent(_) => speech::yes_no(said).map(|yes| if yes { "yes" } else { "no" }.to_owned()),
        Answer::Survey(..) => speech::spoken_number(said).map(|n| n.to_string()),
    }
}

fn answer_kind(node: &Node) -> Answer<'_> {
    if let Some(c) = &node.consent {
        Answer::Consent(&c.topic)
    } else if let Some(s) = &node.survey {
        Answer::Survey(s.scale, s.name.clone().unwrap_or_else(|| s.scale.as_str().to_owned()))
    } else {
        Answer::Menu
    }
}

impl FlowRunner {
    pub(super) fn digit(&mut self, c: char, now: Instant) {
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
        let Some(gather) = gather_of(node) else {
            return;
        };
        if let Phase::Playing(_) = self.phase {
            if !gather.barge_in.allows_dtmf() {
                return;
            }
            self.actions.push_back(Action::StopPrompt);
            self.phase = Phase::Listening;
        }
        self.entries_without_input = 0;
        self.context.digits.push(c);
        let Some(g) = self.gathering.as_mut() else {
            return;
        };
        g.no_input_at = None;
        let terminator = gather.terminator == Some(c) || (c == '#' && node.survey.is_some() && gather.terminator.is_none());
        if terminator && self.confirming.is_none() {
            self.finish_gather(now);
            return;
        }
        g.input.push(c);
        if self.confirming.is_some() || complete(node, &g.input) {
            self.finish_gather(now);
        } else {
            g.inter_digit_at = Some(later(now, gather.inter_digit_timeout));
        }
    }

    pub(super) fn speech_started(&mut self) {
        if self.gathering.is_none() {
            return;
        }
        let Some((id, flow)) = self.current() else {
            return;
        };
        let Some(gather) = flow.nodes.get(&id).and_then(gather_of).filter(|g| g.speech) else {
            return;
        };
        if let Phase::Playing(_) = self.phase {
            if !gather.barge_in.allows_speech() {
                return;
            }
            self.actions.push_back(Action::StopPrompt);
            self.phase = Phase::Listening;
        }
        if let Some(g) = self.gathering.as_mut() {
            g.no_input_at = None; // the caller is talking: wait for the words
        }
    }

    pub(super) fn speech(&mut self, text: &str, confidence: f32, now: Instant) {
        if self.gathering.is_none() {
            return;
        }
        let Some((id, flow)) = self.current() else {
            return;
        };
        let Some(node) = flow.nodes.get(&id) else {
            return;
        };
        let Some(gather) = gather_of(node).filter(|g| g.speech) else {
            return;
        };
        if let Phase::Playing(_) = self.phase {
            if !gather.barge_in.allows_speech() {
                return;
            }
            self.actions.push_back(Action::StopPrompt);
        }
        self.phase = Phase::Listening;
        self.entries_without_input = 0;
        self.gathering = None;
        self.context.transcript.push(TranscriptLine { speaker: Speaker::Caller, text: text.to_owned() });
        self.vars.insert("speech".to_owned(), text.to_owned());
        if text.trim().is_empty() {
            // Nothing recognised (or the gateway fell back to keys and says
            // its own hint): ask again without the "sorry".
            self.confirming = None;
            self.fail_with("no_match", false, now);
            return;
        }
        // NaN and out-of-range confidences count as no confidence.
        if confidence.is_nan() || confidence < gather.min_confidence {
            let guess = match &self.confirming {
                Some(_) => speech::yes_no(text).map(|yes| if yes { "yes" } else { "no" }.to_owned()),
                None => guess(node, text),
            };
            let reason = RejectReason::LowConfidence { min_confidence: gather.min_confidence };
            let confidence = if confidence.is_nan() { 0.0 } else { confidence };
            self.actions.push_back(Action::SpeechRejected { text: text.to_owned(), confidence, guess, reason });
            self.fail("no_match", now);
            return;
        }
        if let Some(asked) = self.confirming.take() {
            self.confirmed(asked, speech::yes_no(text), now);
            return;
        }
        match answer_kind(node) {
            Answer::Menu => match menu_match(node, text) {
                Some((name, phrase)) if gather.confirm_below.is_some_and(|c| confidence < c) => {
                    self.ask_confirmation(&gather, name, phrase, text, confidence, now);
                }
                Some((name, _)) => self.matched(name, text, now),
                None => self.fail("no_match", now),
            },
            Answer::Consent(topic) => match speech::yes_no(text) {
                Some(granted) => self.consent(topic, granted, now),
                None => self.fail("no_match", now),
            },
            Answer::Survey(scale, name) => {
                let (lo, hi) = scale.range();
                match speech::spoken_number(text).filter(|n| (lo..=hi).contains(n)) {
                    Some(score) => self.survey(name, scale, score, now),
                    None => self.fail("no_match", now),
                }
            }
        }
    }

    /// The key input is complete: match it and fire the outcome.
    pub(super) fn finish_gather(&mut self, now: Instant) {
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
        if let Some(asked) = self.confirming.take() {
            let answer = match input.as_str() {
                "1" => Some(true),
                "2" => Some(false),
                _ => None,
            };
            self.confirmed(asked, answer, now);
            return;
        }
        match answer_kind(node) {
            Answer::Consent(topic) => match input.as_str() {
                "1" => self.consent(topic, true, now),
                "2" => self.consent(topic, false, now),
                _ => self.fail("no_match", now),
            },
            Answer::Survey(scale, name) => {
                let (lo, hi) = scale.range();
                let score = if input == "*" && scale == SurveyScale::Nps { Some(10) } else { input.parse::<u8>().ok() };
                match score.filter(|n| (lo..=hi).contains(n)) {
                    Some(score) => self.survey(name, scale, score, now),
                    None => self.fail("no_match", now),
                }
            }
            Answer::Menu => {
                let min = node.gather.as_ref().and_then(|g| g.min_digits).unwrap_or(0) as usize;
                if input.chars().count() < min {
                    self.fail("no_match", now);
                } else if node.intents.is_empty() && !input.is_empty() {
                    // Free input (an account number…): read it as {{digits}}.
                    self.failures = 0;
                    self.fire("done", now);
                } else {
                    match node.intents.iter().find(|(_, intent)| intent.dtmf.as_deref() == Some(input.as_str())) {
                        Some((name, _)) => self.matched(name, &input, now),
                        None => self.fail("no_match", now),
                    }
                }
            }
        }
    }

    /// Asks "Did you say {{choice}}?" and listens for the answer.
    fn ask_confirmation(&mut self, gather: &Gather, intent: &str, choice: &str, text: &str, confidence: f32, now: Instant) {
        self.confirming = Some(Confirming { intent: intent.to_owned(), text: text.to_owned(), confidence });
        self.vars.insert("choice".to_owned(), choice.to_owned());
        self.actions.push_back(Action::ConfirmationAsked { intent: intent.to_owned(), text: text.to_owned(), confidence });
        let question = match gather.confirm_say.as_ref().or(self.flow.confirm_say.as_ref()) {
            Some(q) => self.text(q),
            None => self.render(defaults::confirm(&self.language)),
        };
        if question.trim().is_empty() {
            self.gathering = Some(Gathering { no_input_at: Some(later(now, gather.timeout)), ..Gathering::default() });
            self.phase = Phase::Listening;
        } else {
            self.say(question);
            self.gathering = Some(Gathering::default());
            self.phase = Phase::Playing(Then::Listen);
        }
    }

    /// The answer to "Did you say …?": yes takes the intent; no rejects
    /// the hypothesis; anything else is a `no_match`.
    fn confirmed(&mut self, asked: Confirming, answer: Option<bool>, now: Instant) {
        match answer {
            Some(true) => self.matched(&asked.intent, &asked.text, now),
            Some(false) => {
                let Confirming { intent, text, confidence } = asked;
                self.actions.push_back(Action::SpeechRejected { text, confidence, guess: Some(intent), reason: RejectReason::Denied });
                self.fail("no_match", now);
            }
            None => self.fail("no_match", now),
        }
    }

    fn matched(&mut self, name: &str, input: &str, now: Instant) {
        let Some(node) = self.node.clone() else {
            return;
        };
        self.failures = 0;
        self.vars.insert("intent".to_owned(), name.to_owned());
        self.context.intents.push(IntentRecord { intent: name.to_owned(), input: input.to_owned(), node });
        self.actions.push_back(Action::IntentMatched { intent: name.to_owned(), input: input.to_owned() });
        self.fire(name, now);
    }

    fn consent(&mut self, topic: &str, granted: bool, now: Instant) {
        let Some(node) = self.node.clone() else {
            return;
        };
        self.failures = 0;
        let at = self.wall.map(|(wall, start)| clock::format_utc(wall.checked_add(now.saturating_duration_since(start)).unwrap_or(wall)));
        let flow_version = self.flow.version.clone();
        self.set_var(&format!("consent.{topic}"), if granted { "yes" } else { "no" }.to_owned());
        self.context.consents.push(ConsentRecord {
            topic: topic.to_owned(),
            granted,
            at: at.clone(),
            flow_version: flow_version.clone(),
            node,
        });
        self.actions.push_back(Action::ConsentRecorded { topic: topic.to_owned(), granted, at, flow_version });
        self.fire(if granted { "yes" } else { "no" }, now);
    }

    fn survey(&mut self, name: String, scale: SurveyScale, score: u8, now: Instant) {
        self.failures = 0;
        self.set_var(&format!("survey.{name}"), score.to_string());
        self.context.surveys.push(SurveyRecord { survey: name.clone(), scale, score });
        self.actions.push_back(Action::SurveyAnswer { survey: name, scale, score });
        self.fire("done", now);
    }
}
