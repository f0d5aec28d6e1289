//! One UDP datagram through what the transport and endpoint do first with
//! it: `wire::parse_message` (framing, unfolding, compact names, rsip), the
//! 400/505/501/416 for what does not parse (`transport::reject_malformed`),
//! and for what does: the request checks (`headers::check_request`), the
//! received/rport stamp, the header accessors, a response built from it and
//! serialised. Whatever we accept and print again must parse again.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use rsip::SipMessage;
use sip_gateway::sip::{headers, transport, wire};

fuzz_target!(|data: &[u8]| {
    let source: SocketAddr = ([192, 0, 2, 7], 5062).into();
    match wire::parse_message(data) {
        Ok(msg) => handle(msg, source),
        Err(e) => {
            if let Some(reply) = transport::reject_malformed(data, &e) {
                // Our own 400 must be a message we can parse.
                if let Err(e) = wire::parse_message(&reply) {
                    panic!("our reply to a malformed message does not parse: {e}\n{}", String::from_utf8_lossy(&reply));
                }
            }
        }
    }
});

fn handle(msg: SipMessage, source: SocketAddr) {
    let printed = wire::serialize(&msg);
    match wire::parse_message(&printed) {
        Ok(again) => assert_eq!(again.body(), msg.body(), "the body changed in print -> parse"),
        Err(e) => panic!("an accepted message does not parse once printed: {e}\n{}", String::from_utf8_lossy(&printed)),
    }
    let _ = headers::top_via_raw(&msg);
    let _ = headers::top_via(&msg);
    match msg {
        SipMessage::Request(mut req) => {
            let _ = headers::call_id(&req.headers);
            let _ = headers::cseq(&req.headers);
            let _ = headers::from_tag(&req.headers);
            let _ = headers::to_tag(&req.headers);
            if headers::check_request(&req).is_ok() {
                headers::stamp_received(&mut req, source);
                let resp = headers::make_response(&req, rsip::StatusCode::OK, Some("fuzztag"));
                let _ = headers::response_destination(&resp);
                let bytes = wire::serialize(&SipMessage::Response(resp));
                if let Err(e) = wire::parse_message(&bytes) {
                    panic!("our response to an accepted request does not parse: {e}\n{}", String::from_utf8_lossy(&bytes));
                }
            }
        }
        SipMessage::Response(resp) => {
            let _ = headers::response_destination(&resp);
            let _ = headers::call_id(&resp.headers);
            let _ = headers::cseq(&resp.headers);
            let _ = headers::to_tag(&resp.headers);
        }
    }
}
