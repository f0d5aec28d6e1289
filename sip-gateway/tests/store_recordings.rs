//! Call recordings in the store (issue #19, migration 0004) on SQLite and
//! PostgreSQL: started (path known, so a crash leaves it findable),
//! repaired at start-up, finished, refused with a reason, swept by
//! retention and deleted.

#[path = "store_common.rs"]
mod common;

use sip_gateway::store::*;

fn call(id: &str, started_at: i64) -> NewCall {
    NewCall {
        id: id.into(),
        sip_call_id: format!("{id}@trunk"),
        caller: "+5491100000001".into(),
        called: "5550100".into(),
        flow: "soporte".into(),
        flow_version: "3".into(),
        direction: Direction::Inbound,
        started_at,
        ab_variant: None,
    }
}

fn update(id: &str, status: &str, path: Option<&str>) -> RecordingUpdate {
    RecordingUpdate {
        call_id: id.into(),
        status: status.into(),
        reason: None,
        path: path.map(Into::into),
        duration_ms: None,
        bytes: None,
        channels: None,
    }
}

async fn recordings(store: &Store) {
    let day = 86_400_000;
    for (id, at) in [("old", 1_000), ("new", 10 * day), ("no", 10 * day)] {
        assert!(store.insert_call(call(id, at)).await.unwrap());
    }
    assert!(store.recording_update(update("old", "recording", Some("rec/old.wav"))).await.unwrap());
    assert!(store.recording_update(update("new", "recording", Some("rec/new.wav"))).await.unwrap());
    let open: Vec<String> = store.open_recordings().await.unwrap().into_iter().map(|r| r.call_id).collect();
    assert_eq!(open.len(), 2, "{open:?}");

    // The end of `new`: its length, size and channels; the path is kept.
    let done = RecordingUpdate { duration_ms: Some(5_000), bytes: Some(160_044), channels: Some(2), ..update("new", "recorded", None) };
    assert!(store.recording_update(done).await.unwrap());
    let refused = RecordingUpdate { reason: Some("the caller refused consent `recording`".into()), ..update("no", "refused", None) };
    assert!(store.recording_update(refused).await.unwrap());
    let end = CallEnd {
        call_id: "new".into(),
        at: 10 * day + 6_000,
        outcome: Outcome::Completed,
        hangup_side: HangupSide::Caller,
        hangup_cause: None,
    };
    assert!(store.call_ended(end).await.unwrap());

    let new = store.get_call("new").await.unwrap().unwrap().call.recording.expect("a recording");
    assert_eq!(new.status, "recorded");
    assert_eq!(new.path.as_deref(), Some("rec/new.wav"));
    assert_eq!((new.duration_ms, new.bytes, new.channels), (Some(5_000), Some(160_044), Some(2)));
    let no = store.recording("no").await.unwrap().unwrap().expect("a status");
    assert_eq!((no.status.as_str(), no.path), ("refused", None));
    assert_eq!(no.reason.as_deref(), Some("the caller refused consent `recording`"));
    let json = serde_json::to_value(store.get_call("no").await.unwrap().unwrap()).unwrap();
    assert_eq!(json["recording"]["status"], "refused", "{json}");
    assert_eq!(store.recording("nobody").await.unwrap(), None);

    // Retention: only `old` started before the cut.
    let expired: Vec<String> = store.expired_recordings(5 * day).await.unwrap().into_iter().map(|r| r.call_id).collect();
    assert_eq!(expired, ["old"]);
    assert!(store.recording_deleted("old", 20 * day, "retention").await.unwrap());
    assert!(!store.recording_deleted("old", 21 * day, "api").await.unwrap(), "once");
    let old = store.recording("old").await.unwrap().unwrap().unwrap();
    assert_eq!((old.status.as_str(), old.reason.as_deref(), old.deleted_at), ("deleted", Some("deleted (retention)"), Some(20 * day)));
    assert!(store.expired_recordings(30 * day).await.unwrap().iter().all(|r| r.call_id != "old"));
    assert!(!store.recording_deleted("no", 20 * day, "api").await.unwrap(), "nothing to delete");
}

#[tokio::test]
async fn recordings_on_sqlite() {
    let db = common::sqlite().await;
    recordings(&db.store).await;
}

#[tokio::test]
async fn recordings_on_postgres() {
    if let Some(db) = common::postgres().await {
        recordings(&db.store).await;
    }
}
