//! Call status callbacks (issue #13), like Twilio's `statusCallback` or
//! jambonz's `call_status_hook`: the flow's `status_callback:` (inbound
//! and outbound calls) or the `POST /v1/calls` request's (which wins)
//! hears `ringing`, `answered`, `transferred` and `completed`.
//!
//! The [`StatusHook`] watches the outputs the call's core already makes —
//! `Ringing` (a 180/183 received, or our 180), the records `Answered` and
//! `Transfer` (one that reached the agent), and `Ended` with the CDR's end
//! — so the core stays as it was, clock-free. Each status it wants becomes
//! an outbox row (`Record::Enqueue`, kind [`STATUS_OUTBOX_KIND`], the
//! callback's URL) queued through the store writer in order with the call's
//! records: the dispatcher POSTs it signed and retries it exactly like
//! `[events]` deliveries, and the `completed` row is committed before the
//! caller's BYE is answered (it is queued ahead of the durable end). One
//! idempotency key per call and status (`status:<call id>:<status>`), so a
//! status is sent at most once per call and receivers dedupe retries on it.
//!
//! # What a receiver gets
//!
//! ```json
//! {"call_id": "…", "status": "completed", "sequence": 3, "at": "2026-12-02T10:00:31.25Z",
//!  "direction": "outbound", "caller": "5550100", "called": "+5491155550000", "flow": "ventas",
//!  "started_at": "…", "answered_at": "…", "ended_at": "…", "duration_ms": 30120,
//!  "outcome": "completed", "hangup_side": "gateway", "hangup_cause": "completed", "sip_status": null,
//!  "idempotency_key": "status:…:completed"}
//! ```
//!
//! `ringing` adds `sip_status` (180 or 183); `transferred` adds `transfer`
//! (`mode`, `target`, `outcome`); `completed` adds the CDR's end: `outcome`
//! in the call records' words, `hangup_side`, `hangup_cause`, `duration_ms`
//! (answer to end, 0 when never answered) and, for an outbound call that
//! was never answered, `sip_status`, the final status it got (486, 503…),
//! null when none came (ring timeout, unreachable trunk). Every outbound
//! call ends with `completed`; an inbound call rejected before the answer
//! (no record) only if it rang.

use std::collections::BTreeSet;

use dialogs::{CallStatus, StatusCallback};
use serde_json::{json, Map, Value};

use super::core::{stored_outcome, CallIdentity, Output};
use crate::store::json_time::to_rfc3339;
use crate::store::{CallEnd, Direction, Record};

/// The outbox kind (and `X-Centralita-Event` header) of status callbacks.
pub const STATUS_OUTBOX_KIND: &str = "call_status";

/// One call's status callback: what it wants and what it has sent.
pub(crate) struct StatusHook {
    callback: StatusCallback,
    call_id: String,
    direction: Direction,
    caller: String,
    called: String,
    flow: String,
    started_at: i64,
    answered_at: Option<i64>,
    /// Statuses reached (sent or not wanted): each at most once.
    reached: BTreeSet<CallStatus>,
    /// Statuses sent so far (the payload's `sequence`).
    sent: u32,
}

impl StatusHook {
    /// A hook for the call `id`, which started at `started_at` (Unix ms;
    /// the CDR's own start replaces it when the core writes the row).
    pub(crate) fn new(callback: StatusCallback, id: &CallIdentity, direction: Direction, started_at: i64) -> Self {
        StatusHook {
            callback,
            call_id: id.call_id.clone(),
            direction,
            caller: id.caller.clone(),
            called: id.called.clone(),
            flow: id.flow_name.clone(),
            started_at,
            answered_at: None,
            reached: BTreeSet::new(),
            sent: 0,
        }
    }

    /// Looks at one output of the call's core (before the edge performs
    /// it); returns the outbox row to queue after it, if this output is a
    /// status the callback wants. `now` (Unix ms) stamps the `completed` of
    /// a call that has no record (it rang, then was cancelled).
    pub(crate) fn observe(&mut self, output: &Output, now: i64) -> Option<Record> {
        match output {
            Output::Ringing { code, at } => self.emit(CallStatus::Ringing, *at, json!({ "sip_status": code })),
            Output::Record(Record::Call(row)) => {
                self.started_at = row.started_at;
                None
            }
            Output::Record(Record::Answered { at, .. }) => {
                self.answered_at.get_or_insert(*at);
                self.emit(CallStatus::Answered, *at, json!({}))
            }
            Output::Record(Record::Transfer(t)) if t.ok => {
                let at = t.tried_at + t.answered_ms.unwrap_or(0);
                let transfer = json!({ "mode": t.mode.as_str(), "target": t.target, "outcome": t.outcome });
                self.emit(CallStatus::Transferred, at, json!({ "transfer": transfer }))
            }
            Output::Ended { outcome, end, .. } => {
                let end = match end {
                    Some(end) => end.clone(),
                    // No CDR: an outbound call that never left (no RTP
                    // port) still ends what `POST /v1/calls` started; an
                    // inbound call rejected or cancelled before the answer
                    // owes an end only if it told the receiver something
                    // (it rang).
                    None if self.sent > 0 || self.direction == Direction::Outbound => {
                        let (stored, side) = stored_outcome(*outcome);
                        CallEnd {
                            call_id: self.call_id.clone(),
                            at: now,
                            outcome: stored,
                            hangup_side: side,
                            hangup_cause: Some(outcome.label().to_string()),
                        }
                    }
                    None => return None,
                };
                let extra = self.completed(&end);
                self.emit(CallStatus::Completed, end.at, extra)
            }
            _ => None,
        }
    }

    /// `completed`'s fields: the CDR's end and the call's duration.
    fn completed(&self, end: &CallEnd) -> Value {
        let duration_ms = self.answered_at.map_or(0, |a| (end.at - a).max(0));
        // An outbound call that never connected: the final SIP status, as
        // the record's cause starts with it ("486 Busy Here").
        let sip_status = (self.direction == Direction::Outbound && self.answered_at.is_none())
            .then(|| end.hangup_cause.as_deref().and_then(leading_status))
            .flatten();
        json!({
            "answered_at": self.answered_at.and_then(to_rfc3339),
            "ended_at": to_rfc3339(end.at),
            "duration_ms": duration_ms,
            "outcome": end.outcome.as_str(),
            "hangup_side": end.hangup_side.as_str(),
            "hangup_cause": end.hangup_cause,
            "sip_status": sip_status,
        })
    }

    fn emit(&mut self, status: CallStatus, at: i64, extra: Value) -> Option<Record> {
        if !self.reached.insert(status) || !self.callback.wants(status) {
            return None;
        }
        self.sent += 1;
        let key = format!("status:{}:{status}", self.call_id);
        let mut body = Map::new();
        body.insert("call_id".into(), json!(self.call_id));
        body.insert("status".into(), json!(status.as_str()));
        body.insert("sequence".into(), json!(self.sent));
        body.insert("at".into(), json!(to_rfc3339(at)));
        body.insert("direction".into(), json!(self.direction.as_str()));
        body.insert("caller".into(), json!(self.caller));
        body.insert("called".into(), json!(self.called));
        body.insert("flow".into(), json!(self.flow));
        body.insert("started_at".into(), json!(to_rfc3339(self.started_at)));
        if let Value::Object(extra) = extra {
            body.extend(extra);
        }
        body.insert("idempotency_key".into(), json!(key));
        tracing::debug!(%status, "status callback queued");
        Some(Record::Enqueue {
            kind: STATUS_OUTBOX_KIND.into(),
            payload: Value::Object(body),
            key,
            at,
            url: Some(self.callback.url.clone()),
        })
    }
}

/// `486` from "486 Busy Here"; None when the text does not start with a
/// SIP status.
fn leading_status(cause: &str) -> Option<u16> {
    let code = cause.split_whitespace().next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten().filter(|c| (300..700).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::core::Outcome;
    use crate::store::{HangupSide, NewCall, Outcome as StoredOutcome, Transfer, TransferMode};

    const T0: i64 = 1_764_669_600_000; // 2025-12-02T10:00:00Z

    fn id() -> CallIdentity {
        CallIdentity {
            call_id: "c1@127.0.0.1".into(),
            caller: "5550100".into(),
            caller_as_sent: "5550100".into(),
            called: "+5491155550000".into(),
            flow_name: "ventas".into(),
            flow: None,
            context_url: String::new(),
            refer: true,
        }
    }

    fn hook(events: &[CallStatus], direction: Direction) -> StatusHook {
        let cb = StatusCallback { url: "http://127.0.0.1:9/status".into(), events: events.to_vec() };
        StatusHook::new(cb, &id(), direction, T0 - 5)
    }

    fn ended(outcome: Outcome, end: Option<CallEnd>) -> Output {
        Output::Ended { outcome, end, bye: None }
    }

    fn end(at: i64, outcome: StoredOutcome, side: HangupSide, cause: &str) -> CallEnd {
        CallEnd { call_id: "c1@127.0.0.1".into(), at, outcome, hangup_side: side, hangup_cause: Some(cause.into()) }
    }

    /// The payloads of the rows `outputs` make, checking each row's shape.
    fn run(hook: &mut StatusHook, outputs: &[Output]) -> Vec<Value> {
        outputs
            .iter()
            .filter_map(|o| hook.observe(o, T0 + 1))
            .map(|r| match r {
                Record::Enqueue { kind, payload, key, url, .. } => {
                    assert_eq!(kind, STATUS_OUTBOX_KIND);
                    assert_eq!(url.as_deref(), Some("http://127.0.0.1:9/status"));
                    assert_eq!(key, format!("status:c1@127.0.0.1:{}", payload["status"].as_str().unwrap()));
                    assert_eq!(payload["idempotency_key"], key.as_str());
                    payload
                }
                other => panic!("not an outbox row: {other:?}"),
            })
            .collect()
    }

    fn row(started_at: i64) -> Output {
        let call = NewCall {
            id: "c1@127.0.0.1".into(),
            sip_call_id: "c1@127.0.0.1".into(),
            caller: "5550100".into(),
            called: "+5491155550000".into(),
            flow: "ventas".into(),
            flow_version: "1".into(),
            direction: Direction::Outbound,
            started_at,
            ab_variant: None,
        };
        Output::Record(Record::Call(call))
    }

    #[test]
    fn an_answered_outbound_call_rings_answers_and_completes_with_its_duration() {
        let mut h = hook(&CallStatus::ALL, Direction::Outbound);
        let outputs = [
            row(T0),
            Output::Ringing { code: 180, at: T0 + 1 },
            Output::Ringing { code: 183, at: T0 + 2 },
            Output::Record(Record::Answered { call_id: "c1@127.0.0.1".into(), at: T0 + 2_000 }),
            Output::Record(Record::Answered { call_id: "c1@127.0.0.1".into(), at: T0 + 9_000 }),
            ended(Outcome::Completed, Some(end(T0 + 32_250, StoredOutcome::Completed, HangupSide::Gateway, "completed"))),
        ];
        let sent = run(&mut h, &outputs);
        let statuses: Vec<&str> = sent.iter().map(|p| p["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["ringing", "answered", "completed"], "each status once");
        assert_eq!(sent.iter().map(|p| p["sequence"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
        let (ringing, answered, completed) = (&sent[0], &sent[1], &sent[2]);
        assert_eq!(ringing["sip_status"], 180);
        assert_eq!(ringing["at"], "2025-12-02T10:00:00.001Z");
        assert_eq!(answered["at"], "2025-12-02T10:00:02Z");
        for p in &sent {
            assert_eq!(
                (p["direction"].as_str(), p["flow"].as_str(), p["called"].as_str()),
                (Some("outbound"), Some("ventas"), Some("+5491155550000"))
            );
            assert_eq!(p["started_at"], "2025-12-02T10:00:00Z", "the CDR's start");
        }
        assert_eq!(completed["duration_ms"], 30_250);
        assert_eq!((completed["outcome"].as_str(), completed["hangup_side"].as_str()), (Some("completed"), Some("gateway")));
        assert_eq!(completed["answered_at"], "2025-12-02T10:00:02Z");
        assert_eq!(completed["ended_at"], "2025-12-02T10:00:32.25Z");
        assert!(completed["sip_status"].is_null(), "answered: no failure status");
    }

    #[test]
    fn a_busy_callee_completes_with_the_sip_status_and_no_duration() {
        let mut h = hook(&[CallStatus::Completed], Direction::Outbound);
        let outputs = [
            row(T0),
            Output::Ringing { code: 180, at: T0 + 1 },
            ended(Outcome::Busy, Some(end(T0 + 3_000, StoredOutcome::Busy, HangupSide::Caller, "486 Busy Here"))),
        ];
        let sent = run(&mut h, &outputs);
        assert_eq!(sent.len(), 1, "only `completed` was asked for: {sent:?}");
        let c = &sent[0];
        assert_eq!(
            (c["status"].as_str(), c["outcome"].as_str(), c["hangup_side"].as_str()),
            (Some("completed"), Some("busy"), Some("caller"))
        );
        assert_eq!((c["sip_status"].as_u64(), c["duration_ms"].as_u64(), c["sequence"].as_u64()), (Some(486), Some(0), Some(1)));
        assert!(c["answered_at"].is_null());
        assert_eq!(c["hangup_cause"], "486 Busy Here");
        let mut h = hook(&CallStatus::ALL, Direction::Outbound);
        let unreachable =
            [ended(Outcome::Failed, Some(end(T0 + 1, StoredOutcome::Failed, HangupSide::Gateway, "no response from the trunk")))];
        assert!(run(&mut h, &unreachable)[0]["sip_status"].is_null());
    }

    #[test]
    fn a_transfer_that_reached_the_agent_is_transferred_then_completed() {
        let mut h = hook(&CallStatus::ALL, Direction::Inbound);
        let transfer = |ok: bool, outcome: &str| {
            Output::Record(Record::Transfer(Transfer {
                call_id: "c1@127.0.0.1".into(),
                target: "sip:agents@127.0.0.1:5070".into(),
                mode: TransferMode::Blind,
                result_code: Some(if ok { 200 } else { 503 }),
                tried_at: T0 + 10_000,
                answered_ms: ok.then_some(1_500),
                ok,
                outcome: Some(outcome.into()),
                ring_ms: None,
                bridge_ms: None,
            }))
        };
        let outputs = [
            Output::Record(Record::Answered { call_id: "c1@127.0.0.1".into(), at: T0 }),
            transfer(false, "failed"),
            transfer(true, "referred"),
            ended(Outcome::Transferred, Some(end(T0 + 12_000, StoredOutcome::Transferred, HangupSide::Gateway, "transferred"))),
        ];
        let sent = run(&mut h, &outputs);
        let statuses: Vec<&str> = sent.iter().map(|p| p["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["answered", "transferred", "completed"], "a failed attempt is not `transferred`");
        assert_eq!(sent[1]["transfer"], json!({"mode": "blind", "target": "sip:agents@127.0.0.1:5070", "outcome": "referred"}));
        assert_eq!(sent[1]["at"], "2025-12-02T10:00:11.5Z");
        assert_eq!((sent[2]["outcome"].as_str(), sent[2]["duration_ms"].as_u64()), (Some("transferred"), Some(12_000)));
        assert_eq!(sent[2]["direction"], "inbound");
    }

    #[test]
    fn a_call_without_a_record_completes_only_if_it_rang() {
        let mut quiet = hook(&CallStatus::ALL, Direction::Inbound);
        assert!(run(&mut quiet, &[ended(Outcome::Rejected, None)]).is_empty(), "rejected at once: nothing to tell");
        let mut never_left = hook(&CallStatus::ALL, Direction::Outbound);
        let sent = run(&mut never_left, &[ended(Outcome::Failed, None)]);
        assert_eq!((sent.len(), sent[0]["outcome"].as_str(), sent[0]["hangup_side"].as_str()), (1, Some("failed"), Some("gateway")));
        let mut rang = hook(&CallStatus::ALL, Direction::Inbound);
        let sent = run(&mut rang, &[Output::Ringing { code: 180, at: T0 }, ended(Outcome::Cancelled, None)]);
        assert_eq!(sent.len(), 2);
        assert_eq!((sent[1]["outcome"].as_str(), sent[1]["hangup_side"].as_str()), (Some("failed"), Some("caller")));
        assert_eq!(sent[1]["hangup_cause"], "cancelled");
    }

    #[test]
    fn sip_statuses_are_read_from_the_front_of_a_cause() {
        assert_eq!(leading_status("486 Busy Here"), Some(486));
        assert_eq!(leading_status("503 Service Unavailable"), Some(503));
        assert_eq!(leading_status("no response from the trunk (Timer B)"), None);
        assert_eq!(leading_status("200 OK"), None);
        assert_eq!(leading_status("4860 x"), None);
    }
}
