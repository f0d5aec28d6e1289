//! SDP offer/answer: a remote description (`sdp::parse`), negotiation, and
//! our answer to it, which must parse again and agree with what was
//! negotiated (RFC 3264 §6.1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_gateway::sip::sdp;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = sdp::parse(data) else { return };
    let Ok(n) = sdp::negotiate(&offer) else { return };
    let answer = sdp::answer(&n, "192.0.2.1".parse().unwrap(), 40000, 1, 1);
    let back = match sdp::parse(answer.as_bytes()) {
        Ok(back) => back,
        Err(e) => panic!("our answer does not parse: {e}\n{answer}"),
    };
    let again = sdp::negotiate(&back).expect("our answer has a codec");
    assert_eq!((again.codec, again.payload_type, again.telephone_event), (n.codec, n.payload_type, n.telephone_event), "{answer}");
});
