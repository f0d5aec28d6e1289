//! The store writer: one task that owns the database writes of all calls.
//!
//! Call tasks never hold a connection nor wait on the database: they send
//! [`Record`]s into a bounded mailbox. The writer takes whatever is queued
//! (up to [`MAX_BATCH`]) and commits it in one transaction, so under load
//! many records share one fsync (group commit) and at rest a record is
//! written at once. Order is kept: records are applied in the order they were
//! queued, one batch after another.
//!
//! [`StoreWriter::send_durable`] carries a `oneshot` that is answered after
//! the COMMIT that includes the record, e.g. before a 200 OK to BYE; an
//! answer also means every record queued before it is committed. If a group
//! fails (one bad record would abort the whole transaction) the writer rolls
//! back and writes its records one by one, so a bad record fails alone and
//! its sender, if waiting, gets the error; a failed record nobody waits for
//! is logged. After a failed COMMIT whose fate is unknown this retry may
//! write a keyless row (transfer, consent, survey answer) twice.
//!
//! The writer stops when every [`StoreWriter`] handle has been dropped,
//! after writing what was queued; its `JoinHandle` then yields the stats.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::records::Record;
use super::{Result, Store, StoreError};

/// Most records in one transaction.
pub const MAX_BATCH: usize = 256;

/// What the writer did, returned when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Records committed.
    pub records: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Records that could not be written.
    pub failed: u64,
}

struct Msg {
    record: Record,
    ack: Option<oneshot::Sender<Result<bool>>>,
}

/// A handle on the writer's mailbox; clone one into each call task.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Msg>,
}

impl StoreWriter {
    /// Starts the writer task with a mailbox of `capacity` records.
    pub fn spawn(store: Store, capacity: usize) -> (StoreWriter, JoinHandle<WriterStats>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (StoreWriter { tx }, tokio::spawn(run(store, rx)))
    }

    /// Queues without ever waiting; [`StoreError::WriterFull`] if the mailbox
    /// is full (the record is not queued).
    pub fn try_send(&self, record: Record) -> Result<()> {
        self.tx.try_send(Msg { record, ack: None }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::WriterFull,
            mpsc::error::TrySendError::Closed(_) => StoreError::WriterClosed,
        })
    }

    /// Queues, waiting for room in the mailbox (back-pressure) but not for
    /// the commit.
    pub async fn send(&self, record: Record) -> Result<()> {
        self.tx.send(Msg { record, ack: None }).await.map_err(|_| StoreError::WriterClosed)
    }

    /// Queues and waits until the record is committed: `Ok(changed)` as
    /// [`Store::write`] would return, or the error that made it fail.
    pub async fn send_durable(&self, record: Record) -> Result<bool> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Msg { record, ack: Some(ack) }).await.map_err(|_| StoreError::WriterClosed)?;
        done.await.map_err(|_| StoreError::WriterClosed)?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Msg>) -> WriterStats {
    let mut stats = WriterStats::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match write_group(&store, &batch).await {
            Ok(changed) => {
                stats.commits += 1;
                stats.records += batch.len() as u64;
                for (msg, changed) in batch.drain(..).zip(changed) {
                    if let Some(ack) = msg.ack {
                        let _ = ack.send(Ok(changed));
                    }
                }
            }
            Err(e) if batch.len() == 1 => finish_one(batch.pop().expect("one record"), Err(e), &mut stats),
            Err(e) => {
                tracing::warn!(error = %e, records = batch.len(), "store writer: group commit failed, writing one by one");
                for msg in batch.drain(..) {
                    let result = store.write(msg.record.clone()).await;
                    finish_one(msg, result, &mut stats);
                }
            }
        }
    }
    stats
}

/// All records of `batch` in one transaction.
async fn write_group(store: &Store, batch: &[Msg]) -> Result<Vec<bool>> {
    let mut tx = store.pool().begin().await?;
    let mut changed = Vec::with_capacity(batch.len());
    for msg in batch {
        changed.push(super::record_sql::apply(&mut tx, &msg.record).await?);
    }
    tx.commit().await?;
    Ok(changed)
}

fn finish_one(msg: Msg, result: Result<bool>, stats: &mut WriterStats) {
    match &result {
        Ok(_) => {
            stats.commits += 1;
            stats.records += 1;
        }
        Err(e) => {
            stats.failed += 1;
            if msg.ack.is_none() {
                tracing::error!(error = %e, record = ?msg.record, "store writer: record lost");
            }
        }
    }
    if let Some(ack) = msg.ack {
        let _ = ack.send(result);
    }
}
