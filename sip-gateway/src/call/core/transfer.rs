//! Transfer to a person (DESIGN.md §5). Today blind: REFER (RFC 3515 §2.4)
//! in the caller's dialog, the context embedded in the Refer-To URI as
//! headers (RFC 3261 §19.1.1: User-to-User per RFC 7433, `X-Centralita-*`,
//! the context URL), progress from the NOTIFY message/sipfrag bodies
//! (§2.4.5). A 2xx sipfrag is success (the call then BYEs the caller's
//! leg); a 4xx–6xx REFER answer or sipfrag, a REFER without response
//! (Timer F) or no final NOTIFY within `[transfer].notify_timeout` is
//! failure, and the flow's `failed` runs.
//!
//! [`Transfer`] is the state machine alone (inputs with `now`, an outcome
//! out, the next timeout); the `CallCore` methods below wire it to the
//! dialog, the runner and the records.

use std::time::{Duration, Instant};

use dialogs::{CallContext, FlowEvent};
use rsip::{Header, Method};

use super::{CallCore, Outcome, Output};
use crate::metrics::metrics;
use crate::sip::refer::{parse_sip_uri, sipfrag_status, user_to_user, ReferTo};
use crate::store::TransferMode;

/// Where a transfer stands after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferUpdate {
    /// Still going (202, a 1xx sipfrag).
    Pending,
    /// The target took the call (`code` from the sipfrag).
    Succeeded { code: u16 },
    /// It failed; `code` when a status said so.
    Failed { code: Option<u16>, reason: String },
}

/// Which step a blind transfer is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlindState {
    /// REFER sent, no final response yet.
    Referred,
    /// REFER accepted (2xx): waiting for the final NOTIFY.
    Accepted,
    Done,
}

/// A transfer in progress.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// The REFER's CSeq number: its responses and timeout are matched on it.
    refer_cseq: u32,
    state: BlindState,
    /// No final NOTIFY by then: failed.
    deadline: Instant,
    /// A warm transfer's `release: refer` (REFER with Replaces), not a
    /// blind transfer: failure keeps the bridge (`release.rs`).
    release: bool,
}

impl Transfer {
    /// A REFER with CSeq `refer_cseq` has just been sent.
    pub(crate) fn blind(refer_cseq: u32, now: Instant, notify_timeout: Duration) -> Self {
        Transfer { refer_cseq, state: BlindState::Referred, deadline: now + notify_timeout, release: false }
    }

    /// A REFER with Replaces (CSeq `refer_cseq`) has just been sent to
    /// leave a bridge: the same progress rules, another outcome.
    pub(crate) fn release(refer_cseq: u32, now: Instant, notify_timeout: Duration) -> Self {
        Transfer { release: true, ..Self::blind(refer_cseq, now, notify_timeout) }
    }

    pub(crate) fn is_release(&self) -> bool {
        self.release
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        (self.state != BlindState::Done).then_some(self.deadline)
    }

    fn finish(&mut self, update: TransferUpdate) -> TransferUpdate {
        if update != TransferUpdate::Pending {
            self.state = BlindState::Done;
        }
        update
    }

    /// A final or provisional response to a request with CSeq `cseq`.
    pub(crate) fn handle_refer_response(&mut self, cseq: u32, code: u16) -> Option<TransferUpdate> {
        if cseq != self.refer_cseq || self.state != BlindState::Referred {
            return None;
        }
        Some(match code {
            100..=199 => TransferUpdate::Pending,
            200..=299 => {
                self.state = BlindState::Accepted;
                TransferUpdate::Pending
            }
            _ => self.finish(TransferUpdate::Failed { code: Some(code), reason: format!("REFER rejected with {code}") }),
        })
    }

    /// A NOTIFY's sipfrag body. RFC 3515 §2.4.4 lets the NOTIFY overtake
    /// the REFER's 2xx, so a NOTIFY counts from `Referred` too.
    pub(crate) fn handle_notify(&mut self, body: &[u8]) -> Option<TransferUpdate> {
        if self.state == BlindState::Done {
            return None;
        }
        match sipfrag_status(body) {
            Ok(code) if code < 200 => Some(TransferUpdate::Pending),
            Ok(code) if code < 300 => Some(self.finish(TransferUpdate::Succeeded { code })),
            Ok(code) => Some(self.finish(TransferUpdate::Failed { code: Some(code), reason: format!("transfer target answered {code}") })),
            Err(e) => {
                tracing::warn!(error = %e, "NOTIFY with unreadable sipfrag");
                None
            }
        }
    }

    /// The REFER's client transaction timed out (Timer F).
    pub(crate) fn handle_request_timeout(&mut self, cseq: u32) -> Option<TransferUpdate> {
        (cseq == self.refer_cseq && self.state == BlindState::Referred)
            .then(|| self.finish(TransferUpdate::Failed { code: None, reason: "REFER got no response".into() }))
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<TransferUpdate> {
        (self.state != BlindState::Done && now >= self.deadline)
            .then(|| self.finish(TransferUpdate::Failed { code: None, reason: "no final NOTIFY in time".into() }))
    }
}

impl CallCore {
    /// The flow asked for a transfer: REFER with the context (DESIGN.md §5).
    pub(super) fn start_transfer(&mut self, to: &str, context: CallContext, now: Instant) {
        let at = self.clock.unix_ms(now);
        let target = match parse_sip_uri(to) {
            Ok(t) => t,
            Err(e) => return self.transfer_update(TransferUpdate::Failed { code: None, reason: format!("bad transfer target: {e}") }, now),
        };
        self.recorder.transfer_tried(to, TransferMode::Blind, at);
        let intent = context.intents.last().map(|i| i.intent.clone()).unwrap_or_default();
        self.out(Output::Context(super::warm::context_json(&context, "blind", None)));
        let ctx_url = self.id.context_url.clone();
        let uui = format!("call={};intent={}", self.id.call_id, intent);
        let refer_to = ReferTo {
            target,
            headers: vec![
                ("User-to-User".into(), user_to_user(uui.as_bytes(), "centralita")),
                ("X-Centralita-Call-Id".into(), self.id.call_id.clone()),
                ("X-Centralita-Intent".into(), intent),
                ("X-Centralita-Context-Url".into(), ctx_url),
            ],
        };
        let Some(d) = self.dialog.as_mut() else {
            return self.transfer_update(TransferUpdate::Failed { code: None, reason: "no dialog to send REFER in".into() }, now);
        };
        let mut req = d.request(Method::Refer);
        let cseq = d.local_cseq;
        let referred_by = format!("<sip:centralita@{}>", d.local_addr);
        req.headers.push(Header::Other("Refer-To".into(), refer_to.to_string()));
        req.headers.push(Header::Other("Referred-By".into(), referred_by));
        tracing::info!(refer_to = %refer_to, "sending REFER");
        metrics().count_transfer("tried");
        self.send_request(req);
        self.transfer = Some(Transfer::blind(cseq, now, self.settings.notify_timeout));
        self.publish();
    }

    pub(super) fn transfer_response(&mut self, cseq: u32, code: u16, now: Instant) {
        if let Some(u) = self.transfer.as_mut().and_then(|t| t.handle_refer_response(cseq, code)) {
            if (200..300).contains(&code) {
                tracing::info!(code, "REFER accepted; waiting for NOTIFY");
            }
            self.transfer_update(u, now);
        }
    }

    pub(super) fn transfer_notify(&mut self, body: &[u8], now: Instant) {
        if let Some(u) = self.transfer.as_mut().and_then(|t| t.handle_notify(body)) {
            self.transfer_update(u, now);
        }
    }

    pub(super) fn transfer_request_timeout(&mut self, cseq: u32, now: Instant) {
        if let Some(u) = self.transfer.as_mut().and_then(|t| t.handle_request_timeout(cseq)) {
            self.transfer_update(u, now);
        }
    }

    pub(super) fn transfer_timeout(&mut self, now: Instant) {
        if let Some(u) = self.transfer.as_mut().and_then(|t| t.handle_timeout(now)) {
            self.transfer_update(u, now);
        }
    }

    fn transfer_update(&mut self, update: TransferUpdate, now: Instant) {
        if self.releasing() {
            return self.release_update(update, now);
        }
        let at = self.clock.unix_ms(now);
        match update {
            TransferUpdate::Pending => tracing::debug!("transfer progress"),
            TransferUpdate::Succeeded { code } => {
                tracing::info!(code, "transfer succeeded");
                self.recorder.transfer_result(Some(code), true, "referred", None, at);
                self.transfer = None;
                metrics().count_transfer("succeeded");
                self.flow_event(FlowEvent::TransferAccepted, now);
                self.hang_up(Outcome::Transferred, "transferred");
            }
            TransferUpdate::Failed { code, reason } => {
                tracing::warn!(%reason, "transfer failed");
                self.recorder.transfer_result(code, false, "failed", None, at);
                metrics().count_transfer("failed");
                self.transfer = None;
                if let Some((to, context, options)) = self.fallback.take() {
                    tracing::info!("REFER failed: bridging to the agent instead (fallback: bridge)");
                    return self.start_warm(&to, context, options, now);
                }
                self.flow_event(FlowEvent::TransferFailed { reason }, now);
                self.publish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(32);

    #[test]
    fn accepted_then_notify_200_succeeds() {
        let now = Instant::now();
        let mut t = Transfer::blind(7, now, T);
        assert_eq!(t.handle_refer_response(6, 202), None, "another request's response");
        assert_eq!(t.handle_refer_response(7, 202), Some(TransferUpdate::Pending));
        assert_eq!(t.handle_notify(b"SIP/2.0 100 Trying\r\n"), Some(TransferUpdate::Pending));
        assert_eq!(t.handle_notify(b"SIP/2.0 200 OK\r\n"), Some(TransferUpdate::Succeeded { code: 200 }));
        assert_eq!(t.poll_timeout(), None);
        assert_eq!(t.handle_notify(b"SIP/2.0 503 Nope\r\n"), None, "done: later NOTIFYs change nothing");
    }

    #[test]
    fn refer_rejected_fails_with_its_code() {
        let mut t = Transfer::blind(7, Instant::now(), T);
        assert_eq!(t.handle_refer_response(7, 100), Some(TransferUpdate::Pending));
        let u = t.handle_refer_response(7, 603);
        assert_eq!(u, Some(TransferUpdate::Failed { code: Some(603), reason: "REFER rejected with 603".into() }));
    }

    #[test]
    fn notify_may_overtake_the_202() {
        let mut t = Transfer::blind(3, Instant::now(), T);
        assert_eq!(
            t.handle_notify(b"SIP/2.0 486 Busy Here"),
            Some(TransferUpdate::Failed { code: Some(486), reason: "transfer target answered 486".into() })
        );
        assert_eq!(t.handle_refer_response(3, 202), None, "already done");
    }

    #[test]
    fn no_final_notify_times_out_at_the_deadline() {
        let start = Instant::now();
        let mut t = Transfer::blind(1, start, T);
        t.handle_refer_response(1, 202);
        assert_eq!(t.poll_timeout(), Some(start + T));
        assert_eq!(t.handle_timeout(start + T - Duration::from_millis(1)), None);
        assert!(matches!(t.handle_timeout(start + T), Some(TransferUpdate::Failed { code: None, .. })));
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn refer_without_response_fails_but_not_after_acceptance() {
        let mut t = Transfer::blind(5, Instant::now(), T);
        assert!(matches!(t.handle_request_timeout(5), Some(TransferUpdate::Failed { code: None, .. })));
        let mut t = Transfer::blind(5, Instant::now(), T);
        t.handle_refer_response(5, 202);
        assert_eq!(t.handle_request_timeout(5), None);
        assert_eq!(t.handle_notify(b"garbage"), None);
    }
}
