//! Reads behind the admin API: a filtered, paginated list of calls and one
//! call with everything recorded about it.
//!
//! Pagination is by keyset, newest first: the cursor is the last row's
//! `started_at:id`, opaque to clients, so pages stay stable while new calls
//! arrive (an offset would shift under them).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::records::{
    AbAssignment, BusinessEvent, CallRecord, Consent, EventKind, EventRecord, Outcome, Step, StepKind, SurveyAnswer, SurveyKind, Transfer,
    TransferMode, CALL_COLUMNS,
};
use super::{Result, Store, StoreError};

/// Page size when none is asked for, and the largest one served.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Filters of `GET /v1/calls`; all optional. `from`/`to` bound `started_at`
/// (from inclusive, to exclusive). A call matches the flow filter when its
/// `flow` is `flow` or one of `flows` (a flow's name and its file path: CDRs
/// have stored either), and the caller filter likewise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallFilter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub flow: Option<String>,
    pub outcome: Option<Outcome>,
    pub caller: Option<String>,
    /// More spellings of the flow (any matches).
    pub flows: Vec<String>,
    /// More spellings of the caller (any matches): E.164 and as signalled.
    pub callers: Vec<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One call and everything recorded about it, each list in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallRecord,
    pub steps: Vec<Step>,
    pub transfers: Vec<Transfer>,
    pub consents: Vec<Consent>,
    pub survey_answers: Vec<SurveyAnswer>,
    pub business_events: Vec<EventRecord>,
    pub ab_assignments: Vec<AbAssignment>,
}

enum Arg {
    Int(i64),
    Text(String),
}

impl Store {
    pub async fn list_calls(&self, filter: &CallFilter) -> Result<CallPage> {
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        // `column IN ($n, …)` over the values; nothing when there are none.
        let mut one_of = |column: &str, values: Vec<Arg>, args: &mut Vec<Arg>| {
            if values.is_empty() {
                return;
            }
            let mut marks = Vec::new();
            for v in values {
                args.push(v);
                marks.push(format!("${}", args.len()));
            }
            conds.push(if column.ends_with(['<', '=']) {
                format!("{column} {}", marks[0])
            } else {
                format!("{column} IN ({})", marks.join(", "))
            });
        };
        let any_of = |one: &Option<String>, more: &[String]| -> Vec<Arg> {
            let mut all: Vec<String> = one.iter().chain(more).cloned().collect();
            all.sort();
            all.dedup();
            all.into_iter().map(Arg::Text).collect()
        };
        one_of("started_at >=", filter.from.map(Arg::Int).into_iter().collect(), &mut args);
        one_of("started_at <", filter.to.map(Arg::Int).into_iter().collect(), &mut args);
        one_of("flow", any_of(&filter.flow, &filter.flows), &mut args);
        one_of("outcome", filter.outcome.map(|o| Arg::Text(o.as_str().into())).into_iter().collect(), &mut args);
        one_of("caller", any_of(&filter.caller, &filter.callers), &mut args);
        if let Some(cursor) = &filter.cursor {
            let (at, id) = parse_cursor(cursor)?;
            let n = args.len();
            conds.push(format!("(started_at < ${} OR (started_at = ${} AND id < ${}))", n + 1, n + 1, n + 2));
            args.push(Arg::Int(at));
            args.push(Arg::Text(id));
        }
        let filter_sql = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls {filter_sql} ORDER BY started_at DESC, id DESC LIMIT {}", limit + 1);
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
            };
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut calls = rows.iter().map(CallRecord::from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor = if calls.len() > limit as usize {
            calls.truncate(limit as usize);
            calls.last().map(|c| format!("{}:{}", c.started_at, c.id))
        } else {
            None
        };
        Ok(CallPage { calls, next_cursor })
    }

    /// The business event stored under `key`, if any.
    pub async fn event_by_key(&self, key: &str) -> Result<Option<EventRecord>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM business_events WHERE idempotency_key = $1");
        let row = sqlx::query(&sql).bind(key).fetch_optional(self.pool()).await?;
        row.as_ref().map(event).transpose()
    }

    /// The caller of a stored call; `None` if there is no such call.
    pub async fn call_caller(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT caller FROM calls WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| r.try_get("caller")).transpose()?)
    }

    /// The call with its steps, transfers, consents, survey answers,
    /// business events and A/B assignments; `None` if unknown.
    pub async fn get_call(&self, id: &str) -> Result<Option<CallDetail>> {
        let mut tx = self.pool().begin().await?;
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1");
        let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let call = CallRecord::from_row(&row)?;
        let conn: &mut AnyConnection = &mut tx;
        let detail = CallDetail {
            call,
            steps: children(conn, id, "call_steps", "call_id, seq, at, kind, node, detail, confidence, duration_ms", "seq", step).await?,
            transfers: children(
                conn,
                id,
                "transfers",
                "call_id, target, mode, result_code, tried_at, answered_ms, ok, outcome, ring_ms, bridge_ms",
                "tried_at, id",
                transfer,
            )
            .await?,
            consents: children(conn, id, "consents", "call_id, caller, purpose, granted, at", "at, id", consent).await?,
            survey_answers: children(conn, id, "survey_answers", "call_id, kind, score, at", "at, id", survey).await?,
            business_events: children(conn, id, "business_events", EVENT_COLUMNS, "at, id", event).await?,
            ab_assignments: children(conn, id, "ab_assignments", "call_id, experiment, variant", "experiment", ab).await?,
        };
        tx.rollback().await?;
        Ok(Some(detail))
    }
}

const EVENT_COLUMNS: &str = "id, call_id, caller, kind, value, currency, payload, at, idempotency_key";

/// The rows of one child table that belong to a call, decoded.
async fn children<T>(
    conn: &mut AnyConnection,
    id: &str,
    table: &str,
    columns: &str,
    order: &str,
    decode: fn(&AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    let sql = format!("SELECT {columns} FROM {table} WHERE call_id = $1 ORDER BY {order}");
    let rows = sqlx::query(&sql).bind(id).fetch_all(conn).await?;
    rows.iter().map(decode).collect()
}

fn parse_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || StoreError::BadCursor(cursor.to_string());
    let (at, id) = cursor.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

fn step(r: &AnyRow) -> Result<Step> {
    Ok(Step {
        call_id: r.try_get("call_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        kind: StepKind::parse(&r.try_get::<String, _>("kind")?)?,
        node: r.try_get("node")?,
        detail: r.try_get("detail")?,
        confidence: r.try_get("confidence")?,
        duration_ms: r.try_get("duration_ms")?,
    })
}

fn transfer(r: &AnyRow) -> Result<Transfer> {
    Ok(Transfer {
        call_id: r.try_get("call_id")?,
        target: r.try_get("target")?,
        mode: TransferMode::parse(&r.try_get::<String, _>("mode")?)?,
        result_code: r.try_get("result_code")?,
        tried_at: r.try_get("tried_at")?,
        answered_ms: r.try_get("answered_ms")?,
        ok: r.try_get::<i64, _>("ok")? != 0,
        outcome: r.try_get("outcome")?,
        ring_ms: r.try_get("ring_ms")?,
        bridge_ms: r.try_get("bridge_ms")?,
    })
}

fn consent(r: &AnyRow) -> Result<Consent> {
    Ok(Consent {
        call_id: r.try_get("call_id")?,
        caller: r.try_get("caller")?,
        purpose: r.try_get("purpose")?,
        granted: r.try_get::<i64, _>("granted")? != 0,
        at: r.try_get("at")?,
    })
}

fn survey(r: &AnyRow) -> Result<SurveyAnswer> {
    Ok(SurveyAnswer {
        call_id: r.try_get("call_id")?,
        kind: SurveyKind::parse(&r.try_get::<String, _>("kind")?)?,
        score: r.try_get("score")?,
        at: r.try_get("at")?,
    })
}

fn event(r: &AnyRow) -> Result<EventRecord> {
    Ok(EventRecord {
        id: r.try_get("id")?,
        event: BusinessEvent {
            call_id: r.try_get("call_id")?,
            caller: r.try_get("caller")?,
            kind: EventKind::parse(&r.try_get::<String, _>("kind")?)?,
            value: r.try_get("value")?,
            currency: r.try_get("currency")?,
            payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
            at: r.try_get("at")?,
            idempotency_key: r.try_get("idempotency_key")?,
        },
    })
}

fn ab(r: &AnyRow) -> Result<AbAssignment> {
    Ok(AbAssignment { call_id: r.try_get("call_id")?, experiment: r.try_get("experiment")?, variant: r.try_get("variant")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor("1700000000000:abc:d").unwrap(), (1_700_000_000_000, "abc:d".to_string()));
        assert!(matches!(parse_cursor("nope"), Err(StoreError::BadCursor(_))));
        assert!(matches!(parse_cursor("x:id"), Err(StoreError::BadCursor(_))));
    }
}
