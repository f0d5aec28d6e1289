//! Non-INVITE server transaction: RFC 3261 §17.2.2.

use std::time::{Duration, Instant};

use super::{bye, drive, ms, response};
use crate::sip::transaction::{NonInviteServerState, NonInviteServerTransaction, TimerConfig, TransactionEvent};

fn server(reliable: bool) -> (NonInviteServerTransaction, Instant) {
    let t0 = Instant::now();
    (NonInviteServerTransaction::new(bye(), reliable, TimerConfig::default(), t0), t0)
}

fn code(r: Option<rsip::Response>) -> Option<u16> {
    r.map(|r| r.status_code.code())
}

#[test]
fn trying_absorbs_retransmissions_and_sends_nothing() {
    let (mut s, t0) = server(false);
    assert_eq!(s.poll_transmit(), None);
    s.handle_request(&bye(), t0 + ms(500));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.state(), NonInviteServerState::Trying);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn provisional_is_resent_in_proceeding() {
    let (mut s, t0) = server(false);
    s.send_response(response(&bye(), 100, None), t0);
    assert_eq!(code(s.poll_transmit()), Some(100));
    assert_eq!(s.state(), NonInviteServerState::Proceeding);
    s.handle_request(&bye(), t0 + ms(500));
    assert_eq!(code(s.poll_transmit()), Some(100));
}

#[test]
fn final_is_resent_on_retransmission_and_j_ends_it_after_32s() {
    let (mut s, t0) = server(false);
    s.send_response(response(&bye(), 200, None), t0 + ms(10));
    assert_eq!(code(s.poll_transmit()), Some(200));
    assert_eq!(s.state(), NonInviteServerState::Completed);
    s.handle_request(&bye(), t0 + ms(600));
    s.handle_request(&bye(), t0 + ms(1600));
    assert_eq!(code(s.poll_transmit()), Some(200));
    assert_eq!(code(s.poll_transmit()), Some(200));
    // Later responses from the TU are dropped.
    s.send_response(response(&bye(), 500, None), t0 + ms(1700));
    assert_eq!(s.poll_transmit(), None);
    let log = drive(&mut s, t0, Duration::from_secs(60));
    assert!(log.transmits.is_empty(), "no retransmission without a request");
    assert_eq!(log.events, [(ms(32_010), TransactionEvent::Terminated)]);
    assert!(s.is_terminated());
    // Terminated absorbs everything.
    s.handle_request(&bye(), t0 + ms(40_000));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn reliable_final_terminates_at_once() {
    let (mut s, t0) = server(true);
    s.send_response(response(&bye(), 481, None), t0);
    assert_eq!(code(s.poll_transmit()), Some(481), "the final still goes out");
    assert!(s.is_terminated());
    assert_eq!(s.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.method(), rsip::Method::Bye);
}

#[test]
fn early_and_late_timeouts() {
    let (mut s, t0) = server(false);
    s.send_response(response(&bye(), 200, None), t0);
    let _ = s.poll_transmit();
    s.handle_timeout(t0 + ms(31_999));
    assert!(!s.is_terminated());
    s.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(s.is_terminated());
    assert_eq!(s.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(s.poll_event(), None);
}
