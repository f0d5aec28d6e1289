//! The store's records on SQLite and PostgreSQL: a call's life written and
//! read back whole, filters and pagination of the call list, start-up
//! `mark_interrupted`, the do-not-call list, refused records, re-opening.

#[path = "store_common.rs"]
mod common;

use serde_json::json;
use sip_gateway::store::*;

fn call(id: &str, caller: &str, flow: &str, started_at: i64) -> NewCall {
    NewCall {
        id: id.into(),
        sip_call_id: format!("{id}@trunk"),
        caller: caller.into(),
        called: "5550100".into(),
        flow: flow.into(),
        flow_version: "v1".into(),
        direction: Direction::Inbound,
        started_at,
        ab_variant: None,
    }
}

async fn call_life(store: &Store) {
    assert!(store.insert_call(call("c1", "+5491100000001", "sales", 1_000)).await.unwrap());
    assert!(!store.insert_call(call("c1", "+5491100000001", "sales", 1_000)).await.unwrap(), "same id twice");
    assert!(store.call_answered("c1", 1_100).await.unwrap());
    assert!(store.first_prompt("c1", 1_350).await.unwrap());
    assert!(!store.first_prompt("c1", 9_000).await.unwrap(), "only the first prompt counts");
    let step = |seq, kind, detail: &str, confidence, duration_ms| Step {
        call_id: "c1".into(),
        seq,
        at: 1_400 + seq,
        kind,
        node: "welcome".into(),
        detail: detail.into(),
        confidence,
        duration_ms,
    };
    let steps = vec![
        step(1, StepKind::Node, "welcome", None, None),
        step(2, StepKind::Prompt, "Welcome to Acme", None, Some(2_500)),
        step(3, StepKind::Transcript, "sales please", Some(0.875), Some(1_200)),
        step(4, StepKind::Intent, "sales", Some(0.875), None),
        step(5, StepKind::Digits, "1", None, None),
    ];
    for s in &steps {
        assert!(store.add_step(s.clone()).await.unwrap());
    }
    let transfers = vec![
        Transfer {
            call_id: "c1".into(),
            target: "sip:agents@127.0.0.1:5070".into(),
            mode: TransferMode::Blind,
            result_code: Some(486),
            tried_at: 2_000,
            answered_ms: None,
            ok: false,
            outcome: None,
            ring_ms: None,
            bridge_ms: None,
        },
        Transfer {
            call_id: "c1".into(),
            target: "sip:agents@127.0.0.1:5070".into(),
            mode: TransferMode::Warm,
            result_code: Some(200),
            tried_at: 3_000,
            answered_ms: Some(4_200),
            ok: true,
            outcome: None,
            ring_ms: None,
            bridge_ms: None,
        },
    ];
    for t in &transfers {
        assert!(store.add_transfer(t.clone()).await.unwrap());
    }
    let consent = Consent { call_id: "c1".into(), caller: "+5491100000001".into(), purpose: "recording".into(), granted: true, at: 1_500 };
    assert!(store.add_consent(consent.clone()).await.unwrap());
    let csat = SurveyAnswer { call_id: "c1".into(), kind: SurveyKind::Csat, score: 4, at: 5_000 };
    let nps = SurveyAnswer { call_id: "c1".into(), kind: SurveyKind::Nps, score: 0, at: 5_100 };
    assert!(store.add_survey_answer(csat.clone()).await.unwrap());
    assert!(store.add_survey_answer(nps.clone()).await.unwrap());
    let order = BusinessEvent {
        call_id: Some("c1".into()),
        caller: "+5491100000001".into(),
        kind: EventKind::Order,
        value: Some(149.5),
        currency: Some("ARS".into()),
        payload: json!({"sku": "plan-pro", "qty": 1, "note": "ñandú"}),
        at: 2_500,
        idempotency_key: "c1-order-1".into(),
    };
    assert!(store.add_business_event(order.clone()).await.unwrap());
    assert!(!store.add_business_event(order.clone()).await.unwrap(), "same key twice");
    let ab = |e: &str, v: &str| AbAssignment { call_id: "c1".into(), experiment: e.into(), variant: v.into() };
    assert!(store.set_ab_assignment(ab("greeting", "a")).await.unwrap());
    assert!(store.set_ab_assignment(ab("greeting", "b")).await.unwrap(), "re-assignment updates");
    assert!(store.set_ab_assignment(ab("music", "off")).await.unwrap());
    let end =
        CallEnd { call_id: "c1".into(), at: 6_000, outcome: Outcome::Transferred, hangup_side: HangupSide::Agent, hangup_cause: None };
    assert!(store.call_ended(end.clone()).await.unwrap());
    let again = CallEnd { at: 7_000, outcome: Outcome::Failed, ..end };
    assert!(!store.call_ended(again).await.unwrap(), "only the first end counts");

    let d = store.get_call("c1").await.unwrap().expect("c1 is stored");
    let expected_call = CallRecord {
        id: "c1".into(),
        sip_call_id: "c1@trunk".into(),
        caller: "+5491100000001".into(),
        called: "5550100".into(),
        flow: "sales".into(),
        flow_version: "v1".into(),
        direction: Direction::Inbound,
        started_at: 1_000,
        answered_at: Some(1_100),
        first_prompt_at: Some(1_350),
        ended_at: Some(6_000),
        outcome: Some(Outcome::Transferred),
        hangup_side: Some(HangupSide::Agent),
        hangup_cause: None,
        ab_variant: Some("off".into()),
        recording: None,
    };
    assert_eq!(d.call, expected_call);
    assert_eq!(d.steps, steps);
    assert_eq!(d.transfers, transfers);
    assert_eq!(d.consents, vec![consent]);
    assert_eq!(d.survey_answers, vec![csat, nps]);
    assert_eq!(d.business_events.len(), 1);
    assert_eq!(d.business_events[0].event, order);
    assert_eq!(d.ab_assignments, vec![ab("greeting", "b"), ab("music", "off")]);
    let as_json = serde_json::to_value(&d).unwrap();
    assert_eq!(as_json["outcome"], "transferred");
    assert_eq!(as_json["business_events"][0]["payload"]["note"], "ñandú");
    assert!(store.get_call("nope").await.unwrap().is_none());
}

async fn refusals(store: &Store) {
    store.insert_call(call("r1", "+1", "sales", 1)).await.unwrap();
    for (kind, score) in [(SurveyKind::Csat, 0), (SurveyKind::Csat, 6), (SurveyKind::Nps, 11), (SurveyKind::Nps, -1)] {
        let e = store.add_survey_answer(SurveyAnswer { call_id: "r1".into(), kind, score, at: 2 }).await.unwrap_err();
        assert!(matches!(e, StoreError::ScoreOutOfRange { .. }), "{e}");
    }
    let orphan = Step {
        call_id: "missing".into(),
        seq: 1,
        at: 1,
        kind: StepKind::Node,
        node: "n".into(),
        detail: String::new(),
        confidence: None,
        duration_ms: None,
    };
    assert!(matches!(store.add_step(orphan).await, Err(StoreError::Db(_))), "foreign key enforced");
    assert!(!store.call_answered("missing", 5).await.unwrap());
    assert!(matches!(
        store.list_calls(&CallFilter { cursor: Some("x".into()), ..Default::default() }).await,
        Err(StoreError::BadCursor(_))
    ));
    let end = CallEnd {
        call_id: "r1".into(),
        at: 3,
        outcome: Outcome::Failed,
        hangup_side: HangupSide::Gateway,
        hangup_cause: Some("test".into()),
    };
    assert!(store.call_ended(end).await.unwrap());
}

async fn listing(store: &Store) {
    for i in 0..7_i64 {
        let flow = if i % 2 == 0 { "sales" } else { "support" };
        let mut c = call(&format!("l{i}"), &format!("+{}", i % 3), flow, 10_000 + i * 100);
        if i == 3 {
            c.started_at = 10_200; // same time as l2: the id breaks the tie
        }
        store.insert_call(c).await.unwrap();
        let outcome = if i < 4 { Outcome::Completed } else { Outcome::Abandoned };
        let end =
            CallEnd { call_id: format!("l{i}"), at: 20_000, outcome, hangup_side: HangupSide::Caller, hangup_cause: Some("BYE".into()) };
        store.call_ended(end).await.unwrap();
    }
    let ids = |p: &CallPage| p.calls.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    // Calls of the other sections started before 10_000.
    let all = store.list_calls(&CallFilter { from: Some(10_000), ..Default::default() }).await.unwrap();
    assert_eq!(ids(&all), ["l6", "l5", "l4", "l3", "l2", "l1", "l0"]);
    assert_eq!(all.next_cursor, None);

    let mut filter = CallFilter { limit: Some(3), from: Some(10_000), ..Default::default() };
    let mut pages = vec![];
    loop {
        let page = store.list_calls(&filter).await.unwrap();
        pages.push(ids(&page));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["l6", "l5", "l4"], vec!["l3", "l2", "l1"], vec!["l0"]]);

    let q = |f: CallFilter| async move { ids(&store.list_calls(&f).await.unwrap()) };
    assert_eq!(q(CallFilter { flow: Some("support".into()), ..Default::default() }).await, ["l5", "l3", "l1"]);
    assert_eq!(q(CallFilter { outcome: Some(Outcome::Abandoned), ..Default::default() }).await, ["l6", "l5", "l4"]);
    assert_eq!(q(CallFilter { caller: Some("+0".into()), ..Default::default() }).await, ["l6", "l3", "l0"]);
    assert_eq!(q(CallFilter { from: Some(10_100), to: Some(10_400), ..Default::default() }).await, ["l3", "l2", "l1"]);
    let combined = CallFilter {
        flow: Some("sales".into()),
        outcome: Some(Outcome::Completed),
        from: Some(10_000),
        limit: Some(1),
        ..Default::default()
    };
    let page = store.list_calls(&combined).await.unwrap();
    assert_eq!(ids(&page), ["l2"]);
    let rest = store.list_calls(&CallFilter { cursor: page.next_cursor, ..combined }).await.unwrap();
    assert_eq!((ids(&rest), rest.next_cursor), (vec!["l0".to_string()], None));
}

async fn interrupted_at_start_up(store: &Store) {
    store.insert_call(call("i1", "+1", "sales", 100)).await.unwrap(); // ringing
    store.insert_call(call("i2", "+2", "sales", 200)).await.unwrap();
    store.call_answered("i2", 250).await.unwrap(); // talking
    store.insert_call(call("i3", "+3", "sales", 300)).await.unwrap();
    let end = CallEnd { call_id: "i3".into(), at: 400, outcome: Outcome::Completed, hangup_side: HangupSide::Caller, hangup_cause: None };
    store.call_ended(end).await.unwrap();
    assert_eq!(store.mark_interrupted(1_000).await.unwrap(), 2);
    assert_eq!(store.mark_interrupted(2_000).await.unwrap(), 0, "nothing left open");
    for (id, ended, outcome, side) in [
        ("i1", 1_000, Outcome::Interrupted, HangupSide::Gateway),
        ("i2", 1_000, Outcome::Interrupted, HangupSide::Gateway),
        ("i3", 400, Outcome::Completed, HangupSide::Caller),
    ] {
        let c = store.get_call(id).await.unwrap().unwrap().call;
        assert_eq!((c.ended_at, c.outcome, c.hangup_side), (Some(ended), Some(outcome), Some(side)), "{id}");
    }
}

async fn do_not_call(store: &Store) {
    assert!(!store.dnc_contains("+5491100000009").await.unwrap());
    store.dnc_add("+5491100000009", "asked on call c1", 10).await.unwrap();
    store.dnc_add("+5491100000001", "complaint", 20).await.unwrap();
    store.dnc_add("+5491100000009", "asked again", 30).await.unwrap();
    assert!(store.dnc_contains("+5491100000009").await.unwrap());
    let list = store.dnc_list().await.unwrap();
    let entry = |n: &str, at, r: &str| DncEntry { number: n.into(), added_at: at, reason: r.into() };
    assert_eq!(list, [entry("+5491100000001", 20, "complaint"), entry("+5491100000009", 30, "asked again")]);
    assert!(store.dnc_remove("+5491100000009").await.unwrap());
    assert!(!store.dnc_remove("+5491100000009").await.unwrap());
    assert!(!store.dnc_contains("+5491100000009").await.unwrap());
    assert_eq!(store.dnc_list().await.unwrap().len(), 1);
}

async fn all(db: common::TestDb) {
    call_life(&db.store).await;
    refusals(&db.store).await;
    listing(&db.store).await;
    interrupted_at_start_up(&db.store).await;
    do_not_call(&db.store).await;
    // Re-opening runs no migration twice and keeps the data.
    db.store.close().await;
    let again = Store::open(&db.url).await.unwrap();
    assert!(again.get_call("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn records_on_sqlite() {
    let db = common::sqlite().await;
    assert_eq!(db.store.backend(), Backend::Sqlite);
    all(db).await;
}

#[tokio::test]
async fn records_on_postgres() {
    if let Some(db) = common::postgres().await {
        assert_eq!(db.store.backend(), Backend::Postgres);
        all(db).await;
    }
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(path.exists());
    store.close().await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    assert!(matches!(Store::open("mysql://localhost/x").await, Err(StoreError::BadUrl(_))));
}
