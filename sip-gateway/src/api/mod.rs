//! Admin HTTP API (axum, issue #6): stored calls and their detail, live
//! calls, transfer contexts for the agent's desktop, external business
//! events, KPIs (DESIGN.md §6), the do-not-call list, health, metrics, and
//! an OpenAPI 3.1 document of all of it at `GET /openapi.json`.
//!
//! Conventions, the same on every route:
//! - Every `/v1` route needs `Authorization: Bearer <token>` (the scheme in
//!   any case, RFC 7235); without it, or with a wrong one: 401. Tokens are
//!   compared as SHA-256 digests in constant time, so neither a token's
//!   length nor a matching prefix shows in the response time. Tokens have roles (issue #13): `[api].token`
//!   and `[[api.tokens]]` with `role = "admin"` may do everything; `read`
//!   may make any GET; `agent` may only read calls (`GET /v1/calls…`,
//!   contexts included). A request outside the token's role: 403.
//!   `/healthz`, `/metrics` and `/openapi.json` are open.
//! - Every error is JSON `{"error": "..."}`: 400 for a bad query string,
//!   path or body (the message names the field), 404 for an unknown id or
//!   endpoint, 405 for a wrong method, 503 when no store is configured,
//!   500 (logged, message kept generic) for a storage failure, 413 for a
//!   body over the limit. axum's own plain-text rejections never reach a
//!   client: the extractors in [`error`] map them, and [`json_errors`]
//!   rewrites any that is left (the body limit's 413).
//! - Times in query strings are RFC 3339 (`2026-05-01T00:00:00Z`, any
//!   offset) or Unix milliseconds; times in responses are Unix milliseconds.
//!
//! **Change in issue #6**: `GET /v1/calls` used to list the calls in
//! progress (from the [`Registry`]); it now lists the *stored* calls (CDRs,
//! filtered and paginated, newest first) and the live ones moved to
//! `GET /v1/calls/live`. The shape stays compatible: both answer an object
//! whose `calls` member is an array (the stored list adds `next_cursor`).
//!
//! Layout: one file per resource, each with its handlers (annotated with
//! `#[utoipa::path]`) and its request/response types; [`v1_routes`]
//! registers them through `utoipa_axum::routes!`, which adds a route and its
//! documentation in one call, so the document cannot miss a route. To add a
//! resource (flows, outbound calls): write `api/<resource>.rs` the same way
//! and add its `routes!(…)` line to [`v1_routes`].

mod calls;
mod dnc;
mod error;
mod events;
mod flows;
mod kpis;
mod outbound;
mod recordings;
mod schema;
mod time;

use std::sync::OnceLock;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{ApiRole, Config};
use crate::numbers::NumberConfig;
use crate::registry::Registry;
use crate::store::Store;
pub use error::ApiError;
use error::ErrorBody;

/// What every handler can reach. Cheap to clone (handles only).
#[derive(Clone)]
pub struct ApiState {
    /// Live calls and transfer contexts.
    pub registry: Registry,
    /// The admin bearer token (`[api].token`).
    pub token: String,
    /// `[[api.tokens]]`: more tokens, each with its role.
    pub tokens: Vec<(String, ApiRole)>,
    /// `[numbers]`: how numbers in requests are normalised to E.164.
    pub numbers: NumberConfig,
    /// `[dashboard].timezone`, if set; else the default flow's hours time zone, else UTC.
    pub timezone: Option<String>,
    /// `[flows].default`: whose `hours:` time zone the dashboard uses by default.
    pub default_flow: Option<std::path::PathBuf>,
    /// The database; without one the routes that read or write it answer 503.
    pub store: Option<Store>,
    /// Places outbound calls (`POST /v1/calls`); without one that route answers 503.
    pub dialer: Option<crate::call::outbound::Dialer>,
    /// The running flows (`/v1/flows`); without them those routes answer 503.
    pub flows: Option<std::sync::Arc<crate::flows::FlowStore>>,
}

impl ApiState {
    pub fn new(registry: Registry, token: String, store: Option<Store>) -> Self {
        ApiState {
            registry,
            token,
            tokens: Vec::new(),
            numbers: NumberConfig::default(),
            timezone: None,
            default_flow: None,
            store,
            dialer: None,
            flows: None,
        }
    }

    /// With what the configuration says about the API: `[[api.tokens]]`,
    /// `[numbers]`, `[dashboard].timezone` and the default flow.
    pub fn with_config(mut self, cfg: &Config) -> Self {
        self.tokens = cfg.api.tokens.iter().map(|t| (t.token.clone(), t.role)).collect();
        self.numbers = cfg.numbers.clone();
        self.timezone = cfg.dashboard.timezone.clone();
        self.default_flow = Some(cfg.flows.default.clone());
        self
    }

    /// The role of a presented token, if it is one of ours. Every
    /// configured token is compared (in constant time, see [`same`]), so
    /// the time taken does not say which one matched, or how much of one.
    fn role_of(&self, given: &str) -> Option<ApiRole> {
        let given = digest(given);
        let mut role = None;
        for (token, r) in std::iter::once((&self.token, ApiRole::Admin)).chain(self.tokens.iter().map(|(t, r)| (t, *r))) {
            if same(&given, token) && role.is_none() {
                role = Some(r);
            }
        }
        role
    }

    /// The dashboard's time zone: `[dashboard].timezone`, else the default
    /// flow's `hours:` time zone, else `UTC`.
    pub(crate) fn dashboard_timezone(&self) -> String {
        if let Some(tz) = &self.timezone {
            return tz.clone();
        }
        let hours_tz = self
            .flows
            .as_ref()
            .zip(self.default_flow.as_ref())
            .and_then(|(f, p)| f.get(p))
            .and_then(|f| f.hours.as_ref().and_then(|h| h.timezone.clone()));
        hours_tz.unwrap_or_else(|| "UTC".into())
    }

    /// With the flow table (`/v1/flows`).
    pub fn with_flows(mut self, flows: std::sync::Arc<crate::flows::FlowStore>) -> Self {
        self.flows = Some(flows);
        self
    }

    /// With outbound calls (`POST /v1/calls`).
    pub fn with_dialer(mut self, dialer: crate::call::outbound::Dialer) -> Self {
        self.dialer = Some(dialer);
        self
    }

    /// The store, or the 503 that routes needing it answer without one.
    fn store(&self) -> Result<&Store, ApiError> {
        self.store.as_ref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no store is configured"))
    }
}

/// The admin API: the routes of [`openapi`], `/v1` behind the bearer token.
pub fn router(state: ApiState) -> Router {
    let (open, _) = open_routes().split_for_parts();
    let (v1, _) = v1_routes().split_for_parts();
    let v1 = v1.route_layer(from_fn_with_state(state.clone(), require_token));
    open.merge(v1)
        // The dashboard and agent pages carry no data: their scripts call
        // /v1 with the token, so the pages themselves are open.
        .merge(crate::dashboard::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint") })
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(state)
}

/// The OpenAPI 3.1 document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = open_routes().into_openapi();
    doc.merge(v1_routes().into_openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Centralita admin API", description = "Stored and live calls, business events, KPIs and the do-not-call list."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Routes without authentication.
fn open_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).routes(routes!(healthz)).routes(routes!(metrics)).routes(routes!(openapi_json))
}

/// Routes behind the bearer token. One line per path.
fn v1_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(calls::list_calls, outbound::place_call))
        .routes(routes!(calls::live_calls))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::call_context))
        .routes(routes!(recordings::get_recording, recordings::delete_recording))
        .routes(routes!(events::post_event))
        .routes(routes!(kpis::get_kpis))
        .routes(routes!(flows::list_flows))
        .routes(routes!(flows::get_flow, flows::put_flow))
        .routes(routes!(dnc::list_dnc))
        .routes(routes!(dnc::get_dnc, dnc::put_dnc, dnc::delete_dnc))
}

/// 401 unless the request carries one of the configured bearer tokens;
/// 403 when that token's role does not allow the request.
async fn require_token(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(role) = bearer(req.headers()).and_then(|t| s.role_of(t)) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    };
    if allowed(role, req.method(), req.uri().path()) {
        next.run(req).await
    } else {
        let what = match role {
            ApiRole::Read => "read-only: GET requests only",
            _ => "agent: GET /v1/calls and its sub-resources only",
        };
        let msg = format!("this token may not {} {} (its role is {what})", req.method(), req.uri().path());
        ApiError::new(StatusCode::FORBIDDEN, msg).into_response()
    }
}

/// What each role may do: admin all; read every GET; agent the GETs of calls.
fn allowed(role: ApiRole, method: &axum::http::Method, path: &str) -> bool {
    let get = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    match role {
        ApiRole::Admin => true,
        ApiRole::Read => get,
        ApiRole::Agent => get && (path == "/v1/calls" || path.starts_with("/v1/calls/")),
    }
}

/// The token of `Authorization: Bearer <token>`. The scheme is
/// case-insensitive and may be followed by more than one space (RFC 7235
/// §2.1, RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    // Only leading space is skipped: a token is compared exactly as sent.
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())?.trim_start();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Whether a presented token (its SHA-256 `given`) is `token`. Both sides
/// are hashed first, so the comparison is always of 32 bytes whatever the
/// lengths, and it is constant-time (`subtle`): neither the token's length
/// nor how many leading bytes matched shows in the response time. An empty
/// configured token matches nothing.
fn same(given: &[u8; 32], token: &str) -> bool {
    use subtle::ConstantTimeEq;
    !token.is_empty() && bool::from(given.ct_eq(&digest(token)))
}

/// Every error body is JSON `{"error": "..."}`: what axum or a layer
/// answers in plain text (a body over the size limit: 413) is rewritten
/// here, keeping the status and the message.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text =
        axum::body::to_bytes(resp.into_body(), 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body too large ({})", if text.is_empty() { "over the limit" } else { &text }),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    ApiError::new(status, message).into_response()
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics() -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::metrics().encode()).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| openapi().to_pretty_json().unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}).to_string()));
    ([(CONTENT_TYPE, "application/json")], doc.as_str()).into_response()
}
