//! `OpenAiSynthesizer` against a local server speaking OpenAI's
//! `POST /v1/audio/speech` wire format: request shape, WAV and PCM answers,
//! typed errors, and streaming (first audio before the body ends).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use media::asr::ApiKey;
use prompts::{OpenAiConfig, OpenAiSynthesizer, ResponseFormat, StreamingSynthesizer, Synthesizer, TtsError, Voice};
use serde_json::{json, Value};
use tokio::sync::mpsc;

type Captured = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig { base_url, api_key: Some(ApiKey::new("sk-test")), timeout_ms: 2000, ..OpenAiConfig::default() }
}

fn tone(n: usize) -> Vec<i16> {
    common::to_i16(&common::sine(440.0, 24_000, n as f64 / 24_000.0, 0.5, 0.0))
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Records every request and answers with `body`.
fn recording_router(captured: Captured, body: Vec<u8>) -> Router {
    let handler = move |State(c): State<Captured>, headers: HeaderMap, Json(json): Json<Value>| {
        let body = body.clone();
        async move {
            c.lock().unwrap().push((headers, json));
            body
        }
    };
    Router::new().route("/v1/audio/speech", post(handler)).with_state(captured)
}

#[tokio::test]
async fn wav_answer_request_carries_the_openai_wire_format() {
    let samples = tone(2400);
    let mut wav = common::wav_bytes(&samples, 24_000, 1);
    // As streamed by a server that could not seek back: placeholder sizes.
    wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let captured = Captured::default();
    let url = serve(recording_router(captured.clone(), wav)).await;
    let synth = OpenAiSynthesizer::new(config(format!("{url}/v1/"))).unwrap();
    assert_eq!(synth.endpoint().as_str(), format!("{url}/v1/audio/speech"));

    let pcm = synth.synthesize("Hola, ¿cómo estás?", &Voice::new("es-AR")).await.unwrap();
    assert_eq!((pcm.rate, &pcm.samples[..]), (24_000, &samples[..]));
    let pcm = synth.synthesize("Hi", &Voice::new("en-US").with_name("nova").with_rate_wpm(350)).await.unwrap();
    assert_eq!(pcm.samples.len(), 2400);

    let captured = captured.lock().unwrap();
    let (headers, body) = &captured[0];
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, &json!({"model": "tts-1", "input": "Hola, ¿cómo estás?", "voice": "alloy", "response_format": "wav", "speed": 1.0}));
    assert_eq!(captured[1].1["voice"], "nova");
    assert_eq!(captured[1].1["speed"], 2.0);
}

#[tokio::test]
async fn pcm_answer_is_24khz_s16le_and_name_carries_model_and_voice() {
    let samples = tone(1000);
    let captured = Captured::default();
    let url = serve(recording_router(captured.clone(), le_bytes(&samples))).await;
    let cfg = OpenAiConfig { response_format: ResponseFormat::Pcm, model: "tts-1-hd".into(), voice: "shimmer".into(), ..config(url) };
    let synth = OpenAiSynthesizer::new(cfg).unwrap();
    let pcm = synth.synthesize("Hello", &Voice::default()).await.unwrap();
    assert_eq!((pcm.rate, &pcm.samples[..]), (24_000, &samples[..]));
    assert_eq!(captured.lock().unwrap()[0].1["response_format"], "pcm");
    assert!(synth.name().contains("tts-1-hd") && synth.name().contains("shimmer"), "{}", synth.name());
    let other = OpenAiSynthesizer::new(OpenAiConfig { voice: "onyx".into(), ..config("http://x".into()) }).unwrap();
    assert_ne!(other.name(), synth.name());
}

#[tokio::test]
async fn http_errors_timeouts_and_refusals_are_typed() {
    let router = Router::new()
        .route(
            "/a/v1/audio/speech",
            post(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})),
                )
            }),
        )
        .route("/b/v1/audio/speech", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded") }))
        .route(
            "/c/v1/audio/speech",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let url = serve(router).await;
    let synth = |path: &str| OpenAiSynthesizer::new(OpenAiConfig { timeout_ms: 200, ..config(format!("{url}{path}")) }).unwrap();
    let voice = Voice::default();

    let err = synth("/a").synthesize("Hi", &voice).await.unwrap_err();
    assert!(matches!(&err, TtsError::Http { status: 401, detail, .. } if detail == "Incorrect API key provided"), "{err}");
    let err = synth("/b").synthesize("Hi", &voice).await.unwrap_err();
    assert!(matches!(&err, TtsError::Http { status: 500, detail, .. } if detail == "upstream exploded"), "{err}");
    // The server answers after 5 s: only our 200 ms timeout makes this an error.
    let started = std::time::Instant::now();
    let err = synth("/c").synthesize("Hi", &voice).await.unwrap_err();
    assert!(matches!(err, TtsError::Timeout { after, .. } if after == Duration::from_millis(200)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200), "gave up before the timeout");
    let err = synth("/c").synthesize_stream("Hi", &voice).await.unwrap_err();
    assert!(matches!(err, TtsError::Timeout { .. }), "{err}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let refused = OpenAiSynthesizer::new(config(format!("http://{closed}"))).unwrap();
    assert!(matches!(refused.synthesize("Hi", &voice).await, Err(TtsError::Connect { .. })));
    assert!(matches!(synth("/a").synthesize("  ", &voice).await, Err(TtsError::EmptyText)));
    let bad = OpenAiSynthesizer::new(OpenAiConfig { base_url: "ftp://x".into(), ..OpenAiConfig::default() });
    assert!(matches!(bad, Err(TtsError::Config { field: "base_url", .. })));
}

/// The handler streams whatever the test sends on the channel.
fn streaming_router(captured: Captured, chunks: mpsc::Receiver<Vec<u8>>) -> Router {
    let chunks = Arc::new(Mutex::new(Some(chunks)));
    let handler = move |State(c): State<Captured>, headers: HeaderMap, Json(json): Json<Value>| {
        let rx = chunks.lock().unwrap().take().expect("one request");
        async move {
            c.lock().unwrap().push((headers, json));
            let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (Ok::<_, std::io::Error>(c), rx)) });
            Response::builder().header("content-type", "audio/pcm").body(Body::from_stream(body)).unwrap().into_response()
        }
    };
    Router::new().route("/v1/audio/speech", post(handler)).with_state(captured)
}

#[tokio::test]
async fn stream_delivers_the_first_chunk_before_the_body_ends() {
    let samples = tone(4801);
    let bytes = le_bytes(&samples);
    let (tx, rx) = mpsc::channel(4);
    let captured = Captured::default();
    let url = serve(streaming_router(captured.clone(), rx)).await;
    let synth = OpenAiSynthesizer::new(config(url)).unwrap(); // configured wav; streams ask for pcm
    let mut stream = synth.synthesize_stream("A long answer", &Voice::default()).await.unwrap();
    assert_eq!(stream.rate(), 24_000);

    // The body cannot end before this chunk is read (the sender is dropped
    // below), so only a streaming reader gets it; the timeout is a hang guard.
    tx.send(bytes[..1001].to_vec()).await.unwrap(); // odd: half a sample is carried over
    let first =
        tokio::time::timeout(Duration::from_secs(60), stream.next_chunk()).await.expect("first chunk before the end").unwrap().unwrap();
    assert_eq!(&first.samples[..], &samples[..500]);
    assert_eq!(captured.lock().unwrap()[0].1["response_format"], "pcm");

    tx.send(bytes[1001..5001].to_vec()).await.unwrap();
    tx.send(bytes[5001..].to_vec()).await.unwrap();
    drop(tx); // end of body
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = chunk.unwrap();
        assert!(!chunk.samples.is_empty());
        rest.extend_from_slice(&chunk.samples);
    }
    assert_eq!(&rest[..], &samples[500..]);
    assert!(stream.next_chunk().await.is_none());
}

#[tokio::test]
async fn stream_stalling_mid_body_times_out_and_collect_joins_chunks() {
    let samples = tone(3000);
    let (tx, rx) = mpsc::channel(4);
    let url = serve(streaming_router(Captured::default(), rx)).await;
    let synth = OpenAiSynthesizer::new(OpenAiConfig { timeout_ms: 300, ..config(url) }).unwrap();
    let mut stream = synth.synthesize_stream("Hi", &Voice::default()).await.unwrap();
    tx.send(le_bytes(&samples[..100])).await.unwrap();
    assert_eq!(stream.next_chunk().await.unwrap().unwrap().samples.len(), 100);
    // The server keeps the connection open and sends nothing more.
    let err = tokio::time::timeout(Duration::from_secs(3), stream.next_chunk()).await.expect("idle timeout").unwrap().unwrap_err();
    assert!(matches!(err, TtsError::Timeout { after, .. } if after == Duration::from_millis(300)), "{err}");
    assert!(stream.next_chunk().await.is_none());
    drop(tx);

    let (tx, rx) = mpsc::channel(4);
    let url = serve(streaming_router(Captured::default(), rx)).await;
    let synth = OpenAiSynthesizer::new(config(url)).unwrap();
    let stream = synth.synthesize_stream("Hi", &Voice::default()).await.unwrap();
    for part in le_bytes(&samples).chunks(777) {
        tx.send(part.to_vec()).await.unwrap();
    }
    drop(tx);
    let pcm = stream.collect().await.unwrap();
    assert_eq!((pcm.rate, &pcm.samples[..]), (24_000, &samples[..]));
}
