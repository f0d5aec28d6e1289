//! Flow side of the call task: runs the FlowRunner, renders prompts off the
//! call task, plays them on the media leg, feeds DTMF and prompt ends back,
//! and turns a Transfer action into a REFER with context (RFC 3515 §2.4,
//! RFC 7433; DESIGN.md §5).

use std::time::Instant as StdInstant;

use dialogs::{Action, FlowEvent, FlowRunner, Variables};
use media::leg::MediaCommand;
use media::rtp_session::MediaEvent;
use rsip::{Header, Method};
use tokio::time::Instant;

use super::{Call, Outcome, PendingRefer, Phase};
use crate::metrics::{metrics, SourceLabel};
use crate::prompt_stream::PromptStream;
use crate::sip::refer::{parse_sip_uri, user_to_user, ReferTo};
use crate::store::{StepKind, SurveyKind, TransferMode};

impl Call {
    pub(super) fn start_flow(&mut self) {
        let Some(flow) = self.shared.flows.get(std::path::Path::new(&self.flow_name)) else {
            self.hang_up(Outcome::Failed, "flow missing");
            return;
        };
        let mut vars = Variables::new();
        vars.insert("caller".into(), self.caller.clone());
        vars.insert("called".into(), self.called.clone());
        vars.insert("call_id".into(), self.call_id.clone());
        vars.insert("transfer.agent_uri".into(), self.shared.config.transfer.agent_uri.clone());
        if let Some(o) = &self.outbound {
            // An outbound call: the customer is the callee.
            vars.insert("customer".into(), o.number.clone());
            for (k, v) in &o.variables {
                vars.insert(k.clone(), v.clone());
            }
        }
        // The wall clock decides business hours (`hours:`) and stamps consent.
        self.runner = Some(FlowRunner::with_clock(flow, vars, StdInstant::now(), self.shared.config.flow_wall_clock()));
    }

    pub(super) fn flow_event(&mut self, ev: FlowEvent) {
        if let Some(r) = self.runner.as_mut() {
            r.handle_event(ev, StdInstant::now());
        }
    }

    pub(super) fn handle_timeout(&mut self) {
        let now = Instant::now();
        if self.refer.as_ref().is_some_and(|r| r.deadline <= now) {
            self.transfer_failed("no final NOTIFY in time".into());
        }
        if let Some(r) = self.runner.as_mut() {
            r.handle_timeout(now.into_std());
        }
    }

    pub(super) fn transfer_failed(&mut self, reason: String) {
        tracing::warn!(%reason, "transfer failed");
        self.recorder.transfer_result(None, false); // no-op when a code was recorded
        metrics().count_transfer("failed");
        self.refer = None;
        self.flow_event(FlowEvent::TransferFailed { reason });
        self.publish();
    }

    pub(super) fn handle_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::Dtmf { digit, source } => {
                tracing::info!(%digit, ?source, "DTMF");
                metrics().dtmf_digits.get_or_create(&SourceLabel { source: format!("{source:?}").to_ascii_lowercase() }).inc();
                self.turn_ended = Some((std::time::Instant::now(), "dtmf"));
                self.flow_event(FlowEvent::Digit(digit));
            }
            MediaEvent::PlaybackStarted { id } => {
                if let Some((at, input)) = self.turn_ended.take() {
                    let secs = at.elapsed().as_secs_f64();
                    metrics().turn_seconds.get_or_create(&SourceLabel { source: input.into() }).observe(secs);
                    tracing::info!(input, turn_ms = format!("{:.1}", secs * 1e3), prompt = id, "next prompt after the caller's turn");
                }
                if self.first_response_ms.is_none() {
                    let ms = self.received_at.elapsed().as_millis() as u64;
                    self.first_response_ms = Some(ms);
                    metrics().first_response_seconds.observe(ms as f64 / 1000.0);
                    self.recorder.first_prompt(super::record::unix_ms());
                    tracing::info!(first_response_ms = ms, prompt = id, "first prompt packet sent");
                    self.publish();
                }
            }
            MediaEvent::PlaybackFinished { id } => {
                if self.current_prompt == Some(id) {
                    self.current_prompt = None;
                    self.flow_event(FlowEvent::PromptFinished);
                }
            }
            MediaEvent::Inactive => self.hang_up(Outcome::RtpTimeout, "no RTP received (inactivity timeout)"),
            MediaEvent::Latched(addr) => tracing::debug!(%addr, "RTP latched"),
            MediaEvent::FirstPacketSent => {}
            MediaEvent::SpeechStarted => self.speech_activity(true),
            MediaEvent::SpeechEnded => self.speech_activity(false),
        }
    }

    pub(super) fn handle_render(&mut self, id: u64, msg: RenderMsg) {
        if self.current_prompt != Some(id) {
            return; // barged-in or replaced while rendering
        }
        let command = match msg {
            RenderMsg::Start { pcm, streamed: false } => MediaCommand::Play { pcm, id },
            RenderMsg::Start { pcm, streamed: true } => MediaCommand::PlayStream { pcm, id },
            RenderMsg::More(pcm) => MediaCommand::Append { pcm, id },
            RenderMsg::End => MediaCommand::EndStream { id },
            RenderMsg::Failed => {
                // Never leave the caller waiting on a prompt that will not come.
                self.current_prompt = None;
                self.flow_event(FlowEvent::PromptFinished);
                return;
            }
        };
        match &self.media {
            Some(m) => {
                let _ = m.commands.send(command);
            }
            None if matches!(command, MediaCommand::Play { .. } | MediaCommand::PlayStream { .. }) => {
                self.current_prompt = None;
                self.flow_event(FlowEvent::PromptFinished);
            }
            None => {}
        }
    }

    /// Performs every action the runner has queued.
    pub(super) async fn drain_actions(&mut self) {
        while let Some(action) = self.runner.as_mut().and_then(FlowRunner::poll_action) {
            if self.phase == Phase::Ended {
                continue; // drain without acting
            }
            match action {
                Action::NodeEntered { node } => {
                    tracing::info!(node = %node, "node");
                    self.recorder.step(StepKind::Node, &node.to_string(), String::new(), None);
                    self.node = Some(node.to_string());
                    self.publish();
                }
                Action::IntentMatched { intent, input } => {
                    tracing::info!(%intent, %input, "intent");
                    let node = self.node.clone().unwrap_or_default();
                    self.recorder.step(StepKind::Intent, &node, format!("{intent} ({input})"), None);
                }
                Action::Say { text, language } => self.render(RenderJob::Say(text, language)),
                Action::Play { prompt, language } => self.render(RenderJob::Play(prompt.to_string(), language)),
                Action::StopPrompt => {
                    self.current_prompt = None;
                    if let Some(m) = &self.media {
                        let _ = m.commands.send(MediaCommand::Stop);
                    }
                }
                Action::Transfer { to, mode, context } => self.send_refer(&to, mode, context).await,
                Action::Hangup => self.hang_up(Outcome::Completed, "flow ended"),
                Action::Webhook { name, url, method, body, timeout } => self.start_webhook(name, url, method, body, timeout),
                Action::BusinessEvent { kind, value, currency, data } => {
                    tracing::info!(?kind, ?value, ?currency, ?data, "business event");
                    let number = value.as_deref().and_then(|v| v.trim().parse::<f64>().ok());
                    let payload = serde_json::to_value(&data).unwrap_or_default();
                    self.recorder.business_event(super::record::event_kind(kind), number, currency, payload);
                }
                Action::ConsentRecorded { topic, granted, at, flow_version } => {
                    tracing::info!(%topic, granted, ?at, %flow_version, "consent");
                    let at_ms = at
                        .as_deref()
                        .and_then(|t| dialogs::parse_timestamp(t).ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_millis() as i64);
                    self.recorder.consent(&topic, granted, at_ms.unwrap_or_else(super::record::unix_ms));
                }
                Action::SurveyAnswer { survey, scale, score } => {
                    tracing::info!(%survey, ?scale, score, "survey answer");
                    let kind = match scale {
                        dialogs::SurveyScale::Csat => SurveyKind::Csat,
                        dialogs::SurveyScale::Nps => SurveyKind::Nps,
                    };
                    self.recorder.survey(kind, i64::from(score));
                }
                Action::VariantChosen { branch, variant } => {
                    tracing::info!(%branch, %variant, "A/B variant");
                    self.recorder.variant(&branch.to_string(), &variant);
                }
            }
        }
    }

    pub(super) fn render(&mut self, job: RenderJob) {
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
        let prompter = self.shared.prompter.clone();
        let tx = self.render_tx.clone();
        tokio::spawn(async move {
            let stream = match job {
                RenderJob::Say(text, lang) => prompter.say_stream(&text, &lang).await,
                RenderJob::Play(idp, lang) => prompter.play(&idp, &lang).await.map(PromptStream::whole),
            };
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "prompt could not be rendered");
                    let _ = tx.send((id, RenderMsg::Failed)).await;
                    return;
                }
            };
            let streamed = stream.is_streamed();
            let mut started = false;
            loop {
                let msg = match stream.next_chunk().await {
                    Some(Ok(pcm)) if !started => RenderMsg::Start { pcm, streamed },
                    Some(Ok(pcm)) => RenderMsg::More(pcm),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "prompt audio stream failed; the prompt ends here");
                        break;
                    }
                    None => break,
                };
                started = true;
                if tx.send((id, msg)).await.is_err() {
                    return; // the call is gone: stop reading the stream
                }
            }
            let last = match (started, streamed) {
                (false, _) => RenderMsg::Failed,
                (true, true) => RenderMsg::End,
                (true, false) => return,
            };
            let _ = tx.send((id, last)).await;
        });
    }

    /// Blind transfer: REFER in the caller's dialog with the context in the
    /// Refer-To URI headers (DESIGN.md §5).
    async fn send_refer(&mut self, to: &str, mode: dialogs::TransferMode, context: dialogs::CallContext) {
        if mode != dialogs::TransferMode::Blind {
            tracing::warn!(?mode, "only blind transfer is implemented; transferring blind");
        }
        let target = match parse_sip_uri(to) {
            Ok(t) => t,
            Err(e) => {
                self.transfer_failed(format!("bad transfer target: {e}"));
                return;
            }
        };
        self.recorder.transfer_tried(to, if mode == dialogs::TransferMode::Warm { TransferMode::Warm } else { TransferMode::Blind });
        let intent = context.intents.last().map(|i| i.intent.clone()).unwrap_or_default();
        let ctx_json = serde_json::to_value(&context).unwrap_or_default();
        self.shared.registry.set_context(&self.call_id, ctx_json).await;
        let ctx_url = format!("http://{}/v1/calls/{}/context", self.shared.config.api.listen, self.call_id);
        let uui = format!("call={};intent={}", self.call_id, intent);
        let refer_to = ReferTo {
            target,
            headers: vec![
                ("User-to-User".into(), user_to_user(uui.as_bytes(), "centralita")),
                ("X-Centralita-Call-Id".into(), self.call_id.clone()),
                ("X-Centralita-Intent".into(), intent),
                ("X-Centralita-Context-Url".into(), ctx_url),
            ],
        };
        let Some(d) = self.dialog.as_mut() else { return };
        let mut req = d.request(Method::Refer);
        let cseq = d.local_cseq;
        let referred_by = format!("<sip:centralita@{}>", d.local_addr);
        req.headers.push(Header::Other("Refer-To".into(), refer_to.to_string()));
        req.headers.push(Header::Other("Referred-By".into(), referred_by));
        tracing::info!(refer_to = %refer_to, "sending REFER");
        metrics().count_transfer("tried");
        self.send_request(req);
        let wait = std::time::Duration::from_secs(self.shared.config.transfer.notify_timeout.max(1));
        self.refer = Some(PendingRefer { cseq, deadline: Instant::now() + wait });
        self.publish();
    }
}

impl Call {
    /// Runs a flow webhook off the call task; its result comes back on the
    /// call's webhook channel as the event the runner waits for.
    fn start_webhook(
        &mut self,
        name: String,
        url: String,
        method: dialogs::HttpMethod,
        body: std::collections::BTreeMap<String, String>,
        timeout: std::time::Duration,
    ) {
        self.webhook_seq += 1;
        let seq = self.webhook_seq;
        let method = match method {
            dialogs::HttpMethod::Get => crate::webhook::Method::Get,
            dialogs::HttpMethod::Post => crate::webhook::Method::Post,
        };
        let (client, tx, call_id) = (self.shared.webhooks.clone(), self.webhook_tx.clone(), self.call_id.clone());
        tracing::info!(%name, %url, ?method, "webhook");
        tokio::spawn(async move {
            let ev = match client.call(method, &url, &body, timeout, &call_id).await {
                Ok((status, body)) => {
                    tracing::info!(%name, status, "webhook answered");
                    FlowEvent::WebhookResult { status, body }
                }
                Err(e) => {
                    tracing::warn!(%name, error = %e, "webhook failed");
                    FlowEvent::WebhookFailed { reason: e.to_string() }
                }
            };
            let _ = tx.send((seq, ev)).await;
        });
    }
}

/// What a render task reports for a prompt, in order: `Start`, then for a
/// streamed prompt any `More` and `End`; or `Failed` if no audio came.
pub(super) enum RenderMsg {
    Start { pcm: media::Pcm, streamed: bool },
    More(media::Pcm),
    End,
    Failed,
}

pub(super) enum RenderJob {
    Say(String, String),
    Play(String, String),
}
