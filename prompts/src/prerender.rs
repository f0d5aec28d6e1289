//! Start-up pre-rendering: every static `say` of the loaded flows is
//! synthesized into the [`PromptCache`] before the first call, so callers
//! never wait on the TTS engine for fixed text.
//!
//! At most `concurrency` renders run at once (default 4, gentle on a cloud
//! quota and on the CPU for espeak-ng); duplicates are rendered once. One
//! failure never stops the rest: failures are collected in the
//! [`PrerenderReport`] for the caller to log (and, with a fallback engine,
//! calls still get the built-in voice). `progress(done, total)` is called
//! once with `done = 0` and then after each item, from the task that awaits
//! the future (no locking needed in the callback).
//!
//! ```no_run
//! # use prompts::{prerender, prerender_with, FallbackSynthesizer, PromptCache, Synthesizer, Voice};
//! # async fn start(cache: &PromptCache, synth: &dyn Synthesizer, fallback: &FallbackSynthesizer, static_says: Vec<(String, Voice)>) {
//! let report = prerender(cache, synth, 8000, static_says.clone(), |done, total| {
//!     tracing::info!("prompts: {done}/{total}");
//! }).await;
//! for f in &report.failures { tracing::warn!(text = %f.text, error = %f.error, "not pre-rendered"); }
//! // with a FallbackSynthesizer:
//! let report = prerender_with(4, static_says, |text, voice| async move {
//!     fallback.render(cache, &text, &voice, 8000).await.map(drop)
//! }, |_, _| {}).await;
//! # }
//! ```

use std::collections::HashSet;
use std::future::Future;

use futures_util::stream::{self, StreamExt};

use crate::synth::{Synthesizer, Voice};
use crate::{PromptCache, TtsError};

/// Renders at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// One item that could not be rendered.
#[derive(Debug)]
pub struct PrerenderFailure {
    pub text: String,
    pub voice: Voice,
    pub error: TtsError,
}

/// What a pre-rendering run did.
#[derive(Debug, Default)]
pub struct PrerenderReport {
    /// Distinct (text, voice) items.
    pub total: usize,
    /// Items now in the cache.
    pub rendered: usize,
    pub failures: Vec<PrerenderFailure>,
}

impl PrerenderReport {
    /// Every item was rendered.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.rendered == self.total
    }
}

/// Renders every `(text, voice)` with `synth` into `cache` at `rate` Hz,
/// [`DEFAULT_CONCURRENCY`] at a time.
pub async fn prerender<I, T, P>(cache: &PromptCache, synth: &dyn Synthesizer, rate: u32, items: I, progress: P) -> PrerenderReport
where
    I: IntoIterator<Item = (T, Voice)>,
    T: Into<String>,
    P: FnMut(usize, usize),
{
    let render = |text: String, voice: Voice| async move { cache.get_or_synthesize(synth, &text, &voice, rate).await.map(drop) };
    prerender_with(DEFAULT_CONCURRENCY, items, render, progress).await
}

/// Runs `render` for every distinct `(text, voice)`, `concurrency` at a
/// time (at least 1), and collects the outcome.
pub async fn prerender_with<I, T, R, F, P>(concurrency: usize, items: I, render: R, mut progress: P) -> PrerenderReport
where
    I: IntoIterator<Item = (T, Voice)>,
    T: Into<String>,
    R: Fn(String, Voice) -> F,
    F: Future<Output = Result<(), TtsError>>,
    P: FnMut(usize, usize),
{
    let mut seen = HashSet::new();
    let items: Vec<(String, Voice)> = items.into_iter().map(|(t, v)| (t.into(), v)).filter(|item| seen.insert(item.clone())).collect();
    let total = items.len();
    let mut report = PrerenderReport { total, ..PrerenderReport::default() };
    progress(0, total);
    let render = &render;
    let mut results = stream::iter(items)
        .map(|(text, voice)| async move {
            let result = render(text.clone(), voice.clone()).await;
            (text, voice, result)
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = 0;
    while let Some((text, voice, result)) = results.next().await {
        done += 1;
        match result {
            Ok(()) => report.rendered += 1,
            Err(error) => {
                tracing::debug!(%text, language = %voice.language, %error, "pre-render failed");
                report.failures.push(PrerenderFailure { text, voice, error });
            }
        }
        progress(done, total);
    }
    report
}
