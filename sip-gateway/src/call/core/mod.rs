//! `CallCore`: the sans-IO state machine of one call (DESIGN.md §1, §7),
//! in the style of str0m / quinn-proto. It owns the call's phase, its SIP
//! dialog and negotiated SDP, the `FlowRunner`, the listening state and the
//! transfer in progress; it is fed inputs with a `now` (`handle_*`) and
//! answers with outputs (`poll_output`) and the next timeout
//! (`poll_timeout`). It never reads the clock, touches a socket or spawns
//! a task: the tokio edge in `call/mod.rs` does those and performs the
//! outputs. Run-loop rule: after each input, drain `poll_output` until it
//! returns None, then sleep until `poll_timeout` or the next input.
//!
//! RFC 3261 §13.3 (UAS: offer/answer, ringing, 200, ACK) is in `uas.rs`,
//! §13.2 and §22.2 (UAC: outbound dialling, CANCEL, digest) in `uac.rs`,
//! §12.2 and RFC 3264 §8 (in-dialog requests, hold, INFO DTMF, BYE) in
//! `in_dialog.rs`, RFC 3515 (REFER) in `transfer.rs`, flow actions and
//! media events in `flow.rs`, speech input in `listen.rs`, the warm
//! transfer's agent leg (B2BUA) in `warm.rs` and its `release: refer`
//! (RFC 5589 §7, RFC 3891 Replaces) in `release.rs`.

mod flow;
mod in_dialog;
mod listen;
mod record;
mod release;
mod transfer;
mod uac;
mod uas;
mod warm;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dialogs::FlowRunner;
use media::leg::MediaCommand;
use media::rtp_session::{Direction, RtpConfig};
use rsip::{Request, Response};

use crate::registry::CallInfo;
use crate::sip::dialog::Dialog;
use crate::sip::sdp::Negotiated;
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;
use crate::store::{CallEnd, Record};

pub(crate) use flow::{RenderJob, RenderMsg};
use listen::Listening;
pub(crate) use record::stored_outcome;
use record::CallRecorder;
use transfer::Transfer;
pub(crate) use uac::OutboundSpec;

/// What a call needs of the configuration, copied once per call so the
/// core holds no reference into shared state.
#[derive(Debug, Clone)]
pub(crate) struct CallSettings {
    /// Ring (180) this long before answering an inbound call.
    pub(crate) answer_delay: Duration,
    /// Outbound: ringing before CANCEL.
    pub(crate) ring_timeout: Duration,
    /// Blind transfer: wait this long for the final NOTIFY.
    pub(crate) notify_timeout: Duration,
    /// Address in our SDP.
    pub(crate) media_ip: IpAddr,
    pub(crate) inactivity_timeout: Duration,
    pub(crate) end_of_speech: Duration,
    /// VoiceXML completetimeout in ms; 0 = off.
    pub(crate) complete_timeout_ms: u64,
    /// The recogniser's final must come this soon after the end of speech.
    pub(crate) final_timeout: Duration,
    pub(crate) agent_uri: String,
    /// Digest credentials for agent legs, by the `host:port` of the
    /// `[[trunks]]` `uri` they belong to (`sip::refer::host_port_key`).
    pub(crate) agent_credentials: Vec<(String, String, String)>,
    /// `[flows].pinned_time`: the wall clock the flows see, if pinned.
    pub(crate) pinned_time: Option<SystemTime>,
    /// A recogniser is configured (`[speech].asr` not `none`).
    pub(crate) speech: bool,
}

impl CallSettings {
    pub(crate) fn from_config(cfg: &crate::config::Config, speech: bool) -> Self {
        CallSettings {
            answer_delay: Duration::from_millis(cfg.sip.answer_delay_ms),
            ring_timeout: Duration::from_secs(cfg.sip.ring_timeout.max(1)),
            notify_timeout: Duration::from_secs(cfg.transfer.notify_timeout.max(1)),
            media_ip: cfg.sip.public_address.unwrap_or(cfg.rtp.address),
            inactivity_timeout: cfg.rtp_inactivity(),
            end_of_speech: Duration::from_millis(cfg.speech.end_of_speech_ms),
            complete_timeout_ms: cfg.speech.complete_timeout_ms,
            final_timeout: Duration::from_millis(cfg.speech.final_timeout_ms.max(1)),
            agent_uri: cfg.transfer.agent_uri.clone(),
            agent_credentials: cfg
                .trunks
                .iter()
                .filter_map(|t| {
                    let key = crate::sip::refer::host_port_key(t.uri.as_deref()?)?;
                    Some((key, t.username.clone()?, t.password.clone()?))
                })
                .collect(),
            pinned_time: cfg.flows.pinned_time.as_deref().and_then(|t| dialogs::parse_timestamp(t).ok()),
            speech,
        }
    }
}

/// Who and what a call is, resolved by the edge before the core starts.
#[derive(Debug, Clone)]
pub(crate) struct CallIdentity {
    pub(crate) call_id: String,
    /// The caller in E.164 where it normalises (`[numbers]`): what the
    /// records, consents and the live view say.
    pub(crate) caller: String,
    /// The caller as the INVITE's From said it: the flow's `{{caller}}`
    /// (CRM look-ups, prompts) sees what the trunk sent.
    pub(crate) caller_as_sent: String,
    pub(crate) called: String,
    /// The flow's `flow:` name (the store's, registry's and API's `flow`),
    /// or its file path when nothing is loaded there.
    pub(crate) flow_name: String,
    /// The loaded flow, None when nothing is loaded for the number.
    pub(crate) flow: Option<Arc<dialogs::Flow>>,
    /// Where an agent's desktop reads this call's context
    /// (`Config::context_url`: `[api].public_url`, else `[api].listen`).
    pub(crate) context_url: String,
    /// The caller's trunk takes REFER (`[[trunks]] refer`); false: blind
    /// transfers bridge instead.
    pub(crate) refer: bool,
}

/// The wall clock, derived from the `Instant` the core is fed: the edge
/// reads both clocks once, at the call's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    at: Instant,
    unix_ms: i64,
}

impl WallClock {
    pub(crate) fn new(at: Instant, unix_ms: i64) -> Self {
        WallClock { at, unix_ms }
    }
    pub(crate) fn unix_ms(&self, now: Instant) -> i64 {
        self.unix_ms + now.saturating_duration_since(self.at).as_millis() as i64
    }
    pub(crate) fn system_time(&self, now: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.unix_ms(now).max(0) as u64)
    }
}

/// A flow webhook to perform (the runner's `Action::Webhook`, numbered).
#[derive(Debug)]
pub(crate) struct WebhookRequest {
    /// Only the latest request's result counts.
    pub(crate) seq: u64,
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) method: dialogs::HttpMethod,
    pub(crate) body: std::collections::BTreeMap<String, String>,
    pub(crate) timeout: Duration,
}

/// What the edge must do for the core, in order.
#[allow(clippy::large_enum_variant)] // a handful per call event; moved, never copied
#[derive(Debug)]
pub(crate) enum Output {
    /// Answer a request's server transaction.
    Respond { key: TransactionKey, response: Response },
    /// Send a non-INVITE request in a client transaction.
    SendRequest { request: Request, flow: SipFlow },
    /// Send an INVITE in a client transaction (outbound calls).
    SendInvite { request: Request, flow: SipFlow },
    /// Send a request outside any transaction (the ACK for a 2xx).
    Transmit { request: Request, flow: SipFlow },
    /// Call recording (issue #19): start, pause, resume or stop writing the
    /// call's stereo WAV (the edge creates it on the first `On`/`Paused`).
    Recording(dialogs::RecordState),
    /// Start the call's RTP leg on the socket the edge bound.
    StartMedia { config: RtpConfig, direction: Direction },
    /// Warm transfer: bind an RTP port for the agent leg and report it at
    /// once with `handle_agent_rtp`.
    BindAgentRtp,
    /// Warm transfer to a host name: resolve this `sip:` URI's host (A
    /// record, port 5060 by default) and report with `handle_agent_resolved`.
    ResolveAgent { uri: String },
    /// Start the agent leg's RTP on that port, on the caller leg's shard.
    StartAgentMedia { config: RtpConfig, direction: Direction },
    /// A command for the agent's RTP leg.
    AgentMedia(MediaCommand),
    /// Close the agent's RTP leg.
    CloseAgentMedia,
    /// Bridge the caller's and the agent's RTP legs.
    Bridge,
    /// A second leg's dialog is over: the endpoint forgets its Call-ID.
    LegEnded { call_id: String },
    /// A command for the running RTP leg.
    Media(MediaCommand),
    /// Render prompt `id`; report with `handle_render`.
    Render { id: u64, job: RenderJob },
    /// Start a recogniser stream and attach it to the media leg's speech
    /// tap; report a failure with `handle_recognizer_failed`.
    StartRecognizer { grammar: media::asr::Grammar, language: String },
    /// Forget the recogniser stream (the utterance is over).
    StopRecognizer,
    /// Perform a flow webhook; report with `handle_webhook(seq, …)`.
    Webhook(WebhookRequest),
    /// The far end rings: a 180/183 came for our INVITE (outbound), or we
    /// sent 180 to the caller (inbound, `[sip].answer_delay_ms`). For the
    /// call's status callback (issue #13); at most once per call. `at`:
    /// Unix ms, on the call's clock like the records' times.
    Ringing { code: u16, at: i64 },
    /// A call record for the store writer, in order.
    Record(Record),
    /// The live view of the call changed.
    Publish(CallInfo),
    /// The transfer context for the agent's screen (`/v1/calls/{id}/context`).
    Context(serde_json::Value),
    /// The call is over: close media, commit `end` durably, then answer
    /// the caller's BYE (`bye`), if any. Always the last output.
    Ended { outcome: Outcome, end: Option<CallEnd>, bye: Option<(TransactionKey, Response)> },
}

/// How a call ended (the `outcome` label of `centralita_calls_total`;
/// containment in DESIGN.md §6 is everything but `transferred`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
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
    pub fn label(self) -> &'static str {
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
pub(crate) enum Phase {
    /// Inbound: INVITE received, no final response yet (maybe ringing).
    Inviting,
    /// Outbound: our INVITE is out, no final response yet.
    Dialling,
    /// Inbound: 200 sent, waiting for ACK.
    Answered,
    /// The dialog is confirmed: the flow runs.
    Confirmed,
    Ended,
}

/// The call. Fields are grouped by concern; each `impl` block lives in the
/// module of that concern.
pub(crate) struct CallCore {
    settings: CallSettings,
    id: CallIdentity,
    clock: WallClock,
    received_at: Instant,
    started_unix_ms: i64,
    phase: Phase,
    outcome: Option<Outcome>,
    /// Why the call ended, for the record, when more than the outcome says
    /// (an outbound call's SIP status and reason).
    end_cause: Option<String>,
    ended_reported: bool,

    // SIP
    /// The INVITE: the caller's (inbound) or ours (outbound, rebuilt on a
    /// digest retry).
    invite: Request,
    invite_key: TransactionKey,
    sip_flow: SipFlow,
    local_addr: SocketAddr,
    local_tag: String,
    dialog: Option<Dialog>,
    /// Inbound with a ringing delay: answer at this time.
    answer_at: Option<Instant>,
    /// The caller's BYE, answered once the call's end is committed.
    bye: Option<(TransactionKey, Response)>,
    /// Outbound: dialling state, then the ACK re-sent for each 2xx
    /// retransmission (RFC 3261 §13.2.2.4).
    outbound: Option<uac::Outbound>,

    // SDP and media
    negotiated: Option<Negotiated>,
    sdp_session: u64,
    sdp_version: u64,
    rtp_port: u16,
    /// The edge has a media leg running.
    media_up: bool,

    // Flow
    runner: Option<FlowRunner>,
    prompt_seq: u64,
    current_prompt: Option<u64>,
    first_response_ms: Option<u64>,
    /// When the caller's last turn ended (VAD end of speech or a digit) and
    /// how, until the next prompt's first packet (`turn_seconds`).
    turn_ended: Option<(Instant, &'static str)>,
    node: Option<String>,
    webhook_seq: u64,
    transfer: Option<Transfer>,
    /// A blind transfer's `fallback: bridge`: what to dial if the REFER fails.
    fallback: Option<(String, dialogs::CallContext, dialogs::TransferOptions)>,
    /// The agent leg of a warm transfer.
    agent: Option<warm::AgentLeg>,

    // Speech
    listening: Option<Listening>,
    /// Speech failed once on this call: keys only from now on.
    speech_off: bool,
    /// Said before the flow's next prompt (speech fallback).
    pending_hint: Option<String>,

    /// Call recording (issue #19): the flow's policy, its nodes' `record:`
    /// and the caller's consent decide; None before the flow starts.
    recording: Option<dialogs::RecordingGate>,

    recorder: CallRecorder,
    outputs: VecDeque<Output>,
}

impl CallCore {
    fn new(
        settings: CallSettings,
        id: CallIdentity,
        invite: Request,
        invite_key: TransactionKey,
        sip_flow: SipFlow,
        local_addr: SocketAddr,
        clock: WallClock,
    ) -> Self {
        let now = clock.at;
        let recorder = CallRecorder::new(&id.call_id, &id.caller);
        CallCore {
            settings,
            clock,
            received_at: now,
            started_unix_ms: clock.unix_ms(now),
            phase: Phase::Inviting,
            outcome: None,
            end_cause: None,
            ended_reported: false,
            invite,
            invite_key,
            sip_flow,
            local_addr,
            local_tag: crate::sip::headers::new_tag(),
            dialog: None,
            answer_at: None,
            bye: None,
            outbound: None,
            negotiated: None,
            sdp_session: rand::random::<u32>() as u64,
            sdp_version: 1,
            rtp_port: 0,
            media_up: false,
            runner: None,
            prompt_seq: 0,
            current_prompt: None,
            first_response_ms: None,
            turn_ended: None,
            node: None,
            webhook_seq: 0,
            transfer: None,
            fallback: None,
            agent: None,
            listening: None,
            speech_off: false,
            pending_hint: None,
            recording: None,
            recorder,
            outputs: VecDeque::new(),
            id,
        }
    }

    pub(crate) fn call_id(&self) -> &str {
        &self.id.call_id
    }

    /// Whether the call was recorded and why not (None: no flow ran).
    pub(crate) fn recording_verdict(&self) -> Option<dialogs::RecordingVerdict> {
        self.recording.as_ref().map(dialogs::RecordingGate::verdict)
    }

    /// The next thing the edge must do, in order.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When `handle_timeout` is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Ended {
            return None;
        }
        [
            self.answer_at,
            self.outbound.as_ref().and_then(|o| o.poll_timeout()),
            self.runner.as_ref().and_then(|r| r.poll_timeout()),
            self.transfer.as_ref().and_then(|t| t.poll_timeout()),
            self.agent.as_ref().and_then(|a| a.poll_timeout()),
            self.listening.as_ref().and_then(|l| l.final_deadline(self.settings.final_timeout)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Timers: the ringing delay, the outbound ring timeout, the flow's
    /// timers and the transfer's.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.answer_at.is_some_and(|at| at <= now) {
            self.answer_at = None;
            self.answer(now);
        }
        if self.outbound.as_ref().and_then(|o| o.poll_timeout()).is_some_and(|at| at <= now) {
            self.dialling_timeout(now);
        }
        if self.transfer.as_ref().and_then(|t| t.poll_timeout()).is_some_and(|at| at <= now) {
            self.transfer_timeout(now);
        }
        self.agent_timeout(now);
        self.listening_timeout(now);
        if let Some(r) = self.runner.as_mut() {
            r.handle_timeout(now);
        }
        self.settle(now);
    }

    /// Queues an output after the records queued before it, so the
    /// writer sees records in the order the call made them.
    fn out(&mut self, o: Output) {
        while let Some(r) = self.recorder.poll_record() {
            self.outputs.push_back(Output::Record(r));
        }
        self.outputs.push_back(o);
    }

    fn media(&mut self, c: MediaCommand) {
        if self.media_up {
            self.out(Output::Media(c));
        }
    }

    /// After every input: perform the runner's actions, listen or stop
    /// listening as the flow now wants, and report the end once.
    fn settle(&mut self, now: Instant) {
        self.drain_actions(now);
        self.update_listening();
        self.drain_actions(now);
        while let Some(r) = self.recorder.poll_record() {
            self.out(Output::Record(r));
        }
        if self.phase == Phase::Ended && !self.ended_reported {
            self.ended_reported = true;
            self.warm_call_ending();
            let outcome = self.outcome.unwrap_or(Outcome::Completed);
            let end = self.recorder.ended(outcome, self.end_cause.as_deref(), self.clock.unix_ms(now));
            let bye = self.bye.take();
            self.publish();
            self.out(Output::Ended { outcome, end, bye });
        }
    }

    fn publish(&mut self) {
        let state = match self.phase {
            Phase::Inviting | Phase::Dialling => "ringing",
            Phase::Answered => "answered",
            Phase::Confirmed if self.warm_phase_label().is_some() => self.warm_phase_label().unwrap_or_default(),
            Phase::Confirmed if self.transfer.is_some() => "transferring",
            Phase::Confirmed => "in-flow",
            Phase::Ended => "ended",
        };
        let info = CallInfo {
            call_id: self.id.call_id.clone(),
            caller: self.id.caller.clone(),
            called: self.id.called.clone(),
            flow: self.id.flow_name.clone(),
            state: state.into(),
            node: self.node.clone(),
            started_unix_ms: self.started_unix_ms.max(0) as u64,
            first_response_ms: self.first_response_ms,
        };
        self.out(Output::Publish(info));
    }

    /// Ends the call with `outcome` (the first outcome set wins); sends
    /// BYE when the dialog is up.
    fn hang_up(&mut self, outcome: Outcome, why: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.outcome.get_or_insert(outcome);
        tracing::info!(reason = why, "hanging up");
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.request(rsip::Method::Bye);
            self.send_request(bye);
        }
        self.phase = Phase::Ended;
    }

    /// The language of the call's prompts: the flow's `language` variable,
    /// else the flow's language.
    fn language(&self) -> String {
        self.runner
            .as_ref()
            .and_then(|r| r.variables().get("language").cloned())
            .or_else(|| self.id.flow.as_ref().map(|f| f.language.clone()))
            .unwrap_or_else(|| "en-US".into())
    }

    fn send_request(&mut self, request: Request) {
        let flow = self.request_flow();
        self.out(Output::SendRequest { request, flow });
    }

    /// Where in-dialog requests go: the first route, else the remote
    /// target; behind NAT the address the INVITE came from.
    fn request_flow(&self) -> SipFlow {
        let d = self.dialog.as_ref();
        let target = d.and_then(|d| d.route_set.first().cloned().or_else(|| Some(d.remote_target.clone())));
        let addr = target.as_deref().and_then(uri_socket_addr);
        match self.sip_flow {
            SipFlow::Udp { listener, remote } => SipFlow::Udp { listener, remote: addr.unwrap_or(remote) },
            tcp => tcp,
        }
    }
}

/// host:port of a SIP URI (in <> or bare) when the host is an IP literal.
fn uri_socket_addr(uri: &str) -> Option<SocketAddr> {
    let u = uri.trim().trim_start_matches('<');
    let u = u.split('>').next()?;
    let rest = u.split_once(':')?.1;
    let hostport = rest.rsplit('@').next()?.split(';').next()?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()?),
        _ => (hostport, 5060),
    };
    Some(SocketAddr::new(host.trim_matches(['[', ']']).parse().ok()?, port))
}

/// The user part of a From/To value.
pub(crate) fn user_of(v: &str) -> String {
    let uri = v.split('<').nth(1).and_then(|s| s.split('>').next()).unwrap_or(v);
    let uri = uri.split(';').next().unwrap_or(uri);
    let after = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    after.split('@').next().unwrap_or(after).to_string()
}

#[cfg(test)]
mod unit {
    #[test]
    fn uri_addresses() {
        assert_eq!(super::uri_socket_addr("<sip:a@127.0.0.1:5061;transport=udp>"), Some("127.0.0.1:5061".parse().unwrap()));
        assert_eq!(super::uri_socket_addr("sip:127.0.0.1"), Some("127.0.0.1:5060".parse().unwrap()));
        assert_eq!(super::uri_socket_addr("<sip:p1.example.com;lr>"), None);
    }
}
