//! Vosk: the WebSocket protocol of alphacephei's vosk-server
//! (`websocket/asr_server.py`), with Kaldi models running on the server.
//! One connection per utterance:
//!
//! 1. text `{"config": {"sample_rate": 16000, "words": 1, "phrase_list":
//!    ["sales", "talk to an agent", "[unk]"]}}`; `phrase_list` (a restricted
//!    runtime grammar) only when the gather has phrases and `grammar` is on.
//!    Only models with runtime-grammar support (the small `lgraph` ones)
//!    apply it; big models ignore it. `[unk]` (`allow_unknown`) keeps
//!    out-of-grammar speech from being forced onto a phrase;
//! 2. binary frames of PCM16LE mono, one per 100 ms chunk. The server
//!    answers *every* frame with one JSON message: `{"partial": "sa"}` while
//!    the segment goes on, or `{"text": "sales", "result": [{"conf": 0.93,
//!    "word": "sales", "start": 0.4, "end": 0.9}]}` when its endpointer
//!    closed a segment (with `max_alternatives` set, `{"alternatives":
//!    [{"text": …}]}` instead);
//! 3. text `{"eof" : 1}` — byte for byte: the server compares the string.
//!    It answers with the last segment's result and closes.
//!
//! The final transcript joins every segment of the utterance; its
//! confidence is the mean word `conf`. The answer to `eof` is known by
//! counting (one answer per frame sent, then one for `eof`) or by the
//! server's close, whichever comes first.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::config::duration;
use super::stream::stream_pair;
use super::streaming::{self, Limits, Step, WsProtocol};
use super::transcript::Transcript;
use super::{spawn_worker, AsrError, Grammar, ProtocolError, Recognizer, RecognizerStream, DEFAULT_SAMPLE_RATE};

/// The end-of-stream message, exactly as vosk-server matches it.
pub const EOF_MESSAGE: &str = r#"{"eof" : 1}"#;
/// Grammar word that absorbs out-of-grammar speech.
pub const UNKNOWN_WORD: &str = "[unk]";

/// `[speech.vosk]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoskConfig {
    /// `ws://host:2700` (or `wss://…`).
    pub url: String,
    /// Rate of the audio sent (and of `push`); the server resamples to the
    /// model's rate.
    pub sample_rate: u32,
    /// Language of the yes/no and digit hint words; default: the flow's.
    pub language: Option<String>,
    /// Send the gather's phrases as `phrase_list`.
    pub grammar: bool,
    /// Add `[unk]` to the phrase list.
    pub allow_unknown: bool,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Extra connection attempts when the server was not reached.
    pub connect_retries: u32,
    /// Wait for the final result after end of speech (and for a send).
    #[serde(deserialize_with = "duration")]
    pub final_timeout: Duration,
}

impl Default for VoskConfig {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:2700".into(),
            sample_rate: DEFAULT_SAMPLE_RATE,
            language: None,
            grammar: true,
            allow_unknown: true,
            connect_timeout: Duration::from_secs(3),
            connect_retries: 1,
            final_timeout: Duration::from_secs(5),
        }
    }
}

/// A [`Recognizer`] speaking to a vosk-server.
#[derive(Debug, Clone)]
pub struct VoskRecognizer {
    config: Arc<VoskConfig>,
}

impl VoskRecognizer {
    /// Checks the URL and rate; connects only on `start`.
    pub fn new(config: VoskConfig) -> Result<Self, AsrError> {
        if config.sample_rate == 0 {
            return Err(AsrError::Config { engine: "vosk", field: "sample_rate", reason: "must be positive".into() });
        }
        request(&config.url)?;
        Ok(Self { config: Arc::new(config) })
    }

    /// The text of the config frame for this grammar (what the server gets
    /// first).
    pub fn config_message(&self, grammar: &Grammar, language: &str) -> String {
        let language = self.config.language.as_deref().unwrap_or(language);
        let mut config = serde_json::json!({ "sample_rate": self.config.sample_rate, "words": 1 });
        if self.config.grammar && !grammar.is_empty() {
            let mut phrases = grammar.hint_phrases(language);
            if self.config.allow_unknown {
                phrases.push(UNKNOWN_WORD.to_owned());
            }
            config["phrase_list"] = phrases.into();
        }
        serde_json::json!({ "config": config }).to_string()
    }
}

fn request(url: &str) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, AsrError> {
    url.into_client_request().map_err(|e| AsrError::Config { engine: "vosk", field: "url", reason: e.to_string() })
}

impl Recognizer for VoskRecognizer {
    fn name(&self) -> &'static str {
        "vosk"
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&self, grammar: &Grammar, language: &str) -> Result<RecognizerStream, AsrError> {
        let request = request(&self.config.url)?;
        let protocol = VoskProtocol { config: Some(self.config_message(grammar, language)), frames_sent: 0, answers: 0 };
        let limits = Limits {
            connect_timeout: self.config.connect_timeout,
            connect_retries: self.config.connect_retries,
            final_timeout: self.config.final_timeout,
        };
        let (stream, io) = stream_pair(self.config.sample_rate);
        spawn_worker(streaming::run("vosk", request, limits, protocol, io))?;
        Ok(stream)
    }
}

struct VoskProtocol {
    config: Option<String>,
    frames_sent: u64,
    answers: u64,
}

/// One server message (fields of `KaldiRecognizer` results).
#[derive(Debug, Deserialize)]
struct Answer {
    partial: Option<String>,
    text: Option<String>,
    #[serde(default)]
    result: Vec<Word>,
    alternatives: Option<Vec<Alternative>>,
}

#[derive(Debug, Deserialize)]
struct Word {
    conf: f32,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    #[serde(default)]
    text: String,
}

impl WsProtocol for VoskProtocol {
    fn opening(&mut self) -> Option<Message> {
        self.config.take().map(|text| Message::Text(text.into()))
    }

    fn finish(&mut self) -> Message {
        Message::Text(EOF_MESSAGE.into())
    }

    fn audio_sent(&mut self) {
        self.frames_sent += 1;
    }

    fn on_text(&mut self, text: &str, transcript: &mut Transcript, finishing: bool) -> Result<Step, AsrError> {
        let answer: Answer = serde_json::from_str(text).map_err(ProtocolError::Json)?;
        self.answers += 1;
        let step = if let Some(partial) = answer.partial {
            transcript.partial(&partial).map_or(Step::Nothing, Step::Partial)
        } else if let Some(text) = answer.text {
            transcript.add_final(&text, answer.result.iter().map(|w| w.conf));
            transcript.partial("").map_or(Step::Nothing, Step::Partial)
        } else if let Some(first) = answer.alternatives.as_ref().and_then(|a| a.first()) {
            // Alternatives carry lattice scores, not 0..1 confidences.
            transcript.add_final(&first.text, []);
            transcript.partial("").map_or(Step::Nothing, Step::Partial)
        } else {
            Step::Nothing
        };
        // The answer to eof is the one after the answers to every frame.
        if finishing && self.answers > self.frames_sent {
            return Ok(Step::Done);
        }
        Ok(step)
    }
}
