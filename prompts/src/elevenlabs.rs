//! `ElevenLabsSynthesizer`: TTS over ElevenLabs' HTTP API (API reference,
//! "Text to Speech": "Create speech" and "Stream speech").
//!
//! - whole clip: `POST {base_url}/v1/text-to-speech/{voice_id}?output_format=pcm_{rate}`
//! - streaming:  `POST {base_url}/v1/text-to-speech/{voice_id}/stream?output_format=pcm_{rate}`
//!
//! Header `xi-api-key: <key>`; JSON body `{"text", "model_id",
//! "voice_settings": {"stability", "similarity_boost", "style",
//! "use_speaker_boost", "speed"}, "language_code"}` (unset settings are left
//! out so the voice's stored settings apply; `language_code`, ISO 639-1
//! from the flow's language, only when `send_language_code` is on, as only
//! some models accept it). Answer: headerless signed 16-bit little-endian
//! mono at `sample_rate` (one of 8000, 16000, 22050, 24000, 44100, 48000;
//! 44100 needs a Pro plan). Voice: [`Voice::name`] when set (a voice id),
//! else `voice_id`; `rate_wpm` sets `voice_settings.speed` to `wpm / 175`,
//! clamped to ElevenLabs' 0.7..=1.2. Errors: `{"detail": {"status",
//! "message"}}` becomes [`TtsError::Http`] with the message.

use std::time::Duration;

use media::asr::ApiKey;
use media::Pcm;
use serde::{Deserialize, Serialize};

use crate::openai::{parse_http_url, s16le, Http, SpeechStream, StreamFuture, StreamingSynthesizer};
use crate::synth::{SynthFuture, Synthesizer, Voice};
use crate::TtsError;

const ENGINE: &str = "elevenlabs";
/// `output_format=pcm_<rate>` values ElevenLabs serves.
pub const PCM_RATES: [u32; 6] = [8000, 16000, 22050, 24000, 44100, 48000];

/// `voice_settings`; `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_speaker_boost: Option<bool>,
    /// 0.7..=1.2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

impl VoiceSettings {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `[tts.elevenlabs]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElevenLabsConfig {
    /// API root; requests go to `{base_url}/v1/text-to-speech/…`.
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Default voice (letters, digits, `_`, `-`); required.
    pub voice_id: String,
    pub model_id: String,
    /// `output_format=pcm_<sample_rate>`, one of [`PCM_RATES`].
    pub sample_rate: u32,
    pub voice_settings: VoiceSettings,
    /// Send `language_code` (Flash/Turbo v2.5 models only).
    pub send_language_code: bool,
    /// Whole-clip requests: bound on the whole exchange. Streams: bound on
    /// the wait for the answer and on every gap between audio chunks.
    pub timeout_ms: u64,
}

impl Default for ElevenLabsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.elevenlabs.io".into(),
            api_key: None,
            voice_id: String::new(),
            model_id: "eleven_multilingual_v2".into(),
            sample_rate: 16_000,
            voice_settings: VoiceSettings::default(),
            send_language_code: false,
            timeout_ms: 15_000,
        }
    }
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    text: &'a str,
    model_id: &'a str,
    #[serde(skip_serializing_if = "VoiceSettings::is_empty")]
    voice_settings: VoiceSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    language_code: Option<String>,
}

/// A [`Synthesizer`] on ElevenLabs' text-to-speech API. Clones share one
/// connection pool.
#[derive(Debug, Clone)]
pub struct ElevenLabsSynthesizer {
    config: ElevenLabsConfig,
    base: reqwest::Url,
    name: String,
    http: Http,
}

impl ElevenLabsSynthesizer {
    pub fn new(config: ElevenLabsConfig) -> Result<Self, TtsError> {
        let bad = |field, reason: String| TtsError::Config { engine: ENGINE.into(), field, reason };
        check_voice_id(&config.voice_id)?;
        if !PCM_RATES.contains(&config.sample_rate) {
            return Err(bad("sample_rate", format!("{} Hz is not one of {PCM_RATES:?}", config.sample_rate)));
        }
        if config.model_id.is_empty() {
            return Err(bad("model_id", "must not be empty".into()));
        }
        let base = parse_http_url(ENGINE, config.base_url.trim_end_matches('/'))?;
        if base.cannot_be_a_base() {
            return Err(bad("base_url", format!("{} cannot be a base URL", config.base_url)));
        }
        let settings = serde_json::to_string(&config.voice_settings).unwrap_or_default();
        let name = format!("elevenlabs:{}:{}:{}:{settings}", config.model_id, config.voice_id, config.sample_rate);
        let http = Http::new(ENGINE, Duration::from_millis(config.timeout_ms))?;
        Ok(Self { config, base, name, http })
    }

    /// The URL of a request for `voice_id`, `/stream` variant or not.
    pub fn url(&self, voice_id: &str, stream: bool) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["v1", "text-to-speech", voice_id]);
            if stream {
                path.push("stream");
            }
        }
        url.query_pairs_mut().append_pair("output_format", &format!("pcm_{}", self.config.sample_rate));
        url
    }

    fn request(&self, text: &str, voice: &Voice, stream: bool) -> Result<reqwest::RequestBuilder, TtsError> {
        let voice_id = voice.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&self.config.voice_id);
        check_voice_id(voice_id)?;
        let mut voice_settings = self.config.voice_settings.clone();
        if let Some(wpm) = voice.rate_wpm {
            voice_settings.speed = Some((wpm as f32 / 175.0).clamp(0.7, 1.2));
        }
        let language_code = self.config.send_language_code.then(|| primary_language(&voice.language)).filter(|l| !l.is_empty());
        let body = SpeechRequest { text, model_id: &self.config.model_id, voice_settings, language_code };
        let request = self.http.client.post(self.url(voice_id, stream)).json(&body);
        Ok(match &self.config.api_key {
            Some(key) => request.header("xi-api-key", key.expose()),
            None => request,
        })
    }

    async fn run(&self, text: &str, voice: &Voice) -> Result<Pcm, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        let bytes = self.http.fetch(self.request(text, voice, false)?).await?;
        let pcm = Pcm::new(s16le(&bytes), self.config.sample_rate);
        if pcm.samples.is_empty() {
            return Err(TtsError::BadAudio { engine: ENGINE.into(), reason: "no audio in the answer".into() });
        }
        tracing::debug!(engine = %self.name, ms = pcm.duration_ms(), "synthesized");
        Ok(pcm)
    }
}

impl Synthesizer for ElevenLabsSynthesizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn synthesize<'a>(&'a self, text: &'a str, voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(self.run(text, voice))
    }
}

impl StreamingSynthesizer for ElevenLabsSynthesizer {
    fn synthesize_stream<'a>(&'a self, text: &'a str, voice: &'a Voice) -> StreamFuture<'a> {
        Box::pin(async move {
            if text.trim().is_empty() {
                return Err(TtsError::EmptyText);
            }
            let response = self.http.open(self.request(text, voice, true)?).await?;
            Ok(SpeechStream::from_response(&self.http, response, self.config.sample_rate))
        })
    }
}

/// Voice ids go into the URL path: letters, digits, `_` and `-` only.
fn check_voice_id(id: &str) -> Result<(), TtsError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(TtsError::Config {
            engine: ENGINE.into(),
            field: "voice_id",
            reason: format!("{id:?} is not a voice id (1-64 letters, digits, '_' or '-')"),
        });
    }
    Ok(())
}

/// `es-AR` → `es`.
fn primary_language(tag: &str) -> String {
    tag.split(['-', '_']).next().unwrap_or_default().trim().to_ascii_lowercase()
}
