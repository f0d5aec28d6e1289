//! OpenAI-compatible speech-to-text: `POST {url}/audio/transcriptions`
//! (OpenAI API reference, "Create transcription"; also served by
//! faster-whisper/speaches, vLLM, LocalAI, Groq …).
//!
//! Not streaming: the utterance is buffered until end of speech (at most
//! `max_utterance`, the rest is dropped), then sent as one
//! `multipart/form-data` request (RFC 7578) with
//! - `file`: `utterance.wav`, `audio/wav`, RIFF/WAVE PCM16 mono at the
//!   stream's rate (16 kHz);
//! - `model`, `response_format` (`json` → `{"text": …}`, or `verbose_json`
//!   with `segments[].avg_logprob`), `language` (ISO 639-1, from the flow's
//!   BCP 47 tag unless configured), `temperature` when set;
//! - `prompt`: the configured prompt, then the gather's phrases as a
//!   comma-separated vocabulary hint (Whisper conditions on it).
//!
//! `Authorization: Bearer <api_key>` when a key is set. Confidence is 1.0,
//! or `exp(mean avg_logprob)` of the segments with `verbose_json`. A non-2xx
//! answer is [`AsrError::Http`] with the vendor's `error.message`; the whole
//! request is bounded by `timeout`. No partials. An empty utterance yields
//! an empty final without a request.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use url::Url;

use super::config::{duration, primary_language};
use super::error::truncate_detail;
use super::stream::stream_pair;
use super::{pcm16le, DEFAULT_SAMPLE_RATE};
use super::{spawn_worker, ApiKey, AsrError, AsrEvent, AsrInput, EngineIo, Grammar, ProtocolError, Recognizer, RecognizerStream, Stage};

/// `response_format` of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Json,
    /// Adds segments with `avg_logprob`, used for the confidence.
    VerboseJson,
}

impl ResponseFormat {
    fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::Json => "json",
            ResponseFormat::VerboseJson => "verbose_json",
        }
    }
}

/// `[speech.openai]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// API base, `https://api.openai.com/v1` by default; the request goes to
    /// `{url}/audio/transcriptions`.
    pub url: String,
    pub api_key: Option<ApiKey>,
    pub model: String,
    /// Sent as is; default: the primary subtag of the flow's language.
    pub language: Option<String>,
    pub response_format: ResponseFormat,
    /// Text put before the grammar's phrases in `prompt`.
    pub prompt: Option<String>,
    /// Add the gather's phrases to `prompt`.
    pub hints: bool,
    pub temperature: Option<f32>,
    pub sample_rate: u32,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    pub connect_retries: u32,
    /// Bound on the whole request (connect, upload, transcription, body).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Longest audio sent; the rest of a longer utterance is dropped.
    #[serde(deserialize_with = "duration")]
    pub max_utterance: Duration,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            url: "https://api.openai.com/v1".into(),
            api_key: None,
            model: "whisper-1".into(),
            language: None,
            response_format: ResponseFormat::Json,
            prompt: None,
            hints: true,
            temperature: None,
            sample_rate: DEFAULT_SAMPLE_RATE,
            connect_timeout: Duration::from_secs(3),
            connect_retries: 1,
            timeout: Duration::from_secs(15),
            max_utterance: Duration::from_secs(30),
        }
    }
}

/// A [`Recognizer`] on an OpenAI-compatible transcription endpoint. Clones
/// share one HTTP connection pool.
#[derive(Debug, Clone)]
pub struct OpenAiRecognizer {
    config: Arc<OpenAiConfig>,
    endpoint: Url,
    client: reqwest::Client,
}

impl OpenAiRecognizer {
    pub fn new(config: OpenAiConfig) -> Result<Self, AsrError> {
        if config.sample_rate == 0 {
            return Err(config_error("sample_rate", "must be positive".into()));
        }
        let base = config.url.trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/audio/transcriptions")).map_err(|e| config_error("url", e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(config_error("url", format!("scheme {} is not http or https", endpoint.scheme())));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| config_error("url", format!("HTTP client: {e}")))?;
        Ok(Self { config: Arc::new(config), endpoint, client })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The text fields of the form for this grammar and language.
    pub fn form_fields(&self, grammar: &Grammar, language: &str) -> Vec<(&'static str, String)> {
        let config = &self.config;
        let mut fields = vec![("model", config.model.clone()), ("response_format", config.response_format.as_str().to_owned())];
        let language = config.language.clone().unwrap_or_else(|| primary_language(language));
        if !language.is_empty() {
            fields.push(("language", language.clone()));
        }
        let hints = if config.hints { grammar.hint_phrases(&language).join(", ") } else { String::new() };
        let prompt = match (config.prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()), hints.is_empty()) {
            (Some(prompt), false) => format!("{prompt} {hints}."),
            (Some(prompt), true) => prompt.to_owned(),
            (None, false) => format!("{hints}."),
            (None, true) => String::new(),
        };
        if !prompt.is_empty() {
            fields.push(("prompt", prompt));
        }
        if let Some(t) = config.temperature {
            fields.push(("temperature", t.to_string()));
        }
        fields
    }
}

fn config_error(field: &'static str, reason: String) -> AsrError {
    AsrError::Config { engine: "openai", field, reason }
}

impl Recognizer for OpenAiRecognizer {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError> {
        let fields = self.form_fields(grammar, language);
        let (stream, io) = stream_pair(self.config.sample_rate);
        spawn_worker(run(self.clone(), fields, io))?;
        Ok(stream)
    }
}

async fn run(recognizer: OpenAiRecognizer, fields: Vec<(&'static str, String)>, mut io: EngineIo) {
    let rate = recognizer.config.sample_rate;
    let max = (recognizer.config.max_utterance.as_millis() * u128::from(rate) / 1000) as usize;
    let mut samples: Vec<i16> = Vec::new();
    loop {
        match io.recv().await {
            Some(AsrInput::Audio(chunk)) => {
                let room = max.saturating_sub(samples.len());
                samples.extend_from_slice(&chunk[..chunk.len().min(room)]);
                io.recycle(chunk);
            }
            Some(AsrInput::EndOfSpeech) => break,
            None => return,
        }
    }
    if samples.is_empty() {
        return io.finish(AsrEvent::Final { text: String::new(), confidence: 0.0 }).await;
    }
    let wav = wav_pcm16_mono(&samples, rate);
    drop(samples);
    let result = tokio::select! {
        result = recognizer.transcribe(&fields, &wav) => result,
        () = io.cancelled() => return,
    };
    io.finish(result.unwrap_or_else(AsrEvent::Error)).await;
}

impl OpenAiRecognizer {
    async fn transcribe(&self, fields: &[(&'static str, String)], wav: &[u8]) -> Result<AsrEvent, AsrError> {
        let boundary = format!("centralita-{:032x}", rand::rng().random::<u128>());
        let body = bytes::Bytes::from(multipart_form(&boundary, fields, wav));
        let mut attempt = 0;
        let response = loop {
            let mut request = self
                .client
                .post(self.endpoint.clone())
                .timeout(self.config.timeout)
                .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                .body(body.clone());
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key.expose());
            }
            match request.send().await {
                Ok(response) => break response,
                Err(e) => {
                    let error = self.request_error(e);
                    let unreached = matches!(error, AsrError::Connect { .. } | AsrError::Timeout { stage: Stage::Connect, .. });
                    if !unreached || attempt >= self.config.connect_retries {
                        return Err(error);
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.request_error(e))?;
        if !status.is_success() {
            return Err(AsrError::Http { status: status.as_u16(), detail: error_detail(&body) });
        }
        let transcription: Transcription = serde_json::from_slice(&body).map_err(ProtocolError::Json)?;
        Ok(transcription.into_event())
    }

    fn request_error(&self, e: reqwest::Error) -> AsrError {
        if e.is_connect() {
            if e.is_timeout() {
                return AsrError::Timeout { stage: Stage::Connect, after: self.config.connect_timeout };
            }
            return AsrError::Connect { endpoint: self.endpoint.to_string(), source: Box::new(e) };
        }
        if e.is_timeout() {
            return AsrError::Timeout { stage: Stage::Result, after: self.config.timeout };
        }
        AsrError::ConnectionLost { source: Box::new(e) }
    }
}

/// The vendor's `{"error": {"message": …}}`, else the body itself.
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => truncate_detail(&envelope.error.message),
        Err(_) => truncate_detail(&String::from_utf8_lossy(body)),
    }
}

#[derive(Debug, Deserialize)]
struct Transcription {
    text: String,
    #[serde(default)]
    segments: Vec<Segment>,
}

#[derive(Debug, Deserialize)]
struct Segment {
    avg_logprob: Option<f64>,
}

impl Transcription {
    fn into_event(self) -> AsrEvent {
        let text = self.text.trim().to_owned();
        let logprobs: Vec<f64> = self.segments.iter().filter_map(|s| s.avg_logprob).filter(|p| p.is_finite()).collect();
        let confidence = if text.is_empty() {
            0.0
        } else if logprobs.is_empty() {
            1.0
        } else {
            (logprobs.iter().sum::<f64>() / logprobs.len() as f64).exp().clamp(0.0, 1.0) as f32
        };
        AsrEvent::Final { text, confidence }
    }
}

/// A RIFF/WAVE file of PCM16 mono (44-byte canonical header).
pub fn wav_pcm16_mono(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    pcm16le(samples, &mut out);
    out
}

/// A `multipart/form-data` body (RFC 7578): the text fields, then `file`.
fn multipart_form(boundary: &str, fields: &[(&'static str, String)], wav: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(wav.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"utterance.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(wav);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}
