//! The outbound call up to the answer (issue #6): the gateway as UAC
//! through a trunk (RFC 3261 §13.2 INVITE through the endpoint's INVITE
//! client transaction, §13.2.2.4 the TU's ACK for 2xx — re-sent for each
//! 2xx retransmission —, §9.1 CANCEL at the ring timeout, §22.2 one digest
//! answer to a 401/407). Once the callee answers the call is the same as an
//! inbound one: the flow starts.
//!
//! Outcomes: `no_answer` (ring timeout → CANCEL, 408/480/487, Timer B),
//! `busy` (486, 600), `failed` (anything else).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request};

use super::record::new_call;
use super::{CallCore, CallIdentity, CallSettings, Outcome, Output, Phase, WallClock};
use crate::config::TrunkConfig;
use crate::sip::dialog::Dialog;
use crate::sip::headers;
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;
use crate::store::Direction;

/// How long to wait for the 487 after our CANCEL before giving up.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What an outbound call carries besides its INVITE.
#[derive(Debug, Clone)]
pub(crate) struct OutboundSpec {
    pub(crate) trunk: TrunkConfig,
    /// Flow variables from the request.
    pub(crate) variables: BTreeMap<String, String>,
    /// The callee.
    pub(crate) number: String,
}

/// Dialling state, then the ACK of the answered call.
pub(crate) struct Outbound {
    pub(super) spec: OutboundSpec,
    /// Ring timeout, then the CANCEL's grace period; None once answered.
    deadline: Option<Instant>,
    cancelled: bool,
    authenticated: bool,
    /// A provisional response came: the far end exists (and may ring).
    provisional: bool,
    /// A 180 or 183 came (reported once, `Output::Ringing`).
    ringing: bool,
    /// The ACK for the callee's 2xx.
    ack: Option<Request>,
}

impl Outbound {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

impl CallCore {
    /// A call we place, from `clock`'s instant; `start_outbound` next.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_outbound(
        settings: CallSettings,
        id: CallIdentity,
        invite: Request,
        sip_flow: SipFlow,
        local_addr: std::net::SocketAddr,
        spec: OutboundSpec,
        clock: WallClock,
    ) -> Self {
        let key = TransactionKey::from_request(&invite).expect("our INVITE has a branch");
        let mut core = CallCore::new(settings, id, invite, key, sip_flow, local_addr, clock);
        core.phase = Phase::Dialling;
        core.outbound =
            Some(Outbound { spec, deadline: None, cancelled: false, authenticated: false, provisional: false, ringing: false, ack: None });
        core
    }

    /// Sends the INVITE with our offer (`rtp_port` bound by the edge; None:
    /// no port, the call fails at once).
    pub(crate) fn start_outbound(&mut self, rtp_port: Option<u16>, now: Instant) {
        self.publish();
        let Some(port) = rtp_port else {
            tracing::warn!("outbound call not started: no RTP port");
            self.outcome = Some(Outcome::Failed);
            self.phase = Phase::Ended;
            self.settle(now);
            return;
        };
        self.rtp_port = port;
        let body = self.sdp_body();
        self.invite.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        self.invite.body = body.into_bytes();
        let version = self.id.flow.as_ref().map(|f| f.version.clone()).unwrap_or_default();
        let id = &self.id;
        let row = new_call(Direction::Outbound, &id.call_id, &id.caller, &id.called, &id.flow_name, &version, self.clock.unix_ms(now));
        self.recorder.started(row);
        self.send_invite();
        if let Some(o) = self.outbound.as_mut() {
            o.deadline = Some(now + self.settings.ring_timeout);
        }
        self.settle(now);
    }

    fn send_invite(&mut self) {
        tracing::info!(to = %self.invite.uri, "calling out");
        self.out(Output::SendInvite { request: self.invite.clone(), flow: self.sip_flow });
    }

    /// The ring timeout (→ CANCEL) or the CANCEL's grace (→ give up).
    pub(super) fn dialling_timeout(&mut self, now: Instant) {
        let Some(o) = self.outbound.as_mut() else { return };
        if o.cancelled {
            o.deadline = None;
            self.outcome.get_or_insert(Outcome::NoAnswer);
            self.phase = Phase::Ended;
            return;
        }
        if !o.provisional {
            // Nothing at all came back: the trunk is unreachable, not a
            // callee who did not answer; no CANCEL without a provisional
            // response (§9.1).
            o.deadline = None;
            tracing::warn!("no response at all from the trunk within the ring timeout");
            self.end_cause = Some("no response from the trunk".into());
            self.outcome = Some(Outcome::Failed);
            self.phase = Phase::Ended;
            return;
        }
        tracing::info!("no answer within the ring timeout; cancelling");
        self.cancel_dialling(Outcome::NoAnswer, now);
    }

    /// CANCEL the INVITE and wait (bounded) for its 487.
    pub(super) fn cancel_dialling(&mut self, outcome: Outcome, now: Instant) {
        let Some(o) = self.outbound.as_mut() else { return };
        if o.cancelled {
            return;
        }
        o.cancelled = true;
        o.deadline = Some(now + CANCEL_GRACE);
        self.outcome = Some(outcome);
        self.send_cancel();
        if outcome == Outcome::Shutdown {
            self.phase = Phase::Ended;
        }
    }

    /// A final failure of the INVITE (`code` None: Timer B).
    pub(super) fn dialling_failed(&mut self, code: Option<u16>, reason: &str, _now: Instant) {
        let rang = self.outbound.as_ref().is_some_and(|o| o.provisional);
        let outcome = match code {
            Some(486 | 600) => Outcome::Busy,
            Some(408 | 480 | 487) => Outcome::NoAnswer,
            // Timer B: no answer if it rang, unreachable if nothing came back.
            None if rang => Outcome::NoAnswer,
            None | Some(_) => Outcome::Failed,
        };
        // The status and reason go in the record (hangup_cause).
        self.end_cause = Some(match code {
            Some(code) => format!("{code} {reason}").trim().to_string(),
            None if rang => "no final response (Timer B)".into(),
            None => "no response from the trunk (Timer B)".into(),
        });
        tracing::info!(?code, "outbound call not answered");
        self.outcome.get_or_insert(outcome);
        if let Some(o) = self.outbound.as_mut() {
            o.deadline = None;
        }
        self.phase = Phase::Ended;
    }

    /// A response to our INVITE while dialling.
    pub(super) fn dialling_response(&mut self, resp: rsip::Response, now: Instant) {
        let code = resp.status_code.code();
        let (cancelled, authenticated) = self.outbound.as_ref().map_or((false, true), |o| (o.cancelled, o.authenticated));
        match code {
            100..=199 => {
                tracing::debug!(code, "outbound call progress");
                let mut first_ring = false;
                if let Some(o) = self.outbound.as_mut() {
                    o.provisional = true;
                    // 180 Ringing, or 183 Session Progress (early media, the
                    // ring-back tone of many carriers); 100 Trying is not ringing.
                    first_ring = matches!(code, 180 | 183) && !std::mem::replace(&mut o.ringing, true);
                }
                if first_ring {
                    self.out(Output::Ringing { code, at: self.clock.unix_ms(now) });
                }
            }
            200..=299 => self.dialling_answered(&resp, now),
            401 | 407 if !authenticated && !cancelled => {
                if let Some(o) = self.outbound.as_mut() {
                    o.authenticated = true;
                }
                if !self.retry_with_credentials(&resp, code) {
                    self.outcome = Some(Outcome::Failed);
                    self.phase = Phase::Ended;
                }
            }
            _ => self.dialling_failed(Some(code), &reason_phrase(&resp.status_code), now),
        }
    }

    /// The callee answered: dialog, ACK, media, then the flow.
    fn dialling_answered(&mut self, ok: &rsip::Response, now: Instant) {
        let dialog = match Dialog::new_uac(&self.invite, ok, self.local_addr, false) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "unusable 2xx");
                self.outcome = Some(Outcome::Failed);
                self.phase = Phase::Ended;
                return;
            }
        };
        self.dialog = Some(dialog);
        let cseq = headers::cseq(&self.invite.headers).map_or(1, |c| c.0);
        if let Some(ack) = self.dialog.as_mut().map(|d| d.ack(cseq)) {
            let flow = self.request_flow();
            self.out(Output::Transmit { request: ack.clone(), flow });
            if let Some(o) = self.outbound.as_mut() {
                o.ack = Some(ack);
                o.deadline = None;
            }
        }
        // Answered after our CANCEL crossed it: the call is up; a shutdown
        // still ends it (with a BYE).
        let shutting_down = self.outcome == Some(Outcome::Shutdown);
        self.outcome = None;
        match crate::sip::sdp::parse(&ok.body).and_then(|a| crate::sip::sdp::negotiate(&a)) {
            Ok(n) => {
                self.negotiated = Some(n);
                self.start_media();
            }
            Err(e) => {
                tracing::warn!(error = %e, "unusable SDP answer; hanging up");
                self.phase = Phase::Confirmed;
                self.hang_up(Outcome::Failed, "bad SDP answer");
                return;
            }
        }
        tracing::info!("outbound call answered");
        self.recorder.answered_at(self.clock.unix_ms(now));
        self.phase = Phase::Confirmed;
        if shutting_down {
            self.hang_up(Outcome::Shutdown, "gateway shutting down");
            return;
        }
        self.start_flow(now);
        self.publish();
    }

    /// The callee did not get our ACK: its 2xx came again (§13.2.2.4).
    pub(super) fn resend_ack(&mut self) {
        if let Some(ack) = self.outbound.as_ref().and_then(|o| o.ack.clone()) {
            let flow = self.request_flow();
            self.out(Output::Transmit { request: ack, flow });
        }
    }

    /// One retry of the INVITE with the trunk's credentials (§22.2).
    fn retry_with_credentials(&mut self, challenge: &rsip::Response, code: u16) -> bool {
        let Some(spec) = self.outbound.as_ref().map(|o| &o.spec) else { return false };
        let (Some(user), Some(pass)) = (spec.trunk.username.clone(), spec.trunk.password.clone()) else {
            tracing::warn!(code, "trunk challenged the call but has no credentials");
            return false;
        };
        let Some(invite) = authorized_invite(&self.invite, challenge, code, &user, &pass, self.local_addr) else { return false };
        self.invite = invite;
        self.invite_key = TransactionKey::from_request(&self.invite).expect("branch");
        self.send_invite();
        true
    }

    fn send_cancel(&mut self) {
        let cancel = cancel_for(&self.invite);
        self.out(Output::SendRequest { request: cancel, flow: self.sip_flow });
    }
}

/// §22.2: `invite` again, answering the 401/407 `challenge` with
/// `user`/`pass`: same Call-ID and From tag, CSeq + 1, a new branch
/// (§8.1.3.5), and Authorization (401) or Proxy-Authorization (407).
/// None when the challenge is missing or not one we can answer.
pub(super) fn authorized_invite(
    invite: &Request,
    challenge: &rsip::Response,
    code: u16,
    user: &str,
    pass: &str,
    local: std::net::SocketAddr,
) -> Option<Request> {
    let wanted = if code == 407 { "proxy-authenticate" } else { "www-authenticate" };
    let value = challenge.headers.iter().find_map(|h| match h {
        Header::WwwAuthenticate(v) if wanted == "www-authenticate" => Some(v.value().to_string()),
        Header::ProxyAuthenticate(v) if wanted == "proxy-authenticate" => Some(v.value().to_string()),
        Header::Other(name, v) if name.eq_ignore_ascii_case(wanted) => Some(v.clone()),
        _ => None,
    })?;
    let answer = crate::sip::digest::answer_challenge(&value, &Method::Invite, &invite.uri, user, pass)?;
    let cseq = headers::cseq(&invite.headers).map_or(1, |c| c.0) + 1;
    let mut hs: Vec<Header> = invite.headers.iter().cloned().collect();
    for h in &mut hs {
        match h {
            Header::Via(_) => {
                *h = Header::Via(rsip::headers::Via::new(format!("SIP/2.0/UDP {local};branch={};rport", headers::new_branch())))
            }
            Header::CSeq(_) => *h = Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} INVITE"))),
            _ => {}
        }
    }
    hs.push(if code == 407 {
        Header::ProxyAuthorization(rsip::headers::ProxyAuthorization::new(answer))
    } else {
        Header::Authorization(rsip::headers::Authorization::new(answer))
    });
    let mut out = invite.clone();
    out.headers = hs.into();
    Some(out)
}

/// §9.1: the CANCEL of `invite`: its Request-URI, Call-ID, From, To, CSeq
/// number and top Via (same branch).
pub(super) fn cancel_for(invite: &Request) -> Request {
    let keep = |h: &Header| matches!(h, Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::Route(_));
    let mut hs: Vec<Header> = invite.headers.iter().filter(|h| keep(h)).cloned().collect();
    let cseq = headers::cseq(&invite.headers).map_or(1, |c| c.0);
    hs.push(Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} CANCEL"))));
    hs.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    Request { method: Method::Cancel, uri: invite.uri.clone(), version: rsip::Version::V2, headers: hs.into(), body: Vec::new() }
}

/// "486 BusyHere" (rsip's Display) → "Busy Here"; a custom reason as sent.
fn reason_phrase(status: &rsip::StatusCode) -> String {
    let text = status.to_string();
    let reason = text.split_once(' ').map_or("", |(_, r)| r);
    if reason.contains(' ') {
        return reason.to_string();
    }
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
