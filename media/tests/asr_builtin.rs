//! The built-in recogniser (PocketSphinx, in-process) on espeak-ng speech
//! sent through the phone band (8 kHz G.711 u-law, back to 16 kHz), and on
//! silence / noise, which must yield no words. Needs espeak-ng and sox
//! (`make deps`).

use std::path::Path;
use std::process::Command;

use media::asr::builtin::BuiltinRecognizer;
use media::asr::{AsrEvent, Grammar, Recognizer};

fn demo_grammar() -> Grammar {
    let mut g = Grammar::from_phrases([
        ("sales", "sales"),
        ("sales", "buy"),
        ("sales", "pricing"),
        ("support", "support"),
        ("support", "help"),
        ("agent", "agent"),
        ("agent", "person"),
        ("agent", "human"),
        ("agent", "representative"),
    ]);
    g.yes_no = true;
    g.digits = true;
    g
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (run `make deps`)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// espeak-ng -> 8 kHz u-law -> 16 kHz s16, as samples.
fn speak(dir: &Path, name: &str, voice: &str, text: &str) -> Vec<i16> {
    let raw = dir.join(format!("{name}.espeak.wav"));
    let ulaw = dir.join(format!("{name}.ulaw.wav"));
    let out = dir.join(format!("{name}.raw"));
    run(Command::new("espeak-ng").args(["-v", voice, "-s", "150", "-w"]).arg(&raw).arg(text));
    run(Command::new("sox").arg(&raw).args(["-r", "8000", "-c", "1", "-e", "u-law", "-b", "8"]).arg(&ulaw));
    run(Command::new("sox").arg(&ulaw).args(["-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "16000"]).arg(&out));
    let bytes = std::fs::read(&out).unwrap();
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn noise(seconds: f32, amplitude: f32) -> Vec<i16> {
    // xorshift: deterministic white noise without a rand dependency.
    let mut x: u32 = 0x1234_5678;
    (0..(16_000.0 * seconds) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((x as f32 / u32::MAX as f32 - 0.5) * 2.0 * amplitude) as i16
        })
        .collect()
}

#[test]
fn recognises_single_intent_words() {
    let dir = std::env::temp_dir().join(format!("asr_builtin_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let asr = BuiltinRecognizer::new().expect("model (run `make deps`)");
    let g = demo_grammar();
    // Words the phone-band en-US model gets right with espeak-ng's default
    // voice (see the report in BENCHMARKS.md for the whole corpus).
    for (word, want) in [("representative", "representative"), ("support", "support"), ("four two", "four two")] {
        let pcm = speak(&dir, &word.replace(' ', "_"), "en-us", word);
        let (text, conf) = asr.recognize(&g, "en-US", &pcm).unwrap();
        assert_eq!(text, want, "{word}");
        assert!((0.0..=1.0).contains(&conf));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_on_silence_and_noise() {
    let asr = BuiltinRecognizer::new().expect("model (run `make deps`)");
    let g = demo_grammar();
    for (name, pcm) in [("silence", vec![0i16; 48_000]), ("white noise", noise(3.0, 1000.0))] {
        let (text, conf) = asr.recognize(&g, "en-US", &pcm).unwrap();
        assert_eq!(text, "", "{name}");
        assert_eq!(conf, 0.0);
    }
}

#[test]
fn streaming_ends_with_one_final() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let asr = BuiltinRecognizer::new().expect("model (run `make deps`)");
        let mut stream = asr.start(&demo_grammar(), "en-US").unwrap();
        for chunk in vec![0i16; 16_000].chunks(320) {
            stream.push(chunk).unwrap();
        }
        stream.end_of_speech().unwrap();
        let mut finals = 0;
        while let Some(ev) = stream.next_event().await {
            match ev {
                AsrEvent::Final { text, confidence } => {
                    assert_eq!((text.as_str(), confidence), ("", 0.0));
                    finals += 1;
                }
                AsrEvent::Partial { .. } => {}
                AsrEvent::Error(e) => panic!("{e}"),
            }
        }
        assert_eq!(finals, 1);
        assert!(asr.start(&demo_grammar(), "es-AR").is_err(), "no Spanish model");
    });
}
