//! Issue #13 item 7 end to end: a caller's words heard below the gather's
//! `min_confidence` are not thrown away silently. SIPp streams espeak-ng's
//! "representative" during the menu; the built-in recogniser hears it
//! with a confidence under 1 (this flow's `min_confidence: 1.0`, so any
//! recogniser's answer is doubtful), and the stored call has a `rejected`
//! step with the words, the intent they would have meant and the
//! confidence, next to the transcript; the flow then takes `exhausted`
//! (no retries) and says goodbye.

use std::path::Path;
use std::time::{Duration, Instant};

use centralita_e2e::{repo_root, sipp_ok, Gateway, Scratch};
use serde_json::Value;

const FLOW: &str = "flow: doubtful
start: menu
nodes:
  menu:
    say: \"Say support, or ask for a representative.\"
    gather: { speech: true, digits: 1, timeout: 3s, retries: 0, min_confidence: 1.0 }
    intents:
      support: { dtmf: \"2\", phrases: [support, help] }
      agent: { dtmf: \"0\", phrases: [agent, person, human, representative] }
    on: { support: done, agent: done, no_input: menu, no_match: menu, exhausted: done }
  done:
    say: \"Goodbye.\"
    hangup: true
";

/// `text` spoken by espeak-ng, then 1 s of silence, as raw µ-law at 8 kHz.
fn speak(dir: &Path, name: &str, text: &str) -> String {
    let wav = dir.join(format!("{name}.wav"));
    let out = dir.join(format!("{name}.ulaw"));
    let espeak = std::process::Command::new("espeak-ng").args(["-v", "en-us", "-s", "150", "-w"]).arg(&wav).arg(text).output();
    let espeak = espeak.expect("espeak-ng (scripts/install-deps.sh installs it)");
    assert!(espeak.status.success(), "espeak-ng: {}", String::from_utf8_lossy(&espeak.stderr));
    let sox = std::process::Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&out)
        .args(["pad", "0", "1"])
        .output()
        .expect("sox");
    assert!(sox.status.success(), "sox: {}", String::from_utf8_lossy(&sox.stderr));
    out.display().to_string()
}

/// The only stored call, once it has ended.
fn the_call(gw: &Gateway) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = gw.api_get("/v1/calls", Some(&gw.token));
        if let Some(id) = page["calls"][0]["id"].as_str().filter(|_| page["calls"][0]["ended_at"].is_string()) {
            return gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token)).1;
        }
        assert!(Instant::now() < until, "no ended call: {page}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn words_under_min_confidence_are_a_rejected_step_of_the_call() {
    let dir = Scratch::new("speech-rejected");
    let flow = dir.0.join("doubtful.yaml");
    std::fs::write(&flow, FLOW).expect("write the flow");
    let gw = Gateway::start_full("", 60, &flow);
    let audio = speak(&dir.0, "words", "representative");
    let vars = [("RTP_PORT", centralita_e2e::free_udp_port().to_string()), ("AUDIO", audio), ("DELAY_MS", "1500".to_string())];
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/speech_gateway_hangs_up.xml")).expect("scenario");
    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let call = the_call(&gw);
    let steps: Vec<&Value> = call["steps"].as_array().into_iter().flatten().collect();
    let heard: Vec<&str> = steps.iter().filter(|s| s["kind"] == "transcript").filter_map(|s| s["detail"].as_str()).collect();
    assert!(heard.iter().any(|t| !t.is_empty()), "words were heard: {call:#}");
    let rejected: Vec<&&Value> = steps.iter().filter(|s| s["kind"] == "rejected").collect();
    assert_eq!(rejected.len(), 1, "one rejected step: {call:#}");
    let step = rejected[0];
    assert_eq!(step["node"], "menu", "{step}");
    let detail = step["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(heard[0]) && detail.ends_with("below min_confidence 1.00)"), "{detail}");
    let confidence = step["confidence"].as_f64().expect("the confidence is stored");
    assert!((0.0..1.0).contains(&confidence), "{step}");
    let nodes: Vec<&str> = steps.iter().filter(|s| s["kind"] == "node").filter_map(|s| s["node"].as_str()).collect();
    assert_eq!(nodes, ["menu", "done"], "no retries: exhausted: {call:#}");
    assert!(gw.log_text().contains("speech rejected"), "logged too");
}
