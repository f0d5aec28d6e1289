//! `release: refer` (RFC 5589 §7, RFC 3891): once bridged, REFER with
//! Replaces to the caller's side; a 2xx sipfrag takes the gateway out of
//! the call, anything else keeps the bridge.

use std::time::Duration;

use media::leg::MediaCommand;
use rsip::{Method, Request};

use super::warm_transfer::{agent_call_id, answered, ending, flow, from_agent};
use super::{has_ended, header, response_to, Driver};
use crate::call::core::{Outcome, Output};
use crate::sip::endpoint::CallSignal;
use crate::store::{Record, StepKind};

/// Bridged (accept: auto) with `release: refer`: the REFER is out.
fn releasing() -> (Driver, Request, Request) {
    let (mut d, invite) = answered(&flow("auto, release: refer"));
    d.drive_until("the bridge", |log| log.iter().any(|o| matches!(o, Output::Bridge)));
    let refers = d.sent(Method::Refer);
    assert_eq!(refers.len(), 1, "one REFER once bridged: {:#?}", d.log);
    let refer = refers[0].clone();
    (d, invite, refer)
}

fn release_steps(d: &Driver) -> Vec<String> {
    d.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Step(s) if s.kind == StepKind::Release => Some(s.detail.clone()),
            _ => None,
        })
        .collect()
}

fn notify(d: &mut Driver, cseq: u32, sipfrag: &str) {
    d.caller_request("NOTIFY", cseq, "Event: refer\r\nContent-Type: message/sipfrag\r\n", sipfrag);
}

#[test]
fn the_refer_names_the_agents_contact_and_dialog_in_replaces() {
    let (d, invite, refer) = releasing();
    assert_eq!(crate::sip::headers::call_id(&refer.headers), Some("call-1@127.0.0.1"), "in the caller's dialog");
    let text = invite.to_string();
    let from = text.lines().find(|l| l.starts_with("From:")).expect("From");
    let our_tag = from.split("tag=").nth(1).expect("our From tag").trim().to_string();
    let replaces = format!("{};to-tag=peer;from-tag={our_tag}", agent_call_id(&invite));
    let escaped = crate::sip::refer::escape_uri_header(&replaces);
    assert_eq!(header(&refer, "Refer-To"), Some(format!("<sip:callee@127.0.0.1:5080?Replaces={escaped}>").as_str()));
    assert!(escaped.contains("%3Bto-tag%3Dpeer%3Bfrom-tag%3D"), "RFC 3261 §19.1.1 escaping: {escaped}");
    assert_eq!(header(&refer, "Referred-By"), Some("<sip:centralita@127.0.0.1:5060>"));
    assert!(!has_ended(&d.log));
}

#[test]
fn a_2xx_sipfrag_after_the_agents_bye_takes_the_gateway_out() {
    let (mut d, invite, refer) = releasing();
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    notify(&mut d, 2, "SIP/2.0 100 Trying\r\n");
    // RFC 3891 §3: the agent ends the replaced dialog.
    from_agent(&mut d, &invite, "BYE", 2, "", "");
    assert_eq!(d.responses().last().unwrap().status_code.code(), 200, "the agent's BYE answered");
    assert!(!has_ended(&d.log), "the agent's BYE during the release does not end the call");
    assert!(d.log.iter().any(|o| matches!(o, Output::CloseAgentMedia)), "our agent leg is gone");
    assert!(d.sent(Method::Bye).is_empty());
    d.run_for(Duration::from_secs(20));
    assert!(!has_ended(&d.log), "the replaced agent leg's silence is no reason to hang up");
    notify(&mut d, 3, "SIP/2.0 200 OK\r\n");
    let byes = d.sent(Method::Bye);
    assert_eq!(byes.len(), 1, "only the caller's leg gets our BYE");
    assert_eq!(crate::sip::headers::call_id(&byes[0].headers), Some("call-1@127.0.0.1"));
    assert_eq!(ending(&d), (Outcome::Transferred, false));
    assert_eq!(release_steps(&d), ["released (200): caller and agent talk directly"]);
    assert_eq!(d.core.poll_timeout(), None);
}

#[test]
fn a_refused_refer_keeps_the_bridge_until_a_bye() {
    let (mut d, invite, refer) = releasing();
    let before = d.log.len();
    d.signal(CallSignal::Response(response_to(&refer, 603, "")));
    assert!(!has_ended(&d.log) && d.sent(Method::Bye).is_empty(), "still bridged");
    let after = &d.log[before..];
    assert!(!after.iter().any(|o| matches!(o, Output::CloseAgentMedia | Output::Media(MediaCommand::Stop) | Output::AgentMedia(_))));
    assert_eq!(release_steps(&d), ["refused (603): REFER rejected with 603; bridge kept"]);
    d.run_for(Duration::from_secs(40));
    assert!(!has_ended(&d.log));
    d.caller_request("BYE", 4, "", "");
    let byes = d.sent(Method::Bye);
    assert_eq!((byes.len(), agent_call_id(byes[0])), (1, agent_call_id(&invite)), "the BYE goes to the agent");
    assert_eq!(ending(&d), (Outcome::Transferred, true));
}

#[test]
fn no_final_notify_keeps_the_bridge() {
    let (mut d, _, refer) = releasing();
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    d.run_for(Duration::from_secs(31));
    assert!(release_steps(&d).is_empty(), "still waiting at 31 s");
    d.run_for(Duration::from_secs(2));
    assert_eq!(release_steps(&d), ["refused: no final NOTIFY in time; bridge kept"]);
    assert!(!has_ended(&d.log) && d.sent(Method::Bye).is_empty());
}

#[test]
fn a_failing_sipfrag_after_the_agent_left_ends_the_call() {
    let (mut d, invite, refer) = releasing();
    d.signal(CallSignal::Response(response_to(&refer, 202, "")));
    from_agent(&mut d, &invite, "BYE", 2, "", "");
    notify(&mut d, 2, "SIP/2.0 481 Call Does Not Exist\r\n");
    let byes = d.sent(Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(crate::sip::headers::call_id(&byes[0].headers), Some("call-1@127.0.0.1"), "the caller is not left with no one");
    assert_eq!(ending(&d), (Outcome::Transferred, false));
}

#[test]
fn a_trunk_without_refer_keeps_the_bridge() {
    let mut id = super::identity(&flow("auto, release: refer"));
    id.refer = false;
    let mut d = Driver::unstarted(super::settings(), id, super::invite(super::OFFER));
    d.start(Some(40_000));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(media::rtp_session::MediaEvent::Dtmf { digit: '0', source: media::rtp_session::DtmfSource::Rfc4733 });
    let invite = d.sent(Method::Invite)[0].clone();
    d.signal(CallSignal::Response(response_to(&invite, 200, super::OFFER)));
    d.drive_until("the bridge", |log| log.iter().any(|o| matches!(o, Output::Bridge)));
    assert!(d.sent(Method::Refer).is_empty());
    assert_eq!(release_steps(&d), ["skipped: the caller's trunk does not take REFER ([[trunks]] refer = false); bridge kept"]);
}
