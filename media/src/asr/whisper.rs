//! The built-in Whisper recogniser (`[speech] asr = "builtin"`, the embedded
//! default, or `asr = "whisper"`; issue #14): OpenAI's Whisper in-process
//! through CTranslate2 (crate `ct2rs`, C++ built once by
//! `scripts/install-ct2.sh`), int8 weights, no Python and no network.
//!
//! Models: one CTranslate2 Whisper folder per language (primary subtag), from
//! `[speech.builtin] models` or, for English, the folder
//! `scripts/install-whisper-models.sh` installs (`target/whisper-models/
//! tiny.en`, baked in at build time; `CENTRALITA_WHISPER_MODEL_DIR`
//! overrides it). A language without a model fails `start` with a config
//! error (the call then falls back to keys).
//!
//! Decoding. Whisper is not a streaming recogniser: each stream buffers the
//! utterance (at most 30 s, the model's window) on a thread of its own and
//! decodes it at end of speech, greedy, with the gather's phrases (yes/no and
//! digit words when asked) as the previous-text prompt, which biases the
//! model toward the words the flow listens for. No partials are sent. The
//! text comes back with numerals spelt as digit words of the language
//! ("42" → "four two"; "10" → "ten"), so digit gathers and the flows'
//! phrase matching see words. An utterance the model scores as no speech
//! (`no_speech_prob` > 0.6 with an average log-probability < −1, the rule
//! of OpenAI's and faster-whisper's transcribe) is an empty final.
//! Confidence: the geometric mean of the decoded tokens' probabilities
//! (end of text included), i.e. `exp(avg_logprob)`.
//!
//! Speculation (issue #14: the turn must not be endpoint + decode in
//! series). The stream watches its own audio for a pause: 200 ms of frames
//! 15 dB under the utterance's loudest (or under −50 dBFS) after words.
//! Then, if a decoder is free, it decodes what it has at once and sends
//! the text as a partial (which lets the call's `complete_timeout_ms`
//! shorten the end-of-speech wait when it holds a gather phrase). If only
//! quiet follows until the VAD's end of speech, that decode is the final;
//! if the caller goes on, it is dropped and the next pause (or the end)
//! decodes again. So the final comes about max(endpoint, pause + decode)
//! after the words instead of endpoint + decode.
//!
//! Threads and admission. The decode itself runs in CTranslate2's replica
//! threads: `decoders` replicas (concurrent decodes) of `threads` CPU
//! threads each, created once at startup — never a media shard or a Tokio
//! worker. The stream's own thread only buffers audio and waits. An
//! utterance that ends while all `decoders` are busy is not queued: its
//! stream ends with an [`AsrError::Busy`](super::AsrError) error and the
//! call falls back to keys with the spoken hint (counted by the gateway's
//! `centralita_asr_fallbacks`), so a burst degrades to DTMF instead of
//! piling up seconds of latency.

mod mel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct2rs::sys::{ComputeType, Config as Ct2Config, Device, StorageView, Whisper as Ct2Whisper, WhisperOptions};
use ct2rs::tokenizers::hf::Tokenizer;
use serde::Deserialize;

use super::config::primary_language;
use super::{stream_pair, AsrError, AsrEvent, AsrInput, Grammar, Recognizer, RecognizerStream, DEFAULT_SAMPLE_RATE};
use mel::MelExtractor;

const ENGINE: &str = "whisper";

/// The English model `scripts/install-whisper-models.sh` installs.
pub fn default_english_model() -> PathBuf {
    std::env::var_os("CENTRALITA_WHISPER_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/whisper-models/tiny.en")))
}

/// `[speech.builtin]`: the built-in Whisper recogniser's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhisperConfig {
    /// Model folder per language (primary subtag: `en`, `es`); `en`
    /// defaults to [`default_english_model`].
    pub models: BTreeMap<String, PathBuf>,
    /// Utterances decoded at once (CTranslate2 replicas, one model copy
    /// each); an utterance ending while all are busy falls back to keys.
    pub decoders: usize,
    /// CPU threads per decode.
    pub threads: usize,
    /// Beam width (1 = greedy, the fastest).
    pub beam_size: usize,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self { models: BTreeMap::new(), decoders: 2, threads: 2, beam_size: 1 }
    }
}

impl WhisperConfig {
    /// The model folder of each configured language, English included.
    pub fn model_dirs(&self) -> BTreeMap<String, PathBuf> {
        let mut dirs: BTreeMap<String, PathBuf> = self.models.iter().map(|(lang, dir)| (primary_language(lang), dir.clone())).collect();
        dirs.entry("en".into()).or_insert_with(default_english_model);
        dirs
    }
}

/// One loaded model.
struct Model {
    whisper: Ct2Whisper,
    tokenizer: Tokenizer,
    mel: MelExtractor,
    multilingual: bool,
}

/// The built-in Whisper recogniser. Cheap to clone and share.
#[derive(Clone)]
pub struct WhisperRecognizer {
    models: Arc<BTreeMap<String, Arc<Model>>>,
    decoders: usize,
    beam_size: usize,
    busy: Arc<AtomicUsize>,
    rejected: Arc<AtomicUsize>,
}

impl std::fmt::Debug for WhisperRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperRecognizer")
            .field("languages", &self.models.keys().collect::<Vec<_>>())
            .field("decoders", &self.decoders)
            .finish_non_exhaustive()
    }
}

fn engine_err(e: impl std::fmt::Display) -> AsrError {
    AsrError::Engine { engine: ENGINE, source: e.to_string().into() }
}

impl WhisperRecognizer {
    /// Loads every configured model now, so a missing one fails at startup.
    pub fn new(config: &WhisperConfig) -> Result<Self, AsrError> {
        if config.decoders == 0 || config.threads == 0 || config.beam_size == 0 {
            return Err(AsrError::Config {
                engine: ENGINE,
                field: "decoders",
                reason: "decoders, threads and beam_size must be at least 1".into(),
            });
        }
        let mut models = BTreeMap::new();
        for (lang, dir) in config.model_dirs() {
            models.insert(lang, Arc::new(Model::load(&dir, config)?));
        }
        Ok(Self {
            models: Arc::new(models),
            decoders: config.decoders,
            beam_size: config.beam_size,
            busy: Arc::default(),
            rejected: Arc::default(),
        })
    }

    /// The languages (primary subtags) with a model.
    pub fn languages(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// Utterances refused because every decoder was busy, since startup.
    pub fn rejected(&self) -> usize {
        self.rejected.load(Ordering::Relaxed)
    }

    fn model(&self, language: &str) -> Result<Arc<Model>, AsrError> {
        let lang = primary_language(language);
        self.models.get(&lang).cloned().ok_or_else(|| AsrError::Config {
            engine: ENGINE,
            field: "models",
            reason: format!("{language}: no Whisper model for this language ([speech.builtin] models)"),
        })
    }

    /// Decodes one whole utterance (16 kHz mono) on the calling thread, with
    /// the same admission as a stream. Returns `(text, confidence)`.
    pub fn recognize(&self, grammar: &Grammar, language: &str, samples: &[i16]) -> Result<(String, f32), AsrError> {
        let model = self.model(language)?;
        let prompt = Prompt::new(&model, grammar, language)?;
        let _slot = self.admit()?;
        model.decode(&prompt, samples, self.beam_size)
    }

    /// A decoder slot if one is free, without counting a refusal (the
    /// speculative decodes).
    fn try_admit(&self) -> Option<Slot> {
        if self.busy.fetch_add(1, Ordering::AcqRel) >= self.decoders {
            self.busy.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(Arc::clone(&self.busy)))
    }

    /// A decoder slot, or `Busy` when all `decoders` are decoding.
    fn admit(&self) -> Result<Slot, AsrError> {
        if self.busy.fetch_add(1, Ordering::AcqRel) >= self.decoders {
            self.busy.fetch_sub(1, Ordering::AcqRel);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(AsrError::Busy { engine: ENGINE, limit: self.decoders });
        }
        Ok(Slot(Arc::clone(&self.busy)))
    }
}

/// A decode's `(text, confidence)`.
type Decoded = Result<(String, f32), AsrError>;

/// A decoder in use until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Model {
    fn load(dir: &Path, config: &WhisperConfig) -> Result<Self, AsrError> {
        if !dir.join("model.bin").is_file() {
            return Err(AsrError::Config {
                engine: ENGINE,
                field: "models",
                reason: format!("{}: no model.bin (run scripts/install-whisper-models.sh)", dir.display()),
            });
        }
        let ct2 = Ct2Config {
            device: Device::CPU,
            compute_type: ComputeType::INT8,
            device_indices: vec![0; config.decoders],
            num_threads_per_replica: config.threads,
            ..Ct2Config::default()
        };
        let whisper = Ct2Whisper::new(dir, ct2).map_err(engine_err)?;
        let tokenizer = Tokenizer::new(dir).map_err(engine_err)?;
        let n_mels = n_mels(dir).unwrap_or(80);
        let multilingual = whisper.is_multilingual();
        Ok(Self { whisper, tokenizer, mel: MelExtractor::new(n_mels), multilingual })
    }

    fn decode(&self, prompt: &Prompt, samples: &[i16], beam_size: usize) -> Result<(String, f32), AsrError> {
        let audio: Vec<f32> = samples.iter().take(mel::N_SAMPLES).map(|&s| f32::from(s) / 32768.0).collect();
        let mut features = self.mel.features(&audio);
        let n_mels = features.len() / mel::FRAMES;
        let view = StorageView::new(&[1, n_mels, mel::FRAMES], &mut features, Device::CPU).map_err(engine_err)?;
        let options = WhisperOptions {
            beam_size,
            // Prompt + answer; a phone utterance is a few dozen tokens, and
            // a hallucinating loop on noise stops here instead of at 448.
            max_length: prompt.tokens.len() + 96,
            return_scores: true,
            return_no_speech_prob: true,
            ..WhisperOptions::default()
        };
        let results = self.whisper.generate(&view, std::slice::from_ref(&prompt.tokens), &options).map_err(engine_err)?;
        let Some(result) = results.into_iter().next() else { return Ok((String::new(), 0.0)) };
        let Some(ids) = result.sequences_ids.into_iter().next() else { return Ok((String::new(), 0.0)) };
        // CTranslate2's score is the sum of every step's log-probability,
        // the end-of-text step included, divided by the text's token count;
        // the average over all scored steps is faster-whisper's avg_logprob.
        let n = ids.len() as f32;
        let avg_logprob = result.scores.first().copied().unwrap_or(0.0) * n / (n + 1.0);
        if result.no_speech_prob > 0.6 && avg_logprob < -1.0 {
            return Ok((String::new(), 0.0));
        }
        let ids: Vec<u32> = ids.into_iter().filter_map(|id| u32::try_from(id).ok()).collect();
        let text = self.tokenizer.decode(&ids, true).map_err(engine_err)?;
        let text = spell_numerals(text.trim(), &prompt.language);
        if text.chars().all(|c| !c.is_alphanumeric()) {
            return Ok((String::new(), 0.0));
        }
        Ok((text, avg_logprob.exp().clamp(0.0, 1.0)))
    }
}

/// `num_mel_bins` of the model's config.json (80 for all but large-v3).
fn n_mels(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("preprocessor_config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("feature_size")?.as_u64().map(|n| n as usize)
}

/// The decoder's start tokens for one gather: the phrases as previous text,
/// then the task.
struct Prompt {
    tokens: Vec<String>,
    language: String,
}

impl Prompt {
    fn new(model: &Model, grammar: &Grammar, language: &str) -> Result<Self, AsrError> {
        let lang = primary_language(language);
        let mut tokens = Vec::new();
        let hints = grammar.hint_phrases(language);
        if !hints.is_empty() {
            let text = format!(" {}.", hints.join(", "));
            let encoding = model.tokenizer.encode(text, false).map_err(engine_err)?;
            let words = encoding.get_tokens();
            // Whisper keeps at most half its 448-token context for the prompt.
            let words = &words[words.len().saturating_sub(223)..];
            tokens.push("<|startofprev|>".to_owned());
            tokens.extend(words.iter().cloned());
        }
        tokens.push("<|startoftranscript|>".to_owned());
        if model.multilingual {
            tokens.push(format!("<|{lang}|>"));
        }
        tokens.push("<|transcribe|>".to_owned());
        tokens.push("<|notimestamps|>".to_owned());
        Ok(Self { tokens, language: lang })
    }
}

/// Numerals as digit words: each run of digits said digit by digit
/// ("1234" → "one two three four"), except "10" → "ten" (survey scores).
fn spell_numerals(text: &str, language: &str) -> String {
    let words: [&str; 11] = match language {
        "es" => ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"],
        "pt" => ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"],
        _ => ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let mut run = String::from(c);
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            run.push(d);
            chars.next();
        }
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        if run == "10" {
            out.push_str(words[10]);
        } else {
            let spelt: Vec<&str> = run.bytes().map(|b| words[usize::from(b - b'0')]).collect();
            out.push_str(&spelt.join(" "));
        }
        if chars.peek().is_some_and(|n| n.is_alphanumeric()) {
            out.push(' ');
        }
    }
    out
}

impl Recognizer for WhisperRecognizer {
    fn name(&self) -> &'static str {
        ENGINE
    }

    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError> {
        let model = self.model(language)?;
        let prompt = Prompt::new(&model, grammar, language)?;
        let (stream, mut io) = stream_pair(DEFAULT_SAMPLE_RATE);
        let this = self.clone();
        std::thread::Builder::new()
            .name("asr-whisper".into())
            .spawn(move || {
                let mut audio: Vec<i16> = Vec::with_capacity(DEFAULT_SAMPLE_RATE as usize * 5);
                let mut pauses = Pauses::default();
                // A decode of `audio[..len]` made at a tentative end, kept
                // while nothing but quiet has come since.
                let mut speculative: Option<(usize, Decoded)> = None;
                loop {
                    match io.blocking_recv() {
                        Some(AsrInput::Audio(buf)) => {
                            let room = mel::N_SAMPLES.saturating_sub(audio.len());
                            let take = buf.len().min(room);
                            audio.extend_from_slice(&buf[..take]);
                            if pauses.feed(&buf[..take]) {
                                speculative = None; // the caller went on
                            }
                            io.recycle(buf);
                            if speculative.is_none() && pauses.tentative_end() {
                                // Only with a free decoder: speculation never
                                // takes one from an utterance that has ended.
                                if let Some(_slot) = this.try_admit() {
                                    let started = Instant::now();
                                    let result = model.decode(&prompt, &audio, this.beam_size);
                                    log_decode(started.elapsed(), audio.len(), &result);
                                    if let Ok((text, _)) = &result {
                                        if !text.is_empty() {
                                            io.partial(text.clone());
                                        }
                                    }
                                    speculative = Some((audio.len(), result));
                                }
                            }
                        }
                        Some(AsrInput::EndOfSpeech) => {
                            let event = match speculative.take() {
                                // Only quiet since the speculative decode: its
                                // result stands (issue #14: the turn is not
                                // endpoint + decode in series).
                                Some((_, Ok((text, confidence)))) => AsrEvent::Final { text, confidence },
                                _ => match this.admit() {
                                    Ok(_slot) => {
                                        let started = Instant::now();
                                        let result = model.decode(&prompt, &audio, this.beam_size);
                                        log_decode(started.elapsed(), audio.len(), &result);
                                        match result {
                                            Ok((text, confidence)) => AsrEvent::Final { text, confidence },
                                            Err(e) => AsrEvent::Error(e),
                                        }
                                    }
                                    Err(e) => AsrEvent::Error(e),
                                },
                            };
                            io.blocking_finish(event);
                            return;
                        }
                        None => return, // cancelled
                    }
                }
            })
            .map_err(|e| AsrError::Engine { engine: ENGINE, source: Box::new(e) })?;
        Ok(stream)
    }
}

/// Silence after the words that starts a speculative decode.
const TENTATIVE_END_SAMPLES: usize = DEFAULT_SAMPLE_RATE as usize / 5; // 200 ms
/// A 20 ms frame at 16 kHz.
const FRAME: usize = DEFAULT_SAMPLE_RATE as usize / 50;
/// Frames this far below the utterance's loudest are quiet.
const QUIET_BELOW_PEAK_DB: f32 = 15.0;
/// Frames below this are quiet whatever the peak (and an utterance that
/// never rises above it has no words to speculate on).
const QUIET_DBFS: f32 = -50.0;

/// The stream's own view of pauses, for speculation only (the VAD in the
/// speech tap still decides the end of the utterance): a frame is quiet
/// when it is 15 dB under the loudest frame so far, or under −50 dBFS.
#[derive(Default)]
struct Pauses {
    peak_db: Option<f32>,
    quiet_samples: usize,
    partial: Vec<i16>,
}

impl Pauses {
    /// Feeds audio; true when a loud frame came (the caller is talking).
    fn feed(&mut self, samples: &[i16]) -> bool {
        let mut loud = false;
        self.partial.extend_from_slice(samples);
        let whole = self.partial.len() / FRAME * FRAME;
        for frame in self.partial[..whole].chunks(FRAME) {
            let energy = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / FRAME as f64;
            let db = (10.0 * (energy.max(1.0) / (32768.0f64 * 32768.0)).log10()) as f32;
            let peak = self.peak_db.map_or(db, |p| p.max(db));
            self.peak_db = Some(peak);
            if db < QUIET_DBFS.max(peak - QUIET_BELOW_PEAK_DB) {
                self.quiet_samples += FRAME;
            } else {
                self.quiet_samples = 0;
                loud = true;
            }
        }
        self.partial.drain(..whole);
        loud
    }

    /// Words were said and 200 ms of quiet followed them.
    fn tentative_end(&self) -> bool {
        self.peak_db.is_some_and(|p| p > QUIET_DBFS) && self.quiet_samples >= TENTATIVE_END_SAMPLES
    }
}

fn log_decode(took: Duration, samples: usize, result: &Result<(String, f32), AsrError>) {
    let audio_ms = samples as u64 * 1000 / u64::from(DEFAULT_SAMPLE_RATE);
    match result {
        Ok((text, confidence)) => tracing::debug!(took_ms = took.as_millis() as u64, audio_ms, %text, confidence, "whisper decode"),
        Err(e) => tracing::warn!(took_ms = took.as_millis() as u64, audio_ms, error = %e, "whisper decode failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerals_become_digit_words() {
        assert_eq!(spell_numerals("42", "en"), "four two");
        assert_eq!(spell_numerals("1, 2, 3, 4.", "en"), "one, two, three, four.");
        assert_eq!(spell_numerals("1234", "en"), "one two three four");
        assert_eq!(spell_numerals("I'd give it a 10", "en"), "I'd give it a ten");
        assert_eq!(spell_numerals("Option 2please", "en"), "Option two please");
        assert_eq!(spell_numerals("0", "es"), "cero");
        assert_eq!(spell_numerals("sales", "en"), "sales");
    }

    #[test]
    fn decodes_beyond_the_limit_are_refused_not_queued() {
        let r = WhisperRecognizer { models: Arc::default(), decoders: 2, beam_size: 1, busy: Arc::default(), rejected: Arc::default() };
        let a = r.admit().unwrap();
        let _b = r.admit().unwrap();
        assert!(matches!(r.admit(), Err(AsrError::Busy { limit: 2, .. })));
        assert_eq!(r.rejected(), 1);
        drop(a);
        assert!(r.admit().is_ok());
    }

    #[test]
    fn a_pause_after_words_is_a_tentative_end_and_talk_resets_it() {
        let tone = |ms: usize, amp: f32| -> Vec<i16> { (0..ms * 16).map(|i| (amp * (i as f32 * 0.3).sin()) as i16).collect() };
        let mut p = Pauses::default();
        assert!(!p.feed(&tone(300, 0.0)), "silence is not talk");
        assert!(!p.tentative_end(), "no words yet");
        assert!(p.feed(&tone(500, 8000.0)));
        assert!(!p.feed(&tone(100, 300.0)), "28 dB under the words is quiet");
        assert!(!p.tentative_end(), "100 ms is not a pause");
        assert!(!p.feed(&tone(100, 0.0)));
        assert!(p.tentative_end(), "200 ms after words");
        assert!(p.feed(&tone(40, 6000.0)), "the caller goes on");
        assert!(!p.tentative_end());
    }

    #[test]
    fn english_model_defaults_and_languages_normalise() {
        let mut cfg = WhisperConfig::default();
        cfg.models.insert("es-AR".into(), PathBuf::from("/m/base"));
        let dirs = cfg.model_dirs();
        assert_eq!(dirs.keys().collect::<Vec<_>>(), ["en", "es"]);
        assert_eq!(dirs["es"], PathBuf::from("/m/base"));
    }
}
