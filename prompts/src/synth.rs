//! The `Synthesizer` trait (DESIGN.md §2) and the `Voice` it speaks with.
//!
//! The trait is object-safe (it returns a boxed future instead of using
//! `async fn`) so the gateway can pick an adapter from config at run time and
//! hold it as `Arc<dyn Synthesizer>`. An adapter returns audio at whatever
//! rate its engine produces; [`crate::PromptCache`] resamples to the call's
//! codec rate and caches the result.

use std::future::Future;
use std::pin::Pin;

use media::Pcm;

use crate::TtsError;

/// Who speaks: a BCP 47 language tag plus optional engine voice and speed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Voice {
    /// BCP 47 language tag, e.g. `en-US`, `es-AR`.
    pub language: String,
    /// Engine-specific voice name (for espeak-ng: a variant such as `f3`).
    pub name: Option<String>,
    /// Speaking rate in words per minute; `None` = the engine's default.
    pub rate_wpm: Option<u32>,
}

impl Voice {
    /// A voice for `language` with the engine's default name and rate.
    pub fn new(language: impl Into<String>) -> Self {
        Self { language: language.into(), name: None, rate_wpm: None }
    }

    /// Sets the engine-specific voice name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the speaking rate in words per minute.
    pub fn with_rate_wpm(mut self, rate_wpm: u32) -> Self {
        self.rate_wpm = Some(rate_wpm);
        self
    }
}

impl Default for Voice {
    fn default() -> Self {
        Self::new("en-US")
    }
}

/// The future returned by [`Synthesizer::synthesize`].
pub type SynthFuture<'a> = Pin<Box<dyn Future<Output = Result<Pcm, TtsError>> + Send + 'a>>;

/// A text-to-speech engine. Returns mono PCM at the engine's native rate.
pub trait Synthesizer: Send + Sync {
    /// Engine name; part of the prompt cache key, so two engines never share
    /// cached audio. Change it when the engine's output changes.
    fn name(&self) -> &str;

    /// Speaks `text` with `voice`.
    fn synthesize<'a>(&'a self, text: &'a str, voice: &'a Voice) -> SynthFuture<'a>;
}
