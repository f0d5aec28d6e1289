//! The INVITE client transaction: RFC 3261 §17.1.1 (Figure 5) as corrected
//! by RFC 6026 (a 2xx moves it to Accepted so that 2xx retransmissions and
//! other forks' 2xx still reach the TU until Timer M).
//!
//! ```text
//! Calling    --Timer A--------> Calling     (INVITE re-sent, unreliable only; T1 doubling, no cap)
//! Calling    --Timer B--------> Terminated  (Timeout to the TU)
//! Calling/Proceeding --1xx----> Proceeding  (to the TU; A and B stopped)
//! Calling/Proceeding --2xx----> Accepted    (to the TU; Timer M = 64*T1)
//! Accepted   --2xx------------> Accepted    (to the TU: the TU ACKs each)
//! Calling/Proceeding --300-699> Completed   (ACK sent, to the TU; Timer D = 32 s unreliable, at once reliable)
//! Completed  --300-699--------> Completed   (ACK re-sent, not to the TU)
//! Completed  --Timer D--------> Terminated
//! Accepted   --Timer M--------> Terminated
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::{Request, Response};
use tracing::debug;

use super::message::{build_ack, class};
use super::{Timer, TimerConfig, TimerTable, TransactionEvent};

/// Timer D on unreliable transports: "at least 32 seconds" (§17.1.1.2).
const TIMER_D: Duration = Duration::from_secs(32);

/// States of [`InviteClientTransaction`] (RFC 3261 Figure 5 + RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    Accepted,
    Completed,
    Terminated,
}

/// A client INVITE transaction. See the module doc.
#[derive(Debug)]
pub struct InviteClientTransaction {
    request: Request,
    reliable: bool,
    timers: TimerConfig,
    state: InviteClientState,
    table: TimerTable,
    a_interval: Duration,
    /// The ACK for the non-2xx final, re-sent for each retransmission of it.
    ack: Option<Request>,
    transmits: VecDeque<Request>,
    events: VecDeque<TransactionEvent>,
}

impl InviteClientTransaction {
    /// Starts the transaction: queues `invite`, arms Timer A (unreliable
    /// only) and Timer B.
    pub fn new(invite: Request, reliable: bool, timers: TimerConfig, now: Instant) -> Self {
        let a_interval = timers.first_interval();
        let mut table = TimerTable::default();
        if !reliable {
            table.set_after(Timer::A, now, a_interval);
        }
        table.set_after(Timer::B, now, timers.t1_x64());
        Self {
            transmits: VecDeque::from([invite.clone()]),
            request: invite,
            reliable,
            timers,
            state: InviteClientState::Calling,
            table,
            a_interval,
            ack: None,
            events: VecDeque::new(),
        }
    }

    /// A response matched to this transaction (see the module doc for what
    /// each class does in each state; anything else is absorbed).
    pub fn handle_response(&mut self, response: Response, now: Instant) {
        use InviteClientState::{Accepted, Calling, Completed, Proceeding};
        match (self.state, class(&response)) {
            (Calling | Proceeding, 1) => {
                self.table.stop(Timer::A);
                self.table.stop(Timer::B);
                self.state = Proceeding;
                self.events.push_back(TransactionEvent::Response(response));
            }
            (Calling | Proceeding, 2) => {
                self.table.stop(Timer::A);
                self.table.stop(Timer::B);
                self.state = Accepted;
                self.table.set_after(Timer::M, now, self.timers.t1_x64());
                self.events.push_back(TransactionEvent::Response(response));
            }
            (Accepted, 2) => self.events.push_back(TransactionEvent::Response(response)),
            (Calling | Proceeding, 3..=6) => {
                self.table.stop(Timer::A);
                self.table.stop(Timer::B);
                self.state = Completed;
                let ack = build_ack(&self.request, &response);
                self.transmits.push_back(ack.clone());
                self.ack = Some(ack);
                self.events.push_back(TransactionEvent::Response(response));
                if self.reliable {
                    self.terminate();
                } else {
                    self.table.set_after(Timer::D, now, TIMER_D);
                }
            }
            (Completed, 3..=6) => {
                if let Some(ack) = &self.ack {
                    self.transmits.push_back(ack.clone());
                }
            }
            (state, _) => {
                debug!(?state, status = %response.status_code, "response absorbed by INVITE client transaction");
            }
        }
    }

    /// Fires every timer due at `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.table.expired(now) {
            if !self.table.is_expired(timer, now) {
                continue;
            }
            self.table.stop(timer);
            match (timer, self.state) {
                (Timer::A, InviteClientState::Calling) => {
                    self.transmits.push_back(self.request.clone());
                    self.a_interval = self.a_interval.saturating_mul(2);
                    self.table.set_after(Timer::A, now, self.a_interval);
                }
                (Timer::B, InviteClientState::Calling) => {
                    self.events.push_back(TransactionEvent::Timeout);
                    self.terminate();
                }
                (Timer::D, InviteClientState::Completed) | (Timer::M, InviteClientState::Accepted) => self.terminate(),
                _ => {}
            }
        }
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = InviteClientState::Terminated;
        self.events.push_back(TransactionEvent::Terminated);
    }

    /// The next request to send (the INVITE, its retransmissions, the ACK).
    pub fn poll_transmit(&mut self) -> Option<Request> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_timeout()
    }

    /// Whether the transaction reached Terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }

    /// The current state.
    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// The INVITE this transaction sends (e.g. to build a CANCEL, §9.1).
    pub fn request(&self) -> &Request {
        &self.request
    }
}
