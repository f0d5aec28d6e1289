//! 2xx retransmission by the UAS core: RFC 3261 §13.3.1.4.

use std::time::{Duration, Instant};

use super::{drain, drive, drive_into, invite, ms, response};
use crate::sip::transaction::{Ok2xxRetransmitter, TimerConfig, TransactionEvent};

fn ok(reliable: bool) -> (Ok2xxRetransmitter, Instant) {
    let t0 = Instant::now();
    let r = response(&invite(), 200, Some("b1"));
    (Ok2xxRetransmitter::new(r, reliable, TimerConfig::default(), t0), t0)
}

#[test]
fn resends_until_ack() {
    let (mut o, t0) = ok(false);
    let mut log = drive(&mut o, t0, ms(10_000));
    // Sent at once, then 0.5, 1, 2, 4, 4 s apart.
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500]);
    assert!(log.transmits.iter().all(|(_, r)| r.status_code.code() == 200));
    o.ack_received();
    assert!(o.is_done());
    drain(&mut o, &mut log, ms(10_000));
    drive_into(&mut o, t0, Duration::from_secs(60), &mut log);
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500]);
    assert_eq!(log.events, [(ms(10_000), TransactionEvent::Terminated)]);
    assert_eq!(o.poll_timeout(), None);
    o.ack_received();
    assert_eq!(o.poll_event(), None, "a second ACK changes nothing");
}

#[test]
fn times_out_at_32s_without_ack() {
    let (mut o, t0) = ok(false);
    let log = drive(&mut o, t0, Duration::from_secs(60));
    assert_eq!(log.transmit_ms(), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert_eq!(log.events, [(ms(32_000), TransactionEvent::Timeout), (ms(32_000), TransactionEvent::Terminated)]);
    assert!(o.is_done());
    assert_eq!(o.response().status_code.code(), 200);
}

#[test]
fn reliable_sends_once_but_still_waits_for_the_ack() {
    let (mut o, t0) = ok(true);
    let log = drive(&mut o, t0, Duration::from_secs(60));
    assert_eq!(log.transmit_ms(), [0]);
    assert_eq!(log.event_kinds(), [&TransactionEvent::Timeout, &TransactionEvent::Terminated]);
}

#[test]
fn late_and_early_timeouts() {
    let (mut o, t0) = ok(false);
    let _ = o.poll_transmit();
    o.handle_timeout(t0);
    assert_eq!(o.poll_transmit(), None);
    o.handle_timeout(t0 + Duration::from_secs(300));
    assert!(o.poll_transmit().is_some());
    assert_eq!(o.poll_transmit(), None);
    assert_eq!(o.poll_event(), Some(TransactionEvent::Timeout));
}
