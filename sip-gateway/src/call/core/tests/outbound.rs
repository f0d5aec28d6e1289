//! The outbound call (RFC 3261 §13.2, §9.1, §22.2): our INVITE with an
//! offer, a digest retry, the ACK for the 2xx and its retransmission, the
//! ring timeout's CANCEL, busy and no-answer outcomes.

use std::time::{Duration, Instant};

use rsip::Method;

use super::{response_to, settings, Driver, MENU, OFFER};
use crate::call::core::{CallCore, OutboundSpec, Outcome, Output, WallClock};
use crate::config::TrunkConfig;
use crate::sip::endpoint::CallSignal;
use crate::sip::transport::SipFlow;
use crate::store::Record;

fn dialling(username: Option<&str>) -> Driver {
    let local = "127.0.0.1:5060".parse().unwrap();
    let invite = crate::call::outbound::build_invite("sip:5551234@127.0.0.1:5080", "acme", local, "out-1@127.0.0.1", 1).unwrap();
    let trunk = TrunkConfig {
        name: "t".into(),
        allow: vec![],
        username: username.map(str::to_string),
        password: username.map(|_| "secret".to_string()),
        uri: Some("sip:127.0.0.1:5080".into()),
        from_user: None,
        refer: true,
    };
    let spec = OutboundSpec { trunk, variables: Default::default(), number: "5551234".into() };
    let start = Instant::now();
    let flow = SipFlow::Udp { listener: 0, remote: "127.0.0.1:5080".parse().unwrap() };
    let core = CallCore::new_outbound(settings(), super::identity(MENU), invite, flow, local, spec, WallClock::new(start, 0));
    let mut d = Driver::from_core(core, start);
    d.core.start_outbound(Some(40_002), start);
    d.pump();
    d
}

fn outcome(d: &Driver) -> Outcome {
    match d.ended() {
        Some(Output::Ended { outcome, .. }) => *outcome,
        _ => panic!("not ended: {:#?}", d.log),
    }
}

#[test]
fn the_invite_carries_our_offer_and_the_cdr_row_comes_first() {
    let d = dialling(None);
    let invites = d.sent(Method::Invite);
    assert_eq!(invites.len(), 1);
    let body = String::from_utf8(invites[0].body.clone()).unwrap();
    assert!(body.contains("m=audio 40002 RTP/AVP 0 8 101"), "{body}");
    let first_record = d.log.iter().position(|o| matches!(o, Output::Record(Record::Call(_)))).expect("CDR row");
    let invite_at = d.log.iter().position(|o| matches!(o, Output::SendInvite { .. })).unwrap();
    assert!(first_record < invite_at, "the row is written before the INVITE leaves");
}

#[test]
fn answered_call_acks_starts_media_and_runs_the_flow() {
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 180, "")));
    d.signal(CallSignal::Response(response_to(&invite, 200, OFFER)));
    let acks: Vec<_> = d.log.iter().filter(|o| matches!(o, Output::Transmit { request, .. } if request.method == Method::Ack)).collect();
    assert_eq!(acks.len(), 1);
    assert!(d.log.iter().any(|o| matches!(o, Output::StartMedia { .. })));
    assert_eq!(d.prompts(), ["Press 0 for a person."]);
    // The 2xx again (our ACK was lost): the same ACK again.
    d.signal(CallSignal::Response(response_to(&invite, 200, OFFER)));
    let acks = d.log.iter().filter(|o| matches!(o, Output::Transmit { request, .. } if request.method == Method::Ack)).count();
    assert_eq!(acks, 2);
    assert!(d.records().iter().any(|r| matches!(r, Record::Answered { .. })));
}

#[test]
fn a_401_is_answered_once_with_the_trunk_credentials() {
    let mut d = dialling(Some("acme"));
    let invite = d.sent(Method::Invite)[0].clone();
    let mut challenge = response_to(&invite, 401, "");
    use rsip::headers::UntypedHeader;
    challenge.headers.push(rsip::Header::WwwAuthenticate(rsip::headers::WwwAuthenticate::new(
        r#"Digest realm="carrier", nonce="abc", algorithm=MD5, qop="auth""#,
    )));
    d.signal(CallSignal::Response(challenge.clone()));
    let invites = d.sent(Method::Invite);
    assert_eq!(invites.len(), 2);
    let retry = invites[1];
    assert!(super::header(retry, "Authorization").is_some() || retry.to_string().contains("Authorization: Digest"), "{retry}");
    assert_eq!(crate::sip::headers::cseq(&retry.headers).unwrap().0, 2, "CSeq + 1");
    let mut again = response_to(retry, 401, "");
    again.headers.push(rsip::Header::WwwAuthenticate(rsip::headers::WwwAuthenticate::new(r#"Digest realm="carrier", nonce="x""#)));
    d.signal(CallSignal::Response(again));
    assert_eq!(d.sent(Method::Invite).len(), 2, "one retry only");
    assert_eq!(outcome(&d), Outcome::Failed);
}

fn cause(d: &Driver) -> String {
    match d.ended() {
        Some(Output::Ended { end, .. }) => end.as_ref().and_then(|e| e.hangup_cause.clone()).unwrap_or_default(),
        _ => panic!("not ended"),
    }
}

#[test]
fn an_unreachable_trunk_fails_at_the_ring_timeout_without_cancel() {
    let mut d = dialling(None);
    d.run_for(Duration::from_secs(30));
    assert_eq!(outcome(&d), Outcome::Failed, "nothing came back: not a no-answer");
    assert!(d.sent(Method::Cancel).is_empty(), "no CANCEL without a provisional response (RFC 3261 §9.1)");
    assert_eq!(cause(&d), "no response from the trunk");
}

#[test]
fn a_5xx_fails_at_once_with_its_status_stored() {
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 100, "")));
    d.signal(CallSignal::Response(response_to(&invite, 503, "")));
    assert_eq!(outcome(&d), Outcome::Failed);
    assert_eq!(cause(&d), "503 Test", "the status and the reason the trunk sent");
}

#[test]
fn busy_and_not_found_outcomes() {
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 486, "")));
    assert_eq!(outcome(&d), Outcome::Busy);
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 404, "")));
    assert_eq!(outcome(&d), Outcome::Failed);
    let mut d = dialling(None);
    d.signal(CallSignal::RequestTimeout { method: Method::Invite, cseq: 1 });
    assert_eq!(outcome(&d), Outcome::Failed, "Timer B without any response: unreachable");
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 180, "")));
    d.signal(CallSignal::RequestTimeout { method: Method::Invite, cseq: 1 });
    assert_eq!(outcome(&d), Outcome::NoAnswer, "Timer B after ringing: no answer");
}

#[test]
fn ring_timeout_cancels_then_gives_up_without_a_487() {
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 180, "")));
    d.run_for(Duration::from_secs(29));
    assert!(d.sent(Method::Cancel).is_empty());
    d.run_for(Duration::from_secs(1));
    let cancels = d.sent(Method::Cancel);
    assert_eq!(cancels.len(), 1, "CANCEL at the ring timeout");
    let cancel = cancels[0];
    assert_eq!(crate::sip::headers::cseq(&cancel.headers).unwrap(), (1, Method::Cancel));
    assert!(d.ended().is_none(), "waits for the 487");
    d.run_for(Duration::from_secs(5));
    assert_eq!(outcome(&d), Outcome::NoAnswer);
}

#[test]
fn ring_timeout_then_487_is_no_answer() {
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 183, "")));
    d.run_for(Duration::from_secs(30));
    d.signal(CallSignal::Response(response_to(&invite, 487, "")));
    assert_eq!(outcome(&d), Outcome::NoAnswer);
}

/// Issue #13: the status callback's `ringing` comes from 180 or 183, once;
/// 100 Trying is not ringing.
#[test]
fn ringing_is_reported_once_on_180_or_183() {
    let rings =
        |d: &Driver| d.log.iter().filter_map(|o| if let Output::Ringing { code, .. } = o { Some(*code) } else { None }).collect::<Vec<_>>();
    let mut d = dialling(None);
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 100, "")));
    assert!(rings(&d).is_empty(), "100 Trying");
    d.signal(CallSignal::Response(response_to(&invite, 183, "")));
    d.signal(CallSignal::Response(response_to(&invite, 180, "")));
    assert_eq!(rings(&d), [183]);
    d.signal(CallSignal::Response(response_to(&invite, 200, OFFER)));
    assert_eq!(rings(&d), [183]);
    let ringing = d.log.iter().position(|o| matches!(o, Output::Ringing { .. })).unwrap();
    let answered = d.log.iter().position(|o| matches!(o, Output::Record(Record::Answered { .. }))).unwrap();
    assert!(ringing < answered);
}
