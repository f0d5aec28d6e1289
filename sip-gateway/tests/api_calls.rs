//! Issue #6: `GET /v1/calls` (stored calls: filters, cursor pagination,
//! parameter errors), `GET /v1/calls/{id}` (detail, 404) and the live calls
//! and transfer contexts from the registry.

mod api_common;

use api_common::{call, error, Api};
use axum::http::StatusCode;
use serde_json::Value;
use sip_gateway::registry::CallInfo;
use sip_gateway::store::{Outcome, Step, StepKind, SurveyAnswer, SurveyKind, Transfer, TransferMode};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn ids(v: &Value) -> Vec<String> {
    v["calls"].as_array().expect("calls").iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// 12 calls a minute apart: c00..c11; even ones on flow `sales`, odd on
/// `support`; callers cycle over three numbers; every third is transferred.
async fn fixture(api: &Api) {
    for i in 0..12 {
        let outcome = if i % 3 == 0 { Outcome::Transferred } else { Outcome::Completed };
        let flow = if i % 2 == 0 { "sales" } else { "support" };
        let at = T0 + i * 60_000;
        call(&api.store, &format!("c{i:02}"), &format!("+54935100000{}", i % 3), flow, at, Some((at + 30_000, outcome))).await;
    }
}

#[tokio::test]
async fn pages_walk_every_call_newest_first_without_overlap() {
    let api = Api::new().await;
    fixture(&api).await;
    let (status, first) = api.get("/v1/calls?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(ids(&first), ["c11", "c10", "c09", "c08", "c07"]);
    let mut seen = ids(&first);
    let mut cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let mut pages = 1;
    loop {
        let (status, page) = api.get(&format!("/v1/calls?limit=5&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..12).rev().map(|i| format!("c{i:02}")).collect();
    assert_eq!(seen, expected);
    // Default page size 50 takes all; the last page has a null cursor.
    let (_, all) = api.get("/v1/calls").await;
    assert_eq!((ids(&all).len(), &all["next_cursor"]), (12, &Value::Null));
    assert_eq!(all["calls"][0]["outcome"], "completed");
    // Times are RFC 3339 strings (issue #13).
    assert_eq!(all["calls"][0]["started_at"], "2026-01-01T00:11:00Z");
    assert_eq!(all["calls"][0]["ended_at"], "2026-01-01T00:11:30Z");
    assert_eq!(all["calls"][0]["answered_at"], Value::Null);
}

#[tokio::test]
async fn filters_combine() {
    let api = Api::new().await;
    fixture(&api).await;
    let (_, v) = api.get("/v1/calls?flow=sales").await;
    assert_eq!(ids(&v), ["c10", "c08", "c06", "c04", "c02", "c00"]);
    let (_, v) = api.get("/v1/calls?outcome=transferred").await;
    assert_eq!(ids(&v), ["c09", "c06", "c03", "c00"]);
    // The metrics' old word for `abandoned` is still understood.
    call(&api.store, "ab1", "+5493510000009", "sales", T0 - 60_000, Some((T0 - 30_000, Outcome::Abandoned))).await;
    for word in ["abandoned", "caller_hangup"] {
        let (_, v) = api.get(&format!("/v1/calls?outcome={word}")).await;
        assert_eq!(ids(&v), ["ab1"], "{word}");
    }
    let (_, v) = api.get("/v1/calls?caller=%2B549351000001").await;
    assert_eq!(ids(&v), ["c10", "c07", "c04", "c01"]);
    // from inclusive, to exclusive; RFC 3339 with an offset and Unix ms mix.
    let (_, v) = api.get(&format!("/v1/calls?from=2025-12-31T21:02:00-03:00&to={}", T0 + 5 * 60_000)).await;
    assert_eq!(ids(&v), ["c04", "c03", "c02"]);
    let (_, v) = api.get("/v1/calls?from=2026-01-01T00:03:00Z&flow=support&outcome=completed&limit=1").await;
    assert_eq!(ids(&v), ["c11"]);
    let (_, v) = api.get("/v1/calls?flow=billing").await;
    assert_eq!((ids(&v).len(), &v["next_cursor"]), (0, &Value::Null));
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let api = Api::new().await;
    fixture(&api).await;
    for (query, names) in [
        ("limit=0", "`limit`"),
        ("limit=501", "`limit`"),
        ("limit=ten", "`limit`"),
        ("limit=-1", "`limit`"),
        ("from=yesterday", "`from`"),
        ("to=2026-13-01T00:00:00Z", "`to`"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "`from` must be before `to`"),
        ("outcome=happy", "`outcome`"),
        ("cursor=garbage", "`cursor`"),
        ("flw=sales", "unknown field `flw`"),
    ] {
        let (status, v) = api.get(&format!("/v1/calls?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(error(&v).contains(names), "{query}: {v}");
    }
    let (status, v) = api.get("/v1/calls?limit=500").await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn one_call_with_everything_recorded_or_404() {
    let api = Api::new().await;
    fixture(&api).await;
    let s = &api.store;
    for seq in 0..2 {
        let step = Step {
            call_id: "c03".into(),
            seq,
            at: T0 + 3 * 60_000 + seq,
            kind: StepKind::Node,
            node: format!("n{seq}"),
            detail: String::new(),
            confidence: None,
            duration_ms: None,
        };
        s.add_step(step).await.unwrap();
    }
    let transfer = Transfer {
        call_id: "c03".into(),
        target: "sip:agents@127.0.0.1".into(),
        mode: TransferMode::Blind,
        result_code: Some(200),
        tried_at: T0 + 3 * 60_000 + 10,
        answered_ms: Some(900),
        ok: true,
        outcome: None,
        ring_ms: None,
        bridge_ms: None,
    };
    s.add_transfer(transfer).await.unwrap();
    s.add_survey_answer(SurveyAnswer { call_id: "c03".into(), kind: SurveyKind::Csat, score: 5, at: T0 + 3 * 60_000 + 20 }).await.unwrap();

    let (status, v) = api.get("/v1/calls/c03").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((v["id"].as_str(), v["flow"].as_str(), v["outcome"].as_str()), (Some("c03"), Some("support"), Some("transferred")));
    assert_eq!(v["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect::<Vec<_>>(), ["n0", "n1"]);
    assert_eq!((v["transfers"][0]["ok"].as_bool(), v["transfers"][0]["mode"].as_str()), (Some(true), Some("blind")));
    assert_eq!(v["survey_answers"][0]["score"], 5);
    for list in ["consents", "business_events", "ab_assignments"] {
        assert_eq!(v[list].as_array().map(Vec::len), Some(0), "{list}");
    }
    let (status, v) = api.get("/v1/calls/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&v).contains("nope"), "{v}");
    // Percent-encoded ids are decoded.
    let (status, _) = api.get("/v1/calls/c%303").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn live_calls_and_contexts_come_from_the_registry() {
    let api = Api::new().await;
    fixture(&api).await;
    let (status, v) = api.get("/v1/calls/live").await;
    assert_eq!((status, v["calls"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "stored calls are not live");
    let info = CallInfo {
        call_id: "live-1".into(),
        caller: "+5493510000000".into(),
        called: "5550100".into(),
        flow: "sales".into(),
        state: "in_flow".into(),
        node: Some("welcome".into()),
        started_unix_ms: 1,
        first_response_ms: Some(120),
    };
    api.registry.upsert(info);
    api.registry.set_context("live-1", serde_json::json!({"caller": "+5493510000000", "intent": "sales"})).await;
    let (_, v) = api.get("/v1/calls/live").await;
    // The stored calls' words: `id`, `started_at` (RFC 3339).
    assert_eq!((&v["calls"][0]["id"], &v["calls"][0]["started_at"]), (&"live-1".into(), &"1970-01-01T00:00:00.001Z".into()), "{v}");
    assert!(v["calls"][0].get("call_id").is_none() && v["calls"][0].get("started_unix_ms").is_none(), "{v}");
    assert_eq!(v["calls"][0]["first_response_ms"], 120);
    let (status, v) = api.get("/v1/calls/live-1/context").await;
    assert_eq!((status, v["intent"].as_str()), (StatusCode::OK, Some("sales")));
    let (status, v) = api.get("/v1/calls/c00/context").await;
    assert_eq!((status, error(&v)), (StatusCode::NOT_FOUND, "no transfer context for that call"));
}

/// Issue #13: CDRs name the flow by its file (`flows/demo.yaml`) while
/// `/v1/flows` and contexts say `demo`: the filter takes either. Callers
/// are compared in E.164, whatever the spelling asked for.
#[tokio::test]
async fn flow_by_name_or_path_and_caller_in_any_spelling() {
    let source = "flow: demo\nstart: bye\nnodes:\n  bye:\n    say: \"Goodbye.\"\n    hangup: true\n";
    let flow = dialogs::parse_flow(source, "flows/demo.yaml").expect("flow");
    let flows = std::sync::Arc::new(sip_gateway::flows::FlowStore::from_flows([("flows/demo.yaml".into(), std::sync::Arc::new(flow))]));
    let api = Api::with(|s| s.with_flows(flows)).await;
    call(&api.store, "d1", "5493510000001", "flows/demo.yaml", T0, None).await;
    call(&api.store, "d2", "+5493510000002", "demo", T0 + 1, None).await;
    call(&api.store, "o1", "+5493510000001", "flows/other.yaml", T0 + 2, None).await;
    for flow in ["demo", "flows/demo.yaml"] {
        let (status, v) = api.get(&format!("/v1/calls?flow={flow}")).await;
        assert_eq!((status, ids(&v)), (StatusCode::OK, vec!["d2".to_string(), "d1".to_string()]), "flow={flow}: {v}");
    }
    let (_, v) = api.get("/v1/calls?flow=other").await;
    assert_eq!(ids(&v).len(), 0, "an unknown flow name matches only itself: {v}");
    // Stored as signalled (`549…`) or in E.164 (`+549…`): one caller.
    for caller in ["%2B5493510000001", "5493510000001", "%2B54%209%20351%20000-0001", "0054%209351%200000001"] {
        let (_, v) = api.get(&format!("/v1/calls?caller={caller}")).await;
        assert_eq!(ids(&v), ["o1", "d1"], "caller={caller}: {v}");
    }
    let (_, v) = api.get("/v1/calls?caller=anonymous").await;
    assert_eq!(ids(&v).len(), 0);
}
