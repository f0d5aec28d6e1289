//! Header helpers over rsip messages (RFC 3261 §8.2.6, §18.2.1, §18.2.2,
//! §20; RFC 3581 for `rport`).
//!
//! rsip keeps headers as strings and types them on demand; these helpers do
//! the few typed reads the gateway needs, tolerating what rsip cannot type
//! (several Via values on one line, unknown params).

use std::net::{IpAddr, SocketAddr};

use rsip::message::HasHeaders;
use rsip::{Header, Method, Request, Response, SipMessage, StatusCode};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { cseq: String, method: String },
    #[error("more than one {0} header")]
    Duplicate(&'static str),
}

fn headers_of(msg: &SipMessage) -> &rsip::Headers {
    match msg {
        SipMessage::Request(r) => r.headers(),
        SipMessage::Response(r) => r.headers(),
    }
}

/// Value of the first header with this (case-insensitive) name, for headers
/// rsip stores as `Other` and for a few it types.
pub fn header_value<'a>(headers: &'a rsip::Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| match h {
        Header::Other(n, v) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
        Header::Event(v) if name.eq_ignore_ascii_case("Event") => Some(v.value()),
        Header::ContentType(v) if name.eq_ignore_ascii_case("Content-Type") => Some(v.value()),
        Header::SubscriptionState(v) if name.eq_ignore_ascii_case("Subscription-State") => Some(v.value()),
        _ => None,
    })
}

use rsip::headers::{ToTypedHeader, UntypedHeader};

/// First comma-separated value of a header line (outside quotes and <>).
fn first_value(s: &str) -> &str {
    let (mut quoted, mut angle) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => return s[..i].trim(),
            _ => {}
        }
    }
    s.trim()
}

/// The raw top Via value (first value of the first Via header).
pub fn top_via_raw(msg: &SipMessage) -> Result<&str, HeaderError> {
    headers_of(msg)
        .iter()
        .find_map(|h| match h {
            Header::Via(v) => Some(first_value(v.value())),
            _ => None,
        })
        .ok_or(HeaderError::Missing("Via"))
}

/// Parsed top Via.
pub fn top_via(msg: &SipMessage) -> Result<rsip::typed::Via, HeaderError> {
    let raw = top_via_raw(msg)?;
    rsip::headers::Via::new(raw).typed().map_err(|_| HeaderError::Malformed("Via"))
}

/// A Via parameter's value (`Some("")` for a flag such as a bare `rport`).
pub fn via_param<'a>(via_raw: &'a str, name: &str) -> Option<&'a str> {
    via_raw.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').map(|(k, v)| (k.trim(), v.trim())).unwrap_or((p.trim(), ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// RFC 3261 §18.2.1 + RFC 3581 §4: record where a request really came from
/// in its top Via, so responses go back there.
pub fn stamp_received(req: &mut Request, source: SocketAddr) {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    }) else {
        return;
    };
    let line = via.value().to_string();
    let top = first_value(&line).to_string();
    let rest = &line[top.len()..];
    let mut params: Vec<String> = top.split(';').map(|s| s.trim().to_string()).collect();
    let sent_by = params.first().cloned().unwrap_or_default();
    params.retain(|p| {
        let k = p.split('=').next().unwrap_or("").trim();
        // Both are re-added below from what we saw.
        !k.eq_ignore_ascii_case("received") && !k.eq_ignore_ascii_case("rport")
    });
    let had_rport = via_param(&top, "rport").is_some();
    let host = sent_by.split_whitespace().nth(1).unwrap_or("");
    let host_only = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host).trim_matches(['[', ']']);
    if had_rport {
        params.push(format!("rport={}", source.port()));
    }
    if had_rport || host_only.parse::<IpAddr>().ok() != Some(source.ip()) {
        params.push(format!("received={}", source.ip()));
    }
    *via = rsip::headers::Via::new(format!("{}{}", params.join(";"), rest));
}

/// Where a response goes over UDP (§18.2.2 + RFC 3581 §4): received/rport
/// of the top Via, else its sent-by, port 5060 by default.
pub fn response_destination(resp: &Response) -> Option<SocketAddr> {
    let msg = SipMessage::Response(resp.clone());
    let raw = top_via_raw(&msg).ok()?;
    let sent_by = raw.split(';').next()?.split_whitespace().nth(1)?;
    let (host, port) = match sent_by.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse::<u16>().ok()),
        _ => (sent_by, None),
    };
    let ip: IpAddr = match via_param(raw, "received") {
        Some(r) => r.parse().ok()?,
        None => host.trim_matches(['[', ']']).parse().ok()?,
    };
    let port = via_param(raw, "rport").and_then(|p| p.parse().ok()).or(port).unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

pub fn call_id(headers: &rsip::Headers) -> Option<&str> {
    headers.iter().find_map(|h| match h {
        Header::CallId(c) => Some(c.value().trim()),
        _ => None,
    })
}

/// CSeq number and method.
pub fn cseq(headers: &rsip::Headers) -> Option<(u32, Method)> {
    headers.iter().find_map(|h| match h {
        Header::CSeq(c) => c.typed().ok().map(|c| (c.seq, c.method)),
        _ => None,
    })
}

fn tag_param(value: &str) -> Option<String> {
    // The tag is a header param: after the closing '>' when the URI is
    // bracketed, else after the URI.
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("tag").then(|| v.trim().to_string())
    })
}

pub fn from_tag(headers: &rsip::Headers) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::From(f) => tag_param(f.value()),
        _ => None,
    })
}

pub fn to_tag(headers: &rsip::Headers) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::To(t) => tag_param(t.value()),
        _ => None,
    })
}

/// RFC 3261 §8.1.1 mandatory headers of a request, each once (§7.3.1: only
/// comma-list headers may repeat; RFC 4475 §3.3.8 multi01), every Via
/// well-formed (§20.42; RFC 4475 §3.1.2.1 badinv01), and CSeq method match
/// (§8.2.2 fails such requests with 400).
pub fn check_request(req: &Request) -> Result<(), HeaderError> {
    let h = &req.headers;
    let count = |f: fn(&Header) -> bool| h.iter().filter(|x| f(x)).count();
    for (name, n) in [
        ("From", count(|x| matches!(x, Header::From(_)))),
        ("To", count(|x| matches!(x, Header::To(_)))),
        ("Call-ID", count(|x| matches!(x, Header::CallId(_)))),
        ("CSeq", count(|x| matches!(x, Header::CSeq(_)))),
        ("Max-Forwards", count(|x| matches!(x, Header::MaxForwards(_)))),
    ] {
        if n > 1 {
            return Err(HeaderError::Duplicate(name));
        }
    }
    for via in h.iter().filter_map(|x| if let Header::Via(v) = x { Some(v.value()) } else { None }) {
        if !via_well_formed(via) {
            return Err(HeaderError::Malformed("Via"));
        }
    }
    if !h.iter().any(|h| matches!(h, Header::From(_))) {
        return Err(HeaderError::Missing("From"));
    }
    if !h.iter().any(|h| matches!(h, Header::To(_))) {
        return Err(HeaderError::Missing("To"));
    }
    if call_id(h).is_none_or(str::is_empty) {
        return Err(HeaderError::Missing("Call-ID"));
    }
    let has_cseq = h.iter().any(|h| matches!(h, Header::CSeq(_)));
    let Some((_, method)) = cseq(h) else {
        return Err(if has_cseq { HeaderError::Malformed("CSeq") } else { HeaderError::Missing("CSeq") });
    };
    if method != req.method {
        return Err(HeaderError::CSeqMismatch { cseq: method.to_string(), method: req.method.to_string() });
    }
    Ok(())
}

/// §20.42 / §25.1: `via-parm *(COMMA via-parm)`, each `protocol-name "/"
/// version "/" transport LWS sent-by *(SEMI via-params)` with no empty
/// value, parameter name or (unquoted) parameter value. Expects the LWS
/// around separators already removed (wire.rs does).
fn via_well_formed(line: &str) -> bool {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    split_values(line).into_iter().all(|parm| {
        let mut parts = parm.split(';');
        let Some((protocol, sent_by)) = parts.next().and_then(|p| p.split_once(' ')) else { return false };
        let proto: Vec<&str> = protocol.split('/').collect();
        let sent_by_ok = !sent_by.trim().is_empty() && !sent_by.trim().contains(char::is_whitespace);
        proto.len() == 3
            && proto.iter().all(|p| token(p))
            && sent_by_ok
            && parts.all(|p| match p.split_once('=') {
                Some((k, v)) => token(k) && !v.is_empty() && (v.starts_with('"') || !v.contains(char::is_whitespace)),
                None => token(p),
            })
    })
}

/// The comma-separated values of a header line (outside quotes and <>).
fn split_values(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let value = first_value(rest);
        let consumed = rest.find(value).map_or(rest.len(), |i| i + value.len());
        out.push(value);
        match rest[consumed..].find(',') {
            Some(i) => rest = &rest[consumed + i + 1..],
            None => return out,
        }
    }
}

/// Builds a response to `req` (§8.2.6): Via, From, To (+ our tag unless it
/// has one), Call-ID and CSeq copied; Record-Route copied for responses that
/// can create a dialog (§12.1.1).
pub fn make_response(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    let mut headers = rsip::Headers::default();
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => headers.push(h.clone()),
            Header::To(t) => {
                let mut value = t.value().to_string();
                if let Some(tag) = to_tag.filter(|_| tag_param(&value).is_none()) {
                    value.push_str(";tag=");
                    value.push_str(tag);
                }
                headers.push(Header::To(rsip::headers::To::new(value)));
            }
            Header::RecordRoute(_) if matches!(req.method, Method::Invite) && status.code() < 300 && status.code() > 100 => {
                headers.push(h.clone())
            }
            _ => {}
        }
    }
    headers.push(Header::Server(rsip::headers::Server::new(concat!("Centralita/", env!("CARGO_PKG_VERSION")))));
    Response { status_code: status, version: rsip::Version::V2, headers, body: Vec::new() }
}

/// A status with our own reason phrase, so a 400 names the fault.
pub fn status_with_reason(code: u16, reason: &str) -> StatusCode {
    // Reason phrases cannot carry CR/LF; keep them on one short line.
    let clean: String = reason.chars().filter(|c| !c.is_control()).take(120).collect();
    StatusCode::Other(code, clean)
}

/// RFC 3261 §20.43: a 488 says why with `Warning: 305 <agent> "<text>"`
/// (305 = Incompatible media format).
pub fn add_media_warning(resp: &mut Response) {
    if resp.status_code.code() != 488 {
        return;
    }
    let text = match &resp.status_code {
        StatusCode::Other(_, reason) => reason.replace('"', "'"),
        _ => "Incompatible media format".into(),
    };
    resp.headers.push(Header::Warning(rsip::headers::Warning::new(format!("305 centralita \"{text}\""))));
}

/// A fresh branch with the RFC 3261 magic cookie.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token(16))
}

pub fn new_tag() -> String {
    random_token(12)
}

pub fn random_token(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Request {
        match crate::sip::wire::parse_message(s.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            _ => panic!(),
        }
    }

    const OPT: &str = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1:5062;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=ft\r\nTo: \"X, Y\" <sip:x@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\n\r\n";

    #[test]
    fn rport_and_received_route_the_response() {
        let mut r = req(OPT);
        stamp_received(&mut r, "127.0.0.1:40000".parse().unwrap());
        let resp = make_response(&r, StatusCode::OK, Some("tt"));
        assert_eq!(response_destination(&resp), Some("127.0.0.1:40000".parse().unwrap()));
        assert_eq!(to_tag(&resp.headers).as_deref(), Some("tt"));
        assert_eq!(from_tag(&resp.headers).as_deref(), Some("ft"));
        assert!(resp.to_string().contains("SIP/2.0/UDP 10.9.9.9"), "second Via kept");
    }

    #[test]
    fn without_rport_the_sent_by_port_is_used() {
        let mut r = req(&OPT.replace(";rport", ""));
        stamp_received(&mut r, "127.0.0.1:40000".parse().unwrap());
        let resp = make_response(&r, StatusCode::OK, None);
        assert_eq!(response_destination(&resp), Some("127.0.0.1:5062".parse().unwrap()));
    }

    #[test]
    fn request_checks_name_the_fault() {
        assert_eq!(check_request(&req(OPT)), Ok(()));
        assert_eq!(check_request(&req(&OPT.replace("Call-ID: c1\r\n", ""))), Err(HeaderError::Missing("Call-ID")));
        assert!(matches!(check_request(&req(&OPT.replace("7 OPTIONS", "7 INVITE"))), Err(HeaderError::CSeqMismatch { .. })));
        assert_eq!(cseq(&req(OPT).headers), Some((7, Method::Options)));
    }

    /// RFC 4475 §3.3.8 multi01 and §3.1.2.1 badinv01.
    #[test]
    fn duplicate_single_headers_and_empty_via_params_are_400s() {
        let dup = OPT.replace("Call-ID: c1\r\n", "Call-ID: c1\r\nCall-ID: c2\r\n");
        assert_eq!(check_request(&req(&dup)), Err(HeaderError::Duplicate("Call-ID")));
        let dup = OPT.replace("CSeq: 7 OPTIONS\r\n", "CSeq: 7 OPTIONS\r\nTo: <sip:other@example.net>\r\n");
        assert_eq!(check_request(&req(&dup)), Err(HeaderError::Duplicate("To")));
        for via in ["SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP 192.0.2.15;branch=", "SIP/2.0 192.0.2.15", "SIP/2.0/UDP 192.0.2.15,"] {
            let bad = OPT.replace("SIP/2.0/UDP 10.1.1.1:5062;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb", via);
            assert_eq!(check_request(&req(&bad)), Err(HeaderError::Malformed("Via")), "{via}");
        }
        let fine = OPT.replace("z9hG4bKb", "z9hG4bKb;received=192.0.2.1;maddr=[::1];x=\"a b\"");
        assert_eq!(check_request(&req(&fine)), Ok(()));
    }
}
