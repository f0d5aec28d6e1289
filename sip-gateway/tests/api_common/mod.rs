//! Shared by the `api_*` tests: the admin API router over a real SQLite
//! store in a temp dir and a live registry, driven in process with
//! `tower::ServiceExt::oneshot` (no socket).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use sip_gateway::api::{router, ApiState};
use sip_gateway::registry::Registry;
use sip_gateway::store::{CallEnd, Direction, HangupSide, NewCall, Outcome, Store};
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "s3cret-token";

pub(crate) struct Api {
    pub(crate) router: Router,
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    _dir: tempfile::TempDir,
}

impl Api {
    pub(crate) async fn new() -> Api {
        Self::with(|s| s).await
    }

    /// The API over a fresh store, its state first passed through `f`
    /// (`with_config`, `with_flows`).
    pub(crate) async fn with(f: impl FnOnce(ApiState) -> ApiState) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("api.db").display())).await.expect("open store");
        let registry = Registry::spawn();
        let router = router(f(ApiState::new(registry.clone(), TOKEN.into(), Some(store.clone()))));
        Api { router, store, registry, _dir: dir }
    }

    /// Any request; `body` is sent as JSON with its content type.
    pub(crate) async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        send(&self.router, req.expect("request")).await
    }

    /// GET with the right token.
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(TOKEN), None).await
    }

    /// A raw request with the right token.
    pub(crate) async fn raw(&self, method: Method, path: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {TOKEN}"));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        send(&self.router, req.body(Body::from(body.to_string())).expect("request")).await
    }
}

/// Sends and decodes: JSON body (`Null` when empty). Error bodies must be
/// JSON `{"error": "..."}` with a JSON content type.
pub(crate) async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let json_type = resp.headers().get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    if status.is_client_error() || status.is_server_error() {
        assert!(json_type, "{status} without a JSON content type: {value}");
        assert!(value["error"].as_str().is_some_and(|e| !e.is_empty()), "{status} body is not {{\"error\": …}}: {value}");
    }
    (status, value)
}

/// The error message of a response.
pub(crate) fn error(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

/// A stored inbound call; `end` = (at, outcome).
pub(crate) async fn call(store: &Store, id: &str, caller: &str, flow: &str, started_at: i64, end: Option<(i64, Outcome)>) {
    let call = NewCall {
        id: id.into(),
        sip_call_id: format!("{id}@test"),
        caller: caller.into(),
        called: "5550100".into(),
        flow: flow.into(),
        flow_version: "v1".into(),
        direction: Direction::Inbound,
        started_at,
        ab_variant: None,
    };
    assert!(store.insert_call(call).await.expect("insert call"));
    if let Some((at, outcome)) = end {
        let end = CallEnd { call_id: id.into(), at, outcome, hangup_side: HangupSide::Caller, hangup_cause: None };
        assert!(store.call_ended(end).await.expect("end call"));
    }
}
