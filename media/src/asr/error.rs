//! Errors of the speech recognition adapters ([`super`]): one typed enum for
//! every engine, so a call task can tell "the vendor is down" from "the
//! caller said nothing" without parsing strings.

use std::fmt;
use std::time::Duration;

/// Any error source carried along for logs (transport, TLS, engine).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an adapter was waiting for when it gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// TCP + TLS + WebSocket/HTTP handshake.
    Connect,
    /// Writing audio or a control message to a server that stopped reading.
    Send,
    /// The final transcript after end of speech (or the HTTP response).
    Result,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "the connection",
            Stage::Send => "the server to take audio",
            Stage::Result => "the final result",
        })
    }
}

/// Errors of [`crate::asr`]: returned by `start`/`push`, or delivered as
/// [`crate::asr::AsrEvent::Error`] by a running stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsrError {
    /// `Recognizer::start` spawns its worker on the current Tokio runtime.
    #[error("no Tokio runtime: Recognizer::start must be called from inside one")]
    NoRuntime,
    /// A `[speech.<engine>]` setting cannot be used.
    #[error("{engine} config: invalid {field}: {reason}")]
    Config { engine: &'static str, field: &'static str, reason: String },
    /// The server could not be reached (refused, DNS, TLS, handshake IO).
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: BoxError,
    },
    /// The server answered with a non-success HTTP status (the HTTP API, or
    /// the WebSocket upgrade refused: 401 bad key, 402 no credit, 5xx …).
    /// `detail` is the vendor's message, cut to 200 characters.
    #[error("HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    /// Nothing came within the configured time.
    #[error("timed out after {after:?} waiting for {stage}")]
    Timeout { stage: Stage, after: Duration },
    /// The connection broke mid-utterance (reset, EOF without a close
    /// handshake). Streams do not retry: the next `start()` reconnects.
    #[error("connection to the recogniser lost: {source}")]
    ConnectionLost {
        #[source]
        source: BoxError,
    },
    /// The server closed the WebSocket before the final result, e.g.
    /// Deepgram's `1008 DATA-0000` (undecodable audio) or `1011 NET-0001`.
    #[error("server closed the stream: {code} {reason}")]
    ServerClosed { code: u16, reason: String },
    /// The server sent an error message in-band (Deepgram `"type":"Error"`).
    #[error("server error {code}: {message}")]
    Server { code: String, message: String },
    /// The server spoke something other than its protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The stream's worker has ended (after its final event, or on error).
    #[error("recogniser stream closed")]
    Closed,
    /// `push` after `end_of_speech`.
    #[error("audio pushed after end of speech")]
    Ended,
    /// An in-process engine failed (model load, decoder).
    #[error("{engine}: {source}")]
    Engine {
        engine: &'static str,
        #[source]
        source: BoxError,
    },
    /// Every decoder of an in-process engine is decoding; the utterance is
    /// not queued (the call falls back to keys).
    #[error("{engine}: all {limit} decoders are busy")]
    Busy { engine: &'static str, limit: usize },
}

/// A message that breaks a vendor's protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("invalid JSON from the recogniser: {0}")]
    Json(#[from] serde_json::Error),
    /// A binary frame where the protocol only has text (JSON) frames.
    #[error("unexpected binary frame from the recogniser")]
    UnexpectedBinary,
    /// A WebSocket frame or HTTP body that breaks the framing itself.
    #[error("malformed message from the recogniser: {0}")]
    Framing(#[source] BoxError),
}

impl AsrError {
    /// Whether a new attempt may succeed (for `connect_retries`): the server
    /// was not reached, rather than reached and saying no.
    pub fn is_transient(&self) -> bool {
        match self {
            AsrError::Connect { .. } | AsrError::ConnectionLost { .. } => true,
            AsrError::Timeout { stage, .. } => *stage == Stage::Connect,
            AsrError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Cuts a vendor message for [`AsrError::Http`] (char boundary safe).
pub(crate) fn truncate_detail(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
