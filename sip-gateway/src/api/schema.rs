//! OpenAPI schemas of the types this API serves but does not define (store
//! records, KPIs, the registry's live calls): mirrors, field for field, that
//! exist only for the document (`#[schema(value_type = …)]` points at them)
//! and are never built. The round-trip test in `tests/api_schemas.rs`
//! checks that real responses carry exactly the documented fields.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    Inbound,
    Outbound,
}

/// How a call ended; `interrupted`: the gateway stopped under it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Completed,
    Transferred,
    Abandoned,
    Failed,
    Interrupted,
    NoAnswer,
    Busy,
}

/// A business event's kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    Lead,
    Order,
    Recontact,
}

/// A stored call (CDR). Times are RFC 3339 strings (UTC).
#[derive(Serialize, ToSchema)]
pub(crate) struct CallRecord {
    id: String,
    sip_call_id: String,
    caller: String,
    called: String,
    flow: String,
    flow_version: String,
    direction: Direction,
    #[schema(format = DateTime, value_type = String)]
    started_at: i64,
    #[schema(format = DateTime, value_type = Option<String>)]
    answered_at: Option<i64>,
    #[schema(format = DateTime, value_type = Option<String>)]
    first_prompt_at: Option<i64>,
    #[schema(format = DateTime, value_type = Option<String>)]
    ended_at: Option<i64>,
    outcome: Option<Outcome>,
    /// `caller`, `gateway` or `agent`.
    hangup_side: Option<String>,
    hangup_cause: Option<String>,
    ab_variant: Option<String>,
    /// The call's recording (issue #19); absent for calls whose flow never records.
    recording: Option<Recording>,
}

/// A call's recording, or why there is none.
#[derive(Serialize, ToSchema)]
pub(crate) struct Recording {
    /// `recording` (in progress), `recorded`, `refused` (the caller said no), `no_consent` (never asked or never answered), `not_started`, `failed` or `deleted`.
    status: String,
    /// Why, in words (`the caller refused consent \`recording\``, `deleted (api)`).
    reason: Option<String>,
    /// The WAV file on the gateway (`[recording].dir`/CALL_ID.wav); download it with `GET /v1/calls/{id}/recording`.
    path: Option<String>,
    duration_ms: Option<i64>,
    bytes: Option<i64>,
    /// 2: caller left, bot or agent right.
    channels: Option<i64>,
    #[schema(format = DateTime, value_type = Option<String>)]
    deleted_at: Option<i64>,
}

/// One thing that happened in the flow; `seq` orders a call's steps.
#[derive(Serialize, ToSchema)]
pub(crate) struct Step {
    call_id: String,
    seq: i64,
    #[schema(format = DateTime, value_type = String)]
    at: i64,
    /// `node`, `intent`, `digits`, `transcript`, `prompt`, `webhook` (method, URL without query, status or error, latency), `rejected` (speech not taken: the words, the intent they would have meant, why; `confidence`) or `confirm` ("Did you say …?" asked for a mid-confidence intent).
    kind: String,
    node: String,
    detail: String,
    confidence: Option<f64>,
    duration_ms: Option<i64>,
}

/// A transfer attempt; `ok` when the NOTIFY (or agent leg) reported 2xx.
#[derive(Serialize, ToSchema)]
pub(crate) struct Transfer {
    call_id: String,
    target: String,
    /// `blind` or `warm`.
    mode: String,
    result_code: Option<i64>,
    #[schema(format = DateTime, value_type = String)]
    tried_at: i64,
    /// Tried → the agent has the call (time to agent), when it succeeded.
    answered_ms: Option<i64>,
    ok: bool,
    /// `referred`, `bridged`, `no_answer`, `busy`, `declined` or `failed`.
    outcome: Option<String>,
    /// Warm: tried → the agent's phone answered.
    ring_ms: Option<i64>,
    /// Warm and bridged: how long the bridge lasted.
    bridge_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Consent {
    call_id: String,
    caller: String,
    purpose: String,
    granted: bool,
    #[schema(format = DateTime, value_type = String)]
    at: i64,
}

/// CSAT 1–5 or NPS 0–10.
#[derive(Serialize, ToSchema)]
pub(crate) struct SurveyAnswer {
    call_id: String,
    /// `csat` or `nps`.
    kind: String,
    score: i64,
    #[schema(format = DateTime, value_type = String)]
    at: i64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AbAssignment {
    call_id: String,
    experiment: String,
    variant: String,
}

/// A stored business event.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventRecord {
    id: String,
    call_id: Option<String>,
    caller: String,
    kind: EventKind,
    value: Option<f64>,
    currency: Option<String>,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    #[schema(format = DateTime, value_type = String)]
    at: i64,
    idempotency_key: String,
}

/// A call with everything recorded about it, each list in time order.
#[derive(Serialize, ToSchema)]
pub(crate) struct CallDetail {
    #[serde(flatten)]
    call: CallRecord,
    steps: Vec<Step>,
    transfers: Vec<Transfer>,
    consents: Vec<Consent>,
    survey_answers: Vec<SurveyAnswer>,
    business_events: Vec<EventRecord>,
    ab_assignments: Vec<AbAssignment>,
}

/// An in-progress call, from the live registry.
#[derive(Serialize, ToSchema)]
pub(crate) struct LiveCall {
    id: String,
    caller: String,
    called: String,
    flow: String,
    state: String,
    node: Option<String>,
    #[schema(format = DateTime, value_type = String)]
    started_at: u64,
    first_response_ms: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DncEntry {
    number: String,
    #[schema(format = DateTime, value_type = String)]
    added_at: i64,
    reason: String,
}

/// KPIs with the counts they come from (DESIGN.md §6); rates are 0–100,
/// `null` when their denominator is 0; money is per currency code.
#[derive(Serialize, ToSchema)]
pub(crate) struct Kpis {
    calls: u64,
    first_response_samples: u64,
    first_response_avg_ms: Option<f64>,
    first_response_p50_ms: Option<i64>,
    contained: u64,
    containment_pct: Option<f64>,
    abandoned: u64,
    abandon_rate_pct: Option<f64>,
    transfers_tried: u64,
    transfers_ok: u64,
    effective_handoff_pct: Option<f64>,
    /// Successful transfers measured for time to agent.
    time_to_agent_samples: u64,
    /// Transfer tried → the agent has the call, ms: mean.
    time_to_agent_avg_ms: Option<f64>,
    /// … and p50 (nearest rank).
    time_to_agent_p50_ms: Option<i64>,
    fcr_calls: u64,
    fcr_resolved: u64,
    fcr_pct: Option<f64>,
    csat_answers: u64,
    csat_avg: Option<f64>,
    nps_answers: u64,
    nps: Option<f64>,
    converted_calls: u64,
    assisted_conversion_pct: Option<f64>,
    revenue: BTreeMap<String, f64>,
    revenue_per_conversation: BTreeMap<String, f64>,
}

/// One group's KPIs: `key` is a UTC day `YYYY-MM-DD`, a flow, or `experiment/variant` (`none`).
#[derive(Serialize, ToSchema)]
pub(crate) struct KpiGroup {
    key: String,
    #[serde(flatten)]
    kpis: Kpis,
}

/// KPIs over the calls that started in `[from, to)`.
#[derive(Serialize, ToSchema)]
pub(crate) struct KpiReport {
    #[schema(format = DateTime, value_type = String)]
    from: i64,
    #[schema(format = DateTime, value_type = String)]
    to: i64,
    /// `day`, `flow`, `variant` or null.
    group_by: Option<String>,
    /// The IANA time zone of the days of `group_by = day`.
    timezone: String,
    total: Kpis,
    groups: Vec<KpiGroup>,
}

/// A call status: what a status callback reports.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallStatus {
    Ringing,
    Answered,
    Transferred,
    Completed,
}

/// Where a call's status changes are POSTed (issue #13): this object, or
/// its `url` alone as a string (every status). Signed and retried like
/// `[events]` deliveries (`X-Centralita-Event: call_status`).
#[derive(Serialize, ToSchema)]
pub(crate) struct StatusCallback {
    /// An absolute `http://` or `https://` URL.
    url: String,
    /// The statuses sent; absent: all four.
    events: Option<Vec<CallStatus>>,
}
