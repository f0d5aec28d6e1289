//! The OpenAI-compatible adapter against a loopback axum server playing
//! `POST /v1/audio/transcriptions`: what the multipart request carries
//! (WAV header, fields, bearer key), JSON and verbose JSON answers, HTTP
//! errors, timeouts, unreachable servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use media::asr::openai::{OpenAiConfig, OpenAiRecognizer, ResponseFormat};
use media::asr::{ApiKey, AsrError, AsrEvent, Grammar, Recognizer, RecognizerStream, Stage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A hang guard only (a broken stream would otherwise never end the test),
/// generous for a busy box: nothing is timed with it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// How the fake server answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16, &'static str),
    Never,
}

/// One multipart part as received.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Received {
    authorization: Option<String>,
    parts: Vec<Part>,
}

impl Received {
    fn field(&self, name: &str) -> Option<String> {
        self.parts.iter().find(|p| p.name == name).map(|p| String::from_utf8(p.data.clone()).unwrap())
    }
}

struct Server {
    answer: Answer,
    report: mpsc::UnboundedSender<Received>,
}

async fn transcriptions(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let content_type = headers.get("content-type").unwrap().to_str().unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("multipart content type");
    let authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
    let _ = server.report.send(Received { authorization, parts: parse_multipart(&body, boundary) });
    match server.answer {
        Answer::Status(status, body) => (StatusCode::from_u16(status).unwrap(), body.to_owned()),
        Answer::Never => std::future::pending().await,
    }
}

/// A strict-enough RFC 7578 reader for the test.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body.strip_prefix(delimiter.as_bytes()).expect("body starts with the boundary");
    let next_delimiter = format!("\r\n--{boundary}");
    while rest.starts_with(b"\r\n") {
        let section = &rest[2..];
        let end = find(section, next_delimiter.as_bytes()).expect("closing boundary");
        let (head, data) = section[..end].split_at(find(&section[..end], b"\r\n\r\n").expect("part headers"));
        let head = std::str::from_utf8(head).unwrap();
        let disposition = head.lines().find(|l| l.starts_with("Content-Disposition: form-data;")).expect("disposition");
        let param = |key: &str| disposition.split(&format!("{key}=\"")).nth(1).map(|v| v[..v.find('"').unwrap()].to_owned());
        let content_type = head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).map(str::to_owned);
        parts.push(Part { name: param("name").unwrap(), filename: param("filename"), content_type, data: data[4..].to_vec() });
        rest = &section[end + next_delimiter.len()..];
    }
    assert_eq!(rest, b"--\r\n", "closing delimiter");
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve(answer: Answer) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (report, received) = mpsc::unbounded_channel();
    let app = Router::new().route("/v1/audio/transcriptions", post(transcriptions)).with_state(Arc::new(Server { answer, report }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

fn config(addr: SocketAddr) -> OpenAiConfig {
    OpenAiConfig {
        url: format!("http://{addr}/v1/"),
        api_key: Some(ApiKey::new("sk-test")),
        timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(300),
        ..OpenAiConfig::default()
    }
}

fn grammar() -> Grammar {
    let mut grammar = Grammar::from_phrases([("sales", "ventas"), ("support", "soporte técnico")]);
    grammar.yes_no = true;
    grammar
}

/// 0.75 s of a ramp in 20 ms packets.
fn speak(stream: &mut RecognizerStream) -> Vec<i16> {
    let samples: Vec<i16> = (0..12_000).map(|i| (i as i16).wrapping_mul(5)).collect();
    for packet in samples.chunks(320) {
        stream.push(packet).unwrap();
    }
    samples
}

async fn events(stream: &mut RecognizerStream) -> Vec<AsrEvent> {
    let mut out = Vec::new();
    while let Some(event) = tokio::time::timeout(HANG_GUARD, stream.next_event()).await.expect("stream hung") {
        out.push(event);
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[tokio::test]
async fn posts_one_wav_with_fields_after_end_of_speech() {
    let (addr, mut received) = serve(Answer::Status(200, r#"{"text": " Ventas. "}"#)).await;
    let mut config = config(addr);
    config.prompt = Some("Centralita, atención al cliente:".into());
    let mut stream = OpenAiRecognizer::new(config).unwrap().start(&grammar(), "es-AR").unwrap();
    let samples = speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Final { text, confidence }] if text == "Ventas." && *confidence == 1.0), "{events:?}");

    let request = received.recv().await.unwrap();
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(request.field("model").as_deref(), Some("whisper-1"));
    assert_eq!(request.field("response_format").as_deref(), Some("json"));
    assert_eq!(request.field("language").as_deref(), Some("es"), "ISO 639-1 from es-AR");
    assert_eq!(request.field("prompt").as_deref(), Some("Centralita, atención al cliente: ventas, soporte técnico, sí, si, no."));
    assert_eq!(request.field("temperature"), None);

    let file = request.parts.iter().find(|p| p.name == "file").expect("file part");
    assert_eq!(file.filename.as_deref(), Some("utterance.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    let wav = &file.data;
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(u16_at(wav, 20), 1, "PCM");
    assert_eq!(u16_at(wav, 22), 1, "mono");
    assert_eq!(u32_at(wav, 24), 16_000, "16 kHz");
    assert_eq!(u32_at(wav, 28), 32_000, "byte rate");
    assert_eq!(u16_at(wav, 34), 16, "16-bit");
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(u32_at(wav, 40) as usize, samples.len() * 2);
    assert_eq!(u32_at(wav, 4) as usize, wav.len() - 8);
    let decoded: Vec<i16> = wav[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert_eq!(decoded, samples, "the whole utterance, in order, in one request");
    assert!(received.try_recv().is_err(), "exactly one request");
}

#[tokio::test]
async fn verbose_json_gives_a_confidence_from_avg_logprob() {
    let body = r#"{"task":"transcribe","language":"english","duration":0.75,"text":"talk to an agent",
        "segments":[{"id":0,"text":"talk to","avg_logprob":-0.1,"no_speech_prob":0.01},{"id":1,"text":"an agent","avg_logprob":-0.3}]}"#;
    let (addr, mut received) = serve(Answer::Status(200, body)).await;
    let mut config = config(addr);
    config.response_format = ResponseFormat::VerboseJson;
    config.hints = false;
    config.language = Some("en".into());
    config.temperature = Some(0.0);
    let mut stream = OpenAiRecognizer::new(config).unwrap().start(&grammar(), "es-AR").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    match events.as_slice() {
        [AsrEvent::Final { text, confidence }] => {
            assert_eq!(text, "talk to an agent");
            assert!((confidence - (-0.2f32).exp()).abs() < 1e-5, "exp(mean avg_logprob), got {confidence}");
        }
        other => panic!("{other:?}"),
    }
    let request = received.recv().await.unwrap();
    assert_eq!(request.field("response_format").as_deref(), Some("verbose_json"));
    assert_eq!(request.field("language").as_deref(), Some("en"), "the config overrides the flow's language");
    assert_eq!(request.field("prompt"), None, "hints off and no prompt: no prompt field");
    assert_eq!(request.field("temperature").as_deref(), Some("0"));
}

#[tokio::test]
async fn http_500_is_an_error_event() {
    let (addr, _received) = serve(Answer::Status(500, "upstream overloaded")).await;
    let mut stream = OpenAiRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Http { status: 500, detail })] if detail == "upstream overloaded"),
        "{events:?}"
    );
}

#[tokio::test]
async fn http_401_carries_the_vendor_message() {
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-test.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let (addr, _received) = serve(Answer::Status(401, body)).await;
    let mut stream = OpenAiRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Http { status: 401, detail })] if detail == "Incorrect API key provided: sk-test."),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let (addr, mut received) = serve(Answer::Never).await;
    let mut stream = OpenAiRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let asked = Instant::now();
    let events = events(&mut stream).await;
    let waited = asked.elapsed();
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Timeout { stage: Stage::Result, after })] if *after == Duration::from_millis(300)),
        "{events:?}"
    );
    // Timers never fire early; how late they fire depends on the box, so no upper bound.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(received.recv().await.is_some(), "the request did arrive");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap(); // closed again at once
    let mut stream = OpenAiRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Error(AsrError::Connect { .. })]), "{events:?}");
}

#[tokio::test]
async fn an_empty_utterance_is_an_empty_final_without_a_request() {
    let (addr, mut received) = serve(Answer::Status(200, r#"{"text":"never asked"}"#)).await;
    let mut stream = OpenAiRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Final { text, confidence }] if text.is_empty() && *confidence == 0.0), "{events:?}");
    assert!(received.try_recv().is_err());
}

#[test]
fn config_table_and_endpoint() {
    let config: OpenAiConfig = serde_json::from_str(
        r#"{"url": "http://whisper.local:8000/v1", "api_key": "sk-x", "model": "Systran/faster-whisper-small",
            "response_format": "verbose_json", "timeout": "8s", "connect_timeout": 700, "max_utterance": "20s"}"#,
    )
    .unwrap();
    assert_eq!(config.response_format, ResponseFormat::VerboseJson);
    assert_eq!(config.timeout, Duration::from_secs(8));
    assert_eq!(config.connect_timeout, Duration::from_millis(700));
    assert!(!format!("{config:?}").contains("sk-x"));
    let recognizer = OpenAiRecognizer::new(config).unwrap();
    assert_eq!(recognizer.endpoint().as_str(), "http://whisper.local:8000/v1/audio/transcriptions");
    assert!(matches!(
        OpenAiRecognizer::new(OpenAiConfig { url: "ftp://x".into(), ..OpenAiConfig::default() }),
        Err(AsrError::Config { .. })
    ));
}
