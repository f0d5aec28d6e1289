//! INVITE → 200 → ACK → prompt → DTMF 0 → REFER with context → 202 →
//! NOTIFY 200 → BYE, and the failure paths back into the flow (RFC 3515).

use std::time::Duration;

use media::rtp_session::{DtmfSource, MediaEvent};
use rsip::Method;

use super::{has_ended, header, response_to, settings, Driver, MENU, OFFER};
use crate::call::core::{Outcome, Output};
use crate::sip::endpoint::CallSignal;
use crate::store::Record;

/// Answered, ACKed, the menu played, and 0 pressed: the REFER is out.
fn referred() -> Driver {
    let mut d = Driver::inbound(settings(), MENU, super::invite(OFFER));
    assert_eq!(d.responses().iter().map(|r| r.status_code.code()).collect::<Vec<_>>(), [200]);
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(media::leg::MediaCommand::Play { .. }))));
    d.run_for(Duration::from_millis(300));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    assert_eq!(d.sent(Method::Refer).len(), 1, "one REFER after the 0");
    d
}

#[test]
fn notify_200_ends_the_call_as_transferred_with_context() {
    let mut d = referred();
    let refer = d.sent(Method::Refer)[0].clone();
    let refer_to = header(&refer, "Refer-To").expect("Refer-To");
    assert!(refer_to.starts_with("<sip:agents@127.0.0.1:5070?User-to-User="), "{refer_to}");
    assert!(refer_to.contains("X-Centralita-Call-Id=call-1%40127.0.0.1"), "{refer_to}");
    assert!(refer_to.contains("X-Centralita-Context-Url=http://127.0.0.1:8080/v1/calls/call-1%40127.0.0.1/context"), "{refer_to}");
    assert!(d.log.iter().any(|o| matches!(o, Output::Context(c) if c["caller"] == "5551234")), "context published for the agent");
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    assert!(!has_ended(&d.log), "202 alone does not end the call");
    d.run_for(Duration::from_secs(2));
    d.caller_request("NOTIFY", 2, "Event: refer\r\nContent-Type: message/sipfrag\r\n", "SIP/2.0 200 OK\r\n");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 200, "NOTIFY answered");
    assert_eq!(d.sent(Method::Bye).len(), 1, "BYE after the 2xx sipfrag");
    let Some(Output::Ended { outcome, end, bye }) = d.ended() else { panic!("not ended") };
    assert_eq!(*outcome, Outcome::Transferred);
    assert!(bye.is_none());
    assert_eq!(end.as_ref().unwrap().outcome, crate::store::Outcome::Transferred);
    let transfer = d.records().into_iter().find_map(|r| if let Record::Transfer(t) = r { Some(t.clone()) } else { None });
    let t = transfer.expect("transfer recorded");
    assert!(t.ok && t.result_code == Some(200) && t.answered_ms == Some(2000), "{t:?}");
    assert_eq!(d.core.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn refer_rejected_goes_back_to_the_menu() {
    let mut d = referred();
    let refer = d.sent(Method::Refer)[0].clone();
    let before = d.prompts().len();
    d.signal(CallSignal::Response(response_to(&refer, 603, "")));
    assert!(!has_ended(&d.log));
    assert_eq!(d.prompts().len(), before + 1, "the failed event re-enters the menu: {:?}", d.prompts());
    let t = d.records().into_iter().find_map(|r| if let Record::Transfer(t) = r { Some(t.clone()) } else { None }).unwrap();
    assert!(!t.ok && t.result_code == Some(603), "{t:?}");
}

#[test]
fn a_failing_sipfrag_goes_back_to_the_menu() {
    let mut d = referred();
    let refer = d.sent(Method::Refer)[0].clone();
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    let before = d.prompts().len();
    d.caller_request("NOTIFY", 2, "Event: refer;id=9\r\nContent-Type: message/sipfrag\r\n", "SIP/2.0 486 Busy Here\r\n");
    assert_eq!(d.prompts().len(), before + 1);
    assert!(d.sent(Method::Bye).is_empty());
}

#[test]
fn no_final_notify_fails_at_the_notify_timeout() {
    let mut d = referred();
    let refer = d.sent(Method::Refer)[0].clone();
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    let sent_at = d.now;
    let before = d.prompts().len();
    d.run_for(Duration::from_secs(31));
    assert_eq!(d.prompts().len(), before, "still waiting at 31 s");
    d.run_for(Duration::from_secs(2));
    assert_eq!(d.prompts().len(), before + 1, "failed at 32 s: back to the menu");
    assert!(d.now >= sent_at + Duration::from_secs(32));
}

#[test]
fn refer_without_any_response_fails_on_timer_f() {
    let mut d = referred();
    let cseq = crate::sip::headers::cseq(&d.sent(Method::Refer)[0].headers).unwrap().0;
    let before = d.prompts().len();
    d.signal(CallSignal::RequestTimeout { method: Method::Refer, cseq: cseq + 1 });
    assert_eq!(d.prompts().len(), before, "another request's timeout");
    d.signal(CallSignal::RequestTimeout { method: Method::Refer, cseq });
    assert_eq!(d.prompts().len(), before + 1);
}

#[test]
fn notify_for_another_event_is_489() {
    let mut d = referred();
    d.caller_request("NOTIFY", 2, "Event: dialog\r\n", "");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 489);
}
