//! The inbound call's phases (RFC 3261 §13.3, RFC 3264): rejection,
//! ringing and CANCEL, late offer, the missing ACK, hold, INFO DTMF and
//! the caller's BYE.

use std::time::Duration;

use media::leg::MediaCommand;
use media::rtp_session::Direction;
use rsip::Method;

use super::{has_ended, settings, Driver, MENU, OFFER};
use crate::call::core::{Outcome, Output};
use crate::sip::endpoint::CallSignal;
use crate::store::Record;

fn codes(d: &Driver) -> Vec<u16> {
    d.responses().iter().map(|r| r.status_code.code()).collect()
}

#[test]
fn an_offer_with_nothing_in_common_is_488_and_no_record() {
    let offer = OFFER.replace("RTP/AVP 0 101", "RTP/AVP 9");
    let d = Driver::inbound(settings(), MENU, super::invite(&offer));
    assert_eq!(codes(&d), [488]);
    let Some(Output::Ended { outcome, end, .. }) = d.ended() else { panic!() };
    assert_eq!((*outcome, end.is_none()), (Outcome::Rejected, true));
    assert!(d.records().is_empty());
}

#[test]
fn no_rtp_port_is_503() {
    let mut d = Driver::unstarted(settings(), super::identity(MENU), super::invite(OFFER));
    d.start(None);
    assert_eq!(codes(&d), [503]);
    assert!(has_ended(&d.log));
}

#[test]
fn ringing_then_cancel_is_487() {
    let mut s = settings();
    s.answer_delay = Duration::from_secs(3);
    let mut d = Driver::inbound(s, MENU, super::invite(OFFER));
    assert_eq!(codes(&d), [180]);
    d.run_for(Duration::from_secs(1));
    d.signal(CallSignal::Cancelled);
    assert_eq!(codes(&d), [180, 487]);
    let Some(Output::Ended { outcome, .. }) = d.ended() else { panic!() };
    assert_eq!(*outcome, Outcome::Cancelled);
}

#[test]
fn ringing_delay_then_200() {
    let mut s = settings();
    s.answer_delay = Duration::from_millis(1500);
    let mut d = Driver::inbound(s, MENU, super::invite(OFFER));
    d.run_for(Duration::from_millis(1499));
    assert_eq!(codes(&d), [180]);
    d.run_for(Duration::from_millis(1));
    assert_eq!(codes(&d), [180, 200]);
    // Issue #13: our 180 is the call's `ringing` status.
    assert_eq!(d.log.iter().filter(|o| matches!(o, Output::Ringing { code: 180, .. })).count(), 1);
}

#[test]
fn answering_at_once_does_not_ring() {
    let d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    assert_eq!(codes(&d), [200]);
    assert!(!d.log.iter().any(|o| matches!(o, Output::Ringing { .. })));
}

#[test]
fn late_offer_gets_our_offer_and_the_answer_comes_in_the_ack() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(""));
    let ok = d.responses()[0].clone();
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("m=audio 40000 RTP/AVP 0 8 101"), "our offer: {body}");
    assert!(!d.log.iter().any(|o| matches!(o, Output::StartMedia { .. })), "no media before the answer");
    let ack = super::parse_request(&format!(
        "ACK sip:centralita@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKa\r\nFrom: <sip:5551234@127.0.0.1>;tag=caller\r\n\
         To: <sip:5550100@127.0.0.1>;tag=x\r\nCall-ID: call-1@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
        super::CALLER,
        OFFER.len(),
        OFFER
    ));
    d.signal(CallSignal::Ack(ack));
    assert!(d.log.iter().any(|o| matches!(o, Output::StartMedia { .. })));
    assert_eq!(d.prompts(), ["Press 0 for a person."]);
}

#[test]
fn no_ack_hangs_up_with_bye() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.signal(CallSignal::AckTimeout);
    assert_eq!(d.sent(Method::Bye).len(), 1);
    let Some(Output::Ended { outcome, end, .. }) = d.ended() else { panic!() };
    assert_eq!(*outcome, Outcome::NoAck);
    assert_eq!(end.as_ref().unwrap().outcome, crate::store::Outcome::Failed);
}

#[test]
fn caller_bye_is_answered_only_after_the_end_record() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    d.run_for(Duration::from_millis(500));
    let key = d.caller_request("BYE", 2, "", "");
    let answered_here = d.log.iter().any(|o| matches!(o, Output::Respond { key: k, .. } if *k == key));
    assert!(!answered_here, "the BYE is answered by the edge, after the end is committed");
    let Some(Output::Ended { outcome, end, bye }) = d.ended() else { panic!() };
    assert_eq!(*outcome, Outcome::CallerHangup);
    assert_eq!(end.as_ref().unwrap().outcome, crate::store::Outcome::Abandoned);
    assert_eq!(bye.as_ref().map(|(k, r)| (k.clone(), r.status_code.code())), Some((key, 200)));
    assert!(matches!(d.log.last(), Some(Output::Ended { .. })), "Ended is the last output");
    assert!(d.records().iter().any(|r| matches!(r, Record::Answered { .. })));
}

#[test]
fn reinvite_to_hold_is_answered_recvonly_and_tells_the_leg() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    let hold = format!("{OFFER}a=sendonly\r\n");
    d.caller_request("INVITE", 2, "Content-Type: application/sdp\r\n", &hold);
    let ok = (*d.responses().last().unwrap()).clone();
    assert_eq!(ok.status_code.code(), 200);
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("a=recvonly") && body.contains("o=centralita") && body.contains(" 2 IN IP4"), "{body}");
    assert!(d.log.iter().any(|o| matches!(o, Output::Media(MediaCommand::SetDirection(Direction::RecvOnly)))));
}

#[test]
fn out_of_order_cseq_is_500() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    d.caller_request("OPTIONS", 5, "", "");
    d.caller_request("INFO", 4, "", "");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 500);
}

#[test]
fn info_dtmf_reaches_the_flow() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    d.caller_request("INFO", 2, "Content-Type: application/dtmf-relay\r\n", "Signal=0\r\nDuration=160\r\n");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 200);
    assert_eq!(d.sent(Method::Refer).len(), 1, "0 by INFO transfers like 0 by RTP");
    d.caller_request("INFO", 3, "Content-Type: text/plain\r\n", "0");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 415);
}

#[test]
fn rtp_inactivity_hangs_up() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    d.media(media::rtp_session::MediaEvent::Inactive);
    assert_eq!(d.sent(Method::Bye).len(), 1);
    let Some(Output::Ended { outcome, .. }) = d.ended() else { panic!() };
    assert_eq!(*outcome, Outcome::RtpTimeout);
}

#[test]
fn shutdown_while_ringing_is_503_and_in_flow_is_bye() {
    let mut s = settings();
    s.answer_delay = Duration::from_secs(3);
    let mut d = Driver::inbound(s, MENU, super::invite(OFFER));
    d.signal(CallSignal::Shutdown);
    assert_eq!(codes(&d), [180, 503]);
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    d.ack();
    d.signal(CallSignal::Shutdown);
    assert_eq!(d.sent(Method::Bye).len(), 1);
    let Some(Output::Ended { outcome, .. }) = d.ended() else { panic!() };
    assert_eq!(*outcome, Outcome::Shutdown);
}

#[test]
fn no_rtp_is_sent_before_the_ack() {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    let started = d.log.iter().find_map(|o| if let Output::StartMedia { direction, .. } = o { Some(*direction) } else { None });
    assert_eq!(started, Some(Direction::RecvOnly), "a spoofed INVITE that never ACKs gets no RTP stream");
    assert!(!d.log.iter().any(|o| matches!(o, Output::Media(MediaCommand::SetDirection(_)))));
    d.ack();
    assert!(d.log.iter().any(|o| matches!(o, Output::Media(MediaCommand::SetDirection(Direction::SendRecv)))), "the ACK turns sending on");
}

#[test]
fn a_webhooks_result_is_a_step_and_only_the_latest_reaches_the_flow() {
    let flow = "flow: w\nstart: look\nnodes:\n  look:\n    webhook: { name: crm, url: \"http://crm.example/x\" }\n    on: { done: bye, failed: bye }\n  bye:\n    say: \"Bye.\"\n    hangup: true\n";
    let mut d = Driver::inbound(settings(), flow, super::invite(OFFER));
    d.ack();
    let seq = d.log.iter().find_map(|o| if let Output::Webhook(r) = o { Some(r.seq) } else { None }).expect("the look-up");
    let failed = || dialogs::FlowEvent::WebhookFailed { reason: "connection refused".into() };
    d.core.handle_webhook(seq + 1, failed(), "crm: GET http://crm.example/x failed after 3 ms: connection refused".into(), d.now);
    d.pump();
    assert!(d.prompts().is_empty(), "a stale result does not move the flow");
    d.core.handle_webhook(seq, failed(), "crm: GET http://crm.example/x failed after 5 ms: connection refused".into(), d.now);
    d.pump();
    assert_eq!(d.prompts(), ["Bye."]);
    let steps: Vec<String> = d
        .records()
        .into_iter()
        .filter_map(|r| if let Record::Step(s) = r { (s.kind == crate::store::StepKind::Webhook).then(|| s.detail.clone()) } else { None })
        .collect();
    assert_eq!(steps.len(), 2, "both results recorded, the failure visible on the call's page: {steps:?}");
    assert!(steps[1].contains("failed after 5 ms"));
}
