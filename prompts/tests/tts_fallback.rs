//! `FallbackSynthesizer`: a cloud primary (a local OpenAI-compatible server
//! that can be switched off) backed by the built-in espeak-ng voice. Proves
//! which audio a call hears in each outage case, the fallback counter, and
//! that every rendering is cached under its own engine's name.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use common::CountingSynth;
use prompts::{
    CacheKey, FallbackSynthesizer, OpenAiConfig, OpenAiSynthesizer, Pcm, PromptCache, RenderSource, ResponseFormat, SynthFuture,
    Synthesizer, TtsError, Voice, WholeClip,
};

/// A PCM speech server that can be taken down; counts the requests it served.
#[derive(Default)]
struct Vendor {
    up: AtomicBool,
    served: AtomicUsize,
}

async fn vendor() -> (Arc<Vendor>, Arc<OpenAiSynthesizer>) {
    let vendor = Arc::new(Vendor { up: AtomicBool::new(true), served: AtomicUsize::new(0) });
    let handler = |State(v): State<Arc<Vendor>>| async move {
        if !v.up.load(Ordering::SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        v.served.fetch_add(1, Ordering::SeqCst);
        let tone = common::to_i16(&common::sine(1000.0, 24_000, 0.3, 0.5, 0.0));
        tone.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>().into_response()
    };
    let router = Router::new().route("/v1/audio/speech", post(handler)).with_state(vendor.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let config =
        OpenAiConfig { base_url: format!("http://{addr}"), response_format: ResponseFormat::Pcm, timeout_ms: 2000, ..Default::default() };
    (vendor, Arc::new(OpenAiSynthesizer::new(config).unwrap()))
}

/// A primary that always fails.
struct Down;

impl Synthesizer for Down {
    fn name(&self) -> &str {
        "down"
    }

    fn synthesize<'a>(&'a self, _text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(async { Err(TtsError::BadAudio { engine: "down".into(), reason: "scripted outage".into() }) })
    }
}

/// A primary that never answers.
struct Hanging;

impl Synthesizer for Hanging {
    fn name(&self) -> &str {
        "hanging"
    }

    fn synthesize<'a>(&'a self, _text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn primary_down_uses_builtin_voice_cached_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PromptCache::new(dir.path());
    let (vendor, primary) = vendor().await;
    vendor.up.store(false, Ordering::SeqCst);
    let tts = FallbackSynthesizer::new(primary.clone());
    let voice = Voice::new("es-AR");

    let out = tts.render(&cache, "Bienvenido a Centralita", &voice, 8000).await.unwrap();
    assert_eq!(out.source, RenderSource::Fallback);
    assert_eq!(out.pcm.rate, 8000);
    assert!(out.pcm.duration_ms() > 500, "espeak-ng spoke: {} ms", out.pcm.duration_ms());
    assert_eq!(tts.fallback_count(), 1);

    let espeak_file = cache.file_path(&CacheKey::new("espeak-ng", "Bienvenido a Centralita", &voice, 8000)).unwrap();
    let primary_file = cache.file_path(&CacheKey::new(primary.name(), "Bienvenido a Centralita", &voice, 8000)).unwrap();
    assert!(espeak_file.exists(), "fallback audio is cached under espeak-ng's name");
    assert!(!primary_file.exists(), "and never under the primary's");

    // The vendor recovers: the next render asks it instead of replaying espeak.
    vendor.up.store(true, Ordering::SeqCst);
    let out = tts.render(&cache, "Bienvenido a Centralita", &voice, 8000).await.unwrap();
    assert_eq!(out.source, RenderSource::Primary);
    assert_eq!(vendor.served.load(Ordering::SeqCst), 1);
    assert!(primary_file.exists());
    assert_eq!(tts.fallback_count(), 1);
}

#[tokio::test]
async fn primary_down_but_rendered_before_plays_the_cached_primary_audio() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PromptCache::new(dir.path());
    let (vendor, primary) = vendor().await;
    let tts = FallbackSynthesizer::new(primary);
    let voice = Voice::new("en-US");
    let first = tts.render(&cache, "Please hold", &voice, 8000).await.unwrap();
    assert_eq!((first.source, vendor.served.load(Ordering::SeqCst)), (RenderSource::Primary, 1));

    vendor.up.store(false, Ordering::SeqCst);
    cache.clear_memory(); // as after a restart: only the disk tier remains
    let again = tts.render(&cache, "Please hold", &voice, 8000).await.unwrap();
    assert_eq!(again, first);
    let (mut stream, source) = tts.render_stream(&cache, "Please hold", &voice, 8000).await.unwrap();
    assert_eq!(source, RenderSource::Primary);
    assert_eq!(stream.next_chunk().await.unwrap().unwrap(), first.pcm);
    assert_eq!(vendor.served.load(Ordering::SeqCst), 1);
    assert_eq!(tts.fallback_count(), 0);
}

#[tokio::test]
async fn repeated_outage_renders_reuse_the_cached_fallback_and_count_each_time() {
    let cache = PromptCache::in_memory();
    let builtin = Arc::new(CountingSynth::new(Pcm::new(vec![100i16; 800], 8000)));
    let tts = FallbackSynthesizer::new(Arc::new(WholeClip(Down))).with_fallback(builtin.clone());
    for _ in 0..3 {
        let out = tts.render(&cache, "Goodbye", &Voice::default(), 8000).await.unwrap();
        assert_eq!((out.source, out.pcm.samples.len()), (RenderSource::Fallback, 800));
    }
    assert_eq!(builtin.calls(), 1, "the fallback rendering came from the cache after the first outage");
    assert_eq!(tts.fallback_count(), 3);
    assert!(matches!(tts.render(&cache, " ", &Voice::default(), 8000).await, Err(TtsError::EmptyText)));
    assert_eq!(tts.fallback_count(), 3, "bad input is not an outage");
}

#[tokio::test]
async fn hanging_primary_times_out_into_the_builtin_voice() {
    let cache = PromptCache::in_memory();
    let tts = FallbackSynthesizer::new(Arc::new(WholeClip(Hanging))).with_timeout(Duration::from_millis(100));
    // The primary never answers: only the 100 ms timeout ends the render (the
    // 60 s bound is a hang guard; espeak-ng's run time is the box's business).
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), tts.render(&cache, "Hello", &Voice::new("en-US"), 8000))
        .await
        .expect("the timeout handed the render to the built-in voice")
        .unwrap();
    assert_eq!(out.source, RenderSource::Fallback);
    assert!(!out.pcm.samples.is_empty(), "the built-in voice spoke");
    assert!(started.elapsed() >= Duration::from_millis(100), "gave up on the primary before its timeout");
    assert_eq!(tts.fallback_count(), 1);
    let (stream, source) = tts.render_stream(&cache, "Hello again", &Voice::new("en-US"), 8000).await.unwrap();
    assert_eq!((source, stream.rate()), (RenderSource::Fallback, 8000));
    assert_eq!(tts.fallback_count(), 2);
}

#[tokio::test]
async fn streams_come_from_the_primary_when_up_and_the_builtin_when_down() {
    let cache = PromptCache::in_memory();
    let (vendor, primary) = vendor().await;
    let tts = FallbackSynthesizer::new(primary);
    let (stream, source) = tts.render_stream(&cache, "Your balance is ten pesos", &Voice::new("es-AR"), 8000).await.unwrap();
    assert_eq!((source, stream.rate()), (RenderSource::Primary, 24_000));
    assert_eq!(stream.collect().await.unwrap().samples.len(), 7200);

    vendor.up.store(false, Ordering::SeqCst);
    let (stream, source) = tts.render_stream(&cache, "Su saldo es diez pesos", &Voice::new("es-AR"), 8000).await.unwrap();
    assert_eq!((source, stream.rate()), (RenderSource::Fallback, 8000));
    assert!(stream.collect().await.unwrap().duration_ms() > 500);
    assert_eq!(tts.fallback_count(), 1);
}

#[tokio::test]
async fn both_engines_failing_reports_both_errors() {
    let cache = PromptCache::in_memory();
    let (vendor, primary) = vendor().await;
    vendor.up.store(false, Ordering::SeqCst);
    let tts = FallbackSynthesizer::new(primary).with_fallback(Arc::new(prompts::EspeakSynthesizer::with_program("/nonexistent/espeak-ng")));
    let err = tts.render(&cache, "Hello", &Voice::default(), 8000).await.unwrap_err();
    match err {
        TtsError::Fallback { primary, fallback } => {
            assert!(matches!(*primary, TtsError::Http { status: 503, .. }), "{primary}");
            assert!(matches!(*fallback, TtsError::ProgramNotFound { .. }), "{fallback}");
        }
        other => panic!("expected both errors, got {other}"),
    }
    assert_eq!(tts.fallback_count(), 1);
}
