//! The built-in Whisper recogniser (tiny.en in-process through CTranslate2,
//! issue #14) on espeak-ng speech sent through the phone band (8 kHz G.711
//! u-law, back to 16 kHz), on silence and noise (no words), its stream
//! (one final, no partials). Needs espeak-ng, sox, the model
//! (scripts/install-whisper-models.sh) and CTranslate2 (scripts/
//! install-ct2.sh): `make deps`.

use std::path::Path;
use std::process::Command;

use media::asr::whisper::{WhisperConfig, WhisperRecognizer};
use media::asr::{AsrError, AsrEvent, Grammar, Recognizer};

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
    g
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (run `make deps`)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// espeak-ng -> 8 kHz u-law -> 16 kHz s16, as samples.
fn speak(dir: &Path, name: &str, text: &str) -> Vec<i16> {
    let raw = dir.join(format!("{name}.espeak.wav"));
    let ulaw = dir.join(format!("{name}.ulaw.wav"));
    let out = dir.join(format!("{name}.raw"));
    run(Command::new("espeak-ng").args(["-v", "en-us", "-s", "150", "-w"]).arg(&raw).arg(text));
    run(Command::new("sox").arg(&raw).args(["-r", "8000", "-c", "1", "-e", "u-law", "-b", "8"]).arg(&ulaw));
    run(Command::new("sox").arg(&ulaw).args(["-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "16000"]).arg(&out));
    let bytes = std::fs::read(&out).unwrap();
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn noise(seconds: f32, amplitude: f32) -> Vec<i16> {
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

fn recognizer(decoders: usize) -> WhisperRecognizer {
    let cfg = WhisperConfig { decoders, ..WhisperConfig::default() };
    WhisperRecognizer::new(&cfg).expect("Whisper model and CTranslate2 (run `make deps`)")
}

fn words(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn hears_intent_sentences_and_digits_through_the_phone_band() {
    let dir = std::env::temp_dir().join(format!("asr_whisper_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let asr = recognizer(1);
    let g = demo_grammar();
    for (i, (said, want)) in
        [("I want to talk to an agent please", "agent"), ("technical support please", "support"), ("I need help with my account", "help")]
            .into_iter()
            .enumerate()
    {
        let pcm = speak(&dir, &format!("s{i}"), said);
        let (text, conf) = asr.recognize(&g, "en-US", &pcm).unwrap();
        assert!(words(&text).split(' ').any(|w| w == want), "{said:?} heard as {text:?}");
        assert!(conf > 0.0 && conf <= 1.0, "{conf}");
    }
    let digits = Grammar { digits: true, ..Grammar::default() };
    let pcm = speak(&dir, "digits", "one two three four");
    let (text, _) = asr.recognize(&digits, "en-US", &pcm).unwrap();
    assert_eq!(words(&text), "one two three four", "numerals are spelt as digit words");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_on_silence_and_noise() {
    let asr = recognizer(1);
    let g = demo_grammar();
    for (name, pcm) in [("silence", vec![0i16; 48_000]), ("white noise", noise(3.0, 300.0))] {
        let (text, conf) = asr.recognize(&g, "en-US", &pcm).unwrap();
        assert_eq!((text.as_str(), conf), ("", 0.0), "{name}");
    }
}

#[test]
fn a_stream_ends_with_one_final() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let asr = recognizer(1);
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
                AsrEvent::Partial { text } => panic!("no partials from Whisper: {text}"),
                AsrEvent::Error(e) => panic!("{e}"),
            }
        }
        assert_eq!(finals, 1);
        assert!(matches!(asr.start(&demo_grammar(), "es-AR"), Err(AsrError::Config { .. })), "no Spanish model configured");
    });
}

#[test]
fn a_pause_after_the_words_gives_the_final_early_as_a_partial() {
    let dir = std::env::temp_dir().join(format!("asr_whisper_pause_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut pcm = speak(&dir, "pause", "I want to talk to an agent please");
    pcm.extend(std::iter::repeat_n(0i16, 16_000)); // 1 s of quiet, then the VAD's end
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let asr = recognizer(1);
        let mut stream = asr.start(&demo_grammar(), "en-US").unwrap();
        for chunk in pcm.chunks(320) {
            stream.push(chunk).unwrap();
        }
        stream.end_of_speech().unwrap();
        let (mut partials, mut last) = (Vec::new(), None);
        while let Some(ev) = stream.next_event().await {
            match ev {
                AsrEvent::Partial { text } => partials.push(text),
                AsrEvent::Final { text, .. } => last = Some(text),
                AsrEvent::Error(e) => panic!("{e}"),
            }
        }
        let last = last.expect("a final");
        assert!(words(&last).contains("agent"), "{last:?}");
        // The speculative decode at the last pause covered the whole
        // utterance: its text went out as a partial and stands as the
        // final (espeak-ng's pauses between words may give earlier ones).
        assert_eq!(partials.last(), Some(&last), "the last partial is the final's text: {partials:?}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
