//! Issue #15 item 8: a vendor TTS that accepts the request and never
//! answers must not keep the caller in silence for the engine's whole
//! timeout. A prompt rendered during a call falls back to the built-in voice
//! at `[speech].tts_first_chunk_ms`.

use std::time::{Duration, Instant};

use sip_gateway::config::Config;
use sip_gateway::speech::Prompter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_vendor_falls_back_at_the_first_chunk_deadline() {
    // Accepts connections and never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let toml = format!(
        "[speech]\ntts = \"openai\"\ntts_first_chunk_ms = 300\n[speech.openai_tts]\nbase_url = \"http://{addr}/v1\"\ntimeout_ms = 20000\n\
         [prompts]\ncache_dir = \"{}\"\n",
        cache.path().display()
    );
    let cfg = Config::from_toml(&toml, "test.toml").expect("config");
    let prompter = Prompter::from_config(&cfg).expect("prompter");
    let started = Instant::now();
    // The vendor's own timeout is 20 s; the 10 s guard (33 times the
    // deadline) only fails when the deadline is not applied at all.
    let stream = tokio::time::timeout(Duration::from_secs(10), prompter.say_stream("Your order is on its way.", "en-US"))
        .await
        .expect("the first-chunk deadline applies, not the vendor's 20 s timeout")
        .expect("the fallback voice renders it");
    assert!(!stream.is_streamed(), "the built-in voice's whole rendering");
    assert!(started.elapsed() >= Duration::from_millis(300), "the vendor had its chance first");
    let text = sip_gateway::metrics::metrics().encode();
    let fallbacks = text.lines().find(|l| l.starts_with("centralita_tts_fallbacks_total ")).expect("metric");
    assert_ne!(fallbacks, "centralita_tts_fallbacks_total 0", "counted");
}
