//! Deepgram live streaming speech-to-text over WebSocket
//! (`wss://api.deepgram.com/v1/listen`, Deepgram API v1 "Live Audio").
//!
//! One connection per utterance:
//! - handshake: `GET /v1/listen?encoding=linear16&sample_rate=16000&
//!   channels=1&interim_results=true&model=…&language=…&keywords=…` with
//!   `Authorization: Token <key>`; a bad key is refused with HTTP 401;
//! - binary frames of raw PCM16LE mono (one per 100 ms chunk);
//! - `{"type":"KeepAlive"}` text when no audio has gone for `keepalive`
//!   (Deepgram closes an idle stream with `1011 NET-0001` after 10 s);
//! - results: `{"type":"Results","is_final":false,"channel":{"alternatives":
//!   [{"transcript":"sa","confidence":0.7}]}}` (interim → partial), then
//!   the same with `"is_final":true` for each finalised segment;
//! - end of speech: text `{"type":"CloseStream"}`; Deepgram flushes its
//!   last results, sends `{"type":"Metadata",…}` and closes (1000). The
//!   final transcript joins the `is_final` segments; its confidence is their
//!   mean. Errors come as a close frame with a code and reason (`1008
//!   DATA-0000`: undecodable audio) or an `{"type":"Error"}` message.
//!
//! Hints: `keywords=<word>` for each grammar word (Nova-2 and older), or
//! `keyterm=<phrase>` for each phrase when `model` starts with `nova-3`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::config::duration;
use super::stream::stream_pair;
use super::streaming::{self, Limits, Step, WsProtocol};
use super::transcript::Transcript;
use super::{spawn_worker, ApiKey, AsrError, Grammar, ProtocolError, Recognizer, RecognizerStream, DEFAULT_SAMPLE_RATE};

/// Most hint terms sent (URL length and Deepgram's own limits).
const MAX_HINTS: usize = 50;

/// `[speech.deepgram]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepgramConfig {
    /// The listen endpoint, `wss://api.deepgram.com/v1/listen` by default.
    pub url: String,
    pub api_key: Option<ApiKey>,
    pub model: String,
    /// BCP 47 (`es-419`, `en-US`); default: the flow's language.
    pub language: Option<String>,
    pub sample_rate: u32,
    pub interim_results: bool,
    /// Send the gather's phrases as `keywords`/`keyterm`.
    pub hints: bool,
    /// More query parameters, e.g. `smart_format = "true"`.
    pub params: BTreeMap<String, String>,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    pub connect_retries: u32,
    #[serde(deserialize_with = "duration")]
    pub final_timeout: Duration,
    /// Idle time after which a KeepAlive is sent.
    #[serde(deserialize_with = "duration")]
    pub keepalive: Duration,
}

impl Default for DeepgramConfig {
    fn default() -> Self {
        Self {
            url: "wss://api.deepgram.com/v1/listen".into(),
            api_key: None,
            model: "nova-2".into(),
            language: None,
            sample_rate: DEFAULT_SAMPLE_RATE,
            interim_results: true,
            hints: true,
            params: BTreeMap::new(),
            connect_timeout: Duration::from_secs(3),
            connect_retries: 1,
            final_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(4),
        }
    }
}

/// A [`Recognizer`] on Deepgram's live API.
#[derive(Debug, Clone)]
pub struct DeepgramRecognizer {
    config: Arc<DeepgramConfig>,
}

impl DeepgramRecognizer {
    /// Checks the URL, rate and key; connects only on `start`.
    pub fn new(config: DeepgramConfig) -> Result<Self, AsrError> {
        if config.sample_rate == 0 {
            return Err(config_error("sample_rate", "must be positive".into()));
        }
        if config.keepalive.is_zero() {
            return Err(config_error("keepalive", "must be positive".into()));
        }
        let recognizer = Self { config: Arc::new(config) };
        recognizer.request(&Grammar::default(), "en-US")?;
        Ok(recognizer)
    }

    /// The listen URL for this grammar and language (query included).
    pub fn listen_url(&self, grammar: &Grammar, language: &str) -> Result<Url, AsrError> {
        let config = &self.config;
        let mut url = Url::parse(&config.url).map_err(|e| config_error("url", e.to_string()))?;
        let language = config.language.as_deref().unwrap_or(language);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("encoding", "linear16");
            query.append_pair("sample_rate", &config.sample_rate.to_string());
            query.append_pair("channels", "1");
            query.append_pair("interim_results", if config.interim_results { "true" } else { "false" });
            if !config.model.is_empty() {
                query.append_pair("model", &config.model);
            }
            if !language.is_empty() {
                query.append_pair("language", language);
            }
            if config.hints {
                let phrases = grammar.hint_phrases(language);
                if config.model.starts_with("nova-3") {
                    phrases.iter().take(MAX_HINTS).for_each(|p| {
                        query.append_pair("keyterm", p);
                    });
                } else {
                    let mut words: Vec<&str> = Vec::new();
                    for word in phrases.iter().flat_map(|p| p.split_whitespace()) {
                        if !words.contains(&word) && words.len() < MAX_HINTS {
                            words.push(word);
                        }
                    }
                    words.iter().for_each(|w| {
                        query.append_pair("keywords", w);
                    });
                }
            }
            for (key, value) in &config.params {
                query.append_pair(key, value);
            }
        }
        Ok(url)
    }

    fn request(&self, grammar: &Grammar, language: &str) -> Result<Request, AsrError> {
        let url = self.listen_url(grammar, language)?;
        let mut request = url.as_str().into_client_request().map_err(|e| config_error("url", e.to_string()))?;
        if let Some(key) = &self.config.api_key {
            let value = HeaderValue::from_str(&format!("Token {}", key.expose()))
                .map_err(|_| config_error("api_key", "not a valid header value".into()))?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

fn config_error(field: &'static str, reason: String) -> AsrError {
    AsrError::Config { engine: "deepgram", field, reason }
}

impl Recognizer for DeepgramRecognizer {
    fn name(&self) -> &'static str {
        "deepgram"
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError> {
        let request = self.request(grammar, language)?;
        let limits = Limits {
            connect_timeout: self.config.connect_timeout,
            connect_retries: self.config.connect_retries,
            final_timeout: self.config.final_timeout,
        };
        let protocol = DeepgramProtocol { keepalive: self.config.keepalive };
        let (stream, io) = stream_pair(self.config.sample_rate);
        spawn_worker(streaming::run("deepgram", request, limits, protocol, io))?;
        Ok(stream)
    }
}

struct DeepgramProtocol {
    keepalive: Duration,
}

/// The fields used of Deepgram's server messages.
#[derive(Debug, Deserialize)]
struct ServerMessage {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    is_final: bool,
    channel: Option<Channel>,
    // Error messages: in-stream ({"type":"Error",…}) and legacy shapes.
    description: Option<String>,
    message: Option<String>,
    variant: Option<String>,
    err_code: Option<String>,
    err_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    confidence: Option<f32>,
}

impl WsProtocol for DeepgramProtocol {
    fn finish(&mut self) -> Message {
        Message::Text(r#"{"type":"CloseStream"}"#.into())
    }

    fn keepalive(&self) -> Option<(Duration, Message)> {
        Some((self.keepalive, Message::Text(r#"{"type":"KeepAlive"}"#.into())))
    }

    fn on_text(&mut self, text: &str, transcript: &mut Transcript, finishing: bool) -> Result<Step, AsrError> {
        let message: ServerMessage = serde_json::from_str(text).map_err(ProtocolError::Json)?;
        if message.kind == "Error" || message.err_code.is_some() {
            let code = message.variant.or(message.err_code).unwrap_or_default();
            let text = message.description.or(message.message).or(message.err_msg).unwrap_or_default();
            return Err(AsrError::Server { code, message: super::error::truncate_detail(&text) });
        }
        match message.kind.as_str() {
            "Results" => {
                let best = message.channel.and_then(|c| c.alternatives.into_iter().next());
                let Some(best) = best else { return Ok(Step::Nothing) };
                if message.is_final {
                    transcript.add_final(&best.transcript, best.confidence);
                    Ok(transcript.partial("").map_or(Step::Nothing, Step::Partial))
                } else {
                    Ok(transcript.partial(&best.transcript).map_or(Step::Nothing, Step::Partial))
                }
            }
            // Sent after the last results of a CloseStream.
            "Metadata" if finishing => Ok(Step::Done),
            _ => Ok(Step::Nothing),
        }
    }
}
