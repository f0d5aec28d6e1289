//! The StoreWriter on SQLite and PostgreSQL: records queued together are
//! committed in one transaction, in order; a durable send is answered only
//! after COMMIT (another pool sees the rows); a bad record fails alone; a
//! full mailbox refuses without waiting. The tests run on tokio's
//! current-thread runtime, so queued records reach the writer together.

#[path = "store_common.rs"]
mod common;

use sip_gateway::store::*;

fn new_call(id: &str) -> Record {
    Record::Call(NewCall {
        id: id.into(),
        sip_call_id: format!("{id}@trunk"),
        caller: "+5493510000001".into(),
        called: "5550100".into(),
        flow: "demo".into(),
        flow_version: "v1".into(),
        direction: Direction::Inbound,
        started_at: 1_000,
        ab_variant: None,
    })
}

fn step(call_id: &str, seq: i64) -> Record {
    Record::Step(Step {
        call_id: call_id.into(),
        seq,
        at: 1_000 + seq,
        kind: StepKind::Digits,
        node: "menu".into(),
        detail: seq.to_string(),
        confidence: Some(0.5),
        duration_ms: None,
    })
}

fn ended(call_id: &str) -> Record {
    Record::Ended(CallEnd {
        call_id: call_id.into(),
        at: 9_000,
        outcome: Outcome::Completed,
        hangup_side: HangupSide::Caller,
        hangup_cause: None,
    })
}

async fn check(db: common::TestDb) {
    let (writer, task) = StoreWriter::spawn(db.store.clone(), 1024);

    // 1 call + 199 steps queued without waiting, then the BYE's end, durably.
    writer.try_send(new_call("w1")).unwrap();
    for seq in 1..200 {
        writer.try_send(step("w1", seq)).unwrap();
    }
    assert!(writer.send_durable(ended("w1")).await.unwrap());
    // Acked means committed: a separate pool sees everything queued before.
    let other = Store::open(&db.url).await.unwrap();
    let seen = other.get_call("w1").await.unwrap().expect("call committed");
    assert_eq!((seen.call.ended_at, seen.steps.len()), (Some(9_000), 199));
    assert!(seen.steps.iter().enumerate().all(|(i, s)| s.seq == i as i64 + 1));

    // A bad record in a group fails alone; its neighbours are committed.
    let (a, bad, b) = tokio::join!(
        writer.send_durable(step("w1", 500)),
        writer.send_durable(step("no-such-call", 1)),
        writer.send_durable(step("w1", 501)),
    );
    assert!(a.unwrap() && b.unwrap());
    assert!(matches!(bad, Err(StoreError::Db(_))), "{bad:?}");
    // A repeat changes nothing and says so.
    assert!(!writer.send_durable(new_call("w1")).await.unwrap());
    assert_eq!(other.get_call("w1").await.unwrap().unwrap().steps.len(), 201);

    // Fire-and-forget records are flushed when the last handle goes.
    let second = writer.clone();
    second.send(new_call("w2")).await.unwrap();
    second.try_send(ended("w2")).unwrap();
    drop((writer, second));
    let stats = task.await.unwrap();
    // Commits: the group of 201, the failed group's two good records one by
    // one, the repeat, and the w2 group.
    assert_eq!(stats, WriterStats { records: 201 + 2 + 1 + 2, commits: 1 + 2 + 1 + 1, failed: 1 });
    assert_eq!(other.get_call("w2").await.unwrap().unwrap().call.outcome, Some(Outcome::Completed));
}

#[tokio::test]
async fn writer_on_sqlite() {
    check(common::sqlite().await).await;
}

#[tokio::test]
async fn writer_on_postgres() {
    if let Some(db) = common::postgres().await {
        check(db).await;
    }
}

#[tokio::test]
async fn full_mailbox_refuses_without_waiting() {
    let db = common::sqlite().await;
    let (writer, task) = StoreWriter::spawn(db.store.clone(), 2);
    writer.try_send(new_call("f1")).unwrap();
    writer.try_send(step("f1", 1)).unwrap();
    assert!(matches!(writer.try_send(step("f1", 2)), Err(StoreError::WriterFull)));
    // Waiting for room works: the writer drains the mailbox meanwhile.
    writer.send(step("f1", 2)).await.unwrap();
    assert!(writer.send_durable(step("f1", 3)).await.unwrap());
    assert_eq!(db.store.get_call("f1").await.unwrap().unwrap().steps.len(), 3);
    task.abort();
    let _ = task.await;
    assert!(matches!(writer.send(step("f1", 4)).await, Err(StoreError::WriterClosed)));
    assert!(matches!(writer.send_durable(step("f1", 4)).await, Err(StoreError::WriterClosed)));
}
