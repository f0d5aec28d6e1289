//! The run loop shared by the streaming WebSocket adapters (Vosk,
//! Deepgram): each adapter describes its protocol as a [`WsProtocol`]
//! (opening message, finish message, keep-alive, how to read a server
//! message) and [`run`] does the IO.
//!
//! Phases of one stream's worker:
//! 1. connect (bounded by `connect_timeout`, retried `connect_retries`
//!    times if the server was not reached), racing cancellation;
//! 2. streaming: each audio chunk becomes one binary frame of PCM16LE;
//!    server messages become partials; with no audio for the keep-alive
//!    interval the protocol's keep-alive is sent;
//! 3. finishing: after end of speech the finish message is sent and the
//!    final result awaited for at most `final_timeout`.
//!
//! A send that the server does not take within `final_timeout` is a
//! [`Stage::Send`] timeout. No phase retries after the connection is up.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Message;

use super::transcript::Transcript;
use super::ws::{self, Inbound, Ws};
use super::{pcm16le, AsrError, AsrEvent, AsrInput, EngineIo, Stage};

/// Timing of one streaming session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) connect_retries: u32,
    pub(crate) final_timeout: Duration,
}

/// What a server message means for the stream.
#[derive(Debug)]
pub(crate) enum Step {
    Nothing,
    Partial(String),
    /// The final result is complete.
    Done,
}

/// One vendor's streaming protocol.
pub(crate) trait WsProtocol: Send {
    /// Sent right after the handshake (Vosk's config frame).
    fn opening(&mut self) -> Option<Message> {
        None
    }
    /// Asks the server to finish the utterance.
    fn finish(&mut self) -> Message;
    /// Interval and message to keep an idle connection open.
    fn keepalive(&self) -> Option<(Duration, Message)> {
        None
    }
    /// Called after each audio frame has been sent.
    fn audio_sent(&mut self) {}
    /// A text message from the server; `finishing` once `finish()` is sent.
    fn on_text(&mut self, text: &str, transcript: &mut Transcript, finishing: bool) -> Result<Step, AsrError>;
}

/// The worker of one stream: reports exactly one final or error, or
/// nothing if cancelled.
pub(crate) async fn run<P: WsProtocol>(engine: &'static str, request: Request, limits: Limits, mut protocol: P, mut io: EngineIo) {
    let connected = tokio::select! {
        result = ws::connect(engine, request, limits.connect_timeout, limits.connect_retries) => result,
        () = io.cancelled() => return,
    };
    let mut socket = match connected {
        Ok(socket) => socket,
        Err(error) => return io.finish(AsrEvent::Error(error)).await,
    };
    let mut transcript = Transcript::default();
    let outcome = session(&mut socket, &mut protocol, &mut transcript, &mut io, limits).await;
    match outcome {
        Ok(true) => io.finish(transcript.into_final()).await,
        Ok(false) => tracing::debug!(engine, "ASR stream cancelled"),
        Err(error) => {
            tracing::debug!(engine, %error, "ASR stream failed");
            io.finish(AsrEvent::Error(error)).await;
        }
    }
    ws::close(socket).await;
}

/// `Ok(true)`: final result complete; `Ok(false)`: cancelled.
async fn session<P: WsProtocol>(
    socket: &mut Ws,
    protocol: &mut P,
    transcript: &mut Transcript,
    io: &mut EngineIo,
    limits: Limits,
) -> Result<bool, AsrError> {
    let send_limit = limits.final_timeout;
    if let Some(message) = protocol.opening() {
        ws::send(socket, message, send_limit).await?;
    }
    let keepalive = protocol.keepalive();
    let far = Duration::from_secs(86_400);
    let mut idle_until = Instant::now() + keepalive.as_ref().map_or(far, |(every, _)| *every);

    // Streaming.
    loop {
        tokio::select! {
            input = io.recv() => match input {
                Some(AsrInput::Audio(chunk)) => {
                    let mut bytes = Vec::new();
                    pcm16le(&chunk, &mut bytes);
                    io.recycle(chunk);
                    ws::send(socket, Message::Binary(bytes.into()), send_limit).await?;
                    protocol.audio_sent();
                    if let Some((every, _)) = &keepalive {
                        idle_until = Instant::now() + *every;
                    }
                }
                Some(AsrInput::EndOfSpeech) => break,
                None => return Ok(false),
            },
            item = socket.next() => {
                match ws::inbound(item)? {
                    Inbound::Text(text) => match protocol.on_text(&text, transcript, false)? {
                        Step::Partial(text) => io.partial(text),
                        Step::Nothing | Step::Done => {}
                    },
                    // Even a normal close before end of speech loses the utterance.
                    Inbound::Closed(error) => {
                        return Err(error.unwrap_or(AsrError::ServerClosed { code: 1000, reason: "closed before end of speech".into() }))
                    }
                    Inbound::Control => {}
                }
            }
            () = sleep_until(idle_until), if keepalive.is_some() => {
                if let Some((every, message)) = &keepalive {
                    ws::send(socket, message.clone(), send_limit).await?;
                    idle_until = Instant::now() + *every;
                }
            }
        }
    }

    // Finishing.
    ws::send(socket, protocol.finish(), send_limit).await?;
    let deadline = Instant::now() + limits.final_timeout;
    loop {
        tokio::select! {
            item = socket.next() => match ws::inbound(item)? {
                Inbound::Text(text) => match protocol.on_text(&text, transcript, true)? {
                    Step::Partial(text) => io.partial(text),
                    Step::Done => return Ok(true),
                    Step::Nothing => {}
                },
                Inbound::Closed(None) => return Ok(true),
                Inbound::Closed(Some(error)) => return Err(error),
                Inbound::Control => {}
            },
            () = sleep_until(deadline) => return Err(AsrError::Timeout { stage: Stage::Result, after: limits.final_timeout }),
            () = io.cancelled() => return Ok(false),
        }
    }
}
