//! Issue #6: the do-not-call list over the API: add (201), update (200),
//! list, remove (204), remove again (404); numbers and bodies validated.
//! Issue #13: numbers are normalised to E.164 before they are stored and
//! before every check, so `+` (or separators) no longer bypass the list.

mod api_common;

use api_common::{error, Api, TOKEN};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn round_trip() {
    let api = Api::new().await;
    let (status, v) = api.get("/v1/dnc").await;
    assert_eq!((status, v["numbers"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));

    let (status, v) = api.send(Method::PUT, "/v1/dnc/+5493510000000", Some(TOKEN), Some(json!({"reason": "asked on the phone"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!((v["number"].as_str(), v["reason"].as_str()), (Some("+5493510000000"), Some("asked on the phone")));
    // No body at all: the reason is empty. %2B is a plus too.
    let (status, v) = api.send(Method::PUT, "/v1/dnc/%2B15550100", Some(TOKEN), None).await;
    assert_eq!((status, v["number"].as_str(), v["reason"].as_str()), (StatusCode::CREATED, Some("+15550100"), Some("")));
    let (status, v) = api.send(Method::PUT, "/v1/dnc/5550100", Some(TOKEN), Some(json!({}))).await;
    assert_eq!((status, v["number"].as_str()), (StatusCode::CREATED, Some("+5550100")), "{v}");
    // Again: an update.
    let (status, v) = api.send(Method::PUT, "/v1/dnc/+5493510000000", Some(TOKEN), Some(json!({"reason": "complaint"}))).await;
    assert_eq!((status, v["reason"].as_str()), (StatusCode::OK, Some("complaint")));

    let (_, v) = api.get("/v1/dnc").await;
    let numbers: Vec<&str> = v["numbers"].as_array().unwrap().iter().map(|e| e["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["+15550100", "+5493510000000", "+5550100"]);
    assert_eq!(v["numbers"][1]["reason"], "complaint");
    assert!(api.store.dnc_contains("+5493510000000").await.unwrap());

    let (status, v) = api.send(Method::DELETE, "/v1/dnc/+5493510000000", Some(TOKEN), None).await;
    assert_eq!((status, v), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    let (status, v) = api.send(Method::DELETE, "/v1/dnc/+5493510000000", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&v).contains("not on the do-not-call list"), "{v}");
    assert!(!api.store.dnc_contains("+5493510000000").await.unwrap());
    let (_, v) = api.get("/v1/dnc").await;
    assert_eq!(v["numbers"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn numbers_and_bodies_are_validated() {
    let api = Api::new().await;
    for number in ["12", "+12", "abc", "++5550100", "1234567890123456", "%2B", "555x0100", "*123%23"] {
        for method in [Method::PUT, Method::DELETE] {
            let (status, v) = api.send(method.clone(), &format!("/v1/dnc/{number}"), Some(TOKEN), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {number}: {v}");
            assert!(error(&v).contains("`number`"), "{v}");
        }
    }
    let (status, _) = api.send(Method::PUT, "/v1/dnc/123", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::CREATED, "3 digits is the minimum");
    let (status, _) = api.send(Method::PUT, "/v1/dnc/+123456789012345", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::CREATED, "15 digits is the maximum (E.164)");
    for (body, names) in [
        (json!({"reason": 5}), "reason"),
        (json!({"reason": "x".repeat(501)}), "`reason`"),
        (json!({"why": "x"}), "unknown field `why`"),
        (json!([]), "bad body"),
    ] {
        let (status, v) = api.send(Method::PUT, "/v1/dnc/5550100", Some(TOKEN), Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(error(&v).contains(names), "{body}: {v}");
    }
    let (status, v) = api.raw(Method::PUT, "/v1/dnc/5550100", Some("application/json"), "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = api.get("/v1/dnc").await;
    assert_eq!(v["numbers"].as_array().map(Vec::len), Some(2), "nothing listed by the bad requests");
}

/// The bypass: listed as `5551234`, called as `+5551234`.
#[tokio::test]
async fn a_plus_or_separators_do_not_bypass_the_list() {
    let api = Api::new().await;
    let (status, v) = api.send(Method::PUT, "/v1/dnc/5551234", Some(TOKEN), None).await;
    assert_eq!((status, v["number"].as_str()), (StatusCode::CREATED, Some("+5551234")), "{v}");
    for spelling in ["+5551234", "555-1234", "555%201234", "00%205551234"] {
        let (status, v) = api.get(&format!("/v1/dnc/{spelling}")).await;
        assert_eq!(
            (status, v["listed"].as_bool(), v["number"].as_str()),
            (StatusCode::OK, Some(true), Some("+5551234")),
            "{spelling}: {v}"
        );
    }
    let (_, v) = api.get("/v1/dnc/5551235").await;
    assert_eq!(v["listed"], false);
    // POST /v1/calls checks the list with the same spelling, before anything else.
    let (status, v) = api.send(Method::POST, "/v1/calls", Some(TOKEN), Some(json!({"number": "+5551234"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(error(&v).contains("do-not-call"), "{v}");
    let (status, v) = api.send(Method::POST, "/v1/calls", Some(TOKEN), Some(json!({"number": "555 12x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).contains("`number`"), "{v}");
    // A row listed before numbers were normalised (no `+`) still counts, and goes.
    api.store.dnc_add("5557777", "legacy", 1).await.unwrap();
    let (_, v) = api.get("/v1/dnc/+5557777").await;
    assert_eq!(v["listed"], true, "{v}");
    let (status, _) = api.send(Method::DELETE, "/v1/dnc/5557777", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!api.store.dnc_contains("+5557777").await.unwrap());
    // With a default country, national spellings are that country's numbers.
    let cfg = sip_gateway::config::Config::from_toml("[numbers]\ndefault_country = \"AR\"\n", "c.toml").unwrap();
    let api = Api::with(|s| s.with_config(&cfg)).await;
    let (status, v) = api.send(Method::PUT, "/v1/dnc/0351-555-1234", Some(TOKEN), None).await;
    assert_eq!((status, v["number"].as_str()), (StatusCode::CREATED, Some("+543515551234")), "{v}");
    let (status, _) = api.send(Method::POST, "/v1/calls", Some(TOKEN), Some(json!({"number": "+54 351 5551234"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
