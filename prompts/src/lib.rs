//! Prompts for Centralita (DESIGN.md §2): what a call hears.
//!
//! - [`PromptLibrary`]: recorded WAV prompts per language, converted to the
//!   call's codec rate once and served from memory.
//! - [`Synthesizer`]: the TTS trait; [`EspeakSynthesizer`] is the built-in
//!   offline engine (the `espeak-ng` program).
//! - [`PromptCache`]: synthesized speech at the call's rate, in memory and
//!   on disk, keyed by a stable hash of (text, voice, engine, rate).
//! - [`convert`]: WAV decoding/encoding and whole-clip resampling (rubato).
//! - Cloud TTS: [`OpenAiSynthesizer`] (OpenAI-compatible `/v1/audio/speech`)
//!   and [`ElevenLabsSynthesizer`]; both also implement
//!   [`StreamingSynthesizer`] (audio chunks while synthesis runs).
//! - [`FallbackSynthesizer`]: primary engine, built-in voice on failure,
//!   fallback counter; [`prerender`]: start-up rendering of static prompts.
//!
//! Everything hands out [`media::Pcm`] (mono `i16`, samples behind an
//! `Arc`); `media` packetizes it. This crate knows nothing of SIP or RTP.
//! Library and cache are meant to be shared by all call tasks behind an
//! `Arc`; neither holds a lock across an await.

mod cache;
pub mod convert;
mod elevenlabs;
mod error;
mod espeak;
mod fallback;
mod hold_music;
mod library;
mod once_map;
mod openai;
mod prerender;
mod synth;

pub use cache::{CacheKey, PromptCache};
pub use elevenlabs::{ElevenLabsConfig, ElevenLabsSynthesizer, VoiceSettings, PCM_RATES as ELEVENLABS_PCM_RATES};
pub use error::{ConvertError, PromptError, TtsError};
pub use espeak::{espeak_voice, EspeakSynthesizer};
pub use fallback::{FallbackSynthesizer, RenderSource, Rendered};
pub use hold_music::hold_music;
pub use library::{PromptId, PromptLibrary};
pub use media::Pcm;
pub use openai::{OpenAiConfig, OpenAiSynthesizer, ResponseFormat, SpeechStream, StreamFuture, StreamingSynthesizer, WholeClip};
pub use prerender::{prerender, prerender_with, PrerenderFailure, PrerenderReport, DEFAULT_CONCURRENCY as PRERENDER_CONCURRENCY};
pub use synth::{SynthFuture, Synthesizer, Voice};
