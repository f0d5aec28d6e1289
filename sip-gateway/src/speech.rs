//! Prompt rendering for calls: TTS through the configured Synthesizer with
//! the shared on-disk cache, and WAV prompts from the library, always at
//! the G.711 rate (8 kHz) the media leg packetises.

use std::sync::Arc;

use media::Pcm;
use prompts::{EspeakSynthesizer, PromptCache, PromptId, PromptLibrary, Synthesizer, Voice};

use crate::config::Config;

/// Call audio rate for G.711.
const CALL_RATE: u32 = 8000;

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("unknown TTS engine {0:?} (available: builtin)")]
    UnknownTts(String),
    #[error(transparent)]
    Tts(#[from] prompts::TtsError),
    #[error(transparent)]
    Prompt(#[from] prompts::PromptError),
}

#[derive(Clone)]
pub struct Prompter {
    synth: Arc<dyn Synthesizer>,
    cache: Arc<PromptCache>,
    library: Arc<PromptLibrary>,
}

impl Prompter {
    pub fn from_config(cfg: &Config) -> Result<Self, SpeechError> {
        let synth: Arc<dyn Synthesizer> = match cfg.speech.tts.as_str() {
            "builtin" | "espeak" | "espeak-ng" => Arc::new(EspeakSynthesizer::new()),
            other => return Err(SpeechError::UnknownTts(other.into())),
        };
        Ok(Self {
            synth,
            cache: Arc::new(PromptCache::new(cfg.prompts.cache_dir.clone())),
            library: Arc::new(PromptLibrary::new(cfg.prompts.dir.clone())),
        })
    }

    pub async fn say(&self, text: &str, language: &str) -> Result<Pcm, SpeechError> {
        let voice = Voice { language: language.to_string(), name: None, rate_wpm: None };
        Ok(self.cache.get_or_synthesize(self.synth.as_ref(), text, &voice, CALL_RATE).await?)
    }

    pub async fn play(&self, id: &str, language: &str) -> Result<Pcm, SpeechError> {
        let id = PromptId::new(id)?;
        Ok(self.library.load(&id, language, CALL_RATE).await?)
    }
}
