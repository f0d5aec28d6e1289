//! SIP side of the call task: offer/answer, in-dialog requests (BYE,
//! re-INVITE/UPDATE for hold, INFO DTMF, NOTIFY for REFER), responses to
//! our requests, and hang-up (RFC 3261 §12–15, RFC 3264 §8, RFC 3515 §2.4,
//! RFC 6086 for INFO).

use std::net::{IpAddr, SocketAddr};

use media::leg::MediaCommand;
use media::rtp_session::{RtpConfig, RtpSession};
use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request, StatusCode};

use super::{Call, Outcome, Phase};
use crate::sip::dialog::Dialog;
use crate::sip::endpoint::{CallSignal, EndpointCommand};
use crate::sip::sdp::{self, SdpError};
use crate::sip::headers::{self, header_value, make_response, status_with_reason};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;

impl Call {
    fn media_ip(&self) -> IpAddr {
        self.shared.config.sip.public_address.unwrap_or(self.shared.config.rtp.address)
    }

    /// Validates the offer, picks the flow and binds RTP; on failure the
    /// status to reject the INVITE with.
    pub(super) async fn prepare(&mut self) -> Result<(), StatusCode> {
        if !self.invite.body.is_empty() {
            let ct = header_value(&self.invite.headers, "Content-Type").unwrap_or("application/sdp");
            if !ct.trim().to_ascii_lowercase().starts_with("application/sdp") {
                return Err(StatusCode::UnsupportedMediaType);
            }
            let offer = sdp::parse(&self.invite.body).map_err(|e| match e {
                SdpError::Malformed(m) => status_with_reason(400, &format!("Bad Request (malformed SDP: {m})")),
                other => status_with_reason(488, &format!("Not Acceptable Here ({other})")),
            })?;
            let n = sdp::negotiate(&offer).map_err(|e| status_with_reason(488, &format!("Not Acceptable Here ({e})")))?;
            self.negotiated = Some(n);
        }
        if !self.shared.flows.contains(std::path::Path::new(&self.flow_name)) {
            tracing::error!(flow = %self.flow_name, "no loaded flow for this number");
            return Err(status_with_reason(480, "Temporarily Unavailable (no flow)"));
        }
        let ports = self.shared.config.rtp_ports().unwrap_or(0..=0);
        match media::leg::bind_rtp_socket(self.shared.config.rtp.address, ports) {
            Ok((sock, port)) => {
                self.rtp_socket = Some(sock);
                self.rtp_port = port;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "no RTP port available");
                Err(status_with_reason(503, "Service Unavailable (no RTP port)"))
            }
        }
    }

    pub(super) fn sdp_body(&mut self) -> String {
        let ip = self.media_ip();
        match &self.negotiated {
            Some(n) => sdp::answer(n, ip, self.rtp_port, self.sdp_session, self.sdp_version),
            None => sdp::offer(ip, self.rtp_port, self.sdp_session, self.sdp_version),
        }
    }

    fn with_sdp(&self, resp: &mut rsip::Response, body: String) {
        resp.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        resp.body = body.into_bytes();
    }

    fn dialog_headers(&self, resp: &mut rsip::Response) {
        if let Some(d) = &self.dialog {
            resp.headers.push(Header::Contact(rsip::headers::Contact::new(d.contact())));
        }
        resp.headers.push(Header::Allow(rsip::headers::Allow::new(crate::sip::transport::ALLOW)));
        resp.headers.push(Header::Supported(rsip::headers::Supported::new("replaces, norefersub")));
    }

    /// Sends the 200 with SDP and starts media when the offer was early.
    pub(super) fn answer(&mut self) {
        let dialog = match Dialog::new_uas(&self.invite, self.local_tag.clone(), self.local_addr, self.sip_flow.is_reliable()) {
            Ok(d) => d,
            Err(e) => {
                self.reject(status_with_reason(400, &format!("Bad Request ({e})")));
                return;
            }
        };
        self.dialog = Some(dialog);
        let mut ok = make_response(&self.invite, StatusCode::OK, Some(&self.local_tag));
        self.dialog_headers(&mut ok);
        let body = self.sdp_body();
        self.with_sdp(&mut ok, body);
        self.respond(self.invite_key.clone(), ok);
        self.phase = Phase::Answered;
        let version = self.shared.flows.get(std::path::Path::new(&self.flow_name)).map(|f| f.version.clone()).unwrap_or_default();
        let call =
            super::record::new_call(&self.call_id, &self.caller, &self.called, &self.flow_name, &version, self.started_unix_ms as i64);
        self.recorder.answered(call, super::record::unix_ms());
        if self.negotiated.is_some() {
            self.start_media();
        }
        self.publish();
    }

    pub(super) fn start_media(&mut self) {
        let (Some(n), Some(sock)) = (self.negotiated.clone(), self.rtp_socket.take()) else { return };
        let config = RtpConfig {
            codec: n.codec,
            payload_type: n.payload_type,
            telephone_event_pt: n.telephone_event,
            remote: n.remote,
            inactivity_timeout: self.shared.config.rtp_inactivity(),
            ssrc: rand::random(),
            initial_sequence: rand::random(),
            initial_timestamp: rand::random(),
        };
        let mut session = RtpSession::new(config, std::time::Instant::now());
        session.set_direction(n.direction);
        match self.shared.media.spawn_leg(sock, session) {
            Ok(leg) => self.media = Some(leg),
            Err(e) => {
                tracing::error!(error = %e, "media leg not started");
                self.hang_up(Outcome::Failed, "media engine unavailable");
            }
        }
    }

    pub(super) async fn handle_signal(&mut self, s: CallSignal) {
        match s {
            CallSignal::Ack(ack) => {
                if self.phase != Phase::Answered {
                    return;
                }
                if self.negotiated.is_none() {
                    // Late offer: the answer is in the ACK (§13.2.1).
                    match sdp::parse(&ack.body).and_then(|o| sdp::negotiate(&o)) {
                        Ok(n) => {
                            self.negotiated = Some(n);
                            self.start_media();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "unusable SDP answer in ACK; hanging up");
                            self.hang_up(Outcome::Failed, "bad SDP in ACK");
                            return;
                        }
                    }
                }
                self.phase = Phase::Confirmed;
                self.start_flow();
                self.publish();
            }
            CallSignal::AckTimeout => self.hang_up(Outcome::NoAck, "no ACK for 200"),
            CallSignal::Cancelled => {} // already answered: the endpoint answered 481/200 as due
            CallSignal::Request { request, key } => self.handle_request(request, key),
            CallSignal::Response(resp) => self.handle_response(resp),
            CallSignal::Shutdown => {
                if self.phase == Phase::Inviting {
                    self.reject(status_with_reason(503, "Service Unavailable (shutting down)"));
                } else {
                    self.hang_up(Outcome::Shutdown, "gateway shutting down");
                }
            }
            CallSignal::RequestTimeout { method, cseq } => {
                if method == Method::Refer && self.refer.as_ref().is_some_and(|r| r.cseq == cseq) {
                    self.transfer_failed("REFER got no response".into());
                }
            }
        }
    }

    fn handle_request(&mut self, req: Request, key: TransactionKey) {
        let (cseq, method) = headers::cseq(&req.headers).unwrap_or((0, req.method));
        if let Some(d) = self.dialog.as_mut() {
            if !d.check_remote_cseq(cseq, &method) {
                self.respond(key, make_response(&req, status_with_reason(500, "Server Internal Error (CSeq out of order)"), None));
                return;
            }
        }
        match req.method {
            Method::Bye => {
                // Answered in `finish`, once the call's end is committed.
                self.bye = Some((key, make_response(&req, StatusCode::OK, None)));
                tracing::info!("caller hung up");
                self.outcome.get_or_insert(Outcome::CallerHangup);
                if let Some(r) = self.runner.as_mut() {
                    r.handle_event(dialogs::FlowEvent::CallerHungUp, std::time::Instant::now());
                }
                self.phase = Phase::Ended;
            }
            Method::Invite | Method::Update => self.handle_reoffer(req, key),
            Method::Info => self.handle_info(req, key),
            Method::Notify => self.handle_notify(req, key),
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
                    if let Some(m) = &self.media {
                        if let Some(addr) = n.remote {
                            let _ = m.commands.send(MediaCommand::SetRemote(addr));
                        }
                        let _ = m.commands.send(MediaCommand::SetDirection(n.direction));
                    }
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
        let body = self.sdp_body();
        self.with_sdp(&mut ok, body);
        self.respond(key, ok);
    }

    /// SIP INFO DTMF: `application/dtmf-relay` (Signal=5) and
    /// `application/dtmf` (body "5").
    fn handle_info(&mut self, req: Request, key: TransactionKey) {
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
            self.flow_event(dialogs::FlowEvent::Digit(d));
        }
    }

    /// RFC 3515 §2.4.5: NOTIFY carries the transfer's progress as sipfrag.
    fn handle_notify(&mut self, req: Request, key: TransactionKey) {
        let event = header_value(&req.headers, "Event").unwrap_or("").trim().to_ascii_lowercase();
        if !event.starts_with("refer") {
            self.respond(key, make_response(&req, status_with_reason(489, "Bad Event"), None));
            return;
        }
        self.respond(key, make_response(&req, StatusCode::OK, None));
        let Some(_) = self.refer.as_ref() else { return };
        match crate::sip::refer::sipfrag_status(&req.body) {
            Ok(code) if code < 200 => tracing::debug!(code, "transfer progress"),
            Ok(code) if code < 300 => {
                tracing::info!(code, "transfer succeeded");
                self.recorder.transfer_result(Some(code), true);
                self.refer = None;
                crate::metrics::metrics().count_transfer("succeeded");
                self.flow_event(dialogs::FlowEvent::TransferAccepted);
                self.hang_up(Outcome::Transferred, "transferred");
            }
            Ok(code) => {
                self.recorder.transfer_result(Some(code), false);
                self.transfer_failed(format!("transfer target answered {code}"));
            }
            Err(e) => tracing::warn!(error = %e, "NOTIFY with unreadable sipfrag"),
        }
    }

    fn handle_response(&mut self, resp: rsip::Response) {
        let Some((cseq, method)) = headers::cseq(&resp.headers) else { return };
        let code = resp.status_code.code();
        if method == Method::Invite && (200..300).contains(&code) {
            // Outbound: the callee did not get our ACK; send it again.
            if let Some(ack) = self.outbound_ack.clone() {
                let flow = self.request_flow();
                let _ = self.endpoint.try_send(EndpointCommand::Transmit { request: ack, flow });
            }
            return;
        }
        if method == Method::Refer && self.refer.as_ref().is_some_and(|r| r.cseq == cseq) {
            match code {
                100..=199 => {}
                200..=299 => tracing::info!(code, "REFER accepted; waiting for NOTIFY"),
                _ => {
                    self.recorder.transfer_result(Some(code), false);
                    self.transfer_failed(format!("REFER rejected with {code}"));
                }
            }
        }
    }

    /// Where in-dialog requests go: the first route, else the remote
    /// target; behind NAT the address the INVITE came from.
    pub(super) fn request_flow(&self) -> SipFlow {
        let d = self.dialog.as_ref();
        let target = d.and_then(|d| d.route_set.first().cloned().or_else(|| Some(d.remote_target.clone())));
        let addr = target.as_deref().and_then(uri_socket_addr);
        match self.sip_flow {
            SipFlow::Udp { listener, remote } => SipFlow::Udp { listener, remote: addr.unwrap_or(remote) },
            tcp => tcp,
        }
    }

    pub(super) fn send_request(&mut self, req: Request) {
        let flow = self.request_flow();
        let _ = self.endpoint.try_send(EndpointCommand::SendRequest { request: req, flow, owner: self.me.clone() });
    }

    /// Sends BYE (when the dialog is up) and ends the call.
    pub(super) fn hang_up(&mut self, outcome: Outcome, why: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.outcome.get_or_insert(outcome);
        tracing::info!(reason = why, "hanging up");
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.request(Method::Bye);
            self.send_request(bye);
        }
        self.phase = Phase::Ended;
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

#[cfg(test)]
mod tests {
    #[test]
    fn uri_addresses() {
        assert_eq!(super::uri_socket_addr("<sip:a@127.0.0.1:5061;transport=udp>"), Some("127.0.0.1:5061".parse().unwrap()));
        assert_eq!(super::uri_socket_addr("sip:127.0.0.1"), Some("127.0.0.1:5060".parse().unwrap()));
        assert_eq!(super::uri_socket_addr("<sip:p1.example.com;lr>"), None);
    }
}
