//! The KPIs of DESIGN.md §6 on a fixture of 10 calls in range (plus calls
//! just outside it) with a known mix of outcomes (completed, transferred,
//! abandoned after two failed transfers, failed, still running), against
//! hand-computed values asserted exactly: total,
//! by flow, by day, by A/B variant, and first-contact resolution while the
//! 7-day windows of recent calls are still open. SQLite and PostgreSQL.

#[path = "store_common.rs"]
mod common;

use std::collections::BTreeMap;

use serde_json::json;
use sip_gateway::store::*;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

const A: &str = "+5493510000001";
const B: &str = "+5493510000002";
const C: &str = "+5493510000003";
const DD: &str = "+5493510000004";
const E: &str = "+5493510000005";
const G: &str = "+5493510000007";

/// id, caller, direction, flow, started_at, first prompt after (ms), outcome.
type Spec = (&'static str, &'static str, Direction, &'static str, i64, Option<i64>, Option<Outcome>);
/// call id, kind, value, currency.
type EventSpec = (Option<&'static str>, EventKind, Option<f64>, Option<&'static str>);

async fn fixture(s: &Store) {
    use Direction::*;
    use Outcome::*;
    let calls: [Spec; 13] = [
        ("c1", A, Inbound, "sales", T0 + H, Some(300), Some(Completed)),
        ("c2", B, Inbound, "sales", T0 + 2 * H, Some(500), Some(Transferred)),
        ("c3", A, Inbound, "support", T0 + 3 * H, Some(700), Some(Completed)),
        ("c7", "anonymous", Inbound, "support", T0 + 4 * H, Some(600), Some(Completed)),
        ("c4", C, Inbound, "support", T0 + D + H, Some(400), Some(Completed)),
        ("c5", DD, Inbound, "sales", T0 + D + 2 * H, Some(1900), Some(Transferred)),
        ("c6", E, Inbound, "sales", T0 + D + 3 * H, None, Some(Abandoned)),
        ("c8", B, Inbound, "support", T0 + D + 4 * H, Some(200), Some(Failed)),
        ("c10", G, Inbound, "sales", T0 + D + 5 * H, Some(900), None),
        // Outbound from D's number: never a repeat of D's c5.
        ("c9", DD, Outbound, "sales", T0 + D + 6 * H, Some(800), Some(Completed)),
        // Out of range: C calls again 6 days after c4; E called before c6;
        // c13 starts exactly at `to`.
        ("c11", C, Inbound, "support", T0 + 7 * D + H, Some(100), Some(Completed)),
        ("c12", E, Inbound, "sales", T0 - H, Some(100), Some(Completed)),
        ("c13", "+5493510000008", Inbound, "sales", T0 + 2 * D, Some(100), Some(Completed)),
    ];
    for (id, caller, direction, flow, started_at, first_prompt, outcome) in calls {
        let call = NewCall {
            id: id.into(),
            sip_call_id: format!("{id}@trunk"),
            caller: caller.into(),
            called: "5550100".into(),
            flow: flow.into(),
            flow_version: "v1".into(),
            direction,
            started_at,
            ab_variant: None,
        };
        s.insert_call(call).await.unwrap();
        s.call_answered(id, started_at + 50).await.unwrap();
        if let Some(after) = first_prompt {
            s.first_prompt(id, started_at + after).await.unwrap();
            s.first_prompt(id, started_at + after + 5_000).await.unwrap(); // ignored
        }
        if let Some(outcome) = outcome {
            let end = CallEnd { call_id: id.into(), at: started_at + 60_000, outcome, hangup_side: HangupSide::Caller, hangup_cause: None };
            s.call_ended(end).await.unwrap();
        }
    }
    // c6 is the abandoned call: two failed transfers, then the
    // caller hung up. Not contained, abandoned.
    // Time to agent: the successful transfers' answered_ms (c4's is a
    // failed attempt's and does not count).
    let transfers = [
        ("c2", Some(200), true, Some(1200)),
        ("c4", Some(486), false, Some(999)),
        ("c5", None, false, None),
        ("c5", Some(202), true, Some(3000)),
        ("c6", Some(503), false, None),
        ("c6", Some(480), false, None),
    ];
    for (id, code, ok, answered_ms) in transfers {
        let t = Transfer {
            call_id: id.into(),
            target: "sip:agents@127.0.0.1:5070".into(),
            mode: TransferMode::Blind,
            result_code: code,
            tried_at: T0,
            answered_ms,
            ok,
            outcome: None,
            ring_ms: None,
            bridge_ms: None,
        };
        s.add_transfer(t).await.unwrap();
    }
    use SurveyKind::*;
    for (id, kind, score) in [
        ("c1", Csat, 5),
        ("c3", Csat, 3),
        ("c4", Csat, 2),
        ("c2", Nps, 10),
        ("c3", Nps, 6),
        ("c4", Nps, 9),
        ("c8", Nps, 7),
        ("c11", Nps, 0),
    ] {
        s.add_survey_answer(SurveyAnswer { call_id: id.into(), kind, score, at: T0 }).await.unwrap();
    }
    let events: [EventSpec; 9] = [
        (Some("c1"), EventKind::Order, Some(100.0), Some("EUR")),
        (Some("c1"), EventKind::Order, None, Some("EUR")),
        (Some("c3"), EventKind::Order, Some(5.0), None),
        (Some("c5"), EventKind::Order, Some(50.5), Some("EUR")),
        (Some("c5"), EventKind::Order, Some(20.0), Some("USD")),
        (Some("c10"), EventKind::Order, Some(30.0), Some("EUR")),
        (Some("c7"), EventKind::Lead, Some(1000.0), Some("EUR")),
        (Some("c13"), EventKind::Order, Some(77.0), Some("EUR")),
        (None, EventKind::Order, Some(999.0), Some("EUR")),
    ];
    for (i, (call_id, kind, value, currency)) in events.into_iter().enumerate() {
        let e = BusinessEvent {
            call_id: call_id.map(Into::into),
            caller: A.into(),
            kind,
            value,
            currency: currency.map(Into::into),
            payload: json!({ "n": i }),
            at: T0,
            idempotency_key: format!("ev-{i}"),
        };
        s.add_business_event(e).await.unwrap();
    }
    for (id, experiment, variant) in
        [("c1", "greeting", "a"), ("c3", "greeting", "a"), ("c2", "greeting", "b"), ("c4", "greeting", "b"), ("c4", "music", "on")]
    {
        s.set_ab_assignment(AbAssignment { call_id: id.into(), experiment: experiment.into(), variant: variant.into() }).await.unwrap();
    }
}

fn money(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|&(c, v)| (c.to_string(), v)).collect()
}

fn total() -> Kpis {
    Kpis {
        calls: 10,
        first_response_samples: 9,
        first_response_avg_ms: Some(700.0),
        first_response_p50_ms: Some(600),
        contained: 5,
        containment_pct: Some(50.0),
        abandoned: 1,
        abandon_rate_pct: Some(10.0),
        transfers_tried: 6,
        transfers_ok: 2,
        effective_handoff_pct: Some(100.0 / 3.0),
        time_to_agent_samples: 2,
        time_to_agent_avg_ms: Some(2100.0),
        time_to_agent_p50_ms: Some(1200),
        fcr_calls: 8,
        fcr_resolved: 5,
        fcr_pct: Some(62.5),
        csat_answers: 3,
        csat_avg: Some(10.0 / 3.0),
        nps_answers: 4,
        nps: Some(25.0),
        converted_calls: 4,
        assisted_conversion_pct: Some(40.0),
        revenue: money(&[("EUR", 180.5), ("USD", 20.0), ("XXX", 5.0)]),
        revenue_per_conversation: money(&[("EUR", 18.05), ("USD", 2.0), ("XXX", 0.5)]),
    }
}

fn group(key: &str, kpis: Kpis) -> KpiGroup {
    KpiGroup { key: key.into(), kpis }
}

fn by_flow() -> Vec<KpiGroup> {
    let sales = Kpis {
        calls: 6,
        first_response_samples: 5,
        first_response_avg_ms: Some(880.0),
        first_response_p50_ms: Some(800),
        contained: 2,
        containment_pct: Some(100.0 / 3.0),
        abandoned: 1,
        abandon_rate_pct: Some(100.0 / 6.0),
        transfers_tried: 5,
        transfers_ok: 2,
        effective_handoff_pct: Some(40.0),
        time_to_agent_samples: 2,
        time_to_agent_avg_ms: Some(2100.0),
        time_to_agent_p50_ms: Some(1200),
        fcr_calls: 5,
        fcr_resolved: 3,
        fcr_pct: Some(60.0),
        csat_answers: 1,
        csat_avg: Some(5.0),
        nps_answers: 1,
        nps: Some(100.0),
        converted_calls: 3,
        assisted_conversion_pct: Some(50.0),
        revenue: money(&[("EUR", 180.5), ("USD", 20.0)]),
        revenue_per_conversation: money(&[("EUR", 180.5 / 6.0), ("USD", 20.0 / 6.0)]),
    };
    let support = Kpis {
        calls: 4,
        first_response_samples: 4,
        first_response_avg_ms: Some(475.0),
        first_response_p50_ms: Some(400),
        contained: 3,
        containment_pct: Some(75.0),
        abandoned: 0,
        abandon_rate_pct: Some(0.0),
        transfers_tried: 1,
        transfers_ok: 0,
        effective_handoff_pct: Some(0.0),
        time_to_agent_samples: 0,
        time_to_agent_avg_ms: None,
        time_to_agent_p50_ms: None,
        fcr_calls: 3,
        fcr_resolved: 2,
        fcr_pct: Some(200.0 / 3.0),
        csat_answers: 2,
        csat_avg: Some(2.5),
        nps_answers: 3,
        nps: Some(0.0),
        converted_calls: 1,
        assisted_conversion_pct: Some(25.0),
        revenue: money(&[("XXX", 5.0)]),
        revenue_per_conversation: money(&[("XXX", 1.25)]),
    };
    vec![group("sales", sales), group("support", support)]
}

fn by_day() -> Vec<KpiGroup> {
    let first = Kpis {
        calls: 4,
        first_response_samples: 4,
        first_response_avg_ms: Some(525.0),
        first_response_p50_ms: Some(500),
        contained: 3,
        containment_pct: Some(75.0),
        abandoned: 0,
        abandon_rate_pct: Some(0.0),
        transfers_tried: 1,
        transfers_ok: 1,
        effective_handoff_pct: Some(100.0),
        time_to_agent_samples: 1,
        time_to_agent_avg_ms: Some(1200.0),
        time_to_agent_p50_ms: Some(1200),
        fcr_calls: 3,
        fcr_resolved: 1,
        fcr_pct: Some(100.0 / 3.0),
        csat_answers: 2,
        csat_avg: Some(4.0),
        nps_answers: 2,
        nps: Some(0.0),
        converted_calls: 2,
        assisted_conversion_pct: Some(50.0),
        revenue: money(&[("EUR", 100.0), ("XXX", 5.0)]),
        revenue_per_conversation: money(&[("EUR", 25.0), ("XXX", 1.25)]),
    };
    let second = Kpis {
        calls: 6,
        first_response_samples: 5,
        first_response_avg_ms: Some(840.0),
        first_response_p50_ms: Some(800),
        contained: 2,
        containment_pct: Some(100.0 / 3.0),
        abandoned: 1,
        abandon_rate_pct: Some(100.0 / 6.0),
        transfers_tried: 5,
        transfers_ok: 1,
        effective_handoff_pct: Some(20.0),
        time_to_agent_samples: 1,
        time_to_agent_avg_ms: Some(3000.0),
        time_to_agent_p50_ms: Some(3000),
        fcr_calls: 5,
        fcr_resolved: 4,
        fcr_pct: Some(80.0),
        csat_answers: 1,
        csat_avg: Some(2.0),
        nps_answers: 2,
        nps: Some(50.0),
        converted_calls: 2,
        assisted_conversion_pct: Some(100.0 / 3.0),
        revenue: money(&[("EUR", 80.5), ("USD", 20.0)]),
        revenue_per_conversation: money(&[("EUR", 80.5 / 6.0), ("USD", 20.0 / 6.0)]),
    };
    vec![group("2026-01-01", first), group("2026-01-02", second)]
}

async fn check(s: &Store) {
    fixture(s).await;
    let q = |group_by, now| KpiQuery { from: T0, to: T0 + 2 * D, group_by, now, numbers: Default::default(), timezone: None };
    let report = s.kpis(&q(None, T0 + 30 * D)).await.unwrap();
    assert_eq!(report.total, total());
    assert!(report.groups.is_empty());

    let report = s.kpis(&q(Some(GroupBy::Flow), T0 + 30 * D)).await.unwrap();
    assert_eq!(report.total, total());
    assert_eq!(report.groups, by_flow());

    assert_eq!(s.kpis(&q(Some(GroupBy::Day), T0 + 30 * D)).await.unwrap().groups, by_day());

    let v = s.kpis(&q(Some(GroupBy::Variant), T0 + 30 * D)).await.unwrap();
    let keys: Vec<(&str, u64)> = v.groups.iter().map(|g| (g.key.as_str(), g.kpis.calls)).collect();
    assert_eq!(keys, [("greeting/a", 2), ("greeting/b", 2), ("music/on", 1), ("none", 6)]);
    let a = &v.groups[0].kpis;
    assert_eq!((a.first_response_avg_ms, a.first_response_p50_ms, a.containment_pct), (Some(500.0), Some(300), Some(100.0)));
    assert_eq!((a.effective_handoff_pct, a.fcr_pct, a.csat_avg, a.nps), (None, Some(50.0), Some(4.0), Some(-100.0)));
    assert_eq!(a.revenue_per_conversation, money(&[("EUR", 50.0), ("XXX", 2.5)]));
    let b = &v.groups[1].kpis;
    assert_eq!((b.containment_pct, b.effective_handoff_pct, b.fcr_pct, b.nps), (Some(50.0), Some(50.0), Some(0.0), Some(100.0)));
    assert_eq!((b.assisted_conversion_pct, b.revenue.len()), (Some(0.0), 0));
    let none = &v.groups[3].kpis;
    assert_eq!((none.fcr_calls, none.fcr_resolved, none.csat_avg, none.nps), (4, 4, None, Some(0.0)));
    assert_eq!(none.revenue_per_conversation, money(&[("EUR", 80.5 / 6.0), ("USD", 20.0 / 6.0)]));

    // A week and a half-day after the first day: only its calls are judged.
    let open = s.kpis(&q(None, T0 + 7 * D + 12 * H)).await.unwrap().total;
    assert_eq!((open.fcr_calls, open.fcr_resolved, open.fcr_pct), (3, 1, Some(100.0 / 3.0)));

    let empty = s
        .kpis(&KpiQuery {
            from: T0 + 100 * D,
            to: T0 + 101 * D,
            group_by: Some(GroupBy::Day),
            now: T0 + 200 * D,
            numbers: Default::default(),
            timezone: None,
        })
        .await
        .unwrap();
    assert_eq!((empty.total, empty.groups.len()), (Kpis::default(), 0));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!((json["group_by"].as_str(), json["groups"][1]["key"].as_str()), (Some("flow"), Some("support")));
    assert_eq!(json["total"]["revenue_per_conversation"]["EUR"], 18.05);
}

#[tokio::test]
async fn kpis_on_sqlite() {
    check(&common::sqlite().await.store).await;
}

#[tokio::test]
async fn kpis_on_postgres() {
    if let Some(db) = common::postgres().await {
        check(&db.store).await;
    }
}
