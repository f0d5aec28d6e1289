//! Flows (issue #6): list, read and replace the flows the gateway runs.
//! `PUT /v1/flows/{name}` takes the flow source (YAML, or JSON) as the
//! body; it is parsed and validated exactly as at start-up and taken only
//! when it has no errors: otherwise 400 with `error` (every
//! `file:line:col: message`, one per line) and `diagnostics`, the same as a
//! JSON list of `{file, line, column, severity, message}` for editors and
//! CI. Calls already running keep the version they started with.
//!
//! A source is measured before it is parsed, and parsed and validated on
//! the blocking pool, one at a time, within a time bound
//! ([`crate::flow_guard`], issue #15 item 1): nothing sent here can delay
//! a SIP response. Over a limit: 413 (size) or 422 (nesting depth, node
//! count, time), or 503 while another flow is still being validated, each
//! with `limit` (its name) and `max` (its value).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    /// The same warnings as structured diagnostics (`PUT` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    diagnostics: Vec<DiagnosticBody>,
}

/// One finding about a flow source, with its place.
#[derive(Serialize, ToSchema)]
pub(crate) struct DiagnosticBody {
    /// The flow's file.
    file: String,
    /// 1-based line.
    line: usize,
    /// 1-based column.
    column: usize,
    /// `error` (the flow is refused) or `warning`.
    severity: &'static str,
    /// What is wrong.
    message: String,
}

impl From<&dialogs::Diagnostic> for DiagnosticBody {
    fn from(d: &dialogs::Diagnostic) -> Self {
        let severity = if d.is_error() { "error" } else { "warning" };
        DiagnosticBody { file: d.file.clone(), line: d.line, column: d.column, severity, message: d.message.clone() }
    }
}

/// A refused flow: the message and every diagnostic.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlowRejected {
    /// `flow rejected:` and every `file:line:col: message`, one per line.
    error: String,
    /// Every error and warning, in file order.
    diagnostics: Vec<DiagnosticBody>,
}

/// A flow source over one of the limits of `PUT /v1/flows/{name}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlowLimitBody {
    /// `flow rejected:` and which limit, with where (a line) when it can say.
    error: String,
    /// `size` (bytes), `depth` (nesting levels), `nodes`, `time` (seconds) or `busy`.
    limit: &'static str,
    /// The limit's value, in the unit above.
    max: u64,
}

fn limit_response(e: &crate::flow_guard::LimitExceeded) -> Response {
    use crate::flow_guard::LimitExceeded;
    let status = match e {
        LimitExceeded::Size { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        LimitExceeded::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    tracing::warn!(limit = e.name(), "flow source refused: {e}");
    (status, Json(FlowLimitBody { error: format!("flow rejected: {e}"), limit: e.name(), max: e.limit() })).into_response()
}

/// Every loaded flow.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlowList {
    flows: Vec<FlowInfo>,
}

fn info(path: &std::path::Path, flow: &dialogs::Flow, source: Option<String>, warnings: &[dialogs::Diagnostic]) -> FlowInfo {
    FlowInfo {
        name: flow.name.clone(),
        version: flow.version.clone(),
        language: flow.language.clone(),
        path: path.display().to_string(),
        nodes: flow.nodes.len(),
        source,
        warnings: warnings.iter().map(ToString::to_string).collect(),
        diagnostics: warnings.iter().map(DiagnosticBody::from).collect(),
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
    let flows = flows(&s)?.list().iter().map(|(p, f)| info(p, f, None, &[])).collect();
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
    Ok(Json(info(&path, &flow, source, &[])))
}

/// Validates and takes a new version of a flow (or a new flow).
#[utoipa::path(
    put, path = "/v1/flows/{name}", tag = "flows", security(("bearer" = [])),
    params(("name" = String, Path, description = "the flow's `flow:` name; the body's `flow:` key must match")),
    request_body(content = String, content_type = "application/yaml", description = "the flow source, YAML or JSON"),
    responses(
        (status = 200, description = "replaced", body = FlowInfo),
        (status = 201, description = "created", body = FlowInfo),
        (status = 400, description = "not a valid flow: `error` has every diagnostic as file:line:col: message, `diagnostics` the same as a list", body = FlowRejected),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
        (status = 413, description = "the source is larger than the limit (`limit`: `size`, `max` bytes)", body = FlowLimitBody),
        (status = 422, description = "the source nests deeper, holds more nodes or takes longer to validate than the limits (`limit`: `depth`, `nodes`, `time`)", body = FlowLimitBody),
        (status = 503, description = "another flow is still being validated (`limit`: `busy`)", body = FlowLimitBody),
    )
)]
pub(crate) async fn put_flow(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<FlowInfo>), Response> {
    use crate::flow_guard::{self, LimitExceeded};
    flows(&s).map_err(IntoResponse::into_response)?;
    let store = s.flows.clone().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no flows are loaded").into_response())?;
    if body.len() > flow_guard::MAX_BYTES {
        return Err(limit_response(&LimitExceeded::Size { bytes: body.len(), limit: flow_guard::MAX_BYTES }));
    }
    let source = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("the flow source must be UTF-8").into_response())?;
    let (flow_name, text) = (name.clone(), source.clone());
    // Off the async runtime, one at a time, within the time bound.
    let outcome = flow_guard::run_bounded(flow_guard::MAX_TIME, move |commit| {
        flow_guard::prescan(&text, &flow_guard::Limits::default()).map_err(Err)?;
        store.replace_gated(&flow_name, &text, commit).map_err(Ok)
    })
    .await;
    let replaced = match outcome {
        Err(limit) | Ok(Err(Err(limit))) => return Err(limit_response(&limit)),
        // Past its gate, the work always takes the flow.
        Ok(Ok(None)) => return Err(limit_response(&LimitExceeded::Time { limit: flow_guard::MAX_TIME })),
        Ok(Ok(Some(r))) => Ok(r),
        Ok(Err(Ok(e))) => Err(e),
    };
    match replaced {
        Ok(r) => {
            tracing::info!(flow = %name, version = %r.flow.version, path = %r.path.display(), "flow replaced");
            let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok((status, Json(info(&r.path, &r.flow, Some(source), &r.warnings))))
        }
        Err(e @ FlowLoadError::Write { .. }) => {
            tracing::error!(error = %e, "flow not saved");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
        }
        Err(FlowLoadError::Invalid(diagnostics)) => {
            let error = format!("flow rejected:\n{}", FlowLoadError::Invalid(diagnostics.clone()));
            let diagnostics = diagnostics.iter().map(DiagnosticBody::from).collect();
            Err((StatusCode::BAD_REQUEST, Json(FlowRejected { error, diagnostics })).into_response())
        }
        Err(e) => Err(ApiError::bad_request(format!("flow rejected:\n{e}")).into_response()),
    }
}

/// `status` with a [`FlowRejected`] body naming flow `name`: its file's
/// diagnostics, or why it could not be read (`POST /v1/calls` with a flow
/// from the flows directory that does not load).
pub(crate) fn flow_rejected(status: StatusCode, name: &str, error: FlowLoadError) -> Response {
    let diagnostics = match &error {
        FlowLoadError::Invalid(d) => d.iter().map(DiagnosticBody::from).collect(),
        _ => Vec::new(),
    };
    let error = format!("flow {name:?} rejected:\n{error}");
    (status, Json(FlowRejected { error, diagnostics })).into_response()
}
