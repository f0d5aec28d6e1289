//! Header access and message building shared by the transactions: the
//! 100 (Trying) a server INVITE transaction sends on its own (RFC 3261
//! §17.2.1, headers per §8.2.6.2) and the ACK an INVITE client transaction
//! builds for a non-2xx final (§17.1.1.3).
//!
//! Lookups are on raw header values and never fail hard: a missing or
//! garbled header just leaves the built message without it. They accept the
//! compact forms of §7.3.3 (`v`, `f`, `t`, `i`), which rsip 0.4 leaves as
//! `Header::Other`.

use rsip::headers::{ContentLength, UntypedHeader};
use rsip::{Header, Headers, Method, Request, Response, StatusCode};

use super::TransactionError;

/// The headers the transactions read or copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Route,
    Timestamp,
}

impl Kind {
    fn matches(self, header: &Header) -> bool {
        match (self, header) {
            (Self::Via, Header::Via(_))
            | (Self::From, Header::From(_))
            | (Self::To, Header::To(_))
            | (Self::CallId, Header::CallId(_))
            | (Self::CSeq, Header::CSeq(_))
            | (Self::Route, Header::Route(_))
            | (Self::Timestamp, Header::Timestamp(_)) => true,
            (_, Header::Other(name, _)) => self.names().iter().any(|n| name.eq_ignore_ascii_case(n)),
            _ => false,
        }
    }

    /// Names rsip may leave as `Header::Other` (long and compact forms).
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Via => &["Via", "v"],
            Self::From => &["From", "f"],
            Self::To => &["To", "t"],
            Self::CallId => &["Call-ID", "i"],
            Self::CSeq => &["CSeq"],
            Self::Route => &["Route"],
            Self::Timestamp => &["Timestamp"],
        }
    }
}

/// The raw value of a header the transactions care about.
fn value_of(header: &Header) -> Option<&str> {
    Some(match header {
        Header::Via(h) => h.value(),
        Header::From(h) => h.value(),
        Header::To(h) => h.value(),
        Header::CallId(h) => h.value(),
        Header::CSeq(h) => h.value(),
        Header::Route(h) => h.value(),
        Header::Timestamp(h) => h.value(),
        Header::Other(_, v) => v.as_str(),
        _ => return None,
    })
}

/// The value of the first `kind` header.
pub(crate) fn first_value(headers: &Headers, kind: Kind) -> Option<&str> {
    headers.iter().find(|h| kind.matches(h)).and_then(value_of)
}

/// The top Via value: the first element of the first Via header (§7.3.1
/// allows several comma-separated values on one line).
pub(crate) fn top_via(headers: &Headers) -> Option<&str> {
    first_value(headers, Kind::Via).map(|v| v.split(',').next().unwrap_or(v).trim())
}

/// A top Via, split into what transaction matching needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ViaParts {
    /// host[:port], whitespace removed, lower-cased.
    pub(crate) sent_by: String,
    /// The `branch` parameter, if any (case kept).
    pub(crate) branch: Option<String>,
}

/// Parses `SIP/2.0/UDP host:port;branch=…;…` (§20.42), tolerating the LWS
/// the grammar allows around `/` and `:`.
pub(crate) fn parse_via(value: &str) -> Result<ViaParts, TransactionError> {
    let malformed = || TransactionError::MalformedVia(value.to_string());
    let (head, params) = match value.split_once(';') {
        Some((h, p)) => (h, p),
        None => (value, ""),
    };
    // sent-protocol is name / version / transport: skip past the second '/'.
    let after_protocol = head.splitn(3, '/').nth(2).ok_or_else(malformed)?.trim_start();
    let (transport, sent_by) = after_protocol.split_once(char::is_whitespace).ok_or_else(malformed)?;
    let sent_by: String = sent_by.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    if transport.is_empty() || sent_by.is_empty() {
        return Err(malformed());
    }
    let branch = param(params, "branch").map(str::to_string);
    Ok(ViaParts { sent_by, branch })
}

/// A `name=value` parameter in a `;`-separated list; an empty value counts
/// as absent.
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        let v = v.trim();
        (n.trim().eq_ignore_ascii_case(name) && !v.is_empty()).then_some(v)
    })
}

/// A header parameter of a name-addr / addr-spec header (From, To): the
/// `tag` of §19.3. Parameters inside `<…>` belong to the URI and are
/// skipped; without brackets every `;param` is a header parameter (§20.10).
pub(crate) fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(i) => value.get(i + 1..)?,
        None => value.split_once(';').map_or("", |(_, p)| p),
    };
    param(params, name)
}

/// `CSeq: 4711 INVITE` → (4711, "INVITE"), method upper-cased.
pub(crate) fn parse_cseq(value: &str) -> Result<(u32, String), TransactionError> {
    let malformed = || TransactionError::MalformedCSeq(value.to_string());
    let mut parts = value.split_whitespace();
    let seq = parts.next().and_then(|s| s.parse::<u32>().ok()).ok_or_else(malformed)?;
    let method = parts.next().ok_or_else(malformed)?.to_ascii_uppercase();
    if parts.next().is_some() {
        return Err(malformed());
    }
    Ok((seq, method))
}

/// The CSeq of a message, parsed.
pub(crate) fn cseq(headers: &Headers) -> Result<(u32, String), TransactionError> {
    parse_cseq(first_value(headers, Kind::CSeq).ok_or(TransactionError::MissingCSeq)?)
}

/// The class of a response: 1 for 1xx … 6 for 6xx (0 or ≥ 7 for junk).
pub(crate) fn class(response: &Response) -> u16 {
    response.status_code.code() / 100
}

fn copy(from: &Headers, kinds: &[Kind]) -> Vec<Header> {
    from.iter().filter(|h| kinds.iter().any(|k| k.matches(h))).cloned().collect()
}

/// The 100 (Trying) for `request`: Via, From, To, Call-ID, CSeq and
/// Timestamp copied in order (§8.2.6), no To tag added, Content-Length 0.
pub(crate) fn build_trying(request: &Request) -> Response {
    let mut headers: Headers = copy(&request.headers, &[Kind::Via, Kind::From, Kind::To, Kind::CallId, Kind::CSeq, Kind::Timestamp]).into();
    headers.push(Header::ContentLength(ContentLength::default()));
    Response { status_code: StatusCode::Trying, version: request.version.clone(), headers, body: Vec::new() }
}

/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): same
/// Request-URI, the INVITE's top Via only, its Route headers, Max-Forwards
/// 70, its From and Call-ID, the response's To (with the UAS's tag), CSeq
/// with the INVITE's number and method ACK, no body.
pub(crate) fn build_ack(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::default();
    if let Some(via) = top_via(&invite.headers) {
        headers.push(Header::Via(rsip::headers::Via::new(via)));
    }
    headers.extend(copy(&invite.headers, &[Kind::Route]));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers.extend(copy(&invite.headers, &[Kind::From]));
    let to = copy(&response.headers, &[Kind::To]).into_iter().next();
    let to = to.or_else(|| copy(&invite.headers, &[Kind::To]).into_iter().next());
    if let Some(to) = to {
        headers.push(to);
    }
    headers.extend(copy(&invite.headers, &[Kind::CallId]));
    if let Ok((seq, _)) = cseq(&invite.headers) {
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!("{seq} ACK"))));
    }
    headers.push(Header::ContentLength(ContentLength::default()));
    Request { method: Method::Ack, uri: invite.uri.clone(), version: invite.version.clone(), headers, body: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_parts() {
        let v = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKab1").unwrap();
        assert_eq!(v.sent_by, "10.0.0.1:5060");
        assert_eq!(v.branch.as_deref(), Some("z9hG4bKab1"));
        let v = parse_via("SIP / 2.0 / TCP  Host.Example : 5070 ; BRANCH = z9hG4bKx").unwrap();
        assert_eq!(v.sent_by, "host.example:5070");
        assert_eq!(v.branch.as_deref(), Some("z9hG4bKx"));
        let v = parse_via("SIP/2.0/UDP [::1]:5060").unwrap();
        assert_eq!((v.sent_by.as_str(), v.branch), ("[::1]:5060", None));
        assert!(parse_via("garbage").is_err());
        assert!(parse_via("SIP/2.0/UDP").is_err());
        assert!(parse_via("").is_err());
    }

    #[test]
    fn tags_and_cseq() {
        assert_eq!(header_param("<sip:a@b;tag=uri>;tag=hdr", "tag"), Some("hdr"));
        assert_eq!(header_param("\"A\" <sip:a@b>", "tag"), None);
        assert_eq!(header_param("sip:a@b;tag=x1", "tag"), Some("x1"));
        assert_eq!(parse_cseq(" 12  invite ").unwrap(), (12, "INVITE".into()));
        assert!(parse_cseq("x INVITE").is_err());
        assert!(parse_cseq("1").is_err());
        assert!(parse_cseq("1 INVITE extra").is_err());
    }
}
