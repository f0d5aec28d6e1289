//! Matching messages to transactions: RFC 3261 §17.2.3 (server side) and
//! §17.1.3 (client side).
//!
//! With an RFC 3261 branch (magic cookie `z9hG4bK`, §8.1.1.7) a transaction
//! is named by the top Via's branch, its sent-by, and the method, where an
//! ACK names the INVITE transaction it acknowledges (an ACK for a 2xx
//! carries a fresh branch, so it matches nothing and goes to the dialog). A
//! CANCEL has its own transaction; [`TransactionKey::for_invite_of_cancel`]
//! names the INVITE it targets (§9.2). Responses are keyed by branch,
//! sent-by and the CSeq method (§17.1.3: sent-by is our own Via echoed back,
//! so including it keeps the key equal to the one built from the request).
//!
//! RFC 2543 fallback (no magic cookie), simplified from §17.2.3: Request-URI,
//! From tag, Call-ID, CSeq number, the method (ACK → INVITE) and the whole
//! top Via. Unlike the RFC it ignores the To tag when matching an ACK, which
//! only matters for an RFC 2543 peer that ACKs a 2xx with the INVITE's Via;
//! the owner sees that ACK reach the INVITE transaction in the Accepted
//! state and can pass it to the dialog.

use std::fmt;

use rsip::{Method, Request, Response};

use super::message::{cseq, first_value, header_param, parse_via, top_via, Kind};
use super::TransactionError;

/// The RFC 3261 branch magic cookie (§8.1.1.7).
const MAGIC_COOKIE: &str = "z9hG4bK";

/// Identifies one transaction (see the module doc for the rules).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey(Inner);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Inner {
    Rfc3261 { branch: String, sent_by: String, method: String },
    Rfc2543 { request_uri: String, from_tag: String, call_id: String, cseq: u32, method: String, top_via: String },
}

/// The method a request's transaction is named by: ACK joins its INVITE.
fn key_method(method: &Method) -> String {
    match method {
        Method::Ack => Method::Invite.to_string(),
        m => m.to_string(),
    }
}

impl TransactionKey {
    /// The key of the server transaction `req` belongs to (or, for a
    /// request we send, of our client transaction).
    pub fn from_request(req: &Request) -> Result<Self, TransactionError> {
        let top = top_via(&req.headers).ok_or(TransactionError::MissingVia)?;
        let via = parse_via(top)?;
        let method = key_method(&req.method);
        if let Some(branch) = via.branch.filter(|b| b.starts_with(MAGIC_COOKIE)) {
            return Ok(Self(Inner::Rfc3261 { branch, sent_by: via.sent_by, method }));
        }
        let call_id =
            first_value(&req.headers, Kind::CallId).map(str::trim).filter(|c| !c.is_empty()).ok_or(TransactionError::MissingCallId)?;
        let from_tag = first_value(&req.headers, Kind::From).and_then(|f| header_param(f, "tag")).unwrap_or_default();
        Ok(Self(Inner::Rfc2543 {
            request_uri: req.uri.to_string(),
            from_tag: from_tag.to_string(),
            call_id: call_id.to_string(),
            cseq: cseq(&req.headers)?.0,
            method,
            top_via: top.split_whitespace().collect(),
        }))
    }

    /// The key of the client transaction `resp` answers (§17.1.3). Our
    /// requests always carry an RFC 3261 branch, so a response without one
    /// is [`TransactionError::MissingBranch`].
    pub fn from_response(resp: &Response) -> Result<Self, TransactionError> {
        let top = top_via(&resp.headers).ok_or(TransactionError::MissingVia)?;
        let via = parse_via(top)?;
        let branch = via.branch.filter(|b| b.starts_with(MAGIC_COOKIE)).ok_or(TransactionError::MissingBranch)?;
        let (_, method) = cseq(&resp.headers)?;
        Ok(Self(Inner::Rfc3261 { branch, sent_by: via.sent_by, method }))
    }

    /// The key of the INVITE server transaction a CANCEL targets (§9.2:
    /// same branch and sent-by, or for RFC 2543 the same Request-URI, tags,
    /// Call-ID, CSeq number and top Via), with the method INVITE.
    pub fn for_invite_of_cancel(cancel: &Request) -> Result<Self, TransactionError> {
        if cancel.method != Method::Cancel {
            return Err(TransactionError::NotCancel(cancel.method));
        }
        let mut key = Self::from_request(cancel)?;
        match &mut key.0 {
            Inner::Rfc3261 { method, .. } | Inner::Rfc2543 { method, .. } => {
                *method = Method::Invite.to_string();
            }
        }
        Ok(key)
    }

    /// The method the transaction is named by (`INVITE` for an ACK).
    pub fn method(&self) -> &str {
        match &self.0 {
            Inner::Rfc3261 { method, .. } | Inner::Rfc2543 { method, .. } => method,
        }
    }

    /// Whether the key came from an RFC 3261 branch (not the RFC 2543
    /// fallback).
    pub fn is_rfc3261(&self) -> bool {
        matches!(self.0, Inner::Rfc3261 { .. })
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Rfc3261 { branch, sent_by, method } => write!(f, "{method} {branch}@{sent_by}"),
            Inner::Rfc2543 { call_id, cseq, method, .. } => write!(f, "{method} rfc2543 {call_id} {cseq}"),
        }
    }
}
