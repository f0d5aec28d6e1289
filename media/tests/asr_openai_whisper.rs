//! The OpenAI-compatible adapter against a real model once (issue #5):
//! scripts/whisper_server.py serves `POST /v1/audio/transcriptions` with
//! faster-whisper and Whisper tiny.en (scripts/install-whisper.sh, run by
//! `make deps`). Caller speech comes the way a call brings it: espeak-ng,
//! 8 kHz G.711 µ-law, then the speech tap's 16 kHz.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use media::asr::openai::{OpenAiConfig, OpenAiRecognizer, ResponseFormat};
use media::asr::{AsrEvent, Grammar, Recognizer};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let venv = std::env::var_os("WHISPER_VENV").map(PathBuf::from).unwrap_or_else(|| repo().join("target/whisper-venv"));
    let python = venv.join("bin/python");
    assert!(python.is_file(), "{} missing: run scripts/install-whisper.sh (make deps)", python.display());
    let mut child = Command::new(python)
        .arg(repo().join("scripts/whisper_server.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start whisper_server.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Server(child);
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
    (server, ready["listen"].as_str().unwrap().to_owned())
}

/// `text` through the phone band: espeak-ng → 8 kHz µ-law → 16 kHz s16.
fn phone_speech(text: &str) -> Vec<i16> {
    let dir = repo().join("target/tmp").join(format!("whisper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (wav, ulaw, wide) = (dir.join("a.wav"), dir.join("a.ul"), dir.join("a.raw"));
    let ok = Command::new("espeak-ng").args(["-v", "en-us", "-s", "150", "-w"]).arg(&wav).arg(text).status().unwrap();
    assert!(ok.success());
    let ok = Command::new("sox").arg(&wav).args(["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"]).arg(&ulaw).status().unwrap();
    assert!(ok.success());
    let ok = Command::new("sox")
        .args(["-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law"])
        .arg(&ulaw)
        .args(["-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "16000"])
        .arg(&wide)
        .status()
        .unwrap();
    assert!(ok.success());
    let samples = std::fs::read(&wide).unwrap().chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let _ = std::fs::remove_dir_all(&dir);
    samples
}

#[tokio::test]
async fn whisper_tiny_en_transcribes_phone_band_speech() {
    let (_server, addr) = tokio::task::spawn_blocking(start_server).await.unwrap();
    let config = OpenAiConfig {
        url: format!("http://{addr}/v1"),
        model: "tiny.en".into(),
        response_format: ResponseFormat::VerboseJson,
        timeout: Duration::from_secs(60),
        ..OpenAiConfig::default()
    };
    let recognizer = OpenAiRecognizer::new(config).unwrap();
    let grammar = Grammar::from_phrases([("agent", "agent"), ("sales", "sales")]);
    let speech = tokio::task::spawn_blocking(|| phone_speech("I want to talk to an agent please")).await.unwrap();
    let mut stream = recognizer.start(&grammar, "en-US").unwrap();
    for packet in speech.chunks(320) {
        stream.push(packet).unwrap();
    }
    stream.end_of_speech().unwrap();
    let mut finals = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(90), stream.next_event()).await.expect("no answer") {
        finals.push(event);
    }
    let Some((text, confidence)) = finals.iter().find_map(|e| match e {
        AsrEvent::Final { text, confidence } => Some((text.clone(), *confidence)),
        _ => None,
    }) else {
        panic!("no final: {finals:?}");
    };
    eprintln!("whisper tiny.en heard {text:?} (confidence {confidence:.2})");
    let lower = text.to_lowercase();
    assert!(lower.contains("agent"), "{text:?}");
    assert!(lower.contains("talk"), "the whole sentence, not just the hint: {text:?}");
    assert!(confidence > 0.0 && confidence <= 1.0, "verbose_json avg_logprob gives a confidence: {confidence}");
}
