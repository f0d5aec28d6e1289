//! Issue #6: the OpenAPI schemas of the store's types are hand-kept
//! mirrors (`src/api/schema.rs`); real responses must carry exactly the
//! fields the document lists, so that a field added to the store and not
//! to the mirror (or the reverse) fails here.

mod api_common;

use std::collections::BTreeSet;

use api_common::{call, Api, TOKEN};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sip_gateway::registry::CallInfo;
use sip_gateway::store::{AbAssignment, Consent, Outcome, Step, StepKind, SurveyAnswer, SurveyKind, Transfer, TransferMode};

/// The property names of a component schema, following `allOf` and `$ref`.
fn doc_fields(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    fields_of(doc, schema)
}

fn fields_of(doc: &Value, schema: &Value) -> BTreeSet<String> {
    if let Some(r) = schema["$ref"].as_str() {
        return doc_fields(doc, r.trim_start_matches("#/components/schemas/"));
    }
    let mut out: BTreeSet<String> = schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(fields_of(doc, part));
    }
    out
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

#[tokio::test]
async fn responses_carry_exactly_the_documented_fields() {
    let api = Api::new().await;
    let s = &api.store;
    call(s, "c1", "+5493510000001", "sales", 1_000, Some((2_000, Outcome::Completed))).await;
    let step = Step {
        call_id: "c1".into(),
        seq: 0,
        at: 1_100,
        kind: StepKind::Intent,
        node: "welcome".into(),
        detail: "sales".into(),
        confidence: Some(0.9),
        duration_ms: Some(10),
    };
    s.add_step(step).await.unwrap();
    let transfer = Transfer {
        call_id: "c1".into(),
        target: "sip:a@b".into(),
        mode: TransferMode::Warm,
        result_code: None,
        tried_at: 1_200,
        answered_ms: None,
        ok: false,
        outcome: None,
        ring_ms: None,
        bridge_ms: None,
    };
    s.add_transfer(transfer).await.unwrap();
    s.add_consent(Consent { call_id: "c1".into(), caller: "+5493510000001".into(), purpose: "recording".into(), granted: true, at: 1_300 })
        .await
        .unwrap();
    s.add_survey_answer(SurveyAnswer { call_id: "c1".into(), kind: SurveyKind::Nps, score: 9, at: 1_400 }).await.unwrap();
    s.set_ab_assignment(AbAssignment { call_id: "c1".into(), experiment: "greeting".into(), variant: "A".into() }).await.unwrap();
    let event = json!({"kind": "order", "call_id": "c1", "value": 1.0, "currency": "EUR", "idempotency_key": "k"});
    let (status, event) = api.send(Method::POST, "/v1/events", Some(TOKEN), Some(event)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, dnc) = api.send(Method::PUT, "/v1/dnc/5550100", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::CREATED);
    api.registry.upsert(CallInfo {
        call_id: "live".into(),
        caller: "1".into(),
        called: "2".into(),
        flow: "f".into(),
        state: "s".into(),
        node: None,
        started_unix_ms: 0,
        first_response_ms: None,
    });

    let (_, doc) = api.send(Method::GET, "/openapi.json", None, None).await;
    let (_, list) = api.get("/v1/calls").await;
    let (_, detail) = api.get("/v1/calls/c1").await;
    let (_, live) = api.get("/v1/calls/live").await;
    let (_, dncs) = api.get("/v1/dnc").await;
    let (_, kpis) = api.get("/v1/kpis?from=0&to=10000&group_by=flow").await;
    let (_, health) = api.send(Method::GET, "/healthz", None, None).await;
    let (_, bad) = api.get("/v1/calls?limit=0").await;
    for (schema, value) in [
        ("CallList", &list),
        ("CallRecord", &list["calls"][0]),
        ("CallDetail", &detail),
        ("Step", &detail["steps"][0]),
        ("Transfer", &detail["transfers"][0]),
        ("Consent", &detail["consents"][0]),
        ("SurveyAnswer", &detail["survey_answers"][0]),
        ("EventRecord", &detail["business_events"][0]),
        ("EventRecord", &event),
        ("AbAssignment", &detail["ab_assignments"][0]),
        ("LiveCalls", &live),
        ("LiveCall", &live["calls"][0]),
        ("DncList", &dncs),
        ("DncEntry", &dncs["numbers"][0]),
        ("DncEntry", &dnc),
        ("KpiReport", &kpis),
        ("Kpis", &kpis["total"]),
        ("KpiGroup", &kpis["groups"][0]),
        ("Health", &health),
        ("ErrorBody", &bad),
    ] {
        assert_eq!(keys(value), doc_fields(&doc, schema), "{schema} vs {value}");
    }
}
