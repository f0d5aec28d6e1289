//! Speech recognition: the [`Recognizer`] interface (DESIGN.md §2) and its
//! network adapters, one module each, chosen by `[speech] asr = "<name>"`
//! with a `[speech.<name>]` table deserialised into the adapter's config:
//! - [`vosk`]: the alphacephei vosk-server WebSocket protocol (streaming).
//! - [`deepgram`]: Deepgram's live streaming WebSocket API (`/v1/listen`).
//! - [`openai`]: OpenAI-compatible `POST /v1/audio/transcriptions` (one
//!   request per utterance: Whisper, faster-whisper servers, vLLM, Groq …).
//!
//! Shape. `start(grammar, language)` returns a [`RecognizerStream`] at once
//! and runs the engine elsewhere: network adapters in a Tokio task (so
//! `start` must be called inside a runtime), CPU-bound engines on their own
//! thread through the same [`EngineIo`]. The stream is two channels:
//! - audio in: [`RecognizerStream::push`] takes mono `i16` at
//!   [`Recognizer::sample_rate`] (16 kHz for all adapters here), copies it
//!   into ~100 ms chunks ([`CHUNK`]) and hands full chunks over with a
//!   non-blocking `try_send`; a worker more than 5 s behind loses chunks,
//!   counted in [`RecognizerStream::dropped_samples`], and the caller never
//!   waits. Chunk buffers are recycled, so a 20 ms packet costs a copy, not
//!   an allocation. [`RecognizerStream::end_of_speech`] flushes and asks for
//!   the final result; it has a reserved queue slot and is never dropped.
//! - events out: [`RecognizerStream::next_event`] (cancel safe, for
//!   `select!`) yields [`AsrEvent::Partial`]s (the whole hypothesis so far,
//!   sent only when it changed), then exactly one [`AsrEvent::Final`] or
//!   [`AsrEvent::Error`], then `None`. A final with empty text means the
//!   engine heard no words (confidence 0).
//!
//! One stream is one utterance. Dropping it before `end_of_speech` cancels:
//! the worker closes its connection and reports nothing.
//!
//! Failures and retries: every `start()` opens a new connection, so a
//! server that dropped the last stream does not affect the next one. The
//! connection attempt is retried (`connect_retries`, default 1, 100 ms
//! apart) when the server was not reached at all; audio pushed meanwhile
//! waits in the queue. A stream does not retry once audio has been sent: a
//! drop mid-utterance ends it with [`AsrError::ConnectionLost`] (the audio
//! already sent is gone from the server and replaying it would double the
//! latency of the one answer the caller waits for); the flow treats it as a
//! failed gather and the next `start()` reconnects.
//!
//! Grammar. [`Grammar`] carries the phrases the flow listens for; adapters
//! turn it into the vendor's hint: Vosk `phrase_list` (a restricted
//! grammar, plus `[unk]`), Deepgram `keywords`/`keyterm`, the Whisper
//! `prompt`. [`Grammar::hint_phrases`] adds yes/no and digit words of the
//! language when asked.

pub mod builtin;
mod config;
pub mod deepgram;
pub mod discard;
mod error;
pub mod openai;
mod stream;
mod streaming;
mod transcript;
pub mod vosk;
pub mod whisper;
mod ws;

pub use config::ApiKey;
pub use error::{AsrError, BoxError, ProtocolError, Stage};
pub use stream::{chunk_samples, stream_pair, AsrEvents, AsrInput, AudioSink, EngineIo, RecognizerStream, CHUNK, QUEUE_CHUNKS};

use config::primary_language;

/// Sample rate of every adapter in this module unless configured otherwise.
pub const DEFAULT_SAMPLE_RATE: u32 = 16_000;

/// One phrase the flow listens for, and the intent it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarPhrase {
    pub intent: String,
    pub text: String,
}

/// What a gather expects to hear. Empty = free speech (no hints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grammar {
    pub phrases: Vec<GrammarPhrase>,
    /// Expect a yes/no answer (consent, confirmations).
    pub yes_no: bool,
    /// Expect spoken digits (survey scores, account numbers).
    pub digits: bool,
}

impl Grammar {
    /// A grammar of `(intent, phrase)` pairs.
    pub fn from_phrases<I, S>(phrases: I) -> Self
    where
        I: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        let phrases = phrases.into_iter().map(|(intent, text)| GrammarPhrase { intent: intent.into(), text: text.into() }).collect();
        Self { phrases, yes_no: false, digits: false }
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty() && !self.yes_no && !self.digits
    }

    /// The phrases to hint to an engine, lower case, trimmed, without
    /// duplicates, in order: the grammar's phrases, then yes/no words, then
    /// digit words of `language` (BCP 47; English, Spanish and Portuguese
    /// word lists, English for others).
    pub fn hint_phrases(&self, language: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |text: &str| {
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            if !text.is_empty() && !out.contains(&text) {
                out.push(text);
            }
        };
        for phrase in &self.phrases {
            add(&phrase.text);
        }
        let (yes_no, digits) = words_for(&primary_language(language));
        if self.yes_no {
            yes_no.iter().for_each(|w| add(w));
        }
        if self.digits {
            digits.iter().for_each(|w| add(w));
        }
        out
    }
}

fn words_for(language: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match language {
        "es" => (&["sí", "si", "no"], &["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"]),
        "pt" => (&["sim", "não"], &["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"]),
        _ => (&["yes", "no"], &["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]),
    }
}

/// What a running recognition reports.
#[derive(Debug)]
pub enum AsrEvent {
    /// The hypothesis so far (may still change).
    Partial { text: String },
    /// The transcript of the utterance; `confidence` in 0..=1 (1.0 when the
    /// engine gives none, 0.0 for empty text).
    Final { text: String, confidence: f32 },
    /// The recognition failed; no final follows.
    Error(AsrError),
}

/// A speech recogniser: a factory of one-utterance streams. Shared by all
/// calls (`&self`, `Send + Sync`): hold it as `Arc<dyn Recognizer>`.
///
/// (DESIGN.md §2 sketches `start(&mut self, …)`; `&self` lets many calls
/// share one adapter and its connection pool.)
pub trait Recognizer: Send + Sync + 'static {
    /// The adapter's config name (`[speech.<name>]`).
    fn name(&self) -> &'static str;

    /// The rate `push` expects, in Hz.
    fn sample_rate(&self) -> u32 {
        DEFAULT_SAMPLE_RATE
    }

    /// Starts recognising one utterance. Returns at once; connection errors
    /// arrive as [`AsrEvent::Error`]. Network adapters need a Tokio runtime
    /// ([`AsrError::NoRuntime`] otherwise).
    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError>;
}

/// Spawns an adapter's worker on the current Tokio runtime.
fn spawn_worker<F>(future: F) -> Result<(), AsrError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = tokio::runtime::Handle::try_current().map_err(|_| AsrError::NoRuntime)?;
    handle.spawn(future);
    Ok(())
}

/// Little-endian PCM16 bytes of a chunk (the wire format of every adapter).
fn pcm16le(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_normalised_and_deduplicated() {
        let mut g = Grammar::from_phrases([("sales", "Sales"), ("sales", "  buy  now "), ("agent", "sales")]);
        g.yes_no = true;
        assert_eq!(g.hint_phrases("en-US"), ["sales", "buy now", "yes", "no"]);
        g.digits = true;
        let es = g.hint_phrases("es-AR");
        assert!(es.contains(&"sí".to_owned()) && es.contains(&"nueve".to_owned()));
        assert!(Grammar::default().is_empty());
    }
}
