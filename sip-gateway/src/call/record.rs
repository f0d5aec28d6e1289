//! The call's record in the store (issue #6, DESIGN.md §6): what the call
//! task hands to the [`StoreWriter`] as the call goes — the CDR row at
//! answer, steps, transfers, consents, survey answers, business events, A/B
//! assignments — and the end of the call, which is awaited until durable
//! (the writer acks after COMMIT) before the caller's BYE is answered, so a
//! call the trunk saw finish is never missing after a crash.
//!
//! Nothing here blocks the call on the database: the call's handlers (plain
//! functions) queue records locally, in order; the call loop hands them to
//! the writer's bounded channel after each event (`flush`, which waits
//! only for room in that queue), and the one durable wait is bounded by
//! [`END_DURABLE_WAIT`].

use std::collections::VecDeque;
use std::time::Duration;

use crate::store::{
    AbAssignment, BusinessEvent, CallEnd, Consent, Direction, EventKind, HangupSide, NewCall, Outcome as StoredOutcome, Record, Step,
    StepKind, StoreWriter, SurveyAnswer, SurveyKind, Transfer, TransferMode,
};

use super::Outcome;

/// Longest wait for the end record's COMMIT before answering BYE anyway.
pub(super) const END_DURABLE_WAIT: Duration = Duration::from_secs(2);

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One call's writer handle and step counter.
pub(super) struct CallRecorder {
    writer: StoreWriter,
    call_id: String,
    caller: String,
    /// True once the CDR row exists (written at answer).
    written: bool,
    step_seq: i64,
    event_seq: u32,
    /// REFER in flight: (target, mode, tried_at).
    transfer: Option<(String, TransferMode, i64)>,
    pending: VecDeque<Record>,
}

impl CallRecorder {
    pub(super) fn new(writer: StoreWriter, call_id: &str, caller: &str) -> Self {
        CallRecorder {
            writer,
            call_id: call_id.to_string(),
            caller: caller.to_string(),
            written: false,
            step_seq: 0,
            event_seq: 0,
            transfer: None,
            pending: VecDeque::new(),
        }
    }

    fn put(&mut self, record: Record) {
        self.pending.push_back(record);
    }

    /// Hands the queued records to the writer, in order.
    pub(super) async fn flush(&mut self) {
        while let Some(record) = self.pending.pop_front() {
            if let Err(e) = self.writer.send(record).await {
                crate::metrics::metrics().store_failures.inc();
                tracing::error!(error = %e, "call record not queued");
            }
        }
    }

    /// The CDR row, at answer (inbound) or when the INVITE goes out
    /// (outbound, so that no-answer and busy are recorded too).
    pub(super) fn started(&mut self, call: NewCall) {
        if !self.written {
            self.written = true;
            self.put(Record::Call(call));
        }
    }

    pub(super) fn answered_at(&mut self, at: i64) {
        if self.written {
            self.put(Record::Answered { call_id: self.call_id.clone(), at });
        }
    }

    /// Inbound: the CDR row and its answer time, at answer.
    pub(super) fn answered(&mut self, call: NewCall, at: i64) {
        self.started(call);
        self.answered_at(at);
    }

    pub(super) fn first_prompt(&mut self, at: i64) {
        if self.written {
            self.put(Record::FirstPrompt { call_id: self.call_id.clone(), at });
        }
    }

    pub(super) fn step(&mut self, kind: StepKind, node: &str, detail: String, confidence: Option<f64>) {
        if !self.written {
            return;
        }
        self.step_seq += 1;
        let step = Step {
            call_id: self.call_id.clone(),
            seq: self.step_seq,
            at: unix_ms(),
            kind,
            node: node.to_string(),
            detail,
            confidence,
            duration_ms: None,
        };
        self.put(Record::Step(step));
    }

    pub(super) fn transfer_tried(&mut self, target: &str, mode: TransferMode) {
        self.transfer = Some((target.to_string(), mode, unix_ms()));
    }

    /// The REFER's result: `code` from the NOTIFY sipfrag or the REFER's
    /// own final response; None on timeout.
    pub(super) fn transfer_result(&mut self, code: Option<u16>, ok: bool) {
        let Some((target, mode, tried_at)) = self.transfer.take() else { return };
        if !self.written {
            return;
        }
        let answered_ms = ok.then(|| unix_ms() - tried_at);
        let transfer =
            Transfer { call_id: self.call_id.clone(), target, mode, result_code: code.map(i64::from), tried_at, answered_ms, ok };
        self.put(Record::Transfer(transfer));
    }

    pub(super) fn consent(&mut self, purpose: &str, granted: bool, at: i64) {
        if self.written {
            let consent = Consent { call_id: self.call_id.clone(), caller: self.caller.clone(), purpose: purpose.to_string(), granted, at };
            self.put(Record::Consent(consent));
        }
    }

    pub(super) fn survey(&mut self, kind: SurveyKind, score: i64) {
        if self.written {
            self.put(Record::Survey(SurveyAnswer { call_id: self.call_id.clone(), kind, score, at: unix_ms() }));
        }
    }

    pub(super) fn business_event(&mut self, kind: EventKind, value: Option<f64>, currency: Option<String>, payload: serde_json::Value) {
        self.event_seq += 1;
        let event = BusinessEvent {
            call_id: self.written.then(|| self.call_id.clone()),
            caller: self.caller.clone(),
            kind,
            value,
            currency,
            payload,
            at: unix_ms(),
            // One key per event of this call: a replayed write stays one event.
            idempotency_key: format!("call:{}:{}", self.call_id, self.event_seq),
        };
        self.put(Record::Event(event));
    }

    pub(super) fn variant(&mut self, experiment: &str, variant: &str) {
        if self.written {
            let ab = AbAssignment { call_id: self.call_id.clone(), experiment: experiment.to_string(), variant: variant.to_string() };
            self.put(Record::Ab(ab));
        }
    }

    /// Completes the CDR and waits (bounded) until it is committed.
    pub(super) async fn ended(&mut self, outcome: Outcome) {
        self.flush().await;
        if !self.written {
            return; // never answered: no CDR (the row is written at answer)
        }
        let (stored, side) = stored_outcome(outcome);
        let end = CallEnd {
            call_id: self.call_id.clone(),
            at: unix_ms(),
            outcome: stored,
            hangup_side: side,
            hangup_cause: Some(outcome.label().to_string()),
        };
        match tokio::time::timeout(END_DURABLE_WAIT, self.writer.send_durable(Record::Ended(end))).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                crate::metrics::metrics().store_failures.inc();
                tracing::error!(error = %e, "call end not stored");
            }
            Err(_) => {
                crate::metrics::metrics().store_failures.inc();
                tracing::error!("call end not committed within {END_DURABLE_WAIT:?}; answering anyway");
            }
        }
    }
}

/// Our outcome in the store's words (DESIGN §6: containment = neither
/// transferred nor failed) and who hung up.
fn stored_outcome(outcome: Outcome) -> (StoredOutcome, HangupSide) {
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

pub(super) fn new_call(id: &str, caller: &str, called: &str, flow: &str, flow_version: &str, started_at: i64) -> NewCall {
    new_call_in(Direction::Inbound, id, caller, called, flow, flow_version, started_at)
}

pub(super) fn new_call_in(
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

pub(super) fn event_kind(kind: dialogs::EventKind) -> EventKind {
    match kind {
        dialogs::EventKind::Lead => EventKind::Lead,
        dialogs::EventKind::Order => EventKind::Order,
        dialogs::EventKind::Recontact => EventKind::Recontact,
    }
}
