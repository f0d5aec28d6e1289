//! `POST /v1/calls`: an outbound call (issue #6) through a `[[trunks]]`
//! entry with a `uri`, running a loaded flow once the callee answers. The
//! checks that need no SIP happen here and answer at once: a bad number
//! (400; a good one is normalised to E.164 first, see [`crate::numbers`]), a number on the do-not-call list or without the consent the flow
//! requires (403), an unknown flow or trunk (404), a flow file in the flows
//! directory that does not validate (422, with its diagnostics), a
//! `status_callback` that is not an http(s) URL (400), no outbound trunk (503).
//!
//! `flow` names a loaded flow (`[flows].default`, `[flows.routes]`, one
//! `PUT /v1/flows`) or a file in the flows directory (`ventas` →
//! `flows/ventas.yaml`), loaded and validated on first use. A
//! `status_callback` (issue #13) replaces the flow's for this call.
//! After that the answer is 202 with the new call's id; how it ended
//! (answered and its flow's outcome, `no_answer`, `busy`, `failed`) is in
//! `GET /v1/calls/{id}`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiJson;
use super::{ApiError, ApiState};
use crate::call::outbound::{DialError, OutboundRequest};

/// Body of `POST /v1/calls`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCall {
    /// Who to call: a telephone number, normalised to E.164 (`[numbers]`)
    /// before the do-not-call and consent checks.
    number: String,
    /// A flow by its `flow:` name or file path: loaded, or a file in the
    /// flows directory (`ventas` → `flows/ventas.yaml`); default `[flows].default`.
    flow: Option<String>,
    /// Flow variables (strings), e.g. `{"cart_id": "A-17"}`.
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// A `[[trunks]]` name; default: the first trunk with a `uri`.
    trunk: Option<String>,
    /// Where this call's status changes (`ringing`, `answered`,
    /// `transferred`, `completed`) are POSTed: a URL, or `{"url", "events"}`;
    /// replaces the flow's `status_callback:`.
    #[schema(value_type = Option<super::schema::StatusCallback>)]
    status_callback: Option<dialogs::StatusCallback>,
}

/// The call placed.
#[derive(Serialize, ToSchema)]
pub(crate) struct CallPlaced {
    /// Its id (the SIP Call-ID), for `GET /v1/calls/{id}`.
    id: String,
    /// The same id under its pre-issue-#13 name; deprecated, use `id`.
    #[schema(deprecated)]
    call_id: String,
}

/// Places an outbound call.
#[utoipa::path(
    post, path = "/v1/calls", tag = "calls", security(("bearer" = [])),
    request_body = NewCall,
    responses(
        (status = 202, description = "the INVITE is on its way", body = CallPlaced),
        (status = 400, description = "bad body or number", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 403, description = "on the do-not-call list, or no consent where the flow requires it", body = super::ErrorBody),
        (status = 404, description = "unknown flow or trunk", body = super::ErrorBody),
        (status = 422, description = "the named flow's file in the flows directory does not validate", body = super::flows::FlowRejected),
        (status = 503, description = "outbound calls not configured", body = super::ErrorBody),
    )
)]
pub(crate) async fn place_call(State(s): State<ApiState>, ApiJson(body): ApiJson<NewCall>) -> Result<Response, ApiError> {
    // One spelling of the number for every check: `5551234` on the
    // do-not-call list stops `+5551234` (issue #13).
    let number = crate::numbers::normalize(&body.number, &s.numbers).map_err(|e| ApiError::bad_request(format!("`number`: {e}")))?;
    if let Some(problem) = body.status_callback.as_ref().and_then(dialogs::StatusCallback::problem) {
        return Err(ApiError::bad_request(format!("`status_callback`: {problem}")));
    }
    if let Some(store) = &s.store {
        if store.dnc_contains(&number).await? {
            return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{number} is on the do-not-call list")));
        }
    }
    let dialer = s.dialer.as_ref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "outbound calls are not configured"))?;
    let req =
        OutboundRequest { number, flow: body.flow, variables: body.variables, trunk: body.trunk, status_callback: body.status_callback };
    match dialer.dial(req).await {
        Ok(call_id) => Ok((StatusCode::ACCEPTED, Json(CallPlaced { id: call_id.clone(), call_id })).into_response()),
        // 422 naming the flow, with its diagnostics as `PUT /v1/flows` gives them.
        Err(DialError::BadFlow { name, error }) => Ok(super::flows::flow_rejected(StatusCode::UNPROCESSABLE_ENTITY, &name, error)),
        Err(e) => Err(match &e {
            DialError::BadNumber | DialError::BadStatusCallback(_) => ApiError::bad_request(e.to_string()),
            DialError::BadFlow { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            DialError::DoNotCall(_) | DialError::NoConsent { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            DialError::UnknownFlow(_) | DialError::UnknownTrunk(_) => ApiError::not_found(e.to_string()),
            DialError::NoTrunk | DialError::NoListener => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            DialError::TrunkAddress { .. } => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
            DialError::Store(_) => {
                tracing::error!(error = %e, "outbound call checks failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error")
            }
        }),
    }
}
