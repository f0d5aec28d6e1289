//! A `say` prompt's audio at the call rate as it becomes available (issue
//! #5, streaming playback): a vendor engine that streams (OpenAI-compatible
//! speech, ElevenLabs) is played from its first chunk, before synthesis has
//! ended, instead of after the whole clip has arrived.
//!
//! Chunks at the engine's rate are resampled to 8 kHz with one
//! [`StreamResampler`] per prompt (20 ms input blocks, flushed at the end),
//! and the whole 8 kHz rendering is stored in the prompt cache once the
//! stream ended cleanly, so the next call plays it from memory. Cached and
//! fallback renderings arrive whole and pass through as one chunk.

use std::sync::Arc;

use media::{Pcm, StreamResampler};
use prompts::{PromptCache, SpeechStream, Voice};

use crate::speech::SpeechError;

/// The G.711 rate the media leg packetises.
pub const CALL_RATE: u32 = 8000;

/// Longest rendering kept for the cache (10 minutes at 8 kHz); longer
/// streams still play, they are just not cached.
const MAX_CACHED_SAMPLES: usize = CALL_RATE as usize * 600;

/// One prompt's audio, pulled chunk by chunk with [`PromptStream::next_chunk`].
pub struct PromptStream {
    inner: Inner,
}

enum Inner {
    Whole(Option<Pcm>),
    Streamed(Box<Streamed>),
}

struct Streamed {
    stream: SpeechStream,
    resampler: Option<StreamResampler>,
    /// Where the finished rendering goes: (cache, engine, text, voice);
    /// taken when stored.
    cache: Option<(Arc<PromptCache>, String, String, Voice)>,
    /// Everything emitted so far, for the cache (dropped past the bound).
    whole: Option<Vec<i16>>,
    ended: bool,
}

impl PromptStream {
    /// A prompt that is complete already (cached, a WAV, the built-in voice).
    pub fn whole(pcm: Pcm) -> Self {
        Self { inner: Inner::Whole(Some(pcm)) }
    }

    /// A vendor stream at any rate, stored in the cache as `(cache, engine,
    /// text, voice)` once it has ended cleanly.
    pub fn streamed(stream: SpeechStream, cache: (Arc<PromptCache>, String, String, Voice)) -> Result<Self, SpeechError> {
        let rate = stream.rate();
        let resampler = if rate == CALL_RATE { None } else { Some(StreamResampler::new(rate, CALL_RATE, block(rate))?) };
        let streamed = Streamed { stream, resampler, cache: Some(cache), whole: Some(Vec::new()), ended: false };
        Ok(Self { inner: Inner::Streamed(Box::new(streamed)) })
    }

    /// Whether more than one chunk may come (the media leg must be told
    /// when the prompt ends instead of taking the first chunk as all of it).
    pub fn is_streamed(&self) -> bool {
        matches!(self.inner, Inner::Streamed(_))
    }

    /// The next 8 kHz chunk (never empty), `None` at the end. An error ends
    /// the stream; what was played stays played.
    pub async fn next_chunk(&mut self) -> Option<Result<Pcm, SpeechError>> {
        match &mut self.inner {
            Inner::Whole(pcm) => pcm.take().map(Ok),
            Inner::Streamed(s) => s.next_chunk().await,
        }
    }
}

impl Streamed {
    async fn next_chunk(&mut self) -> Option<Result<Pcm, SpeechError>> {
        while !self.ended {
            let mut out = Vec::new();
            match self.stream.next_chunk().await {
                Some(Ok(chunk)) => match &mut self.resampler {
                    Some(r) => {
                        r.process(&chunk.samples, &mut out);
                    }
                    None => out.extend_from_slice(&chunk.samples),
                },
                Some(Err(e)) => {
                    self.ended = true;
                    self.whole = None; // incomplete: never cache it
                    return Some(Err(e.into()));
                }
                None => {
                    self.ended = true;
                    if let Some(r) = &mut self.resampler {
                        r.flush(&mut out);
                    }
                }
            }
            if let Some(whole) = &mut self.whole {
                whole.extend_from_slice(&out);
                if whole.len() > MAX_CACHED_SAMPLES {
                    self.whole = None;
                }
            }
            if self.ended {
                self.store().await;
            }
            if !out.is_empty() {
                return Some(Ok(Pcm::new(out, CALL_RATE)));
            }
        }
        None
    }

    async fn store(&mut self) {
        if let (Some((cache, engine, text, voice)), Some(whole)) = (self.cache.take(), self.whole.take()) {
            cache.store(&engine, &text, &voice, Pcm::new(whole, CALL_RATE)).await;
        }
    }
}

/// Input block of about 20 ms that the resampler accepts: a multiple of
/// `rate / gcd(rate, 8000)`.
fn block(rate: u32) -> usize {
    let step = (rate / gcd(rate, CALL_RATE)) as usize;
    let target = (rate / 50) as usize;
    step * (target / step).max(1)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
