//! Non-INVITE client transaction: RFC 3261 §17.1.2.

use std::time::{Duration, Instant};

use super::{bye, drain, drive, drive_into, ms, response};
use crate::sip::transaction::{NonInviteClientState, NonInviteClientTransaction, TimerConfig, TransactionEvent};

fn client(reliable: bool) -> (NonInviteClientTransaction, Instant) {
    let t0 = Instant::now();
    (NonInviteClientTransaction::new(bye(), reliable, TimerConfig::default(), t0), t0)
}

fn status(ev: Option<TransactionEvent>) -> Option<u16> {
    match ev {
        Some(TransactionEvent::Response(r)) => Some(r.status_code.code()),
        _ => None,
    }
}

#[test]
fn timer_e_doubles_to_t2_and_f_times_out_at_32s() {
    let (mut c, t0) = client(false);
    let log = drive(&mut c, t0, Duration::from_secs(60));
    // Sent at 0, then E after 0.5, 1, 2, 4, 4, 4 … s.
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert!(log.transmits.iter().all(|(_, r)| *r == bye()));
    assert_eq!(log.events, [(ms(32_000), TransactionEvent::Timeout), (ms(32_000), TransactionEvent::Terminated)]);
}

#[test]
fn reliable_has_no_e_but_still_f() {
    let (mut c, t0) = client(true);
    let log = drive(&mut c, t0, Duration::from_secs(60));
    assert_eq!(log.transmit_ms(), [0]);
    assert_eq!(log.events.last(), Some(&(ms(32_000), TransactionEvent::Terminated)));
}

#[test]
fn provisional_moves_e_to_t2_spacing() {
    let (mut c, t0) = client(false);
    let mut log = drive(&mut c, t0, ms(600));
    assert_eq!(log.transmit_ms(), [0, 500]);
    c.handle_response(response(&bye(), 100, None), t0 + ms(700));
    assert_eq!(c.state(), NonInviteClientState::Proceeding);
    assert_eq!(status(c.poll_event()), Some(100));
    drain(&mut c, &mut log, ms(700));
    drive_into(&mut c, t0, Duration::from_secs(60), &mut log);
    // The pending E (1.5 s) fires, then every T2 = 4 s; F still at 32 s.
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
    assert_eq!(log.event_kinds(), [&TransactionEvent::Timeout, &TransactionEvent::Terminated]);
}

#[test]
fn final_completes_and_k_terminates_after_t4() {
    let (mut c, t0) = client(false);
    let mut log = drive(&mut c, t0, ms(1000));
    c.handle_response(response(&bye(), 200, None), t0 + ms(1000));
    assert_eq!(c.state(), NonInviteClientState::Completed);
    assert_eq!(status(c.poll_event()), Some(200));
    // Retransmitted finals are absorbed.
    c.handle_response(response(&bye(), 200, None), t0 + ms(1100));
    c.handle_response(response(&bye(), 100, None), t0 + ms(1200));
    assert_eq!(c.poll_event(), None);
    drive_into(&mut c, t0, Duration::from_secs(60), &mut log);
    assert_eq!(log.transmit_ms(), [0, 500], "E stops on the final");
    assert_eq!(log.events, [(ms(6000), TransactionEvent::Terminated)], "Timer K = T4");
}

#[test]
fn reliable_final_terminates_at_once() {
    let (mut c, t0) = client(true);
    let _ = c.poll_transmit();
    c.handle_response(response(&bye(), 481, None), t0 + ms(20));
    assert_eq!(status(c.poll_event()), Some(481));
    assert_eq!(c.poll_event(), Some(TransactionEvent::Terminated));
    assert!(c.is_terminated());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.request().method, rsip::Method::Bye);
}

#[test]
fn late_timeout_fires_e_once_then_f() {
    let (mut c, t0) = client(false);
    let _ = c.poll_transmit();
    c.handle_timeout(t0 + ms(499));
    assert_eq!(c.poll_transmit(), None, "early: no-op");
    c.handle_timeout(t0 + ms(100_000));
    assert!(c.poll_transmit().is_some());
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_event(), Some(TransactionEvent::Timeout));
    assert_eq!(c.poll_event(), Some(TransactionEvent::Terminated));
}
