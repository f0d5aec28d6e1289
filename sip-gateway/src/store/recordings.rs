//! Call recordings in the store (issue #19): the `recording_*` columns of
//! `calls` (migration 0004). A recording's path is stored when it starts
//! (status `recording`), so that a crash leaves it findable and the
//! start-up repair ([`Store::open_recordings`]) can fix its header; the
//! call's end fills in length, size and channels, or why nothing was
//! recorded. Deletion (API or retention sweep) keeps the row and marks it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Result, Store};

/// What the store knows of a call's recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// `recording` (in progress, or the gateway stopped under it),
    /// `recorded`, `never`, `refused`, `no_consent`, `not_started`,
    /// `failed` or `deleted`.
    pub status: String,
    /// Why, in words (`the caller refused consent \`recording\``).
    pub reason: Option<String>,
    /// The WAV file (None when nothing was recorded).
    pub path: Option<String>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub channels: Option<i64>,
    #[serde(with = "super::json_time::opt", default)]
    pub deleted_at: Option<i64>,
}

pub(crate) const RECORDING_COLUMNS: &str =
    "recording_status, recording_reason, recording_path, recording_duration_ms, recording_bytes, recording_channels, recording_deleted_at";

impl RecordingInfo {
    /// From a row with [`RECORDING_COLUMNS`]; None when the call has no
    /// recording status (calls from before issue #19).
    pub(crate) fn from_row(row: &AnyRow) -> Result<Option<Self>> {
        let Some(status) = row.try_get::<Option<String>, _>("recording_status")? else {
            return Ok(None);
        };
        Ok(Some(RecordingInfo {
            status,
            reason: row.try_get("recording_reason")?,
            path: row.try_get("recording_path")?,
            duration_ms: row.try_get("recording_duration_ms")?,
            bytes: row.try_get("recording_bytes")?,
            channels: row.try_get("recording_channels")?,
            deleted_at: row.try_get("recording_deleted_at")?,
        }))
    }
}

/// The recording part of a call's end (or its start: status `recording`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingUpdate {
    pub call_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub path: Option<String>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub channels: Option<i64>,
}

pub(crate) async fn apply_update(conn: &mut AnyConnection, u: &RecordingUpdate) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE calls SET recording_status = $1, recording_reason = $2, recording_path = COALESCE($3, recording_path), \
         recording_duration_ms = $4, recording_bytes = $5, recording_channels = $6 \
         WHERE id = $7 AND recording_deleted_at IS NULL",
    )
    .bind(&u.status)
    .bind(u.reason.as_deref())
    .bind(u.path.as_deref())
    .bind(u.duration_ms)
    .bind(u.bytes)
    .bind(u.channels)
    .bind(&u.call_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A recording whose call never ended (the gateway stopped under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRecording {
    pub call_id: String,
    pub path: String,
}

impl Store {
    /// Writes a recording's start or end.
    pub async fn recording_update(&self, update: RecordingUpdate) -> Result<bool> {
        self.write(super::Record::Recording(update)).await
    }

    /// The recording of call `id`: None for an unknown call; a call without
    /// a recording status gives `Some(None)`.
    pub async fn recording(&self, id: &str) -> Result<Option<Option<RecordingInfo>>> {
        let sql = format!("SELECT {RECORDING_COLUMNS} FROM calls WHERE id = $1");
        let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        Ok(Some(RecordingInfo::from_row(&row)?))
    }

    /// At start-up, before [`Store::mark_interrupted`]: recordings of calls
    /// still open, whose files a crash may have left with a stale header.
    pub async fn open_recordings(&self) -> Result<Vec<OpenRecording>> {
        let rows = sqlx::query(
            "SELECT id, recording_path FROM calls WHERE ended_at IS NULL AND recording_path IS NOT NULL AND recording_deleted_at IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(OpenRecording { call_id: r.try_get("id")?, path: r.try_get("recording_path")? })).collect()
    }

    /// Recordings of calls started before `before` (Unix ms) not yet deleted.
    pub async fn expired_recordings(&self, before: i64) -> Result<Vec<OpenRecording>> {
        let rows = sqlx::query(
            "SELECT id, recording_path FROM calls WHERE started_at < $1 AND recording_path IS NOT NULL AND recording_deleted_at IS NULL",
        )
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(OpenRecording { call_id: r.try_get("id")?, path: r.try_get("recording_path")? })).collect()
    }

    /// Marks call `id`'s recording deleted at `at` (`why`: `api` or
    /// `retention`). False when there was nothing to delete.
    pub async fn recording_deleted(&self, id: &str, at: i64, why: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE calls SET recording_deleted_at = $1, recording_status = 'deleted', recording_reason = $2 \
             WHERE id = $3 AND recording_path IS NOT NULL AND recording_deleted_at IS NULL",
        )
        .bind(at)
        .bind(format!("deleted ({why})"))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
