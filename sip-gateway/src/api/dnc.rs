//! The do-not-call list: numbers that outbound campaigns must skip. Every
//! number is normalised to E.164 before it is stored or looked up
//! ([`crate::numbers`], `[numbers]` config: separators stripped, `00` read
//! as `+`, the default country's code added), so `5551234`, `+5551234` and
//! `555-1234` are one entry. `PUT` adds or updates (201 when new, 200 when
//! it was listed), `DELETE` removes (204; 404 if not listed), `GET
//! /v1/dnc/{number}` says whether a number is listed.

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

/// The number in E.164, or a 400 naming the field.
fn check_number(s: &ApiState, number: &str) -> Result<String, ApiError> {
    crate::numbers::normalize(number, &s.numbers).map_err(|e| ApiError::bad_request(format!("`number`: {e}")))
}

/// Whether one number is listed.
#[derive(Serialize, ToSchema)]
pub(crate) struct DncStatus {
    /// The number as stored (E.164).
    number: String,
    listed: bool,
}

/// Whether a number is on the list (normalised first, as everywhere).
#[utoipa::path(
    get, path = "/v1/dnc/{number}", tag = "dnc", security(("bearer" = [])),
    params(("number" = String, Path, description = "a telephone number; separators allowed", example = "+5493510000000")),
    responses(
        (status = 200, body = DncStatus),
        (status = 400, description = "not a number", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_dnc(State(s): State<ApiState>, ApiPath(number): ApiPath<String>) -> Result<Json<DncStatus>, ApiError> {
    let number = check_number(&s, &number)?;
    let listed = s.store()?.dnc_contains(&number).await?;
    Ok(Json(DncStatus { number, listed }))
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
    params(("number" = String, Path, description = "a telephone number, stored in E.164 (separators stripped)", example = "+5493510000000")),
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
    let number = check_number(&s, &number)?;
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
    params(("number" = String, Path, description = "a telephone number, normalised to E.164 first")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "bad number", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "the number is not listed", body = super::ErrorBody),
    )
)]
pub(crate) async fn delete_dnc(State(s): State<ApiState>, ApiPath(number): ApiPath<String>) -> Result<StatusCode, ApiError> {
    let number = check_number(&s, &number)?;
    if s.store()?.dnc_remove(&number).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("{number:?} is not on the do-not-call list")))
    }
}
