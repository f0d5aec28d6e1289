//! `ElevenLabsSynthesizer` against a local server speaking ElevenLabs'
//! `POST /v1/text-to-speech/{voice_id}[/stream]?output_format=pcm_<rate>`:
//! path, query, `xi-api-key`, JSON body, PCM answers, typed errors and the
//! streaming variant.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use media::asr::ApiKey;
use prompts::{ElevenLabsConfig, ElevenLabsSynthesizer, StreamingSynthesizer, Synthesizer, TtsError, Voice, VoiceSettings};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// (path, raw query, headers, body) of every request.
type Captured = Arc<Mutex<Vec<(String, Option<String>, HeaderMap, Value)>>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn config(base_url: String) -> ElevenLabsConfig {
    ElevenLabsConfig {
        base_url,
        api_key: Some(ApiKey::new("xi-test")),
        voice_id: "21m00Tcm4TlvDq8ikWAM".into(),
        timeout_ms: 2000,
        ..Default::default()
    }
}

fn tone(n: usize) -> Vec<i16> {
    common::to_i16(&common::sine(300.0, 16_000, n as f64 / 16_000.0, 0.5, 0.0))
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Records requests; a whole clip at `/{voice}`, the channel's chunks at `/{voice}/stream`.
fn router(captured: Captured, clip: Vec<u8>, chunks: Option<mpsc::Receiver<Vec<u8>>>) -> Router {
    let chunks = Arc::new(Mutex::new(chunks));
    let whole = move |State(c): State<Captured>, Path(voice): Path<String>, RawQuery(q): RawQuery, h: HeaderMap, Json(b): Json<Value>| {
        let clip = clip.clone();
        async move {
            c.lock().unwrap().push((voice, q, h, b));
            clip
        }
    };
    let stream = move |State(c): State<Captured>, Path(voice): Path<String>, RawQuery(q): RawQuery, h: HeaderMap, Json(b): Json<Value>| {
        let rx = chunks.lock().unwrap().take().expect("one stream request");
        async move {
            c.lock().unwrap().push((format!("{voice}/stream"), q, h, b));
            Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|c| (Ok::<_, std::io::Error>(c), rx))
            }))
        }
    };
    Router::new()
        .route("/v1/text-to-speech/{voice}", post(whole))
        .route("/v1/text-to-speech/{voice}/stream", post(stream))
        .with_state(captured)
}

#[tokio::test]
async fn request_carries_the_elevenlabs_wire_format_and_pcm_decodes() {
    let samples = tone(1600);
    let captured = Captured::default();
    let url = serve(router(captured.clone(), le_bytes(&samples), None)).await;
    let settings = VoiceSettings { stability: Some(0.5), similarity_boost: Some(0.75), ..Default::default() };
    let synth =
        ElevenLabsSynthesizer::new(ElevenLabsConfig { voice_settings: settings, send_language_code: true, ..config(url.clone()) }).unwrap();
    assert_eq!(synth.url("abc", true).as_str(), format!("{url}/v1/text-to-speech/abc/stream?output_format=pcm_16000"));

    let pcm = synth.synthesize("Buenos días", &Voice::new("es-AR")).await.unwrap();
    assert_eq!((pcm.rate, &pcm.samples[..]), (16_000, &samples[..]));
    synth.synthesize("Hi", &Voice::new("en-US").with_name("otherVoice_1").with_rate_wpm(140)).await.unwrap();

    let captured = captured.lock().unwrap();
    let (voice, query, headers, body) = &captured[0];
    assert_eq!(voice, "21m00Tcm4TlvDq8ikWAM");
    assert_eq!(query.as_deref(), Some("output_format=pcm_16000"));
    assert_eq!(headers["xi-api-key"], "xi-test");
    assert!(headers.get("authorization").is_none());
    assert_eq!(headers["content-type"], "application/json");
    let expected = json!({"text": "Buenos días", "model_id": "eleven_multilingual_v2", "voice_settings": {"stability": 0.5, "similarity_boost": 0.75}, "language_code": "es"});
    assert_eq!(body, &expected);
    assert_eq!(captured[1].0, "otherVoice_1");
    assert_eq!(captured[1].3["voice_settings"]["speed"], 0.8);
}

#[tokio::test]
async fn defaults_omit_optional_fields_and_rate_follows_config() {
    let samples = tone(800);
    let captured = Captured::default();
    let url = serve(router(captured.clone(), le_bytes(&samples), None)).await;
    let synth = ElevenLabsSynthesizer::new(ElevenLabsConfig { sample_rate: 8000, ..config(url) }).unwrap();
    let pcm = synth.synthesize("Hello", &Voice::default()).await.unwrap();
    assert_eq!(pcm.rate, 8000);
    let captured = captured.lock().unwrap();
    assert_eq!(captured[0].1.as_deref(), Some("output_format=pcm_8000"));
    assert_eq!(captured[0].3, json!({"text": "Hello", "model_id": "eleven_multilingual_v2"}));
    assert!(synth.name().contains("eleven_multilingual_v2") && synth.name().contains("21m00Tcm4TlvDq8ikWAM"));
}

#[tokio::test]
async fn errors_are_typed_and_bad_voices_never_reach_the_network() {
    let router = Router::new()
        .route(
            "/a/v1/text-to-speech/{voice}",
            post(|| async {
                (StatusCode::UNAUTHORIZED, Json(json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})))
            }),
        )
        .route("/b/v1/text-to-speech/{voice}", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"detail": "internal"}))) }))
        .route(
            "/c/v1/text-to-speech/{voice}/stream",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let url = serve(router).await;
    let synth = |path: &str| ElevenLabsSynthesizer::new(ElevenLabsConfig { timeout_ms: 200, ..config(format!("{url}{path}")) }).unwrap();
    let voice = Voice::default();
    let err = synth("/a").synthesize("Hi", &voice).await.unwrap_err();
    assert!(matches!(&err, TtsError::Http { status: 401, detail, .. } if detail == "Invalid API key"), "{err}");
    let err = synth("/b").synthesize("Hi", &voice).await.unwrap_err();
    assert!(matches!(&err, TtsError::Http { status: 500, detail, .. } if detail == "internal"), "{err}");
    let err = synth("/c").synthesize_stream("Hi", &voice).await.unwrap_err();
    assert!(matches!(err, TtsError::Timeout { after, .. } if after == Duration::from_millis(200)), "{err}");

    let err = synth("/a").synthesize("Hi", &Voice::default().with_name("../../admin")).await.unwrap_err();
    assert!(matches!(err, TtsError::Config { field: "voice_id", .. }), "{err}");
    for bad in [
        ElevenLabsConfig { sample_rate: 11025, ..config(url.clone()) },
        ElevenLabsConfig { voice_id: String::new(), ..config(url.clone()) },
    ] {
        assert!(matches!(ElevenLabsSynthesizer::new(bad), Err(TtsError::Config { .. })));
    }
}

#[tokio::test]
async fn stream_endpoint_delivers_audio_as_it_arrives() {
    let samples = tone(3201);
    let bytes = le_bytes(&samples);
    let (tx, rx) = mpsc::channel(4);
    let captured = Captured::default();
    let url = serve(router(captured.clone(), Vec::new(), Some(rx))).await;
    let synth = ElevenLabsSynthesizer::new(config(url)).unwrap();
    let mut stream = synth.synthesize_stream("Una respuesta larga", &Voice::new("es-ES")).await.unwrap();
    assert_eq!(stream.rate(), 16_000);
    // The body cannot end before this chunk is read (the sender is dropped
    // below), so only a streaming reader gets it; the timeout is a hang guard.
    tx.send(bytes[..641].to_vec()).await.unwrap();
    let first =
        tokio::time::timeout(Duration::from_secs(60), stream.next_chunk()).await.expect("first chunk before the end").unwrap().unwrap();
    assert_eq!(&first.samples[..], &samples[..320]);
    {
        let captured = captured.lock().unwrap();
        assert_eq!(captured[0].0, "21m00Tcm4TlvDq8ikWAM/stream");
        assert_eq!(captured[0].1.as_deref(), Some("output_format=pcm_16000"));
        assert_eq!(captured[0].2["xi-api-key"], "xi-test");
    }
    tx.send(bytes[641..].to_vec()).await.unwrap();
    drop(tx);
    let rest = stream.collect().await.unwrap();
    assert_eq!(&rest.samples[..], &samples[320..]);
}
