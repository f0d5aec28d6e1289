//! Calls: the stored ones (CDRs, filtered and paginated), one with its
//! detail, the live ones (registry), and a call's transfer context.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiPath, ApiQuery};
use super::schema;
use super::time::parse_time;
use super::{ApiError, ApiState};
use crate::registry::CallInfo;
use crate::store::{CallDetail, CallFilter, CallPage, CallRecord, Outcome};

/// Page size when none is asked for, and the largest one served.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Filters of `GET /v1/calls`, all optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallsQuery {
    /// Calls that started at or after this time: RFC 3339 or Unix milliseconds.
    #[param(value_type = Option<String>, example = "2026-05-01T00:00:00Z")]
    from: Option<String>,
    /// Calls that started before this time (exclusive): RFC 3339 or Unix milliseconds.
    #[param(value_type = Option<String>)]
    to: Option<String>,
    /// The flow: its `flow:` name (`demo`) or its file path (`flows/demo.yaml`); either finds the calls of that flow.
    flow: Option<String>,
    /// How the call ended (`caller_hangup` and `shutdown`, the metrics' old words, mean `abandoned` and `interrupted`).
    #[param(value_type = Option<schema::Outcome>)]
    outcome: Option<String>,
    /// The caller's number, normalised to E.164 like stored numbers (`+54 351…`, `0054351…` find the same calls).
    caller: Option<String>,
    /// Page size, 1..=500; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl CallsQuery {
    fn filter(self, s: &ApiState) -> Result<CallFilter, ApiError> {
        let from = self.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
        let to = self.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if from >= to {
                return Err(ApiError::bad_request("`from` must be before `to`"));
            }
        }
        let outcome = self
            .outcome
            .map(|o| {
                // The metrics' old words for the same outcomes are accepted too.
                let word = match o.as_str() {
                    "caller_hangup" => "abandoned",
                    "shutdown" => "interrupted",
                    other => other,
                };
                serde_json::from_value::<Outcome>(serde_json::Value::String(word.into())).map_err(|_| {
                    ApiError::bad_request(format!(
                        "`outcome` must be one of completed, transferred, abandoned, failed, interrupted, no_answer, busy; not {o:?}"
                    ))
                })
            })
            .transpose()?;
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(ApiError::bad_request(format!("`limit` must be an integer from 1 to {MAX_LIMIT}, not {l:?}"))),
            },
        };
        // A flow by name or path: CDRs hold the path the call ran (for now),
        // `/v1/flows` and contexts the name; match both spellings.
        let mut flows = Vec::new();
        if let Some(f) = &self.flow {
            if let Some((path, flow)) = s.flows.as_ref().and_then(|t| t.find(f)) {
                flows.push(path.display().to_string());
                flows.push(flow.name.clone());
            }
        }
        // The caller in E.164, and as CDRs written before normalisation
        // hold it (without the `+`).
        let mut callers = Vec::new();
        if let Some(c) = &self.caller {
            let e164 = crate::numbers::normalize_or_keep(c, &s.numbers);
            callers.extend(e164.strip_prefix('+').map(str::to_string));
            callers.push(e164);
        }
        Ok(CallFilter { from, to, flow: self.flow, outcome, caller: self.caller, flows, callers, limit: Some(limit), cursor: self.cursor })
    }
}

/// A page of stored calls, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct CallList {
    #[schema(value_type = Vec<schema::CallRecord>)]
    calls: Vec<CallRecord>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Stored calls (CDRs), newest first, filtered and paginated by cursor.
///
/// Until issue #6 this route listed the calls in progress: those are at
/// `GET /v1/calls/live` now.
#[utoipa::path(
    get, path = "/v1/calls", tag = "calls", params(CallsQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = CallList),
        (status = 400, description = "bad filter, limit or cursor", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn list_calls(State(s): State<ApiState>, ApiQuery(q): ApiQuery<CallsQuery>) -> Result<Json<CallList>, ApiError> {
    let filter = q.filter(&s)?;
    let CallPage { calls, next_cursor } = s.store()?.list_calls(&filter).await?;
    Ok(Json(CallList { calls, next_cursor }))
}

/// The calls in progress.
#[derive(Serialize, ToSchema)]
pub(crate) struct LiveCalls {
    #[schema(value_type = Vec<schema::LiveCall>)]
    calls: Vec<CallInfo>,
}

/// The calls in progress now, oldest first (from the live registry, not the store).
#[utoipa::path(
    get, path = "/v1/calls/live", tag = "calls", security(("bearer" = [])),
    responses(
        (status = 200, body = LiveCalls),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn live_calls(State(s): State<ApiState>) -> Json<LiveCalls> {
    Json(LiveCalls { calls: s.registry.list().await })
}

/// A stored call with its steps, transfers, consents, survey answers,
/// business events and A/B assignments.
#[utoipa::path(
    get, path = "/v1/calls/{id}", tag = "calls", security(("bearer" = [])),
    params(("id" = String, Path, description = "the call's id")),
    responses(
        (status = 200, body = schema::CallDetail),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "no such call", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_call(State(s): State<ApiState>, ApiPath(id): ApiPath<String>) -> Result<Json<CallDetail>, ApiError> {
    match s.store()?.get_call(&id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::not_found(format!("no call with id {id:?}"))),
    }
}

/// The context a transfer carried (caller, intents, answers, transcript,
/// consent, CRM data), for the agent's desktop; kept for recent calls.
#[utoipa::path(
    get, path = "/v1/calls/{id}/context", tag = "calls", security(("bearer" = [])),
    params(("id" = String, Path, description = "the call's id")),
    responses(
        (status = 200, body = Object),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "no transfer context for that call", body = super::ErrorBody),
    )
)]
pub(crate) async fn call_context(State(s): State<ApiState>, ApiPath(id): ApiPath<String>) -> Result<Json<serde_json::Value>, ApiError> {
    match s.registry.context(&id).await {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::not_found("no transfer context for that call")),
    }
}
