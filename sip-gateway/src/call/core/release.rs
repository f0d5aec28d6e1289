//! Leaving the media path once a warm transfer is bridged (`release:
//! refer`): the attended transfer of RFC 5589 §7 with RFC 3891 `Replaces`.
//! The gateway REFERs the caller's side (RFC 3515) to the agent's Contact
//! with `?Replaces=<the agent leg's dialog>` in the Refer-To URI (escaped
//! per RFC 3261 §19.1.1). The caller's UA then INVITEs the agent with that
//! Replaces; the agent ends our leg with a BYE (RFC 3891 §3) and the
//! NOTIFY's sipfrag says 2xx: we BYE the caller's leg and are out of the
//! media path. A refused REFER (4xx–6xx, Timer F), a failing sipfrag or no
//! final NOTIFY in `[transfer].notify_timeout` leave the bridge as it was.
//!
//! RFC 3891 §3: the Replaces header names the dialog as its recipient sees
//! it, so `to-tag` is the agent's tag (our remote tag) and `from-tag` ours.

use std::time::Instant;

use rsip::{Header, Method};

use super::transfer::{Transfer, TransferUpdate};
use super::{CallCore, Outcome};
use crate::metrics::metrics;
use crate::sip::dialog::Dialog;
use crate::sip::refer::{parse_sip_uri, ReferTo};
use crate::store::StepKind;

/// The Refer-To that hands the caller to the agent's UA in place of our
/// leg: the agent's Contact with `Replaces` as a URI header.
pub(super) fn replaces_refer_to(agent: &Dialog) -> Option<ReferTo> {
    let target = parse_sip_uri(&agent.remote_target).ok()?;
    let replaces = format!("{};to-tag={};from-tag={}", agent.call_id, agent.remote_tag, agent.local_tag);
    Some(ReferTo { target, headers: vec![("Replaces".into(), replaces)] })
}

impl CallCore {
    /// Bridged with `release: refer`: REFER with Replaces to the caller.
    pub(super) fn start_release(&mut self, now: Instant) {
        if !self.id.refer {
            tracing::info!("release: refer skipped: the caller's trunk does not take REFER; the bridge stays");
            return self.release_step("skipped: the caller's trunk does not take REFER ([[trunks]] refer = false); bridge kept", now);
        }
        let Some(refer_to) = self.agent.as_ref().and_then(|a| a.dialog()).and_then(replaces_refer_to) else {
            return self.release_step("skipped: no usable Contact in the agent's answer; bridge kept", now);
        };
        let Some(d) = self.dialog.as_mut() else { return };
        let mut req = d.request(Method::Refer);
        let cseq = d.local_cseq;
        let referred_by = format!("<sip:centralita@{}>", d.local_addr);
        req.headers.push(Header::Other("Refer-To".into(), refer_to.to_string()));
        req.headers.push(Header::Other("Referred-By".into(), referred_by));
        tracing::info!(refer_to = %refer_to, "bridged: REFER with Replaces to leave the media path");
        metrics().count_transfer("release_tried");
        self.send_request(req);
        self.transfer = Some(Transfer::release(cseq, now, self.settings.notify_timeout));
    }

    /// Is a REFER with Replaces in progress?
    pub(super) fn releasing(&self) -> bool {
        self.transfer.as_ref().is_some_and(Transfer::is_release)
    }

    /// The agent's BYE while the caller's side replaces our leg (RFC 3891
    /// §3 asks the agent to end the replaced dialog): its media leg closes,
    /// and the NOTIFY decides the call's end.
    pub(super) fn agent_left_while_releasing(&mut self) {
        tracing::info!("agent's leg replaced (BYE): waiting for the caller's NOTIFY");
        self.end_agent_leg();
        if let Some(a) = self.agent.as_mut() {
            a.left = true;
        }
    }

    /// Where the REFER with Replaces went.
    pub(super) fn release_update(&mut self, update: TransferUpdate, now: Instant) {
        match update {
            TransferUpdate::Pending => tracing::debug!("release progress"),
            TransferUpdate::Succeeded { code } => {
                self.transfer = None;
                tracing::info!(code, "released: caller and agent talk directly");
                metrics().count_transfer("released");
                self.release_step(&format!("released ({code}): caller and agent talk directly"), now);
                self.hang_up(Outcome::Transferred, "released to the agent");
            }
            TransferUpdate::Failed { code, reason } => {
                self.transfer = None;
                metrics().count_transfer("release_refused");
                let left = self.agent.as_ref().is_some_and(|a| a.left);
                let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
                if left {
                    tracing::warn!(%reason, "release failed after the agent left: ending the call");
                    self.release_step(&format!("failed{code}: {reason}; the agent had left"), now);
                    self.hang_up(Outcome::Transferred, "agent left during the release");
                } else {
                    tracing::info!(%reason, "release refused: the bridge stays");
                    self.release_step(&format!("refused{code}: {reason}; bridge kept"), now);
                }
            }
        }
    }

    fn release_step(&mut self, detail: &str, now: Instant) {
        let at = self.clock.unix_ms(now);
        let node = self.node.clone().unwrap_or_default();
        self.recorder.step(at, StepKind::Release, &node, detail.to_string(), None);
    }
}
