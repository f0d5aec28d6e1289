//! Issue #6: the OpenAPI document lists exactly the routes served; every
//! `/v1` route refuses a request without the bearer token or with a wrong
//! one (401 JSON); unknown endpoints and wrong methods answer JSON too.

mod api_common;

use api_common::{error, Api, TOKEN};
use axum::http::{Method, StatusCode};
use serde_json::Value;

/// Every route the router serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/calls"),
    ("post", "/v1/calls"),
    ("get", "/v1/calls/live"),
    ("get", "/v1/calls/{id}"),
    ("get", "/v1/calls/{id}/context"),
    ("post", "/v1/events"),
    ("get", "/v1/kpis"),
    ("get", "/v1/flows"),
    ("get", "/v1/flows/{name}"),
    ("put", "/v1/flows/{name}"),
    ("get", "/v1/dnc"),
    ("get", "/v1/dnc/{number}"),
    ("put", "/v1/dnc/{number}"),
    ("delete", "/v1/dnc/{number}"),
    ("get", "/v1/calls/{id}/recording"),
    ("delete", "/v1/calls/{id}/recording"),
];

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone()));
            }
        }
    }
    ops.sort();
    ops
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "no-such-call").replace("{number}", "+5493510000000")
}

#[tokio::test]
async fn the_document_lists_every_route_served_and_nothing_else() {
    let api = Api::new().await;
    let (status, doc) = api.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "no auth on the document");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let mut expected: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    expected.sort();
    assert_eq!(documented(&doc), expected);
    assert_eq!(serde_json::to_value(sip_gateway::api::openapi()).unwrap(), doc, "served = generated");

    // Each documented operation is routed: never the fallback's 404 nor a 405.
    for (method, path) in documented(&doc) {
        let method: Method = method.to_uppercase().parse().unwrap();
        let (status, body) = api.send(method.clone(), &concrete(&path), Some(TOKEN), None).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(error(&body), "no such endpoint", "{method} {path}");
        // /v1 operations declare the bearer scheme and a 401.
        let op = &doc["paths"][&path][method.as_str().to_lowercase()];
        if path.starts_with("/v1") {
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn every_v1_route_needs_the_right_bearer_token() {
    let api = Api::new().await;
    for (method, path) in ROUTES.iter().filter(|(_, p)| p.starts_with("/v1")) {
        let method: Method = method.to_uppercase().parse().unwrap();
        let body = (method == Method::POST || method == Method::PUT).then(|| serde_json::json!({}));
        for token in [None, Some("wrong"), Some(""), Some("s3cret-tokeN"), Some("s3cret-token-and-more")] {
            let (status, v) = api.send(method.clone(), &concrete(path), token, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}: {v}");
            assert_eq!(error(&v), "missing or wrong bearer token");
        }
    }
    // Other schemes and a bare token are refused too.
    for auth in [format!("Basic {TOKEN}"), TOKEN.to_string(), format!("bearer{TOKEN}")] {
        let req = axum::http::Request::get("/v1/calls").header("authorization", auth.clone()).body(axum::body::Body::empty()).unwrap();
        let (status, _) = api_common::send(&api.router, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}");
    }
    let (status, v) = api.get("/v1/calls").await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn open_routes_and_json_errors_for_unknown_endpoints_and_methods() {
    let api = Api::new().await;
    let (status, v) = api.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, _) = api.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = api.get("/v1/nope").await;
    assert_eq!((status, error(&v)), (StatusCode::NOT_FOUND, "no such endpoint"));
    let (status, v) = api.send(Method::DELETE, "/v1/calls", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{v}");
}

#[tokio::test]
async fn without_a_store_the_store_routes_answer_503_and_the_live_ones_still_work() {
    let registry = sip_gateway::registry::Registry::spawn();
    let router = sip_gateway::api::router(sip_gateway::api::ApiState::new(registry, TOKEN.into(), None));
    let get = |path: &'static str| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::get(path).header("authorization", format!("Bearer {TOKEN}")).body(axum::body::Body::empty());
            api_common::send(&router, req.unwrap()).await
        }
    };
    let (status, v) = get("/v1/calls").await;
    assert_eq!((status, error(&v)), (StatusCode::SERVICE_UNAVAILABLE, "no store is configured"));
    let (status, v) = get("/v1/calls/live").await;
    assert_eq!((status, v["calls"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
}
