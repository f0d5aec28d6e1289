//! `CallCore` in virtual time, one behaviour per file. [`Driver`] plays
//! the tokio edge: it drains the core's outputs into a log, answers the ones
//! a real edge would (a rendered prompt's audio; the media leg's
//! `PlaybackStarted`/`PlaybackFinished`, a second of audio later) and jumps
//! `now` to the next timeout (the core's or its fake media leg's), like
//! quinn-proto's `Pair::drive`. SIP peers are the tests themselves: they
//! read the requests from the log and feed responses and requests back.

mod blind_transfer;
mod inbound;
mod outbound;
mod recording;
mod release;
mod speech;
mod warm_transfer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use media::leg::MediaCommand;
use media::rtp_session::MediaEvent;
use rsip::{Request, Response, SipMessage};

use super::{CallCore, CallIdentity, CallSettings, Output, RenderMsg, WallClock};
use crate::sip::endpoint::CallSignal;
use crate::sip::headers;
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;

/// A menu whose `0` transfers to the agent and whose failed transfer comes
/// back to the menu (the demo's shape, without business hours).
pub(super) const MENU: &str = r#"
flow: menu
start: welcome
nodes:
  welcome:
    say: "Press 0 for a person."
    gather: { digits: 1, timeout: 5s, retries: 2 }
    intents:
      agent: { dtmf: "0" }
    on: { agent: to_agent, no_input: welcome, no_match: welcome, exhausted: bye }
  to_agent:
    transfer: { to: "${transfer.agent_uri}", mode: blind, context: [caller, intent] }
    on: { failed: welcome }
  bye:
    say: "Goodbye."
    hangup: true
"#;

pub(super) const CALLER: &str = "127.0.0.1:5061";
const LOCAL: &str = "127.0.0.1:5060";
/// 8 kHz audio in every rendered prompt.
const PROMPT: Duration = Duration::from_secs(1);

pub(super) fn settings() -> CallSettings {
    CallSettings {
        answer_delay: Duration::ZERO,
        ring_timeout: Duration::from_secs(30),
        notify_timeout: Duration::from_secs(32),
        media_ip: "127.0.0.1".parse().unwrap(),
        inactivity_timeout: Duration::from_secs(60),
        end_of_speech: Duration::from_millis(600),
        complete_timeout_ms: 200,
        final_timeout: Duration::from_secs(3),
        agent_uri: "sip:agents@127.0.0.1:5070".into(),
        agent_credentials: vec![("127.0.0.1:5070".into(), "desk".into(), "s3cret".into())],
        pinned_time: None,
        speech: false,
    }
}

pub(super) fn identity(flow_yaml: &str) -> CallIdentity {
    let flow = dialogs::parse_flow(flow_yaml, "menu.yaml").expect("test flow parses");
    CallIdentity {
        call_id: "call-1@127.0.0.1".into(),
        caller: "+5551234".into(),
        caller_as_sent: "5551234".into(),
        called: "5550100".into(),
        flow_name: "flows/menu.yaml".into(),
        flow: Some(Arc::new(flow)),
        context_url: "http://127.0.0.1:8080/v1/calls/call-1@127.0.0.1/context".into(),
        refer: true,
    }
}

pub(super) fn parse_request(text: &str) -> Request {
    match crate::sip::wire::parse_message(text.as_bytes()).expect("test request parses") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("not a request"),
    }
}

pub(super) const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// The caller's INVITE, with `body` as SDP (empty: a late offer).
pub(super) fn invite(body: &str) -> Request {
    let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
    parse_request(&format!(
        "INVITE sip:5550100@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinv1\r\nMax-Forwards: 70\r\n\
         From: <sip:5551234@127.0.0.1>;tag=caller\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: call-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:5551234@{CALLER}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// A response to the request `req` with `code` (To tag `peer`).
pub(super) fn response_to(req: &Request, code: u16, body: &str) -> Response {
    let mut r = headers::make_response(req, headers::status_with_reason(code, "Test"), Some("peer"));
    if !body.is_empty() {
        use rsip::headers::UntypedHeader;
        r.headers.push(rsip::Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        r.headers.push(rsip::Header::Contact(rsip::headers::Contact::new("<sip:callee@127.0.0.1:5080>")));
        r.body = body.as_bytes().to_vec();
    }
    r
}

/// The call's fake RTP leg: prompts play for [`PROMPT`].
#[derive(Default)]
struct FakeLeg {
    /// (when, event) to deliver.
    due: Vec<(Instant, MediaEvent)>,
}

impl FakeLeg {
    fn play(&mut self, id: u64, now: Instant) {
        self.due.push((now, MediaEvent::PlaybackStarted { id }));
        self.due.push((now + PROMPT, MediaEvent::PlaybackFinished { id }));
    }

    /// A stopped prompt finishes now.
    fn stop(&mut self, now: Instant) {
        for (at, ev) in &mut self.due {
            if matches!(ev, MediaEvent::PlaybackFinished { .. }) {
                *at = now;
            }
        }
    }

    fn take_due(&mut self, now: Instant) -> Option<MediaEvent> {
        let i = self.due.iter().position(|(t, _)| *t <= now)?;
        Some(self.due.remove(i).1)
    }
}

pub(super) struct Driver {
    pub(super) core: CallCore,
    pub(super) now: Instant,
    /// Every output the core produced, in order.
    pub(super) log: Vec<Output>,
    leg: Option<FakeLeg>,
    /// The warm transfer's agent leg.
    agent_leg: Option<FakeLeg>,
}

impl Driver {
    /// An inbound call from `invite`, started (answered unless rejected).
    pub(super) fn inbound(settings: CallSettings, flow_yaml: &str, invite: Request) -> Self {
        let mut d = Driver::unstarted(settings, identity(flow_yaml), invite);
        d.start(Some(40_000));
        d
    }

    /// `start_inbound` with the RTP port the edge bound (None: none free).
    pub(super) fn start(&mut self, rtp_port: Option<u16>) {
        self.core.start_inbound(rtp_port, self.now);
        self.pump();
    }

    /// An inbound call with identity `id`, not started yet.
    pub(super) fn unstarted(settings: CallSettings, id: CallIdentity, invite: Request) -> Self {
        let start = Instant::now();
        let key = TransactionKey::from_request(&invite).unwrap();
        let flow = SipFlow::Udp { listener: 0, remote: CALLER.parse().unwrap() };
        let core = CallCore::new_inbound(settings, id, invite, key, flow, LOCAL.parse().unwrap(), WallClock::new(start, 1_764_000_000_000));
        Driver::from_core(core, start)
    }

    pub(super) fn from_core(core: CallCore, start: Instant) -> Self {
        Driver { core, now: start, log: Vec::new(), leg: None, agent_leg: None }
    }

    /// Drains the core's outputs, answering what the edge would.
    pub(super) fn pump(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match &o {
                Output::StartMedia { .. } => self.leg = Some(FakeLeg::default()),
                Output::Render { id, .. } => {
                    let pcm = media::Pcm::new(vec![0i16; 8000], 8000);
                    self.core.handle_render(*id, RenderMsg::Start { pcm, streamed: false }, self.now);
                }
                Output::Media(MediaCommand::Play { id, .. }) => self.leg.as_mut().expect("Play before media started").play(*id, self.now),
                Output::Media(MediaCommand::Stop) => self.leg.as_mut().into_iter().for_each(|l| l.stop(self.now)),
                Output::BindAgentRtp => self.core.handle_agent_rtp(Some(40_010), self.now),
                Output::StartAgentMedia { .. } => self.agent_leg = Some(FakeLeg::default()),
                Output::AgentMedia(MediaCommand::Play { id, .. }) => self.agent_leg.as_mut().expect("agent media").play(*id, self.now),
                Output::AgentMedia(MediaCommand::Stop) => self.agent_leg.as_mut().into_iter().for_each(|l| l.stop(self.now)),
                Output::CloseAgentMedia => self.agent_leg = None,
                Output::Ended { .. } => {
                    self.leg = None;
                    self.agent_leg = None;
                }
                _ => {}
            }
            self.log.push(o);
        }
    }

    fn next_media(&self) -> Option<Instant> {
        [self.leg.as_ref(), self.agent_leg.as_ref()].into_iter().flatten().flat_map(|l| l.due.iter().map(|(at, _)| *at)).min()
    }

    /// One step of virtual time: the earliest media event or core timeout.
    /// False when nothing is pending.
    pub(super) fn step(&mut self) -> bool {
        let next = [self.next_media(), self.core.poll_timeout()].into_iter().flatten().min();
        let Some(at) = next else { return false };
        self.now = self.now.max(at);
        if let Some(ev) = self.leg.as_mut().and_then(|l| l.take_due(self.now)) {
            self.core.handle_media(ev, self.now);
            self.pump();
            return true;
        }
        if let Some(ev) = self.agent_leg.as_mut().and_then(|l| l.take_due(self.now)) {
            self.core.handle_agent_media(ev, self.now);
            self.pump();
            return true;
        }
        self.core.handle_timeout(self.now);
        self.pump();
        true
    }

    /// Steps until `done` holds for the log (panics after 10 virtual minutes).
    pub(super) fn drive_until(&mut self, what: &str, done: impl Fn(&[Output]) -> bool) {
        let limit = self.now + Duration::from_secs(600);
        while !done(&self.log) {
            assert!(self.now < limit && self.step(), "never happened: {what}; log: {:#?}", self.log);
        }
    }

    /// Steps while the virtual clock stays before `now + d`.
    pub(super) fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while [self.next_media(), self.core.poll_timeout()].into_iter().flatten().min().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = until;
    }

    pub(super) fn signal(&mut self, s: CallSignal) {
        self.core.handle_signal(s, self.now);
        self.pump();
    }

    pub(super) fn media(&mut self, ev: MediaEvent) {
        self.core.handle_media(ev, self.now);
        self.pump();
    }

    pub(super) fn agent_media(&mut self, ev: MediaEvent) {
        self.core.handle_agent_media(ev, self.now);
        self.pump();
    }

    /// The caller's ACK for our 200.
    pub(super) fn ack(&mut self) {
        let ack = parse_request(&format!(
            "ACK sip:centralita@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack1\r\nMax-Forwards: 70\r\n\
             From: <sip:5551234@127.0.0.1>;tag=caller\r\nTo: <sip:5550100@127.0.0.1>;tag=x\r\nCall-ID: call-1@127.0.0.1\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ));
        self.signal(CallSignal::Ack(ack));
    }

    /// An in-dialog request from the caller (`extra` headers, `body`).
    pub(super) fn caller_request(&mut self, method: &str, cseq: u32, extra: &str, body: &str) -> TransactionKey {
        let req = parse_request(&format!(
            "{method} sip:centralita@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{method}{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:5551234@127.0.0.1>;tag=caller\r\nTo: <sip:5550100@127.0.0.1>;tag=x\r\nCall-ID: call-1@127.0.0.1\r\n\
             CSeq: {cseq} {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        let key = TransactionKey::from_request(&req).unwrap();
        self.signal(CallSignal::Request { request: req, key: key.clone() });
        key
    }

    /// The requests the call sent (in transactions), in order.
    pub(super) fn sent(&self, method: rsip::Method) -> Vec<&Request> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Output::SendRequest { request, .. } | Output::SendInvite { request, .. } if request.method == method => Some(request),
                _ => None,
            })
            .collect()
    }

    /// The responses the call gave, in order.
    pub(super) fn responses(&self) -> Vec<&Response> {
        self.log.iter().filter_map(|o| if let Output::Respond { response, .. } = o { Some(response) } else { None }).collect()
    }

    /// The texts of the prompts rendered so far.
    pub(super) fn prompts(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Output::Render { job: super::RenderJob::Say(text, _), .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn ended(&self) -> Option<&Output> {
        self.log.iter().find(|o| matches!(o, Output::Ended { .. }))
    }

    pub(super) fn records(&self) -> Vec<&crate::store::Record> {
        self.log.iter().filter_map(|o| if let Output::Record(r) = o { Some(r) } else { None }).collect()
    }
}

pub(super) fn has_ended(log: &[Output]) -> bool {
    log.iter().any(|o| matches!(o, Output::Ended { .. }))
}

pub(super) fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    headers::header_value(&req.headers, name)
}
