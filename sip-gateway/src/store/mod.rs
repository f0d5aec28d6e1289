//! Storage (issue #6): call detail records, steps, transfers, consents,
//! survey answers, business events, A/B assignments, the outbox and the
//! do-not-call list, plus the reads behind the admin API and the KPIs of
//! DESIGN.md §6.
//!
//! One `[store].url` picks the database: `sqlite://file.db` (the default,
//! created if missing, WAL journal, `synchronous=FULL`, foreign keys on) or
//! `postgres://…` (no TLS: meant for loopback or a private network).
//!
//! **Why `sqlx::AnyPool` and not an enum over two pools.** Every statement
//! here is written once in the portable subset (TEXT, BIGINT, DOUBLE
//! PRECISION, `$n` placeholders, which SQLite accepts too, `ON CONFLICT`),
//! so the Any driver lets one code path and one migration set serve both
//! databases; an enum would duplicate each query or need generic code over
//! `sqlx::Database` for no gain. The price is the Any driver's small type
//! set: booleans are BIGINT 0/1 (it cannot decode an SQLite BOOLEAN), and
//! aggregates that PostgreSQL widens to NUMERIC are avoided (KPIs aggregate
//! in Rust, see `kpi.rs`). The tests run every function on both databases.
//!
//! Time is always passed in as `i64` Unix milliseconds (UTC); nothing here
//! reads the clock. Writes from call tasks go through [`StoreWriter`], an
//! actor that group-commits; the `Store` methods are for start-up, the
//! admin API, the outbox dispatcher and tests.

pub mod json_time;
mod kpi;
mod outbox;
mod read;
mod record_sql;
mod recordings;
mod records;
mod schema;
mod writer;

pub use kpi::{GroupBy, KpiGroup, KpiQuery, KpiReport, Kpis};
pub use outbox::{DncEntry, OutboxItem, OutboxRetry, OUTBOX_MAX_ATTEMPTS, OUTBOX_MAX_BACKOFF_MS};
pub use read::{CallDetail, CallFilter, CallPage};
pub use recordings::{OpenRecording, RecordingInfo, RecordingUpdate};
pub use records::{
    AbAssignment, BusinessEvent, CallEnd, CallRecord, Consent, Direction, EventKind, EventRecord, HangupSide, NewCall, Outcome, Record,
    Step, StepKind, SurveyAnswer, SurveyKind, Transfer, TransferMode,
};
pub use writer::{StoreWriter, WriterStats, MAX_BATCH};

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

/// Errors of the store. Database and migration errors keep their source.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL {0:?}: expected sqlite://… or postgres://…")]
    BadUrl(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{kind} score {score} is out of range")]
    ScoreOutOfRange { kind: &'static str, score: i64 },
    #[error("bad pagination cursor {0:?}")]
    BadCursor(String),
    #[error("unknown {what} {value:?} in the database")]
    Corrupt { what: &'static str, value: String },
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("the store writer has stopped")]
    WriterClosed,
    #[error("the store writer's queue is full")]
    WriterFull,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database the URL selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database: cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects, creating an SQLite file if missing, and runs the migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new().max_connections(8);
        if backend == Backend::Sqlite && url.contains("mode=memory") {
            // Each SQLite connection to `:memory:` is its own database: keep one.
            pool = pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        let pool = pool.connect_with(options).await?;
        if backend == Backend::Sqlite {
            // Persistent in the file: readers (admin API) never block the writer.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        schema::migrator().await?.run(&pool).await?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await
    }

    /// At start-up: every call that has no `ended_at` (the gateway stopped
    /// under it) ends now with outcome `interrupted`. Returns how many.
    pub async fn mark_interrupted(&self, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE calls SET ended_at = $1, outcome = 'interrupted', \
             hangup_side = COALESCE(hangup_side, 'gateway'), hangup_cause = COALESCE(hangup_cause, 'gateway restart') \
             WHERE ended_at IS NULL",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Writes one record in its own transaction; `Ok(false)` when it changed
    /// nothing (a duplicate idempotency key, an unknown or already ended call).
    pub async fn write(&self, record: Record) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let changed = record_sql::apply(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn insert_call(&self, call: NewCall) -> Result<bool> {
        self.write(Record::Call(call)).await
    }
    pub async fn call_answered(&self, call_id: &str, at: i64) -> Result<bool> {
        self.write(Record::Answered { call_id: call_id.into(), at }).await
    }
    /// Only the first prompt counts: later calls change nothing.
    pub async fn first_prompt(&self, call_id: &str, at: i64) -> Result<bool> {
        self.write(Record::FirstPrompt { call_id: call_id.into(), at }).await
    }
    /// Only the first end counts: later calls change nothing.
    pub async fn call_ended(&self, end: CallEnd) -> Result<bool> {
        self.write(Record::Ended(end)).await
    }
    pub async fn add_step(&self, step: Step) -> Result<bool> {
        self.write(Record::Step(step)).await
    }
    pub async fn add_transfer(&self, transfer: Transfer) -> Result<bool> {
        self.write(Record::Transfer(transfer)).await
    }
    pub async fn add_consent(&self, consent: Consent) -> Result<bool> {
        self.write(Record::Consent(consent)).await
    }
    pub async fn add_survey_answer(&self, answer: SurveyAnswer) -> Result<bool> {
        self.write(Record::Survey(answer)).await
    }
    /// Idempotent on `idempotency_key`: `Ok(false)` for a repeat. A new event
    /// also enqueues its CRM delivery (outbox kind `business_event`) in the
    /// same transaction.
    pub async fn add_business_event(&self, event: BusinessEvent) -> Result<bool> {
        self.write(Record::Event(event)).await
    }
    /// Upserts (call, experiment) → variant and sets `calls.ab_variant`.
    pub async fn set_ab_assignment(&self, assignment: AbAssignment) -> Result<bool> {
        self.write(Record::Ab(assignment)).await
    }
    /// Queues a delivery; idempotent on (kind, key): `Ok(false)` for a repeat.
    pub async fn enqueue(&self, kind: &str, payload: &serde_json::Value, key: &str, now: i64) -> Result<bool> {
        self.write(Record::Enqueue { kind: kind.into(), payload: payload.clone(), key: key.into(), at: now, url: None }).await
    }
    /// As [`enqueue`](Self::enqueue), delivered to `url` instead of `[events].url`.
    pub async fn enqueue_to(&self, url: &str, kind: &str, payload: &serde_json::Value, key: &str, now: i64) -> Result<bool> {
        let record = Record::Enqueue { kind: kind.into(), payload: payload.clone(), key: key.into(), at: now, url: Some(url.into()) };
        self.write(record).await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Validates the URL's scheme and asks SQLite to create a missing file.
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    if !url.starts_with("sqlite:") {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    if url.contains("mode=") {
        return Ok((Backend::Sqlite, url.to_string()));
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok((Backend::Sqlite, format!("{url}{sep}mode=rwc")))
}

/// A random 128-bit id in hex, for rows that have no natural key.
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalize_url("sqlite://centralita.db").unwrap(), (Backend::Sqlite, "sqlite://centralita.db?mode=rwc".into()));
        assert_eq!(normalize_url("sqlite://a.db?cache=shared").unwrap().1, "sqlite://a.db?cache=shared&mode=rwc");
        assert_eq!(normalize_url("sqlite://a.db?mode=ro").unwrap().1, "sqlite://a.db?mode=ro");
        assert_eq!(normalize_url("postgres://u@127.0.0.1/db").unwrap().0, Backend::Postgres);
        assert!(matches!(normalize_url("mysql://x"), Err(StoreError::BadUrl(_))));
        assert_eq!(new_id().len(), 32);
        assert_ne!(new_id(), new_id());
    }
}
