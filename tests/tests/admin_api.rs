//! Issue #3: the admin API answers health and active calls, with the token.

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
    let (s, v) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(s, 200);
    assert_eq!(v["calls"].as_array().map(Vec::len), Some(0));
    let (s, v) = gw.api_get("/v1/calls/nope/context", Some(&gw.token));
    assert_eq!((s, v["error"].is_string()), (404, true));
}
