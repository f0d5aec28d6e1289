//! `GET /v1/kpis`: the KPIs of DESIGN.md §6 over the calls that started in
//! `[from, to)`, in total and optionally grouped by day, flow or A/B
//! variant (the store's `KpiReport`; exact definitions in `store/kpi.rs`).
//! Days are calendar days in `timezone` (default `[dashboard].timezone`,
//! else the default flow's `hours:` zone, else UTC); the report names it.
//! Without `to` the range ends now; without `from` it starts 7 days before
//! `to`. First-contact resolution is judged against the server's clock.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiQuery;
use super::schema;
use super::time::{now_ms, parse_time};
use super::{ApiError, ApiState};
use crate::store::{GroupBy, KpiQuery, KpiReport};

const DEFAULT_RANGE_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KpisQuery {
    /// Start (inclusive): RFC 3339 or Unix milliseconds; `to` − 7 days when absent.
    #[param(value_type = Option<String>, example = "2026-05-01T00:00:00Z")]
    from: Option<String>,
    /// End (exclusive): RFC 3339 or Unix milliseconds; now when absent.
    #[param(value_type = Option<String>)]
    to: Option<String>,
    /// `day`, `flow` or `variant` (`experiment/variant`).
    #[param(value_type = Option<String>, pattern = "^(day|flow|variant)$")]
    group_by: Option<String>,
    /// IANA time zone of the days (`America/Argentina/Cordoba`, `UTC`); default: the dashboard's.
    timezone: Option<String>,
}

/// KPIs over a time range, in total and per group.
#[utoipa::path(
    get, path = "/v1/kpis", tag = "kpis", params(KpisQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = schema::KpiReport),
        (status = 400, description = "bad range or group_by", body = super::ErrorBody),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorBody),
    )
)]
pub(crate) async fn get_kpis(State(s): State<ApiState>, ApiQuery(q): ApiQuery<KpisQuery>) -> Result<Json<KpiReport>, ApiError> {
    let now = now_ms();
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?.unwrap_or(now);
    let from = q.from.as_deref().map(|t| parse_time("from", t)).transpose()?.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    let group_by = match q.group_by.as_deref() {
        None => None,
        Some("day") => Some(GroupBy::Day),
        Some("flow") => Some(GroupBy::Flow),
        Some("variant") => Some(GroupBy::Variant),
        Some(other) => return Err(ApiError::bad_request(format!("`group_by` must be day, flow or variant, not {other:?}"))),
    };
    let timezone = q.timezone.unwrap_or_else(|| s.dashboard_timezone());
    if jiff::tz::TimeZone::get(&timezone).is_err() {
        return Err(ApiError::bad_request(format!(
            "`timezone` must be an IANA time zone (e.g. America/Argentina/Cordoba or UTC), not {timezone:?}"
        )));
    }
    let query = KpiQuery { from, to, group_by, now, numbers: s.numbers.clone(), timezone: Some(timezone) };
    Ok(Json(s.store()?.kpis(&query).await?))
}
