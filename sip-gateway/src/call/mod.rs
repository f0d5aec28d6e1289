//! The per-call task (DESIGN.md §1): the thin tokio edge around a sans-IO
//! [`core::CallCore`]. One task owns a call; everything else reaches it
//! through its mailbox. The task reads the clock, waits on its inputs
//! (SIP signals, media events, recogniser events, rendered prompts, webhook
//! results, the core's next timeout) with one `select!`, feeds each to the
//! core with `now`, and performs the core's outputs: SIP through the
//! endpoint's bounded mailbox with awaited sends (a full mailbox is
//! back-pressure, never a silently lost 200 OK), media commands to the
//! shard, prompt rendering and webhooks on tasks of their own, records to
//! the store writer. At the end it commits the call's end durably before
//! answering the caller's BYE.

mod core;
pub mod outbound;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::FlowEvent;
use media::asr::AsrEvents;
use media::leg::{MediaCommand, MediaLeg};
use media::rtp_session::RtpSession;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::prompt_stream::PromptStream;
use crate::sip::endpoint::{CallSignal, CallSpawner, EndpointCommand, IncomingCall};
use crate::sip::transport::SipFlow;
use crate::store::Record;

pub use self::core::Outcome;
use self::core::{CallCore, CallIdentity, CallSettings, Output, RenderJob, RenderMsg, WallClock, WebhookRequest};
use self::status::StatusHook;
pub use crate::flows::FlowStore;

/// Longest wait for the end record's COMMIT before answering BYE anyway.
const END_DURABLE_WAIT: Duration = Duration::from_secs(2);
/// How long a warm transfer waits for the agent host's DNS answer.
const AGENT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// What every call shares (read-only after start-up).
pub struct Shared {
    pub config: crate::config::Config,
    pub flows: Arc<FlowStore>,
    pub prompter: crate::speech::Prompter,
    pub registry: crate::registry::Registry,
    pub webhooks: crate::webhook::WebhookClient,
    /// The media threads every call's RTP leg runs on.
    pub media: media::MediaEngine,
    /// `[speech].asr`; None: gathers take keys only.
    pub recognizer: Option<Arc<dyn media::asr::Recognizer>>,
    /// Call records go here (DESIGN §6, issue #6).
    pub records: crate::store::StoreWriter,
}

impl Shared {
    fn settings(&self) -> CallSettings {
        CallSettings::from_config(&self.config, self.recognizer.is_some())
    }

    /// Who the call is: `caller` normalised to E.164 where it can be
    /// (`[numbers]`, issue #13), the flow loaded at `flow_path` and its name.
    fn identity(&self, call_id: String, caller: String, called: String, flow_path: String, refer: bool) -> CallIdentity {
        let flow = self.flows.get(std::path::Path::new(&flow_path));
        let flow_name = flow.as_ref().map_or(flow_path, |f| f.name.clone());
        let normalised = crate::numbers::normalize_or_keep(&caller, &self.config.numbers);
        let context_url = self.config.context_url(&call_id);
        CallIdentity { call_id, caller: normalised, caller_as_sent: caller, called, flow_name, flow, context_url, refer }
    }

    /// Binds the call's RTP socket from `[rtp].ports`.
    fn bind_rtp(&self) -> Option<(std::net::UdpSocket, u16)> {
        let ports = self.config.rtp_ports().unwrap_or(0..=0);
        media::leg::bind_rtp_socket(self.config.rtp.address, ports).map_err(|e| tracing::error!(error = %e, "RTP bind failed")).ok()
    }
}

pub struct Spawner(pub Arc<Shared>);

impl CallSpawner for Spawner {
    fn spawn_call(&self, incoming: IncomingCall) -> mpsc::Sender<CallSignal> {
        let (tx, rx) = mpsc::channel(64);
        let shared = self.0.clone();
        let h = &incoming.invite.headers;
        let call_id = crate::sip::headers::call_id(h).unwrap_or_default().to_string();
        use rsip::headers::UntypedHeader;
        let caller =
            h.iter().find_map(|h| if let rsip::Header::From(f) = h { Some(core::user_of(f.value())) } else { None }).unwrap_or_default();
        let called = incoming.invite.uri.user().unwrap_or_default().to_string();
        let flow_name = shared.config.flow_for(&called).display().to_string();
        let span = tracing::info_span!("call", call_id = %call_id);
        let refer = shared.config.refer_allowed(incoming.flow.remote().ip());
        let id = shared.identity(call_id, caller, called, flow_name, refer);
        // The flow's `status_callback:` (issue #13).
        let callback = id.flow.as_ref().and_then(|f| f.status_callback.clone());
        let status = callback.map(|cb| StatusHook::new(cb, &id, crate::store::Direction::Inbound, unix_ms()));
        let now = Instant::now();
        let core = CallCore::new_inbound(
            shared.settings(),
            id,
            incoming.invite,
            incoming.key,
            incoming.flow,
            incoming.local_addr,
            WallClock::new(now, unix_ms()),
        );
        let mut task = CallTask::new(shared, core, incoming.endpoint, tx.clone());
        task.status = status;
        crate::metrics::metrics().active_calls.inc();
        tokio::spawn(task.run_inbound(rx).instrument(span));
        tx
    }
}

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What `Output::Ended` hands the edge: the outcome, the end record to
/// commit, the caller's BYE to answer after it.
type Ending = (Outcome, Option<crate::store::CallEnd>, Option<(crate::sip::transaction::TransactionKey, rsip::Response)>);

/// The edge of one call: its core and the IO it performs for it.
struct CallTask {
    shared: Arc<Shared>,
    core: CallCore,
    endpoint: mpsc::Sender<EndpointCommand>,
    /// This task's mailbox, as the owner of the requests it sends.
    me: mpsc::Sender<CallSignal>,
    rtp_socket: Option<std::net::UdpSocket>,
    media: Option<MediaLeg>,
    /// The caller's leg after it ended on its own, for its final stats.
    ended_media: Option<MediaLeg>,
    /// Warm transfer: the agent leg's RTP socket, then its media leg.
    agent_socket: Option<std::net::UdpSocket>,
    agent_media: Option<MediaLeg>,
    /// The current utterance's recogniser events.
    asr: Option<AsrEvents>,
    render_tx: mpsc::Sender<(u64, RenderMsg)>,
    render_rx: mpsc::Receiver<(u64, RenderMsg)>,
    /// Webhook results: (request seq, the flow's event, a line for the record).
    webhook_tx: mpsc::Sender<(u64, FlowEvent, String)>,
    webhook_rx: mpsc::Receiver<(u64, FlowEvent, String)>,
    /// Warm transfer: the agent host's address, looked up off the loop.
    resolve_tx: mpsc::Sender<Result<std::net::SocketAddr, String>>,
    resolve_rx: mpsc::Receiver<Result<std::net::SocketAddr, String>>,
    /// Set by `Output::Ended`.
    ended: Option<Ending>,
    /// The call's status callback (issue #13), if its flow or its
    /// `POST /v1/calls` asked for one.
    status: Option<StatusHook>,
    /// The call's recording (issue #19), once the flow allowed one.
    recording: Option<crate::recording::CallRecording>,
    /// Why the recording could not be created, if it could not.
    recording_failed: Option<String>,
    /// The caller's and the agent's legs are bridged (the agent is recorded).
    bridged: bool,
}

impl CallTask {
    fn new(shared: Arc<Shared>, core: CallCore, endpoint: mpsc::Sender<EndpointCommand>, me: mpsc::Sender<CallSignal>) -> Self {
        let (render_tx, render_rx) = mpsc::channel(8);
        let (webhook_tx, webhook_rx) = mpsc::channel(4);
        let (resolve_tx, resolve_rx) = mpsc::channel(1);
        CallTask {
            shared,
            core,
            endpoint,
            me,
            rtp_socket: None,
            media: None,
            ended_media: None,
            agent_socket: None,
            agent_media: None,
            asr: None,
            render_tx,
            render_rx,
            webhook_tx,
            webhook_rx,
            resolve_tx,
            resolve_rx,
            ended: None,
            status: None,
            recording: None,
            recording_failed: None,
            bridged: false,
        }
    }

    async fn run_inbound(mut self, rx: mpsc::Receiver<CallSignal>) {
        let port = self.bind();
        self.core.start_inbound(port, Instant::now());
        self.run(rx).await;
    }

    async fn run_outbound(mut self, rx: mpsc::Receiver<CallSignal>) {
        let port = self.bind();
        self.core.start_outbound(port, Instant::now());
        self.run(rx).await;
    }

    fn bind(&mut self) -> Option<u16> {
        let (socket, port) = self.shared.bind_rtp()?;
        self.rtp_socket = Some(socket);
        Some(port)
    }

    /// The run loop: one input, then every output, until the core ends.
    async fn run(mut self, mut rx: mpsc::Receiver<CallSignal>) {
        self.perform().await;
        while self.ended.is_none() {
            let deadline = self.core.poll_timeout();
            let media_events = async {
                match self.media.as_mut() {
                    Some(m) => m.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let agent_events = async {
                match self.agent_media.as_mut() {
                    Some(m) => m.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let asr_events = async {
                match self.asr.as_mut() {
                    Some(events) => events.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = asr_events => self.core.handle_asr(ev, Instant::now()),
                s = rx.recv() => match s {
                    Some(s) => self.core.handle_signal(s, Instant::now()),
                    None => break,
                },
                ev = media_events => match ev {
                    Some(ev) => self.core.handle_media(ev, Instant::now()),
                    None => {
                        // The leg ended on its own (its shard failed it):
                        // its final stats still come, in `finish`.
                        self.ended_media = self.media.take();
                        self.core.handle_media_closed(Instant::now());
                    }
                },
                ev = agent_events => match ev {
                    Some(ev) => self.core.handle_agent_media(ev, Instant::now()),
                    None => {
                        self.agent_media = None;
                        self.core.handle_agent_media_failed("media task ended", Instant::now());
                    }
                },
                Some((id, msg)) = self.render_rx.recv() => self.core.handle_render(id, msg, Instant::now()),
                Some((seq, ev, summary)) = self.webhook_rx.recv() => self.core.handle_webhook(seq, ev, summary, Instant::now()),
                Some(resolved) = self.resolve_rx.recv() => self.core.handle_agent_resolved(resolved, Instant::now()),
                _ = sleep_until_opt(deadline) => self.core.handle_timeout(Instant::now()),
            }
            self.perform().await;
        }
        self.finish().await;
    }

    /// Performs the core's outputs, in order.
    async fn perform(&mut self) {
        while let Some(output) = self.core.poll_output() {
            // A status callback row goes after the output it reports
            // (after its record, in the writer's order).
            let status = self.status.as_mut().and_then(|hook| hook.observe(&output, unix_ms()));
            match output {
                Output::Respond { key, response } => self.to_endpoint(EndpointCommand::Respond { key, response }).await,
                Output::SendRequest { request, flow } => {
                    self.to_endpoint(EndpointCommand::SendRequest { request, flow, owner: self.me.clone() }).await
                }
                Output::SendInvite { request, flow } => {
                    self.to_endpoint(EndpointCommand::SendInvite { request, flow, owner: self.me.clone() }).await
                }
                Output::Transmit { request, flow } => self.to_endpoint(EndpointCommand::Transmit { request, flow }).await,
                Output::StartMedia { config, direction } => self.start_media(config, direction),
                Output::BindAgentRtp => {
                    let port = self.shared.bind_rtp().map(|(socket, port)| {
                        self.agent_socket = Some(socket);
                        port
                    });
                    self.core.handle_agent_rtp(port, Instant::now());
                }
                Output::ResolveAgent { uri } => {
                    let tx = self.resolve_tx.clone();
                    tokio::spawn(async move {
                        // A name that does not resolve in time fails the transfer rather than the call.
                        let result = match tokio::time::timeout(AGENT_LOOKUP_TIMEOUT, outbound::resolve(&uri)).await {
                            Ok(r) => r.map_err(|e| e.to_string()),
                            Err(_) => Err(format!("no DNS answer in {} s", AGENT_LOOKUP_TIMEOUT.as_secs())),
                        };
                        let _ = tx.send(result).await;
                    });
                }
                Output::StartAgentMedia { config, direction } => self.start_agent_media(config, direction),
                Output::AgentMedia(command) => {
                    if let Some(m) = &self.agent_media {
                        let _ = m.commands.send(command);
                    }
                }
                Output::CloseAgentMedia => {
                    self.agent_socket = None;
                    if let Some(m) = self.agent_media.take() {
                        let _ = m.commands.send(MediaCommand::Close);
                    }
                }
                Output::Bridge => {
                    if let (Some(caller), Some(agent)) = (&self.media, &self.agent_media) {
                        let _ = caller.commands.send(MediaCommand::Bridge { peer: agent.commands.id() });
                        if let Some(rec) = &self.recording {
                            let _ = agent.commands.send(MediaCommand::Record(Some(rec.agent_spec())));
                        }
                    }
                    self.bridged = true;
                }
                Output::Recording(state) => self.set_recording(state).await,
                Output::LegEnded { call_id } => self.to_endpoint(EndpointCommand::CallEnded { call_id }).await,
                Output::Media(command) => {
                    if let Some(m) = &self.media {
                        let _ = m.commands.send(command); // the shard is gone only at shutdown
                    }
                }
                Output::Render { id, job } => self.render(id, job),
                Output::StartRecognizer { grammar, language } => self.start_recognizer(&grammar, &language),
                Output::StopRecognizer => self.asr = None,
                Output::Webhook(request) => self.webhook(request),
                Output::Ringing { .. } => {}
                Output::Record(record) => self.record(record).await,
                Output::Publish(info) => self.shared.registry.upsert(info),
                Output::Context(context) => self.shared.registry.set_context(self.core.call_id(), context).await,
                Output::Ended { outcome, end, bye } => self.ended = Some((outcome, end, bye)),
            }
            if let Some(row) = status {
                // Queued ahead of the durable end in `finish`: `completed`
                // is committed before the caller's BYE is answered.
                self.record(row).await;
            }
        }
    }

    /// Bounded, awaited: the endpoint never waits on calls, so this cannot
    /// deadlock; a closed endpoint means the gateway is stopping.
    async fn to_endpoint(&self, command: EndpointCommand) {
        if self.endpoint.send(command).await.is_err() {
            tracing::warn!("SIP endpoint stopped; output dropped");
        }
    }

    async fn record(&self, record: Record) {
        if let Err(e) = self.shared.records.send(record).await {
            crate::metrics::metrics().store_failures.inc();
            tracing::error!(error = %e, "call record not queued");
        }
    }

    /// Performs the recording gate's decision: the first `On`/`Paused`
    /// creates the file and taps the legs; every change goes to the writer.
    async fn set_recording(&mut self, state: dialogs::RecordState) {
        use media::recorder::RecordMode;
        let mode = match state {
            dialogs::RecordState::Off => RecordMode::Off,
            dialogs::RecordState::On => RecordMode::On,
            dialogs::RecordState::Paused => RecordMode::Paused,
        };
        if self.recording.is_none() && mode != RecordMode::Off && self.recording_failed.is_none() {
            match crate::recording::CallRecording::start(&self.shared.config.recording, self.core.call_id()) {
                Ok(rec) => {
                    tracing::info!(path = %rec.path().display(), "recording started");
                    rec.set_mode(mode, Instant::now()).await;
                    if let Some(m) = &self.media {
                        let _ = m.commands.send(MediaCommand::Record(Some(rec.caller_spec())));
                    }
                    if let Some(agent) = self.agent_media.as_ref().filter(|_| self.bridged) {
                        let _ = agent.commands.send(MediaCommand::Record(Some(rec.agent_spec())));
                    }
                    let update = crate::store::RecordingUpdate {
                        call_id: self.core.call_id().to_owned(),
                        status: "recording".into(),
                        reason: None,
                        path: Some(rec.path().display().to_string()),
                        duration_ms: None,
                        bytes: None,
                        channels: Some(2),
                    };
                    self.recording = Some(rec);
                    self.record(Record::Recording(update)).await;
                    return;
                }
                Err(e) => {
                    crate::metrics::metrics().recordings_failed.inc();
                    tracing::error!(error = %e, "recording not started");
                    self.recording_failed = Some(e.to_string());
                }
            }
        }
        if let Some(rec) = &self.recording {
            rec.set_mode(mode, Instant::now()).await;
        }
    }

    /// At the call's end, before its end is committed: the recording is
    /// closed (fsynced) and the record says what it holds, or why the call
    /// was not recorded (`refused`, `no_consent`, …; nothing for `never`).
    async fn finish_recording(&mut self) {
        let call_id = self.core.call_id().to_owned();
        let update = if let Some(rec) = self.recording.take() {
            let path = rec.path().to_owned();
            match rec.finish().await {
                Ok(summary) => {
                    tracing::info!(path = %path.display(), ms = summary.duration_ms(), bytes = summary.bytes, "recording closed");
                    crate::recording::recorded(&call_id, &path, &summary)
                }
                Err(e) => crate::store::RecordingUpdate {
                    call_id,
                    status: "failed".into(),
                    reason: Some(e.to_string()),
                    path: Some(path.display().to_string()),
                    duration_ms: None,
                    bytes: None,
                    channels: None,
                },
            }
        } else {
            let Some(verdict) = self.core.recording_verdict().filter(|v| *v != dialogs::RecordingVerdict::Never) else {
                return;
            };
            let (status, reason) = match &self.recording_failed {
                Some(e) => ("failed".to_owned(), e.clone()),
                None => (verdict.status().to_owned(), verdict.reason()),
            };
            tracing::info!(%status, %reason, "call not recorded");
            crate::store::RecordingUpdate {
                call_id,
                status,
                reason: Some(reason),
                path: None,
                duration_ms: None,
                bytes: None,
                channels: None,
            }
        };
        self.record(Record::Recording(update)).await;
    }

    fn start_media(&mut self, config: media::rtp_session::RtpConfig, direction: media::rtp_session::Direction) {
        let Some(socket) = self.rtp_socket.take() else {
            return self.core.handle_media_failed("no RTP socket", Instant::now());
        };
        let mut session = RtpSession::new(config, Instant::now());
        session.set_direction(direction);
        if let Some(rec) = &self.recording {
            session.set_record(Some(rec.caller_spec()));
        }
        match self.shared.media.spawn_leg(socket, session) {
            Ok(leg) => self.media = Some(leg),
            Err(e) => self.core.handle_media_failed(&e.to_string(), Instant::now()),
        }
    }

    /// The agent leg's RTP, on the caller leg's shard so the two can be
    /// bridged there.
    fn start_agent_media(&mut self, config: media::rtp_session::RtpConfig, direction: media::rtp_session::Direction) {
        let (Some(socket), Some(caller)) = (self.agent_socket.take(), self.media.as_ref()) else {
            return self.core.handle_agent_media_failed("no RTP socket or no caller media", Instant::now());
        };
        let mut session = RtpSession::new(config, Instant::now());
        session.set_direction(direction);
        match self.shared.media.spawn_leg_beside(&caller.commands, socket, session) {
            Ok(leg) => self.agent_media = Some(leg),
            Err(e) => self.core.handle_agent_media_failed(&e.to_string(), Instant::now()),
        }
    }

    fn start_recognizer(&mut self, grammar: &media::asr::Grammar, language: &str) {
        let Some(recognizer) = self.shared.recognizer.clone() else {
            return self.core.handle_recognizer_failed("no recogniser configured", Instant::now());
        };
        match recognizer.start(grammar, language) {
            Ok(stream) => {
                let (sink, events) = stream.split();
                self.asr = Some(events);
                if let Some(m) = &self.media {
                    let _ = m.commands.send(MediaCommand::Attach(sink));
                }
            }
            Err(e) => self.core.handle_recognizer_failed(&e.to_string(), Instant::now()),
        }
    }

    /// Renders a prompt on a task of its own; its audio comes back on the
    /// render channel, chunk by chunk for a streamed prompt.
    fn render(&self, id: u64, job: RenderJob) {
        let prompter = self.shared.prompter.clone();
        let tx = self.render_tx.clone();
        tokio::spawn(async move {
            let stream = match job {
                RenderJob::HoldMusic => Ok(PromptStream::whole(prompts::hold_music())),
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

    /// Runs a flow webhook off the call task; its result comes back on the
    /// webhook channel as the event the runner waits for.
    fn webhook(&self, request: WebhookRequest) {
        let WebhookRequest { seq, name, url, method, body, timeout } = request;
        let method = match method {
            dialogs::HttpMethod::Get => crate::webhook::Method::Get,
            dialogs::HttpMethod::Post => crate::webhook::Method::Post,
        };
        let (client, tx, call_id) = (self.shared.webhooks.clone(), self.webhook_tx.clone(), self.core.call_id().to_string());
        tokio::spawn(async move {
            let started = Instant::now();
            let result = client.call(method, &url, &body, timeout, &call_id).await;
            let (ms, shown) = (started.elapsed().as_millis() as u64, url_for_log(&url));
            let verb = match method {
                crate::webhook::Method::Get => "GET",
                crate::webhook::Method::Post => "POST",
            };
            let (ev, summary) = match result {
                Ok((status, body)) => {
                    if (200..300).contains(&status) {
                        tracing::info!(%name, url = %shown, status, ms, "webhook answered");
                    } else {
                        crate::metrics::metrics().webhook_failures.inc();
                        tracing::warn!(%name, url = %shown, status, ms, "webhook answered with an error status");
                    }
                    (FlowEvent::WebhookResult { status, body }, format!("{name}: {verb} {shown} → {status} in {ms} ms"))
                }
                Err(e) => {
                    crate::metrics::metrics().webhook_failures.inc();
                    tracing::warn!(%name, url = %shown, error = %e, ms, "webhook failed");
                    let summary = format!("{name}: {verb} {shown} failed after {ms} ms: {e}");
                    (FlowEvent::WebhookFailed { reason: e.to_string() }, summary)
                }
            };
            let _ = tx.send((seq, ev, summary)).await;
        });
    }

    /// Closes media, commits the end, answers the BYE, tells the endpoint.
    async fn finish(mut self) {
        if let Some(m) = self.agent_media.take() {
            let _ = m.commands.send(MediaCommand::Close);
        }
        if let Some(m) = self.media.take().or(self.ended_media.take()) {
            let _ = m.commands.send(MediaCommand::Close);
            match m.finished.await {
                Ok(stats) => {
                    let mx = crate::metrics::metrics();
                    mx.rtp_packets_sent.inc_by(stats.packets_sent);
                    mx.rtp_packets_received.inc_by(stats.packets_received);
                    mx.rtp_packets_lost.inc_by(stats.lost);
                    mx.rtp_packets_rejected.inc_by(stats.packets_rejected);
                    if stats.failed {
                        mx.media_leg_failures.inc();
                    }
                    mx.prompt_underruns.inc_by(stats.playback_underruns);
                    if stats.packets_received > 1 {
                        mx.rtp_jitter_seconds.observe(f64::from(stats.jitter_us) / 1e6);
                    }
                    tracing::info!(?stats, "call ended");
                }
                Err(e) => tracing::warn!(error = %e, "media task failed"),
            }
        }
        self.finish_recording().await;
        // The mailbox closed without an end (the endpoint went away).
        let (outcome, end, bye) = self.ended.take().unwrap_or((Outcome::Shutdown, None, None));
        if let Some(end) = end {
            match tokio::time::timeout(END_DURABLE_WAIT, self.shared.records.send_durable(Record::Ended(end))).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    crate::metrics::metrics().store_failures.inc();
                    tracing::error!(error = %e, "call end not stored");
                }
                Err(_) => {
                    crate::metrics::metrics().store_failures.inc();
                    tracing::error!("call end not committed within {END_DURABLE_WAIT:?}; answering anyway");
                }
            }
        }
        if let Some((key, ok)) = bye {
            self.to_endpoint(EndpointCommand::Respond { key, response: ok }).await;
        }
        tracing::info!(outcome = outcome.label(), "call finished");
        crate::metrics::metrics().count_call(outcome.label());
        crate::metrics::metrics().active_calls.dec();
        self.shared.registry.ended(self.core.call_id());
        self.to_endpoint(EndpointCommand::CallEnded { call_id: self.core.call_id().to_string() }).await;
    }
}

/// A webhook URL for logs: scheme, host and path; no credentials, no query
/// (template values such as phone numbers, tokens in parameters).
fn url_for_log(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').filter(|(userinfo, _)| !userinfo.contains('/')).map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => without_query.to_string(),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Starts an outbound call's task (used by [`outbound::Dialer`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_outbound(
    shared: Arc<Shared>,
    endpoint: mpsc::Sender<EndpointCommand>,
    invite: rsip::Request,
    sip_flow: SipFlow,
    local_addr: std::net::SocketAddr,
    spec: core::OutboundSpec,
    flow_path: String,
    status_callback: Option<dialogs::StatusCallback>,
) {
    let (tx, rx) = mpsc::channel(64);
    let call_id = crate::sip::headers::call_id(&invite.headers).unwrap_or_default().to_string();
    let caller = spec.trunk.from_user.clone().unwrap_or_else(|| "centralita".into());
    let refer = shared.config.refer_allowed(sip_flow.remote().ip());
    let id = shared.identity(call_id.clone(), caller, spec.number.clone(), flow_path, refer);
    let status = status_callback.map(|cb| StatusHook::new(cb, &id, crate::store::Direction::Outbound, unix_ms()));
    let now = Instant::now();
    let core = CallCore::new_outbound(shared.settings(), id, invite, sip_flow, local_addr, spec, WallClock::new(now, unix_ms()));
    let mut task = CallTask::new(shared, core, endpoint, tx);
    task.status = status;
    crate::metrics::metrics().active_calls.inc();
    let span = tracing::info_span!("call", call_id = %call_id);
    tokio::spawn(task.run_outbound(rx).instrument(span));
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_urls_are_logged_without_secrets() {
        assert_eq!(
            super::url_for_log("https://user:pw@crm.example/api/v1/lookup?phone=%2B54&key=s3cret"),
            "https://crm.example/api/v1/lookup"
        );
        assert_eq!(super::url_for_log("http://127.0.0.1:9000/x#frag"), "http://127.0.0.1:9000/x");
        assert_eq!(super::url_for_log("http://h/a@b/c"), "http://h/a@b/c");
    }
}
