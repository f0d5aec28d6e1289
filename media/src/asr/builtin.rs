//! The built-in offline recogniser (`[speech] asr = "builtin"`, the embedded
//! default): PocketSphinx 5.1.1 in-process (crate `pocketsphinx-sys`), no
//! network.
//!
//! Each `start()` compiles the gather's [`Grammar`] — its intent phrases,
//! plus yes/no and spoken digits when asked — to a JSGF keyword grammar and
//! decodes the utterance on a dedicated OS thread (never a Tokio worker: a
//! decode is CPU-bound, ~50–200 ms per utterance). Decoders (~100 ms and
//! ~20 MB to load the en-US model) are kept in a small pool and reused.
//!
//! Input: 16 kHz mono. Partials are sent when the hypothesis changes; the
//! final is `{ text: hypothesis words, confidence: posterior 0..=1 }`,
//! empty text (confidence 0) when nothing in the grammar was heard.
//!
//! Languages: en-US only. The PyPI/sdist package ships only the en-US
//! acoustic model; other languages fail `start` with a config error (Spanish
//! would need CMU's `cmusphinx-es-5.2` model and a Spanish dictionary,
//! downloaded by the install script).
//!
//! Model directory: baked in at build time (`target/pocketsphinx/model/en-us`
//! from `scripts/install-pocketsphinx.sh`), overridden by
//! `CENTRALITA_ASR_MODEL_DIR`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pocketsphinx_sys::grammar::KeywordGrammar;
use pocketsphinx_sys::{default_model_dir, Decoder};

use super::{stream_pair, AsrError, AsrEvent, AsrInput, Grammar, Recognizer, RecognizerStream, DEFAULT_SAMPLE_RATE};

const ENGINE: &str = "builtin";
/// Idle decoders kept for reuse.
const POOL: usize = 8;
/// Decoders in use at once (each ~20 MB and a thread). Past it `start`
/// fails with `Busy` and the call falls back to keys (counted by the
/// gateway), so a busy box degrades instead of running out of memory.
pub const MAX_ACTIVE: usize = 16;

/// The built-in recogniser. Cheap to share (`Arc<dyn Recognizer>`).
#[derive(Clone)]
pub struct BuiltinRecognizer {
    model_dir: PathBuf,
    pool: Arc<Mutex<Vec<Decoder>>>,
    active: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a decoder in use until dropped (its thread ends).
struct ActiveSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for ActiveSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl std::fmt::Debug for BuiltinRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinRecognizer").field("model_dir", &self.model_dir).finish_non_exhaustive()
    }
}

impl BuiltinRecognizer {
    /// Loads one decoder now, so a missing model fails at startup.
    pub fn new() -> Result<Self, AsrError> {
        Self::with_model_dir(default_model_dir())
    }

    pub fn with_model_dir(model_dir: PathBuf) -> Result<Self, AsrError> {
        let first = Decoder::new(&model_dir).map_err(engine_err)?;
        Ok(Self { model_dir, pool: Arc::new(Mutex::new(vec![first])), active: Arc::default() })
    }

    fn take_decoder(&self) -> Result<Decoder, AsrError> {
        let pooled = self.pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        match pooled {
            Some(d) => Ok(d),
            None => Decoder::new(&self.model_dir).map_err(engine_err),
        }
    }

    /// Decodes one whole utterance synchronously (tests, the eval, the
    /// simulator). Returns `(text, confidence)`.
    pub fn recognize(&self, grammar: &Grammar, language: &str, samples: &[i16]) -> Result<(String, f32), AsrError> {
        let jsgf = compile(grammar, language)?;
        let mut dec = self.take_decoder()?;
        dec.set_jsgf("gather", &jsgf).map_err(engine_err)?;
        let hyp = dec.decode(samples).map_err(engine_err)?;
        give_back(&self.pool, dec);
        Ok(final_of(hyp))
    }
}

/// The JSGF of a gather's grammar (en-US).
pub fn compile(grammar: &Grammar, language: &str) -> Result<String, AsrError> {
    let lang = language.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    if lang != "en" {
        return Err(AsrError::Config { engine: ENGINE, field: "language", reason: format!("{language}: only en-US has a model") });
    }
    let mut g = KeywordGrammar::new();
    for p in &grammar.phrases {
        g = g.phrase(&p.intent, &p.text);
    }
    if grammar.yes_no {
        g = g.yes_no();
    }
    if grammar.digits {
        g = g.digits();
    }
    Ok(g.to_jsgf())
}

fn engine_err(e: pocketsphinx_sys::Error) -> AsrError {
    AsrError::Engine { engine: ENGINE, source: Box::new(e) }
}

fn give_back(pool: &Mutex<Vec<Decoder>>, dec: Decoder) {
    if let Ok(mut p) = pool.lock() {
        if p.len() < POOL {
            p.push(dec);
        }
    }
}

fn final_of(hyp: Option<pocketsphinx_sys::Hypothesis>) -> (String, f32) {
    match hyp {
        Some(h) if !h.text.is_empty() => (h.text, h.posterior as f32),
        _ => (String::new(), 0.0),
    }
}

impl Recognizer for BuiltinRecognizer {
    fn name(&self) -> &'static str {
        ENGINE
    }

    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError> {
        let jsgf = compile(grammar, language)?;
        use std::sync::atomic::Ordering;
        if self.active.fetch_add(1, Ordering::AcqRel) >= MAX_ACTIVE {
            self.active.fetch_sub(1, Ordering::AcqRel);
            let busy = std::io::Error::other(format!("all {MAX_ACTIVE} built-in decoders are busy"));
            return Err(AsrError::Engine { engine: ENGINE, source: Box::new(busy) });
        }
        let slot = ActiveSlot(Arc::clone(&self.active));
        let mut dec = self.take_decoder()?;
        dec.set_jsgf("gather", &jsgf).map_err(engine_err)?;
        dec.start_utt().map_err(engine_err)?;
        let (stream, mut io) = stream_pair(DEFAULT_SAMPLE_RATE);
        let pool = Arc::clone(&self.pool);
        std::thread::Builder::new()
            .name("asr-builtin".into())
            .spawn(move || {
                let _slot = slot;
                let mut last = String::new();
                loop {
                    match io.blocking_recv() {
                        Some(AsrInput::Audio(buf)) => {
                            let r = dec.process_raw(&buf, false);
                            io.recycle(buf);
                            if let Err(e) = r {
                                io.blocking_finish(AsrEvent::Error(engine_err(e)));
                                return; // decoder in an unknown state: not pooled
                            }
                            if let Some(h) = dec.hyp() {
                                if h.text != last && !h.text.is_empty() {
                                    last.clone_from(&h.text);
                                    io.partial(h.text);
                                }
                            }
                        }
                        Some(AsrInput::EndOfSpeech) => {
                            let event = match dec.end_utt() {
                                Ok(()) => {
                                    let (text, confidence) = final_of(dec.hyp());
                                    AsrEvent::Final { text, confidence }
                                }
                                Err(e) => AsrEvent::Error(engine_err(e)),
                            };
                            give_back(&pool, dec);
                            io.blocking_finish(event);
                            return;
                        }
                        None => {
                            // Cancelled: close the utterance, keep the decoder.
                            if dec.end_utt().is_ok() {
                                give_back(&pool, dec);
                            }
                            return;
                        }
                    }
                }
            })
            .map_err(|e| AsrError::Engine { engine: ENGINE, source: Box::new(e) })?;
        Ok(stream)
    }
}
