//! Speech for calls (issue #5): prompt rendering — TTS through the
//! configured engine with the shared on-disk cache, falling back to cached
//! audio and then the built-in voice when a vendor engine fails (counted in
//! `centralita_tts_fallbacks`), and WAV prompts from the library, always at
//! the G.711 rate (8 kHz) the media leg packetises — and the recogniser
//! chosen by `[speech].asr`.
//!
//! Engines by name (`[speech].tts` / `.asr`), each with its own table:
//! TTS `builtin` (espeak-ng), `openai` (`[speech.openai_tts]`),
//! `elevenlabs` (`[speech.elevenlabs]`); ASR `builtin` (offline
//! PocketSphinx), `vosk` (`[speech.vosk]`), `openai` (`[speech.openai]`),
//! `deepgram` (`[speech.deepgram]`), `none`.

use std::sync::Arc;

use media::asr::Recognizer;
use media::Pcm;
use prompts::{EspeakSynthesizer, FallbackSynthesizer, PromptCache, PromptId, PromptLibrary, StreamingSynthesizer, Synthesizer, Voice};

use crate::config::Config;

use crate::prompt_stream::{PromptStream, CALL_RATE};

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("unknown TTS engine {0:?} (available: builtin, openai, elevenlabs)")]
    UnknownTts(String),
    #[error("unknown ASR engine {0:?} (available: builtin, vosk, openai, deepgram, none)")]
    UnknownAsr(String),
    #[error("[speech].{engine} = {name:?} needs its [speech.{table}] table")]
    MissingTable { engine: &'static str, name: String, table: &'static str },
    #[error(transparent)]
    Tts(#[from] prompts::TtsError),
    #[error(transparent)]
    Asr(#[from] media::AsrError),
    #[error(transparent)]
    Prompt(#[from] prompts::PromptError),
    #[error(transparent)]
    Media(#[from] media::MediaError),
}

/// How prompts are spoken: the built-in voice alone, or a vendor engine
/// with the built-in voice as its fallback.
#[derive(Clone)]
enum Tts {
    Builtin(Arc<dyn Synthesizer>),
    Vendor(Arc<FallbackSynthesizer>),
}

#[derive(Clone)]
pub struct Prompter {
    tts: Tts,
    cache: Arc<PromptCache>,
    library: Arc<PromptLibrary>,
    /// A call-time prompt from a vendor engine must start this soon, else
    /// the built-in voice says it (`[speech].tts_first_chunk_ms`).
    first_chunk: std::time::Duration,
}

impl Prompter {
    pub fn from_config(cfg: &Config) -> Result<Self, SpeechError> {
        let vendor = |primary: Arc<dyn StreamingSynthesizer>| Tts::Vendor(Arc::new(FallbackSynthesizer::new(primary)));
        let tts = match cfg.speech.tts.as_str() {
            "builtin" | "espeak" | "espeak-ng" => Tts::Builtin(Arc::new(EspeakSynthesizer::new())),
            "openai" => {
                let table = cfg.speech.openai_tts.clone().ok_or_else(|| missing("tts", "openai", "openai_tts"))?;
                vendor(Arc::new(prompts::OpenAiSynthesizer::new(table)?))
            }
            "elevenlabs" => {
                let table = cfg.speech.elevenlabs.clone().ok_or_else(|| missing("tts", "elevenlabs", "elevenlabs"))?;
                vendor(Arc::new(prompts::ElevenLabsSynthesizer::new(table)?))
            }
            other => return Err(SpeechError::UnknownTts(other.into())),
        };
        Ok(Self {
            tts,
            cache: Arc::new(PromptCache::new(cfg.prompts.cache_dir.clone())),
            library: Arc::new(PromptLibrary::new(cfg.prompts.dir.clone())),
            first_chunk: std::time::Duration::from_millis(cfg.speech.tts_first_chunk_ms.max(1)),
        })
    }

    pub async fn say(&self, text: &str, language: &str) -> Result<Pcm, SpeechError> {
        let voice = Voice { language: language.to_string(), name: None, rate_wpm: None };
        let started = std::time::Instant::now();
        let pcm = match &self.tts {
            Tts::Builtin(synth) => self.cache.get_or_synthesize(synth.as_ref(), text, &voice, CALL_RATE).await?,
            Tts::Vendor(fallback) => {
                let before = fallback.fallback_count();
                let rendered = fallback.render(&self.cache, text, &voice, CALL_RATE).await?;
                let m = crate::metrics::metrics();
                m.tts_fallbacks.inc_by(fallback.fallback_count().saturating_sub(before));
                rendered.pcm
            }
        };
        crate::metrics::metrics().tts_seconds.observe(started.elapsed().as_secs_f64());
        Ok(pcm)
    }

    /// `text` as a [`PromptStream`]: whole for the built-in voice and for
    /// cached or fallback renderings; for a vendor engine rendering afresh,
    /// its stream from the first chunk on (the cache gets the whole
    /// rendering when it ends). `tts_seconds` measures the time to the
    /// first audio.
    pub async fn say_stream(&self, text: &str, language: &str) -> Result<PromptStream, SpeechError> {
        let Tts::Vendor(fallback) = &self.tts else { return Ok(PromptStream::whole(self.say(text, language).await?)) };
        let voice = Voice { language: language.to_string(), name: None, rate_wpm: None };
        let started = std::time::Instant::now();
        let before = fallback.fallback_count();
        let m = crate::metrics::metrics();
        // A hung vendor must not keep the caller in silence for the engine's
        // whole timeout: past the first-chunk deadline the built-in voice
        // says it (issue #15 item 8).
        let (stream, source) =
            match tokio::time::timeout(self.first_chunk, fallback.render_stream(&self.cache, text, &voice, CALL_RATE)).await {
                Ok(rendered) => rendered?,
                Err(_) => {
                    tracing::warn!(
                        engine = fallback.primary().name(),
                        after_ms = self.first_chunk.as_millis() as u64,
                        "TTS gave no audio in time; using the fallback voice"
                    );
                    m.tts_fallbacks.inc();
                    let pcm = self.cache.get_or_synthesize(fallback.fallback(), text, &voice, CALL_RATE).await?;
                    m.tts_seconds.observe(started.elapsed().as_secs_f64());
                    return Ok(PromptStream::whole(pcm));
                }
            };
        m.tts_fallbacks.inc_by(fallback.fallback_count().saturating_sub(before));
        m.tts_seconds.observe(started.elapsed().as_secs_f64());
        if stream.is_whole() {
            // Cached or fallback audio, already at the call rate.
            let pcm = stream.collect().await?;
            return Ok(PromptStream::whole(pcm));
        }
        debug_assert_eq!(source, prompts::RenderSource::Primary);
        let cache = (self.cache.clone(), fallback.primary().name().to_owned(), text.to_owned(), voice);
        PromptStream::streamed(stream, cache)
    }

    pub async fn play(&self, id: &str, language: &str) -> Result<Pcm, SpeechError> {
        let id = PromptId::new(id)?;
        Ok(self.library.load(&id, language, CALL_RATE).await?)
    }

    /// Renders every `(text, language)` now (start-up), logging progress;
    /// failures are logged and left to render at call time.
    pub async fn prerender(&self, items: Vec<(String, String)>) {
        let total = items.len();
        if total == 0 {
            return;
        }
        let items = items.into_iter().map(|(text, language)| (text, Voice { language, name: None, rate_wpm: None }));
        let progress = |done: usize, total: usize| {
            if done == total || done.is_multiple_of(10) {
                tracing::info!(done, total, "pre-rendering flow prompts");
            }
        };
        let report = match &self.tts {
            Tts::Builtin(synth) => prompts::prerender(&self.cache, synth.as_ref(), CALL_RATE, items, progress).await,
            Tts::Vendor(fallback) => {
                let render = |text: String, voice: Voice| {
                    let (fallback, cache) = (fallback.clone(), self.cache.clone());
                    async move { fallback.render(&cache, &text, &voice, CALL_RATE).await.map(drop) }
                };
                prompts::prerender_with(prompts::PRERENDER_CONCURRENCY, items, render, progress).await
            }
        };
        for f in &report.failures {
            tracing::warn!(text = %f.text, error = %f.error, "prompt not pre-rendered");
        }
    }
}

fn missing(engine: &'static str, name: &str, table: &'static str) -> SpeechError {
    SpeechError::MissingTable { engine, name: name.to_string(), table }
}

/// The recogniser `[speech].asr` names (None for `none`).
pub fn recognizer_from_config(cfg: &Config) -> Result<Option<Arc<dyn Recognizer>>, SpeechError> {
    use media::asr::{deepgram, openai, vosk};
    let s = &cfg.speech;
    Ok(Some(match s.asr.as_str() {
        "none" | "off" => return Ok(None),
        "builtin" | "whisper" => Arc::new(media::asr::whisper::WhisperRecognizer::new(&s.builtin.clone().unwrap_or_default())?),
        "pocketsphinx" => Arc::new(media::asr::builtin::BuiltinRecognizer::new()?),
        // Load tests: the speech path without recognition (media/src/asr/discard.rs).
        "discard" => Arc::new(media::asr::discard::DiscardRecognizer),
        "vosk" => Arc::new(vosk::VoskRecognizer::new(s.vosk.clone().ok_or_else(|| missing("asr", "vosk", "vosk"))?)?),
        "openai" => Arc::new(openai::OpenAiRecognizer::new(s.openai.clone().ok_or_else(|| missing("asr", "openai", "openai"))?)?),
        "deepgram" => {
            Arc::new(deepgram::DeepgramRecognizer::new(s.deepgram.clone().ok_or_else(|| missing("asr", "deepgram", "deepgram"))?)?)
        }
        other => return Err(SpeechError::UnknownAsr(other.into())),
    }))
}

/// Every static `say` of the loaded flows with its language, and the
/// re-prompts after `no_match` with their "sorry" (texts with
/// `{{templates}}` depend on the call and render then).
pub fn static_prompts(flows: &crate::flows::FlowStore) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, flow) in flows.list() {
        for node in flow.nodes.values() {
            let texts: Vec<(String, String)> = match &node.say {
                Some(dialogs::Text::Plain(t)) => vec![(t.clone(), flow.language.clone())],
                Some(dialogs::Text::ByLanguage(m)) => m.iter().map(|(l, t)| (t.clone(), l.clone())).collect(),
                None => Vec::new(),
            };
            // As the runner sends them: addresses spoken out (dialogs::speakable).
            out.extend(texts.into_iter().filter(|(t, _)| !t.contains("{{")).map(|(t, l)| (dialogs::speakable(&t, &l), l)));
        }
        // A re-prompt after `no_match` opens with the "sorry" (one prompt).
        out.extend(flow.reprompt_texts());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_prompts_are_the_texts_tts_will_be_asked_for() {
        let yaml = "flow: f\nstart: a\nnodes:\n  a:\n    say: \"Help at acme.example/help.\"\n    on: { done: b }\n  b:\n    say: \"Hi {{caller}}\"\n    hangup: true\n";
        let flow = dialogs::parse_flow(yaml, "f.yaml").expect("flow");
        let flows = crate::flows::FlowStore::from_flows([("f.yaml".into(), Arc::new(flow))]);
        assert_eq!(static_prompts(&flows), vec![("Help at acme dot example slash help.".to_owned(), "en-US".to_owned())]);
        let yaml = "flow: g\nstart: m\nnodes:\n  m:\n    say: Press 1.\n    gather: { digits: 1 }\n    intents:\n      a: { dtmf: \"1\" }\n    on: { a: m, no_match: m }\n";
        let flow = dialogs::parse_flow(yaml, "g.yaml").expect("flow");
        let flows = crate::flows::FlowStore::from_flows([("g.yaml".into(), Arc::new(flow))]);
        let en = |t: &str| (t.to_owned(), "en-US".to_owned());
        assert_eq!(
            static_prompts(&flows),
            vec![en("Press 1."), en("Sorry, I didn't get that. Press 1.")],
            "and the re-prompt after no_match"
        );
    }
}
