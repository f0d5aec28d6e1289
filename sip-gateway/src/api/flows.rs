//! Flows (issue #6): list, read and replace the flows the gateway runs.
//! `PUT /v1/flows/{name}` takes the flow source (YAML, or JSON) as the
//! body; it is parsed and validated exactly as at start-up and taken only
//! when it has no errors (400 with every `file:line:col: message`
//! otherwise). Calls already running keep the version they started with.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiPath;
use super::{ApiError, ApiState};
use crate::flows::{FlowLoadError, FlowStore};

/// A loaded flow.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlowInfo {
    /// Its `flow:` name.
    name: String,
    /// Its `version:`.
    version: String,
    language: String,
    /// The file it was loaded from (and is saved to).
    path: String,
    /// Number of nodes.
    nodes: usize,
    /// The source text (only in `GET /v1/flows/{name}` and `PUT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// Validation warnings of the version just taken (`PUT` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Every loaded flow.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlowList {
    flows: Vec<FlowInfo>,
}

fn info(path: &std::path::Path, flow: &dialogs::Flow, source: Option<String>, warnings: Vec<String>) -> FlowInfo {
    FlowInfo {
        name: flow.name.clone(),
        version: flow.version.clone(),
        language: flow.language.clone(),
        path: path.display().to_string(),
        nodes: flow.nodes.len(),
        source,
        warnings,
    }
}

fn flows(s: &ApiState) -> Result<&FlowStore, ApiError> {
    s.flows.as_deref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no flows are loaded"))
}

/// The loaded flows.
#[utoipa::path(
    get, path = "/v1/flows", tag = "flows", security(("bearer" = [])),
    responses((status = 200, body = FlowList), (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody))
)]
pub(crate) async fn list_flows(State(s): State<ApiState>) -> Result<Json<FlowList>, ApiError> {
    let flows = flows(&s)?.list().iter().map(|(p, f)| info(p, f, None, Vec::new())).collect();
    Ok(Json(FlowList { flows }))
}

/// One flow with its source.
#[utoipa::path(
    get, path = "/v1/flows/{name}", tag = "flows", security(("bearer" = [])),
    params(("name" = String, Path, description = "the flow's `flow:` name")),
    responses(
        (status = 200, body = FlowInfo),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 404, description = "no such flow", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_flow(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<FlowInfo>, ApiError> {
    let (path, flow) = flows(&s)?.find(&name).ok_or_else(|| ApiError::not_found(format!("no flow named {name:?}")))?;
    let source = tokio::fs::read_to_string(&path).await.ok();
    Ok(Json(info(&path, &flow, source, Vec::new())))
}

/// Validates and takes a new version of a flow (or a new flow).
#[utoipa::path(
    put, path = "/v1/flows/{name}", tag = "flows", security(("bearer" = [])),
    params(("name" = String, Path, description = "the flow's `flow:` name; the body's `flow:` key must match")),
    request_body(content = String, content_type = "application/yaml", description = "the flow source, YAML or JSON"),
    responses(
        (status = 200, description = "replaced", body = FlowInfo),
        (status = 201, description = "created", body = FlowInfo),
        (status = 400, description = "not a valid flow: every diagnostic as file:line:col: message", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn put_flow(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<FlowInfo>), ApiError> {
    let store = flows(&s)?;
    let source = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the flow source must be UTF-8"))?;
    match store.replace(&name, source) {
        Ok(r) => {
            tracing::info!(flow = %name, version = %r.flow.version, path = %r.path.display(), "flow replaced");
            let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok((status, Json(info(&r.path, &r.flow, Some(source.to_string()), r.warnings))))
        }
        Err(e @ FlowLoadError::Write { .. }) => {
            tracing::error!(error = %e, "flow not saved");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Err(e) => Err(ApiError::bad_request(format!("flow rejected:\n{e}"))),
    }
}
