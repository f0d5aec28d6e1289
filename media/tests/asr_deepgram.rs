//! The Deepgram adapter against a loopback server speaking Deepgram's live
//! streaming API (`/v1/listen` query, `Authorization: Token`, binary
//! PCM16LE, `Results` interim/final, `KeepAlive`, `CloseStream`, Metadata,
//! close codes).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use media::asr::deepgram::{DeepgramConfig, DeepgramRecognizer};
use media::asr::{ApiKey, AsrError, AsrEvent, Grammar, Recognizer, RecognizerStream, Stage};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{accept_hdr_async, WebSocketStream};

/// A hang guard only (a broken stream would otherwise never end the test),
/// generous for a busy box: nothing is timed with it.
const HANG_GUARD: Duration = Duration::from_secs(60);

type ServerWs = WebSocketStream<TcpStream>;

/// The handshake as the server saw it.
#[derive(Debug, Clone)]
struct Handshake {
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

impl Handshake {
    fn get(&self, key: &str) -> Vec<&str> {
        self.query.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

/// Accepts connections forever; `refuse` answers the upgrade with that
/// status; otherwise connection `n` goes to `handler(ws, handshake, n)`.
async fn serve<F, Fut>(refuse: Option<StatusCode>, handler: F) -> SocketAddr
where
    F: Fn(ServerWs, Handshake, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for n in 0.. {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut handshake = None;
            #[allow(clippy::result_large_err)] // the signature tungstenite asks for
            let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
                let uri = request.uri();
                let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
                let authorization = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                handshake = Some(Handshake { path: uri.path().to_owned(), query, authorization });
                match refuse {
                    Some(status) => {
                        let body = r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}"#.to_owned();
                        Err(Response::builder().status(status).body(Some(body)).unwrap())
                    }
                    None => Ok(response),
                }
            };
            if let Ok(ws) = accept_hdr_async(tcp, callback).await {
                tokio::spawn(handler(ws, handshake.unwrap(), n));
            }
        }
    });
    addr
}

fn results(transcript: &str, confidence: f32, is_final: bool) -> Message {
    let json = serde_json::json!({
        "type": "Results", "channel_index": [0, 1], "duration": 0.5, "start": 0.0, "is_final": is_final, "speech_final": is_final,
        "channel": {"alternatives": [{"transcript": transcript, "confidence": confidence, "words": []}]}
    });
    Message::Text(json.to_string().into())
}

#[derive(Debug, Default)]
struct Seen {
    audio_bytes: usize,
    texts: Vec<String>,
}

/// Deepgram: an interim after frame 2, a final segment after frame 5, the
/// last segment + Metadata after CloseStream, then a normal close.
async fn fake_deepgram(mut ws: ServerWs, report: mpsc::UnboundedSender<Seen>) {
    let mut seen = Seen::default();
    let mut frames = 0;
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Binary(bytes) => {
                frames += 1;
                seen.audio_bytes += bytes.len();
                match frames {
                    2 => ws.send(results("ven", 0.5, false)).await.unwrap(),
                    5 => ws.send(results("ventas", 0.93, true)).await.unwrap(),
                    7 => ws.send(results("por", 0.6, false)).await.unwrap(),
                    _ => {}
                }
            }
            Message::Text(text) => {
                seen.texts.push(text.as_str().to_owned());
                if text.as_str() == r#"{"type":"CloseStream"}"# {
                    ws.send(results("por favor", 0.81, true)).await.unwrap();
                    let metadata = r#"{"type":"Metadata","request_id":"0f1e","duration":1.0,"channels":1}"#;
                    ws.send(Message::Text(metadata.into())).await.unwrap();
                    let _ = ws.close(None).await;
                    break;
                }
            }
            _ => {}
        }
    }
    let _ = report.send(seen);
}

fn config(addr: SocketAddr) -> DeepgramConfig {
    DeepgramConfig {
        url: format!("ws://{addr}/v1/listen"),
        api_key: Some(ApiKey::new("dg-secret")),
        connect_timeout: Duration::from_millis(500),
        final_timeout: Duration::from_millis(300),
        ..DeepgramConfig::default()
    }
}

fn grammar() -> Grammar {
    Grammar::from_phrases([("sales", "ventas"), ("agent", "hablar con un agente")])
}

fn speak(stream: &mut RecognizerStream, seconds: usize) {
    for _ in 0..seconds * 50 {
        stream.push(&[100; 320]).unwrap();
    }
}

async fn events(stream: &mut RecognizerStream) -> Vec<AsrEvent> {
    let mut out = Vec::new();
    while let Some(event) = tokio::time::timeout(HANG_GUARD, stream.next_event()).await.expect("stream hung") {
        out.push(event);
    }
    out
}

#[tokio::test]
async fn streams_with_token_and_query_and_joins_final_segments() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let (hs_tx, mut handshakes) = mpsc::unbounded_channel();
    let addr = serve(None, move |ws, handshake, _| {
        let _ = hs_tx.send(handshake);
        fake_deepgram(ws, tx.clone())
    })
    .await;
    let recognizer = DeepgramRecognizer::new(config(addr)).unwrap();
    let mut stream = recognizer.start(&grammar(), "es-AR").unwrap();
    speak(&mut stream, 1);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;

    let partials: Vec<&str> =
        events.iter().filter_map(|e| if let AsrEvent::Partial { text } = e { Some(text.as_str()) } else { None }).collect();
    assert_eq!(partials, ["ven", "ventas", "ventas por", "ventas por favor"]);
    match events.last() {
        Some(AsrEvent::Final { text, confidence }) => {
            assert_eq!(text, "ventas por favor");
            assert!((confidence - 0.87).abs() < 1e-6, "mean of the final segments, got {confidence}");
        }
        other => panic!("expected a final, got {other:?}"),
    }

    let handshake = handshakes.recv().await.unwrap();
    assert_eq!(handshake.path, "/v1/listen");
    assert_eq!(handshake.authorization.as_deref(), Some("Token dg-secret"));
    assert_eq!(handshake.get("encoding"), ["linear16"]);
    assert_eq!(handshake.get("sample_rate"), ["16000"]);
    assert_eq!(handshake.get("channels"), ["1"]);
    assert_eq!(handshake.get("interim_results"), ["true"]);
    assert_eq!(handshake.get("language"), ["es-AR"]);
    assert_eq!(handshake.get("model"), ["nova-2"]);
    assert_eq!(handshake.get("keywords"), ["ventas", "hablar", "con", "un", "agente"]);
    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.audio_bytes, 32_000);
    assert_eq!(seen.texts, [r#"{"type":"CloseStream"}"#], "no keep-alive while audio flows");
}

#[tokio::test]
async fn nova3_gets_keyterms_and_extra_params() {
    let (hs_tx, mut handshakes) = mpsc::unbounded_channel();
    let (tx, _seen) = mpsc::unbounded_channel();
    let addr = serve(None, move |ws, handshake, _| {
        let _ = hs_tx.send(handshake);
        fake_deepgram(ws, tx.clone())
    })
    .await;
    let mut config = config(addr);
    config.model = "nova-3".into();
    config.language = Some("es-419".into());
    config.params.insert("smart_format".into(), "true".into());
    let mut stream = DeepgramRecognizer::new(config).unwrap().start(&grammar(), "es-AR").unwrap();
    stream.end_of_speech().unwrap();
    let _ = events(&mut stream).await;
    let handshake = handshakes.recv().await.unwrap();
    assert_eq!(handshake.get("keyterm"), ["ventas", "hablar con un agente"]);
    assert!(handshake.get("keywords").is_empty());
    assert_eq!(handshake.get("language"), ["es-419"], "the config overrides the flow's language");
    assert_eq!(handshake.get("smart_format"), ["true"]);
}

#[tokio::test]
async fn an_idle_stream_sends_keepalive() {
    let (tx, mut texts) = mpsc::unbounded_channel();
    let addr = serve(None, move |mut ws, _, _| {
        let tx = tx.clone();
        async move {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    let _ = tx.send(text.as_str().to_owned());
                    if text.as_str() == r#"{"type":"CloseStream"}"# {
                        let _ = ws.close(None).await;
                    }
                }
            }
        }
    })
    .await;
    let mut config = config(addr);
    config.keepalive = Duration::from_millis(50);
    let mut stream = DeepgramRecognizer::new(config).unwrap().start(&Grammar::default(), "en-US").unwrap();
    // Nothing pushed: the caller is silent.
    let first = tokio::time::timeout(HANG_GUARD, texts.recv()).await.unwrap().unwrap();
    assert_eq!(first, r#"{"type":"KeepAlive"}"#);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Final { text, confidence }] if text.is_empty() && *confidence == 0.0), "{events:?}");
}

#[tokio::test]
async fn a_refused_key_is_http_401_with_the_vendor_message() {
    let addr = serve(Some(StatusCode::UNAUTHORIZED), |_, _, _| async {}).await;
    let mut stream = DeepgramRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream, 1);
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Http { status: 401, detail })] if detail.contains("INVALID_AUTH")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_close_with_data_error_is_reported() {
    let addr = serve(None, |mut ws, _, _| async move {
        let _first_frame = ws.next().await;
        let frame = CloseFrame { code: CloseCode::Policy, reason: "DATA-0000".into() };
        let _ = ws.close(Some(frame)).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut stream = DeepgramRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    stream.push(&[0; 1600]).unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::ServerClosed { code: 1008, reason })] if reason == "DATA-0000"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_error_message_in_band_is_reported() {
    let addr = serve(None, |mut ws, _, _| async move {
        let _first_frame = ws.next().await;
        let error = r#"{"type":"Error","variant":"INTERNAL","description":"Internal server error","message":"retry later"}"#;
        ws.send(Message::Text(error.into())).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut stream = DeepgramRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    stream.push(&[0; 1600]).unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Server { code, message })] if code == "INTERNAL" && message == "Internal server error"),
        "{events:?}"
    );
}

#[tokio::test]
async fn no_answer_to_close_stream_times_out() {
    let addr = serve(None, |mut ws, _, _| async move { while let Some(Ok(_)) = ws.next().await {} }).await;
    let mut stream = DeepgramRecognizer::new(config(addr)).unwrap().start(&grammar(), "en-US").unwrap();
    speak(&mut stream, 1);
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
}

#[tokio::test]
async fn an_unanswered_handshake_times_out_at_connect() {
    // Accepts TCP (the kernel does) but never speaks HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = config(addr);
    config.connect_timeout = Duration::from_millis(200);
    config.connect_retries = 0;
    let started = Instant::now();
    let mut stream = DeepgramRecognizer::new(config).unwrap().start(&grammar(), "en-US").unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::Timeout { stage: Stage::Connect, after })] if *after == Duration::from_millis(200)),
        "{events:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(200), "gave up before the connect timeout");
    drop(listener);
}

#[tokio::test]
async fn a_drop_mid_utterance_fails_that_stream_only_and_the_next_start_works() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let addr = serve(None, move |mut ws, _, n| {
        let tx = tx.clone();
        async move {
            if n == 0 {
                let _first_frame = ws.next().await;
                drop(ws);
            } else {
                fake_deepgram(ws, tx).await;
            }
        }
    })
    .await;
    let recognizer = DeepgramRecognizer::new(config(addr)).unwrap();
    let mut first = recognizer.start(&grammar(), "es-AR").unwrap();
    first.push(&[0; 1600]).unwrap();
    let events1 = events(&mut first).await;
    assert!(matches!(events1.as_slice(), [AsrEvent::Error(AsrError::ConnectionLost { .. })]), "{events1:?}");

    let mut second = recognizer.start(&grammar(), "es-AR").unwrap();
    speak(&mut second, 1);
    second.end_of_speech().unwrap();
    let events2 = events(&mut second).await;
    assert!(matches!(events2.last(), Some(AsrEvent::Final { text, .. }) if text == "ventas por favor"), "{events2:?}");
    assert_eq!(seen.recv().await.unwrap().audio_bytes, 32_000);
}

#[test]
fn config_table_redacts_the_key() {
    let config: DeepgramConfig = serde_json::from_str(
        r#"{"api_key": "dg-secret", "model": "nova-3", "keepalive": "3s", "final_timeout": 800, "params": {"endpointing": "300"}}"#,
    )
    .unwrap();
    assert_eq!(config.keepalive, Duration::from_secs(3));
    assert_eq!(config.final_timeout, Duration::from_millis(800));
    assert_eq!(config.api_key.as_ref().map(ApiKey::expose), Some("dg-secret"));
    assert!(!format!("{config:?}").contains("dg-secret"));
}

#[tokio::test]
async fn wss_uses_the_built_in_tls_stack() {
    // A plain TCP server that answers the TLS ClientHello with garbage: the
    // rustls handshake fails cleanly (no missing crypto provider, no panic).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            use tokio::io::AsyncWriteExt;
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let config = DeepgramConfig { url: format!("wss://{addr}/v1/listen"), ..config(addr) };
    let mut stream = DeepgramRecognizer::new(config).unwrap().start(&grammar(), "en-US").unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Error(AsrError::Connect { .. })]), "{events:?}");
}
