//! 2xx retransmission by the UAS core: RFC 3261 §13.3.1.4 (with RFC 6026,
//! the INVITE server transaction no longer does it).
//!
//! The 2xx to an INVITE is sent at once, then re-sent at T1, 2*T1, … capped
//! at T2 (unreliable transports only) until the ACK arrives. If no ACK
//! arrives within 64*T1 the dialog is confirmed and then terminated: the TU
//! gets [`TransactionEvent::Timeout`] and sends BYE. Timer G names the
//! retransmission interval and Timer H the ACK wait, as they are the same
//! values the INVITE server transaction uses for non-2xx finals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::Response;

use super::{Timer, TimerConfig, TimerTable, TransactionEvent};

/// Re-sends a 2xx to an INVITE until its ACK. See the module doc.
#[derive(Debug)]
pub struct Ok2xxRetransmitter {
    response: Response,
    timers: TimerConfig,
    table: TimerTable,
    interval: Duration,
    done: bool,
    transmits: VecDeque<Response>,
    events: VecDeque<TransactionEvent>,
}

impl Ok2xxRetransmitter {
    /// Queues the first transmission of `response` and arms the
    /// retransmission timer (unreliable only) and the 64*T1 ACK wait (both).
    pub fn new(response: Response, reliable: bool, timers: TimerConfig, now: Instant) -> Self {
        let interval = timers.first_interval();
        let mut table = TimerTable::default();
        if !reliable {
            table.set_after(Timer::G, now, interval);
        }
        table.set_after(Timer::H, now, timers.t1_x64());
        Self { transmits: VecDeque::from([response.clone()]), response, timers, table, interval, done: false, events: VecDeque::new() }
    }

    /// The ACK for the 2xx arrived: stop (emits `Terminated`).
    pub fn ack_received(&mut self) {
        if !self.done {
            self.finish();
        }
    }

    /// Re-sends the 2xx when Timer G is due; gives up when Timer H is.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.table.expired(now) {
            if !self.table.is_expired(timer, now) {
                continue;
            }
            self.table.stop(timer);
            match timer {
                Timer::G => {
                    self.transmits.push_back(self.response.clone());
                    self.interval = self.timers.next_capped(self.interval);
                    self.table.set_after(Timer::G, now, self.interval);
                }
                Timer::H => {
                    self.events.push_back(TransactionEvent::Timeout);
                    self.finish();
                }
                _ => {}
            }
        }
    }

    fn finish(&mut self) {
        self.table.stop_all();
        self.done = true;
        self.events.push_back(TransactionEvent::Terminated);
    }

    /// The next copy of the 2xx to send.
    pub fn poll_transmit(&mut self) -> Option<Response> {
        self.transmits.pop_front()
    }

    /// `Timeout` (no ACK within 64*T1: send BYE), then `Terminated`; or only
    /// `Terminated` after [`ack_received`](Self::ack_received).
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_timeout()
    }

    /// Whether the ACK arrived or the wait for it ran out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The 2xx being retransmitted.
    pub fn response(&self) -> &Response {
        &self.response
    }
}
