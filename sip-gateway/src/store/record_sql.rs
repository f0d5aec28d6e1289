//! The SQL of each [`Record`]: one function that runs inside whatever
//! transaction the caller holds, so that `Store::write` (one record) and the
//! `StoreWriter` (a group commit) share it. Each returns whether it changed
//! a row. Repeats are harmless: calls and events are keyed, ends and first
//! prompts only fill empty columns.

use sqlx::AnyConnection;

use super::records::{BusinessEvent, EventRecord, Record, SurveyKind};
use super::{new_id, Result, StoreError};

/// Outbox kind of the CRM delivery that each new business event enqueues.
pub(crate) const EVENT_OUTBOX_KIND: &str = "business_event";

// NULL_DOUBLE: sqlx 0.8's Any driver sends a NULL `Option<f64>` to
// PostgreSQL typed as float4 (its Real/Double null mapping is swapped). A
// cached prepared statement first run with NULL then fails on a non-NULL
// float8 ("incorrect binary data format"), so statements that bind an
// optional double are not cached: each run is prepared with its own types.

pub(crate) async fn apply(conn: &mut AnyConnection, record: &Record) -> Result<bool> {
    let done =
        match record {
            Record::Call(c) => {
                sqlx::query(
                    "INSERT INTO calls (id, sip_call_id, caller, called, flow, flow_version, direction, started_at, ab_variant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                )
                .bind(&c.id)
                .bind(&c.sip_call_id)
                .bind(&c.caller)
                .bind(&c.called)
                .bind(&c.flow)
                .bind(&c.flow_version)
                .bind(c.direction.as_str())
                .bind(c.started_at)
                .bind(c.ab_variant.as_deref())
                .execute(&mut *conn)
                .await?
            }
            Record::Answered { call_id, at } => {
                sqlx::query("UPDATE calls SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL")
                    .bind(*at)
                    .bind(call_id)
                    .execute(&mut *conn)
                    .await?
            }
            Record::FirstPrompt { call_id, at } => {
                sqlx::query("UPDATE calls SET first_prompt_at = $1 WHERE id = $2 AND first_prompt_at IS NULL")
                    .bind(*at)
                    .bind(call_id)
                    .execute(&mut *conn)
                    .await?
            }
            Record::Ended(e) => {
                sqlx::query(
                    "UPDATE calls SET ended_at = $1, outcome = $2, hangup_side = $3, hangup_cause = $4 \
                 WHERE id = $5 AND ended_at IS NULL",
                )
                .bind(e.at)
                .bind(e.outcome.as_str())
                .bind(e.hangup_side.as_str())
                .bind(e.hangup_cause.as_deref())
                .bind(&e.call_id)
                .execute(&mut *conn)
                .await?
            }
            Record::Step(s) => {
                sqlx::query(
                    "INSERT INTO call_steps (call_id, seq, at, kind, node, detail, confidence, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&s.call_id)
                .bind(s.seq)
                .bind(s.at)
                .bind(s.kind.as_str())
                .bind(&s.node)
                .bind(&s.detail)
                .bind(s.confidence)
                .bind(s.duration_ms)
                .persistent(false) // see NULL_DOUBLE
                .execute(&mut *conn)
                .await?
            }
            Record::Transfer(t) => sqlx::query(
                "INSERT INTO transfers (id, call_id, target, mode, result_code, tried_at, answered_ms, ok, outcome, ring_ms, bridge_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(new_id())
            .bind(&t.call_id)
            .bind(&t.target)
            .bind(t.mode.as_str())
            .bind(t.result_code)
            .bind(t.tried_at)
            .bind(t.answered_ms)
            .bind(i64::from(t.ok))
            .bind(&t.outcome)
            .bind(t.ring_ms)
            .bind(t.bridge_ms)
            .execute(&mut *conn)
            .await?,
            Record::BridgeEnded { call_id, tried_at, bridge_ms } => {
                sqlx::query("UPDATE transfers SET bridge_ms = $1 WHERE call_id = $2 AND tried_at = $3 AND bridge_ms IS NULL")
                    .bind(bridge_ms)
                    .bind(call_id)
                    .bind(tried_at)
                    .execute(&mut *conn)
                    .await?
            }
            Record::Consent(c) => {
                sqlx::query("INSERT INTO consents (id, call_id, caller, purpose, granted, at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(new_id())
                    .bind(&c.call_id)
                    .bind(&c.caller)
                    .bind(&c.purpose)
                    .bind(i64::from(c.granted))
                    .bind(c.at)
                    .execute(&mut *conn)
                    .await?
            }
            Record::Survey(a) => {
                let range = match a.kind {
                    SurveyKind::Csat => 1..=5,
                    SurveyKind::Nps => 0..=10,
                };
                if !range.contains(&a.score) {
                    return Err(StoreError::ScoreOutOfRange { kind: a.kind.as_str(), score: a.score });
                }
                sqlx::query("INSERT INTO survey_answers (id, call_id, kind, score, at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(new_id())
                    .bind(&a.call_id)
                    .bind(a.kind.as_str())
                    .bind(a.score)
                    .bind(a.at)
                    .execute(&mut *conn)
                    .await?
            }
            Record::Event(e) => return add_event(conn, e).await,
            Record::Ab(a) => {
                sqlx::query(
                    "INSERT INTO ab_assignments (call_id, experiment, variant) VALUES ($1, $2, $3) \
                 ON CONFLICT (call_id, experiment) DO UPDATE SET variant = excluded.variant",
                )
                .bind(&a.call_id)
                .bind(&a.experiment)
                .bind(&a.variant)
                .execute(&mut *conn)
                .await?;
                sqlx::query("UPDATE calls SET ab_variant = $1 WHERE id = $2").bind(&a.variant).bind(&a.call_id).execute(&mut *conn).await?
            }
            Record::Recording(u) => return super::recordings::apply_update(conn, u).await,
            Record::Enqueue { kind, payload, key, at, url } => return enqueue(conn, kind, payload, key, *at, url.as_deref()).await,
        };
    Ok(done.rows_affected() > 0)
}

/// Inserts the event unless its key is known; a new one is enqueued for
/// delivery in the same transaction (the outbox pattern).
async fn add_event(conn: &mut AnyConnection, e: &BusinessEvent) -> Result<bool> {
    let id = new_id();
    let payload = serde_json::to_string(&e.payload)?;
    let done = sqlx::query(
        "INSERT INTO business_events (id, call_id, caller, kind, value, currency, payload, at, idempotency_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(e.call_id.as_deref())
    .bind(&e.caller)
    .bind(e.kind.as_str())
    .bind(e.value)
    .bind(e.currency.as_deref())
    .bind(payload)
    .bind(e.at)
    .bind(&e.idempotency_key)
    .persistent(false) // see NULL_DOUBLE
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let delivery = serde_json::to_value(EventRecord { id, event: e.clone() })?;
    enqueue(conn, EVENT_OUTBOX_KIND, &delivery, &e.idempotency_key, e.at, None).await?;
    Ok(true)
}

pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    kind: &str,
    payload: &serde_json::Value,
    key: &str,
    at: i64,
    url: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO outbox (id, kind, payload, created_at, next_attempt_at, attempts, idempotency_key, url) \
         VALUES ($1, $2, $3, $4, $4, 0, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(kind)
    .bind(serde_json::to_string(payload)?)
    .bind(at)
    .bind(key)
    .bind(url)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
