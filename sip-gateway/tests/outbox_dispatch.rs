//! The outbox dispatcher against a real SQLite store and a local axum
//! receiver on 127.0.0.1:0: signed delivery, retry after a 500 with the
//! same idempotency key, timeouts, no url, backlog draining and a graceful
//! stop. Time is a fake clock the tests jump; every wait is on an event
//! (a request seen, the dispatcher's counters), bounded only as a guard.

#[path = "store_common.rs"]
mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sip_gateway::outbox_dispatcher::{verify_signature, DispatchStats, EventsConfig, OutboxDispatcher};
use sip_gateway::store::{BusinessEvent, EventKind, Store};
use tokio::sync::{mpsc, watch, Notify};

const NOW: i64 = 1_767_225_600_000;
const SECRET: &str = "s3cret";
/// A guard against a hung test, not a delay: every wait ends on an event.
const GUARD: Duration = Duration::from_secs(20);

/// What the receiver answers, in order; 200 once the script is used up.
enum Reply {
    Status(u16),
    Hang,
    /// 200 once the test releases it.
    Gate(Arc<Notify>),
}

struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
    }
}

struct Receiver {
    script: Mutex<VecDeque<Reply>>,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = r.seen.send(Seen { headers, body });
    let reply = r.script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), format!("boom {}", "x".repeat(1000))).into_response(),
        Reply::Hang => std::future::pending().await,
        Reply::Gate(open) => {
            open.notified().await;
            StatusCode::OK.into_response()
        }
    }
}

/// Serves `POST /hook`; returns its URL and the requests it sees.
async fn receiver(script: Vec<Reply>) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(Receiver { script: Mutex::new(script.into()), seen: tx });
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn config(url: &str) -> EventsConfig {
    EventsConfig { url: Some(url.into()), secret: SECRET.into(), timeout_ms: 5_000, poll_ms: 60_000, batch: 10 }
}

/// A clock the test sets; the dispatcher reads it.
fn clock() -> (Arc<AtomicI64>, impl Fn() -> i64 + Send + Sync + 'static) {
    let now = Arc::new(AtomicI64::new(NOW));
    let read = now.clone();
    (now, move || read.load(Ordering::SeqCst))
}

fn lead(key: &str) -> BusinessEvent {
    BusinessEvent {
        call_id: None,
        caller: "+5493510000001".into(),
        kind: EventKind::Lead,
        value: None,
        currency: None,
        payload: json!({"name": "Ana", "interest": "fibra 300"}),
        at: NOW,
        idempotency_key: key.into(),
    }
}

async fn until(stats: &mut watch::Receiver<DispatchStats>, what: impl FnMut(&DispatchStats) -> bool) -> DispatchStats {
    *tokio::time::timeout(GUARD, stats.wait_for(what)).await.expect("dispatcher stalled").expect("dispatcher gone")
}

async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(GUARD, seen.recv()).await.expect("no request").expect("receiver gone")
}

async fn pending(store: &Store) -> Vec<sip_gateway::store::OutboxItem> {
    store.due_outbox(i64::MAX / 2, 100).await.unwrap()
}

#[tokio::test]
async fn a_business_event_arrives_once_signed() {
    let db = common::sqlite().await;
    let (url, mut seen) = receiver(vec![]).await;
    let (now, clock) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &config(&url), clock).unwrap();
    let mut stats = d.stats();
    until(&mut stats, |s| s.passes >= 1).await;

    assert!(db.store.add_business_event(lead("lead-1")).await.unwrap());
    let row = db.store.due_outbox(NOW, 10).await.unwrap().remove(0);
    d.notifier().notify();
    let req = next(&mut seen).await;
    until(&mut stats, |s| s.delivered == 1).await;

    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("x-centralita-event"), "business_event");
    assert_eq!(req.header("idempotency-key"), "lead-1");
    assert_eq!(req.header("x-centralita-delivery"), row.id);
    let ts = req.header("x-centralita-timestamp");
    assert_eq!(ts, (NOW / 1000).to_string());
    let sig = req.header("x-centralita-signature");
    assert!(verify_signature(SECRET, ts, &req.body, sig), "{sig}");
    assert!(!verify_signature("wrong", ts, &req.body, sig));
    assert!(!verify_signature(SECRET, &(NOW / 1000 + 1).to_string(), &req.body, sig), "the timestamp is signed");
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, row.payload);
    assert_eq!((body["kind"].as_str(), body["payload"]["name"].as_str()), (Some("lead"), Some("Ana")));

    // Once: a later poll, even an hour on, sends nothing more.
    now.store(NOW + 3_600_000, Ordering::SeqCst);
    let passes = stats.borrow().passes;
    d.notify();
    until(&mut stats, |s| s.passes > passes).await;
    assert!(seen.try_recv().is_err(), "delivered twice");
    assert!(pending(&db.store).await.is_empty());
    let end = d.shutdown().await;
    assert_eq!((end.delivered, end.failed, end.store_errors), (1, 0, 0));
}

#[tokio::test]
async fn a_500_is_retried_after_the_backoff_with_the_same_key() {
    let db = common::sqlite().await;
    assert!(db.store.add_business_event(lead("lead-2")).await.unwrap());
    let (url, mut seen) = receiver(vec![Reply::Status(500)]).await;
    let (now, clock) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &config(&url), clock).unwrap();
    let mut stats = d.stats();

    let first = next(&mut seen).await;
    until(&mut stats, |s| s.failed == 1).await;
    let row = pending(&db.store).await.remove(0);
    assert_eq!((row.attempts, row.next_attempt_at), (1, NOW + 1_000), "{row:?}");
    let error = row.last_error.unwrap();
    assert!(error.starts_with("HTTP 500 Internal Server Error: boom xxx"), "{error}");
    assert!(error.len() <= "HTTP 500 Internal Server Error: ".len() + 200, "{error}");
    assert!(db.store.due_outbox(NOW + 999, 10).await.unwrap().is_empty(), "not before its backoff");

    now.store(NOW + 1_000, Ordering::SeqCst);
    d.notify();
    let second = next(&mut seen).await;
    until(&mut stats, |s| s.delivered == 1).await;
    assert_eq!(first.header("idempotency-key"), "lead-2");
    assert_eq!(second.header("idempotency-key"), "lead-2");
    assert_eq!(first.header("x-centralita-delivery"), second.header("x-centralita-delivery"));
    assert_eq!(first.body, second.body);
    let ts = second.header("x-centralita-timestamp");
    assert_eq!(ts, ((NOW + 1_000) / 1000).to_string(), "a retry is signed afresh");
    assert!(verify_signature(SECRET, ts, &second.body, second.header("x-centralita-signature")));
    assert!(pending(&db.store).await.is_empty(), "marked delivered");
    assert!(db.store.dead_outbox(10).await.unwrap().is_empty());
    let end = d.shutdown().await;
    assert_eq!((end.delivered, end.failed, end.dead_lettered), (1, 1, 0));
    assert!(seen.try_recv().is_err(), "exactly two POSTs");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_as_a_failure() {
    let db = common::sqlite().await;
    db.store.enqueue("webhook", &json!({"n": 1}), "slow-1", NOW).await.unwrap();
    let (url, mut seen) = receiver(vec![Reply::Hang]).await;
    let (_now, clock) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &EventsConfig { timeout_ms: 300, ..config(&url) }, clock).unwrap();
    let mut stats = d.stats();

    assert_eq!(next(&mut seen).await.header("x-centralita-event"), "webhook");
    until(&mut stats, |s| s.failed == 1).await;
    let row = pending(&db.store).await.remove(0);
    assert_eq!((row.attempts, row.next_attempt_at, row.delivered_at), (1, NOW + 1_000, None));
    assert_eq!(row.last_error.as_deref(), Some("timeout after 300 ms"));
    let end = d.shutdown().await;
    assert_eq!((end.delivered, end.failed), (0, 1));
}

#[tokio::test]
async fn without_a_url_nothing_is_sent_and_rows_stay_pending() {
    let db = common::sqlite().await;
    assert!(db.store.add_business_event(lead("lead-3")).await.unwrap());
    let (_now, clock) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &EventsConfig::default(), clock).unwrap();
    d.notify();
    d.notifier().notify();
    let end = d.shutdown().await;
    assert_eq!((end.delivered, end.failed, end.dead_lettered, end.store_errors), (0, 0, 0, 0));
    let rows = pending(&db.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].attempts, rows[0].last_error.as_deref()), (0, None));

    let bad = EventsConfig { url: Some("ftp://crm.example/x".into()), ..EventsConfig::default() };
    assert!(OutboxDispatcher::spawn(db.store.clone(), &bad).is_err());
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_drains_without_waiting_for_a_poll() {
    let db = common::sqlite().await;
    for n in 0..5 {
        db.store.enqueue("webhook", &json!({ "n": n }), &format!("k{n}"), NOW).await.unwrap();
    }
    let (url, mut seen) = receiver(vec![]).await;
    let (_now, clock) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &EventsConfig { batch: 2, ..config(&url) }, clock).unwrap();
    let mut stats = d.stats();
    until(&mut stats, |s| s.delivered == 5).await;
    let mut keys = Vec::new();
    while let Ok(req) = seen.try_recv() {
        keys.push(req.header("idempotency-key").to_string());
    }
    keys.sort();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    assert!(pending(&db.store).await.is_empty());
    d.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_the_post_in_flight_and_leaves_the_rest() {
    let db = common::sqlite().await;
    db.store.enqueue("webhook", &json!({"n": 1}), "first", NOW).await.unwrap();
    db.store.enqueue("webhook", &json!({"n": 2}), "second", NOW + 1).await.unwrap();
    let gate = Arc::new(Notify::new());
    let (url, mut seen) = receiver(vec![Reply::Gate(gate.clone())]).await;
    let (now, clock) = clock();
    now.store(NOW + 1, Ordering::SeqCst);
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &config(&url), clock).unwrap();

    assert_eq!(next(&mut seen).await.header("idempotency-key"), "first");
    let stop = d.shutdown();
    tokio::pin!(stop);
    // One poll of `shutdown` asks the task to stop; it must wait for the POST.
    tokio::select! {
        biased;
        _ = &mut stop => panic!("shutdown returned with a POST in flight"),
        _ = std::future::ready(()) => {}
    }
    gate.notify_one();
    let end = tokio::time::timeout(GUARD, stop).await.expect("shutdown hung");
    assert_eq!((end.delivered, end.failed), (1, 0));
    assert!(seen.try_recv().is_err(), "the second row was not sent");
    let rows = pending(&db.store).await;
    assert_eq!(rows.iter().map(|r| r.idempotency_key.as_str()).collect::<Vec<_>>(), ["second"]);
}

/// Issue #13: a row with its own URL (a call status callback) goes there,
/// signed like the rest, with or without `[events].url`; rows without one
/// wait for `[events].url`.
#[tokio::test]
async fn rows_with_their_own_url_go_there_even_without_an_events_url() {
    let db = common::sqlite().await;
    assert!(db.store.add_business_event(lead("lead-4")).await.unwrap());
    let (own, mut own_seen) = receiver(vec![]).await;
    let payload = json!({"call_id": "c1", "status": "answered"});
    assert!(db.store.enqueue_to(&own, "call_status", &payload, "status:c1:answered", NOW).await.unwrap());
    assert!(!db.store.enqueue_to(&own, "call_status", &payload, "status:c1:answered", NOW).await.unwrap(), "one per key");
    let (_now, read) = clock();
    let no_url = EventsConfig { secret: SECRET.into(), ..EventsConfig::default() };
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &no_url, read).unwrap();
    let mut stats = d.stats();
    let req = next(&mut own_seen).await;
    until(&mut stats, |s| s.delivered == 1).await;
    assert_eq!(req.header("x-centralita-event"), "call_status");
    assert_eq!(req.header("idempotency-key"), "status:c1:answered");
    assert!(verify_signature(SECRET, req.header("x-centralita-timestamp"), &req.body, req.header("x-centralita-signature")));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&req.body).unwrap(), payload);
    let end = d.shutdown().await;
    assert_eq!((end.delivered, end.failed), (1, 0));
    let rows = pending(&db.store).await;
    assert_eq!(rows.iter().map(|r| (r.idempotency_key.as_str(), r.url.is_none())).collect::<Vec<_>>(), [("lead-4", true)]);

    // With `[events].url` too, each row goes to its own place.
    let (events, mut events_seen) = receiver(vec![]).await;
    assert!(db.store.enqueue_to(&own, "call_status", &payload, "status:c1:completed", NOW).await.unwrap());
    let (_now, read) = clock();
    let d = OutboxDispatcher::spawn_with_clock(db.store.clone(), &config(&events), read).unwrap();
    let mut stats = d.stats();
    until(&mut stats, |s| s.delivered == 2).await;
    assert_eq!(next(&mut events_seen).await.header("idempotency-key"), "lead-4");
    assert_eq!(next(&mut own_seen).await.header("idempotency-key"), "status:c1:completed");
    d.shutdown().await;
    assert!(pending(&db.store).await.is_empty());
}
