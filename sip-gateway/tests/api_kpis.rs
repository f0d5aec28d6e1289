//! Issue #6: `GET /v1/kpis` over a small fixture written through the Store
//! API, in total and grouped by day, flow and A/B variant; range and
//! `group_by` errors. Numbers worked out by hand in the comments.

mod api_common;

use api_common::{call, error, Api};
use axum::http::StatusCode;
use serde_json::{json, Value};
use sip_gateway::store::{AbAssignment, BusinessEvent, EventKind, Outcome, SurveyAnswer, SurveyKind, Transfer, TransferMode};

const T0: i64 = 1_740_787_200_000; // 2025-03-01T00:00:00Z: every 7-day FCR window has closed
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// k1 A sales   day 1: prompt +200, completed, order 100 EUR, CSAT 5, variant greeting/A
/// k2 B sales   day 1: prompt +400, transferred (ok), NPS 10, variant greeting/B
/// k3 A support day 2: prompt +300, abandoned after a failed transfer, NPS 3, order 50 EUR, a lead
/// k4 C support day 2: no prompt, failed
async fn fixture(api: &Api) {
    let s = &api.store;
    let (a, b, c) = ("+5493510000001", "+5493510000002", "+5493510000003");
    call(s, "k1", a, "sales", T0, Some((T0 + 60_000, Outcome::Completed))).await;
    call(s, "k2", b, "sales", T0 + HOUR, Some((T0 + HOUR + 60_000, Outcome::Transferred))).await;
    call(s, "k3", a, "support", T0 + DAY, Some((T0 + DAY + 60_000, Outcome::Abandoned))).await;
    call(s, "k4", c, "support", T0 + DAY + HOUR, Some((T0 + DAY + HOUR + 5_000, Outcome::Failed))).await;
    for (id, at) in [("k1", T0 + 200), ("k2", T0 + HOUR + 400), ("k3", T0 + DAY + 300)] {
        s.first_prompt(id, at).await.unwrap();
    }
    for (id, ok, at) in [("k2", true, T0 + HOUR + 10_000), ("k3", false, T0 + DAY + 10_000)] {
        let t = Transfer {
            call_id: id.into(),
            target: "sip:agents@127.0.0.1".into(),
            mode: TransferMode::Blind,
            result_code: Some(if ok { 200 } else { 486 }),
            tried_at: at,
            answered_ms: None,
            ok,
            outcome: None,
            ring_ms: None,
            bridge_ms: None,
        };
        s.add_transfer(t).await.unwrap();
    }
    for (id, kind, score) in [("k1", SurveyKind::Csat, 5), ("k2", SurveyKind::Nps, 10), ("k3", SurveyKind::Nps, 3)] {
        s.add_survey_answer(SurveyAnswer { call_id: id.into(), kind, score, at: T0 + DAY * 2 }).await.unwrap();
    }
    for (id, caller, kind, value, key) in [
        ("k1", a, EventKind::Order, Some(100.0), "o1"),
        ("k3", a, EventKind::Order, Some(50.0), "o2"),
        ("k3", a, EventKind::Lead, None, "l1"),
    ] {
        let e = BusinessEvent {
            call_id: Some(id.into()),
            caller: caller.into(),
            kind,
            value,
            currency: value.map(|_| "EUR".into()),
            payload: json!({}),
            at: T0 + DAY * 2,
            idempotency_key: key.into(),
        };
        assert!(s.add_business_event(e).await.unwrap());
    }
    for (id, variant) in [("k1", "A"), ("k2", "B")] {
        s.set_ab_assignment(AbAssignment { call_id: id.into(), experiment: "greeting".into(), variant: variant.into() }).await.unwrap();
    }
}

async fn kpis(api: &Api, query: &str) -> Value {
    let (status, v) = api.get(&format!("/v1/kpis?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {v}");
    v
}

fn group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"].as_array().unwrap().iter().find(|g| g["key"] == key).unwrap_or_else(|| panic!("no group {key}: {report}"))
}

#[tokio::test]
async fn totals_match_the_definitions() {
    let api = Api::new().await;
    fixture(&api).await;
    let r = kpis(&api, "from=2025-03-01T00:00:00Z&to=2025-03-08T00:00:00Z").await;
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str(), &r["group_by"]),
        (Some("2025-03-01T00:00:00Z"), Some("2025-03-08T00:00:00Z"), &Value::Null)
    );
    assert_eq!(r["timezone"], "UTC");
    assert_eq!(r["groups"], json!([]));
    let t = &r["total"];
    assert_eq!(t["calls"], 4);
    // First response: 200, 300, 400 ms.
    assert_eq!((t["first_response_samples"].as_u64(), t["first_response_avg_ms"].as_f64()), (Some(3), Some(300.0)));
    assert_eq!(t["first_response_p50_ms"], 300);
    // Contained: k1 (completed in the flow) only; k3 (its transfer failed,
    // then the caller hung up) is abandoned, not a bot success.
    assert_eq!((t["contained"].as_u64(), t["containment_pct"].as_f64()), (Some(1), Some(25.0)));
    assert_eq!((t["abandoned"].as_u64(), t["abandon_rate_pct"].as_f64()), (Some(1), Some(25.0)));
    assert_eq!(
        (t["transfers_tried"].as_u64(), t["transfers_ok"].as_u64(), t["effective_handoff_pct"].as_f64()),
        (Some(2), Some(1), Some(50.0))
    );
    // FCR: A called again within 7 days after k1; k2, k3, k4 resolved.
    assert_eq!((t["fcr_calls"].as_u64(), t["fcr_resolved"].as_u64(), t["fcr_pct"].as_f64()), (Some(4), Some(3), Some(75.0)));
    assert_eq!((t["csat_answers"].as_u64(), t["csat_avg"].as_f64()), (Some(1), Some(5.0)));
    // NPS: one promoter (10), one detractor (3).
    assert_eq!((t["nps_answers"].as_u64(), t["nps"].as_f64()), (Some(2), Some(0.0)));
    assert_eq!((t["converted_calls"].as_u64(), t["assisted_conversion_pct"].as_f64()), (Some(2), Some(50.0)));
    assert_eq!((&t["revenue"], &t["revenue_per_conversation"]), (&json!({"EUR": 150.0}), &json!({"EUR": 37.5})));

    // Unix milliseconds work as well; the range cuts k1 and k2 off.
    let r = kpis(&api, &format!("from={}&to={}", T0 + DAY, T0 + 2 * DAY)).await;
    assert_eq!((r["total"]["calls"].as_u64(), r["total"]["revenue"]["EUR"].as_f64()), (Some(2), Some(50.0)));
    // The default range is the last 7 days: none of the fixture.
    let r = kpis(&api, "").await;
    assert_eq!((r["total"]["calls"].as_u64(), &r["total"]["containment_pct"]), (Some(0), &Value::Null));
    let ms = |k: &str| r[k].as_str().and_then(sip_gateway::store::json_time::from_rfc3339).unwrap();
    assert_eq!(ms("to") - ms("from"), 7 * DAY);
}

#[tokio::test]
async fn grouped_by_flow_day_and_variant() {
    let api = Api::new().await;
    fixture(&api).await;
    let range = format!("from={T0}&to={}", T0 + 7 * DAY);
    let r = kpis(&api, &format!("{range}&group_by=flow")).await;
    assert_eq!(r["group_by"], "flow");
    let (sales, support) = (group(&r, "sales"), group(&r, "support"));
    assert_eq!(
        (sales["calls"].as_u64(), sales["contained"].as_u64(), sales["revenue_per_conversation"]["EUR"].as_f64()),
        (Some(2), Some(1), Some(50.0))
    );
    assert_eq!((sales["effective_handoff_pct"].as_f64(), sales["fcr_pct"].as_f64()), (Some(100.0), Some(50.0)));
    assert_eq!((support["calls"].as_u64(), support["first_response_avg_ms"].as_f64()), (Some(2), Some(300.0)));
    assert_eq!((support["contained"].as_u64(), support["abandon_rate_pct"].as_f64()), (Some(0), Some(50.0)));
    assert_eq!(sales["abandon_rate_pct"].as_f64(), Some(0.0));
    assert_eq!((support["effective_handoff_pct"].as_f64(), support["revenue_per_conversation"]["EUR"].as_f64()), (Some(0.0), Some(25.0)));
    assert_eq!((support["nps"].as_f64(), sales["nps"].as_f64()), (Some(-100.0), Some(100.0)));

    let r = kpis(&api, &format!("{range}&group_by=day")).await;
    let keys: Vec<&str> = r["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["2025-03-01", "2025-03-02"]);
    assert_eq!(group(&r, "2025-03-02")["converted_calls"], 1);

    let r = kpis(&api, &format!("{range}&group_by=variant")).await;
    let keys: Vec<&str> = r["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["greeting/A", "greeting/B", "none"]);
    assert_eq!(
        (group(&r, "greeting/A")["assisted_conversion_pct"].as_f64(), group(&r, "greeting/B")["containment_pct"].as_f64()),
        (Some(100.0), Some(0.0))
    );
    assert_eq!(group(&r, "none")["calls"], 2);
    assert_eq!(r["total"]["calls"], 4);
}

#[tokio::test]
async fn bad_ranges_and_groupings_are_400() {
    let api = Api::new().await;
    for (query, names) in [
        ("group_by=week", "`group_by` must be day, flow or variant"),
        ("from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "`from` must be before `to`"),
        ("from=1000&to=1000", "`from` must be before `to`"),
        ("from=last-week", "`from`"),
        ("to=2025-03-01", "`to`"),
        ("since=0", "unknown field `since`"),
    ] {
        let (status, v) = api.get(&format!("/v1/kpis?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(error(&v).contains(names), "{query}: {v}");
    }
}
