//! The call's record in the store (issue #6, DESIGN.md §6): what the core
//! hands to the store writer as the call goes — the CDR row at answer,
//! steps, transfers, consents, survey answers, business events, A/B
//! assignments — and the end of the call, which the edge commits durably
//! before the caller's BYE is answered, so a call the trunk saw finish is
//! never missing after a crash.
//!
//! Pure: records are queued here, in order, with the times the core passes
//! in; the core drains them into `Output::Record` after each input.

use std::collections::VecDeque;

use crate::store::{
    AbAssignment, BusinessEvent, CallEnd, Consent, Direction, EventKind, HangupSide, NewCall, Outcome as StoredOutcome, Record, Step,
    StepKind, SurveyAnswer, SurveyKind, Transfer, TransferMode,
};

use super::Outcome;

/// One call's records and step counter.
pub(crate) struct CallRecorder {
    call_id: String,
    caller: String,
    /// True once the CDR row exists (written at answer).
    written: bool,
    step_seq: i64,
    event_seq: u32,
    /// Transfer in flight: (target, mode, tried_at).
    transfer: Option<(String, TransferMode, i64)>,
    /// A bridged warm transfer: (its tried_at, when the bridge started).
    bridged: Option<(i64, i64)>,
    pending: VecDeque<Record>,
}

impl CallRecorder {
    pub(crate) fn new(call_id: &str, caller: &str) -> Self {
        CallRecorder {
            call_id: call_id.to_string(),
            caller: caller.to_string(),
            written: false,
            step_seq: 0,
            event_seq: 0,
            transfer: None,
            bridged: None,
            pending: VecDeque::new(),
        }
    }

    fn put(&mut self, record: Record) {
        self.pending.push_back(record);
    }

    pub(crate) fn poll_record(&mut self) -> Option<Record> {
        self.pending.pop_front()
    }

    /// The CDR row, at answer (inbound) or when the INVITE goes out
    /// (outbound, so that no-answer and busy are recorded too).
    pub(crate) fn started(&mut self, call: NewCall) {
        if !self.written {
            self.written = true;
            self.put(Record::Call(call));
        }
    }

    pub(crate) fn answered_at(&mut self, at: i64) {
        if self.written {
            self.put(Record::Answered { call_id: self.call_id.clone(), at });
        }
    }

    pub(crate) fn first_prompt(&mut self, at: i64) {
        if self.written {
            self.put(Record::FirstPrompt { call_id: self.call_id.clone(), at });
        }
    }

    pub(crate) fn step(&mut self, at: i64, kind: StepKind, node: &str, detail: String, confidence: Option<f64>) {
        if !self.written {
            return;
        }
        self.step_seq += 1;
        let step = Step {
            call_id: self.call_id.clone(),
            seq: self.step_seq,
            at,
            kind,
            node: node.to_string(),
            detail,
            confidence,
            duration_ms: None,
        };
        self.put(Record::Step(step));
    }

    pub(crate) fn transfer_tried(&mut self, target: &str, mode: TransferMode, at: i64) {
        self.transfer = Some((target.to_string(), mode, at));
    }

    /// The transfer's result: `code` from the NOTIFY sipfrag, the REFER's
    /// or the agent leg's final response; None on timeout. `outcome` names
    /// it (`referred`, `bridged`, `no_answer`, …); `ring_ms`, warm, is the
    /// agent's ringing time. Once per attempt.
    pub(crate) fn transfer_result(&mut self, code: Option<u16>, ok: bool, outcome: &str, ring_ms: Option<i64>, at: i64) {
        let Some((target, mode, tried_at)) = self.transfer.take() else { return };
        if !self.written {
            return;
        }
        let answered_ms = ok.then(|| at - tried_at);
        if ok && mode == TransferMode::Warm {
            self.bridged = Some((tried_at, at));
        }
        let transfer = Transfer {
            call_id: self.call_id.clone(),
            target,
            mode,
            result_code: code.map(i64::from),
            tried_at,
            answered_ms,
            ok,
            outcome: Some(outcome.to_string()),
            ring_ms,
            bridge_ms: None,
        };
        self.put(Record::Transfer(transfer));
    }

    /// The call ends: a bridge's duration goes on its transfer's row.
    fn bridge_ended(&mut self, at: i64) {
        if let Some((tried_at, bridged_at)) = self.bridged.take() {
            self.put(Record::BridgeEnded { call_id: self.call_id.clone(), tried_at, bridge_ms: at - bridged_at });
        }
    }

    pub(crate) fn consent(&mut self, purpose: &str, granted: bool, at: i64) {
        if self.written {
            let consent = Consent { call_id: self.call_id.clone(), caller: self.caller.clone(), purpose: purpose.to_string(), granted, at };
            self.put(Record::Consent(consent));
        }
    }

    pub(crate) fn survey(&mut self, kind: SurveyKind, score: i64, at: i64) {
        if self.written {
            self.put(Record::Survey(SurveyAnswer { call_id: self.call_id.clone(), kind, score, at }));
        }
    }

    pub(crate) fn business_event(
        &mut self,
        kind: EventKind,
        value: Option<f64>,
        currency: Option<String>,
        payload: serde_json::Value,
        at: i64,
    ) {
        self.event_seq += 1;
        let event = BusinessEvent {
            call_id: self.written.then(|| self.call_id.clone()),
            caller: self.caller.clone(),
            kind,
            value,
            currency,
            payload,
            at,
            // One key per event of this call: a replayed write stays one event.
            idempotency_key: format!("call:{}:{}", self.call_id, self.event_seq),
        };
        self.put(Record::Event(event));
    }

    pub(crate) fn variant(&mut self, experiment: &str, variant: &str) {
        if self.written {
            let ab = AbAssignment { call_id: self.call_id.clone(), experiment: experiment.to_string(), variant: variant.to_string() };
            self.put(Record::Ab(ab));
        }
    }

    /// The end record, None for a call that never got a CDR row (never
    /// answered inbound).
    /// `cause` says more than the outcome (an outbound call's SIP status).
    pub(crate) fn ended(&mut self, outcome: Outcome, cause: Option<&str>, at: i64) -> Option<CallEnd> {
        if !self.written {
            return None;
        }
        self.bridge_ended(at);
        let (stored, side) = stored_outcome(outcome);
        let hangup_cause = Some(cause.map_or_else(|| outcome.label().to_string(), str::to_string));
        Some(CallEnd { call_id: self.call_id.clone(), at, outcome: stored, hangup_side: side, hangup_cause })
    }
}

/// Our outcome in the store's words (DESIGN §6: containment = neither
/// transferred nor failed) and who hung up.
pub(crate) fn stored_outcome(outcome: Outcome) -> (StoredOutcome, HangupSide) {
    match outcome {
        Outcome::Completed => (StoredOutcome::Completed, HangupSide::Gateway),
        Outcome::Transferred => (StoredOutcome::Transferred, HangupSide::Gateway),
        Outcome::CallerHangup => (StoredOutcome::Abandoned, HangupSide::Caller),
        Outcome::Shutdown => (StoredOutcome::Interrupted, HangupSide::Gateway),
        Outcome::RtpTimeout | Outcome::NoAck | Outcome::Failed => (StoredOutcome::Failed, HangupSide::Gateway),
        Outcome::Rejected | Outcome::Cancelled => (StoredOutcome::Failed, HangupSide::Caller),
        Outcome::NoAnswer => (StoredOutcome::NoAnswer, HangupSide::Gateway),
        Outcome::Busy => (StoredOutcome::Busy, HangupSide::Caller),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_call(
    direction: Direction,
    id: &str,
    caller: &str,
    called: &str,
    flow: &str,
    flow_version: &str,
    started_at: i64,
) -> NewCall {
    NewCall {
        id: id.to_string(),
        sip_call_id: id.to_string(),
        caller: caller.to_string(),
        called: called.to_string(),
        flow: flow.to_string(),
        flow_version: flow_version.to_string(),
        direction,
        started_at,
        ab_variant: None,
    }
}

pub(crate) fn event_kind(kind: dialogs::EventKind) -> EventKind {
    match kind {
        dialogs::EventKind::Lead => EventKind::Lead,
        dialogs::EventKind::Order => EventKind::Order,
        dialogs::EventKind::Recontact => EventKind::Recontact,
    }
}
