//! Warm transfer (issue #12, DESIGN.md §5, §8): the gateway as a B2BUA.
//! The caller hears hold music while a second leg dials the agent as UAC
//! (RFC 3261 §13.2: INVITE with our offer and the context as
//! `User-to-User` per RFC 7433, `X-Centralita-*` and `Call-Info:
//! <context URL>;purpose=info` per §20.9, so a desktop pops the context
//! before answering; CANCEL at the node's `timeout`, §9.1). On answer the
//! agent alone hears the whisper; a key accepts (`1`) or declines (`2`),
//! or `accept: auto` accepts once it has played. Accepted, the two RTP legs
//! are bridged in the media shard (`MediaCommand::Bridge`) and the flow is
//! over; a BYE from either side then ends both legs (§15). No answer,
//! busy, decline or failure gives the flow `no_answer` / `busy` /
//! `declined` (when mapped) or `failed`, and the caller is back in the
//! flow — never left in silence.
//!
//! [`AgentLeg`] keeps the second leg's SIP and media state; the `CallCore`
//! methods below drive it from the caller's call task.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dialogs::{AcceptMode, CallContext, FlowEvent, TransferFailure, TransferOptions};
use media::leg::MediaCommand;
use media::rtp_session::MediaEvent;
use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request, StatusCode};

use super::uac::{authorized_invite, cancel_for};
use super::{CallCore, Outcome, Output, RenderJob};
use crate::metrics::metrics;
use crate::sip::dialog::Dialog;
use crate::sip::headers::{self, make_response, status_with_reason};
use crate::sip::refer::{parse_sip_uri, user_to_user, SipUri};
use crate::sip::sdp::{self, Negotiated};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;
use crate::store::TransferMode;

/// How long the agent has to press a key once the whisper has played.
const ACCEPT_WAIT: Duration = Duration::from_secs(15);
/// How long to wait for the 487 after our CANCEL.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Where the agent leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentState {
    /// Waiting for the RTP port, then the INVITE is out.
    Dialling,
    /// CANCEL sent; the failure it will report.
    Cancelling(TransferFailure),
    /// Answered: the whisper plays to the agent.
    Whispering,
    /// The whisper has played: waiting for the agent's key.
    AwaitingKey,
    /// Caller and agent talk.
    Bridged,
}

/// The second leg of a warm transfer.
pub(crate) struct AgentLeg {
    pub(super) call_id: String,
    target: SipUri,
    invite: Option<Request>,
    flow: SipFlow,
    dialog: Option<Dialog>,
    negotiated: Option<Negotiated>,
    rtp_port: u16,
    sdp_session: u64,
    sdp_version: u64,
    ack: Option<Request>,
    pub(super) state: AgentState,
    deadline: Option<Instant>,
    options: TransferOptions,
    context: CallContext,
    tried_at: Instant,
    /// When the agent's phone answered.
    answered_at: Option<Instant>,
    whisper_id: Option<u64>,
    /// The caller's hold prompt while it plays.
    pub(super) hold_id: Option<u64>,
    pub(super) media_up: bool,
    /// The INVITE has answered a digest challenge once (§22.2).
    authenticated: bool,
    /// The agent's BYE came while the caller's side was replacing our leg
    /// (`release: refer`): only the NOTIFY is awaited.
    pub(super) left: bool,
}

/// The context for the agent's screen (`/v1/calls/{id}/context`), with how
/// the call reaches them: `transfer.mode` and, warm, the whisper they hear.
pub(super) fn context_json(context: &CallContext, mode: &str, whisper: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::to_value(context).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        let mut transfer = serde_json::json!({ "mode": mode });
        if let Some(w) = whisper.filter(|w| !w.trim().is_empty()) {
            transfer["whisper"] = w.into();
        }
        obj.insert("transfer".into(), transfer);
    }
    v
}

impl AgentLeg {
    /// The agent's ringing time, once answered (ms).
    fn ring_ms(&self) -> Option<i64> {
        self.answered_at.map(|t| t.saturating_duration_since(self.tried_at).as_millis() as i64)
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The agent leg's dialog, once answered.
    pub(super) fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    pub(super) fn is_bridged(&self) -> bool {
        self.state == AgentState::Bridged
    }

    /// Is this signal's Call-ID the agent leg's?
    pub(super) fn owns(&self, call_id: Option<&str>) -> bool {
        call_id == Some(self.call_id.as_str())
    }
}

impl CallCore {
    /// The flow asked for a warm transfer (or a blind one fell back to a
    /// bridge): hold music for the caller, an RTP port for the agent leg.
    pub(super) fn start_warm(&mut self, to: &str, context: CallContext, options: TransferOptions, now: Instant) {
        let target = match parse_sip_uri(to) {
            Ok(t) => t,
            Err(e) => return self.warm_failed(None, format!("bad transfer target: {e}"), now),
        };
        // An IP host is dialled at once; a name is resolved by the edge
        // first (`Output::ResolveAgent` → `handle_agent_resolved`).
        let remote = super::uri_socket_addr(&target.to_string());
        let unresolved = SocketAddr::from(([0, 0, 0, 0], 0));
        let flow = match self.sip_flow {
            SipFlow::Udp { listener, .. } => SipFlow::Udp { listener, remote: remote.unwrap_or(unresolved) },
            SipFlow::Tcp { .. } => SipFlow::Udp { listener: 0, remote: remote.unwrap_or(unresolved) },
        };
        self.recorder.transfer_tried(to, TransferMode::Warm, self.clock.unix_ms(now));
        self.out(Output::Context(context_json(&context, "warm", Some(&options.whisper))));
        metrics().count_transfer("tried");
        let call_id = format!("{:016x}@{}", rand::random::<u64>(), self.local_addr.ip());
        self.agent = Some(AgentLeg {
            call_id,
            target,
            invite: None,
            flow,
            dialog: None,
            negotiated: None,
            rtp_port: 0,
            sdp_session: rand::random::<u32>() as u64,
            sdp_version: 1,
            ack: None,
            state: AgentState::Dialling,
            deadline: None,
            options,
            context,
            tried_at: now,
            answered_at: None,
            whisper_id: None,
            hold_id: None,
            media_up: false,
            authenticated: false,
            left: false,
        });
        self.play_hold();
        self.publish();
        match remote {
            Some(_) => self.out(Output::BindAgentRtp),
            None => self.out(Output::ResolveAgent { uri: to.trim().trim_start_matches('<').trim_end_matches('>').to_string() }),
        }
    }

    /// The edge resolved the agent's host name (or could not): dial, or
    /// `failed` with why.
    pub(crate) fn handle_agent_resolved(&mut self, result: Result<SocketAddr, String>, now: Instant) {
        let Some(a) = self.agent.as_mut().filter(|a| a.state == AgentState::Dialling && a.invite.is_none() && a.rtp_port == 0) else {
            return;
        };
        match result {
            Ok(remote) => {
                if let SipFlow::Udp { remote: r, .. } = &mut a.flow {
                    *r = remote;
                }
                tracing::debug!(agent = %a.target, %remote, "agent host resolved");
                self.out(Output::BindAgentRtp);
            }
            Err(e) => {
                let target = a.target.to_string();
                self.warm_failed(None, format!("cannot resolve the agent's host ({target}): {e}"), now);
            }
        }
        self.settle(now);
    }

    /// The caller's hold prompt (again), while the agent is being reached.
    fn play_hold(&mut self) {
        let Some(a) = self.agent.as_ref().filter(|a| !a.is_bridged()) else { return };
        let job = match &a.options.hold {
            Some(text) if !text.trim().is_empty() => RenderJob::Say(text.clone(), self.language()),
            _ => RenderJob::HoldMusic,
        };
        self.prompt_seq += 1;
        let id = self.prompt_seq;
        if let Some(a) = self.agent.as_mut() {
            a.hold_id = Some(id);
        }
        self.out(Output::Render { id, job });
    }

    /// The edge bound (or could not bind) the agent leg's RTP port: the
    /// INVITE goes out.
    pub(crate) fn handle_agent_rtp(&mut self, port: Option<u16>, now: Instant) {
        let Some(port) = port else {
            return self.warm_failed(None, "no RTP port for the agent leg".into(), now);
        };
        let (local, caller, called) = (self.local_addr, self.id.caller.clone(), self.id.called.clone());
        let ctx_url = self.id.context_url.clone();
        let (call_id, media_ip) = (self.id.call_id.clone(), self.settings.media_ip);
        let Some(a) = self.agent.as_mut() else { return };
        a.rtp_port = port;
        let intent = a.context.intents.last().map(|i| i.intent.clone()).unwrap_or_default();
        let uui = format!("call={call_id};intent={intent}");
        // `caller_id`: the caller's number (default), the number they
        // called (`gateway`), or what the flow says.
        // A rendered template keeps only what a From user part may hold.
        let own: String = match a.options.caller_id.as_deref().map(str::trim) {
            Some("gateway") => called,
            Some("caller") | None => String::new(),
            Some(v) => v.chars().filter(|c| c.is_ascii_alphanumeric() || "+-_.*#".contains(*c)).collect(),
        };
        let from_user = match (own.is_empty(), caller.is_empty()) {
            (false, _) => own,
            (true, false) => caller,
            (true, true) => "centralita".to_string(),
        };
        let mut invite = match crate::call::outbound::build_invite(&a.target.to_string(), &from_user, local, &a.call_id, 1) {
            Ok(r) => r,
            Err(e) => return self.warm_failed(None, e.to_string(), now),
        };
        for (name, value) in [
            ("User-to-User", user_to_user(uui.as_bytes(), "centralita")),
            ("X-Centralita-Call-Id", call_id.clone()),
            ("X-Centralita-Intent", intent),
            ("X-Centralita-Context-Url", ctx_url.clone()),
            ("Call-Info", format!("<{ctx_url}>;purpose=info")),
        ] {
            invite.headers.push(Header::Other(name.into(), value));
        }
        invite.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        invite.body = sdp::offer(media_ip, port, a.sdp_session, a.sdp_version).into_bytes();
        a.deadline = Some(now + a.options.timeout);
        a.invite = Some(invite.clone());
        let flow = a.flow;
        tracing::info!(agent = %a.target, "warm transfer: calling the agent");
        self.out(Output::SendInvite { request: invite, flow });
    }

    /// A SIP signal of the agent leg (its Call-ID).
    pub(super) fn agent_signal(&mut self, signal: crate::sip::endpoint::CallSignal, now: Instant) {
        use crate::sip::endpoint::CallSignal;
        match signal {
            CallSignal::Response(resp) => self.agent_response(resp, now),
            CallSignal::Request { request, key } => self.agent_request(request, key, now),
            CallSignal::RequestTimeout { method: Method::Invite, .. } => {
                self.agent_not_taken(TransferFailure::NoAnswer, "no response from the agent".into(), now)
            }
            _ => {}
        }
    }

    fn agent_response(&mut self, resp: rsip::Response, now: Instant) {
        let Some((_, method)) = headers::cseq(&resp.headers) else { return };
        if method != Method::Invite {
            return; // BYE/CANCEL answers: nothing to do
        }
        let code = resp.status_code.code();
        if matches!(code, 401 | 407) && self.agent_retry_with_credentials(&resp, code) {
            return;
        }
        let Some(a) = self.agent.as_mut() else { return };
        if code >= 300 {
            a.invite = None; // the INVITE is over: nothing to CANCEL
        }
        match (code, a.state) {
            (100..=199, _) => tracing::debug!(code, "agent leg progress"),
            (200..=299, AgentState::Dialling | AgentState::Cancelling(_)) => self.agent_answered(&resp, now),
            // The 2xx again: our ACK was lost (§13.2.2.4).
            (200..=299, _) => {
                if let Some(ack) = a.ack.clone() {
                    let flow = a.flow;
                    self.out(Output::Transmit { request: ack, flow });
                }
            }
            (_, AgentState::Cancelling(failure)) => self.agent_not_taken(failure, format!("agent leg ended with {code}"), now),
            (486 | 600, _) => self.agent_not_taken(TransferFailure::Busy, format!("agent busy ({code})"), now),
            (408 | 480 | 487, _) => self.agent_not_taken(TransferFailure::NoAnswer, format!("agent did not answer ({code})"), now),
            (603, _) => self.agent_not_taken(TransferFailure::Declined, "agent declined (603)".into(), now),
            _ => self.warm_failed(Some(code), format!("agent leg failed with {code}"), now),
        }
    }

    /// The agent's PBX challenged the INVITE: one retry with the
    /// credentials of the `[[trunks]]` entry whose `uri` is the agent's
    /// host and port (§22.2). False: none, or already tried.
    fn agent_retry_with_credentials(&mut self, challenge: &rsip::Response, code: u16) -> bool {
        let local = self.local_addr;
        let Some(a) = self.agent.as_mut().filter(|a| a.state == AgentState::Dialling && !a.authenticated) else { return false };
        let key = crate::sip::refer::host_port_key(&a.target.to_string());
        let Some((_, user, pass)) = self.settings.agent_credentials.iter().find(|(k, _, _)| Some(k) == key.as_ref()) else {
            tracing::warn!(code, agent = %a.target, "the agent's PBX challenged the INVITE; no [[trunks]] uri with credentials matches it");
            return false;
        };
        let Some(invite) = a.invite.as_ref().and_then(|i| authorized_invite(i, challenge, code, user, pass, local)) else { return false };
        a.authenticated = true;
        a.invite = Some(invite.clone());
        let flow = a.flow;
        tracing::info!(code, "agent leg challenged: INVITE again with digest credentials");
        self.out(Output::SendInvite { request: invite, flow });
        true
    }

    fn agent_answered(&mut self, ok: &rsip::Response, now: Instant) {
        let local = self.local_addr;
        let Some(a) = self.agent.as_mut() else { return };
        let Some(invite) = a.invite.clone() else { return };
        let mut dialog = match Dialog::new_uac(&invite, ok, local, false) {
            Ok(d) => d,
            Err(e) => return self.warm_failed(Some(200), format!("unusable 2xx from the agent: {e}"), now),
        };
        let ack = dialog.ack(headers::cseq(&invite.headers).map_or(1, |c| c.0));
        let flow = a.flow;
        a.ack = Some(ack.clone());
        a.dialog = Some(dialog);
        let cancelled = if let AgentState::Cancelling(failure) = a.state { Some(failure) } else { None };
        self.out(Output::Transmit { request: ack, flow });
        if let Some(failure) = cancelled {
            // Answered as our CANCEL crossed it: hang that leg up.
            return self.agent_not_taken(failure, "answered after the ring timeout".into(), now);
        }
        let Some(a) = self.agent.as_mut() else { return };
        let n = match sdp::parse(&ok.body).and_then(|o| sdp::negotiate(&o)) {
            Ok(n) => n,
            Err(e) => return self.warm_failed(Some(488), format!("unusable SDP from the agent: {e}"), now),
        };
        a.negotiated = Some(n.clone());
        a.answered_at = Some(now);
        a.state = AgentState::Whispering;
        a.deadline = None;
        a.media_up = true;
        let whisper = a.options.whisper.clone();
        tracing::info!("agent answered: whispering");
        let config = self.rtp_config(&n);
        self.out(Output::StartAgentMedia { config, direction: n.direction });
        if whisper.trim().is_empty() {
            return self.whisper_done(now);
        }
        self.prompt_seq += 1;
        let id = self.prompt_seq;
        if let Some(a) = self.agent.as_mut() {
            a.whisper_id = Some(id);
        }
        self.out(Output::Render { id, job: RenderJob::Say(whisper, self.language()) });
    }

    /// Rendered audio for a prompt of the warm transfer: the whisper (to
    /// the agent) or the hold prompt (to the caller). False: not ours.
    pub(super) fn warm_render(&mut self, id: u64, command: MediaCommand) -> bool {
        let Some(a) = self.agent.as_ref() else { return false };
        if a.whisper_id == Some(id) {
            if a.media_up {
                self.out(Output::AgentMedia(command));
            }
            return true;
        }
        if a.hold_id == Some(id) {
            self.media(command);
            return true;
        }
        false
    }

    /// A prompt of the warm transfer could not be rendered.
    pub(super) fn warm_render_failed(&mut self, id: u64, now: Instant) -> bool {
        let Some(a) = self.agent.as_ref() else { return false };
        if a.whisper_id == Some(id) {
            self.whisper_done(now);
            return true;
        }
        a.hold_id == Some(id)
    }

    /// An event of the agent's RTP leg.
    pub(crate) fn handle_agent_media(&mut self, ev: MediaEvent, now: Instant) {
        match ev {
            MediaEvent::PlaybackFinished { id } if self.agent.as_ref().is_some_and(|a| a.whisper_id == Some(id)) => self.whisper_done(now),
            MediaEvent::Dtmf { digit, .. } => self.agent_digit(digit, now),
            MediaEvent::Inactive if self.agent.as_ref().is_some_and(|a| a.is_bridged() && !a.left) => {
                self.hang_up(Outcome::Transferred, "no RTP from the agent");
            }
            _ => {}
        }
        self.settle(now);
    }

    /// The caller's hold prompt ended: play it again while still waiting.
    pub(super) fn hold_finished(&mut self, id: u64) -> bool {
        if self.agent.as_ref().is_none_or(|a| a.hold_id != Some(id)) {
            return false;
        }
        if let Some(a) = self.agent.as_mut() {
            a.hold_id = None;
        }
        self.play_hold();
        true
    }

    fn whisper_done(&mut self, now: Instant) {
        let Some(a) = self.agent.as_mut() else { return };
        if a.state != AgentState::Whispering {
            return;
        }
        a.whisper_id = None;
        match a.options.accept {
            AcceptMode::Auto => self.bridge(now),
            AcceptMode::Dtmf => {
                a.state = AgentState::AwaitingKey;
                a.deadline = Some(now + ACCEPT_WAIT);
            }
        }
    }

    fn agent_digit(&mut self, digit: char, now: Instant) {
        let Some(a) = self.agent.as_mut() else { return };
        if !matches!(a.state, AgentState::Whispering | AgentState::AwaitingKey) || a.options.accept != AcceptMode::Dtmf {
            return;
        }
        tracing::info!(%digit, "agent key");
        match digit {
            '1' => {
                if a.whisper_id.take().is_some() {
                    self.out(Output::AgentMedia(MediaCommand::Stop));
                }
                self.bridge(now);
            }
            '2' => self.agent_not_taken(TransferFailure::Declined, "agent pressed 2".into(), now),
            _ => {}
        }
    }

    /// Accepted: caller and agent are bridged; the flow is over.
    fn bridge(&mut self, now: Instant) {
        let Some(a) = self.agent.as_mut() else { return };
        a.state = AgentState::Bridged;
        a.deadline = None;
        let hold = a.hold_id.take();
        let to_agent = now.saturating_duration_since(a.tried_at);
        tracing::info!(time_to_agent_ms = to_agent.as_millis() as u64, "warm transfer accepted: bridged");
        if hold.is_some() {
            self.media(MediaCommand::Stop);
        }
        self.out(Output::Bridge);
        let ring_ms = self.agent.as_ref().and_then(AgentLeg::ring_ms);
        self.recorder.transfer_result(Some(200), true, "bridged", ring_ms, self.clock.unix_ms(now));
        metrics().count_transfer("succeeded");
        self.flow_event(FlowEvent::TransferAccepted, now);
        self.publish();
        if self.agent.as_ref().is_some_and(|a| a.options.release == Some(dialogs::Release::Refer)) {
            self.start_release(now);
        }
    }

    /// The agent did not take the call: back to the flow with `failure`.
    fn agent_not_taken(&mut self, failure: TransferFailure, reason: String, now: Instant) {
        let code = match failure {
            TransferFailure::Busy => Some(486),
            TransferFailure::Declined => Some(603),
            TransferFailure::NoAnswer => Some(480),
        };
        self.end_agent_leg();
        self.transfer_lost(code, failure.event(), reason.clone(), now);
        self.flow_event(FlowEvent::TransferNotTaken { failure, reason }, now);
        self.publish();
    }

    /// The warm transfer failed for another reason: `failed`.
    fn warm_failed(&mut self, code: Option<u16>, reason: String, now: Instant) {
        self.end_agent_leg();
        self.transfer_lost(code, "failed", reason.clone(), now);
        self.flow_event(FlowEvent::TransferFailed { reason }, now);
        self.publish();
    }

    fn transfer_lost(&mut self, code: Option<u16>, outcome: &str, reason: String, now: Instant) {
        tracing::warn!(%reason, "warm transfer failed");
        let ring_ms = self.agent.as_ref().and_then(AgentLeg::ring_ms);
        self.recorder.transfer_result(code, false, outcome, ring_ms, self.clock.unix_ms(now));
        metrics().count_transfer("failed");
        // The hold prompt stops; the flow's next prompt replaces it anyway.
        if self.agent.take().and_then(|a| a.hold_id).is_some() {
            self.media(MediaCommand::Stop);
        }
    }

    /// Ends the agent leg in whatever state: CANCEL while it rings, BYE once
    /// answered; its media leg closes and the endpoint forgets its Call-ID.
    pub(super) fn end_agent_leg(&mut self) {
        let Some(a) = self.agent.as_mut() else { return };
        match (&a.state, a.dialog.as_mut(), a.invite.as_ref()) {
            (_, Some(d), _) => {
                let bye = d.request(Method::Bye);
                let flow = a.flow;
                self.out(Output::SendRequest { request: bye, flow });
            }
            (AgentState::Dialling, None, Some(invite)) => {
                let cancel = cancel_for(invite);
                let flow = a.flow;
                self.out(Output::SendRequest { request: cancel, flow });
            }
            _ => {}
        }
        let Some(a) = self.agent.as_mut() else { return };
        let close = std::mem::take(&mut a.media_up);
        let call_id = a.call_id.clone();
        a.dialog = None;
        a.invite = None;
        if close {
            self.out(Output::CloseAgentMedia);
        }
        self.out(Output::LegEnded { call_id });
    }

    /// Timers: the ring timeout (→ CANCEL), the CANCEL's grace, the wait
    /// for the agent's key.
    pub(super) fn agent_timeout(&mut self, now: Instant) {
        let Some(a) = self.agent.as_mut() else { return };
        if a.deadline.is_none_or(|d| d > now) {
            return;
        }
        a.deadline = None;
        match a.state {
            AgentState::Dialling => {
                if let Some(invite) = a.invite.as_ref() {
                    tracing::info!("agent did not answer in time: cancelling");
                    let (cancel, flow) = (cancel_for(invite), a.flow);
                    a.state = AgentState::Cancelling(TransferFailure::NoAnswer);
                    a.deadline = Some(now + CANCEL_GRACE);
                    self.out(Output::SendRequest { request: cancel, flow });
                }
            }
            AgentState::Cancelling(failure) => {
                a.invite = None; // no 487 came: nothing more to cancel
                self.agent_not_taken(failure, "agent leg did not end after CANCEL".into(), now);
            }
            AgentState::AwaitingKey => self.agent_not_taken(TransferFailure::Declined, "the agent pressed no key".into(), now),
            AgentState::Whispering | AgentState::Bridged => {}
        }
    }

    /// An in-dialog request from the agent: BYE, re-INVITE (hold), INFO
    /// DTMF, OPTIONS.
    fn agent_request(&mut self, req: Request, key: TransactionKey, now: Instant) {
        let Some(a) = self.agent.as_mut() else {
            return self.out(Output::Respond { key, response: make_response(&req, StatusCode::CallTransactionDoesNotExist, None) });
        };
        match req.method {
            Method::Bye => {
                a.dialog = None; // their BYE ended the leg: none from us
                let bridged = a.is_bridged();
                self.out(Output::Respond { key, response: make_response(&req, StatusCode::OK, None) });
                if bridged && self.releasing() {
                    self.agent_left_while_releasing();
                } else if bridged {
                    tracing::info!("agent hung up: ending the call");
                    self.hang_up(Outcome::Transferred, "agent hung up");
                } else {
                    self.agent_not_taken(TransferFailure::Declined, "agent hung up during the whisper".into(), now);
                }
            }
            Method::Invite | Method::Update => {
                let mut ok = make_response(&req, StatusCode::OK, None);
                if !req.body.is_empty() {
                    match sdp::parse(&req.body).and_then(|o| sdp::negotiate(&o)) {
                        Ok(n) => {
                            if let Some(addr) = n.remote {
                                self.out(Output::AgentMedia(MediaCommand::SetRemote(addr)));
                            }
                            self.out(Output::AgentMedia(MediaCommand::SetDirection(n.direction)));
                            let Some(a) = self.agent.as_mut() else { return };
                            a.negotiated = Some(n);
                        }
                        Err(e) => {
                            let r = make_response(&req, status_with_reason(488, &format!("Not Acceptable Here ({e})")), None);
                            return self.out(Output::Respond { key, response: r });
                        }
                    }
                }
                let Some(a) = self.agent.as_mut() else { return };
                a.sdp_version += 1;
                if let Some(n) = &a.negotiated {
                    ok.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
                    ok.body = sdp::answer(n, self.settings.media_ip, a.rtp_port, a.sdp_session, a.sdp_version).into_bytes();
                }
                if let Some(d) = &a.dialog {
                    ok.headers.push(Header::Contact(rsip::headers::Contact::new(d.contact())));
                }
                self.out(Output::Respond { key, response: ok });
            }
            Method::Info => {
                let digit = String::from_utf8_lossy(&req.body)
                    .lines()
                    .find_map(|l| {
                        l.split_once('=')
                            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
                            .and_then(|(_, v)| v.trim().chars().next())
                    })
                    .or_else(|| String::from_utf8_lossy(&req.body).trim().chars().next());
                self.out(Output::Respond { key, response: make_response(&req, StatusCode::OK, None) });
                if let Some(d) = digit {
                    self.agent_digit(d, now);
                }
            }
            Method::Options => self.out(Output::Respond { key, response: make_response(&req, StatusCode::OK, None) }),
            _ => {
                let r = make_response(&req, StatusCode::MethodNotAllowed, None);
                self.out(Output::Respond { key, response: r });
            }
        }
    }

    /// The edge could not start the agent's media leg.
    pub(crate) fn handle_agent_media_failed(&mut self, why: &str, now: Instant) {
        if let Some(a) = self.agent.as_mut() {
            a.media_up = false;
        }
        self.warm_failed(None, format!("agent media leg not started: {why}"), now);
        self.settle(now);
    }

    /// The call is ending: the agent leg goes with it.
    pub(super) fn warm_call_ending(&mut self) {
        if self.agent.is_some() {
            self.end_agent_leg();
            self.agent = None;
        }
    }

    pub(super) fn warm_phase_label(&self) -> Option<&'static str> {
        let a = self.agent.as_ref()?;
        Some(if a.is_bridged() { "bridged" } else { "transferring" })
    }
}
