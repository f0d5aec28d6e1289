//! KPIs of DESIGN.md §6 over the calls that *started* in `[from, to)`,
//! in total and grouped by day (in the query's time zone, UTC by default),
//! flow or A/B variant.
//!
//! "calls" (the denominator of containment, abandon rate, conversion and
//! revenue per conversation) is every call that started in the range,
//! ended or not.
//! Exact definitions, as computed here:
//! - first response time: `first_prompt_at − started_at` over the calls that
//!   have a first prompt; mean, and p50 by nearest rank (for an even count,
//!   the lower of the two middle values).
//! - containment: calls *completed in the flow* — ended (`ended_at` set)
//!   with outcome `completed` and without a successful transfer — / calls.
//!   A transfer that failed and fell back to the flow does not break
//!   containment. A caller who hangs up (`abandoned`) is not a bot success:
//!   those calls are their own KPI, below; `transferred`, `failed`,
//!   `interrupted`, `no_answer` and `busy` are not contained either.
//! - abandon rate: calls that ended with outcome `abandoned` (the caller
//!   hung up while in the flow, whatever transfers were tried) / calls.
//! - effective handoff %: transfers with `ok` (NOTIFY 2xx; for a warm
//!   transfer or a bridged fallback: the agent accepted and the legs were
//!   bridged) / transfers tried, over the transfers of those calls.
//! - time to agent: `answered_ms` of the successful transfers (the transfer
//!   tried → NOTIFY 2xx, or → bridged for a warm one); mean and p50 by
//!   nearest rank.
//! - first-contact resolution: inbound calls with no other inbound call from
//!   the same caller (callers compared in E.164, normalised with the
//!   query's `[numbers]` settings, so `0351…`, `+54351…` and `54 351…` are
//!   one caller) in the 7 days after it started (`started_at` in
//!   `(s, s + 7 d]`, looking past `to` if need be), / inbound calls. Only
//!   calls whose 7-day window has closed by `now` are judged (`fcr_calls`),
//!   so the last 7 days do not inflate it; anonymous callers (empty,
//!   `anonymous`, `unknown`, `restricted`, `private`) cannot be followed and
//!   are left out too.
//! - CSAT: mean of the `csat` answers (1–5); NPS: (promoters 9–10 −
//!   detractors 0–6) × 100 / `nps` answers.
//! - assisted conversion: calls with at least one `order` event / calls;
//!   revenue per conversation: Σ `order.value` / calls, **per currency**
//!   (`revenue` and `revenue_per_conversation` are maps keyed by currency
//!   code; orders without a currency count under `XXX`, ISO 4217's "no
//!   currency"). Amounts are never converted between currencies. Events
//!   without a `call_id` are no conversation's and are not counted.
//!
//! Rates are percentages (0–100) computed with one rounding; a rate whose
//! denominator is 0 is `null`. Grouping by variant keys a call by each of its
//! assignments as `experiment/variant` (a call in two experiments counts in
//! both groups); calls with none are in group `none`. Aggregation is in Rust
//! (PostgreSQL would return NUMERIC for SQL sums, which the Any driver
//! cannot decode, and a portable median does not exist); calls are read in
//! pages, the child rows of the range at once.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::records::{Direction, Outcome, SurveyKind};
use super::{Result, Store};
use crate::numbers::{normalize_or_keep, NumberConfig};

const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
const PAGE: i64 = 5000;
const NO_CURRENCY: &str = "XXX";

/// An order's (value, currency).
type Order = (Option<f64>, Option<String>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Day,
    Flow,
    Variant,
}

/// `from` inclusive, `to` exclusive, `now` and `numbers` only for
/// first-contact resolution; `timezone` (IANA, default UTC) for the days of
/// `group_by = day`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiQuery {
    pub from: i64,
    pub to: i64,
    pub group_by: Option<GroupBy>,
    pub now: i64,
    #[serde(default)]
    pub numbers: NumberConfig,
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    #[serde(serialize_with = "super::json_time::serialize")]
    pub from: i64,
    #[serde(serialize_with = "super::json_time::serialize")]
    pub to: i64,
    pub group_by: Option<GroupBy>,
    /// The time zone of the days of `group_by = day` (IANA name).
    pub timezone: String,
    pub total: Kpis,
    /// Sorted by key (days chronologically).
    pub groups: Vec<KpiGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiGroup {
    pub key: String,
    #[serde(flatten)]
    pub kpis: Kpis,
}

/// The KPIs with the counts they come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub calls: u64,
    pub first_response_samples: u64,
    pub first_response_avg_ms: Option<f64>,
    pub first_response_p50_ms: Option<i64>,
    pub contained: u64,
    pub containment_pct: Option<f64>,
    pub abandoned: u64,
    pub abandon_rate_pct: Option<f64>,
    pub transfers_tried: u64,
    pub transfers_ok: u64,
    pub effective_handoff_pct: Option<f64>,
    pub time_to_agent_samples: u64,
    pub time_to_agent_avg_ms: Option<f64>,
    pub time_to_agent_p50_ms: Option<i64>,
    pub fcr_calls: u64,
    pub fcr_resolved: u64,
    pub fcr_pct: Option<f64>,
    pub csat_answers: u64,
    pub csat_avg: Option<f64>,
    pub nps_answers: u64,
    pub nps: Option<f64>,
    pub converted_calls: u64,
    pub assisted_conversion_pct: Option<f64>,
    pub revenue: BTreeMap<String, f64>,
    pub revenue_per_conversation: BTreeMap<String, f64>,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    first_response: Vec<i64>,
    contained: u64,
    abandoned: u64,
    transfers_tried: u64,
    transfers_ok: u64,
    to_agent: Vec<i64>,
    fcr_calls: u64,
    fcr_resolved: u64,
    csat_sum: i64,
    csat_answers: u64,
    nps_answers: u64,
    nps_net: i64,
    converted: u64,
    revenue: BTreeMap<String, f64>,
}

/// Where each call of the range counts: the total and its groups.
struct Accs {
    total: Acc,
    groups: BTreeMap<String, Acc>,
    call_groups: HashMap<String, Vec<String>>,
}

impl Accs {
    /// Applies `f` to the total and to each group of `call_id`, if it is in range.
    fn each(&mut self, call_id: &str, mut f: impl FnMut(&mut Acc)) {
        let Some(keys) = self.call_groups.get(call_id) else { return };
        f(&mut self.total);
        for key in keys {
            f(self.groups.entry(key.clone()).or_default());
        }
    }
}

impl Store {
    pub async fn kpis(&self, q: &KpiQuery) -> Result<KpiReport> {
        let mut variants: HashMap<String, Vec<String>> = HashMap::new();
        if q.group_by == Some(GroupBy::Variant) {
            let sql = in_range("SELECT a.call_id, a.experiment, a.variant FROM ab_assignments a", "a.call_id");
            for r in sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(self.pool()).await? {
                let key = format!("{}/{}", r.try_get::<String, _>("experiment")?, r.try_get::<String, _>("variant")?);
                variants.entry(r.try_get("call_id")?).or_default().push(key);
            }
        }
        let mut accs = Accs { total: Acc::default(), groups: BTreeMap::new(), call_groups: HashMap::new() };
        self.scan_calls(q, &mut variants, &mut accs).await?;

        let sql = in_range("SELECT t.call_id, t.ok, t.answered_ms FROM transfers t", "t.call_id");
        for r in sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(self.pool()).await? {
            let ok = r.try_get::<i64, _>("ok")? != 0;
            let to_agent = r.try_get::<Option<i64>, _>("answered_ms")?.filter(|_| ok);
            accs.each(&r.try_get::<String, _>("call_id")?, |a| {
                a.transfers_tried += 1;
                a.transfers_ok += u64::from(ok);
                a.to_agent.extend(to_agent);
            });
        }
        let sql = in_range("SELECT s.call_id, s.kind, s.score FROM survey_answers s", "s.call_id");
        for r in sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(self.pool()).await? {
            let score: i64 = r.try_get("score")?;
            let kind = SurveyKind::parse(&r.try_get::<String, _>("kind")?)?;
            accs.each(&r.try_get::<String, _>("call_id")?, |a| match kind {
                SurveyKind::Csat => {
                    a.csat_answers += 1;
                    a.csat_sum += score;
                }
                SurveyKind::Nps => {
                    a.nps_answers += 1;
                    a.nps_net += i64::from(score >= 9) - i64::from(score <= 6);
                }
            });
        }
        let sql = in_range("SELECT e.call_id, e.value, e.currency FROM business_events e", "e.call_id") + " AND e.kind = 'order'";
        let mut orders: BTreeMap<String, Vec<Order>> = BTreeMap::new();
        for r in sqlx::query(&sql).bind(q.from).bind(q.to).fetch_all(self.pool()).await? {
            orders.entry(r.try_get("call_id")?).or_default().push((r.try_get("value")?, r.try_get("currency")?));
        }
        for (call_id, list) in orders {
            accs.each(&call_id, |a| {
                a.converted += 1;
                for (value, currency) in &list {
                    if let Some(v) = value {
                        *a.revenue.entry(currency.clone().unwrap_or_else(|| NO_CURRENCY.into())).or_default() += v;
                    }
                }
            });
        }
        Ok(KpiReport {
            from: q.from,
            to: q.to,
            group_by: q.group_by,
            timezone: q.timezone.clone().unwrap_or_else(|| "UTC".into()),
            total: accs.total.finish(),
            groups: accs.groups.into_iter().map(|(key, acc)| KpiGroup { key, kpis: acc.finish() }).collect(),
        })
    }

    /// Reads the calls of the range page by page, counting what depends on
    /// the call row alone and remembering each call's groups.
    async fn scan_calls(&self, q: &KpiQuery, variants: &mut HashMap<String, Vec<String>>, accs: &mut Accs) -> Result<()> {
        let sql = format!(
            "SELECT c.id, c.caller, c.direction, c.flow, c.started_at, c.first_prompt_at, c.ended_at, c.outcome, \
             CASE WHEN EXISTS (SELECT 1 FROM transfers t WHERE t.call_id = c.id AND t.ok = 1) THEN 1 ELSE 0 END AS handed_off \
             FROM calls c WHERE c.started_at >= $1 AND c.started_at < $2 AND (c.started_at > $3 OR (c.started_at = $3 AND c.id > $4)) \
             ORDER BY c.started_at, c.id LIMIT {PAGE}"
        );
        let repeats = self.inbound_callers(q).await?;
        let zone = day_zone(q)?;
        let (mut after_at, mut after_id) = (i64::MIN, String::new());
        loop {
            let rows = sqlx::query(&sql).bind(q.from).bind(q.to).bind(after_at).bind(&after_id).fetch_all(self.pool()).await?;
            for r in &rows {
                let id: String = r.try_get("id")?;
                let started: i64 = r.try_get("started_at")?;
                let first_prompt: Option<i64> = r.try_get("first_prompt_at")?;
                let ended = r.try_get::<Option<i64>, _>("ended_at")?.is_some();
                let outcome = r.try_get::<Option<String>, _>("outcome")?.as_deref().map(Outcome::parse).transpose()?;
                let handed_off = r.try_get::<i64, _>("handed_off")? != 0;
                let contained = ended && !handed_off && outcome == Some(Outcome::Completed);
                let abandoned = ended && outcome == Some(Outcome::Abandoned);
                let caller: String = r.try_get("caller")?;
                let inbound = Direction::parse(&r.try_get::<String, _>("direction")?)? == Direction::Inbound;
                let fcr_judged = inbound && !anonymous(&caller) && started + WEEK_MS <= q.now;
                let resolved = fcr_judged && !repeats.called_again(&caller, started);
                let keys = match q.group_by {
                    None => vec![],
                    Some(GroupBy::Day) => vec![local_day(started, &zone)],
                    Some(GroupBy::Flow) => vec![r.try_get("flow")?],
                    Some(GroupBy::Variant) => variants.remove(&id).unwrap_or_else(|| vec!["none".into()]),
                };
                accs.call_groups.insert(id.clone(), keys);
                accs.each(&id, |a| {
                    a.calls += 1;
                    a.first_response.extend(first_prompt.map(|at| at - started));
                    a.contained += u64::from(contained);
                    a.abandoned += u64::from(abandoned);
                    a.fcr_calls += u64::from(fcr_judged);
                    a.fcr_resolved += u64::from(resolved);
                });
                (after_at, after_id) = (started, id);
            }
            if (rows.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}

/// When each caller (in E.164) called in: inbound calls from `from` to a
/// week after `to`, for first-contact resolution.
struct Repeats {
    numbers: NumberConfig,
    by_caller: HashMap<String, Vec<i64>>,
}

impl Repeats {
    /// Whether `caller` called in again in `(started, started + 7 d]`.
    fn called_again(&self, caller: &str, started: i64) -> bool {
        let Some(times) = self.by_caller.get(&normalize_or_keep(caller, &self.numbers)) else { return false };
        let i = times.partition_point(|&t| t <= started);
        times.get(i).is_some_and(|&t| t <= started + WEEK_MS)
    }
}

impl Store {
    async fn inbound_callers(&self, q: &KpiQuery) -> Result<Repeats> {
        let rows = sqlx::query("SELECT caller, started_at FROM calls WHERE direction = 'inbound' AND started_at > $1 AND started_at <= $2")
            .bind(q.from)
            .bind(q.to.saturating_add(WEEK_MS))
            .fetch_all(self.pool())
            .await?;
        let mut by_caller: HashMap<String, Vec<i64>> = HashMap::new();
        for r in rows {
            let caller: String = r.try_get("caller")?;
            by_caller.entry(normalize_or_keep(&caller, &q.numbers)).or_default().push(r.try_get("started_at")?);
        }
        by_caller.values_mut().for_each(|v| v.sort_unstable());
        Ok(Repeats { numbers: q.numbers.clone(), by_caller })
    }
}

/// The zone whose calendar days `group_by = day` uses.
fn day_zone(q: &KpiQuery) -> Result<jiff::tz::TimeZone> {
    match q.timezone.as_deref() {
        None | Some("UTC") => Ok(jiff::tz::TimeZone::UTC),
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| super::StoreError::UnknownTimeZone(name.to_string())),
    }
}

/// `YYYY-MM-DD` of a Unix-milliseconds time in `zone`.
fn local_day(ms: i64, zone: &jiff::tz::TimeZone) -> String {
    if *zone == jiff::tz::TimeZone::UTC {
        return utc_day(ms);
    }
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_zoned(zone.clone()).date().to_string(),
        Err(_) => utc_day(ms),
    }
}

/// `SELECT … FROM child x` joined to the calls that started in `[$1, $2)`.
fn in_range(select: &str, call_id: &str) -> String {
    format!("{select} JOIN calls c ON c.id = {call_id} WHERE c.started_at >= $1 AND c.started_at < $2")
}

fn anonymous(caller: &str) -> bool {
    let c = caller.trim().to_ascii_lowercase();
    c.is_empty() || ["anonymous", "unknown", "restricted", "private"].contains(&c.as_str())
}

/// Count, mean and p50 (nearest rank; for an even count the lower middle)
/// of `xs`, which it sorts.
fn mean_and_p50(xs: &mut [i64]) -> (u64, Option<f64>, Option<i64>) {
    xs.sort_unstable();
    let n = xs.len();
    let sum: i64 = xs.iter().sum();
    (n as u64, (n > 0).then(|| sum as f64 / n as f64), (n > 0).then(|| xs[n.div_ceil(2) - 1]))
}

/// `num / den` in percent, one rounding; `None` when `den` is 0.
fn pct(num: i64, den: u64) -> Option<f64> {
    (den > 0).then(|| (num * 100) as f64 / den as f64)
}

impl Acc {
    fn finish(mut self) -> Kpis {
        let (samples, first_response_avg_ms, first_response_p50_ms) = mean_and_p50(&mut self.first_response);
        let (to_agent_samples, time_to_agent_avg_ms, time_to_agent_p50_ms) = mean_and_p50(&mut self.to_agent);
        let per_call = |v: &f64| v / self.calls as f64;
        Kpis {
            calls: self.calls,
            first_response_samples: samples,
            first_response_avg_ms,
            first_response_p50_ms,
            time_to_agent_samples: to_agent_samples,
            time_to_agent_avg_ms,
            time_to_agent_p50_ms,
            contained: self.contained,
            containment_pct: pct(self.contained as i64, self.calls),
            abandoned: self.abandoned,
            abandon_rate_pct: pct(self.abandoned as i64, self.calls),
            transfers_tried: self.transfers_tried,
            transfers_ok: self.transfers_ok,
            effective_handoff_pct: pct(self.transfers_ok as i64, self.transfers_tried),
            fcr_calls: self.fcr_calls,
            fcr_resolved: self.fcr_resolved,
            fcr_pct: pct(self.fcr_resolved as i64, self.fcr_calls),
            csat_answers: self.csat_answers,
            csat_avg: (self.csat_answers > 0).then(|| self.csat_sum as f64 / self.csat_answers as f64),
            nps_answers: self.nps_answers,
            nps: pct(self.nps_net, self.nps_answers),
            converted_calls: self.converted,
            assisted_conversion_pct: pct(self.converted as i64, self.calls),
            revenue_per_conversation: self.revenue.iter().map(|(c, v)| (c.clone(), per_call(v))).collect(),
            revenue: self.revenue,
        }
    }
}

/// `YYYY-MM-DD` of a Unix-milliseconds time, UTC (civil-from-days).
fn utc_day(ms: i64) -> String {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_700_000_000_000), "2023-11-14");
        assert_eq!(utc_day(1_767_225_599_999), "2025-12-31");
    }

    #[test]
    fn percentages_round_once() {
        assert_eq!(pct(2, 3), Some(200.0 / 3.0));
        assert_eq!(pct(-1, 4), Some(-25.0));
        assert_eq!(pct(1, 0), None);
        assert!(anonymous(" Anonymous ") && anonymous("") && !anonymous("+5493510000000"));
    }
}
