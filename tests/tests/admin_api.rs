//! Issues #3 and #6: the admin API of the real binary answers health, stored
//! and live calls, KPIs and the do-not-call list with the token, and its
//! OpenAPI document without. (Each endpoint's behaviour in detail is tested
//! in process: `sip-gateway/tests/api_*.rs`.)

use centralita_e2e::Gateway;

#[test]
fn health_and_calls_need_the_token() {
    let gw = Gateway::start();
    let (s, v) = gw.api_get("/healthz", None);
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v) = gw.api_get("/v1/calls", None);
    assert_eq!(s, 401);
    assert!(v["error"].is_string());
    let (s, _) = gw.api_get("/v1/calls", Some("wrong"));
    assert_eq!(s, 401);
    // Stored calls (a fresh database) and live calls: both `{"calls": []}`.
    let (s, v) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["calls"].as_array().map(Vec::len), Some(0));
    assert!(v["next_cursor"].is_null());
    let (s, v) = gw.api_get("/v1/calls/live", Some(&gw.token));
    assert_eq!((s, v["calls"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
    let (s, v) = gw.api_get("/v1/calls/nope/context", Some(&gw.token));
    assert_eq!((s, v["error"].is_string()), (404, true));
    let (s, v) = gw.api_get("/v1/calls/nope", Some(&gw.token));
    assert_eq!((s, v["error"].is_string()), (404, true));
}

#[test]
fn kpis_dnc_and_the_openapi_document() {
    let gw = Gateway::start();
    let (s, v) = gw.api_get("/v1/kpis?group_by=day", Some(&gw.token));
    assert_eq!((s, v["total"]["calls"].as_u64()), (200, Some(0)), "{v}");
    let (s, v) = gw.api_get("/v1/kpis?group_by=week", Some(&gw.token));
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("group_by")), "{v}");
    let (s, v) = gw.api_get("/v1/dnc", Some(&gw.token));
    assert_eq!((s, v["numbers"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
    let (s, v) = gw.api_get("/openapi.json", None);
    assert_eq!(s, 200);
    assert!(v["openapi"].as_str().is_some_and(|o| o.starts_with("3.1")), "{v}");
    for path in ["/v1/calls", "/v1/calls/live", "/v1/calls/{id}", "/v1/events", "/v1/kpis", "/v1/dnc/{number}"] {
        assert!(v["paths"][path].is_object(), "{path} missing from the document");
    }
}
