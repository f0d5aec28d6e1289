//! Warm transfer (DESIGN.md §5, §8): hold music for the caller, the agent
//! leg's INVITE with the context, the whisper, the agent's key, the bridge,
//! either side's BYE, and every way the agent may not take the call. Also
//! a blind transfer's `fallback: bridge`.

use std::time::Duration;

use media::leg::MediaCommand;
use media::rtp_session::{DtmfSource, MediaEvent};
use rsip::{Method, Request};

use super::{has_ended, header, response_to, settings, Driver, OFFER};
use crate::call::core::{Outcome, Output, RenderJob};
use crate::sip::endpoint::CallSignal;
use crate::store::Record;

const FLOW: &str = r#"
flow: warm
start: welcome
nodes:
  welcome:
    say: "Press 0 for a person."
    gather: { digits: 1, timeout: 5s, retries: 2 }
    intents:
      agent: { dtmf: "0" }
    on: { agent: to_agent, no_input: welcome, no_match: welcome, exhausted: bye }
  to_agent:
    transfer: { to: "sip:agent@127.0.0.1:5070", mode: warm, context: [caller, intent], whisper: "Caller {{caller}} wants a person.", timeout: 10s, ACCEPT, apology: "" }
    on: { failed: welcome, no_answer: later, busy: later, declined: welcome }
  later:
    say: "All agents are busy."
    hangup: true
  bye:
    say: "Goodbye."
    hangup: true
"#;

pub(super) fn flow(accept: &str) -> String {
    FLOW.replace("ACCEPT", &format!("accept: {accept}"))
}

/// The caller pressed 0: the agent's INVITE is out.
pub(super) fn dialling(flow_yaml: &str) -> (Driver, Request) {
    let mut d = Driver::inbound(settings(), flow_yaml, super::invite(OFFER));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    let invites = d.sent(Method::Invite);
    assert_eq!(invites.len(), 1, "the agent's INVITE: {:#?}", d.log);
    let invite = invites[0].clone();
    (d, invite)
}

pub(super) fn agent_call_id(invite: &Request) -> String {
    crate::sip::headers::call_id(&invite.headers).unwrap().to_string()
}

/// A request from the agent in its dialog.
pub(super) fn from_agent(d: &mut Driver, invite: &Request, method: &str, cseq: u32, extra: &str, body: &str) {
    let req = super::parse_request(&format!(
        "{method} sip:centralita@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKag{cseq}\r\nMax-Forwards: 70\r\n\
         From: <sip:agent@127.0.0.1:5070>;tag=peer\r\nTo: <sip:5551234@127.0.0.1>;tag=x\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        agent_call_id(invite),
        body.len()
    ));
    let key = crate::sip::transaction::TransactionKey::from_request(&req).unwrap();
    d.signal(CallSignal::Request { request: req, key });
}

pub(super) fn answered(flow_yaml: &str) -> (Driver, Request) {
    let (mut d, invite) = dialling(flow_yaml);
    d.signal(CallSignal::Response(response_to(&invite, 180, "")));
    d.signal(CallSignal::Response(response_to(&invite, 200, OFFER)));
    (d, invite)
}

pub(super) fn ending(d: &Driver) -> (Outcome, bool) {
    match d.ended() {
        Some(Output::Ended { outcome, bye, .. }) => (*outcome, bye.is_some()),
        _ => panic!("not ended: {:#?}", d.log),
    }
}

fn transfer_record(d: &Driver) -> crate::store::Transfer {
    d.records().into_iter().find_map(|r| if let Record::Transfer(t) = r { Some(t.clone()) } else { None }).expect("transfer recorded")
}

#[test]
fn the_agent_invite_carries_the_context_and_our_offer() {
    let (d, invite) = dialling(&flow("dtmf"));
    assert_eq!(invite.uri.to_string(), "sip:agent@127.0.0.1:5070");
    let uui = header(&invite, "User-to-User").expect("UUI");
    assert!(uui.ends_with(";encoding=hex;purpose=centralita"), "{uui}");
    assert_eq!(header(&invite, "X-Centralita-Call-Id"), Some("call-1@127.0.0.1"));
    assert_eq!(header(&invite, "X-Centralita-Intent"), Some("agent"));
    assert_eq!(header(&invite, "Call-Info"), Some("<http://127.0.0.1:8080/v1/calls/call-1@127.0.0.1/context>;purpose=info"));
    assert!(invite.to_string().contains("From: <sip:+5551234@127.0.0.1>;tag="), "the caller's number (E.164) as caller ID");
    let body = String::from_utf8(invite.body.clone()).unwrap();
    assert!(body.contains("m=audio 40010 RTP/AVP 0 8 101"), "{body}");
    assert_ne!(agent_call_id(&invite), "call-1@127.0.0.1", "a dialog of its own");
    assert!(d.log.iter().any(|o| matches!(o, Output::Render { job: RenderJob::HoldMusic, .. })), "the caller hears hold music");
    assert!(d.log.iter().any(|o| matches!(o, Output::Publish(i) if i.state == "transferring")));
    let context = d.log.iter().find_map(|o| if let Output::Context(c) = o { Some(c.clone()) } else { None }).expect("context");
    assert_eq!(
        context["transfer"],
        serde_json::json!({"mode": "warm", "whisper": "Caller 5551234 wants a person."}),
        "the agent's screen shows how the call comes"
    );
}

#[test]
fn hold_music_loops_while_the_agent_rings() {
    let (mut d, _) = dialling(&flow("dtmf"));
    d.run_for(Duration::from_millis(3500));
    let holds = d.log.iter().filter(|o| matches!(o, Output::Render { job: RenderJob::HoldMusic, .. })).count();
    assert!(holds >= 3, "the 1 s fake loop played again and again: {holds}");
}

#[test]
fn the_agents_key_during_the_whisper_bridges_then_their_bye_ends_both_legs() {
    let (mut d, invite) = answered(&flow("dtmf"));
    let acks = d.log.iter().filter(|o| matches!(o, Output::Transmit { request, .. } if request.method == Method::Ack)).count();
    assert_eq!(acks, 1);
    assert!(d.log.iter().any(|o| matches!(o, Output::StartAgentMedia { .. })));
    assert!(d.prompts().contains(&"Caller 5551234 wants a person.".to_string()), "{:?}", d.prompts());
    assert!(d.log.iter().any(|o| matches!(o, Output::AgentMedia(MediaCommand::Play { .. }))), "the whisper plays to the agent");
    d.run_for(Duration::from_millis(400));
    assert!(!d.log.iter().any(|o| matches!(o, Output::Bridge)), "not before the agent accepts");
    d.agent_media(MediaEvent::Dtmf { digit: '1', source: DtmfSource::Rfc4733 });
    assert!(d.log.iter().any(|o| matches!(o, Output::AgentMedia(MediaCommand::Stop))), "the whisper stops");
    assert!(d.log.iter().any(|o| matches!(o, Output::Bridge)));
    assert!(d.log.iter().any(|o| matches!(o, Output::Publish(i) if i.state == "bridged")));
    let t = transfer_record(&d);
    assert!(t.ok && t.mode == crate::store::TransferMode::Warm && t.answered_ms == Some(400), "time to agent: {t:?}");
    assert_eq!((t.outcome.as_deref(), t.ring_ms), (Some("bridged"), Some(0)), "answered at once, accepted 400 ms later");
    assert!(!has_ended(&d.log));
    d.run_for(Duration::from_secs(5));
    from_agent(&mut d, &invite, "BYE", 2, "", "");
    let bridge = d.records().into_iter().find_map(|r| if let Record::BridgeEnded { bridge_ms, .. } = r { Some(*bridge_ms) } else { None });
    assert_eq!(bridge, Some(5000), "the bridge's duration goes on the transfer's row at the end");
    assert_eq!(d.sent(Method::Bye).len(), 1, "the caller's leg gets our BYE");
    assert_eq!(ending(&d), (Outcome::Transferred, false));
    assert!(d.log.iter().any(|o| matches!(o, Output::LegEnded { call_id } if *call_id == agent_call_id(&invite))));
}

#[test]
fn auto_accept_bridges_once_the_whisper_has_played() {
    let (mut d, _) = answered(&flow("auto"));
    assert!(!d.log.iter().any(|o| matches!(o, Output::Bridge)));
    d.drive_until("the bridge", |log| log.iter().any(|o| matches!(o, Output::Bridge)));
}

#[test]
fn the_callers_bye_while_bridged_hangs_up_the_agent() {
    let (mut d, invite) = answered(&flow("auto"));
    d.drive_until("the bridge", |log| log.iter().any(|o| matches!(o, Output::Bridge)));
    d.caller_request("BYE", 3, "", "");
    let byes = d.sent(Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(agent_call_id(byes[0]), agent_call_id(&invite), "the BYE goes to the agent");
    assert_eq!(ending(&d), (Outcome::Transferred, true));
}

#[test]
fn declining_with_2_returns_the_caller_to_the_menu() {
    let (mut d, invite) = answered(&flow("dtmf"));
    let before = d.prompts().len();
    d.agent_media(MediaEvent::Dtmf { digit: '2', source: DtmfSource::InBand });
    let byes = d.sent(Method::Bye);
    assert_eq!((byes.len(), agent_call_id(byes[0])), (1, agent_call_id(&invite)));
    assert_eq!(d.prompts()[before..], ["Press 0 for a person.".to_string()], "declined → welcome");
    assert!(d.log.iter().any(|o| matches!(o, Output::CloseAgentMedia)));
    assert!(!transfer_record(&d).ok);
}

#[test]
fn no_key_after_the_whisper_is_a_decline() {
    let (mut d, _) = answered(&flow("dtmf"));
    d.run_for(Duration::from_secs(15));
    assert!(d.sent(Method::Bye).is_empty(), "still waiting 14 s after the whisper");
    d.run_for(Duration::from_secs(2));
    assert_eq!(d.sent(Method::Bye).len(), 1);
}

#[test]
fn ring_timeout_cancels_and_plays_no_answer() {
    let (mut d, invite) = dialling(&flow("dtmf"));
    d.run_for(Duration::from_secs(10));
    assert_eq!(d.sent(Method::Cancel).len(), 1);
    d.signal(CallSignal::Response(response_to(&invite, 487, "")));
    assert_eq!(d.prompts().last().map(String::as_str), Some("All agents are busy."));
    assert!(d.log.iter().any(|o| matches!(o, Output::LegEnded { .. })));
    let t = transfer_record(&d);
    assert_eq!((t.ok, t.result_code, t.outcome.as_deref(), t.ring_ms), (false, Some(480), Some("no_answer"), None));
}

#[test]
fn busy_and_refused_agents() {
    let (mut d, invite) = dialling(&flow("dtmf"));
    d.signal(CallSignal::Response(response_to(&invite, 486, "")));
    assert_eq!(d.prompts().last().map(String::as_str), Some("All agents are busy."));
    let (mut d, invite) = dialling(&flow("dtmf"));
    d.signal(CallSignal::Response(response_to(&invite, 503, "")));
    assert_eq!(d.prompts().last().map(String::as_str), Some("Press 0 for a person."), "failed → welcome");
    assert!(d.sent(Method::Cancel).is_empty() && d.sent(Method::Bye).is_empty(), "a failed INVITE needs neither");
}

#[test]
fn the_caller_hanging_up_while_the_agent_rings_cancels_it() {
    let (mut d, invite) = dialling(&flow("dtmf"));
    d.caller_request("BYE", 3, "", "");
    let cancels = d.sent(Method::Cancel);
    assert_eq!((cancels.len(), agent_call_id(cancels[0])), (1, agent_call_id(&invite)));
    assert_eq!(ending(&d), (Outcome::CallerHangup, true));
}

#[test]
fn a_blind_transfer_with_fallback_bridge_dials_the_agent_when_refer_is_refused() {
    let blind = super::MENU.replace("mode: blind, context: [caller, intent]", "mode: blind, context: [caller, intent], fallback: bridge");
    let mut d = Driver::inbound(settings(), &blind, super::invite(OFFER));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    let refer = d.sent(Method::Refer)[0].clone();
    d.signal(CallSignal::Response(response_to(&refer, 405, "")));
    let invite = d.sent(Method::Invite).first().map(|r| (*r).clone()).expect("the agent is dialled instead");
    assert_eq!(invite.uri.to_string(), "sip:agents@127.0.0.1:5070");
    d.signal(CallSignal::Response(response_to(&invite, 200, OFFER)));
    assert!(d.log.iter().any(|o| matches!(o, Output::Bridge)), "no whisper, no key: bridged on answer");
    let transfers: Vec<_> =
        d.records().into_iter().filter_map(|r| if let Record::Transfer(t) = r { Some(t.clone()) } else { None }).collect();
    assert_eq!(
        transfers.iter().map(|t| (t.mode, t.ok)).collect::<Vec<_>>(),
        [(crate::store::TransferMode::Blind, false), (crate::store::TransferMode::Warm, true)]
    );
}

#[test]
fn a_trunk_without_refer_bridges_a_blind_transfer_at_once() {
    let mut id = super::identity(super::MENU);
    id.refer = false;
    let mut d = Driver::unstarted(settings(), id, super::invite(OFFER));
    d.start(Some(40_000));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    assert!(d.sent(Method::Refer).is_empty(), "no REFER to a trunk that refuses them");
    assert_eq!(d.sent(Method::Invite).len(), 1, "the agent is dialled");
}

fn challenge(invite: &Request, code: u16) -> rsip::Response {
    let mut r = response_to(invite, code, "");
    let name = if code == 407 { "Proxy-Authenticate" } else { "WWW-Authenticate" };
    r.headers.push(rsip::Header::Other(name.into(), "Digest realm=\"pbx\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\"".into()));
    r
}

#[test]
fn a_challenging_agent_pbx_gets_one_digest_answer() {
    let (mut d, invite) = dialling(&flow("dtmf"));
    d.signal(CallSignal::Response(challenge(&invite, 407)));
    let invites = d.sent(Method::Invite);
    assert_eq!(invites.len(), 2, "the INVITE again: {:#?}", d.log);
    let again = invites[1].clone();
    assert_eq!(agent_call_id(&again), agent_call_id(&invite), "same dialog attempt");
    assert_eq!(crate::sip::headers::cseq(&again.headers).map(|c| c.0), Some(2));
    let text = again.to_string();
    assert!(text.contains("Proxy-Authorization: Digest") && text.contains("username=\"desk\"") && text.contains("realm=\"pbx\""), "{text}");
    assert!(header(&again, "User-to-User").is_some(), "the context headers stay");
    // A second challenge is a failure, not a loop.
    d.signal(CallSignal::Response(challenge(&again, 401)));
    assert_eq!(d.sent(Method::Invite).len(), 2);
    let t = transfer_record(&d);
    assert_eq!((t.ok, t.result_code), (false, Some(401)));
}

#[test]
fn the_ack_of_an_authenticated_invite_has_its_cseq() {
    let (mut d, invite) = dialling(&flow("auto"));
    d.signal(CallSignal::Response(challenge(&invite, 401)));
    let again = d.sent(Method::Invite)[1].clone();
    assert!(again.to_string().contains("Authorization: Digest"));
    d.signal(CallSignal::Response(response_to(&again, 200, OFFER)));
    let ack = d.log.iter().find_map(|o| match o {
        Output::Transmit { request, .. } if request.method == Method::Ack => Some(request.clone()),
        _ => None,
    });
    assert_eq!(ack.and_then(|a| crate::sip::headers::cseq(&a.headers).map(|c| c.0)), Some(2));
    d.drive_until("the bridge", |log| log.iter().any(|o| matches!(o, Output::Bridge)));
}

#[test]
fn a_challenge_from_a_pbx_without_credentials_fails_the_transfer() {
    let (mut d, invite) = dialling(&flow("dtmf").replace("127.0.0.1:5070", "127.0.0.1:5071"));
    d.signal(CallSignal::Response(challenge(&invite, 401)));
    assert_eq!(d.sent(Method::Invite).len(), 1, "no trunk credentials for 127.0.0.1:5071");
    assert_eq!(d.prompts().last().map(String::as_str), Some("Press 0 for a person."), "failed → welcome");
}

#[test]
fn an_agent_host_name_is_resolved_by_the_edge_before_the_invite() {
    let flow_yaml = flow("dtmf").replace("sip:agent@127.0.0.1:5070", "sip:agent@pbx.example:5070");
    let mut d = Driver::inbound(settings(), &flow_yaml, super::invite(OFFER));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    let asked = d.log.iter().find_map(|o| if let Output::ResolveAgent { uri } = o { Some(uri.clone()) } else { None });
    assert_eq!(asked.as_deref(), Some("sip:agent@pbx.example:5070"));
    assert!(d.sent(Method::Invite).is_empty(), "no INVITE before the address is known");
    let now = d.now;
    d.core.handle_agent_resolved(Ok("10.1.2.3:5070".parse().unwrap()), now);
    d.pump();
    let sent_to = d.log.iter().find_map(|o| match o {
        Output::SendInvite { request, flow: crate::sip::transport::SipFlow::Udp { remote, .. } } if request.method == Method::Invite => {
            Some(*remote)
        }
        _ => None,
    });
    assert_eq!(sent_to, Some("10.1.2.3:5070".parse().unwrap()), "the INVITE goes to the resolved address");
    assert_eq!(d.sent(Method::Invite)[0].uri.to_string(), "sip:agent@pbx.example:5070", "the Request-URI keeps the name");
}

#[test]
fn an_agent_host_that_does_not_resolve_fails_the_transfer() {
    let flow_yaml = flow("dtmf").replace("sip:agent@127.0.0.1:5070", "sip:agent@nowhere.invalid");
    let mut d = Driver::inbound(settings(), &flow_yaml, super::invite(OFFER));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::Dtmf { digit: '0', source: DtmfSource::Rfc4733 });
    let before = d.prompts().len();
    let now = d.now;
    d.core.handle_agent_resolved(Err("no such host".into()), now);
    d.pump();
    assert!(d.sent(Method::Invite).is_empty());
    assert_eq!(d.prompts()[before..], ["Press 0 for a person.".to_string()], "failed → welcome");
    assert!(!transfer_record(&d).ok);
}

#[test]
fn the_agent_sees_the_caller_id_the_flow_chose() {
    for (choice, from) in [
        ("", "From: <sip:+5551234@127.0.0.1>"),
        (", caller_id: caller", "From: <sip:+5551234@127.0.0.1>"),
        (", caller_id: gateway", "From: <sip:5550100@127.0.0.1>"),
        (", caller_id: \"+54 11 4321-0000\"", "From: <sip:+54114321-0000@127.0.0.1>"),
    ] {
        let (_, invite) = dialling(&flow(&format!("dtmf{choice}")));
        let text = invite.to_string();
        assert!(text.contains(from), "{choice}: {text}");
    }
}
