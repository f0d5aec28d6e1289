//! Overload control (issue #15 item 5, `[limits]`): how many calls may run
//! at once, how many may start per second (in all, per source address, per
//! trunk), and a per-source request-rate limit that bans SIP scanners and
//! flooders for a while, in the manner of Kamailio's and OpenSIPS' `pike`.
//!
//! A sans-IO struct fed with `now`: the endpoint asks it about every request
//! before doing any work for it, and acts on the [`Verdict`] (drop, or a
//! stateless `503` with `Retry-After`, RFC 3261 §21.5.4). Unit tests drive it
//! with fake time.
//!
//! Rates are token buckets: `rate` tokens a second, at most `burst` saved up
//! (one second's worth for the call rates). A new call takes a token from
//! every bucket that applies to it, and only when all of them have one, so a
//! source refused for its own rate does not use up the global rate that
//! other sources' calls need.
//!
//! Requests that belong to calls already in progress (the endpoint knows
//! their Call-ID) are neither counted nor refused, even from a banned
//! source: an admitted call can always be ACKed and hung up. Per-source
//! state is bounded ([`MAX_SOURCES`]): idle sources are forgotten, and when
//! a spoofed-address flood fills the table, further new addresses share one
//! bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[limits]`. Every limit is off (0) by default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Calls in progress (inbound and outbound) beyond which a new INVITE
    /// gets `503`; 0 = no limit (the RTP port range still bounds them).
    pub max_calls: usize,
    /// New inbound calls per second, all sources together; 0 = no limit.
    pub max_cps: f64,
    /// New inbound calls per second from one source IP address; 0 = no limit.
    pub max_cps_per_source: f64,
    /// New inbound calls per second per `[[trunks]]` entry (a source in its
    /// `allow` list); 0 = no limit.
    pub max_cps_per_trunk: f64,
    /// SIP requests per second one source IP address may send outside the
    /// calls it has in progress (INVITEs, OPTIONS, REGISTERs, stray
    /// requests), averaged; a source above it is banned. 0 = off.
    pub source_rate: f64,
    /// How many requests above `source_rate` a source may send in a burst
    /// before it is banned; default (0) twice `source_rate`.
    pub source_burst: f64,
    /// How long a ban lasts, seconds; a source still flooding when it ends
    /// is banned again at its next request.
    pub ban_seconds: u64,
    /// What a banned source gets: `drop` (nothing, as a scanner deserves)
    /// or `503` (with `Retry-After` = the rest of the ban).
    pub ban_action: BanAction,
    /// Seconds in the `Retry-After` of every other overload `503`
    /// (`max_calls`, the call rates, an exhausted RTP port range).
    pub retry_after: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_calls: 0,
            max_cps: 0.0,
            max_cps_per_source: 0.0,
            max_cps_per_trunk: 0.0,
            source_rate: 0.0,
            source_burst: 0.0,
            ban_seconds: 60,
            ban_action: BanAction::Drop,
            retry_after: 5,
        }
    }
}

impl LimitsConfig {
    /// Rejects negative or non-finite rates and a zero `retry_after`.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("max_cps", self.max_cps),
            ("max_cps_per_source", self.max_cps_per_source),
            ("max_cps_per_trunk", self.max_cps_per_trunk),
            ("source_rate", self.source_rate),
            ("source_burst", self.source_burst),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("[limits].{name} must be 0 (off) or a positive number, not {v}"));
            }
        }
        if self.retry_after == 0 {
            return Err("[limits].retry_after must be at least 1 second".into());
        }
        if self.source_rate > 0.0 && self.ban_seconds == 0 {
            return Err("[limits].ban_seconds must be at least 1 when source_rate is set".into());
        }
        Ok(())
    }
}

/// What a banned source gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum BanAction {
    /// No answer at all.
    #[serde(rename = "drop")]
    Drop,
    /// `503 Service Unavailable` with `Retry-After`.
    #[serde(rename = "503")]
    Reject,
}

/// Why a request was refused: the `reason` label of
/// `centralita_overload_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The source is banned (`source_rate` exceeded earlier).
    Banned,
    /// This request took the source over `source_rate`; it is banned now.
    SourceRate,
    /// `max_calls` calls are in progress.
    MaxCalls,
    /// `max_cps` for all sources.
    MaxCps,
    /// `max_cps_per_source`.
    SourceCps,
    /// `max_cps_per_trunk`.
    TrunkCps,
    /// The RTP port range is exhausted (counted by the call, not here).
    NoRtpPort,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Banned => "banned",
            Reason::SourceRate => "source_rate",
            Reason::MaxCalls => "max_calls",
            Reason::MaxCps => "max_cps",
            Reason::SourceCps => "source_cps",
            Reason::TrunkCps => "trunk_cps",
            Reason::NoRtpPort => "no_rtp_port",
        }
    }

    /// The reason phrase of the `503` (RFC 3261 §21.5.4).
    pub fn phrase(self) -> &'static str {
        match self {
            Reason::Banned | Reason::SourceRate => "Service Unavailable (too many requests from your address)",
            Reason::MaxCalls => "Service Unavailable (too many calls)",
            Reason::MaxCps | Reason::SourceCps | Reason::TrunkCps => "Service Unavailable (too many new calls per second)",
            Reason::NoRtpPort => "Service Unavailable (no RTP port)",
        }
    }
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Pass,
    /// Send nothing.
    Drop(Reason),
    /// A stateless `503` with `Retry-After: retry_after` seconds.
    Reject { reason: Reason, retry_after: u64 },
}

/// Per-source entries kept at most; beyond, new sources share one bucket.
pub const MAX_SOURCES: usize = 65_536;

/// How often idle sources are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket { tokens: burst, at: now }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }

    fn has_token(&self) -> bool {
        self.tokens >= 1.0
    }

    fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[derive(Debug, Clone, Copy)]
struct Source {
    requests: Bucket,
    calls: Bucket,
    banned_until: Option<Instant>,
}

/// The overload limiter (see the module doc).
#[derive(Debug)]
pub struct Limiter {
    cfg: LimitsConfig,
    /// `[[trunks]]` allow lists, in order: a source belongs to the first
    /// trunk whose list holds it.
    trunks: Vec<Vec<ipnet::IpNet>>,
    trunk_calls: Vec<Bucket>,
    global_calls: Bucket,
    sources: HashMap<IpAddr, Source>,
    /// Shared by new sources while `sources` is full.
    overflow: Source,
    next_prune: Instant,
}

impl Limiter {
    /// `trunks` are the `allow` networks of each `[[trunks]]` entry.
    pub fn new(cfg: LimitsConfig, trunks: Vec<Vec<ipnet::IpNet>>, now: Instant) -> Self {
        let trunk_calls = trunks.iter().map(|_| Bucket::full(burst_of(cfg.max_cps_per_trunk), now)).collect();
        let global_calls = Bucket::full(burst_of(cfg.max_cps), now);
        let overflow = new_source(&cfg, now);
        Limiter { cfg, trunks, trunk_calls, global_calls, sources: HashMap::new(), overflow, next_prune: now + PRUNE_EVERY }
    }

    /// Whether any limit is on (off: the endpoint need not ask).
    pub fn is_active(&self) -> bool {
        let c = &self.cfg;
        c.max_calls > 0 || c.max_cps > 0.0 || c.max_cps_per_source > 0.0 || c.max_cps_per_trunk > 0.0 || c.source_rate > 0.0
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.cfg
    }

    fn request_burst(&self) -> f64 {
        if self.cfg.source_burst > 0.0 {
            self.cfg.source_burst.max(1.0)
        } else {
            (2.0 * self.cfg.source_rate).max(1.0)
        }
    }

    fn source_mut(&mut self, ip: IpAddr, now: Instant) -> &mut Source {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            return &mut self.overflow;
        }
        let cfg = &self.cfg;
        self.sources.entry(ip).or_insert_with(|| new_source(cfg, now))
    }

    /// A request from `source` outside the calls in progress: the
    /// per-source rate and the ban.
    pub fn handle_request(&mut self, source: IpAddr, now: Instant) -> Verdict {
        if self.cfg.source_rate <= 0.0 {
            return Verdict::Pass;
        }
        self.prune(now);
        let (rate, burst, ban, action) =
            (self.cfg.source_rate, self.request_burst(), Duration::from_secs(self.cfg.ban_seconds), self.cfg.ban_action);
        let s = self.source_mut(source, now);
        s.requests.refill(rate, burst, now);
        let had_token = s.requests.has_token();
        s.requests.take();
        if let Some(until) = s.banned_until {
            if now < until {
                return refuse(Reason::Banned, action, until - now);
            }
            s.banned_until = None;
        }
        if had_token {
            return Verdict::Pass;
        }
        s.banned_until = Some(now + ban);
        refuse(Reason::SourceRate, action, ban)
    }

    /// A new call (an INVITE outside any dialog) from `source` that passed
    /// [`handle_request`](Self::handle_request), with `active` calls in progress.
    pub fn handle_new_call(&mut self, source: IpAddr, active: usize, now: Instant) -> Verdict {
        let retry_after = self.cfg.retry_after;
        let reject = |reason| Verdict::Reject { reason, retry_after };
        if self.cfg.max_calls > 0 && active >= self.cfg.max_calls {
            return reject(Reason::MaxCalls);
        }
        let (per_source, per_trunk, global) = (self.cfg.max_cps_per_source, self.cfg.max_cps_per_trunk, self.cfg.max_cps);
        let trunk = if per_trunk > 0.0 { self.trunks.iter().position(|nets| nets.iter().any(|n| n.contains(&source))) } else { None };
        if per_source > 0.0 {
            self.prune(now);
            let s = self.source_mut(source, now);
            s.calls.refill(per_source, burst_of(per_source), now);
            if !s.calls.has_token() {
                return reject(Reason::SourceCps);
            }
        }
        if let Some(t) = trunk {
            let b = &mut self.trunk_calls[t];
            b.refill(per_trunk, burst_of(per_trunk), now);
            if !b.has_token() {
                return reject(Reason::TrunkCps);
            }
        }
        if global > 0.0 {
            self.global_calls.refill(global, burst_of(global), now);
            if !self.global_calls.has_token() {
                return reject(Reason::MaxCps);
            }
        }
        // Every bucket has a token: take them all.
        if per_source > 0.0 {
            self.source_mut(source, now).calls.take();
        }
        if let Some(t) = trunk {
            self.trunk_calls[t].take();
        }
        if global > 0.0 {
            self.global_calls.take();
        }
        Verdict::Pass
    }

    /// Sources banned at `now`.
    pub fn banned(&self, now: Instant) -> usize {
        self.sources.values().filter(|s| s.banned_until.is_some_and(|u| u > now)).count()
    }

    /// Sources with state (for tests and the memory bound).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Forgets sources that are neither banned nor owe anything: their
    /// buckets would be full again by now.
    fn prune(&mut self, now: Instant) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now + PRUNE_EVERY;
        let (rate, burst) = (self.cfg.source_rate, self.request_burst());
        let (cps, cps_burst) = (self.cfg.max_cps_per_source, burst_of(self.cfg.max_cps_per_source));
        self.sources.retain(|_, s| {
            if s.banned_until.is_some_and(|u| u > now) {
                return true;
            }
            let mut r = s.requests;
            r.refill(rate, burst, now);
            let mut c = s.calls;
            c.refill(cps, cps_burst, now);
            r.tokens < burst || c.tokens < cps_burst
        });
        if self.sources.len() < MAX_SOURCES / 2 {
            self.overflow = new_source(&self.cfg, now);
        }
    }
}

fn new_source(cfg: &LimitsConfig, now: Instant) -> Source {
    let burst = if cfg.source_burst > 0.0 { cfg.source_burst.max(1.0) } else { (2.0 * cfg.source_rate).max(1.0) };
    Source { requests: Bucket::full(burst, now), calls: Bucket::full(burst_of(cfg.max_cps_per_source), now), banned_until: None }
}

/// A call rate's bucket: one second's worth, at least one call.
fn burst_of(rate: f64) -> f64 {
    rate.max(1.0)
}

fn refuse(reason: Reason, action: BanAction, left: Duration) -> Verdict {
    match action {
        BanAction::Drop => Verdict::Drop(reason),
        BanAction::Reject => Verdict::Reject { reason, retry_after: left.as_secs_f64().ceil().max(1.0) as u64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(cfg: LimitsConfig) -> (Limiter, Instant) {
        let t0 = Instant::now();
        (Limiter::new(cfg, vec![vec!["10.0.0.0/8".parse().unwrap()]], t0), t0)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn off_by_default() {
        let (mut l, t0) = limiter(LimitsConfig::default());
        assert!(!l.is_active());
        for i in 0..10_000 {
            assert_eq!(l.handle_request(ip("192.0.2.1"), t0 + ms(i / 100)), Verdict::Pass);
            assert_eq!(l.handle_new_call(ip("192.0.2.1"), 1_000_000, t0), Verdict::Pass);
        }
        assert_eq!(l.tracked_sources(), 0);
    }

    #[test]
    fn max_calls_refuses_with_retry_after() {
        let (mut l, t0) = limiter(LimitsConfig { max_calls: 3, retry_after: 7, ..Default::default() });
        assert_eq!(l.handle_new_call(ip("192.0.2.1"), 2, t0), Verdict::Pass);
        assert_eq!(l.handle_new_call(ip("192.0.2.1"), 3, t0), Verdict::Reject { reason: Reason::MaxCalls, retry_after: 7 });
    }

    #[test]
    fn one_source_over_its_call_rate_does_not_use_up_the_global_rate() {
        let cfg = LimitsConfig { max_cps: 10.0, max_cps_per_source: 2.0, ..Default::default() };
        let (mut l, t0) = limiter(cfg);
        let (flood, good) = (ip("127.0.0.2"), ip("127.0.0.1"));
        // 150 calls/s from one address for a second: 2 (its burst) + 2 more.
        let mut passed = 0;
        for i in 0..150 {
            match l.handle_new_call(flood, 0, t0 + ms(i * 1000 / 150)) {
                Verdict::Pass => passed += 1,
                Verdict::Reject { reason, retry_after } => assert_eq!((reason, retry_after), (Reason::SourceCps, 5)),
                v => panic!("{v:?}"),
            }
        }
        assert!((3..=4).contains(&passed), "{passed}");
        // The other source still gets its calls through.
        let t1 = t0 + ms(1000);
        assert_eq!(l.handle_new_call(good, 0, t1), Verdict::Pass);
        assert_eq!(l.handle_new_call(good, 0, t1 + ms(500)), Verdict::Pass);
    }

    #[test]
    fn global_rate_holds_across_sources() {
        let (mut l, t0) = limiter(LimitsConfig { max_cps: 5.0, ..Default::default() });
        let verdicts: Vec<Verdict> = (0..10).map(|i| l.handle_new_call(ip(&format!("192.0.2.{i}")), 0, t0)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Pass).count(), 5);
        assert_eq!(verdicts[9], Verdict::Reject { reason: Reason::MaxCps, retry_after: 5 });
        // A second later, five more.
        assert_eq!(l.handle_new_call(ip("192.0.2.1"), 0, t0 + ms(1000)), Verdict::Pass);
    }

    #[test]
    fn trunk_rate_counts_every_address_of_the_trunk() {
        let (mut l, t0) = limiter(LimitsConfig { max_cps_per_trunk: 2.0, ..Default::default() });
        assert_eq!(l.handle_new_call(ip("10.0.0.1"), 0, t0), Verdict::Pass);
        assert_eq!(l.handle_new_call(ip("10.0.0.2"), 0, t0), Verdict::Pass);
        assert_eq!(l.handle_new_call(ip("10.0.0.3"), 0, t0), Verdict::Reject { reason: Reason::TrunkCps, retry_after: 5 });
        // Not in the trunk: not limited by it.
        assert_eq!(l.handle_new_call(ip("192.0.2.1"), 0, t0), Verdict::Pass);
    }

    #[test]
    fn a_flooding_source_is_banned_then_forgiven() {
        let cfg = LimitsConfig { source_rate: 10.0, source_burst: 20.0, ban_seconds: 30, ..Default::default() };
        let (mut l, t0) = limiter(cfg);
        let (flood, monitor) = (ip("127.0.0.2"), ip("127.0.0.1"));
        // 20 pass at once (the burst); the 21st bans.
        for i in 0..20 {
            assert_eq!(l.handle_request(flood, t0), Verdict::Pass, "request {i}");
        }
        assert_eq!(l.handle_request(flood, t0), Verdict::Drop(Reason::SourceRate));
        assert_eq!(l.banned(t0), 1);
        // Banned: dropped even at a gentle rate, for the whole ban.
        assert_eq!(l.handle_request(flood, t0 + Duration::from_secs(29)), Verdict::Drop(Reason::Banned));
        // A monitor sending OPTIONS every second is never touched.
        for s in 0..60 {
            assert_eq!(l.handle_request(monitor, t0 + Duration::from_secs(s)), Verdict::Pass);
        }
        // After the ban, at a polite rate, it passes again.
        let after = t0 + Duration::from_secs(31);
        assert_eq!(l.handle_request(flood, after), Verdict::Pass);
        assert_eq!(l.banned(after), 0);
    }

    #[test]
    fn a_flood_that_goes_on_is_banned_again_at_once() {
        let cfg = LimitsConfig { source_rate: 10.0, ban_seconds: 5, ban_action: BanAction::Reject, ..Default::default() };
        let (mut l, t0) = limiter(cfg);
        let flood = ip("198.51.100.7");
        // 100 requests a second for 10 s.
        let mut first_ban = None;
        let mut passed_after_first_ban = 0;
        for i in 0..1000u64 {
            let now = t0 + ms(i * 10);
            match l.handle_request(flood, now) {
                Verdict::Pass if first_ban.is_some() => passed_after_first_ban += 1,
                Verdict::Pass => {}
                Verdict::Reject { reason: Reason::SourceRate, retry_after } => {
                    assert_eq!(retry_after, 5);
                    first_ban.get_or_insert(now);
                }
                Verdict::Reject { reason: Reason::Banned, retry_after } => assert!((1..=5).contains(&retry_after), "{retry_after}"),
                v => panic!("{v:?}"),
            }
        }
        assert!(first_ban.is_some());
        assert_eq!(passed_after_first_ban, 0, "requests during the ban drain the bucket, so the ban's end re-bans");
    }

    #[test]
    fn per_source_state_is_bounded_and_idle_sources_are_forgotten() {
        let cfg = LimitsConfig { source_rate: 5.0, max_cps_per_source: 1.0, ..Default::default() };
        let (mut l, t0) = limiter(cfg);
        // A spoofed-address flood: more addresses than the table holds.
        for i in 0..(MAX_SOURCES as u32 + 1000) {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.handle_request(a, t0);
            let _ = l.handle_new_call(a, 0, t0);
        }
        assert_eq!(l.tracked_sources(), MAX_SOURCES);
        // Quiet for a while: all forgotten at the next request.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.handle_request(ip("192.0.2.1"), later), Verdict::Pass);
        assert!(l.tracked_sources() <= 1, "{}", l.tracked_sources());
    }

    #[test]
    fn the_table_parses_from_the_config() {
        let text = "[limits]\nmax_calls = 300\nmax_cps = 20\nmax_cps_per_source = 2.5\nsource_rate = 50\nban_action = \"503\"\n";
        let c = crate::config::Config::from_toml(text, "c.toml").unwrap();
        assert_eq!((c.limits.max_calls, c.limits.max_cps, c.limits.max_cps_per_source), (300, 20.0, 2.5));
        assert_eq!((c.limits.ban_action, c.limits.ban_seconds, c.limits.retry_after), (BanAction::Reject, 60, 5));
        let e = crate::config::Config::from_toml("[limits]\nban_action = \"reject\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:"), "{e}");
        let e = crate::config::Config::from_toml("[limits]\nmax_cps = -3\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("[limits].max_cps"), "{e}");
    }

    #[test]
    fn config_check() {
        assert!(LimitsConfig::default().check().is_ok());
        assert!(LimitsConfig { max_cps: -1.0, ..Default::default() }.check().unwrap_err().contains("max_cps"));
        assert!(LimitsConfig { retry_after: 0, ..Default::default() }.check().unwrap_err().contains("retry_after"));
        assert!(LimitsConfig { source_rate: 1.0, ban_seconds: 0, ..Default::default() }.check().is_err());
    }
}
