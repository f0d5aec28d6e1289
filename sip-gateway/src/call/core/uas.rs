//! The inbound call up to a confirmed dialog (RFC 3261 §13.3.1): the
//! offer is checked first (RFC 3264 §5; 488 + Warning 305 when nothing is
//! in common, §20.43; 415 for a body that is not SDP), then an optional
//! ringing delay (180, so a trunk can CANCEL, §9.2 → 487), then 200 with our
//! answer — or our offer for a late-offer INVITE, whose answer comes in the
//! ACK (§13.2.1). The flow starts at the ACK (§13.3.1.4).

use std::time::Instant;

use media::rtp_session::RtpConfig;
use rsip::headers::UntypedHeader;
use rsip::{Header, Request, StatusCode};

use super::record::new_call;
use super::{CallCore, CallIdentity, CallSettings, Outcome, Output, Phase, WallClock};
use crate::sip::dialog::Dialog;
use crate::sip::headers::{self, header_value, make_response, status_with_reason};
use crate::sip::sdp::{self, SdpError};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;
use crate::store::Direction;

impl CallCore {
    /// A call for an INVITE outside any dialog, received at `clock`'s
    /// instant; `start_inbound` next.
    pub(crate) fn new_inbound(
        settings: CallSettings,
        id: CallIdentity,
        invite: Request,
        key: TransactionKey,
        sip_flow: SipFlow,
        local_addr: std::net::SocketAddr,
        clock: WallClock,
    ) -> Self {
        CallCore::new(settings, id, invite, key, sip_flow, local_addr, clock)
    }

    /// Checks the offer and the flow; `rtp_port` is the port the edge
    /// bound (None: the pool is exhausted). Rejects, rings or answers.
    pub(crate) fn start_inbound(&mut self, rtp_port: Option<u16>, now: Instant) {
        self.publish();
        match self.check_invite(rtp_port) {
            Err(status) => self.reject(status),
            Ok(()) if !self.settings.answer_delay.is_zero() => {
                let ringing = make_response(&self.invite, StatusCode::Ringing, Some(&self.local_tag));
                self.out(Output::Respond { key: self.invite_key.clone(), response: ringing });
                self.out(Output::Ringing { code: 180, at: self.clock.unix_ms(now) });
                self.answer_at = Some(now + self.settings.answer_delay);
            }
            Ok(()) => self.answer(now),
        }
        self.settle(now);
    }

    fn check_invite(&mut self, rtp_port: Option<u16>) -> Result<(), StatusCode> {
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
        if self.id.flow.is_none() {
            tracing::error!(flow = %self.id.flow_name, "no loaded flow for this number");
            return Err(status_with_reason(480, "Temporarily Unavailable (no flow)"));
        }
        match rtp_port {
            Some(port) => {
                self.rtp_port = port;
                Ok(())
            }
            None => {
                tracing::error!("no RTP port available");
                crate::metrics::metrics().count_overload(crate::sip::limits::Reason::NoRtpPort.as_str(), false);
                Err(status_with_reason(503, "Service Unavailable (no RTP port)"))
            }
        }
    }

    /// A final non-2xx to the INVITE; the call ends without a record.
    pub(super) fn reject(&mut self, status: StatusCode) {
        tracing::info!(status = %status, "call rejected");
        let cancelled = status.code() == 487;
        self.outcome.get_or_insert(if cancelled { Outcome::Cancelled } else { Outcome::Rejected });
        let mut resp = make_response(&self.invite, status, Some(&self.local_tag));
        headers::add_media_warning(&mut resp);
        self.out(Output::Respond { key: self.invite_key.clone(), response: resp });
        self.answer_at = None;
        self.phase = Phase::Ended;
    }

    /// Our SDP: the answer to the offer, or an offer (late offer, outbound).
    pub(super) fn sdp_body(&self) -> String {
        let ip = self.settings.media_ip;
        match &self.negotiated {
            Some(n) => sdp::answer(n, ip, self.rtp_port, self.sdp_session, self.sdp_version),
            None => sdp::offer(ip, self.rtp_port, self.sdp_session, self.sdp_version),
        }
    }

    pub(super) fn with_sdp(resp: &mut rsip::Response, body: String) {
        resp.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        resp.body = body.into_bytes();
    }

    pub(super) fn dialog_headers(&self, resp: &mut rsip::Response) {
        if let Some(d) = &self.dialog {
            resp.headers.push(Header::Contact(rsip::headers::Contact::new(d.contact())));
        }
        resp.headers.push(Header::Allow(rsip::headers::Allow::new(crate::sip::transport::ALLOW)));
        resp.headers.push(Header::Supported(rsip::headers::Supported::new("replaces, norefersub")));
    }

    /// Sends the 200 with SDP and starts media when the offer was early.
    pub(super) fn answer(&mut self, now: Instant) {
        if self.phase != Phase::Inviting {
            return;
        }
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
        Self::with_sdp(&mut ok, self.sdp_body());
        self.out(Output::Respond { key: self.invite_key.clone(), response: ok });
        self.phase = Phase::Answered;
        let version = self.id.flow.as_ref().map(|f| f.version.clone()).unwrap_or_default();
        let id = &self.id;
        let row = new_call(Direction::Inbound, &id.call_id, &id.caller, &id.called, &id.flow_name, &version, self.started_unix_ms);
        self.recorder.started(row);
        self.recorder.answered_at(self.clock.unix_ms(now));
        if self.negotiated.is_some() {
            self.start_media();
        }
        self.publish();
    }

    /// The ACK for our 2xx: a late offer's answer, then the flow.
    pub(super) fn handle_ack(&mut self, ack: Request, now: Instant) {
        if self.phase != Phase::Answered {
            return;
        }
        if self.negotiated.is_none() {
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
        if let Some(n) = &self.negotiated {
            let direction = n.direction;
            self.media(media::leg::MediaCommand::SetDirection(direction));
        }
        self.phase = Phase::Confirmed;
        self.start_flow(now);
        self.publish();
    }

    /// Asks the edge to start the RTP leg with the negotiated codec.
    pub(super) fn start_media(&mut self) {
        let Some(n) = self.negotiated.clone() else { return };
        let config = self.rtp_config(&n);
        self.media_up = true;
        // Before the ACK we receive but send nothing: a spoofed INVITE that
        // never ACKs must not make us stream RTP at its SDP address for
        // 32 s (issue #15 item 3, reflection). The ACK turns sending on.
        let direction = if self.phase == Phase::Answered { receive_only(n.direction) } else { n.direction };
        self.out(Output::StartMedia { config, direction });
    }

    /// An RTP leg's parameters from a negotiation (random SSRC and origins,
    /// RFC 3550 §5.1).
    pub(super) fn rtp_config(&self, n: &crate::sip::sdp::Negotiated) -> RtpConfig {
        RtpConfig {
            codec: n.codec,
            payload_type: n.payload_type,
            telephone_event_pt: n.telephone_event,
            remote: n.remote,
            inactivity_timeout: self.settings.inactivity_timeout,
            ssrc: rand::random(),
            initial_sequence: rand::random(),
            initial_timestamp: rand::random(),
        }
    }

    /// The edge could not start the media leg.
    pub(crate) fn handle_media_failed(&mut self, why: &str, now: Instant) {
        tracing::error!(error = why, "media leg not started");
        self.media_up = false;
        self.hang_up(Outcome::Failed, "media engine unavailable");
        self.settle(now);
    }
}

/// `direction` without our sending half.
fn receive_only(direction: media::rtp_session::Direction) -> media::rtp_session::Direction {
    use media::rtp_session::Direction;
    match direction {
        Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
        Direction::SendOnly | Direction::Inactive => Direction::Inactive,
    }
}
