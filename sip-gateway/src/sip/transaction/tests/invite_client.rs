//! INVITE client transaction: RFC 3261 §17.1.1 + RFC 6026.

use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Method};

use super::{drain, drive, drive_into, invite, ms, response};
use crate::sip::transaction::{InviteClientState, InviteClientTransaction, TimerConfig, TransactionEvent, TransactionKey};

fn client(reliable: bool) -> (InviteClientTransaction, Instant) {
    let t0 = Instant::now();
    (InviteClientTransaction::new(invite(), reliable, TimerConfig::default(), t0), t0)
}

fn status(ev: Option<TransactionEvent>) -> Option<u16> {
    match ev {
        Some(TransactionEvent::Response(r)) => Some(r.status_code.code()),
        _ => None,
    }
}

#[test]
fn timer_a_doubles_without_cap_and_b_times_out_at_32s() {
    let (mut c, t0) = client(false);
    let log = drive(&mut c, t0, Duration::from_secs(60));
    // Sent at 0, then A after 0.5, 1, 2, 4, 8, 16 s.
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(log.transmits.iter().all(|(_, r)| *r == invite()));
    assert_eq!(log.events, [(ms(32_000), TransactionEvent::Timeout), (ms(32_000), TransactionEvent::Terminated)]);
    assert!(c.is_terminated());
}

#[test]
fn reliable_has_no_a_but_still_b() {
    let (mut c, t0) = client(true);
    let log = drive(&mut c, t0, Duration::from_secs(60));
    assert_eq!(log.transmit_ms(), [0]);
    assert_eq!(log.event_kinds(), [&TransactionEvent::Timeout, &TransactionEvent::Terminated]);
}

#[test]
fn provisional_stops_retransmission() {
    let (mut c, t0) = client(false);
    let mut log = drive(&mut c, t0, ms(1000));
    assert_eq!(log.transmit_ms(), [0, 500]);
    c.handle_response(response(&invite(), 180, Some("b1")), t0 + ms(1200));
    assert_eq!(c.state(), InviteClientState::Proceeding);
    assert_eq!(status(c.poll_event()), Some(180));
    c.handle_response(response(&invite(), 183, Some("b1")), t0 + ms(1300));
    assert_eq!(status(c.poll_event()), Some(183), "every 1xx goes up");
    drain(&mut c, &mut log, ms(1300));
    assert_eq!(c.poll_timeout(), None, "A and B stop in Proceeding (§17.1.1.2)");
    drive_into(&mut c, t0, Duration::from_secs(60), &mut log);
    assert_eq!(log.transmit_ms(), [0, 500]);
}

#[test]
fn non_2xx_final_is_acked_per_17_1_1_3_and_passed_up_once() {
    let (mut c, t0) = client(false);
    let inv = c.poll_transmit().unwrap();
    c.handle_response(response(&inv, 180, Some("b1")), t0 + ms(300));
    let _ = c.poll_event();
    c.handle_response(response(&inv, 486, Some("b1")), t0 + ms(2000));
    assert_eq!(c.state(), InviteClientState::Completed);
    assert_eq!(status(c.poll_event()), Some(486));
    assert_eq!(c.poll_event(), None);

    let ack = c.poll_transmit().expect("ACK queued");
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, inv.uri);
    let values: Vec<(String, String)> = ack
        .headers
        .iter()
        .map(|h| {
            let s = h.to_string();
            let (n, v) = s.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Via", "Route", "Route", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Content-Length"]);
    let get = |n: &str| values.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(get("Via"), "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8");
    assert_eq!(get("To"), "Bob <sip:bob@biloxi.example.com>;tag=b1");
    assert_eq!(get("From"), "Alice <sip:alice@atlanta.example.com>;tag=1928301774");
    assert_eq!(get("Call-ID"), "a84b4c76e66710@pc33.atlanta.example.com");
    assert_eq!(get("CSeq"), "314159 ACK");
    assert_eq!(get("Max-Forwards"), "70");
    assert_eq!(get("Content-Length"), "0");
    assert!(ack.body.is_empty());
    assert_eq!(TransactionKey::from_request(&ack), TransactionKey::from_request(&inv));

    // A retransmitted 486: the ACK again, nothing for the TU.
    c.handle_response(response(&inv, 486, Some("b1")), t0 + ms(2500));
    assert_eq!(c.poll_transmit(), Some(ack.clone()));
    assert_eq!(c.poll_event(), None);
    // 1xx / 2xx in Completed are absorbed.
    c.handle_response(response(&inv, 200, Some("b1")), t0 + ms(2600));
    assert_eq!((c.poll_transmit(), c.poll_event()), (None, None));

    let log = drive(&mut c, t0, Duration::from_secs(60));
    assert!(log.transmits.is_empty());
    assert_eq!(log.events, [(ms(34_000), TransactionEvent::Terminated)], "Timer D = 32 s");
}

#[test]
fn reliable_non_2xx_terminates_at_once_with_the_ack_still_queued() {
    let (mut c, t0) = client(true);
    let _ = c.poll_transmit();
    c.handle_response(response(&invite(), 404, Some("x")), t0 + ms(50));
    assert!(c.is_terminated());
    assert_eq!(c.poll_transmit().map(|r| r.method), Some(Method::Ack));
    assert_eq!(status(c.poll_event()), Some(404));
    assert_eq!(c.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn every_2xx_goes_up_and_m_ends_accepted() {
    let (mut c, t0) = client(false);
    let _ = c.poll_transmit();
    c.handle_response(response(&invite(), 200, Some("b1")), t0 + ms(3000));
    assert_eq!(c.state(), InviteClientState::Accepted);
    c.handle_response(response(&invite(), 200, Some("b1")), t0 + ms(3500));
    c.handle_response(response(&invite(), 200, Some("fork2")), t0 + ms(3600));
    let tags: Vec<String> = std::iter::from_fn(|| c.poll_event())
        .map(|e| match e {
            TransactionEvent::Response(r) => r
                .headers
                .iter()
                .find_map(|h| match h {
                    Header::To(t) => Some(t.value().to_string()),
                    _ => None,
                })
                .unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(tags.len(), 3);
    assert!(tags[2].ends_with("tag=fork2"));
    // A non-2xx after a 2xx is absorbed.
    c.handle_response(response(&invite(), 486, Some("b1")), t0 + ms(3700));
    let log = drive(&mut c, t0, Duration::from_secs(60));
    assert!(log.transmits.is_empty(), "the TU core ACKs a 2xx, not the transaction");
    assert_eq!(log.events, [(ms(35_000), TransactionEvent::Terminated)], "Timer M = 64*T1");
}

#[test]
fn late_timeout_sends_one_retransmission_then_times_out() {
    let (mut c, t0) = client(false);
    let _ = c.poll_transmit();
    c.handle_timeout(t0 + ms(100));
    assert_eq!(c.poll_transmit(), None, "early: no-op");
    c.handle_timeout(t0 + ms(45_000));
    assert!(c.poll_transmit().is_some());
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_event(), Some(TransactionEvent::Timeout));
    assert_eq!(c.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(c.request().method, Method::Invite);
}
