//! SIP transports (RFC 3261 §18): UDP datagrams and TCP streams framed by
//! Content-Length (§18.3). Each socket has its own task that parses what
//! arrives and hands whole messages to the endpoint; the endpoint sends
//! through [`Transports`]. Malformed input is answered here with a 400 that
//! names the fault when it carries a Via (§8.2.2 needs one to route the
//! response), otherwise dropped and counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rsip::SipMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::config::ListenSpec;
use crate::sip::wire::{self, WireError};

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipFlow {
    /// A datagram on UDP listener `listener` from/to `remote`.
    Udp { listener: usize, remote: SocketAddr },
    /// A TCP connection.
    Tcp { conn: ConnId, remote: SocketAddr },
}

impl SipFlow {
    pub fn remote(&self) -> SocketAddr {
        match self {
            SipFlow::Udp { remote, .. } | SipFlow::Tcp { remote, .. } => *remote,
        }
    }
    pub fn is_reliable(&self) -> bool {
        matches!(self, SipFlow::Tcp { .. })
    }
}

#[derive(Debug)]
pub enum Inbound {
    Message { msg: Box<SipMessage>, flow: SipFlow },
    TcpOpened { conn: ConnId, writer: mpsc::Sender<Vec<u8>> },
    TcpClosed { conn: ConnId },
}

/// The bound sockets; the endpoint owns this and sends through it.
pub struct Transports {
    pub udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    pub tcp: Vec<SocketAddr>,
    conns: HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
}

impl Transports {
    /// Binds every listen spec and spawns the reader tasks.
    pub async fn bind(specs: &[ListenSpec], inbound: mpsc::Sender<Inbound>) -> std::io::Result<Self> {
        let next_conn = Arc::new(AtomicU64::new(1));
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for spec in specs {
            match *spec {
                ListenSpec::Udp(addr) => {
                    let sock = Arc::new(UdpSocket::bind(addr).await?);
                    super::icmp::enable(&sock);
                    let local = sock.local_addr()?;
                    tokio::spawn(udp_reader(udp.len(), sock.clone(), inbound.clone()));
                    udp.push((local, sock));
                }
                ListenSpec::Tcp(addr) => {
                    let listener = TcpListener::bind(addr).await?;
                    tcp.push(listener.local_addr()?);
                    tokio::spawn(tcp_acceptor(listener, inbound.clone(), next_conn.clone()));
                }
            }
        }
        Ok(Self { udp, tcp, conns: HashMap::new() })
    }

    pub fn tcp_opened(&mut self, conn: ConnId, writer: mpsc::Sender<Vec<u8>>) {
        self.conns.insert(conn, writer);
    }
    pub fn tcp_closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Sends bytes on a flow. A closed TCP connection is reported, not
    /// retried: RFC 3261 §18.2.2 would open a new one to the Via sent-by,
    /// which behind NAT rarely works; UDP callers are unaffected.
    pub fn send(&self, flow: SipFlow, bytes: Vec<u8>) -> bool {
        match flow {
            SipFlow::Udp { listener, remote } => match self.udp.get(listener).or(self.udp.first()) {
                Some((_, sock)) => match sock.try_send_to(&bytes, remote) {
                    Ok(_) => true,
                    Err(e) => {
                        warn!(%remote, error = %e, "udp send failed");
                        false
                    }
                },
                None => false,
            },
            SipFlow::Tcp { conn, remote } => match self.conns.get(&conn) {
                Some(w) => w.try_send(bytes).is_ok(),
                None => {
                    warn!(%remote, conn, "tcp connection gone; message not sent");
                    false
                }
            },
        }
    }

    /// The address we put in Via/Contact for a flow.
    pub fn local_addr(&self, flow: SipFlow) -> SocketAddr {
        match flow {
            SipFlow::Udp { listener, .. } => self.udp.get(listener).or(self.udp.first()).map(|u| u.0),
            SipFlow::Tcp { .. } => self.tcp.first().copied(),
        }
        .or_else(|| self.udp.first().map(|u| u.0))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }
}

async fn udp_reader(listener: usize, sock: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; wire::MAX_MESSAGE_SIZE + 1];
    loop {
        let (n, remote) = match sock.recv_from(&mut buf).await {
            Ok(v) => v,
            // An ICMP error (IP_RECVERR, `icmp.rs`): the refused requests'
            // transactions get the 503 of RFC 3261 §8.1.3.1.
            Err(e) => {
                debug!(error = %e, "udp recv error");
                for refused in super::icmp::drain(&sock) {
                    debug!(to = %refused.to, reason = %refused.reason, "request refused by the network");
                    let Some(resp) = super::icmp::as_503(&refused) else { continue };
                    let msg =
                        Inbound::Message { msg: Box::new(SipMessage::Response(resp)), flow: SipFlow::Udp { listener, remote: refused.to } };
                    if inbound.send(msg).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        let raw = &buf[..n];
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // keep-alive (RFC 5626 §4.4.1 CRLF) or empty
        }
        match wire::parse_message(raw) {
            Ok(msg) => {
                if inbound.send(Inbound::Message { msg: Box::new(msg), flow: SipFlow::Udp { listener, remote } }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if let Some(resp) = reject_malformed(raw, &e) {
                    let _ = sock.send_to(&resp, remote).await;
                }
            }
        }
    }
}

async fn tcp_acceptor(listener: TcpListener, inbound: mpsc::Sender<Inbound>, next: Arc<AtomicU64>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let conn = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(tcp_connection(conn, stream, remote, inbound.clone()));
            }
            Err(e) => {
                warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_connection(conn: ConnId, stream: TcpStream, remote: SocketAddr, inbound: mpsc::Sender<Inbound>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let own_writer = tx.clone();
    if inbound.send(Inbound::TcpOpened { conn, writer: tx }).await.is_err() {
        return;
    }
    let mut writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let flow = SipFlow::Tcp { conn, remote };
    let mut framer = StreamFramer::default();
    let mut chunk = vec![0u8; 8192];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&chunk[..n]);
        loop {
            match framer.next_frame() {
                StreamFrame::NeedMore => break,
                StreamFrame::Message(Ok(msg)) => {
                    if inbound.send(Inbound::Message { msg: Box::new(msg), flow }).await.is_err() {
                        break 'read;
                    }
                }
                // Framing held, so the stream stays usable.
                StreamFrame::Message(Err(reply)) => {
                    if let Some(resp) = reply {
                        let _ = own_writer.send(resp).await;
                    }
                }
                StreamFrame::Broken { error, reply } => {
                    // The stream can no longer be framed (§18.3): answer if we
                    // can, then close it.
                    warn!(%remote, %error, "tcp framing error; closing");
                    if let Some(resp) = reply {
                        let _ = own_writer.send(resp).await;
                    }
                    break 'read;
                }
            }
        }
    }
    // Responses to the requests read so far may still be on their way (the
    // endpoint has not handled them yet): the endpoint handles TcpClosed
    // after them, then drops its sender, and the writer ends once it has
    // written everything queued (RFC 4475 §3.1.1.8 dblreq over TCP: the
    // REGISTER is answered before a framing error closes the connection).
    drop(own_writer);
    let _ = inbound.send(Inbound::TcpClosed { conn }).await;
    if tokio::time::timeout(TCP_CLOSE_GRACE, &mut writer).await.is_err() {
        writer.abort(); // a peer that does not read
    }
}

/// What [`StreamFramer::next_frame`] found in the bytes received so far.
#[derive(Debug)]
pub enum StreamFrame {
    /// No whole message yet: read more.
    NeedMore,
    /// One framed message: parsed, or unparsable with the 400 (or 505/501/416)
    /// to send back if it can be answered. The stream stays usable.
    Message(Result<SipMessage, Option<Vec<u8>>>),
    /// The stream can no longer be framed (§18.3); the answer, if any, is
    /// sent and the connection closed.
    Broken { error: WireError, reply: Option<Vec<u8>> },
}

/// The receive side of one TCP connection without the socket: bytes in,
/// messages out (RFC 3261 §18.3 framing by Content-Length, CRLF keep-alives
/// skipped). Sans-IO so the fuzz targets drive the same code as the
/// connection task.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Cuts the next message off the buffer. After `Broken` the framer must
    /// not be used again.
    pub fn next_frame(&mut self) -> StreamFrame {
        let skip = wire::skip_keepalive(&self.buf);
        self.buf.drain(..skip);
        match wire::frame_stream(&self.buf) {
            Ok(None) => StreamFrame::NeedMore,
            Ok(Some(len)) => {
                let raw: Vec<u8> = self.buf.drain(..len).collect();
                StreamFrame::Message(wire::parse_message(&raw).map_err(|e| reject_malformed(&raw, &e)))
            }
            Err(error) => {
                let reply = reject_malformed(&self.buf, &error);
                StreamFrame::Broken { error, reply }
            }
        }
    }
}

/// How long a closing TCP connection may take to write its last responses.
const TCP_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Builds a 400 for an unparsable request that still carries a Via, by
/// copying its raw Via/From/To/Call-ID/CSeq lines (§8.2.6). Responses and
/// Via-less garbage are dropped and counted.
pub fn reject_malformed(raw: &[u8], err: &WireError) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let start = lines.next().unwrap_or("");
    let keep = |name: &str| {
        let n = name.trim().to_ascii_lowercase();
        matches!(n.as_str(), "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq")
    };
    let copied: Vec<&str> = lines.filter(|l| l.split_once(':').is_some_and(|(n, _)| keep(n))).collect();
    let has_via =
        copied.iter().any(|l| l.split_once(':').is_some_and(|(n, _)| matches!(n.trim().to_ascii_lowercase().as_str(), "via" | "v")));
    // A Request-URI with whitespace in it (RFC 4475 lwsruri) has more than
    // three tokens: still a request we can answer, by method and version.
    let tokens: Vec<&str> = start.split_whitespace().collect();
    let versioned = tokens.last().is_some_and(|v| v.to_ascii_uppercase().starts_with("SIP/"));
    if start.starts_with("SIP/") || !has_via || tokens.len() < 3 || (tokens.len() > 3 && !versioned) {
        crate::metrics::metrics().sip_dropped.inc();
        debug!(error = %err, "dropped unparsable message without a usable Via");
        return None;
    }
    crate::metrics::metrics().sip_malformed.inc();
    let (method, uri, version) = (tokens[0], tokens[1], tokens[tokens.len() - 1]);
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    let mut out = if !version.eq_ignore_ascii_case("SIP/2.0") {
        // §8.2 / §21.5.7 (RFC 4475 §3.1.2.16 badvers).
        "SIP/2.0 505 Version Not Supported\r\n".to_string()
    } else if is_unknown_method(method) {
        // §8.2.1: a method we do not implement is 501, with what we do.
        format!("SIP/2.0 501 Not Implemented\r\nAllow: {ALLOW}\r\n")
    } else if !uri.contains(':') || !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
        // §8.2.2.1: a Request-URI scheme we do not understand is 416.
        "SIP/2.0 416 Unsupported URI Scheme\r\n".to_string()
    } else {
        let reason: String = err.to_string().chars().filter(|c| !c.is_control()).take(100).collect();
        format!("SIP/2.0 400 Bad Request ({reason})\r\n")
    };
    for l in copied {
        out.push_str(l.trim_end());
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

/// Methods we answer (the Allow header of 200 OPTIONS, 405 and 501).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";

/// A syntactically valid method token (§25.1) that rsip does not know.
fn is_unknown_method(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        && token.parse::<rsip::Method>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_request_with_via_gets_a_400_naming_the_fault() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: c\r\nContent-Length: 999\r\n\r\nv=0";
        let err = wire::parse_message(raw).unwrap_err();
        let resp = String::from_utf8(reject_malformed(raw, &err).unwrap()).unwrap();
        assert!(resp.starts_with("SIP/2.0 400 Bad Request (body shorter than Content-Length"), "{resp}");
        assert!(resp.contains("Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"));
        assert!(reject_malformed(b"hello world\r\n\r\n", &err).is_none());
    }

    #[test]
    fn bad_version_and_unknown_scheme_get_505_and_416() {
        for (raw, want) in [
            (&b"OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/7.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 OPTIONS\r\n\r\n"[..], "SIP/2.0 505 "),
            (b"OPTIONS nobodyKnowsThisScheme:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 OPTIONS\r\n\r\n", "SIP/2.0 416 "),
        ] {
            let err = wire::parse_message(raw).err().unwrap_or(WireError::Unterminated);
            let resp = String::from_utf8(reject_malformed(raw, &err).unwrap()).unwrap();
            assert!(resp.starts_with(want), "{resp}");
        }
    }

    /// RFC 4475 §3.1.1.8 dblreq over TCP: a request, then bytes that cannot
    /// be framed. The request's answer is written before the close, even
    /// when the endpoint gets to it only after the connection has failed.
    #[tokio::test]
    async fn a_framing_error_closes_tcp_only_after_earlier_answers() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (tx, mut rx) = mpsc::channel(16);
        let mut transports = Transports::bind(&[ListenSpec::Tcp("127.0.0.1:0".parse().unwrap())], tx).await.unwrap();
        let mut client = TcpStream::connect(transports.tcp[0]).await.unwrap();
        let register = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKdbl\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: dbl\r\nCSeq: 8 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let broken = "INVITE sip:joe@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\nContent-Length: 4\r\nContent-Length: 9\r\n\r\n";
        client.write_all(format!("{register}{broken}").as_bytes()).await.unwrap();
        // A slow endpoint: it answers the REGISTER only once the connection
        // has already been reported closed.
        let Some(Inbound::TcpOpened { conn, writer }) = rx.recv().await else { panic!("no TcpOpened") };
        transports.tcp_opened(conn, writer);
        let Some(Inbound::Message { flow, .. }) = rx.recv().await else { panic!("the REGISTER was not framed") };
        let Some(Inbound::TcpClosed { conn: closed }) = rx.recv().await else { panic!("the framing error did not close") };
        // Let the connection task run on past its report (on this
        // single-threaded runtime), as a busy endpoint would.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert!(transports.send(flow, b"SIP/2.0 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".to_vec()));
        transports.tcp_closed(closed);
        let mut got = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(5), client.read_to_string(&mut got)).await.unwrap().unwrap();
        assert!(got.starts_with("SIP/2.0 400 Bad Request (bad Content-Length"), "the framing error is answered first: {got:?}");
        assert!(got.contains("SIP/2.0 405 Method Not Allowed"), "the REGISTER's answer is written before the close: {got:?}");
    }

    #[test]
    fn unknown_method_gets_501_with_allow() {
        let raw = b"NEWMETHOD sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 NEWMETHOD\r\n\r\n";
        let err = wire::parse_message(raw).unwrap_err();
        let resp = String::from_utf8(reject_malformed(raw, &err).unwrap()).unwrap();
        assert!(resp.starts_with("SIP/2.0 501 Not Implemented\r\nAllow: INVITE"), "{resp}");
    }
}
