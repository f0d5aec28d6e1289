//! Unit tests for the transaction layer, one behaviour per file, driven
//! with fake time: `t0 + Duration`, jumping to `poll_timeout()` like
//! quinn-proto's `Pair::drive`.

mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;
mod ok_retransmit;

use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Request, Response};

use super::{
    InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction, NonInviteServerTransaction, Ok2xxRetransmitter,
    TransactionEvent,
};

pub(super) const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Route: <sip:p2.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n";

pub(super) const BYE: &str = "BYE sip:alice@pc33.atlanta.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
To: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 231 BYE\r\n\
Content-Length: 0\r\n\r\n";

pub(super) fn parse(text: &str) -> Request {
    Request::try_from(text).expect("test request parses")
}

pub(super) fn invite() -> Request {
    parse(INVITE)
}

pub(super) fn bye() -> Request {
    parse(BYE)
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A response to `req` with `code`, echoing Via/From/To/Call-ID/CSeq and
/// adding `to_tag` to the To header.
pub(super) fn response(req: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut headers = rsip::Headers::default();
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => headers.push(h.clone()),
            Header::To(to) => {
                let value = match to_tag {
                    Some(tag) => format!("{};tag={tag}", to.value()),
                    None => to.value().to_string(),
                };
                headers.push(Header::To(rsip::headers::To::from(value)));
            }
            _ => {}
        }
    }
    Response { status_code: code.into(), version: rsip::Version::V2, headers, body: Vec::new() }
}

/// The common polling surface of every machine, for the driver.
pub(super) trait Machine {
    type Msg;
    fn transmit(&mut self) -> Option<Self::Msg>;
    fn event(&mut self) -> Option<TransactionEvent>;
    fn timeout(&self) -> Option<Instant>;
    fn fire(&mut self, now: Instant);
}

macro_rules! machine {
    ($t:ty, $msg:ty) => {
        impl Machine for $t {
            type Msg = $msg;
            fn transmit(&mut self) -> Option<$msg> {
                self.poll_transmit()
            }
            fn event(&mut self) -> Option<TransactionEvent> {
                self.poll_event()
            }
            fn timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn fire(&mut self, now: Instant) {
                self.handle_timeout(now)
            }
        }
    };
}

machine!(InviteServerTransaction, Response);
machine!(NonInviteServerTransaction, Response);
machine!(InviteClientTransaction, Request);
machine!(NonInviteClientTransaction, Request);
machine!(Ok2xxRetransmitter, Response);

/// What came out of a machine, stamped with the virtual time (since t0).
pub(super) struct Log<M> {
    pub(super) transmits: Vec<(Duration, M)>,
    pub(super) events: Vec<(Duration, TransactionEvent)>,
}

impl<M> Log<M> {
    fn new() -> Self {
        Self { transmits: Vec::new(), events: Vec::new() }
    }

    /// Transmit times in ms since t0.
    pub(super) fn transmit_ms(&self) -> Vec<u128> {
        self.transmits.iter().map(|(t, _)| t.as_millis()).collect()
    }

    /// Events without their time.
    pub(super) fn event_kinds(&self) -> Vec<&TransactionEvent> {
        self.events.iter().map(|(_, e)| e).collect()
    }
}

/// Drains everything queued at virtual time `at`.
pub(super) fn drain<T: Machine>(m: &mut T, log: &mut Log<T::Msg>, at: Duration) {
    while let Some(msg) = m.transmit() {
        log.transmits.push((at, msg));
    }
    while let Some(ev) = m.event() {
        log.events.push((at, ev));
    }
}

/// Jumps virtual time from timeout to timeout until `until` (inclusive) or
/// the machine has nothing armed; everything emitted is logged.
pub(super) fn drive<T: Machine>(m: &mut T, t0: Instant, until: Duration) -> Log<T::Msg> {
    let mut log = Log::new();
    drain(m, &mut log, Duration::ZERO);
    drive_into(m, t0, until, &mut log);
    log
}

/// [`drive`] appending to an existing log.
pub(super) fn drive_into<T: Machine>(m: &mut T, t0: Instant, until: Duration, log: &mut Log<T::Msg>) {
    let mut steps = 0;
    while let Some(at) = m.timeout() {
        let since = at.duration_since(t0);
        if since > until {
            break;
        }
        m.fire(at);
        drain(m, log, since);
        steps += 1;
        assert!(steps < 10_000, "machine does not settle");
    }
}

#[test]
fn timer_config_default_is_rfc3261_table_4() {
    let t = super::TimerConfig::default();
    assert_eq!((t.t1, t.t2, t.t4), (ms(500), ms(4000), ms(5000)));
}

#[test]
fn junk_inputs_are_absorbed_without_panics() {
    use super::{InviteServerState, TimerConfig};
    let t0 = Instant::now();
    let bare = Request {
        method: rsip::Method::Invite,
        uri: invite().uri,
        version: rsip::Version::V2,
        headers: rsip::Headers::default(),
        body: Vec::new(),
    };
    let junk = |code: u16| Response { status_code: code.into(), version: rsip::Version::V2, headers: Default::default(), body: vec![] };
    // A header-less INVITE still gets a (header-less) 100 Trying.
    let mut s = InviteServerTransaction::new(bare.clone(), false, TimerConfig::default(), t0);
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(100));
    for code in [0, 99, 700, 999] {
        s.send_response(junk(code), t0);
    }
    assert_eq!((s.poll_transmit(), s.state()), (None, InviteServerState::Proceeding));
    s.handle_request(&bye(), t0);
    // An ACK built from a header-less INVITE and response lacks them too.
    let mut c = InviteClientTransaction::new(bare, false, TimerConfig::default(), t0);
    let _ = c.poll_transmit();
    for code in [0, 700] {
        c.handle_response(junk(code), t0);
    }
    assert_eq!(c.poll_event(), None);
    c.handle_response(junk(500), t0);
    assert_eq!(c.poll_transmit().map(|r| r.method), Some(rsip::Method::Ack));
    let mut n = NonInviteClientTransaction::new(bye(), false, TimerConfig::default(), t0);
    n.handle_response(junk(0), t0);
    assert_eq!(n.poll_event(), None);
    let mut ns = NonInviteServerTransaction::new(bye(), false, TimerConfig::default(), t0);
    ns.send_response(junk(42), t0);
    assert_eq!(ns.poll_transmit(), None);
}

#[test]
fn zero_and_huge_timer_configs_neither_spin_nor_panic() {
    use super::TimerConfig;
    let t0 = Instant::now();
    let zero = TimerConfig { t1: Duration::ZERO, t2: Duration::ZERO, t4: Duration::ZERO };
    let mut c = NonInviteClientTransaction::new(bye(), false, zero, t0);
    let log = drive(&mut c, t0, Duration::from_secs(1));
    assert!(c.is_terminated(), "64*0 = 0: F fires at once");
    assert!(!log.transmits.is_empty());
    let huge = TimerConfig { t1: Duration::MAX, t2: Duration::MAX, t4: Duration::MAX };
    let mut c = InviteClientTransaction::new(invite(), false, huge, t0);
    assert_eq!(c.poll_timeout(), None, "deadlines past Instant's range never fire");
    c.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(!c.is_terminated());
}
