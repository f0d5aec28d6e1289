//! Decodes WAV files (16 kHz mono s16) with the built-in Whisper recogniser
//! and the demo menu's phrases as prompt (or the Spanish menu's with `--es`,
//! Whisper base); prints text, confidence and decode time.
//!
//!     cargo run --release -p media --example whisper_decode -- a.wav b.wav [--digits] [--threads N] [--es]

use std::time::Instant;

use media::asr::whisper::{WhisperConfig, WhisperRecognizer};
use media::asr::Grammar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.iter().position(|a| a == "--threads").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok()).unwrap_or(2);
    let spanish = args.iter().any(|a| a == "--es");
    let mut cfg = WhisperConfig { decoders: 1, threads, ..WhisperConfig::default() };
    if spanish {
        cfg.models.insert("es".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/../target/whisper-models/base").into());
    }
    let asr = WhisperRecognizer::new(&cfg)?;
    let language = if spanish { "es-AR" } else { "en-US" };
    let mut g = if spanish {
        Grammar::from_phrases([
            ("sales", "ventas"),
            ("sales", "comprar"),
            ("support", "soporte"),
            ("support", "ayuda"),
            ("agent", "agente"),
            ("agent", "asesor"),
            ("agent", "hablar con una persona"),
        ])
    } else {
        Grammar::from_phrases([
            ("sales", "sales"),
            ("sales", "buy"),
            ("sales", "pricing"),
            ("support", "support"),
            ("support", "help"),
            ("agent", "agent"),
            ("agent", "person"),
            ("agent", "human"),
            ("agent", "representative"),
        ])
    };
    g.yes_no = true;
    if args.iter().any(|a| a == "--digits") {
        g = Grammar { digits: true, ..Grammar::default() };
    }
    for path in args.iter().filter(|a| a.ends_with(".wav")) {
        let mut reader = hound::WavReader::open(path)?;
        let pcm: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>()?;
        let t = Instant::now();
        let (text, conf) = asr.recognize(&g, language, &pcm)?;
        println!("{path}\t{text:?}\t{conf:.2}\t{} ms", t.elapsed().as_millis());
    }
    Ok(())
}
