//! Issue #13 item 14: scoped API tokens (`[[api.tokens]]` with `role =
//! "admin" | "agent" | "read"`; `[api].token` stays an admin token) and
//! `[api].public_url` as the base of the transfer context URL.

mod api_common;

use api_common::{error, Api, TOKEN};
use axum::http::{Method, StatusCode};
use serde_json::json;
use sip_gateway::config::Config;

const CONFIG: &str = r#"
[api]
token = "ignored-here"
public_url = "https://centralita.example:8443/"
[[api.tokens]]
token = "agent-token"
role = "agent"
[[api.tokens]]
token = "read-token"
role = "read"
[[api.tokens]]
token = "admin-2"
role = "admin"
"#;

#[tokio::test]
async fn each_role_may_do_its_part_only() {
    let cfg = Config::from_toml(CONFIG, "c.toml").expect("config");
    // The harness's own token plays `[api].token`: still an admin.
    let api = Api::with(|s| s.with_config(&cfg)).await;
    api_common::call(&api.store, "c1", "+5493510000001", "demo", 1_767_225_600_000, None).await;
    api.registry.set_context("c1", json!({"flow": "demo", "caller": "+5493510000001"})).await;

    let reads = ["/v1/calls", "/v1/calls/live", "/v1/calls/c1", "/v1/calls/c1/context"];
    let admin_reads = ["/v1/kpis", "/v1/dnc"];
    for token in [TOKEN, "admin-2", "read-token", "agent-token"] {
        for path in reads {
            let (status, v) = api.send(Method::GET, path, Some(token), None).await;
            assert_eq!(status, StatusCode::OK, "{token} GET {path}: {v}");
        }
    }
    for token in [TOKEN, "admin-2", "read-token"] {
        for path in admin_reads {
            let (status, v) = api.send(Method::GET, path, Some(token), None).await;
            assert_eq!(status, StatusCode::OK, "{token} GET {path}: {v}");
        }
    }
    // An agent reads calls and contexts, nothing else.
    for path in admin_reads {
        let (status, v) = api.send(Method::GET, path, Some("agent-token"), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "agent GET {path}: {v}");
        assert!(error(&v).contains("agent"), "{v}");
    }
    // Writes: admins only.
    for token in ["agent-token", "read-token"] {
        let (status, v) = api.send(Method::PUT, "/v1/dnc/5551234", Some(token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token} PUT dnc: {v}");
        let (status, v) = api.send(Method::POST, "/v1/calls", Some(token), Some(json!({"number": "5551234"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token} POST calls: {v}");
    }
    assert!(!api.store.dnc_contains("+5551234").await.unwrap(), "nothing listed by the refused requests");
    for token in [TOKEN, "admin-2"] {
        let (status, v) = api.send(Method::PUT, "/v1/dnc/5551234", Some(token), None).await;
        assert!(status.is_success(), "{token} PUT dnc: {v}");
    }
    // Unknown tokens stay 401, whatever the route.
    for token in ["wrong", "agent-token ", "ignored-here"] {
        let (status, _) = api.send(Method::GET, "/v1/calls", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
}

#[test]
fn context_urls_use_the_public_url() {
    let cfg = Config::from_toml(CONFIG, "c.toml").unwrap();
    assert_eq!(cfg.context_url("abc@10.0.0.1"), "https://centralita.example:8443/v1/calls/abc@10.0.0.1/context");
    assert_eq!(cfg.context_url("a b/c"), "https://centralita.example:8443/v1/calls/a%20b%2Fc/context");
    let plain = Config::from_toml("[api]\nlisten = \"127.0.0.1:8080\"\n", "c.toml").unwrap();
    assert_eq!(plain.context_url("x1"), "http://127.0.0.1:8080/v1/calls/x1/context");
    for (bad, names) in [
        ("[api]\npublic_url = \"ftp://x\"\n", "[api].public_url"),
        ("[api]\npublic_url = \"https://\"\n", "[api].public_url"),
        ("[[api.tokens]]\ntoken = \"t\"\nrole = \"boss\"\n", "unknown variant `boss`"),
        ("[[api.tokens]]\ntoken = \" \"\nrole = \"read\"\n", "[[api.tokens]] #1: token is empty"),
        ("[dashboard]\ntimezone = \"Mars/Olympus\"\n", "[dashboard].timezone"),
        ("[numbers]\ndefault_country = \"ZZ\"\n", "default_country"),
    ] {
        let e = Config::from_toml(bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains(names), "{bad:?}: {e}");
    }
}
