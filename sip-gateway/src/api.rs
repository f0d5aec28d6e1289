//! Admin HTTP API (axum): health, active calls, transfer context for the
//! agent's desktop. Every /v1 route needs `Authorization: Bearer <token>`
//! ([api].token); errors are JSON `{"error": "..."}` with a 4xx status.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::registry::Registry;

#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
    pub token: String,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(|| async { ([("content-type", "text/plain; version=0.0.4")], crate::metrics::metrics().encode()) }))
        .route("/v1/calls", get(list_calls))
        .route("/v1/calls/{id}/context", get(call_context))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(state)
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

/// Constant-time enough for a bearer token compare: length + fold.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = v.strip_prefix("Bearer ") else { return false };
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn list_calls(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &s.token) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let calls = s.registry.list().await;
    Json(json!({"calls": calls})).into_response()
}

async fn call_context(State(s): State<ApiState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers, &s.token) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    match s.registry.context(&id).await {
        Some(v) => Json(v).into_response(),
        None => error(StatusCode::NOT_FOUND, "no transfer context for that call"),
    }
}
