//! The outbox on SQLite and PostgreSQL: business events are idempotent and
//! enqueue their delivery in the same transaction; due rows come out in
//! schedule order; failures back off 1 s, 2 s, 4 s … 10 min; the last
//! allowed failure dead-letters the row, which is kept. Do-not-call and
//! consent look-ups by an E.164 number also find rows written under the
//! spelling without `+` (before numbers were normalised, issue #13).

#[path = "store_common.rs"]
mod common;

use serde_json::json;
use sip_gateway::store::*;

const NOW: i64 = 1_767_225_600_000;

fn event(key: &str, call_id: Option<&str>) -> BusinessEvent {
    BusinessEvent {
        call_id: call_id.map(Into::into),
        caller: "+5493510000001".into(),
        kind: EventKind::Lead,
        value: None,
        currency: None,
        payload: json!({"name": "Ana", "interest": "fibra 300"}),
        at: NOW,
        idempotency_key: key.into(),
    }
}

async fn events_enqueue_once(s: &Store) {
    let call = NewCall {
        id: "c1".into(),
        sip_call_id: "x@y".into(),
        caller: "+5493510000001".into(),
        called: "100".into(),
        flow: "sales".into(),
        flow_version: "1".into(),
        direction: Direction::Inbound,
        started_at: NOW - 1_000,
        ab_variant: None,
    };
    s.insert_call(call).await.unwrap();
    assert!(s.add_business_event(event("lead-1", Some("c1"))).await.unwrap());
    assert!(!s.add_business_event(event("lead-1", Some("c1"))).await.unwrap(), "a repeat is ignored");
    assert!(!s.add_business_event(BusinessEvent { payload: json!({"other": true}), ..event("lead-1", None) }).await.unwrap());
    // An event that fails (unknown call) leaves no delivery behind.
    assert!(s.add_business_event(event("lead-2", Some("no-such-call"))).await.is_err());

    let due = s.due_outbox(NOW, 10).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    let item = &due[0];
    assert_eq!((item.kind.as_str(), item.idempotency_key.as_str(), item.attempts), ("business_event", "lead-1", 0));
    assert_eq!((item.created_at, item.next_attempt_at, item.delivered_at, item.dead_at), (NOW, NOW, None, None));
    let stored = &s.get_call("c1").await.unwrap().unwrap().business_events[0];
    assert_eq!(item.payload["id"], stored.id.as_str());
    assert_eq!(item.payload["payload"]["interest"], "fibra 300");
    assert_eq!(item.payload["kind"], "lead");
    assert!(s.outbox_delivered(&item.id, NOW + 10).await.unwrap());
    assert!(!s.outbox_delivered(&item.id, NOW + 20).await.unwrap(), "already delivered");
    assert_eq!(s.outbox_failed(&item.id, NOW + 30, "late").await.unwrap(), OutboxRetry::NotPending);
    assert!(s.due_outbox(NOW + 1_000_000, 10).await.unwrap().is_empty());
}

async fn due_order_and_idempotent_enqueue(s: &Store) {
    let t = NOW + 10_000_000;
    assert!(s.enqueue("webhook", &json!({"n": 2}), "k2", t + 2).await.unwrap());
    assert!(s.enqueue("webhook", &json!({"n": 1}), "k1", t + 1).await.unwrap());
    assert!(s.enqueue("webhook", &json!({"n": 3}), "k3", t + 3).await.unwrap());
    assert!(!s.enqueue("webhook", &json!({"n": 99}), "k1", t + 4).await.unwrap(), "same kind and key");
    assert!(s.enqueue("sms", &json!({"n": 4}), "k1", t + 4).await.unwrap(), "same key, other kind");
    let n = |items: Vec<OutboxItem>| items.iter().map(|i| i.payload["n"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(n(s.due_outbox(t + 2, 10).await.unwrap()), [1, 2]);
    assert_eq!(n(s.due_outbox(t + 10, 3).await.unwrap()), [1, 2, 3]);
    assert_eq!(n(s.due_outbox(t + 10, 10).await.unwrap()), [1, 2, 3, 4]);
    for item in s.due_outbox(t + 10, 10).await.unwrap() {
        s.outbox_delivered(&item.id, t + 10).await.unwrap();
    }
}

async fn backoff_then_dead_letter(s: &Store) {
    let t0 = NOW + 20_000_000;
    s.enqueue("webhook", &json!({"to": "crm"}), "retry-me", t0).await.unwrap();
    let id = s.due_outbox(t0, 10).await.unwrap()[0].id.clone();
    let mut now = t0;
    let mut waits = vec![];
    for attempt in 1..OUTBOX_MAX_ATTEMPTS {
        let due = s.due_outbox(now, 10).await.unwrap();
        assert_eq!(due.len(), 1, "due again at attempt {attempt}");
        assert_eq!(due[0].attempts, attempt - 1);
        match s.outbox_failed(&id, now, &format!("HTTP 503 #{attempt}")).await.unwrap() {
            OutboxRetry::At(next) => {
                assert!(s.due_outbox(next - 1, 10).await.unwrap().is_empty(), "not before its time");
                waits.push(next - now);
                now = next;
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    let mut expected: Vec<i64> = vec![1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000];
    expected.resize(OUTBOX_MAX_ATTEMPTS as usize - 1, OUTBOX_MAX_BACKOFF_MS);
    assert_eq!(waits, expected);
    assert_eq!(s.outbox_failed(&id, now, "HTTP 503 last").await.unwrap(), OutboxRetry::DeadLettered);
    assert!(s.due_outbox(now + 3_600_000, 10).await.unwrap().is_empty(), "dead rows are not retried");
    assert_eq!(s.outbox_failed(&id, now, "again").await.unwrap(), OutboxRetry::NotPending);
    assert!(!s.outbox_delivered(&id, now).await.unwrap());
    let dead = s.dead_outbox(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!((d.id.as_str(), d.attempts, d.dead_at, d.delivered_at), (id.as_str(), OUTBOX_MAX_ATTEMPTS, Some(now), None));
    assert_eq!((d.last_error.as_deref(), &d.payload), (Some("HTTP 503 last"), &json!({"to": "crm"})));
    assert_eq!(s.outbox_failed("no-such-id", now, "x").await.unwrap(), OutboxRetry::NotPending);
}

async fn e164_lookups_match_older_spellings(s: &Store) {
    let call = NewCall {
        id: "c-consent".into(),
        sip_call_id: "c-consent@y".into(),
        caller: "5493510000009".into(),
        called: "5550100".into(),
        flow: "demo".into(),
        flow_version: "v1".into(),
        direction: Direction::Inbound,
        started_at: NOW,
        ab_variant: None,
    };
    s.insert_call(call).await.unwrap();
    let consent =
        Consent { call_id: "c-consent".into(), caller: "5493510000009".into(), purpose: "marketing".into(), granted: true, at: NOW };
    s.add_consent(consent).await.unwrap();
    assert_eq!(s.consent_granted("+5493510000009", "marketing").await.unwrap(), Some(true));
    assert_eq!(s.consent_granted("+5493510000008", "marketing").await.unwrap(), None);
    s.dnc_add("5557777", "before E.164", NOW).await.unwrap();
    assert!(s.dnc_contains("+5557777").await.unwrap() && s.dnc_contains("5557777").await.unwrap());
    assert!(!s.dnc_contains("+15557777").await.unwrap());
    assert!(s.dnc_remove("+5557777").await.unwrap());
    assert!(!s.dnc_contains("5557777").await.unwrap());
}

async fn check(s: &Store) {
    e164_lookups_match_older_spellings(s).await;
    events_enqueue_once(s).await;
    due_order_and_idempotent_enqueue(s).await;
    backoff_then_dead_letter(s).await;
}

#[tokio::test]
async fn outbox_on_sqlite() {
    check(&common::sqlite().await.store).await;
}

#[tokio::test]
async fn outbox_on_postgres() {
    if let Some(db) = common::postgres().await {
        check(&db.store).await;
    }
}
