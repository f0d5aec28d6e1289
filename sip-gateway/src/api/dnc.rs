//! The do-not-call list: numbers that outbound campaigns must skip. Numbers
//! are E.164-ish: an optional `+` and 3 to 20 digits, nothing else (no
//! spaces or dashes; clients normalize). `PUT` adds or updates (201 when
//! new, 200 when it was listed), `DELETE` removes (204; 404 if not listed).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiPath, OptionalJson};
use super::schema;
use super::time::now_ms;
use super::{ApiError, ApiState};
use crate::store::DncEntry;

const MAX_REASON_LEN: usize = 500;

/// The whole list.
#[derive(Serialize, ToSchema)]
pub(crate) struct DncList {
    /// By number.
    #[schema(value_type = Vec<schema::DncEntry>)]
    numbers: Vec<DncEntry>,
}

/// Optional body of `PUT /v1/dnc/{number}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DncPut {
    /// Why the number is listed (up to 500 characters); empty when absent.
    reason: Option<String>,
}

/// `+` optional, then 3 to 20 digits.
fn check_number(number: &str) -> Result<(), ApiError> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("`number` must be an optional + and 3 to 20 digits (E.164), not {number:?}")))
    }
}

/// The numbers on the do-not-call list.
#[utoipa::path(
    get, path = "/v1/dnc", tag = "dnc", security(("bearer" = [])),
    responses(
        (status = 200, body = DncList),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn list_dnc(State(s): State<ApiState>) -> Result<Json<DncList>, ApiError> {
    Ok(Json(DncList { numbers: s.store()?.dnc_list().await? }))
}

/// Lists a number (or updates its reason).
#[utoipa::path(
    put, path = "/v1/dnc/{number}", tag = "dnc", security(("bearer" = [])),
    params(("number" = String, Path, description = "optional + and 3 to 20 digits", example = "+5493510000000")),
    request_body(content = Option<DncPut>, description = "optional"),
    responses(
        (status = 201, description = "listed", body = schema::DncEntry),
        (status = 200, description = "was listed: reason and time updated", body = schema::DncEntry),
        (status = 400, description = "bad number or body", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn put_dnc(
    State(s): State<ApiState>,
    ApiPath(number): ApiPath<String>,
    OptionalJson(body): OptionalJson<DncPut>,
) -> Result<Response, ApiError> {
    check_number(&number)?;
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    if reason.chars().count() > MAX_REASON_LEN {
        return Err(ApiError::bad_request(format!("`reason` must be at most {MAX_REASON_LEN} characters")));
    }
    let store = s.store()?;
    let existed = store.dnc_contains(&number).await?;
    let added_at = now_ms();
    store.dnc_add(&number, &reason, added_at).await?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(DncEntry { number, added_at, reason })).into_response())
}

/// Removes a number from the list.
#[utoipa::path(
    delete, path = "/v1/dnc/{number}", tag = "dnc", security(("bearer" = [])),
    params(("number" = String, Path, description = "optional + and 3 to 20 digits")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "bad number", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "the number is not listed", body = super::ErrorBody),
    )
)]
pub(crate) async fn delete_dnc(State(s): State<ApiState>, ApiPath(number): ApiPath<String>) -> Result<StatusCode, ApiError> {
    check_number(&number)?;
    if s.store()?.dnc_remove(&number).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("{number:?} is not on the do-not-call list")))
    }
}
