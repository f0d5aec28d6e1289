//! SIP inside the call (RFC 3261 §12.2, §15): what the endpoint hands the
//! call — in-dialog requests (BYE, re-INVITE/UPDATE for hold per RFC 3264
//! §8, INFO DTMF per RFC 6086, NOTIFY for REFER per RFC 3515 §2.4.5,
//! OPTIONS), the ACK, CANCEL, responses to our requests, timeouts and
//! shutdown — dispatched to the phase that owns them.

use std::time::Instant;

use dialogs::FlowEvent;
use media::leg::MediaCommand;
use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request, StatusCode};

use super::{CallCore, Outcome, Output, Phase};
use crate::sip::endpoint::CallSignal;
use crate::sip::headers::{self, header_value, make_response, status_with_reason};
use crate::sip::sdp;
use crate::sip::transaction::TransactionKey;

impl CallCore {
    /// One signal from the SIP endpoint.
    pub(crate) fn handle_signal(&mut self, signal: CallSignal, now: Instant) {
        if self.agent.as_ref().is_some_and(|a| a.owns(signal_call_id(&signal))) {
            self.agent_signal(signal, now);
            return self.settle(now);
        }
        match signal {
            CallSignal::Ack(ack) => self.handle_ack(ack, now),
            CallSignal::AckTimeout => {
                if self.phase == Phase::Answered {
                    self.hang_up(Outcome::NoAck, "no ACK for 200");
                }
            }
            CallSignal::Cancelled => {
                // Before the final response only: the endpoint answers a
                // CANCEL that comes later itself (§9.2).
                if self.phase == Phase::Inviting {
                    self.reject(StatusCode::RequestTerminated);
                }
            }
            CallSignal::Request { request, key } => self.handle_request(request, key, now),
            CallSignal::Response(resp) => self.handle_response(resp, now),
            CallSignal::Shutdown => match self.phase {
                Phase::Inviting => self.reject(status_with_reason(503, "Service Unavailable (shutting down)")),
                Phase::Dialling => self.cancel_dialling(Outcome::Shutdown, now),
                _ => self.hang_up(Outcome::Shutdown, "gateway shutting down"),
            },
            CallSignal::RequestTimeout { method, cseq } => match method {
                Method::Invite if self.phase == Phase::Dialling => self.dialling_failed(None, "", now),
                Method::Refer => self.transfer_request_timeout(cseq, now),
                _ => {}
            },
        }
        self.settle(now);
    }

    fn respond(&mut self, key: TransactionKey, response: rsip::Response) {
        self.out(Output::Respond { key, response });
    }

    fn handle_request(&mut self, req: Request, key: TransactionKey, now: Instant) {
        let (cseq, method) = headers::cseq(&req.headers).unwrap_or((0, req.method));
        if let Some(d) = self.dialog.as_mut() {
            if !d.check_remote_cseq(cseq, &method) {
                let r = make_response(&req, status_with_reason(500, "Server Internal Error (CSeq out of order)"), None);
                self.respond(key, r);
                return;
            }
        }
        match req.method {
            Method::Bye => {
                // Answered by the edge once the call's end is committed.
                self.bye = Some((key, make_response(&req, StatusCode::OK, None)));
                tracing::info!("caller hung up");
                // Hanging up on the agent after a warm transfer is the end of a transferred call.
                let bridged = self.agent.as_ref().is_some_and(|a| a.is_bridged());
                self.outcome.get_or_insert(if bridged { Outcome::Transferred } else { Outcome::CallerHangup });
                if let Some(r) = self.runner.as_mut() {
                    r.handle_event(FlowEvent::CallerHungUp, now);
                }
                self.phase = Phase::Ended;
            }
            Method::Invite | Method::Update => self.handle_reoffer(req, key),
            Method::Info => self.handle_info(req, key, now),
            Method::Notify => self.handle_notify(req, key, now),
            Method::Options => {
                let mut r = make_response(&req, StatusCode::OK, None);
                self.dialog_headers(&mut r);
                self.respond(key, r);
            }
            _ => {
                let mut r = make_response(&req, StatusCode::MethodNotAllowed, None);
                r.headers.push(Header::Allow(rsip::headers::Allow::new(crate::sip::transport::ALLOW)));
                self.respond(key, r);
            }
        }
    }

    /// re-INVITE / UPDATE (RFC 3264 §8): hold and resume, new address.
    fn handle_reoffer(&mut self, req: Request, key: TransactionKey) {
        if !req.body.is_empty() {
            match sdp::parse(&req.body).and_then(|o| sdp::negotiate(&o)) {
                Ok(n) => {
                    if let Some(addr) = n.remote {
                        self.media(MediaCommand::SetRemote(addr));
                    }
                    self.media(MediaCommand::SetDirection(n.direction));
                    tracing::info!(direction = ?n.direction, "media re-negotiated");
                    self.negotiated = Some(n);
                }
                Err(e) => {
                    let mut r = make_response(&req, status_with_reason(488, &format!("Not Acceptable Here ({e})")), None);
                    headers::add_media_warning(&mut r);
                    self.respond(key, r);
                    return;
                }
            }
        }
        self.sdp_version += 1;
        let mut ok = make_response(&req, StatusCode::OK, None);
        self.dialog_headers(&mut ok);
        Self::with_sdp(&mut ok, self.sdp_body());
        self.respond(key, ok);
    }

    /// SIP INFO DTMF: `application/dtmf-relay` (Signal=5) and
    /// `application/dtmf` (body "5").
    fn handle_info(&mut self, req: Request, key: TransactionKey, now: Instant) {
        let ct = header_value(&req.headers, "Content-Type").unwrap_or("").trim().to_ascii_lowercase();
        let body = String::from_utf8_lossy(&req.body).to_string();
        let digit = if ct.starts_with("application/dtmf-relay") {
            body.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim().chars().next()).flatten()
            })
        } else if ct.starts_with("application/dtmf") {
            body.trim().chars().next()
        } else if req.body.is_empty() {
            None
        } else {
            let mut r = make_response(&req, StatusCode::UnsupportedMediaType, None);
            r.headers.push(Header::Accept(rsip::headers::Accept::new("application/dtmf-relay, application/dtmf")));
            self.respond(key, r);
            return;
        };
        let digit = digit.map(|d| d.to_ascii_uppercase()).filter(|d| d.is_ascii_digit() || "*#ABCD".contains(*d));
        self.respond(key, make_response(&req, StatusCode::OK, None));
        if let Some(d) = digit {
            tracing::info!(digit = %d, "DTMF (SIP INFO)");
            self.flow_event(FlowEvent::Digit(d), now);
        }
    }

    /// RFC 3515 §2.4.5: NOTIFY carries a transfer's progress as sipfrag.
    fn handle_notify(&mut self, req: Request, key: TransactionKey, now: Instant) {
        let event = header_value(&req.headers, "Event").unwrap_or("").trim().to_ascii_lowercase();
        if !event.starts_with("refer") {
            self.respond(key, make_response(&req, status_with_reason(489, "Bad Event"), None));
            return;
        }
        self.respond(key, make_response(&req, StatusCode::OK, None));
        self.transfer_notify(&req.body, now);
    }

    fn handle_response(&mut self, resp: rsip::Response, now: Instant) {
        let Some((cseq, method)) = headers::cseq(&resp.headers) else { return };
        let code = resp.status_code.code();
        match method {
            Method::Invite if self.phase == Phase::Dialling => self.dialling_response(resp, now),
            Method::Invite if (200..300).contains(&code) => self.resend_ack(),
            Method::Refer => self.transfer_response(cseq, code, now),
            _ => {}
        }
    }
}

/// The Call-ID a signal is about (None for the call-wide ones).
fn signal_call_id(signal: &CallSignal) -> Option<&str> {
    match signal {
        CallSignal::Request { request, .. } => headers::call_id(&request.headers),
        CallSignal::Response(resp) => headers::call_id(&resp.headers),
        CallSignal::Ack(ack) => headers::call_id(&ack.headers),
        _ => None,
    }
}
