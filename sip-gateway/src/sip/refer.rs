//! Blind transfer with context: REFER (RFC 3515 §2.4), its Refer-To with
//! embedded URI headers (RFC 3261 §19.1.1), User-to-User (RFC 7433 §4,
//! hex encoding), and the NOTIFY message/sipfrag progress (RFC 3515 §2.4.5).

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferError {
    #[error("not a SIP URI: {0:?}")]
    BadUri(String),
    #[error("sipfrag body has no status line")]
    BadSipfrag,
}

/// A typed SIP URI for transfer targets (never a bare string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri(rsip::Uri);

impl SipUri {
    pub fn inner(&self) -> &rsip::Uri {
        &self.0
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses `sip:` / `sips:` URIs (angle brackets tolerated).
pub fn parse_sip_uri(s: &str) -> Result<SipUri, ReferError> {
    let t = s.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = t.to_ascii_lowercase();
    if !(lower.starts_with("sip:") || lower.starts_with("sips:")) || t.contains(['?', ' ', '\r', '\n']) {
        return Err(ReferError::BadUri(s.into()));
    }
    let mut uri = rsip::Uri::try_from(t).map_err(|_| ReferError::BadUri(s.into()))?;
    // rsip 0.4 ends the user part at a '.', so `sip:j.doe@host` parses as
    // a host "j.doe@host" with no user: split it here (RFC 3261 §25.1
    // allows '.' in the user part).
    if uri.auth.is_none() {
        let host = uri.host_with_port.to_string();
        if let Some((user, hostport)) = host.rsplit_once('@') {
            let (user, password) = match user.split_once(':') {
                Some((u, p)) => (u.to_string(), Some(p.to_string())),
                None => (user.to_string(), None),
            };
            uri.host_with_port = rsip::HostWithPort::try_from(hostport).map_err(|_| ReferError::BadUri(s.into()))?;
            uri.auth = Some(rsip::Auth { user, password });
        }
    }
    Ok(SipUri(uri))
}

/// `host:port` of a SIP URI (`sip:agent@pbx.example:5070;transport=udp` →
/// `pbx.example:5070`; port 5060 when absent; host lower-cased), to match a
/// transfer target against a trunk's `uri`.
pub fn host_port_key(uri: &str) -> Option<String> {
    let t = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let rest = t.split_once(':').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips"))?.1;
    let rest = rest.split(['?', ';']).next()?;
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    let has_port = match hostport.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()),
    };
    let with_port = if has_port { hostport.to_string() } else { format!("{hostport}:5060") };
    Some(with_port.to_ascii_lowercase())
}

/// §19.1.1 / RFC 3986: escape everything but unreserved and a few
/// header-value safe characters inside a URI header.
pub fn escape_uri_header(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:+$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 7433 §4: `User-to-User: <hex>;encoding=hex;purpose=<p>`. UUI data
/// is capped at 128 octets (§5 of RFC 7434's guidance for interworking with
/// ISDN); longer data is cut, the context URL carries the rest.
pub fn user_to_user(data: &[u8], purpose: &str) -> String {
    let data = &data[..data.len().min(128)];
    let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
    format!("{hex};encoding=hex;purpose={purpose}")
}

/// The Refer-To target: the agent URI with context as URI headers, so the
/// agent's INVITE (sent by the transferee) carries them (RFC 3515 §2.1).
#[derive(Debug, Clone)]
pub struct ReferTo {
    pub target: SipUri,
    pub headers: Vec<(String, String)>,
}

impl fmt::Display for ReferTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.target)?;
        for (i, (k, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{}={}", if i == 0 { '?' } else { '&' }, k, escape_uri_header(v))?;
        }
        write!(f, ">")
    }
}

/// Status code of a message/sipfrag body ("SIP/2.0 200 OK").
pub fn sipfrag_status(body: &[u8]) -> Result<u16, ReferError> {
    let text = std::str::from_utf8(body).map_err(|_| ReferError::BadSipfrag)?;
    let line = text.lines().next().ok_or(ReferError::BadSipfrag)?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.eq_ignore_ascii_case("SIP/2.0") => code.parse().map_err(|_| ReferError::BadSipfrag),
        _ => Err(ReferError::BadSipfrag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dotted_user_part_stays_the_user() {
        for s in ["sip:j.user@10.0.0.1", "sip:j.user@pbx.example.com:5070", "sips:ana.maria.lopez@desk.example"] {
            let u = parse_sip_uri(s).expect(s);
            assert_eq!(u.to_string(), s);
            let user = u.inner().user().map(|u| u.to_string());
            assert_eq!(user.as_deref(), s.split_once(':').and_then(|(_, r)| r.split_once('@')).map(|(u, _)| u), "{s}");
        }
    }

    #[test]
    fn host_port_keys_match_trunk_uris() {
        assert_eq!(host_port_key("sip:agent@PBX.example:5070;transport=udp").as_deref(), Some("pbx.example:5070"));
        assert_eq!(host_port_key("<sip:127.0.0.1>").as_deref(), Some("127.0.0.1:5060"));
        assert_eq!(host_port_key("sips:desk@10.0.0.9?X=1").as_deref(), Some("10.0.0.9:5060"));
        assert_eq!(host_port_key("sip:[::1]:5080").as_deref(), Some("[::1]:5080"));
        assert_eq!(host_port_key("tel:+5411"), None);
    }

    #[test]
    fn refer_to_embeds_escaped_context() {
        let target = parse_sip_uri("sip:agents@127.0.0.1:5070").unwrap();
        let r = ReferTo {
            target,
            headers: vec![("User-to-User".into(), user_to_user(b"call=abc", "centralita")), ("X-Centralita-Intent".into(), "agent".into())],
        };
        assert_eq!(
            r.to_string(),
            "<sip:agents@127.0.0.1:5070?User-to-User=63616C6C3D616263%3Bencoding%3Dhex%3Bpurpose%3Dcentralita&X-Centralita-Intent=agent>"
        );
    }

    #[test]
    fn uri_and_sipfrag_parsing() {
        assert!(parse_sip_uri("http://x").is_err());
        assert!(parse_sip_uri("sip:a@b?x=y").is_err());
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Ok(200));
        assert_eq!(sipfrag_status(b"SIP/2.0 603 Declined"), Ok(603));
        assert_eq!(sipfrag_status(b"garbage"), Err(ReferError::BadSipfrag));
        assert_eq!(user_to_user(&[0u8; 300], "p").len(), 256 + ";encoding=hex;purpose=p".len());
    }
}
