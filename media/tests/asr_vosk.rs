//! The Vosk adapter against a loopback server speaking vosk-server's
//! WebSocket protocol (config frame, PCM16LE binary frames answered one by
//! one with `{"partial"}` / `{"text","result"}`, `{"eof" : 1}`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use media::asr::vosk::{VoskConfig, VoskRecognizer, EOF_MESSAGE};
use media::asr::{AsrError, AsrEvent, Grammar, Recognizer, RecognizerStream, Stage};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{accept_async, WebSocketStream};

/// A hang guard only (a broken stream would otherwise never end the test),
/// generous for a busy box: nothing is timed with it.
const HANG_GUARD: Duration = Duration::from_secs(60);

type ServerWs = WebSocketStream<TcpStream>;

/// What the fake server saw on one connection.
#[derive(Debug, Default)]
struct Seen {
    config: serde_json::Value,
    frames: usize,
    audio_bytes: usize,
    first_samples: Vec<i16>,
    eof: bool,
}

/// Accepts connections forever; connection `n` is handled by `handler(ws, n)`.
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(ServerWs, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for n in 0.. {
            let (tcp, _) = listener.accept().await.unwrap();
            if let Ok(ws) = accept_async(tcp).await {
                tokio::spawn(handler(ws, n));
            }
        }
    });
    addr
}

/// A vosk-server: answers frame `i` with `answers[i]` (or an empty
/// partial), answers eof with `last`, then closes.
async fn fake_vosk(mut ws: ServerWs, answers: Vec<&'static str>, last: &'static str, report: mpsc::UnboundedSender<Seen>) {
    let mut seen = Seen::default();
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) if text.as_str() == EOF_MESSAGE => {
                seen.eof = true;
                ws.send(Message::Text(last.into())).await.unwrap();
                let _ = ws.close(None).await;
                break;
            }
            Message::Text(text) => seen.config = serde_json::from_str(text.as_str()).unwrap(),
            Message::Binary(bytes) => {
                if seen.frames == 0 {
                    seen.first_samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                }
                seen.frames += 1;
                seen.audio_bytes += bytes.len();
                let answer = answers.get(seen.frames - 1).copied().unwrap_or(r#"{"partial" : ""}"#);
                ws.send(Message::Text(answer.into())).await.unwrap();
            }
            _ => {}
        }
    }
    let _ = report.send(seen);
}

fn recognizer(addr: SocketAddr) -> VoskRecognizer {
    VoskRecognizer::new(VoskConfig {
        url: format!("ws://{addr}"),
        connect_timeout: Duration::from_millis(500),
        final_timeout: Duration::from_millis(300),
        ..VoskConfig::default()
    })
    .unwrap()
}

fn grammar() -> Grammar {
    let mut grammar = Grammar::from_phrases([("sales", "Sales"), ("agent", "talk to an agent")]);
    grammar.yes_no = true;
    grammar
}

/// One second of audio in 20 ms packets (a ramp, to check byte order).
fn speak(stream: &mut RecognizerStream) {
    let samples: Vec<i16> = (0..16_000).map(|i| (i as i16).wrapping_mul(3)).collect();
    for packet in samples.chunks(320) {
        stream.push(packet).unwrap();
    }
}

/// Events until the stream ends (bounded: a hang fails the test).
async fn events(stream: &mut RecognizerStream) -> Vec<AsrEvent> {
    let mut out = Vec::new();
    while let Some(event) = tokio::time::timeout(HANG_GUARD, stream.next_event()).await.expect("stream hung") {
        out.push(event);
    }
    out
}

fn partials(events: &[AsrEvent]) -> Vec<&str> {
    events.iter().filter_map(|e| if let AsrEvent::Partial { text } = e { Some(text.as_str()) } else { None }).collect()
}

#[tokio::test]
async fn sends_config_and_audio_then_reports_partials_and_final() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let addr = serve(move |ws, _| {
        let answers = vec![r#"{"partial" : "sa"}"#, r#"{"partial" : "sa"}"#, r#"{"partial" : "sales"}"#];
        let last = r#"{"result" : [{"conf" : 0.9, "end" : 0.9, "start" : 0.4, "word" : "sales"}], "text" : "sales"}"#;
        fake_vosk(ws, answers, last, tx.clone())
    })
    .await;
    let mut stream = recognizer(addr).start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;

    assert_eq!(partials(&events), ["sa", "sales"], "partials only when the hypothesis changes");
    match events.last() {
        Some(AsrEvent::Final { text, confidence }) => {
            assert_eq!(text, "sales");
            assert!((confidence - 0.9).abs() < 1e-6);
        }
        other => panic!("expected a final, got {other:?}"),
    }
    let seen = seen.recv().await.unwrap();
    assert_eq!(
        seen.config,
        serde_json::json!({"config": {"sample_rate": 16000, "words": 1, "phrase_list": ["sales", "talk to an agent", "yes", "no", "[unk]"]}})
    );
    assert_eq!(seen.audio_bytes, 32_000, "1 s of PCM16 at 16 kHz");
    assert_eq!(seen.frames, 10, "batched in 100 ms frames, not 50 packets");
    assert_eq!(&seen.first_samples[..4], &[0, 3, 6, 9], "little-endian PCM16");
    assert!(seen.eof);
}

#[tokio::test]
async fn segments_closed_by_the_server_are_joined_in_the_final() {
    let (tx, _seen) = mpsc::unbounded_channel();
    let addr = serve(move |ws, _| {
        let answers = vec![
            r#"{"partial" : "talk"}"#,
            r#"{"result" : [{"conf" : 1.0, "word" : "talk"}, {"conf" : 0.8, "word" : "to"}], "text" : "talk to"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
            r#"{"partial" : "an"}"#,
        ];
        fake_vosk(
            ws,
            answers,
            r#"{"result" : [{"conf" : 0.6, "word" : "an"}, {"conf" : 1.0, "word" : "agent"}], "text" : "an agent"}"#,
            tx.clone(),
        )
    })
    .await;
    let mut stream = recognizer(addr).start(&Grammar::default(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert_eq!(partials(&events), ["talk", "talk to", "talk to an"]);
    match events.last() {
        Some(AsrEvent::Final { text, confidence }) => {
            assert_eq!(text, "talk to an agent");
            assert!((confidence - 0.85).abs() < 1e-6, "mean word confidence, got {confidence}");
        }
        other => panic!("expected a final, got {other:?}"),
    }
}

#[tokio::test]
async fn free_speech_sends_no_phrase_list_and_silence_is_an_empty_final() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let addr = serve(move |ws, _| fake_vosk(ws, vec![], r#"{"text" : ""}"#, tx.clone())).await;
    let mut stream = recognizer(addr).start(&Grammar::default(), "en-US").unwrap();
    stream.end_of_speech().unwrap();
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Final { text, confidence }] if text.is_empty() && *confidence == 0.0), "{events:?}");
    assert_eq!(seen.recv().await.unwrap().config, serde_json::json!({"config": {"sample_rate": 16000, "words": 1}}));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = serve(|mut ws, _| async move {
        // Reads everything, answers nothing, keeps the connection open.
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut stream = recognizer(addr).start(&grammar(), "en-US").unwrap();
    speak(&mut stream);
    stream.end_of_speech().unwrap();
    let asked = Instant::now();
    let events = events(&mut stream).await;
    let waited = asked.elapsed();
    assert!(
        matches!(events.last(), Some(AsrEvent::Error(AsrError::Timeout { stage: Stage::Result, after })) if *after == Duration::from_millis(300)),
        "{events:?}"
    );
    // Timers never fire early; how late they fire depends on the box, so no upper bound.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
}

#[tokio::test]
async fn a_close_with_an_error_code_is_reported() {
    let addr = serve(|mut ws, _| async move {
        let _config = ws.next().await;
        let _first_frame = ws.next().await;
        let frame = CloseFrame { code: CloseCode::Error, reason: "model crashed".into() };
        let _ = ws.close(Some(frame)).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut stream = recognizer(addr).start(&grammar(), "en-US").unwrap();
    stream.push(&[0; 1600]).unwrap();
    let events = events(&mut stream).await;
    assert!(
        matches!(events.as_slice(), [AsrEvent::Error(AsrError::ServerClosed { code: 1011, reason })] if reason == "model crashed"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_drop_mid_utterance_fails_that_stream_only_and_the_next_start_works() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let addr = serve(move |mut ws, n| {
        let tx = tx.clone();
        async move {
            if n == 0 {
                let _config = ws.next().await;
                let _first_frame = ws.next().await;
                drop(ws); // TCP FIN, no close handshake
            } else {
                fake_vosk(ws, vec![], r#"{"result" : [{"conf" : 1.0, "word" : "agent"}], "text" : "agent"}"#, tx).await;
            }
        }
    })
    .await;
    let recognizer = recognizer(addr);
    let mut first = recognizer.start(&grammar(), "en-US").unwrap();
    first.push(&[0; 1600]).unwrap();
    let events1 = events(&mut first).await;
    assert!(matches!(events1.as_slice(), [AsrEvent::Error(AsrError::ConnectionLost { .. })]), "{events1:?}");
    assert!(matches!(first.push(&[0; 320]), Err(AsrError::Closed)), "no retry: the failed stream is over");

    let mut second = recognizer.start(&grammar(), "en-US").unwrap();
    speak(&mut second);
    second.end_of_speech().unwrap();
    let events2 = events(&mut second).await;
    assert!(matches!(events2.last(), Some(AsrEvent::Final { text, .. }) if text == "agent"), "{events2:?}");
    assert_eq!(seen.recv().await.unwrap().audio_bytes, 32_000);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_after_the_retry() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap(); // closed again at once
    let mut stream = recognizer(port).start(&grammar(), "en-US").unwrap();
    speak(&mut stream); // queued while connecting: push never waits on the network
    let events = events(&mut stream).await;
    assert!(matches!(events.as_slice(), [AsrEvent::Error(AsrError::Connect { .. })]), "{events:?}");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (tx, mut closed) = mpsc::unbounded_channel();
    let (config_tx, mut configured) = mpsc::unbounded_channel();
    let addr = serve(move |mut ws, _| {
        let tx = tx.clone();
        let config_tx = config_tx.clone();
        async move {
            let _config = ws.next().await;
            let _ = config_tx.send(());
            let mut frames = 0;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(_))) => frames += 1,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
            let _ = tx.send(frames);
        }
    })
    .await;
    let mut stream = recognizer(addr).start(&grammar(), "en-US").unwrap();
    stream.push(&[0; 3200]).unwrap();
    configured.recv().await.unwrap(); // connected and streaming
    drop(stream);
    let frames = tokio::time::timeout(Duration::from_secs(5), closed.recv()).await.unwrap().unwrap();
    assert!(frames <= 2, "the worker closed without waiting for a result ({frames} frames)");
}

#[test]
fn config_table_takes_humantime_or_milliseconds() {
    let config: VoskConfig =
        serde_json::from_str(r#"{"url": "ws://vosk:2700", "final_timeout": "1500ms", "connect_timeout": 250, "allow_unknown": false}"#)
            .unwrap();
    assert_eq!(config.final_timeout, Duration::from_millis(1500));
    assert_eq!(config.connect_timeout, Duration::from_millis(250));
    assert!(!config.allow_unknown && config.grammar);
    assert!(serde_json::from_str::<VoskConfig>(r#"{"urll": "ws://x"}"#).is_err(), "unknown keys are refused");
    assert!(matches!(VoskRecognizer::new(VoskConfig { url: "http://[::1".into(), ..VoskConfig::default() }), Err(AsrError::Config { .. })));
}
