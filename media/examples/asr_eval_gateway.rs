//! The built-in recognisers' accuracy through the gateway's own speech path
//! (issues #5, #14): each clip of `scripts/asr_eval.py` as the caller's
//! 8 kHz audio → the speech tap (VAD endpointing, pre-roll, rubato 8→16 kHz)
//! → a recogniser stream (Whisper, the default built-in, or PocketSphinx) →
//! its final → the gather's label. A clip in which the VAD finds no speech
//! gives no intent, as on a call.
//!
//!     python3 scripts/asr_eval.py target/asr-eval                       # espeak-ng corpus
//!     target/whisper-venv/bin/python scripts/asr_eval.py --piper target/asr-eval-piper   # Piper voice
//!     cargo run --release -p media --example asr_eval_gateway -- target/asr-eval [--engine whisper|pocketsphinx] [-v]
//!
//! Same corpus and labels as `pocketsphinx-sys`'s `eval --split` (which
//! decodes whole clips directly): digit clips get a digits grammar, the
//! rest the demo flow's intents plus yes/no.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use media::asr::builtin::BuiltinRecognizer;
use media::asr::whisper::{WhisperConfig, WhisperRecognizer};
use media::asr::{AsrError, AsrEvent, Grammar, Recognizer, RecognizerStream};
use media::speech_tap::SpeechTap;
use media::VadConfig;
use pocketsphinx_sys::grammar::KeywordGrammar;

const INTENTS: [(&str, &str); 9] = [
    ("sales", "sales"),
    ("sales", "buy"),
    ("sales", "pricing"),
    ("support", "support"),
    ("support", "help"),
    ("agent", "agent"),
    ("agent", "person"),
    ("agent", "human"),
    ("agent", "representative"),
];

/// The engine under test.
enum Engine {
    Whisper(WhisperRecognizer),
    PocketSphinx(BuiltinRecognizer),
}

impl Engine {
    fn start(&self, grammar: &Grammar) -> Result<RecognizerStream, AsrError> {
        match self {
            Engine::Whisper(r) => r.start(grammar, "en-US"),
            Engine::PocketSphinx(r) => r.start(grammar, "en-US"),
        }
    }

    fn recognize(&self, grammar: &Grammar, samples: &[i16]) -> Result<(String, f32), AsrError> {
        match self {
            Engine::Whisper(r) => r.recognize(grammar, "en-US", samples),
            Engine::PocketSphinx(r) => r.recognize(grammar, "en-US", samples),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine_name = args.iter().position(|a| a == "--engine").and_then(|i| args.get(i + 1)).map(String::as_str).unwrap_or("whisper");
    let dir = PathBuf::from(
        args.iter()
            .enumerate()
            .find(|(i, a)| !a.starts_with('-') && args.get(i.wrapping_sub(1)).is_none_or(|p| p != "--engine"))
            .map(|(_, a)| a.as_str())
            .unwrap_or("target/asr-eval"),
    );
    let verbose = args.iter().any(|a| a == "-v");
    let recognizer = match engine_name {
        "whisper" | "builtin" => Engine::Whisper(WhisperRecognizer::new(&WhisperConfig::default())?),
        "pocketsphinx" => Engine::PocketSphinx(BuiltinRecognizer::new()?),
        other => return Err(format!("--engine {other}: whisper or pocketsphinx").into()),
    };
    let mut intents = Grammar::from_phrases(INTENTS);
    intents.yes_no = true;
    let digits = Grammar { digits: true, ..Grammar::default() };
    // The same labels the recogniser's grammar maps to.
    let classify_intents = INTENTS.iter().fold(KeywordGrammar::new(), |g, (l, p)| g.phrase(l, p)).yes_no();
    let classify_digits = KeywordGrammar::new().digits();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;

    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))?;
    let (mut ok, mut total, mut false_pos, mut negatives) = (0, 0, 0, 0);
    let mut times = Vec::new();
    for line in manifest.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, label) = (f[0], f[1]);
        let mut reader = hound::WavReader::open(dir.join(name))?;
        let wide: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>()?;
        // The clips went through 8 kHz G.711 and up to 16 kHz: below 4 kHz
        // only, so every other sample is the call audio again.
        let mut call: Vec<i16> = wide.iter().step_by(2).copied().collect();
        call.extend(std::iter::repeat_n(0, 8000 * 2)); // the line goes quiet: the VAD ends the turn
        let is_digits = label.starts_with("digits:");
        let (grammar, classifier) = if is_digits { (&digits, &classify_digits) } else { (&intents, &classify_intents) };

        let direct = args.iter().any(|a| a == "--direct");
        let (text, heard_speech) = if direct {
            // Diagnosis: the same 8 kHz audio through the tap's resampler,
            // decoded whole without the VAD.
            let mut r = media::StreamResampler::new(8000, 16000, 160)?;
            let mut up = Vec::new();
            r.process(&call, &mut up);
            r.flush(&mut up);
            (recognizer.recognize(grammar, &up)?.0, true)
        } else {
            let (sink, mut events) = recognizer.start(grammar)?.split();
            let mut tap = SpeechTap::new(sink, VadConfig::default())?;
            let mut heard_speech = false;
            let mut ended_at = None;
            for frame in call.chunks(160) {
                tap.push(frame, |e| {
                    heard_speech |= e == media::speech_tap::TapEvent::SpeechStarted;
                    if e == media::speech_tap::TapEvent::SpeechEnded {
                        ended_at = Some(Instant::now());
                    }
                });
            }
            drop(tap); // no speech: the recogniser sees its input end
            let text = runtime.block_on(async {
                let mut text = String::new();
                while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), events.next()).await {
                    match event {
                        AsrEvent::Final { text: t, .. } => text = t,
                        AsrEvent::Error(e) => println!("ERROR  {name}: {e}"),
                        AsrEvent::Partial { .. } => {}
                    }
                }
                text
            });
            if let Some(at) = ended_at {
                times.push(at.elapsed().as_secs_f64() * 1e3);
            }
            (text, heard_speech)
        };
        let got = classifier.manifest_label(&text);
        if label == "-" {
            negatives += 1;
            if got != "-" {
                false_pos += 1;
                println!("FALSE  {name}: {text:?} (VAD heard speech: {heard_speech})");
            }
            continue;
        }
        total += 1;
        if got == label {
            ok += 1;
        } else if verbose {
            println!("MISS   {name} {:?} -> {text:?} ({got})", f.get(5).unwrap_or(&""));
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times.get(((times.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(0.0);
    println!(
        "{engine_name}, gateway path: intent accuracy {ok}/{total} = {:.1} %; false intents on {negatives} negative clips: {false_pos}; \
         VAD end -> final p50 {:.0} ms, p95 {:.0} ms",
        100.0 * ok as f64 / total.max(1) as f64,
        pct(0.5),
        pct(0.95)
    );
    Ok(())
}
