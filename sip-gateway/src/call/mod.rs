//! The per-call task (DESIGN.md §1): one tokio task owns a call's dialog,
//! its media leg, its FlowRunner and its transfer state; everything else
//! reaches it through its mailbox. SIP signalling is handled in
//! `signalling.rs`, flow actions and media events in `flow.rs`.
//!
//! Answering (RFC 3261 §13.3.1): SDP offer/answer first (488 + Warning 305
//! when nothing in common, RFC 3261 §20.43), optional ringing delay (so a
//! trunk can CANCEL, §9.2 → 487), then 200 with our answer (or our offer
//! for a late-offer INVITE, whose answer comes in the ACK). The flow starts
//! at the ACK.

mod flow;
mod listen;
pub mod outbound;
mod record;
mod signalling;

use std::sync::Arc;
use std::time::Duration;

use dialogs::FlowRunner;
use media::leg::{MediaCommand, MediaLeg};
use rsip::{Request, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::Config;
use crate::sip::dialog::Dialog;
use crate::sip::endpoint::{CallSignal, CallSpawner, EndpointCommand, IncomingCall};
use crate::registry::{CallInfo, Registry};
use crate::sip::sdp::Negotiated;
use crate::speech::Prompter;
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;

pub use crate::flows::FlowStore;

/// What every call shares (read-only after start-up).
pub struct Shared {
    pub config: Config,
    pub flows: Arc<FlowStore>,
    pub prompter: Prompter,
    pub registry: Registry,
    pub webhooks: crate::webhook::WebhookClient,
    /// The media threads every call's RTP leg runs on.
    pub media: media::MediaEngine,
    /// `[speech].asr`; None: gathers take keys only.
    pub recognizer: Option<Arc<dyn media::asr::Recognizer>>,
    /// Call records go here (DESIGN §6, issue #6).
    pub records: crate::store::StoreWriter,
}

pub struct Spawner(pub Arc<Shared>);

impl CallSpawner for Spawner {
    fn spawn_call(&self, incoming: IncomingCall) -> mpsc::Sender<CallSignal> {
        let (tx, rx) = mpsc::channel(64);
        let call_id = crate::sip::headers::call_id(&incoming.invite.headers).unwrap_or_default().to_string();
        let span = tracing::info_span!("call", call_id = %call_id);
        let call = Call::new(self.0.clone(), incoming, call_id, tx.clone());
        crate::metrics::metrics().active_calls.inc();
        tokio::spawn(call.run(rx).instrument(span));
        tx
    }
}

/// A rendered prompt (or None when rendering failed) for prompt `id`.
/// Prompt audio from a render task: (prompt id, what arrived).
type Rendered = (u64, flow::RenderMsg);

/// A webhook's outcome for request `seq`.
type WebhookDone = (u64, dialogs::FlowEvent);

/// Transfer in progress (RFC 3515): REFER sent, waiting for 202 and the
/// final NOTIFY.
#[derive(Debug)]
struct PendingRefer {
    cseq: u32,
    deadline: Instant,
}

/// How a call ended (the `outcome` label of `centralita_calls_total`;
/// containment in DESIGN.md §6 is everything but `transferred`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The flow hung up.
    Completed,
    Transferred,
    CallerHangup,
    Rejected,
    Cancelled,
    RtpTimeout,
    NoAck,
    Failed,
    /// Hung up by a gateway shutdown.
    Shutdown,
    /// Outbound: nobody answered (ring timeout, 408, 480, 487, Timer B).
    NoAnswer,
    /// Outbound: the callee was busy (486, 600).
    Busy,
}

impl Outcome {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Transferred => "transferred",
            Outcome::CallerHangup => "caller_hangup",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
            Outcome::RtpTimeout => "rtp_timeout",
            Outcome::NoAck => "no_ack",
            Outcome::Failed => "failed",
            Outcome::Shutdown => "shutdown",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// INVITE received, no final response yet.
    Inviting,
    /// 200 sent, waiting for ACK.
    Answered,
    /// ACK received: the flow runs.
    Confirmed,
    Ended,
}

pub(crate) struct Call {
    shared: Arc<Shared>,
    invite: Request,
    invite_key: TransactionKey,
    sip_flow: SipFlow,
    local_addr: std::net::SocketAddr,
    endpoint: mpsc::Sender<EndpointCommand>,
    me: mpsc::Sender<CallSignal>,
    call_id: String,
    caller: String,
    called: String,
    flow_name: String,
    received_at: Instant,
    started_unix_ms: u64,
    phase: Phase,
    local_tag: String,
    dialog: Option<Dialog>,
    negotiated: Option<Negotiated>,
    sdp_session: u64,
    sdp_version: u64,
    rtp_socket: Option<std::net::UdpSocket>,
    rtp_port: u16,
    media: Option<MediaLeg>,
    runner: Option<FlowRunner>,
    prompt_seq: u64,
    current_prompt: Option<u64>,
    first_response_ms: Option<u64>,
    /// When the caller's last turn ended (VAD end of speech or a digit) and
    /// how, until the next prompt's first packet (`turn_seconds`).
    turn_ended: Option<(std::time::Instant, &'static str)>,
    node: Option<String>,
    refer: Option<PendingRefer>,
    outcome: Option<Outcome>,
    render_tx: mpsc::Sender<Rendered>,
    render_rx: mpsc::Receiver<Rendered>,
    webhook_seq: u64,
    webhook_tx: mpsc::Sender<WebhookDone>,
    webhook_rx: mpsc::Receiver<WebhookDone>,
    recorder: record::CallRecorder,
    /// The caller's BYE, answered once the call's end is committed.
    bye: Option<(TransactionKey, rsip::Response)>,
    /// Outbound calls: the ACK for the callee's 2xx, re-sent for each 2xx
    /// retransmission (RFC 3261 §13.2.2.4).
    outbound_ack: Option<Request>,
    /// Set for calls the gateway placed (`POST /v1/calls`).
    outbound: Option<outbound::Outbound>,
    /// The utterance being recognised, if any.
    listening: Option<listen::Listening>,
    /// Speech failed once on this call: keys only from now on.
    speech_off: bool,
    /// Said before the flow's next prompt (speech fallback).
    pending_hint: Option<String>,
}

fn user_of(v: &str) -> String {
    let uri = v.split('<').nth(1).and_then(|s| s.split('>').next()).unwrap_or(v);
    let uri = uri.split(';').next().unwrap_or(uri);
    let after = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    after.split('@').next().unwrap_or(after).to_string()
}

impl Call {
    fn new(shared: Arc<Shared>, inc: IncomingCall, call_id: String, me: mpsc::Sender<CallSignal>) -> Self {
        let (render_tx, render_rx) = mpsc::channel(8);
        let (webhook_tx, webhook_rx) = mpsc::channel(4);
        use rsip::headers::UntypedHeader;
        let caller = inc
            .invite
            .headers
            .iter()
            .find_map(|h| if let rsip::Header::From(f) = h { Some(user_of(f.value())) } else { None })
            .unwrap_or_default();
        let called = inc.invite.uri.user().unwrap_or_default().to_string();
        let flow_name = shared.config.flow_for(&called).display().to_string();
        let recorder = record::CallRecorder::new(shared.records.clone(), &call_id, &caller);
        Self {
            recorder,
            bye: None,
            outbound_ack: None,
            outbound: None,
            listening: None,
            speech_off: false,
            pending_hint: None,
            invite: inc.invite,
            invite_key: inc.key,
            sip_flow: inc.flow,
            local_addr: inc.local_addr,
            endpoint: inc.endpoint,
            me,
            call_id,
            caller,
            called,
            flow_name,
            received_at: Instant::now(),
            started_unix_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            phase: Phase::Inviting,
            local_tag: crate::sip::headers::new_tag(),
            dialog: None,
            negotiated: None,
            sdp_session: rand::random::<u32>() as u64,
            sdp_version: 1,
            rtp_socket: None,
            rtp_port: 0,
            media: None,
            runner: None,
            prompt_seq: 0,
            current_prompt: None,
            first_response_ms: None,
            turn_ended: None,
            node: None,
            refer: None,
            outcome: None,
            render_tx,
            render_rx,
            webhook_seq: 0,
            webhook_tx,
            webhook_rx,
            shared,
        }
    }

    fn publish(&self) {
        let state = match self.phase {
            Phase::Inviting => "ringing",
            Phase::Answered => "answered",
            Phase::Confirmed if self.refer.is_some() => "transferring",
            Phase::Confirmed => "in-flow",
            Phase::Ended => "ended",
        };
        self.shared.registry.upsert(CallInfo {
            call_id: self.call_id.clone(),
            caller: self.caller.clone(),
            called: self.called.clone(),
            flow: self.flow_name.clone(),
            state: state.into(),
            node: self.node.clone(),
            started_unix_ms: self.started_unix_ms,
            first_response_ms: self.first_response_ms,
        });
    }

    async fn run(mut self, mut rx: mpsc::Receiver<CallSignal>) {
        self.publish();
        if let Err(status) = self.prepare().await {
            self.reject(status);
            self.finish().await;
            return;
        }
        let delay = Duration::from_millis(self.shared.config.sip.answer_delay_ms);
        if !delay.is_zero() && !self.ring(delay, &mut rx).await {
            self.finish().await;
            return;
        }
        self.answer();
        self.dialog_loop(&mut rx).await;
        self.finish().await;
    }

    /// The call once answered (either direction): signals, media events,
    /// rendered prompts, webhook results and timers, until it ends.
    async fn dialog_loop(&mut self, rx: &mut mpsc::Receiver<CallSignal>) {
        while self.phase != Phase::Ended {
            let deadline = self.next_deadline();
            let media_events = async {
                match self.media.as_mut() {
                    Some(m) => m.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let asr_events = async {
                match self.listening.as_mut().and_then(|l| l.events.as_mut()) {
                    Some(events) => events.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = asr_events => self.handle_asr(ev),
                s = rx.recv() => match s {
                    Some(s) => self.handle_signal(s).await,
                    None => break,
                },
                ev = media_events => match ev {
                    Some(ev) => self.handle_media(ev),
                    None => { self.media = None; self.hang_up(Outcome::Failed, "media task ended"); }
                },
                Some((id, msg)) = self.render_rx.recv() => self.handle_render(id, msg),
                Some((seq, ev)) = self.webhook_rx.recv() => {
                    // Only the latest request counts; the runner already gave
                    // up on older ones (their timeout).
                    if seq == self.webhook_seq {
                        self.flow_event(ev);
                    }
                }
                _ = sleep_until_opt(deadline) => self.handle_timeout(),
            }
            self.drain_actions().await;
            self.update_listening();
            self.drain_actions().await;
            self.recorder.flush().await;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let runner = self.runner.as_ref().and_then(|r| r.poll_timeout()).map(Instant::from_std);
        let refer = self.refer.as_ref().map(|r| r.deadline);
        match (runner, refer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn respond(&self, key: TransactionKey, response: rsip::Response) {
        let _ = self.endpoint.try_send(EndpointCommand::Respond { key, response });
    }

    fn reject(&mut self, status: StatusCode) {
        tracing::info!(status = %status, "call rejected");
        let cancelled = status.code() == 487;
        self.outcome.get_or_insert(if cancelled { Outcome::Cancelled } else { Outcome::Rejected });
        let mut resp = crate::sip::headers::make_response(&self.invite, status, Some(&self.local_tag));
        crate::sip::headers::add_media_warning(&mut resp);
        self.respond(self.invite_key.clone(), resp);
        self.phase = Phase::Ended;
    }

    /// Rings for `delay`, or until CANCEL (→ 487). False when cancelled.
    async fn ring(&mut self, delay: Duration, rx: &mut mpsc::Receiver<CallSignal>) -> bool {
        let ringing = crate::sip::headers::make_response(&self.invite, StatusCode::Ringing, Some(&self.local_tag));
        self.respond(self.invite_key.clone(), ringing);
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                s = rx.recv() => match s {
                    Some(CallSignal::Cancelled) | None => {
                        self.reject(StatusCode::RequestTerminated);
                        return false;
                    }
                    Some(CallSignal::Shutdown) => {
                        self.reject(crate::sip::headers::status_with_reason(503, "Service Unavailable (shutting down)"));
                        return false;
                    }
                    Some(other) => tracing::debug!(?other, "signal while ringing ignored"),
                }
            }
        }
    }

    async fn finish(&mut self) {
        self.phase = Phase::Ended;
        if let Some(m) = self.media.take() {
            let _ = m.commands.send(MediaCommand::Close);
            match m.finished.await {
                Ok(stats) => {
                    let mx = crate::metrics::metrics();
                    mx.rtp_packets_sent.inc_by(stats.packets_sent);
                    mx.rtp_packets_received.inc_by(stats.packets_received);
                    mx.rtp_packets_lost.inc_by(stats.lost);
                    mx.prompt_underruns.inc_by(stats.playback_underruns);
                    if stats.packets_received > 1 {
                        mx.rtp_jitter_seconds.observe(f64::from(stats.jitter_us) / 1e6);
                    }
                    tracing::info!(?stats, "call ended");
                }
                Err(e) => tracing::warn!(error = %e, "media task failed"),
            }
        }
        let outcome = self.outcome.unwrap_or(Outcome::Completed);
        self.recorder.ended(outcome).await;
        if let Some((key, ok)) = self.bye.take() {
            self.respond(key, ok);
        }
        tracing::info!(outcome = outcome.label(), "call finished");
        crate::metrics::metrics().count_call(outcome.label());
        crate::metrics::metrics().active_calls.dec();
        self.shared.registry.ended(&self.call_id);
        let _ = self.endpoint.send(EndpointCommand::CallEnded { call_id: self.call_id.clone() }).await;
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
