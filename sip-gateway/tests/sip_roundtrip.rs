//! Property tests (issue #15, "Fuzzing"): a SIP message we print
//! (`wire::serialize`) parses back (`wire::parse_message`) to the same
//! message: start line, every header in order, body byte for byte.
//! Requests and responses with generated URIs, headers (the mandatory
//! ones, Contact, Subject with spaces, extension headers) and bodies
//! (text, SDP-like, and bytes that are not UTF-8). The same message
//! written the way peers write it (compact names, folded lines, LWS after
//! the colon, bare LF) parses to the same message too.

use proptest::prelude::*;
use rsip::{Header, Headers, SipMessage};
use sip_gateway::sip::wire;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (any::<u8>(), any::<u8>(), any::<u8>(), 1u8..255).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
    ]
}

fn host_port() -> impl Strategy<Value = String> {
    (host(), proptest::option::of(1u16..)).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof!["sip", "sips"],
        proptest::option::of("[a-z0-9][a-z0-9._+-]{0,10}"),
        host_port(),
        proptest::option::of("(transport=(udp|tcp)|lr|user=phone)"),
    )
        .prop_map(|(scheme, user, hp, param)| {
            let user = user.map(|u| format!("{u}@")).unwrap_or_default();
            let param = param.map(|p| format!(";{p}")).unwrap_or_default();
            format!("{scheme}:{user}{hp}{param}")
        })
}

/// An address header value: optional display name, <uri>, optional tag.
fn name_addr(tag: bool) -> impl Strategy<Value = String> {
    (proptest::option::of("[A-Za-z][A-Za-z0-9 ]{0,14}[A-Za-z0-9]"), uri(), token()).prop_map(move |(name, u, t)| {
        let name = name.map(|n| format!("\"{n}\" ")).unwrap_or_default();
        let tag = if tag { format!(";tag={t}") } else { String::new() };
        format!("{name}<{u}>{tag}")
    })
}

/// Visible text with single inner spaces (header values are trimmed and
/// folding collapses whitespace, so neither end nor runs of it survive).
fn text() -> impl Strategy<Value = String> {
    "[!-~]{1,8}( [!-~]{1,8}){0,4}"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        "[ -~]{1,80}".prop_map(String::into_bytes),
        (host(), 1024u16..).prop_map(|(h, p)| format!("v=0\r\no=- 1 1 IN IP4 {h}\r\ns=-\r\nc=IN IP4 {h}\r\nt=0 0\r\nm=audio {p} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n").into_bytes()),
        proptest::collection::vec(any::<u8>(), 1..200),
    ]
}

const METHODS: &[&str] =
    &["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "NOTIFY", "REFER", "MESSAGE", "SUBSCRIBE", "PRACK"];

/// Header lines after the start line: (name, value), in order.
fn headers(method: &'static str) -> impl Strategy<Value = Vec<(String, String)>> {
    (
        proptest::collection::vec((prop_oneof!["UDP", "TCP", "TLS"], host_port(), token()), 1..4),
        name_addr(true),
        name_addr(false),
        (token(), proptest::option::of(host())),
        0u32..=u32::MAX / 2,
        0u32..=70,
        proptest::option::of(name_addr(false)),
        proptest::option::of(text()),
        proptest::collection::vec(("X-[A-Za-z][A-Za-z0-9-]{0,10}", text()), 0..4),
    )
        .prop_map(move |(vias, from, to, (cid, cid_host), cseq, mf, contact, subject, ext)| {
            let mut h = Vec::new();
            for (transport, sent_by, branch) in vias {
                h.push(("Via".into(), format!("SIP/2.0/{transport} {sent_by};branch=z9hG4bK{branch}")));
            }
            h.push(("From".into(), from));
            h.push(("To".into(), to));
            h.push(("Call-ID".into(), cid_host.map(|c| format!("{cid}@{c}")).unwrap_or(cid)));
            h.push(("CSeq".into(), format!("{cseq} {method}")));
            h.push(("Max-Forwards".into(), mf.to_string()));
            if let Some(c) = contact {
                h.push(("Contact".into(), c));
            }
            if let Some(s) = subject {
                h.push(("Subject".into(), s));
            }
            h.extend(ext);
            h
        })
}

/// A message as text with its canonical header names.
#[derive(Debug, Clone)]
struct Msg {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Msg {
    fn with_content_type(mut self) -> Self {
        if !self.body.is_empty() {
            self.headers.push(("Content-Type".into(), "application/octet-stream".into()));
        }
        self
    }

    /// Printed the canonical way, through rsip and `wire::serialize`.
    fn to_rsip(&self) -> SipMessage {
        let mut text = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut raw = text.into_bytes();
        raw.extend_from_slice(&self.body);
        SipMessage::try_from(raw.as_slice()).unwrap_or_else(|e| panic!("the generator made a message rsip refuses ({e}): {self:?}"))
    }

    /// Written as peers do: compact names, LWS after the colon, a folded
    /// Subject, bare LF line ends when `lf`.
    fn peer_style(&self, lf: bool) -> Vec<u8> {
        let compact = |n: &str| match n {
            "Via" => "v",
            "From" => "f",
            "To" => "t",
            "Call-ID" => "i",
            "Contact" => "m",
            "Subject" => "s",
            "Content-Type" => "c",
            _ => "",
        };
        let eol = if lf { "\n" } else { "\r\n" };
        let mut text = format!("{}{eol}", self.start);
        for (n, v) in &self.headers {
            let name = if compact(n).is_empty() { n.as_str() } else { compact(n) };
            let v = match (n.as_str(), v.split_once(' ')) {
                ("Subject", Some((a, b))) => format!("{a}{eol}\t {b}"),
                _ => v.clone(),
            };
            text.push_str(&format!("{name} :   {v}{eol}"));
        }
        text.push_str(&format!("l: {}{eol}{eol}", self.body.len()));
        let mut raw = text.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }
}

fn request() -> impl Strategy<Value = Msg> {
    proptest::sample::select(METHODS).prop_flat_map(|method| {
        (uri(), headers(method), body())
            .prop_map(move |(u, h, b)| Msg { start: format!("{method} {u} SIP/2.0"), headers: h, body: b }.with_content_type())
    })
}

fn response() -> impl Strategy<Value = Msg> {
    (100u16..700, text(), proptest::sample::select(METHODS), body()).prop_flat_map(|(code, reason, method, b)| {
        headers(method)
            .prop_map(move |h| Msg { start: format!("SIP/2.0 {code} {reason}"), headers: h, body: b.clone() }.with_content_type())
    })
}

fn lines(h: &Headers) -> Vec<String> {
    h.iter().filter(|h| !matches!(h, Header::ContentLength(_))).map(|h| h.to_string()).collect()
}

/// Same start line, same headers in the same order, same body.
fn assert_same(got: &SipMessage, want: &SipMessage) -> Result<(), TestCaseError> {
    match (got, want) {
        (SipMessage::Request(g), SipMessage::Request(w)) => {
            prop_assert_eq!(&g.method, &w.method);
            prop_assert_eq!(g.uri.to_string(), w.uri.to_string());
            prop_assert_eq!(lines(&g.headers), lines(&w.headers));
            prop_assert_eq!(&g.body, &w.body);
        }
        (SipMessage::Response(g), SipMessage::Response(w)) => {
            prop_assert_eq!(g.status_code.code(), w.status_code.code());
            prop_assert_eq!(g.status_code.to_string(), w.status_code.to_string());
            prop_assert_eq!(lines(&g.headers), lines(&w.headers));
            prop_assert_eq!(&g.body, &w.body);
        }
        _ => prop_assert!(false, "a request became a response or back: {got:?}"),
    }
    Ok(())
}

fn round_trip(m: &Msg) -> Result<(), TestCaseError> {
    let msg = m.to_rsip();
    let printed = wire::serialize(&msg);
    let parsed = wire::parse_message(&printed).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&printed))))?;
    assert_same(&parsed, &msg)?;
    // Printing again gives the same bytes: nothing drifts hop after hop.
    prop_assert_eq!(wire::serialize(&parsed), printed);
    // One stream framing of the printed message is the whole of it.
    prop_assert_eq!(wire::frame_stream(&wire::serialize(&parsed)).unwrap(), Some(wire::serialize(&parsed).len()));
    Ok(())
}

fn peer_round_trip(m: &Msg, lf: bool) -> Result<(), TestCaseError> {
    let msg = m.to_rsip();
    let raw = m.peer_style(lf);
    let parsed = wire::parse_message(&raw).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&raw))))?;
    assert_same(&parsed, &msg)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn requests_print_then_parse_to_themselves(m in request()) {
        round_trip(&m)?;
    }

    #[test]
    fn responses_print_then_parse_to_themselves(m in response()) {
        round_trip(&m)?;
    }

    #[test]
    fn requests_written_like_peers_parse_to_the_same(m in request(), lf in any::<bool>()) {
        peer_round_trip(&m, lf)?;
    }

    #[test]
    fn responses_written_like_peers_parse_to_the_same(m in response(), lf in any::<bool>()) {
        peer_round_trip(&m, lf)?;
    }
}
