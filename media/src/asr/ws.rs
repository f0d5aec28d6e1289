//! WebSocket plumbing shared by the streaming adapters (RFC 6455 through
//! `tokio-tungstenite`): connect with a timeout and bounded retries, map
//! handshake and transport errors to [`AsrError`], classify inbound frames.

use std::time::Duration;

use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

use super::error::truncate_detail;
use super::{AsrError, ProtocolError, Stage};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Pause between connection attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long a polite close may take once the result is in.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// `scheme://host[:port]/path` of a request, for error messages (no query:
/// it may carry options a log does not need).
pub(crate) fn endpoint_of(request: &Request) -> String {
    let uri = request.uri();
    format!("{}://{}{}", uri.scheme_str().unwrap_or("ws"), uri.authority().map(|a| a.as_str()).unwrap_or(""), uri.path())
}

/// Opens the WebSocket; retries `retries` times, [`RETRY_PAUSE`] apart,
/// while the error is transient (not reached, 5xx), each attempt bounded by
/// `connect_timeout`.
pub(crate) async fn connect(engine: &'static str, request: Request, connect_timeout: Duration, retries: u32) -> Result<Ws, AsrError> {
    let endpoint = endpoint_of(&request);
    let mut attempt = 0;
    loop {
        let error = match timeout(connect_timeout, connect_async(request.clone())).await {
            Ok(Ok((ws, _response))) => return Ok(ws),
            Ok(Err(e)) => handshake_error(engine, &endpoint, e),
            Err(_) => AsrError::Timeout { stage: Stage::Connect, after: connect_timeout },
        };
        if attempt >= retries || !error.is_transient() {
            return Err(error);
        }
        attempt += 1;
        tracing::debug!(engine, %endpoint, attempt, %error, "ASR connect failed, retrying");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

fn handshake_error(engine: &'static str, endpoint: &str, e: tungstenite::Error) -> AsrError {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            AsrError::Http { status: response.status().as_u16(), detail: truncate_detail(&body) }
        }
        tungstenite::Error::Url(e) => AsrError::Config { engine, field: "url", reason: e.to_string() },
        other => AsrError::Connect { endpoint: endpoint.to_owned(), source: Box::new(other) },
    }
}

/// A transport error after the handshake.
pub(crate) fn stream_error(e: tungstenite::Error) -> AsrError {
    use tungstenite::Error as E;
    match e {
        E::Capacity(_) | E::Utf8(_) => AsrError::Protocol(ProtocolError::Framing(Box::new(e))),
        E::Protocol(p) if !matches!(p, tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            AsrError::Protocol(ProtocolError::Framing(Box::new(E::Protocol(p))))
        }
        other => AsrError::ConnectionLost { source: Box::new(other) },
    }
}

/// Sends one message; a server that stops reading for `limit` is a timeout.
pub(crate) async fn send(ws: &mut Ws, message: Message, limit: Duration) -> Result<(), AsrError> {
    match timeout(limit, ws.send(message)).await {
        Ok(result) => result.map_err(stream_error),
        Err(_) => Err(AsrError::Timeout { stage: Stage::Send, after: limit }),
    }
}

/// Closes politely after the result (bounded; errors do not matter then).
pub(crate) async fn close(mut ws: Ws) {
    let _ = timeout(CLOSE_GRACE, ws.close(None)).await;
}

/// What arrived from the server.
#[derive(Debug)]
pub(crate) enum Inbound {
    Text(String),
    /// A close frame, `None` for 1000/no code, else the server's error.
    Closed(Option<AsrError>),
    /// Ping/pong (answered by tungstenite).
    Control,
}

/// Classifies the next item of the WebSocket stream.
pub(crate) fn inbound(item: Option<Result<Message, tungstenite::Error>>) -> Result<Inbound, AsrError> {
    match item {
        None => Err(AsrError::ConnectionLost { source: "the server went away without a close frame".into() }),
        Some(Err(e)) => Err(stream_error(e)),
        Some(Ok(Message::Text(text))) => Ok(Inbound::Text(text.as_str().to_owned())),
        Some(Ok(Message::Binary(_))) => Err(AsrError::Protocol(ProtocolError::UnexpectedBinary)),
        Some(Ok(Message::Close(frame))) => Ok(Inbound::Closed(close_error(frame))),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(Inbound::Control),
    }
}

fn close_error(frame: Option<CloseFrame>) -> Option<AsrError> {
    let frame = frame?;
    if frame.code == CloseCode::Normal {
        return None;
    }
    Some(AsrError::ServerClosed { code: u16::from(frame.code), reason: truncate_detail(frame.reason.as_str()) })
}
