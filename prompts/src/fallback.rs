//! `FallbackSynthesizer`: a cloud TTS engine backed by the built-in voice, so
//! a vendor outage degrades the prompts instead of silencing the call.
//!
//! [`FallbackSynthesizer::render`] goes through the [`PromptCache`]:
//! 1. the primary's rendering, from memory or disk if it was rendered
//!    before (the primary is not asked, even when it is down), else from
//!    the primary, bounded by `timeout`;
//! 2. on any primary error or timeout: the fallback engine's rendering
//!    (espeak-ng by default), again from the cache if an earlier outage
//!    rendered it, else synthesized now. The fallback counter goes up.
//!
//! Cache keys: each rendering is stored under the name of the engine that
//! produced it. This is why `FallbackSynthesizer` is deliberately *not* a
//! [`Synthesizer`]: behind `PromptCache::get_or_synthesize` a wrapper has one
//! name, and an outage would store espeak audio under the primary's key,
//! to be replayed as if it were the cloud voice long after the vendor
//! recovered. Here the next render after an outage asks the primary again.
//!
//! [`FallbackSynthesizer::render_stream`] does the same for streamed
//! answers: a cached rendering is played from memory; otherwise the
//! primary's stream counts as working once its first audio chunk arrived.
//!
//! The counter is a plain `AtomicU64`: read it with
//! [`FallbackSynthesizer::fallback_count`] and export it (Prometheus
//! `centralita_tts_fallbacks_total`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use media::Pcm;

use crate::openai::{SpeechStream, StreamingSynthesizer};
use crate::synth::{SynthFuture, Synthesizer, Voice};
use crate::{convert, ConvertError, EspeakSynthesizer, PromptCache, TtsError};

/// Which engine's audio a render returned (fresh or from the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderSource {
    Primary,
    Fallback,
}

/// Audio at the requested rate and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub pcm: Pcm,
    pub source: RenderSource,
}

/// A primary engine with a fallback engine and a fallback counter.
/// Share it behind an `Arc`.
pub struct FallbackSynthesizer {
    primary: Arc<dyn StreamingSynthesizer>,
    fallback: Arc<dyn Synthesizer>,
    timeout: Duration,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for FallbackSynthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackSynthesizer")
            .field("primary", &self.primary.name())
            .field("fallback", &self.fallback.name())
            .field("timeout", &self.timeout)
            .field("fallbacks", &self.fallback_count())
            .finish()
    }
}

impl FallbackSynthesizer {
    /// Bound on one primary attempt, on top of the adapter's own timeouts.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// `primary`, falling back to espeak-ng. A non-streaming primary can be
    /// wrapped in [`crate::WholeClip`].
    pub fn new(primary: Arc<dyn StreamingSynthesizer>) -> Self {
        Self { primary, fallback: Arc::new(EspeakSynthesizer::new()), timeout: Self::DEFAULT_TIMEOUT, fallbacks: AtomicU64::new(0) }
    }

    /// Replaces the fallback engine.
    pub fn with_fallback(self, fallback: Arc<dyn Synthesizer>) -> Self {
        if fallback.name() == self.primary.name() {
            tracing::warn!(name = fallback.name(), "TTS fallback has the primary's name: their cached audio will be mixed up");
        }
        Self { fallback, ..self }
    }

    /// Bounds each primary attempt (render: the whole clip; stream: until
    /// the first audio chunk).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Renders that fell back since start-up.
    pub fn fallback_count(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub fn primary(&self) -> &dyn StreamingSynthesizer {
        self.primary.as_ref()
    }

    pub fn fallback(&self) -> &dyn Synthesizer {
        self.fallback.as_ref()
    }

    /// `text` as mono PCM at `rate` Hz: the primary's (cached or fresh),
    /// else the fallback's (cached or fresh). Empty text and bad rates are
    /// errors without a fallback; [`TtsError::Fallback`] when both fail.
    pub async fn render(&self, cache: &PromptCache, text: &str, voice: &Voice, rate: u32) -> Result<Rendered, TtsError> {
        check_input(text, rate)?;
        let primary: &dyn Synthesizer = self.primary.as_ref();
        let error = match tokio::time::timeout(self.timeout, cache.get_or_synthesize(primary, text, voice, rate)).await {
            Ok(Ok(pcm)) => return Ok(Rendered { pcm, source: RenderSource::Primary }),
            Ok(Err(error)) => error,
            Err(_) => self.timed_out(),
        };
        let pcm = self.fall_back(cache, error, text, voice, rate).await?;
        Ok(Rendered { pcm, source: RenderSource::Fallback })
    }

    /// A stream of `text`: the primary's cached rendering at `rate` if there
    /// is one (one chunk), else the primary's stream at its own rate once
    /// its first chunk has arrived (within `timeout`), else the fallback's
    /// rendering at `rate` (one chunk, cached). Use
    /// [`SpeechStream::rate`]: it differs between the cases. Errors after
    /// the first chunk are the caller's to handle (see
    /// [`StreamingSynthesizer`]).
    pub async fn render_stream(
        &self,
        cache: &PromptCache,
        text: &str,
        voice: &Voice,
        rate: u32,
    ) -> Result<(SpeechStream, RenderSource), TtsError> {
        check_input(text, rate)?;
        let primary: &dyn Synthesizer = self.primary.as_ref();
        if let Ok(pcm) = cache.get_or_synthesize(&CacheOnly(primary), text, voice, rate).await {
            return Ok((SpeechStream::from_pcm(pcm), RenderSource::Primary));
        }
        let attempt = async {
            let mut stream = self.primary.synthesize_stream(text, voice).await?;
            stream.peek().await?;
            Ok::<_, TtsError>(stream)
        };
        let error = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(stream)) => return Ok((stream, RenderSource::Primary)),
            Ok(Err(error)) => error,
            Err(_) => self.timed_out(),
        };
        let pcm = self.fall_back(cache, error, text, voice, rate).await?;
        Ok((SpeechStream::from_pcm(pcm), RenderSource::Fallback))
    }

    fn timed_out(&self) -> TtsError {
        TtsError::Timeout { engine: self.primary.name().to_owned(), after: self.timeout }
    }

    async fn fall_back(&self, cache: &PromptCache, primary: TtsError, text: &str, voice: &Voice, rate: u32) -> Result<Pcm, TtsError> {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(primary = self.primary.name(), fallback = self.fallback.name(), error = %primary, "TTS primary failed; using the fallback voice");
        cache
            .get_or_synthesize(self.fallback.as_ref(), text, voice, rate)
            .await
            .map_err(|fallback| TtsError::Fallback { primary: Box::new(primary), fallback: Box::new(fallback) })
    }
}

fn check_input(text: &str, rate: u32) -> Result<(), TtsError> {
    if text.trim().is_empty() {
        return Err(TtsError::EmptyText);
    }
    if rate == 0 || rate > convert::MAX_RATE {
        return Err(ConvertError::UnsupportedRate(rate).into());
    }
    Ok(())
}

/// Looks a rendering up in the cache under the wrapped engine's name
/// without ever running that engine: a miss is an error.
struct CacheOnly<'a>(&'a dyn Synthesizer);

impl Synthesizer for CacheOnly<'_> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn synthesize<'a>(&'a self, _text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        let engine = self.0.name().to_owned();
        Box::pin(async move { Err(TtsError::BadAudio { engine, reason: "not in the prompt cache".into() }) })
    }
}
