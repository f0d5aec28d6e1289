//! The flow side of the call (DESIGN.md §1): the `FlowRunner` started at
//! the confirmed dialog, its actions turned into outputs (prompts, media
//! commands, webhooks, transfers, records), and what comes back — media
//! events, rendered prompt audio, webhook results — fed to it as events.

use std::time::Instant;

use dialogs::{Action, FlowEvent, FlowRunner, Variables};
use media::leg::MediaCommand;
use media::rtp_session::MediaEvent;

use super::record::event_kind;
use super::{CallCore, Outcome, Output, Phase};
use crate::metrics::{metrics, SourceLabel};
use crate::store::{StepKind, SurveyKind};

/// What a render task reports for a prompt, in order: `Start`, then for a
/// streamed prompt any `More` and `End`; or `Failed` if no audio came.
#[derive(Debug)]
pub(crate) enum RenderMsg {
    Start { pcm: media::Pcm, streamed: bool },
    More(media::Pcm),
    End,
    Failed,
}

/// A prompt to render: TTS text or a library prompt, with the language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RenderJob {
    Say(String, String),
    Play(String, String),
    /// The built-in hold music loop (warm transfer).
    HoldMusic,
}

impl CallCore {
    pub(super) fn start_flow(&mut self, now: Instant) {
        let Some(flow) = self.id.flow.clone() else {
            self.hang_up(Outcome::Failed, "flow missing");
            return;
        };
        let mut vars = Variables::new();
        vars.insert("caller".into(), self.id.caller_as_sent.clone());
        vars.insert("called".into(), self.id.called.clone());
        vars.insert("call_id".into(), self.id.call_id.clone());
        vars.insert("transfer.agent_uri".into(), self.settings.agent_uri.clone());
        if let Some(o) = self.outbound.as_ref() {
            // An outbound call: the customer is the callee.
            vars.insert("customer".into(), o.spec.number.clone());
            for (k, v) in &o.spec.variables {
                vars.insert(k.clone(), v.clone());
            }
        }
        // The wall clock decides business hours (`hours:`) and stamps consent.
        let wall = self.settings.pinned_time.unwrap_or_else(|| self.clock.system_time(now));
        let mut gate = dialogs::RecordingGate::new(&flow);
        self.runner = Some(FlowRunner::with_clock(flow, vars, now, wall));
        // The dialog is confirmed: recording may begin (`recording: always`).
        if let Some(state) = gate.answered() {
            self.out(Output::Recording(state));
        }
        self.recording = Some(gate);
    }

    /// The flow entered `node` or the caller answered a consent question:
    /// what the recorder should do now, if that changed.
    fn recording_changed(&mut self, state: Option<dialogs::RecordState>) {
        if let Some(state) = state {
            tracing::info!(?state, "recording");
            self.out(Output::Recording(state));
        }
    }

    pub(super) fn flow_event(&mut self, ev: FlowEvent, now: Instant) {
        if let Some(r) = self.runner.as_mut() {
            r.handle_event(ev, now);
        }
    }

    /// An event of the call's RTP leg.
    pub(crate) fn handle_media(&mut self, ev: MediaEvent, now: Instant) {
        match ev {
            MediaEvent::Dtmf { digit, source } => {
                tracing::info!(%digit, ?source, "DTMF");
                metrics().dtmf_digits.get_or_create(&SourceLabel { source: format!("{source:?}").to_ascii_lowercase() }).inc();
                self.turn_ended = Some((now, "dtmf"));
                self.flow_event(FlowEvent::Digit(digit), now);
            }
            MediaEvent::PlaybackStarted { id } => {
                if let Some((at, input)) = self.turn_ended.take() {
                    let secs = now.saturating_duration_since(at).as_secs_f64();
                    metrics().turn_seconds.get_or_create(&SourceLabel { source: input.into() }).observe(secs);
                    tracing::info!(input, turn_ms = format!("{:.1}", secs * 1e3), prompt = id, "next prompt after the caller's turn");
                }
                if self.first_response_ms.is_none() {
                    let ms = now.saturating_duration_since(self.received_at).as_millis() as u64;
                    self.first_response_ms = Some(ms);
                    metrics().first_response_seconds.observe(ms as f64 / 1000.0);
                    self.recorder.first_prompt(self.clock.unix_ms(now));
                    tracing::info!(first_response_ms = ms, prompt = id, "first prompt packet sent");
                    self.publish();
                }
            }
            MediaEvent::PlaybackFinished { id } => {
                if self.hold_finished(id) {
                } else if self.current_prompt == Some(id) {
                    self.current_prompt = None;
                    self.flow_event(FlowEvent::PromptFinished, now);
                }
            }
            MediaEvent::Inactive => self.hang_up(Outcome::RtpTimeout, "no RTP received (inactivity timeout)"),
            MediaEvent::Latched(addr) => tracing::debug!(%addr, "RTP latched"),
            MediaEvent::FirstPacketSent => {}
            MediaEvent::SpeechStarted => self.speech_activity(true, now),
            MediaEvent::SpeechEnded => self.speech_activity(false, now),
        }
        self.settle(now);
    }

    /// The media leg went away on its own.
    pub(crate) fn handle_media_closed(&mut self, now: Instant) {
        self.media_up = false;
        self.hang_up(Outcome::Failed, "media task ended");
        self.settle(now);
    }

    /// Audio (or the failure) of prompt `id`.
    pub(crate) fn handle_render(&mut self, id: u64, msg: RenderMsg, now: Instant) {
        if self.current_prompt != Some(id) {
            // A warm transfer's whisper or hold prompt, or one barged-in
            // or replaced while rendering.
            let command = match msg {
                RenderMsg::Start { pcm, streamed: false } => MediaCommand::Play { pcm, id },
                RenderMsg::Start { pcm, streamed: true } => MediaCommand::PlayStream { pcm, id },
                RenderMsg::More(pcm) => MediaCommand::Append { pcm, id },
                RenderMsg::End => MediaCommand::EndStream { id },
                RenderMsg::Failed => {
                    self.warm_render_failed(id, now);
                    return self.settle(now);
                }
            };
            self.warm_render(id, command);
            return self.settle(now);
        }
        let command = match msg {
            RenderMsg::Start { pcm, streamed: false } => MediaCommand::Play { pcm, id },
            RenderMsg::Start { pcm, streamed: true } => MediaCommand::PlayStream { pcm, id },
            RenderMsg::More(pcm) => MediaCommand::Append { pcm, id },
            RenderMsg::End => MediaCommand::EndStream { id },
            // Never leave the caller waiting on a prompt that will not come.
            RenderMsg::Failed => return self.prompt_done(now),
        };
        let starts = matches!(command, MediaCommand::Play { .. } | MediaCommand::PlayStream { .. });
        if self.media_up {
            self.out(Output::Media(command));
        } else if starts {
            self.prompt_done(now);
        }
    }

    fn prompt_done(&mut self, now: Instant) {
        self.current_prompt = None;
        self.flow_event(FlowEvent::PromptFinished, now);
        self.settle(now);
    }

    /// The result of webhook `seq`, with `summary` (method, URL without
    /// query, status or error, latency) recorded as a step of the call
    /// (issue #13: a failing CRM look-up is visible on the call's page);
    /// only the latest request's result reaches the runner (it already gave
    /// up on older ones).
    pub(crate) fn handle_webhook(&mut self, seq: u64, ev: FlowEvent, summary: String, now: Instant) {
        let node = self.node.clone().unwrap_or_default();
        self.recorder.step(self.clock.unix_ms(now), StepKind::Webhook, &node, summary, None);
        if seq == self.webhook_seq {
            self.flow_event(ev, now);
        }
        self.settle(now);
    }

    /// Performs every action the runner has queued.
    pub(super) fn drain_actions(&mut self, now: Instant) {
        while let Some(action) = self.runner.as_mut().and_then(FlowRunner::poll_action) {
            if self.phase == Phase::Ended {
                continue; // drain without acting
            }
            let at = self.clock.unix_ms(now);
            match action {
                Action::NodeEntered { node } => {
                    tracing::info!(node = %node, "node");
                    self.recorder.step(at, StepKind::Node, &node.to_string(), String::new(), None);
                    self.node = Some(node.to_string());
                    let op = self.id.flow.as_ref().and_then(|f| f.nodes.get(&node)).cloned();
                    let state = op.and_then(|n| self.recording.as_mut().and_then(|g| g.node_entered(&n)));
                    self.recording_changed(state);
                    self.publish();
                }
                Action::IntentMatched { intent, input } => {
                    tracing::info!(%intent, %input, "intent");
                    let node = self.node.clone().unwrap_or_default();
                    self.recorder.step(at, StepKind::Intent, &node, format!("{intent} ({input})"), None);
                }
                Action::SpeechRejected { text, confidence, guess, reason } => {
                    // Never silent (issue #13): the words, what they would
                    // have meant and why they were not taken.
                    tracing::info!(%text, confidence, ?guess, %reason, "speech rejected");
                    metrics().speech_rejected.inc();
                    let node = self.node.clone().unwrap_or_default();
                    let guess = guess.map_or_else(|| "no intent".to_owned(), |g| format!("heard as {g}"));
                    let detail = format!("\"{text}\" ({guess}; {reason})");
                    self.recorder.step(at, StepKind::Rejected, &node, detail, Some(f64::from(confidence)));
                }
                Action::ConfirmationAsked { intent, text, confidence } => {
                    tracing::info!(%intent, %text, confidence, "asking the caller to confirm");
                    let node = self.node.clone().unwrap_or_default();
                    self.recorder.step(at, StepKind::Confirm, &node, format!("{intent}? (\"{text}\")"), Some(f64::from(confidence)));
                }
                Action::Say { text, language } => self.render(RenderJob::Say(text, language)),
                Action::Play { prompt, language } => self.render(RenderJob::Play(prompt.to_string(), language)),
                Action::StopPrompt => {
                    self.current_prompt = None;
                    self.media(MediaCommand::Stop);
                }
                Action::Transfer { to, mode: dialogs::TransferMode::Warm, context, options } => self.start_warm(&to, context, options, now),
                Action::Transfer { to, mode: dialogs::TransferMode::Blind, context, options } => {
                    // Bridging instead of a REFER: no whisper, taken on answer.
                    let bridge = dialogs::TransferOptions { whisper: String::new(), accept: dialogs::AcceptMode::Auto, ..options };
                    if !self.id.refer {
                        tracing::info!("the caller's trunk takes no REFER: bridging to the agent");
                        self.start_warm(&to, context, bridge, now);
                    } else {
                        if bridge.fallback == Some(dialogs::Fallback::Bridge) {
                            self.fallback = Some((to.clone(), context.clone(), bridge));
                        }
                        self.start_transfer(&to, context, now);
                    }
                }
                Action::Hangup => self.hang_up(Outcome::Completed, "flow ended"),
                Action::Webhook { name, url, method, body, timeout } => {
                    self.webhook_seq += 1;
                    tracing::info!(%name, %url, ?method, "webhook");
                    self.out(Output::Webhook(super::WebhookRequest { seq: self.webhook_seq, name, url, method, body, timeout }));
                }
                Action::BusinessEvent { kind, value, currency, data } => {
                    tracing::info!(?kind, ?value, ?currency, ?data, "business event");
                    let number = value.as_deref().and_then(|v| v.trim().parse::<f64>().ok());
                    let payload = serde_json::to_value(&data).unwrap_or_default();
                    self.recorder.business_event(event_kind(kind), number, currency, payload, at);
                }
                Action::ConsentRecorded { topic, granted, at: stamped, flow_version } => {
                    tracing::info!(%topic, granted, ?stamped, %flow_version, "consent");
                    let at_ms = stamped
                        .as_deref()
                        .and_then(|t| dialogs::parse_timestamp(t).ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_millis() as i64);
                    self.recorder.consent(&topic, granted, at_ms.unwrap_or(at));
                    let state = self.recording.as_mut().and_then(|g| g.consent(&topic, granted));
                    self.recording_changed(state);
                }
                Action::SurveyAnswer { survey, scale, score } => {
                    tracing::info!(%survey, ?scale, score, "survey answer");
                    let kind = match scale {
                        dialogs::SurveyScale::Csat => SurveyKind::Csat,
                        dialogs::SurveyScale::Nps => SurveyKind::Nps,
                    };
                    self.recorder.survey(kind, i64::from(score), at);
                }
                Action::VariantChosen { branch, variant } => {
                    tracing::info!(%branch, %variant, "A/B variant");
                    self.recorder.variant(&branch.to_string(), &variant);
                }
            }
        }
    }

    fn render(&mut self, job: RenderJob) {
        // A speech-failure hint goes in front of the flow's next prompt.
        let job = match (job, self.pending_hint.take()) {
            (RenderJob::Say(text, lang), Some(hint)) => RenderJob::Say(format!("{hint} {text}"), lang),
            (job, hint) => {
                self.pending_hint = hint;
                job
            }
        };
        self.prompt_seq += 1;
        let id = self.prompt_seq;
        self.current_prompt = Some(id);
        self.out(Output::Render { id, job });
    }
}
