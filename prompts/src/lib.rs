//! Prompts for Centralita (DESIGN.md §2): what a call hears.
//!
//! - [`PromptLibrary`]: recorded WAV prompts per language, converted to the
//!   call's codec rate once and served from memory.
//! - [`Synthesizer`]: the TTS trait; [`EspeakSynthesizer`] is the built-in
//!   offline engine (the `espeak-ng` program).
//! - [`PromptCache`]: synthesized speech at the call's rate, in memory and
//!   on disk, keyed by a stable hash of (text, voice, engine, rate).
//! - [`convert`]: WAV decoding/encoding and whole-clip resampling (rubato).
//!
//! Everything hands out [`media::Pcm`] (mono `i16`, samples behind an
//! `Arc`); `media` packetizes it. This crate knows nothing of SIP or RTP.
//! Library and cache are meant to be shared by all call tasks behind an
//! `Arc`; neither holds a lock across an await.

mod cache;
pub mod convert;
mod error;
mod espeak;
mod library;
mod once_map;
mod synth;

pub use cache::{CacheKey, PromptCache};
pub use error::{ConvertError, PromptError, TtsError};
pub use espeak::{espeak_voice, EspeakSynthesizer};
pub use library::{PromptId, PromptLibrary};
pub use media::Pcm;
pub use synth::{SynthFuture, Synthesizer, Voice};
