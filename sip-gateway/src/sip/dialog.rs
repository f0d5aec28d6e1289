//! A dialog (RFC 3261 §12.1.1 UAS and §12.1.2 UAC creation, §12.2.1.1
//! requests within it, §12.2.2 CSeq checks, §13.2.2.4 the ACK for a 2xx). Pure data: the call task owns one and asks it to
//! build BYE/REFER/… with the right tags, CSeq, Request-URI and routes.

use std::net::SocketAddr;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request};

use crate::sip::headers;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialogError {
    #[error("INVITE has no usable Contact")]
    NoContact,
    #[error("INVITE lacks {0}")]
    Missing(&'static str),
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our identity: the INVITE's To URI (without tag).
    pub local_uri: String,
    /// The caller: the INVITE's From (name-addr, without tag).
    pub remote_uri: String,
    pub remote_target: String,
    /// Record-Route of the INVITE, in order (§12.1.1).
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    /// Our Contact / Via sent-by.
    pub local_addr: SocketAddr,
    pub transport: &'static str,
}

fn without_tag(v: &str) -> String {
    // Cut ";tag=..." (a header param) from a From/To value.
    let end = v.rfind('>').map(|i| i + 1).unwrap_or(0);
    let (head, params) = v.split_at(end);
    let kept: Vec<&str> = params.split(';').filter(|p| !p.trim().to_ascii_lowercase().starts_with("tag=")).collect();
    format!("{head}{}", kept.join(";"))
}

/// The `tag` parameter of a From/To value (after the name-addr).
fn header_tag(v: &str) -> Option<String> {
    let end = v.rfind('>').map(|i| i + 1).unwrap_or(0);
    v[end..].split(';').find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
}

fn contact_uri(v: &str) -> Option<String> {
    let v = v.trim();
    if let (Some(a), Some(b)) = (v.find('<'), v.find('>')) {
        return (a < b).then(|| v[a + 1..b].to_string());
    }
    Some(v.split(';').next()?.trim().to_string()).filter(|s| !s.is_empty())
}

impl Dialog {
    /// §12.1.1: the dialog our 2xx to `invite` creates.
    pub fn new_uas(invite: &Request, local_tag: String, local_addr: SocketAddr, reliable: bool) -> Result<Self, DialogError> {
        let h = &invite.headers;
        let from = h
            .iter()
            .find_map(|h| if let Header::From(f) = h { Some(f.value().to_string()) } else { None })
            .ok_or(DialogError::Missing("From"))?;
        let to = h
            .iter()
            .find_map(|h| if let Header::To(t) = h { Some(t.value().to_string()) } else { None })
            .ok_or(DialogError::Missing("To"))?;
        // RFC 2543 INVITEs may lack a Contact: the From URI is then the
        // remote target (RFC 4475 §3.4.2 inv2543).
        let contact = h
            .iter()
            .find_map(|h| if let Header::Contact(c) = h { contact_uri(c.value()) } else { None })
            .or_else(|| contact_uri(&without_tag(&from)))
            .ok_or(DialogError::NoContact)?;
        let route_set = h
            .iter()
            .filter_map(|h| if let Header::RecordRoute(r) = h { Some(r.value().to_string()) } else { None })
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
            .collect();
        Ok(Self {
            call_id: headers::call_id(h).ok_or(DialogError::Missing("Call-ID"))?.to_string(),
            remote_tag: headers::from_tag(h).unwrap_or_default(),
            local_tag,
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            remote_target: contact,
            route_set,
            local_cseq: rand::random::<u16>() as u32 + 1,
            remote_cseq: headers::cseq(h).map(|c| c.0).unwrap_or(0),
            local_addr,
            transport: if reliable { "TCP" } else { "UDP" },
        })
    }

    /// §12.1.2: the dialog a 2xx to our `invite` creates (outbound calls).
    /// Remote target from the 2xx's Contact, route set from its
    /// Record-Route in reverse, our CSeq continues from the INVITE's.
    pub fn new_uac(invite: &Request, ok: &rsip::Response, local_addr: SocketAddr, reliable: bool) -> Result<Self, DialogError> {
        let from = invite
            .headers
            .iter()
            .find_map(|h| if let Header::From(f) = h { Some(f.value().to_string()) } else { None })
            .ok_or(DialogError::Missing("From"))?;
        let to = ok
            .headers
            .iter()
            .find_map(|h| if let Header::To(t) = h { Some(t.value().to_string()) } else { None })
            .ok_or(DialogError::Missing("To"))?;
        let contact = ok
            .headers
            .iter()
            .find_map(|h| if let Header::Contact(c) = h { contact_uri(c.value()) } else { None })
            .ok_or(DialogError::NoContact)?;
        let mut route_set: Vec<String> = ok
            .headers
            .iter()
            .filter_map(|h| if let Header::RecordRoute(r) = h { Some(r.value().to_string()) } else { None })
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
            .collect();
        route_set.reverse();
        Ok(Self {
            call_id: headers::call_id(&invite.headers).ok_or(DialogError::Missing("Call-ID"))?.to_string(),
            local_tag: headers::from_tag(&invite.headers).unwrap_or_default(),
            remote_tag: header_tag(&to).unwrap_or_default(),
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            remote_target: contact,
            route_set,
            local_cseq: headers::cseq(&invite.headers).map(|c| c.0).unwrap_or(1),
            remote_cseq: 0,
            local_addr,
            transport: if reliable { "TCP" } else { "UDP" },
        })
    }

    /// §13.2.2.4: the ACK for a 2xx to the INVITE with CSeq `invite_cseq`
    /// (same CSeq number, a new branch, the dialog's routes).
    pub fn ack(&mut self, invite_cseq: u32) -> Request {
        let saved = self.local_cseq;
        self.local_cseq = invite_cseq.wrapping_sub(1);
        let ack = self.request(Method::Ack);
        self.local_cseq = saved;
        ack
    }

    /// Our Contact header value.
    pub fn contact(&self) -> String {
        let t = if self.transport == "TCP" { ";transport=tcp" } else { "" };
        format!("<sip:centralita@{}{t}>", self.local_addr)
    }

    /// §12.2.2: a request with a lower CSeq than the last one is out of order.
    pub fn check_remote_cseq(&mut self, cseq: u32, method: &Method) -> bool {
        if *method == Method::Ack || *method == Method::Cancel {
            return true;
        }
        if cseq < self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// §12.2.1.1: a new request within the dialog. Loose routing only: with
    /// a route set the Request-URI is the remote target and Route carries
    /// the set (strict routers are long gone).
    pub fn request(&mut self, method: Method) -> Request {
        self.local_cseq += 1;
        let uri = rsip::Uri::try_from(self.remote_target.as_str()).unwrap_or_default();
        let mut hs = rsip::Headers::default();
        hs.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={};rport",
            self.transport,
            self.local_addr,
            headers::new_branch()
        ))));
        hs.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        hs.push(Header::From(rsip::headers::From::new(format!("{};tag={}", self.local_uri, self.local_tag))));
        let to = if self.remote_tag.is_empty() { self.remote_uri.clone() } else { format!("{};tag={}", self.remote_uri, self.remote_tag) };
        hs.push(Header::To(rsip::headers::To::new(to)));
        hs.push(Header::CallId(rsip::headers::CallId::new(self.call_id.clone())));
        hs.push(Header::CSeq(rsip::headers::CSeq::new(format!("{} {}", self.local_cseq, method))));
        for r in &self.route_set {
            hs.push(Header::Route(rsip::headers::Route::new(r.clone())));
        }
        hs.push(Header::Contact(rsip::headers::Contact::new(self.contact())));
        hs.push(Header::UserAgent(rsip::headers::UserAgent::new(concat!("Centralita/", env!("CARGO_PKG_VERSION")))));
        Request { method, uri, version: rsip::Version::V2, headers: hs, body: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::SipMessage;

    #[test]
    fn uas_dialog_builds_in_dialog_requests() {
        let inv = "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\nFrom: \"Ann\" <sip:ann@127.0.0.1>;tag=abc\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: c-1\r\nCSeq: 5 INVITE\r\nContact: <sip:ann@127.0.0.1:5061>\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\r\n";
        let SipMessage::Request(req) = crate::sip::wire::parse_message(inv.as_bytes()).unwrap() else { panic!() };
        let mut d = Dialog::new_uas(&req, "ours".into(), "127.0.0.1:5060".parse().unwrap(), false).unwrap();
        let bye = d.request(Method::Bye);
        let s = bye.to_string();
        assert!(s.starts_with("BYE sip:ann@127.0.0.1:5061 SIP/2.0"), "{s}");
        assert!(s.contains("From: <sip:5550100@127.0.0.1>;tag=ours"), "{s}");
        assert!(s.contains("To: \"Ann\" <sip:ann@127.0.0.1>;tag=abc"), "{s}");
        assert!(s.contains("Route: <sip:p1;lr>\r\nRoute: <sip:p2;lr>"), "{s}");
        assert_eq!(headers::cseq(&bye.headers).unwrap().0, d.local_cseq);
        assert!(d.check_remote_cseq(6, &Method::Bye));
        assert!(!d.check_remote_cseq(4, &Method::Info));
    }
    #[test]
    fn uac_dialog_from_our_invite_and_their_2xx() {
        let inv = "INVITE sip:5551234@10.0.0.9:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1\r\nFrom: <sip:centralita@127.0.0.1>;tag=mine\r\nTo: <sip:5551234@10.0.0.9>\r\nCall-ID: out-1\r\nCSeq: 7 INVITE\r\nContact: <sip:centralita@127.0.0.1:5060>\r\n\r\n";
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1\r\nFrom: <sip:centralita@127.0.0.1>;tag=mine\r\nTo: <sip:5551234@10.0.0.9>;tag=theirs\r\nCall-ID: out-1\r\nCSeq: 7 INVITE\r\nContact: <sip:callee@10.0.0.9:5070>\r\nRecord-Route: <sip:p2;lr>, <sip:p1;lr>\r\n\r\n";
        let SipMessage::Request(req) = crate::sip::wire::parse_message(inv.as_bytes()).unwrap() else { panic!() };
        let SipMessage::Response(resp) = crate::sip::wire::parse_message(ok.as_bytes()).unwrap() else { panic!() };
        let mut d = Dialog::new_uac(&req, &resp, "127.0.0.1:5060".parse().unwrap(), false).unwrap();
        assert_eq!((d.local_tag.as_str(), d.remote_tag.as_str()), ("mine", "theirs"));
        let ack = d.ack(7).to_string();
        assert!(ack.starts_with("ACK sip:callee@10.0.0.9:5070 SIP/2.0"), "{ack}");
        assert!(ack.contains("CSeq: 7 ACK"), "{ack}");
        assert!(ack.contains("Route: <sip:p1;lr>\r\nRoute: <sip:p2;lr>"), "routes reversed: {ack}");
        assert!(ack.contains("To: <sip:5551234@10.0.0.9>;tag=theirs"), "{ack}");
        let bye = d.request(Method::Bye).to_string();
        assert!(bye.contains("CSeq: 8 BYE"), "{bye}");
    }
}
