//! Decodes the corpus of `scripts/asr_eval.py` with the demo flow's intents
//! and prints intent accuracy, false intents on negative clips and decode
//! time percentiles.
//!
//!     python3 scripts/asr_eval.py target/asr-eval
//!     cargo run --release -p pocketsphinx-sys --example eval -- target/asr-eval [--split] [-v]
use pocketsphinx_sys::grammar::KeywordGrammar;
use pocketsphinx_sys::{default_model_dir, Decoder};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or("target/asr-eval"));
    let verbose = args.iter().any(|a| a == "-v");
    let intents = || {
        KeywordGrammar::new()
            .phrase("sales", "sales")
            .phrase("sales", "buy")
            .phrase("sales", "pricing")
            .phrase("support", "support")
            .phrase("support", "help")
            .phrase("agent", "agent")
            .phrase("agent", "person")
            .phrase("agent", "human")
            .phrase("agent", "representative")
            .yes_no()
    };
    // `combined`: one grammar with intents, yes/no and digit runs (a gather
    // with speech + spoken digits). `split`: what a flow usually asks for —
    // intents + yes/no for phrase clips, digits only for digit clips.
    let split = args.iter().any(|a| a == "--split");
    let combined = intents().digits();
    let intents_only = intents();
    let digits_only = KeywordGrammar::new().digits();
    // PS_OPTIONS="dither=yes;remove_noise=no": extra decoder parameters.
    let opts_env = std::env::var("PS_OPTIONS").unwrap_or_default();
    let options: Vec<(&str, &str)> = opts_env.split(';').filter_map(|kv| kv.split_once('=')).collect();
    let fold = args.iter().any(|a| a == "--fold");
    let t = Instant::now();
    let mut dec = Decoder::with_options(&default_model_dir(), &options)?;
    dec.set_jsgf("combined", &combined.to_jsgf())?;
    let mut dec_i = Decoder::with_options(&default_model_dir(), &options)?;
    dec_i.set_jsgf("intents", &intents_only.to_jsgf())?;
    let mut dec_d = Decoder::with_options(&default_model_dir(), &options)?;
    dec_d.set_jsgf("digits", &digits_only.to_jsgf())?;
    println!(
        "3 decoders (model load + grammar): {:.0} ms; mode {}",
        t.elapsed().as_secs_f64() * 1e3,
        if split { "split" } else { "combined" }
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))?;
    let (mut ok, mut total, mut false_pos, mut negatives) = (0, 0, 0, 0);
    let mut per_cond: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    let mut times = Vec::new();
    for line in manifest.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, label, cond) = (f[0], f[1], f[2]);
        let mut r = hound::WavReader::open(dir.join(name))?;
        assert_eq!(r.spec().sample_rate, 16_000, "{name}: 16 kHz expected");
        let mut samples: Vec<i16> = r.samples::<i16>().collect::<Result<_, _>>()?;
        if args.iter().any(|a| a == "--rate8k") {
            // Band-limited below 4 kHz already: plain decimation is exact enough.
            samples = samples.iter().step_by(2).copied().collect();
        }
        if fold {
            // Zero-stuffing 8 kHz -> 16 kHz without the anti-imaging filter:
            // the 0-4 kHz band mirrors into 4-8 kHz.
            samples = samples.iter().step_by(2).flat_map(|&s| [s.saturating_mul(2), 0]).collect();
        }
        let (dec, grammar) = match (split, label.starts_with("digits:")) {
            (false, _) => (&mut dec, &combined),
            (true, true) => (&mut dec_d, &digits_only),
            (true, false) => (&mut dec_i, &intents_only),
        };
        let t = Instant::now();
        let hyp = if std::env::var_os("STREAM").is_some() {
            // As the recogniser thread feeds it: 100 ms chunks, not a whole utterance.
            dec.start_utt()?;
            for c in samples.chunks(1600) {
                dec.process_raw(c, false)?;
            }
            dec.end_utt()?;
            dec.hyp()
        } else {
            dec.decode(&samples)?
        };
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if std::env::var_os("SHOW_CMN").is_some() {
            println!("CMN {name}: {:?}", dec.cmn(false));
        }
        let text = hyp.as_ref().map(|h| h.text.clone()).unwrap_or_default();
        let conf = hyp.as_ref().map(|h| h.posterior).unwrap_or(0.0);
        let got = grammar.manifest_label(&text);
        if label == "-" {
            negatives += 1;
            if got != "-" {
                false_pos += 1;
                println!("FALSE  {name}: {text:?} ({conf:.2})");
            }
            continue;
        }
        total += 1;
        let e = per_cond.entry(format!("{cond} {}", f[3])).or_default();
        e.1 += 1;
        if got == label {
            ok += 1;
            e.0 += 1;
        } else if verbose {
            println!("MISS   {name} [{cond} {} {}] {:?} -> {text:?} ({got}, {conf:.2})", f[3], f[4], f.get(5).unwrap_or(&""));
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    for (k, (o, n)) in &per_cond {
        println!("  {k:<22} {o}/{n}");
    }
    println!(
        "intent accuracy {ok}/{total} = {:.1} %; false intents on {negatives} negative clips: {false_pos}; decode p50 {:.0} ms, p95 {:.0} ms",
        100.0 * ok as f64 / total.max(1) as f64, pct(0.5), pct(0.95)
    );
    Ok(())
}
