//! Issue #15 items 6 and 1 at the API's edge: the `Bearer` scheme in any
//! case (RFC 7235), tokens of any length refused alike, every error body
//! JSON (the body limit's 413 included), and flow sources over the size,
//! depth or node limits refused with a JSON body naming the limit.

mod api_common;

use std::sync::Arc;

use api_common::{error, send, Api, TOKEN};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use sip_gateway::flows::FlowStore;

async fn with_auth(api: &Api, auth: &str) -> (StatusCode, Value) {
    let req = Request::builder().method(Method::GET).uri("/v1/calls").header("authorization", auth).body(Body::empty()).expect("request");
    send(&api.router, req).await
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let api = Api::new().await;
    for auth in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}"), format!("BEARER {TOKEN}"), format!("bEaReR   {TOKEN}")] {
        let (status, v) = with_auth(&api, &auth).await;
        assert_eq!(status, StatusCode::OK, "{auth:?}: {v}");
    }
    let wrong_same_length = "x".repeat(TOKEN.len());
    let prefix = &TOKEN[..TOKEN.len() - 1];
    for auth in [
        format!("Basic {TOKEN}"),
        format!("Bearer{TOKEN}"),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        format!("Bearer {TOKEN} "),
        format!("Bearer {wrong_same_length}"),
        format!("Bearer {prefix}"),
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", TOKEN.to_uppercase()),
    ] {
        let (status, v) = with_auth(&api, &auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}: {v}");
        assert_eq!(error(&v), "missing or wrong bearer token");
    }
}

fn api_with_flows(dir: &std::path::Path) -> impl FnOnce(sip_gateway::api::ApiState) -> sip_gateway::api::ApiState {
    let path = dir.join("menu.yaml");
    std::fs::write(&path, "flow: menu\nversion: 1\nstart: hi\nnodes:\n  hi:\n    say: \"Hi.\"\n    hangup: true\n").expect("write flow");
    let (store, _) = FlowStore::load([&path], dialogs::ValidateOptions::default(), dir.to_path_buf()).expect("load");
    let store = Arc::new(store);
    move |s| s.with_flows(store)
}

async fn put_flow(api: &Api, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/v1/flows/menu")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/yaml")
        .body(Body::from(body))
        .expect("request");
    send(&api.router, req).await
}

#[tokio::test]
async fn flow_sources_over_a_limit_get_json_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let api = Api::with(api_with_flows(dir.path())).await;
    // Over the body limit of the HTTP layer (2 MiB): JSON, not axum's text.
    let (status, v) = put_flow(&api, vec![b'#'; 3 * 1024 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(error(&v).contains("too large"), "{v}");
    // Over the flow source limit (1 MiB).
    let (status, v) = put_flow(&api, vec![b'#'; 1024 * 1024 + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!((v["limit"].as_str(), v["max"].as_u64()), (Some("size"), Some(1024 * 1024)), "{v}");
    // 100,000 levels of nesting (the 200 KB that took 38 s): refused at once.
    let deep = format!("flow: menu\nversion: 2\nstart: hi\nnodes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let (status, v) = put_flow(&api, deep.into_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!((v["limit"].as_str(), v["max"].as_u64()), (Some("depth"), Some(64)), "{v}");
    assert!(error(&v).contains("line 4"), "{v}");
    let compact = format!("flow: menu\nversion: 2\nstart: hi\nnodes:\n  {}x\n", "- ".repeat(50_000));
    let (status, v) = put_flow(&api, compact.into_bytes()).await;
    assert_eq!((status, v["limit"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("depth")), "{v}");
    let wide = format!("flow: menu\nversion: 2\nstart: hi\nnodes: [{}]\n", "1,".repeat(150_000));
    let (status, v) = put_flow(&api, wide.into_bytes()).await;
    assert_eq!((status, v["limit"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("nodes")), "{v}");
    // Nothing of that was taken; a good version still is.
    let (status, v) = api.get("/v1/flows/menu").await;
    assert_eq!((status, v["version"].as_str()), (StatusCode::OK, Some("1")), "{v}");
    let good = "flow: menu\nversion: 3\nstart: hi\nnodes:\n  hi:\n    say: \"Hi [again].\"\n    hangup: true\n";
    let (status, v) = put_flow(&api, good.as_bytes().to_vec()).await;
    assert_eq!((status, v["version"].as_str()), (StatusCode::OK, Some("3")), "{v}");
    // Not UTF-8: JSON 400.
    let (status, v) = put_flow(&api, vec![0xff, 0xfe, b'a']).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}
