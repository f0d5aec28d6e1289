//! Speech input of a call (issue #5, DESIGN.md §1): while the flow gathers
//! with `speech: true`, one recogniser stream per utterance. The media
//! shard's speech tap resamples the caller to 16 kHz and runs the VAD; the
//! call hears `SpeechStarted` (→ barge-in through the runner), and only
//! then asks the edge to start the recogniser, which the tap feeds from the
//! onset (pre-roll included, kept while it started): a decoder or vendor
//! stream is held per caller who talks, not per caller listening to a
//! prompt. The recogniser's final becomes `FlowEvent::Speech` and a
//! transcript step.
//!
//! Failure: a recogniser that cannot start or errors makes the gather fall
//! back to keys — speech stays off for the rest of the call, the caller
//! hears a short hint, `centralita_asr_fallbacks` counts it, and the flow
//! sees a `no_match` (an empty result) so its retries and exits still
//! apply. The call is never dropped for a speech failure.

use std::time::{Duration, Instant};

use dialogs::FlowEvent;
use media::asr::{AsrEvent, Grammar, GrammarPhrase};
use media::leg::MediaCommand;
use media::vad::VadConfig;

use super::{CallCore, Output};
use crate::metrics::metrics;
use crate::store::StepKind;

/// One utterance being listened to.
pub(crate) struct Listening {
    /// The recogniser was asked for (the caller started speaking).
    started: bool,
    grammar: Grammar,
    language: String,
    /// When the caller stopped speaking (VAD), for the latency metric.
    ended_at: Option<Instant>,
    /// The gather's phrases, normalised, for the complete-match check.
    phrases: Vec<String>,
    /// The end-of-speech wait was shortened to `complete_timeout_ms`.
    complete: bool,
}

impl Listening {
    /// The recogniser's final is overdue after this (issue #15 item 8).
    pub(super) fn final_deadline(&self, final_timeout: Duration) -> Option<Instant> {
        self.ended_at.filter(|_| self.started).map(|at| at + final_timeout)
    }
}

/// Lower-case words separated by single spaces, padded with one space on
/// each side so that `contains(" phrase ")` matches whole words only.
fn words(text: &str) -> String {
    let s: String = text.chars().map(|c| if c.is_alphanumeric() || c == '\'' { c.to_ascii_lowercase() } else { ' ' }).collect();
    format!(" {} ", s.split_whitespace().collect::<Vec<_>>().join(" "))
}

impl CallCore {
    /// After every event: listen when the runner wants speech, stop when it
    /// no longer does.
    pub(super) fn update_listening(&mut self) {
        let wants = self.runner.as_ref().and_then(|r| r.active_grammar());
        match (wants, self.listening.is_some()) {
            (Some(phrases), false) if !self.speech_off && self.media_up => self.start_listening(phrases),
            (None, true) => self.stop_listening(),
            _ => {}
        }
    }

    fn start_listening(&mut self, phrases: Vec<String>) {
        if !self.settings.speech {
            return;
        }
        let normalised = phrases.iter().map(|p| words(p)).filter(|p| p.trim() != "").collect();
        let grammar = Grammar {
            phrases: phrases.into_iter().map(|text| GrammarPhrase { intent: text.clone(), text }).collect(),
            yes_no: false,
            digits: false,
        };
        let language = self.language();
        let vad = VadConfig { end_of_speech_silence: self.settings.end_of_speech, ..VadConfig::default() };
        self.media(MediaCommand::Detect { vad });
        self.listening = Some(Listening { started: false, grammar, language, ended_at: None, phrases: normalised, complete: false });
    }

    fn stop_listening(&mut self) {
        if self.listening.take().is_some_and(|l| l.started) {
            self.out(Output::StopRecognizer);
        }
        self.media(MediaCommand::StopListening);
    }

    /// The VAD heard the caller start (barge-in) or stop.
    pub(super) fn speech_activity(&mut self, started: bool, now: Instant) {
        if started {
            metrics().speech_starts.inc();
            // The caller started speaking: the edge starts the recogniser
            // and hands its sink to the tap, which kept the audio since the onset.
            if let Some(l) = self.listening.as_mut().filter(|l| !l.started) {
                l.started = true;
                let (grammar, language) = (l.grammar.clone(), l.language.clone());
                self.out(Output::StartRecognizer { grammar, language });
            }
            self.flow_event(FlowEvent::SpeechStarted, now);
        } else if let Some(l) = self.listening.as_mut() {
            l.ended_at = Some(now);
        }
    }

    /// The recogniser's answer for the current utterance (None: its stream
    /// went away).
    pub(crate) fn handle_asr(&mut self, event: Option<AsrEvent>, now: Instant) {
        match event {
            Some(AsrEvent::Partial { text }) => {
                tracing::debug!(%text, "partial transcript");
                self.check_complete(&text);
            }
            Some(AsrEvent::Final { text, confidence }) => {
                // The turn ended at the VAD's end of speech; a final that
                // overtook that event (another thread) ends it now.
                let ended_at = self.listening.take().and_then(|l| l.ended_at);
                self.out(Output::StopRecognizer);
                if let Some(at) = ended_at {
                    metrics().asr_seconds.observe(now.saturating_duration_since(at).as_secs_f64());
                }
                self.turn_ended = Some((ended_at.unwrap_or(now), "speech"));
                tracing::info!(%text, confidence, "caller said");
                let node = self.node.clone().unwrap_or_default();
                self.recorder.step(self.clock.unix_ms(now), StepKind::Transcript, &node, text.clone(), Some(f64::from(confidence)));
                self.flow_event(FlowEvent::Speech { text, confidence }, now);
            }
            Some(AsrEvent::Error(e)) => self.speech_failed(&e.to_string(), now),
            None => self.speech_failed("recogniser stream closed", now),
        }
        self.settle(now);
    }

    /// No final from the recogniser within `[speech].final_timeout_ms` of
    /// the end of speech: it is down or hung; keys from now on.
    pub(super) fn listening_timeout(&mut self, now: Instant) {
        let overdue = self.listening.as_ref().and_then(|l| l.final_deadline(self.settings.final_timeout)).is_some_and(|at| at <= now);
        if overdue {
            self.speech_failed("no final result from the recogniser in time", now);
        }
    }

    /// The edge could not start the recogniser.
    pub(crate) fn handle_recognizer_failed(&mut self, why: &str, now: Instant) {
        self.speech_failed(why, now);
        self.settle(now);
    }

    /// VoiceXML `completetimeout`: once the words so far contain one of
    /// the gather's phrases, a shorter silence ends the utterance. Asked
    /// once per utterance; the media shard applies it from its next frame.
    fn check_complete(&mut self, partial: &str) {
        let timeout = self.settings.complete_timeout_ms;
        let Some(l) = self.listening.as_mut().filter(|l| !l.complete && timeout > 0) else { return };
        let heard = words(partial);
        if !l.phrases.iter().any(|p| heard.contains(p.as_str())) {
            return;
        }
        l.complete = true;
        tracing::debug!(%partial, timeout_ms = timeout, "complete match: shorter end-of-speech wait");
        self.media(MediaCommand::SetEndOfSpeech(Duration::from_millis(timeout)));
    }

    fn speech_failed(&mut self, why: &str, now: Instant) {
        tracing::warn!(error = why, "speech recognition failed; this call continues with keys only");
        metrics().asr_fallbacks.inc();
        self.stop_listening();
        self.speech_off = true;
        let hint = if self.language().starts_with("es") {
            "No pude entenderle. Por favor, use el teclado."
        } else {
            "Sorry, I could not hear you. Please use your keypad."
        };
        self.pending_hint = Some(hint.to_string());
        // The gather's retries and exits still apply; its next prompt
        // starts with the hint.
        self.flow_event(FlowEvent::Speech { text: String::new(), confidence: 0.0 }, now);
    }
}
