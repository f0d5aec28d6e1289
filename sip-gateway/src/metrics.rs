//! Prometheus metrics (text exposition format at `GET /metrics`). One
//! process-wide registry, as Prometheus clients usually have: counters are
//! atomics, so bumping one from any task costs no lock on the call path.
//! Names follow https://prometheus.io/docs/practices/naming/.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// `outcome` in the CDRs' words (`completed`, `transferred`, `abandoned`,
/// `failed`, `interrupted`, `no_answer`, `busy`: one vocabulary, issue #13);
/// `cause` the call's finer reason (`caller_hangup`, `rtp_timeout`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
    pub cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

/// Why a request was refused under `[limits]` (`max_calls`, `max_cps`,
/// `source_cps`, `trunk_cps`, `source_rate`, `banned`, `no_rtp_port`) and
/// what it got (`rejected`: a 503 with Retry-After; `dropped`: nothing).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OverloadLabel {
    pub reason: String,
    pub action: String,
}

pub struct Metrics {
    registry: Registry,
    pub active_calls: Gauge,
    pub calls: Family<OutcomeLabel, Counter>,
    pub sip_requests: Family<MethodLabel, Counter>,
    pub sip_responses: Family<CodeLabel, Counter>,
    pub sip_dropped: Counter,
    pub sip_malformed: Counter,
    pub rtp_packets_sent: Counter,
    pub rtp_packets_received: Counter,
    pub rtp_packets_lost: Counter,
    pub rtp_packets_rejected: Counter,
    pub media_leg_failures: Counter,
    /// Each call's received-audio interarrival jitter at its end (RFC 3550).
    pub rtp_jitter_seconds: Histogram,
    /// 20 ms frames of streamed prompts padded with silence (TTS too slow).
    pub prompt_underruns: Counter,
    pub dtmf_digits: Family<SourceLabel, Counter>,
    pub transfers: Family<ResultLabel, Counter>,
    pub first_response_seconds: Histogram,
    pub store_failures: Counter,
    pub tts_fallbacks: Counter,
    pub tts_seconds: Histogram,
    pub asr_fallbacks: Counter,
    /// Caller's end of speech (VAD) to the recogniser's final result.
    pub asr_seconds: Histogram,
    pub speech_starts: Counter,
    /// Caller speech not taken: under the gather's `min_confidence`, or
    /// denied at "Did you say …?" (issue #13).
    pub speech_rejected: Counter,
    /// Caller's turn end (VAD end of speech, or a DTMF digit) to the first
    /// RTP packet of the next prompt, by input.
    pub turn_seconds: Family<SourceLabel, Histogram>,
    pub webhook_deliveries: Counter,
    pub webhook_failures: Counter,
    /// Requests refused by overload control, by reason and action.
    pub overload_rejections: Family<OverloadLabel, Counter>,
    /// Source addresses banned now for their request rate.
    pub banned_sources: Gauge,
    /// Call recordings (issue #19): started, completed (closed and
    /// fsynced), failed (not created or not closed), bytes written, and
    /// frames the media path dropped because a writer's queue was full.
    pub recordings_started: Counter,
    pub recordings_completed: Counter,
    pub recordings_failed: Counter,
    pub recording_bytes: Counter,
    pub recording_queue_drops: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("centralita");
        let m = Metrics {
            active_calls: Gauge::default(),
            calls: Family::default(),
            sip_requests: Family::default(),
            sip_responses: Family::default(),
            sip_dropped: Counter::default(),
            sip_malformed: Counter::default(),
            rtp_packets_sent: Counter::default(),
            rtp_packets_received: Counter::default(),
            rtp_packets_lost: Counter::default(),
            rtp_packets_rejected: Counter::default(),
            media_leg_failures: Counter::default(),
            rtp_jitter_seconds: Histogram::new([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
            prompt_underruns: Counter::default(),
            dtmf_digits: Family::default(),
            transfers: Family::default(),
            first_response_seconds: Histogram::new([0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0]),
            store_failures: Counter::default(),
            tts_fallbacks: Counter::default(),
            tts_seconds: Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            asr_fallbacks: Counter::default(),
            asr_seconds: Histogram::new([0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0]),
            speech_starts: Counter::default(),
            speech_rejected: Counter::default(),
            turn_seconds: Family::new_with_constructor(|| Histogram::new([0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.5, 1.0, 2.0])),
            webhook_deliveries: Counter::default(),
            webhook_failures: Counter::default(),
            overload_rejections: Family::default(),
            banned_sources: Gauge::default(),
            recordings_started: Counter::default(),
            recordings_completed: Counter::default(),
            recordings_failed: Counter::default(),
            recording_bytes: Counter::default(),
            recording_queue_drops: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("active_calls", "Calls in progress", m.active_calls.clone());
        registry.register("calls", "Ended calls by outcome (the CDRs' words) and cause", m.calls.clone());
        registry.register("sip_requests_received", "SIP requests received by method", m.sip_requests.clone());
        registry.register("sip_responses_sent", "SIP responses sent by status code", m.sip_responses.clone());
        registry.register("sip_dropped", "Unparsable datagrams without a Via, dropped", m.sip_dropped.clone());
        registry.register("sip_malformed", "Malformed requests answered 400/501", m.sip_malformed.clone());
        registry.register("rtp_packets_sent", "RTP packets sent (counted at call end)", m.rtp_packets_sent.clone());
        registry.register("rtp_packets_received", "RTP packets received (counted at call end)", m.rtp_packets_received.clone());
        registry.register("rtp_packets_lost", "RTP packets lost per RFC 3550 A.3 (counted at call end)", m.rtp_packets_lost.clone());
        registry.register(
            "rtp_packets_rejected",
            "RTP packets from a source the leg would not latch to (strict RTP; counted at call end)",
            m.rtp_packets_rejected.clone(),
        );
        registry.register(
            "media_leg_failures",
            "Call legs whose media processing failed and were ended alone",
            m.media_leg_failures.clone(),
        );
        registry.register(
            "rtp_jitter_seconds",
            "Interarrival jitter of each call's received audio at its end (RFC 3550 6.4.1)",
            m.rtp_jitter_seconds.clone(),
        );
        registry.register(
            "prompt_underruns",
            "Frames of streamed TTS prompts sent as silence because audio had not arrived (counted at call end)",
            m.prompt_underruns.clone(),
        );
        registry.register("dtmf_digits", "DTMF digits by source", m.dtmf_digits.clone());
        registry.register("transfers", "Transfers by result (tried, succeeded, failed)", m.transfers.clone());
        registry.register(
            "first_response_seconds",
            "INVITE received to first RTP packet of the first prompt (DESIGN.md §6)",
            m.first_response_seconds.clone(),
        );
        registry.register(
            "tts_fallbacks",
            "Prompts spoken by the built-in voice or cache because the TTS engine failed",
            m.tts_fallbacks.clone(),
        );
        registry.register("tts_seconds", "Time to render a prompt (cache hits included)", m.tts_seconds.clone());
        registry.register("asr_fallbacks", "Gathers that fell back to DTMF because the recogniser failed", m.asr_fallbacks.clone());
        registry.register("asr_seconds", "Caller's end of speech to the recogniser's final result", m.asr_seconds.clone());
        registry.register("speech_starts", "Caller utterances detected (VAD)", m.speech_starts.clone());
        registry.register(
            "speech_rejected",
            "Caller speech not taken: under the gather's min_confidence, or denied at a confirmation",
            m.speech_rejected.clone(),
        );
        registry.register(
            "turn_seconds",
            "Caller's end of speech (VAD) or DTMF digit to the first RTP packet of the next prompt",
            m.turn_seconds.clone(),
        );
        registry.register("store_failures", "Call records the store writer refused or did not commit in time", m.store_failures.clone());
        registry.register("webhook_deliveries", "Outbox deliveries (business events) answered 2xx", m.webhook_deliveries.clone());
        registry.register(
            "webhook_failures",
            "Outbox delivery attempts that failed (non-2xx, timeout, connection error)",
            m.webhook_failures.clone(),
        );
        registry.register(
            "overload_rejections",
            "Requests refused by overload control ([limits], an exhausted RTP port range) by reason, answered 503 (rejected) or not at all (dropped)",
            m.overload_rejections.clone(),
        );
        registry.register("banned_sources", "Source addresses banned now for their SIP request rate", m.banned_sources.clone());
        registry.register("recordings_started", "Call recordings started (issue #19)", m.recordings_started.clone());
        registry.register("recordings_completed", "Call recordings closed and fsynced at the call's end", m.recordings_completed.clone());
        registry.register("recordings_failed", "Call recordings that could not be created or closed", m.recordings_failed.clone());
        registry.register("recording_bytes", "Bytes of closed call recordings", m.recording_bytes.clone());
        registry.register(
            "recording_queue_drops",
            "20 ms recording frames dropped by the media path because a recording writer's queue was full",
            m.recording_queue_drops.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts a request refused by overload control: `dropped` when it got
    /// no answer, else it got a 503.
    pub fn count_overload(&self, reason: &str, dropped: bool) {
        let action = if dropped { "dropped" } else { "rejected" };
        self.overload_rejections.get_or_create(&OverloadLabel { reason: reason.into(), action: action.into() }).inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts an ended call. `outcome` may be a stored outcome or one of the
    /// call task's finer words, which are mapped to the stored outcome
    /// exactly as the CDR is (`caller_hangup` is `abandoned`, `shutdown`
    /// `interrupted`, …) and kept as the `cause` label.
    pub fn count_call(&self, outcome: &str) {
        let stored = stored_outcome(outcome);
        self.calls.get_or_create(&OutcomeLabel { outcome: stored.into(), cause: outcome.into() }).inc();
    }

    pub fn count_transfer(&self, result: &str) {
        self.transfers.get_or_create(&ResultLabel { result: result.into() }).inc();
    }
}

/// The CDR outcome of a call task's end word (see `call::record`).
pub fn stored_outcome(word: &str) -> &str {
    match word {
        "caller_hangup" => "abandoned",
        "shutdown" => "interrupted",
        "rtp_timeout" | "no_ack" | "rejected" | "cancelled" => "failed",
        other => other,
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_carry_the_prefix_and_labels() {
        let m = metrics();
        m.count_call("transferred");
        m.count_call("caller_hangup");
        m.count_call("shutdown");
        m.sip_responses.get_or_create(&CodeLabel { code: "200".into() }).inc();
        let text = m.encode();
        assert!(text.contains("centralita_calls_total{outcome=\"transferred\",cause=\"transferred\"}"), "{text}");
        assert!(text.contains("centralita_calls_total{outcome=\"abandoned\",cause=\"caller_hangup\"}"), "{text}");
        assert!(text.contains("centralita_calls_total{outcome=\"interrupted\",cause=\"shutdown\"}"), "{text}");
        assert!(text.contains("centralita_sip_responses_sent_total{code=\"200\"}"), "{text}");
        assert!(text.contains("# TYPE centralita_active_calls gauge"), "{text}");
    }
}
