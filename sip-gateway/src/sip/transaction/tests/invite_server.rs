//! INVITE server transaction: RFC 3261 §17.2.1 + RFC 6026.

use std::time::{Duration, Instant};

use rsip::{Header, Method};

use super::{drain, drive, drive_into, invite, ms, parse, response, Log, INVITE};
use crate::sip::transaction::{InviteServerState, InviteServerTransaction, TimerConfig, TransactionEvent};

fn server(reliable: bool) -> (InviteServerTransaction, Instant) {
    let t0 = Instant::now();
    (InviteServerTransaction::new(invite(), reliable, TimerConfig::default(), t0), t0)
}

fn ack() -> rsip::Request {
    parse(&INVITE.replacen("INVITE sip:", "ACK sip:", 1).replace("314159 INVITE", "314159 ACK"))
}

fn codes(log: &Log<rsip::Response>) -> Vec<u16> {
    log.transmits.iter().map(|(_, r)| r.status_code.code()).collect()
}

#[test]
fn queues_100_trying_built_from_the_request() {
    let (mut s, _) = server(false);
    let trying = s.poll_transmit().expect("100 Trying queued");
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(trying.status_code.code(), 100);
    let names: Vec<&str> = trying
        .headers
        .iter()
        .map(|h| match h {
            Header::Via(_) => "Via",
            Header::From(_) => "From",
            Header::To(_) => "To",
            Header::CallId(_) => "Call-ID",
            Header::CSeq(_) => "CSeq",
            Header::ContentLength(_) => "Content-Length",
            _ => "other",
        })
        .collect();
    assert_eq!(names, ["Via", "Via", "To", "From", "Call-ID", "CSeq", "Content-Length"]);
    let text = trying.to_string();
    assert!(text.contains("Content-Length: 0"), "{text}");
    assert!(text.contains("To: Bob <sip:bob@biloxi.example.com>\r\n"), "no To tag: {text}");
    assert_eq!(s.state(), InviteServerState::Proceeding);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.method(), Method::Invite);
}

#[test]
fn invite_retransmission_resends_the_last_provisional() {
    let (mut s, t0) = server(false);
    let _ = s.poll_transmit();
    s.handle_request(&invite(), t0 + ms(100));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(100));
    s.send_response(response(&invite(), 180, Some("b1")), t0 + ms(200));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(180));
    s.handle_request(&invite(), t0 + ms(300));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(180));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn non_2xx_final_over_udp_is_retransmitted_with_g_capped_at_t2_until_h() {
    let (mut s, t0) = server(false);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    assert_eq!(s.state(), InviteServerState::Completed);
    let log = drive(&mut s, t0, Duration::from_secs(60));
    // Initial send, then G: 0.5, 1, 2, 4, 4, 4 … s apart until H at 32 s.
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert!(codes(&log).iter().all(|&c| c == 486));
    assert_eq!(log.events, [(ms(32_000), TransactionEvent::Timeout), (ms(32_000), TransactionEvent::Terminated)]);
    assert!(s.is_terminated());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn ack_confirms_and_terminates_after_t4() {
    let (mut s, t0) = server(false);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    let mut log = drive(&mut s, t0, ms(5000));
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500]);
    s.handle_request(&ack(), t0 + ms(5000));
    assert_eq!(s.state(), InviteServerState::Confirmed);
    // ACK retransmissions and INVITE retransmissions are absorbed.
    s.handle_request(&ack(), t0 + ms(5100));
    s.handle_request(&invite(), t0 + ms(5200));
    drain(&mut s, &mut log, ms(5200));
    drive_into(&mut s, t0, Duration::from_secs(60), &mut log);
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500], "no G after ACK");
    assert_eq!(log.events, [(ms(10_000), TransactionEvent::Terminated)], "Timer I = T4");
}

#[test]
fn reliable_transport_has_no_g_and_ack_terminates_at_once() {
    let (mut s, t0) = server(true);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 603, Some("b1")), t0);
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(603));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(32_000)), "only Timer H");
    s.handle_request(&ack(), t0 + ms(40));
    assert!(s.is_terminated());
    assert_eq!(s.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn reliable_transport_still_times_out_on_h() {
    let (mut s, t0) = server(true);
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    let log = drive(&mut s, t0, Duration::from_secs(60));
    assert_eq!(codes(&log), [100, 486]);
    assert_eq!(log.event_kinds(), [&TransactionEvent::Timeout, &TransactionEvent::Terminated]);
}

#[test]
fn invite_retransmission_in_completed_resends_the_final() {
    let (mut s, t0) = server(true);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    let _ = s.poll_transmit();
    s.handle_request(&invite(), t0 + ms(10));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(486));
}

#[test]
fn two_xx_moves_to_accepted_absorbs_invites_and_ends_on_l() {
    let (mut s, t0) = server(false);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 200, Some("b1")), t0 + ms(1000));
    assert_eq!(s.state(), InviteServerState::Accepted);
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(200));
    s.handle_request(&invite(), t0 + ms(1500));
    assert_eq!(s.poll_transmit(), None, "INVITE retransmission absorbed");
    // A 2xx retransmission from the TU core is passed to the transport.
    s.send_response(response(&invite(), 200, Some("b1")), t0 + ms(1600));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(200));
    // Non-2xx after a 2xx is dropped.
    s.send_response(response(&invite(), 500, Some("b1")), t0 + ms(1700));
    assert_eq!(s.poll_transmit(), None);
    let log = drive(&mut s, t0, Duration::from_secs(60));
    assert!(log.transmits.is_empty(), "the transaction never re-sends a 2xx");
    assert_eq!(log.events, [(ms(33_000), TransactionEvent::Terminated)], "Timer L = 64*T1");
}

#[test]
fn nothing_after_the_final_response() {
    let (mut s, t0) = server(true);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 180, Some("b1")), t0);
    s.send_response(response(&invite(), 200, Some("b1")), t0);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.state(), InviteServerState::Completed);
}

#[test]
fn late_timeout_fires_due_timers_once_in_order_and_early_is_a_no_op() {
    let (mut s, t0) = server(false);
    let _ = s.poll_transmit();
    s.send_response(response(&invite(), 486, Some("b1")), t0);
    let _ = s.poll_transmit();
    s.handle_timeout(t0 + ms(499));
    assert_eq!(s.poll_transmit(), None, "early: no-op");
    // Far past both G (0.5 s) and H (32 s): one retransmission, then H.
    s.handle_timeout(t0 + ms(40_000));
    assert_eq!(s.poll_transmit().map(|r| r.status_code.code()), Some(486));
    assert_eq!(s.poll_transmit(), None, "no burst");
    assert_eq!(s.poll_event(), Some(TransactionEvent::Timeout));
    assert_eq!(s.poll_event(), Some(TransactionEvent::Terminated));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_timeout(), None);
}
