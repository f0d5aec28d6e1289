//! `EspeakSynthesizer` against the real `espeak-ng` program (installed by
//! scripts/install-deps.sh): speech-level audio in English and Spanish,
//! resampled to 8 kHz through the cache, and clear errors.

mod common;

use common::*;
use prompts::{EspeakSynthesizer, PromptCache, Synthesizer, TtsError, Voice};

async fn assert_speech(text: &str, language: &str) {
    let synth = EspeakSynthesizer::new();
    let voice = Voice::new(language);
    let native = synth.synthesize(text, &voice).await.unwrap();
    assert_eq!(native.rate, EspeakSynthesizer::NATIVE_RATE);
    let ms = native.duration_ms();
    assert!((500..=5000).contains(&ms), "{language}: duration {ms} ms");
    let level = rms(&native.samples);
    assert!(level > 1000.0, "{language}: rms {level} is not speech level");

    let cache = PromptCache::in_memory();
    let pcm = cache.get_or_synthesize(&synth, text, &voice, 8000).await.unwrap();
    assert_eq!(pcm.rate, 8000);
    let expected = native.samples.len() as f64 * 8000.0 / 22050.0;
    assert!((pcm.samples.len() as f64 - expected).abs() <= 1.0);
    assert!(rms(&pcm.samples) > 1000.0);
}

#[tokio::test]
async fn english_welcome() {
    assert_speech("Welcome to Acme", "en-US").await;
}

#[tokio::test]
async fn latin_american_spanish() {
    assert_speech("Bienvenido a Acme. ¿En qué podemos ayudarle?", "es-AR").await;
}

#[tokio::test]
async fn text_that_looks_like_options_is_spoken() {
    let pcm = EspeakSynthesizer::new().synthesize("--help -v xx -w /tmp/evil.wav", &Voice::default()).await.unwrap();
    assert!(pcm.duration_ms() > 500, "spoken, not parsed as options");
}

#[tokio::test]
async fn missing_program_is_a_clear_error() {
    let synth = EspeakSynthesizer::with_program("/nonexistent/espeak-ng");
    let err = synth.synthesize("Hello", &Voice::default()).await.unwrap_err();
    assert!(matches!(err, TtsError::ProgramNotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/espeak-ng"));
}

#[tokio::test]
async fn unknown_voice_and_empty_text_are_errors() {
    let synth = EspeakSynthesizer::new();
    let err = synth.synthesize("Hello", &Voice::new("xx-YY")).await.unwrap_err();
    assert!(matches!(&err, TtsError::ProgramFailed { stderr, .. } if !stderr.is_empty()), "{err}");
    assert!(matches!(synth.synthesize(" \n", &Voice::default()).await, Err(TtsError::EmptyText)));
}
