//! SIP message framing and parsing (RFC 3261 §7, §7.3.1, §7.5, §18.3).
//!
//! rsip does the grammar; this module does what it leaves to us: header line
//! unfolding (§7.3.1), compact header names (§7.3.3), framing a message out
//! of a TCP byte stream by Content-Length (§18.3), cutting a UDP body to its
//! Content-Length, and turning any parser panic into an error so bad input
//! can never take the gateway down.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rsip::SipMessage;

/// Largest message we accept (header block + body). Big enough for any sane
/// INVITE with SDP, small enough that a flood of garbage costs little.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message has no end of headers (CRLF CRLF)")]
    Unterminated,
    #[error("message larger than {MAX_MESSAGE_SIZE} bytes")]
    TooLarge,
    #[error("bad Content-Length header: {0}")]
    BadContentLength(String),
    #[error("body shorter than Content-Length ({declared} declared, {actual} present)")]
    BodyTooShort { declared: usize, actual: usize },
    #[error("headers are not valid UTF-8")]
    NotUtf8,
    #[error("unparsable SIP message: {0}")]
    Syntax(String),
}

/// RFC 3261 §7.3.3 compact forms, plus RFC 3515 (r, b) and RFC 3265 (o, u).
fn expand_compact(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "i" => "Call-ID",
        "m" => "Contact",
        "e" => "Content-Encoding",
        "l" => "Content-Length",
        "c" => "Content-Type",
        "f" => "From",
        "s" => "Subject",
        "k" => "Supported",
        "t" => "To",
        "v" => "Via",
        "o" => "Event",
        "u" => "Allow-Events",
        "r" => "Refer-To",
        "b" => "Referred-By",
        _ => return None,
    })
}

/// A header block split into its start line and unfolded header lines.
struct HeaderBlock {
    start_line: String,
    headers: Vec<(String, String)>,
}

fn split_header_block(head: &str) -> HeaderBlock {
    let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
    let start_line = lines.next().unwrap_or_default().trim_end().to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // §7.3.1: a continuation line folds into the previous header.
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            let name = expand_compact(name).map(str::to_string).unwrap_or_else(|| name.to_string());
            headers.push((name, value.trim().to_string()));
        } else if !line.trim().is_empty() {
            headers.push((line.trim().to_string(), String::new()));
        }
    }
    HeaderBlock { start_line, headers }
}

fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, WireError> {
    match headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("Content-Length")) {
        None => Ok(None),
        Some((_, v)) => v.trim().parse::<usize>().map(Some).map_err(|_| WireError::BadContentLength(v.clone())),
    }
}

/// Tries to cut one whole message off the front of a stream buffer (TCP,
/// §18.3). Returns `Ok(None)` when more bytes are needed, otherwise the
/// message length. Leading CRLF keep-alives (RFC 5626 §3.5.1) are skipped by
/// the caller with [`skip_keepalive`].
pub fn frame_stream(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some((head_end, body_start)) = find_header_end(buf) else {
        return if buf.len() > MAX_MESSAGE_SIZE { Err(WireError::TooLarge) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| WireError::NotUtf8)?;
    let block = split_header_block(head);
    // On a stream Content-Length is mandatory (§18.3, §20.14).
    let len = content_length(&block.headers)?.ok_or_else(|| WireError::BadContentLength("missing on a stream transport".into()))?;
    if body_start + len > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge);
    }
    if buf.len() < body_start + len {
        return Ok(None);
    }
    Ok(Some(body_start + len))
}

/// Number of leading CR/LF bytes (keep-alives between stream messages).
pub fn skip_keepalive(buf: &[u8]) -> usize {
    buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count()
}

/// Parses one whole datagram or framed stream message.
pub fn parse_message(raw: &[u8]) -> Result<SipMessage, WireError> {
    if raw.len() > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge);
    }
    let raw = &raw[skip_keepalive(raw)..];
    let (head_end, body_start) = find_header_end(raw).ok_or(WireError::Unterminated)?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| WireError::NotUtf8)?;
    let block = split_header_block(head);
    let available = raw.len() - body_start;
    // §18.3: on UDP a missing Content-Length means "the rest of the datagram";
    // extra bytes beyond it are discarded; fewer is an error (400).
    let body_len = match content_length(&block.headers)? {
        Some(n) if n > available => return Err(WireError::BodyTooShort { declared: n, actual: available }),
        Some(n) => n,
        None => available,
    };
    let mut text = String::with_capacity(head.len() + 64);
    text.push_str(&block.start_line);
    text.push_str("\r\n");
    for (name, value) in &block.headers {
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&raw[body_start..body_start + body_len]);
    // rsip is a nom parser over untrusted input; a panic inside it must not
    // unwind into the transport task.
    match catch_unwind(AssertUnwindSafe(|| SipMessage::try_from(bytes.as_slice()))) {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) => Err(WireError::Syntax(e.to_string())),
        Err(_) => Err(WireError::Syntax("parser failure".into())),
    }
}

/// Serialises a message for the wire; Content-Length is always rewritten to
/// the real body length so nothing we send can be mis-framed.
pub fn serialize(msg: &SipMessage) -> Vec<u8> {
    use rsip::message::HasHeaders;
    let mut msg = msg.clone();
    let len = msg.body().len();
    let headers = match &mut msg {
        SipMessage::Request(r) => r.headers_mut(),
        SipMessage::Response(r) => r.headers_mut(),
    };
    headers.retain(|h| !matches!(h, rsip::Header::ContentLength(_)));
    headers.push(rsip::Header::ContentLength(rsip::headers::ContentLength::from(len as u32)));
    msg.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:bob@example.com>\r\ni: abc@1\r\nCSeq: 1 INVITE\r\nSubject: folded\r\n  line\r\nl: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn compact_headers_and_folding_are_normalised() {
        let SipMessage::Request(req) = parse_message(INVITE.as_bytes()).unwrap() else { panic!() };
        use rsip::message::HeadersExt;
        assert_eq!(req.call_id_header().unwrap().to_string(), "Call-ID: abc@1");
        assert_eq!(req.body, b"body");
        let s = req.to_string();
        assert!(s.contains("Subject: folded line"), "{s}");
    }

    #[test]
    fn short_body_is_an_error() {
        let m = INVITE.replace("l: 4", "l: 400");
        assert!(matches!(parse_message(m.as_bytes()), Err(WireError::BodyTooShort { .. })));
    }

    #[test]
    fn stream_framing_waits_for_the_body() {
        let m = INVITE.replace("EXTRA", "");
        assert_eq!(frame_stream(&m.as_bytes()[..m.len() - 1]).unwrap(), None);
        assert_eq!(frame_stream(m.as_bytes()).unwrap(), Some(m.len()));
        let no_len = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert!(frame_stream(no_len.as_bytes()).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for g in [&b""[..], b"\r\n\r\n", b"\xff\xfe\r\n\r\n", b"INVITE\r\n\r\n", b"SIP/2.0 99999999999 x\r\n\r\n"] {
            let _ = parse_message(g);
        }
    }
}
