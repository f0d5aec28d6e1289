//! Issue #5, streaming playback: with `[speech] tts = "openai"` the caller
//! hears a `say` prompt from the engine's first audio chunk on, before
//! synthesis has ended, and the whole rendering is cached for the next call.
//!
//! A local server speaks the OpenAI `POST /v1/audio/speech` wire protocol
//! (chunked `audio/pcm`, 24 kHz s16le). It sends the first 0.6 s and then
//! holds the body open until the test has seen the call's first prompt
//! packet through the API: a gateway that waited for the whole clip would
//! never get there. Then the rest follows, the prompt plays out, the flow
//! hangs up. A second call plays the same prompt from the cache without
//! asking the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use centralita_e2e::{record_rtp, repo_root, sipp_spawn, Gateway, Scratch};

const RATE: usize = 24_000;

/// 0.6 s of a 440 Hz tone at 24 kHz, s16le.
fn tone_bytes() -> Vec<u8> {
    (0..RATE * 6 / 10)
        .flat_map(|i| {
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / RATE as f64).sin()) as i16;
            s.to_le_bytes()
        })
        .collect()
}

fn chunk(out: &mut impl Write, bytes: &[u8]) {
    write!(out, "{:x}\r\n", bytes.len()).unwrap();
    out.write_all(bytes).unwrap();
    out.write_all(b"\r\n").unwrap();
    out.flush().unwrap();
}

/// The TTS server: answers each request with two chunks of tone, the second
/// only once `release` fires (or at once after the first request).
fn tts_server(release: mpsc::Receiver<()>, requests: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0usize;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(request_line.starts_with("POST /v1/audio/speech"), "{request_line}");
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["response_format"], "pcm", "a stream asks for raw PCM: {body}");
            let n = requests.fetch_add(1, Ordering::SeqCst);
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .unwrap();
            chunk(&mut conn, &tone_bytes());
            if n == 0 {
                release.recv_timeout(Duration::from_secs(20)).expect("the test releases the rest");
            }
            chunk(&mut conn, &tone_bytes());
            conn.write_all(b"0\r\n\r\n").unwrap();
        }
    });
    addr
}

#[test]
fn a_streamed_prompt_starts_before_synthesis_ends_and_is_cached() {
    let dir = Scratch::new("streaming-tts");
    let (release_tx, release_rx) = mpsc::channel();
    let requests = Arc::new(AtomicUsize::new(0));
    let tts = tts_server(release_rx, requests.clone());
    // A text unique to this run: the e2e prompt cache outlives test runs.
    let nonce = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let flow = dir.0.join("streaming.yaml");
    std::fs::write(
        &flow,
        format!(
            "flow: streaming\nstart: hello\nnodes:\n  hello:\n    say: \"Hello {{{{caller}}}}, this prompt is streamed, run {nonce}.\"\n    hangup: true\n"
        ),
    )
    .unwrap();
    let tables = format!("[speech]\ntts = \"openai\"\n[speech.openai_tts]\nbase_url = \"http://{tts}\"\ntimeout_ms = 30000\n");
    let gw = Gateway::start_with_tables("", 60, &flow, &tables);

    let rec = record_rtp();
    let vars = [("RTP_PORT", rec.port.to_string())];
    // The caller of speech_gateway_hangs_up.xml without its audio: sending
    // RTP would latch the gateway's stream onto SIPp instead of the capture.
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/speech_gateway_hangs_up.xml")).unwrap();
    let scenario = scenario
        .replace(r#"<pause milliseconds="@DELAY_MS@"/>"#, "")
        .replace(r#"<nop><action><exec rtp_stream="@AUDIO@,1,0"/></action></nop>"#, "");
    assert!(!scenario.contains("rtp_stream"));
    let mut sipp = sipp_spawn(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0);

    // The first prompt packet goes out while the server still holds the rest.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, live) = gw.api_get("/v1/calls/live", Some(&gw.token));
        if live["calls"].as_array().into_iter().flatten().any(|c| c["first_response_ms"].is_u64()) {
            break;
        }
        assert!(Instant::now() < until, "no prompt packet before synthesis ended: {live}\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    release_tx.send(()).unwrap();
    let status = sipp.wait().unwrap();
    assert!(status.success(), "the flow hangs up once the streamed prompt has played out\n{}", gw.log_text());
    let cap = rec.stop();
    // 1.2 s of tone = 60 packets; the first 0.6 s before the release.
    assert!(cap.loud_packets >= 55, "both halves of the prompt were played: {cap:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // Second call: the same prompt from the cache, the server not asked.
    let rec = record_rtp();
    let vars = [("RTP_PORT", rec.port.to_string())];
    let status = sipp_spawn(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0).wait().unwrap();
    assert!(status.success());
    let cap = rec.stop();
    assert!(cap.loud_packets >= 55, "cached prompt played whole: {cap:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "played from the cache");
}
