//! Digest authentication of trunks (RFC 3261 §22.2 and §22.4, RFC 2617
//! MD5 with `qop=auth`; the hash itself is rsip's `DigestGenerator`).
//! Nonces are stateless: a Unix time and a SHA-256 tag over it with a
//! per-process secret, valid for five minutes, so no table of outstanding
//! nonces is kept and a restart simply re-challenges.

use std::collections::HashMap;

use rsip::headers::ToTypedHeader;
use rsip::{Header, Request};
use sha2::{Digest, Sha256};

/// How long a nonce is accepted.
const NONCE_LIFETIME_S: u64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("nonce expired")]
    Stale,
    #[error("nonce not issued here")]
    BadNonce,
    #[error("wrong realm")]
    BadRealm,
    #[error("unknown user or wrong password")]
    BadCredentials,
}

pub struct DigestAuth {
    realm: String,
    secret: [u8; 32],
    users: HashMap<String, String>,
}

impl DigestAuth {
    pub fn new(realm: impl Into<String>, users: HashMap<String, String>) -> Self {
        Self { realm: realm.into(), secret: rand::random(), users }
    }

    fn tag(&self, ts: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    fn nonce(&self, now_unix: u64) -> String {
        format!("{now_unix:x}.{}", self.tag(now_unix))
    }

    /// `WWW-Authenticate` value for a 401 (`stale=true` after an expired nonce, §22.4 / RFC 2617 §3.2.1).
    pub fn challenge(&self, now_unix: u64, stale: bool) -> String {
        let stale = if stale { ", stale=true" } else { "" };
        format!("Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{stale}", self.realm, self.nonce(now_unix))
    }

    /// Checks the request's `Authorization`; the user name when it holds.
    pub fn verify(&self, req: &Request, now_unix: u64) -> Result<String, AuthError> {
        let header = req
            .headers
            .iter()
            .find_map(|h| if let Header::Authorization(a) = h { Some(a.clone()) } else { None })
            .ok_or(AuthError::Missing)?;
        let auth = header.typed().map_err(|_| AuthError::Malformed)?;
        if auth.realm != self.realm {
            return Err(AuthError::BadRealm);
        }
        let (ts_hex, tag) = auth.nonce.split_once('.').ok_or(AuthError::BadNonce)?;
        let ts = u64::from_str_radix(ts_hex, 16).map_err(|_| AuthError::BadNonce)?;
        if tag != self.tag(ts) {
            return Err(AuthError::BadNonce);
        }
        if now_unix.saturating_sub(ts) > NONCE_LIFETIME_S {
            return Err(AuthError::Stale);
        }
        let password = self.users.get(&auth.username).ok_or(AuthError::BadCredentials)?;
        let generator = rsip::services::DigestGenerator::from(&auth, password, &req.method);
        if generator.verify(&auth.response) {
            Ok(auth.username.clone())
        } else {
            Err(AuthError::BadCredentials)
        }
    }
}

/// The UAC side (RFC 3261 §22.2, RFC 2617 §3.2.2): the `Authorization` /
/// `Proxy-Authorization` value answering `challenge` (a `WWW-Authenticate`
/// or `Proxy-Authenticate` value) for `method` on `uri`. MD5, with
/// `qop=auth` when the challenge offers it. None when the challenge is not
/// a Digest one we can answer.
pub fn answer_challenge(challenge: &str, method: &rsip::Method, uri: &rsip::Uri, username: &str, password: &str) -> Option<String> {
    use rsip::headers::UntypedHeader;
    let typed = rsip::headers::WwwAuthenticate::new(challenge).typed().ok()?;
    if !matches!(typed.scheme, rsip::headers::auth::Scheme::Digest) {
        return None;
    }
    let algorithm = typed.algorithm.unwrap_or(rsip::headers::auth::Algorithm::Md5);
    let offers_auth = typed.qop.as_ref().is_some_and(|q| matches!(q, rsip::headers::auth::Qop::Auth));
    let cnonce = format!("{:016x}", rand::random::<u64>());
    let qop = offers_auth.then(|| rsip::headers::auth::AuthQop::Auth { cnonce: cnonce.clone(), nc: 1 });
    let generator = rsip::services::DigestGenerator {
        username,
        password,
        nonce: &typed.nonce,
        uri,
        realm: &typed.realm,
        method,
        qop: qop.as_ref(),
        algorithm,
    };
    let mut value = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{}\", algorithm={algorithm}",
        typed.realm,
        typed.nonce,
        generator.compute()
    );
    if offers_auth {
        value.push_str(&format!(", cnonce=\"{cnonce}\", nc=00000001, qop=auth"));
    }
    if let Some(opaque) = &typed.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite_with(auth: &str) -> Request {
        let s = format!("INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{auth}\r\n");
        match crate::sip::wire::parse_message(s.as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            _ => panic!(),
        }
    }

    fn answer(d: &DigestAuth, user: &str, password: &str, nonce: &str) -> String {
        // What a UAC computes (RFC 2617 §3.2.2.1 with qop=auth).
        let md5 = |s: String| format!("{:x}", <md5::Md5 as md5::Digest>::digest(s.as_bytes()));
        let ha1 = md5(format!("{user}:{}:{password}", d.realm));
        let ha2 = md5("INVITE:sip:5550100@127.0.0.1".to_string());
        let resp = md5(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        format!("Authorization: Digest username=\"{user}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"sip:5550100@127.0.0.1\", response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"\r\n", d.realm)
    }

    #[test]
    fn good_answers_pass_and_everything_else_fails() {
        let d = DigestAuth::new("centralita", HashMap::from([("carrier".to_string(), "s3cret".to_string())]));
        let now = 1_800_000_000;
        let c = d.challenge(now, false);
        let nonce = c.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        assert_eq!(d.verify(&invite_with(&answer(&d, "carrier", "s3cret", &nonce)), now + 5), Ok("carrier".into()));
        assert_eq!(d.verify(&invite_with(&answer(&d, "carrier", "wrong", &nonce)), now), Err(AuthError::BadCredentials));
        assert_eq!(d.verify(&invite_with(&answer(&d, "nobody", "s3cret", &nonce)), now), Err(AuthError::BadCredentials));
        assert_eq!(d.verify(&invite_with(&answer(&d, "carrier", "s3cret", &nonce)), now + 301), Err(AuthError::Stale));
        let forged = format!("{now:x}.00000000000000000000000000000000");
        assert_eq!(d.verify(&invite_with(&answer(&d, "carrier", "s3cret", &forged)), now), Err(AuthError::BadNonce));
        assert_eq!(d.verify(&invite_with(""), now), Err(AuthError::Missing));
        assert!(d.challenge(now, true).ends_with("stale=true"));
    }

    #[test]
    fn our_uac_answer_satisfies_our_uas_check() {
        let users = HashMap::from([("carrier".to_string(), "s3cret".to_string())]);
        let d = DigestAuth::new("centralita", users);
        let now = 1_700_000_000;
        let uri = rsip::Uri::try_from("sip:5550100@127.0.0.1").unwrap();
        let good = answer_challenge(&d.challenge(now, false), &rsip::Method::Invite, &uri, "carrier", "s3cret").unwrap();
        assert!(good.contains("qop=auth") && good.contains("nc=00000001"), "{good}");
        assert_eq!(d.verify(&invite_with(&format!("Authorization: {good}\r\n")), now), Ok("carrier".to_string()));
        let bad = answer_challenge(&d.challenge(now, false), &rsip::Method::Invite, &uri, "carrier", "wrong").unwrap();
        assert_eq!(d.verify(&invite_with(&format!("Authorization: {bad}\r\n")), now), Err(AuthError::BadCredentials));
        assert!(answer_challenge("Basic realm=\"x\"", &rsip::Method::Invite, &uri, "a", "b").is_none());
    }
}
