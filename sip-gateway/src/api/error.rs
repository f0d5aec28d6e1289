//! Errors as JSON `{"error": "..."}`, and the extractors that turn axum's
//! plain-text rejections (bad query string, path or body) into a 400 that
//! says which part of the request was wrong and why.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for a person; names the offending field when there is one.
    pub(crate) error: String,
}

/// An error response: a status and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.message })).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor(_) => ApiError::bad_request("`cursor` is not a cursor this API returned"),
            StoreError::ScoreOutOfRange { .. } => ApiError::bad_request(e.to_string()),
            e => {
                tracing::error!(error = %e, "admin API: store error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error (see the gateway's log)")
            }
        }
    }
}

/// `Query<T>` whose rejection is a JSON 400 naming the parameter.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(format!("bad query string: {}", strip(&e.body_text(), "Failed to deserialize query string: "))))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// axum's rejection text without its generic lead-in: serde's message,
/// which starts with the path to the offending field.
fn strip<'a>(text: &'a str, lead: &str) -> &'a str {
    text.strip_prefix(lead).unwrap_or(text)
}

/// `Path<T>` whose rejection is a JSON 400 (or 500 for a routing bug).
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::bad_request(format!("bad path: {}", e.body_text()))),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// `Json<T>` whose rejection is JSON: 400 for a body that is not JSON or
/// not the expected shape (with serde's path to the field), 415 without
/// `Content-Type: application/json`.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected `Content-Type: application/json`"))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request(format!(
                "bad body: {}",
                strip(&e.body_text(), "Failed to deserialize the JSON body into the target type: ")
            ))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(format!(
                "bad body: not JSON: {}",
                strip(&e.body_text(), "Failed to parse the request body as JSON: ")
            ))),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// Like [`ApiJson`], but an empty body is `None` (and then needs no
/// content type): for bodies that are optional.
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        let ApiJson(v) = ApiJson::from_request(Request::from_parts(parts, Body::from(bytes)), state).await?;
        Ok(OptionalJson(Some(v)))
    }
}
