//! ICMP errors on the UDP transport (RFC 3261 §18.4, §8.1.3.1): a request
//! sent to a closed port or an unreachable host comes back as an ICMP
//! error. Linux reports it for an unconnected socket only with
//! `IP_RECVERR`; the socket's error queue then holds the start of the
//! datagram we sent (RFC 1812: ICMP quotes up to 576 bytes) and where it
//! went. From those header lines we build what §8.1.3.1 asks the client
//! transaction to act on — "as if it had received a 503" — so an outbound
//! call to a dead trunk, or an agent leg to a dead phone, fails at once
//! instead of at Timer B. `nix` gives the setsockopt and `recvmsg` with
//! `MSG_ERRQUEUE` a safe API.

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn};
use rsip::{Response, SipMessage};

/// Asks the kernel to queue ICMP errors on `sock` (IPv4).
pub fn enable(sock: &tokio::net::UdpSocket) {
    if let Err(e) = setsockopt(sock.as_raw_fd(), sockopt::Ipv4RecvErr, &true) {
        tracing::debug!(error = %e, "IP_RECVERR not set: ICMP errors will not fail transactions early");
    }
}

/// One datagram the network refused: where it went, why, and its start.
#[derive(Debug)]
pub struct Refused {
    pub to: SocketAddr,
    pub reason: String,
    pub quoted: Vec<u8>,
}

/// Takes every queued ICMP error off `sock` (non-blocking).
pub fn drain(sock: &tokio::net::UdpSocket) -> Vec<Refused> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in);
    for _ in 0..64 {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let Ok(msg) = recvmsg::<SockaddrIn>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT)
        else {
            break;
        };
        let reason = msg
            .cmsgs()
            .find_map(|c| match c {
                ControlMessageOwned::Ipv4RecvErr(e, _) => Some(std::io::Error::from_raw_os_error(e.ee_errno as i32).to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "ICMP error".into());
        let Some(to) = msg.address.map(|a| SocketAddr::from((std::net::Ipv4Addr::from(a.ip()), a.port()))) else { continue };
        let n = msg.bytes.min(buf.len());
        out.push(Refused { to, reason, quoted: buf[..n].to_vec() });
    }
    out
}

/// The 503 a client transaction acts on for a refused request (§8.1.3.1),
/// built from the quoted request's Via, From, To, Call-ID and CSeq. None
/// when it was a response we sent, or the quote lost one of those lines.
pub fn as_503(refused: &Refused) -> Option<Response> {
    let text = std::str::from_utf8(&refused.quoted).ok().or_else(|| {
        // The quote may cut a multi-byte character: keep the valid prefix.
        let valid = std::str::from_utf8(&refused.quoted).err()?.valid_up_to();
        std::str::from_utf8(&refused.quoted[..valid]).ok()
    })?;
    if text.starts_with("SIP/2.0") {
        return None;
    }
    // Complete lines only: the quote ends mid-message.
    let complete = &text[..text.rfind("\r\n")?];
    let mut lines = complete.split("\r\n").skip(1);
    let wanted = |name: &str, compact: &str, line: &str| {
        line.split_once(':').is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name) || n.trim().eq_ignore_ascii_case(compact))
    };
    let mut picked: Vec<&str> = Vec::new();
    for (name, compact) in [("Via", "v"), ("From", "f"), ("To", "t"), ("Call-ID", "i"), ("CSeq", "CSeq")] {
        picked.push(lines.clone().find(|l| wanted(name, compact, l))?);
    }
    lines.next();
    let reason = refused.reason.replace(['\r', '\n'], " ");
    let raw = format!("SIP/2.0 503 Service Unavailable ({reason})\r\n{}\r\nContent-Length: 0\r\n\r\n", picked.join("\r\n"));
    match super::wire::parse_message(raw.as_bytes()) {
        Ok(SipMessage::Response(mut r)) => {
            // rsip keeps a custom reason phrase only this way.
            r.status_code = super::headers::status_with_reason(503, &format!("Service Unavailable ({reason})"));
            Some(r)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(quoted: &str) -> Refused {
        Refused { to: "127.0.0.1:5099".parse().unwrap(), reason: "Connection refused".into(), quoted: quoted.as_bytes().to_vec() }
    }

    const INVITE: &str = "INVITE sip:7001@127.0.0.1:5099 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
        Max-Forwards: 70\r\nFrom: <sip:centralita@127.0.0.1>;tag=f1\r\nTo: <sip:7001@127.0.0.1:5099>\r\nCall-ID: c1@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\nContact: <sip:centralita@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: 200\r\n\r\nv=0\r\no=- 1";

    #[test]
    fn a_quoted_invite_becomes_a_503_for_its_transaction() {
        let r = as_503(&refused(INVITE)).expect("a 503");
        assert_eq!(r.status_code.code(), 503);
        let text = r.to_string();
        assert!(text.starts_with("SIP/2.0 503 Service Unavailable (Connection refused)"), "{text}");
        assert!(text.contains("branch=z9hG4bKabc") && text.contains("CSeq: 1 INVITE") && text.contains("Call-ID: c1@127.0.0.1"), "{text}");
        let key = crate::sip::transaction::TransactionKey::from_response(&r).expect("matches a client transaction");
        let head = INVITE[..INVITE.find("\r\n\r\n").unwrap()].replace("Content-Length: 200", "Content-Length: 0");
        let sent = match super::super::wire::parse_message(format!("{head}\r\n\r\n").as_bytes()) {
            Ok(SipMessage::Request(req)) => req,
            other => panic!("{other:?}"),
        };
        assert_eq!(Some(key), crate::sip::transaction::TransactionKey::from_request(&sent).ok());
    }

    #[test]
    fn a_quote_cut_before_the_cseq_or_a_response_gives_nothing() {
        let cut = &INVITE[..INVITE.find("CSeq").unwrap() + 3];
        assert!(as_503(&refused(cut)).is_none(), "no CSeq line: no way to match the transaction");
        assert!(as_503(&refused("SIP/2.0 200 OK\r\nVia: x\r\n")).is_none());
    }

    #[tokio::test]
    async fn a_datagram_to_a_closed_port_is_refused_with_its_quote() {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        enable(&sock);
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = closed.local_addr().unwrap();
        drop(closed);
        sock.send_to(INVITE.as_bytes(), to).await.unwrap();
        let mut buf = [0u8; 64];
        // The ICMP error wakes the socket as an error on recv.
        let err = tokio::time::timeout(std::time::Duration::from_secs(5), sock.recv_from(&mut buf)).await.expect("woken by the error");
        assert!(err.is_err(), "{err:?}");
        let refused = drain(&sock);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].to, to);
        assert!(refused[0].reason.contains("refused"), "{}", refused[0].reason);
        assert!(as_503(&refused[0]).is_some());
    }
}
