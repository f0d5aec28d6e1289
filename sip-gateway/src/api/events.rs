//! `POST /v1/events`: business events from outside (a CRM, a shop): leads,
//! orders, re-contact requests. Idempotent on `idempotency_key`: the first
//! request stores the event (201, and its CRM delivery is queued in the same
//! transaction by the store); a repeat with the same key answers 200 with the
//! event stored the first time, whatever its body (the body is validated
//! first, so a malformed repeat is still a 400).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiJson;
use super::schema;
use super::time::{now_ms, parse_time};
use super::{ApiError, ApiState};
use crate::store::{BusinessEvent, EventKind, EventRecord};

const MAX_KEY_LEN: usize = 200;
const MAX_CALLER_LEN: usize = 100;

/// A business event to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEvent {
    #[schema(value_type = schema::EventKind)]
    kind: EventKind,
    /// The call the event belongs to (counts in that call's KPIs); 404 if unknown.
    call_id: Option<String>,
    /// The customer's number; defaults to the call's caller when `call_id` is given.
    caller: Option<String>,
    /// Amount, ≥ 0; required for an `order`.
    value: Option<f64>,
    /// ISO 4217 code (three capital letters); required with `value`.
    #[schema(example = "EUR")]
    currency: Option<String>,
    /// What the CRM receives; a JSON object, `{}` when absent.
    #[schema(value_type = Option<Object>)]
    payload: Option<serde_json::Value>,
    /// When it happened: RFC 3339 or Unix milliseconds; now when absent.
    #[schema(value_type = Option<String>)]
    at: Option<serde_json::Value>,
    /// The client's unique key for this event (1–200 characters): a repeat is not stored twice.
    idempotency_key: String,
}

impl NewEvent {
    /// Checks everything that does not need the database.
    fn validate(&self) -> Result<i64, ApiError> {
        let key = self.idempotency_key.trim();
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(ApiError::bad_request(format!("`idempotency_key` must be 1 to {MAX_KEY_LEN} characters")));
        }
        if self.call_id.is_none() && self.caller.is_none() {
            return Err(ApiError::bad_request("`caller` is required when `call_id` is not given"));
        }
        if let Some(caller) = &self.caller {
            if caller.trim().is_empty() || caller.len() > MAX_CALLER_LEN {
                return Err(ApiError::bad_request(format!("`caller` must be 1 to {MAX_CALLER_LEN} characters")));
            }
        }
        if self.kind == EventKind::Order && self.value.is_none() {
            return Err(ApiError::bad_request("`value` is required for an order"));
        }
        if let Some(v) = self.value {
            if !v.is_finite() || v < 0.0 {
                return Err(ApiError::bad_request("`value` must be a number ≥ 0"));
            }
            if self.currency.is_none() {
                return Err(ApiError::bad_request("`currency` is required with `value` (an ISO 4217 code such as EUR)"));
            }
        }
        if let Some(c) = &self.currency {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ApiError::bad_request(format!(
                    "`currency` must be an ISO 4217 code: three capital letters such as EUR, not {c:?}"
                )));
            }
        }
        if self.payload.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(ApiError::bad_request("`payload` must be a JSON object"));
        }
        match &self.at {
            None => Ok(now_ms()),
            Some(serde_json::Value::Number(n)) => {
                n.as_i64().ok_or_else(|| ApiError::bad_request("`at` in Unix milliseconds must be an integer"))
            }
            Some(serde_json::Value::String(t)) => parse_time("at", t),
            Some(_) => Err(ApiError::bad_request("`at` must be an RFC 3339 string or Unix milliseconds")),
        }
    }
}

/// Stores a business event (idempotent on `idempotency_key`).
#[utoipa::path(
    post, path = "/v1/events", tag = "events", security(("bearer" = [])),
    request_body = NewEvent,
    responses(
        (status = 201, description = "stored", body = schema::EventRecord),
        (status = 200, description = "a repeat of a stored key: the event stored then", body = schema::EventRecord),
        (status = 400, description = "bad body", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "`call_id` names no stored call", body = super::ErrorBody),
        (status = 415, description = "not `Content-Type: application/json`", body = super::ErrorBody),
    )
)]
pub(crate) async fn post_event(
    State(s): State<ApiState>,
    ApiJson(e): ApiJson<NewEvent>,
) -> Result<(StatusCode, Json<EventRecord>), ApiError> {
    let at = e.validate()?;
    let store = s.store()?;
    let key = e.idempotency_key.trim().to_string();
    if let Some(stored) = store.event_by_key(&key).await? {
        return Ok((StatusCode::OK, Json(stored)));
    }
    let caller = match (&e.call_id, e.caller) {
        (Some(id), caller) => {
            let Some(call_caller) = store.call_caller(id).await? else {
                return Err(ApiError::not_found(format!("no call with id {id:?}")));
            };
            caller.unwrap_or(call_caller)
        }
        (None, Some(caller)) => caller,
        (None, None) => unreachable!("validated"),
    };
    let event = BusinessEvent {
        call_id: e.call_id,
        caller,
        kind: e.kind,
        value: e.value,
        currency: e.currency,
        payload: e.payload.unwrap_or_else(|| serde_json::json!({})),
        at,
        idempotency_key: key.clone(),
    };
    let created = store.add_business_event(event).await?;
    // Read back for the id; a concurrent request with the same key may have won.
    let stored = store
        .event_by_key(&key)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the stored event could not be read back"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(stored)))
}
