//! Issue #6: `POST /v1/events` stores external business events: 201 with
//! the stored event, 200 with the same event on an idempotent repeat, 400
//! naming the field of a bad body, 404 for an unknown `call_id`.

mod api_common;

use api_common::{call, error, Api, TOKEN};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(api: &Api, body: Value) -> (StatusCode, Value) {
    api.send(Method::POST, "/v1/events", Some(TOKEN), Some(body)).await
}

#[tokio::test]
async fn an_order_is_stored_once_and_repeats_return_it() {
    let api = Api::new().await;
    call(&api.store, "c1", "+5493510000001", "sales", 1_000, None).await;
    let order = json!({
        "kind": "order", "call_id": "c1", "value": 120.5, "currency": "ARS",
        "payload": {"sku": "A-1"}, "at": "1970-01-01T00:00:02Z", "idempotency_key": "order-1"
    });
    let (status, first) = post(&api, order.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["caller"], "+5493510000001", "the call's caller by default");
    assert_eq!((first["kind"].as_str(), first["value"].as_f64(), first["currency"].as_str()), (Some("order"), Some(120.5), Some("ARS")));
    assert_eq!((first["payload"]["sku"].as_str(), first["at"].as_str()), (Some("A-1"), Some("1970-01-01T00:00:02Z")));
    assert_eq!(first["id"].as_str().map(str::len), Some(32));

    let (status, again) = post(&api, order).await;
    assert_eq!((status, &again), (StatusCode::OK, &first), "a repeat answers the stored event");
    // Same key, different body: still the first event, nothing new stored.
    let (status, other) = post(&api, json!({"kind": "lead", "caller": "+1555000", "idempotency_key": "order-1"})).await;
    assert_eq!((status, &other), (StatusCode::OK, &first));
    let (_, detail) = api.get("/v1/calls/c1").await;
    assert_eq!(detail["business_events"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["business_events"][0]["id"], first["id"]);
    // The CRM delivery was queued once.
    let due = api.store.due_outbox(i64::MAX, 10).await.unwrap();
    assert_eq!(due.iter().filter(|d| d.idempotency_key == "order-1").count(), 1);
}

#[tokio::test]
async fn events_without_a_call_need_a_caller() {
    let api = Api::new().await;
    let (status, v) = post(&api, json!({"kind": "lead", "caller": "+5493510000009", "idempotency_key": "lead-1"})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!((v["call_id"].clone(), v["payload"].clone(), v["value"].clone()), (Value::Null, json!({}), Value::Null));
    let at = v["at"].as_str().and_then(sip_gateway::store::json_time::from_rfc3339).expect("an RFC 3339 time");
    assert!(at > 1_700_000_000_000, "now by default");
    let (status, v) = post(&api, json!({"kind": "recontact", "idempotency_key": "r-1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&v).contains("`caller`"), "{v}");
}

#[tokio::test]
async fn an_unknown_call_is_404() {
    let api = Api::new().await;
    let (status, v) = post(&api, json!({"kind": "lead", "call_id": "ghost", "caller": "+1555", "idempotency_key": "k"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&v).contains("ghost"), "{v}");
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let api = Api::new().await;
    let base = json!({"kind": "order", "caller": "+5493510000001", "value": 10.0, "currency": "EUR", "idempotency_key": "k1"});
    let with = |patch: Value| {
        let mut b = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    for (body, names) in [
        (with(json!({"value": null})), "`value` is required for an order"),
        (with(json!({"currency": null})), "`currency` is required with `value`"),
        (with(json!({"currency": "eur"})), "`currency` must be an ISO 4217 code"),
        (with(json!({"currency": "EURO"})), "`currency`"),
        (with(json!({"value": -1})), "`value` must be a number"),
        (with(json!({"value": "ten"})), "value"),
        (with(json!({"kind": "refund"})), "kind"),
        (with(json!({"kind": null})), "missing field `kind`"),
        (with(json!({"idempotency_key": null})), "missing field `idempotency_key`"),
        (with(json!({"idempotency_key": "  "})), "`idempotency_key`"),
        (with(json!({"idempotency_key": "x".repeat(201)})), "`idempotency_key`"),
        (with(json!({"payload": [1, 2]})), "`payload` must be a JSON object"),
        (with(json!({"at": "soon"})), "`at`"),
        (with(json!({"caller": ""})), "`caller`"),
        (with(json!({"colour": "red"})), "unknown field `colour`"),
    ] {
        let (status, v) = post(&api, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(error(&v).contains(names), "{body}: {v}");
    }
    let (status, v) = api.raw(Method::POST, "/v1/events", Some("application/json"), "{\"kind\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = api.raw(Method::POST, "/v1/events", None, &base.to_string()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    assert!(api.store.due_outbox(i64::MAX, 10).await.unwrap().is_empty(), "nothing stored");
    let (status, _) = post(&api, base).await;
    assert_eq!(status, StatusCode::CREATED);
}
