//! The transactional outbox and the do-not-call list.
//!
//! Outbox rows are written in the same transaction as what causes them (a
//! business event enqueues its CRM delivery), so nothing committed is ever
//! lost and nothing rolled back is ever sent. A dispatcher polls
//! [`Store::due_outbox`], delivers, and reports each row delivered or
//! failed. Delivery is at-least-once: receivers dedupe on the row's
//! `idempotency_key`. One dispatcher per database is assumed (rows are not
//! leased). A failure schedules the next attempt after 1 s, 2 s, 4 s, …
//! capped at 10 min; the [`OUTBOX_MAX_ATTEMPTS`]th failure dead-letters the
//! row: `dead_at` is set and the row is kept for [`Store::dead_outbox`].

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Store};

/// Failures after which a row is dead-lettered.
pub const OUTBOX_MAX_ATTEMPTS: i64 = 20;
/// Longest wait between two attempts (10 min).
pub const OUTBOX_MAX_BACKOFF_MS: i64 = 600_000;

/// One queued delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub dead_at: Option<i64>,
    pub last_error: Option<String>,
    pub idempotency_key: String,
    /// Where this row goes; None: `[events].url` (business events). Call
    /// status callbacks carry their own (issue #13).
    #[serde(default)]
    pub url: Option<String>,
}

/// What [`Store::outbox_failed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OutboxRetry {
    /// Scheduled again at this time.
    At(i64),
    /// That was the last attempt: the row is kept with `dead_at` set.
    DeadLettered,
    /// No pending row has that id (unknown, delivered or already dead).
    NotPending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub number: String,
    /// RFC 3339 in JSON.
    #[serde(with = "super::json_time")]
    pub added_at: i64,
    pub reason: String,
}

/// Wait after the `attempts`th failure: 1 s · 2^(attempts−1), capped.
pub(crate) fn backoff_ms(attempts: i64) -> i64 {
    let doublings = attempts.clamp(1, 32) - 1;
    (1000_i64 << doublings).min(OUTBOX_MAX_BACKOFF_MS)
}

const OUTBOX_COLUMNS: &str =
    "id, kind, payload, created_at, next_attempt_at, attempts, delivered_at, dead_at, last_error, idempotency_key, url";

impl OutboxItem {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(OutboxItem {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            payload: serde_json::from_str(&row.try_get::<String, _>("payload")?)?,
            created_at: row.try_get("created_at")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            attempts: row.try_get("attempts")?,
            delivered_at: row.try_get("delivered_at")?,
            dead_at: row.try_get("dead_at")?,
            last_error: row.try_get("last_error")?,
            idempotency_key: row.try_get("idempotency_key")?,
            url: row.try_get("url")?,
        })
    }
}

impl Store {
    /// Pending rows whose time has come, oldest schedule first.
    pub async fn due_outbox(&self, now: i64, limit: u32) -> Result<Vec<OutboxItem>> {
        self.due_outbox_where(now, limit, false).await
    }

    /// As [`due_outbox`](Self::due_outbox), only rows that carry their own
    /// `url` (a dispatcher without `[events].url` leaves the others pending).
    pub async fn due_outbox_with_url(&self, now: i64, limit: u32) -> Result<Vec<OutboxItem>> {
        self.due_outbox_where(now, limit, true).await
    }

    async fn due_outbox_where(&self, now: i64, limit: u32, only_with_url: bool) -> Result<Vec<OutboxItem>> {
        let with_url = if only_with_url { "AND url IS NOT NULL " } else { "" };
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1 {with_url}\
             ORDER BY next_attempt_at, created_at, id LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(now).bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(OutboxItem::from_row).collect()
    }

    /// Marks a pending row delivered; `Ok(false)` if it was not pending.
    pub async fn outbox_delivered(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE outbox SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL AND dead_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Counts a failed attempt and schedules the next one, or dead-letters.
    pub async fn outbox_failed(&self, id: &str, now: i64, error: &str) -> Result<OutboxRetry> {
        let mut tx = self.pool().begin().await?;
        // Write first: on SQLite this takes the write lock before the read.
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2 AND delivered_at IS NULL AND dead_at IS NULL",
        )
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(OutboxRetry::NotPending);
        }
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
        let (sql, at, result) = if attempts >= OUTBOX_MAX_ATTEMPTS {
            ("UPDATE outbox SET dead_at = $1 WHERE id = $2", now, OutboxRetry::DeadLettered)
        } else {
            let at = now + backoff_ms(attempts);
            ("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2", at, OutboxRetry::At(at))
        };
        sqlx::query(sql).bind(at).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Dead-lettered rows, most recent first.
    pub async fn dead_outbox(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, id LIMIT $1");
        let rows = sqlx::query(&sql).bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(OutboxItem::from_row).collect()
    }

    /// Adds a number (as given: callers normalise it to E.164 first), or updates its
    /// reason and time if it is already listed.
    pub async fn dnc_add(&self, number: &str, reason: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO do_not_call (number, added_at, reason) VALUES ($1, $2, $3) \
             ON CONFLICT (number) DO UPDATE SET added_at = excluded.added_at, reason = excluded.reason",
        )
        .bind(number)
        .bind(now)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `Ok(false)` if the number was not listed. An E.164 `+…` number also
    /// removes its spelling without the `+` (rows listed before numbers
    /// were normalised, issue #13).
    pub async fn dnc_remove(&self, number: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM do_not_call WHERE number = $1 OR number = $2")
            .bind(number)
            .bind(legacy_spelling(number))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the number is listed. Callers pass it normalised
    /// ([`crate::numbers::normalize`]); an E.164 `+…` number also matches
    /// its spelling without the `+` (rows listed before normalisation).
    pub async fn dnc_contains(&self, number: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM do_not_call WHERE number = $1 OR number = $2")
            .bind(number)
            .bind(legacy_spelling(number))
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// The latest consent answer of `caller` for `purpose` (None: never
    /// asked). An E.164 `+…` caller also matches consents recorded under its
    /// spelling without the `+` (callers as signalled, before normalisation).
    pub async fn consent_granted(&self, caller: &str, purpose: &str) -> Result<Option<bool>> {
        let granted: Option<i64> = sqlx::query_scalar(
            "SELECT granted FROM consents WHERE (caller = $1 OR caller = $3) AND purpose = $2 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(caller)
        .bind(purpose)
        .bind(legacy_spelling(caller))
        .fetch_optional(self.pool())
        .await?;
        Ok(granted.map(|g| g != 0))
    }

    /// The whole list, by number.
    pub async fn dnc_list(&self) -> Result<Vec<DncEntry>> {
        let rows = sqlx::query("SELECT number, added_at, reason FROM do_not_call ORDER BY number").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok(DncEntry { number: r.try_get("number")?, added_at: r.try_get("added_at")?, reason: r.try_get("reason")? }))
            .collect()
    }
}

/// A `+…` number without its `+`: how the list could hold it before
/// numbers were normalised. Anything else is returned as is.
fn legacy_spelling(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten_minutes() {
        let waits: Vec<i64> = (1..=12).map(backoff_ms).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000, 600_000]);
        assert_eq!(backoff_ms(1_000), OUTBOX_MAX_BACKOFF_MS);
    }
}
