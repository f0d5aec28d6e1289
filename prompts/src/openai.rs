//! `OpenAiSynthesizer`: TTS over an OpenAI-compatible speech endpoint,
//! `POST {base_url}/v1/audio/speech` (OpenAI API reference, "Create speech";
//! also served by Kokoro-FastAPI, LocalAI, openedai-speech …), plus the
//! streaming primitives ([`StreamingSynthesizer`], [`SpeechStream`]) and the
//! HTTP plumbing that `elevenlabs.rs` shares.
//!
//! Request: JSON `{"model", "input", "voice", "response_format", "speed"}`
//! (and `"instructions"` when configured, for `gpt-4o-mini-tts`), with
//! `Authorization: Bearer <api_key>` when a key is set. Answer:
//! - `response_format = "wav"`: a RIFF/WAVE file. Servers that stream it
//!   leave placeholder sizes in the header; they are rewritten from the
//!   bytes received before decoding (as for espeak-ng's pipe output).
//! - `response_format = "pcm"`: headerless signed 16-bit little-endian mono
//!   at 24 kHz (`pcm_rate` for compatible servers that differ).
//!
//! [`StreamingSynthesizer::synthesize_stream`] always asks for `pcm`, which
//! can be played as it arrives. Voice: [`Voice::name`] when set, else the
//! configured `voice`; speed: `rate_wpm / 175` when set (175 wpm is a normal
//! speaking rate), else the configured `speed`, clamped to 0.25..=4.0.
//! OpenAI detects the language from the text, so `Voice::language` is
//! only part of the cache key.

use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::time::Duration;

use media::asr::ApiKey;
use media::Pcm;
use serde::{Deserialize, Serialize};

use crate::synth::{SynthFuture, Synthesizer, Voice};
use crate::{convert, ConvertError, EspeakSynthesizer, TtsError};

const ENGINE: &str = "openai";

/// `response_format` of whole-clip requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseFormat {
    #[default]
    Wav,
    /// Headerless s16le mono at [`OpenAiConfig::pcm_rate`].
    Pcm,
}

impl ResponseFormat {
    fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::Wav => "wav",
            ResponseFormat::Pcm => "pcm",
        }
    }
}

/// `[tts.openai]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Server root; requests go to `{base_url}/v1/audio/speech` (a trailing
    /// `/v1` is accepted too).
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub model: String,
    pub voice: String,
    pub response_format: ResponseFormat,
    /// 0.25..=4.0.
    pub speed: f32,
    /// Style instructions (`gpt-4o-mini-tts` only).
    pub instructions: Option<String>,
    /// Rate of `pcm` answers: 24000 for OpenAI.
    pub pcm_rate: u32,
    /// Whole-clip requests: bound on the whole exchange. Streams: bound on
    /// the wait for the answer and on every gap between audio chunks.
    pub timeout_ms: u64,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com".into(),
            api_key: None,
            model: "tts-1".into(),
            voice: "alloy".into(),
            response_format: ResponseFormat::Wav,
            speed: 1.0,
            instructions: None,
            pcm_rate: 24_000,
            timeout_ms: 15_000,
        }
    }
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    model: &'a str,
    input: &'a str,
    voice: &'a str,
    response_format: &'static str,
    speed: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

/// A [`Synthesizer`] on an OpenAI-compatible `/v1/audio/speech` endpoint.
/// Clones share one connection pool.
#[derive(Debug, Clone)]
pub struct OpenAiSynthesizer {
    config: OpenAiConfig,
    endpoint: reqwest::Url,
    name: String,
    http: Http,
}

impl OpenAiSynthesizer {
    pub fn new(config: OpenAiConfig) -> Result<Self, TtsError> {
        let bad = |field, reason: String| TtsError::Config { engine: ENGINE.into(), field, reason };
        if !(0.25..=4.0).contains(&config.speed) {
            return Err(bad("speed", format!("{} is outside 0.25..=4.0", config.speed)));
        }
        if config.pcm_rate == 0 || config.pcm_rate > convert::MAX_RATE {
            return Err(bad("pcm_rate", format!("{} Hz is not a usable rate", config.pcm_rate)));
        }
        if config.model.is_empty() || config.voice.is_empty() {
            return Err(bad("model", "model and voice must not be empty".into()));
        }
        let base = config.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let endpoint = parse_http_url(ENGINE, &format!("{base}/v1/audio/speech"))?;
        let mut name = format!("openai:{}:{}:x{}", config.model, config.voice, config.speed);
        if let Some(instructions) = &config.instructions {
            name = format!("{name}:{instructions}");
        }
        let http = Http::new(ENGINE, Duration::from_millis(config.timeout_ms))?;
        Ok(Self { config, endpoint, name, http })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    fn request(&self, text: &str, voice: &Voice, format: ResponseFormat) -> reqwest::RequestBuilder {
        let speed = voice.rate_wpm.map_or(self.config.speed, |wpm| wpm as f32 / 175.0).clamp(0.25, 4.0);
        let body = SpeechRequest {
            model: &self.config.model,
            input: text,
            voice: voice.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&self.config.voice),
            response_format: format.as_str(),
            speed,
            instructions: self.config.instructions.as_deref(),
        };
        let request = self.http.client.post(self.endpoint.clone()).json(&body);
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    async fn run(&self, text: &str, voice: &Voice) -> Result<Pcm, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        let format = self.config.response_format;
        let bytes = self.http.fetch(self.request(text, voice, format)).await?;
        let pcm = match format {
            ResponseFormat::Wav => {
                let mut wav = bytes;
                repair_streamed_wav(&mut wav);
                convert::decode_wav(Cursor::new(wav))?
            }
            ResponseFormat::Pcm => Pcm::new(s16le(&bytes), self.config.pcm_rate),
        };
        if pcm.samples.is_empty() {
            return Err(TtsError::BadAudio { engine: ENGINE.into(), reason: "no audio in the answer".into() });
        }
        tracing::debug!(engine = %self.name, ms = pcm.duration_ms(), "synthesized");
        Ok(pcm)
    }
}

impl Synthesizer for OpenAiSynthesizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn synthesize<'a>(&'a self, text: &'a str, voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(self.run(text, voice))
    }
}

impl StreamingSynthesizer for OpenAiSynthesizer {
    fn synthesize_stream<'a>(&'a self, text: &'a str, voice: &'a Voice) -> StreamFuture<'a> {
        Box::pin(async move {
            if text.trim().is_empty() {
                return Err(TtsError::EmptyText);
            }
            let response = self.http.open(self.request(text, voice, ResponseFormat::Pcm)).await?;
            Ok(SpeechStream::from_response(&self.http, response, self.config.pcm_rate))
        })
    }
}

// ---------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------

/// The future returned by [`StreamingSynthesizer::synthesize_stream`].
pub type StreamFuture<'a> = Pin<Box<dyn Future<Output = Result<SpeechStream, TtsError>> + Send + 'a>>;

/// A [`Synthesizer`] that can also hand out audio while it is still being
/// synthesized, so a long answer starts playing after the first chunk
/// instead of after the whole clip.
///
/// Consuming it (one call task, one stream):
/// ```no_run
/// # use media::{LegCommands, MediaCommand, Pcm, StreamResampler};
/// # use prompts::{OpenAiSynthesizer, StreamingSynthesizer, Voice};
/// # async fn play(synth: &OpenAiSynthesizer, text: &str, voice: &Voice, leg: &LegCommands, id: u64) -> Result<(), Box<dyn std::error::Error>> {
/// let mut stream = synth.synthesize_stream(text, voice).await?; // Err: nothing heard yet, fall back
/// let mut resampler = StreamResampler::new(stream.rate(), 8000, stream.rate() as usize / 50)?; // once per stream
/// let (mut out, mut started) = (Vec::new(), false);
/// while let Some(chunk) = stream.next_chunk().await {
///     let chunk = chunk?; // Err mid-way: stop playing; the caller heard a partial answer
///     resampler.process(&chunk.samples, &mut out);
///     let pcm = Pcm::new(std::mem::take(&mut out), 8000);
///     // The first chunk starts the prompt; the rest queues behind what is playing.
///     leg.send(if started { MediaCommand::Append { pcm, id } } else { MediaCommand::PlayStream { pcm, id } })?;
///     started = true;
/// }
/// resampler.flush(&mut out);
/// leg.send(MediaCommand::Append { pcm: Pcm::new(out, 8000), id })?;
/// leg.send(MediaCommand::EndStream { id })?;
/// # Ok(())
/// # }
/// ```
/// Chunks are as the network delivers them (any length, never empty); the
/// resampler must be built once per stream, never per chunk. Streams are
/// not cached; [`crate::FallbackSynthesizer::render_stream`] adds the
/// fallback, and [`SpeechStream::collect`] turns a stream into one clip.
pub trait StreamingSynthesizer: Synthesizer {
    /// Starts speaking `text`; resolves once the engine has answered (HTTP
    /// status and headers), before any audio has arrived.
    fn synthesize_stream<'a>(&'a self, text: &'a str, voice: &'a Voice) -> StreamFuture<'a>;
}

/// Makes any [`Synthesizer`] a [`StreamingSynthesizer`] whose stream is the
/// whole clip as one chunk (same name, so the same cache entries).
#[derive(Debug, Clone)]
pub struct WholeClip<S>(pub S);

impl<S: Synthesizer> Synthesizer for WholeClip<S> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn synthesize<'a>(&'a self, text: &'a str, voice: &'a Voice) -> SynthFuture<'a> {
        self.0.synthesize(text, voice)
    }
}

impl<S: Synthesizer> StreamingSynthesizer for WholeClip<S> {
    fn synthesize_stream<'a>(&'a self, text: &'a str, voice: &'a Voice) -> StreamFuture<'a> {
        Box::pin(async move { Ok(SpeechStream::from_pcm(self.0.synthesize(text, voice).await?)) })
    }
}

/// espeak-ng writes WAV to a pipe it cannot seek, so its clip is one chunk.
impl StreamingSynthesizer for EspeakSynthesizer {
    fn synthesize_stream<'a>(&'a self, text: &'a str, voice: &'a Voice) -> StreamFuture<'a> {
        Box::pin(async move { Ok(SpeechStream::from_pcm(self.synthesize(text, voice).await?)) })
    }
}

/// Mono PCM chunks at one rate, pulled with [`SpeechStream::next_chunk`].
#[derive(Debug)]
pub struct SpeechStream {
    rate: u32,
    /// A chunk to hand out before reading more (a whole clip, or one peeked).
    pending: Option<Pcm>,
    body: Option<PcmBody>,
}

#[derive(Debug)]
struct PcmBody {
    engine: &'static str,
    timeout: Duration,
    response: reqwest::Response,
    /// The odd byte of a sample split across two network chunks.
    carry: Option<u8>,
}

impl SpeechStream {
    /// A stream of one chunk.
    pub fn from_pcm(pcm: Pcm) -> Self {
        Self { rate: pcm.rate, pending: Some(pcm), body: None }
    }

    /// A stream over an HTTP body of s16le mono samples at `rate`.
    pub(crate) fn from_response(http: &Http, response: reqwest::Response, rate: u32) -> Self {
        let body = PcmBody { engine: http.engine, timeout: http.timeout, response, carry: None };
        Self { rate, pending: None, body: Some(body) }
    }

    /// Whether the stream is one clip already in memory (a cached or
    /// fallback rendering, [`Self::from_pcm`]) rather than a body still
    /// being read.
    pub fn is_whole(&self) -> bool {
        self.body.is_none()
    }

    /// Sample rate of every chunk.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The next chunk (never empty), `None` at the end. After an error the
    /// stream is over.
    pub async fn next_chunk(&mut self) -> Option<Result<Pcm, TtsError>> {
        if let Some(pcm) = self.pending.take() {
            return Some(Ok(pcm));
        }
        let body = self.body.as_mut()?;
        let result = loop {
            match body.response.chunk().await {
                Ok(Some(bytes)) => {
                    let samples = body.push(&bytes);
                    if !samples.is_empty() {
                        return Some(Ok(Pcm::new(samples, self.rate)));
                    }
                }
                Ok(None) => {
                    if body.carry.is_some() {
                        tracing::debug!(engine = body.engine, "audio stream ended with half a sample");
                    }
                    break None;
                }
                Err(error) => break Some(Err(body_error(body.engine, body.timeout, error))),
            }
        };
        self.body = None;
        result
    }

    /// Waits for the first chunk and keeps it for [`Self::next_chunk`]: an
    /// engine that answers 200 and then fails is caught before playback.
    pub async fn peek(&mut self) -> Result<(), TtsError> {
        if self.pending.is_none() {
            match self.next_chunk().await {
                Some(Ok(pcm)) => self.pending = Some(pcm),
                Some(Err(error)) => return Err(error),
                None => return Err(TtsError::BadAudio { engine: self.engine().into(), reason: "no audio in the answer".into() }),
            }
        }
        Ok(())
    }

    /// Reads the rest of the stream into one clip.
    pub async fn collect(mut self) -> Result<Pcm, TtsError> {
        let mut samples: Vec<i16> = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            samples.extend_from_slice(&chunk?.samples);
            if samples.len() > convert::MAX_FRAMES {
                return Err(ConvertError::TooLong { max_samples: convert::MAX_FRAMES }.into());
            }
        }
        Ok(Pcm::new(samples, self.rate))
    }

    fn engine(&self) -> &'static str {
        self.body.as_ref().map_or("stream", |b| b.engine)
    }
}

impl PcmBody {
    fn push(&mut self, bytes: &[u8]) -> Vec<i16> {
        let mut bytes = bytes;
        let mut samples = Vec::with_capacity(bytes.len() / 2 + 1);
        if let (Some(lo), Some((&hi, rest))) = (self.carry, bytes.split_first()) {
            samples.push(i16::from_le_bytes([lo, hi]));
            self.carry = None;
            bytes = rest;
        }
        samples.extend(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])));
        if bytes.len() % 2 == 1 {
            self.carry = bytes.last().copied();
        }
        samples
    }
}

/// Signed 16-bit little-endian samples; a trailing odd byte is dropped.
pub(crate) fn s16le(bytes: &[u8]) -> Vec<i16> {
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

// ---------------------------------------------------------------------------
// HTTP plumbing shared with elevenlabs.rs
// ---------------------------------------------------------------------------

/// One connection pool plus the engine's timeout and error mapping.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    engine: &'static str,
    pub(crate) client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    /// Connect and every read (headers, each body chunk) are bounded by `timeout`.
    pub(crate) fn new(engine: &'static str, timeout: Duration) -> Result<Self, TtsError> {
        if timeout.is_zero() {
            return Err(TtsError::Config { engine: engine.into(), field: "timeout_ms", reason: "must be positive".into() });
        }
        let client = reqwest::Client::builder().connect_timeout(timeout).read_timeout(timeout).build().map_err(|e| TtsError::Config {
            engine: engine.into(),
            field: "base_url",
            reason: format!("HTTP client: {e}"),
        })?;
        Ok(Self { engine, client, timeout })
    }

    /// Sends `request`; a non-2xx answer becomes [`TtsError::Http`].
    pub(crate) async fn open(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, TtsError> {
        let response = request.send().await.map_err(|e| self.error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(TtsError::Http { engine: self.engine.into(), status: status.as_u16(), detail: error_detail(&body) })
    }

    /// Sends `request` and reads the whole body, all within `timeout`.
    pub(crate) async fn fetch(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, TtsError> {
        let exchange = async {
            let response = self.open(request).await?;
            response.bytes().await.map(Vec::from).map_err(|e| self.error(e))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(TtsError::Timeout { engine: self.engine.into(), after: self.timeout }))
    }

    fn error(&self, error: reqwest::Error) -> TtsError {
        if error.is_timeout() {
            TtsError::Timeout { engine: self.engine.into(), after: self.timeout }
        } else if error.is_body() || error.is_decode() {
            body_error(self.engine, self.timeout, error)
        } else {
            TtsError::Connect { engine: self.engine.into(), source: Box::new(error) }
        }
    }
}

fn body_error(engine: &'static str, timeout: Duration, error: reqwest::Error) -> TtsError {
    if error.is_timeout() {
        return TtsError::Timeout { engine: engine.into(), after: timeout };
    }
    TtsError::Body { engine: engine.into(), source: Box::new(error) }
}

/// An `http(s)://` URL or a config error.
pub(crate) fn parse_http_url(engine: &'static str, url: &str) -> Result<reqwest::Url, TtsError> {
    let bad = |reason: String| TtsError::Config { engine: engine.into(), field: "base_url", reason };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("{url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {} is not http or https", parsed.scheme())));
    }
    Ok(parsed)
}

/// The vendor's message from an error body: OpenAI `{"error":{"message"}}`,
/// ElevenLabs `{"detail":{"message"}}` or `{"detail":"…"}`, else the text;
/// cut to 200 characters.
fn error_detail(body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let from_json = json.as_ref().and_then(|v| {
        [v.pointer("/error/message"), v.pointer("/detail/message"), v.get("detail"), v.get("message")]
            .into_iter()
            .flatten()
            .find_map(|m| m.as_str().map(str::to_owned))
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    text.chars().take(200).collect()
}

/// Rewrites the RIFF and `data` sizes of a WAV written by a server that
/// streamed it (placeholder `0xFFFFFFFF` or 0) from the bytes received.
/// Anything that is not RIFF/WAVE is left for hound to reject.
fn repair_streamed_wav(bytes: &mut [u8]) {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return;
    }
    let riff_len = u32::try_from(bytes.len() - 8).unwrap_or(u32::MAX);
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let (mut pos, mut block_align) = (12usize, 1usize);
    while pos + 8 <= bytes.len() {
        let size = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let body = pos + 8;
        let available = bytes.len() - body;
        if &bytes[pos..pos + 4] == b"fmt " && available >= 14 {
            block_align = usize::from(u16::from_le_bytes([bytes[body + 12], bytes[body + 13]])).max(1);
        } else if &bytes[pos..pos + 4] == b"data" {
            if size > available || size == 0 {
                let fixed = u32::try_from(available - available % block_align).unwrap_or(u32::MAX);
                bytes[pos + 4..pos + 8].copy_from_slice(&fixed.to_le_bytes());
            }
            return;
        }
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
}
