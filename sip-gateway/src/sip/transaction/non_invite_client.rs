//! The non-INVITE client transaction: RFC 3261 §17.1.2 (Figure 6). Used for
//! the requests the gateway sends itself: BYE, REFER, NOTIFY, OPTIONS, INFO,
//! CANCEL.
//!
//! ```text
//! Trying     --Timer E--------> Trying      (re-sent, unreliable only; T1 doubling to T2)
//! Trying     --1xx------------> Proceeding  (to the TU)
//! Proceeding --Timer E--------> Proceeding  (re-sent; E reset to T2)
//! Proceeding --1xx------------> Proceeding  (to the TU)
//! Trying/Proceeding --Timer F-> Terminated  (Timeout to the TU)
//! Trying/Proceeding --200-699-> Completed   (to the TU; Timer K = T4 unreliable, at once reliable)
//! Completed  --200-699--------> Completed   (absorbed)
//! Completed  --Timer K--------> Terminated
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::{Request, Response};
use tracing::debug;

use super::message::class;
use super::{Timer, TimerConfig, TimerTable, TransactionEvent};

/// States of [`NonInviteClientTransaction`] (RFC 3261 Figure 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A client non-INVITE transaction. See the module doc.
#[derive(Debug)]
pub struct NonInviteClientTransaction {
    request: Request,
    reliable: bool,
    timers: TimerConfig,
    state: NonInviteClientState,
    table: TimerTable,
    e_interval: Duration,
    transmits: VecDeque<Request>,
    events: VecDeque<TransactionEvent>,
}

impl NonInviteClientTransaction {
    /// Starts the transaction: queues `request`, arms Timer E (unreliable
    /// only) and Timer F.
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, now: Instant) -> Self {
        let e_interval = timers.first_interval();
        let mut table = TimerTable::default();
        if !reliable {
            table.set_after(Timer::E, now, e_interval);
        }
        table.set_after(Timer::F, now, timers.t1_x64());
        Self {
            transmits: VecDeque::from([request.clone()]),
            request,
            reliable,
            timers,
            state: NonInviteClientState::Trying,
            table,
            e_interval,
            events: VecDeque::new(),
        }
    }

    /// A response matched to this transaction: every 1xx and the first
    /// final go to the TU; later finals are absorbed.
    pub fn handle_response(&mut self, response: Response, now: Instant) {
        use NonInviteClientState::{Completed, Proceeding, Trying};
        match (self.state, class(&response)) {
            (Trying | Proceeding, 1) => {
                self.state = Proceeding;
                self.events.push_back(TransactionEvent::Response(response));
            }
            (Trying | Proceeding, 2..=6) => {
                self.table.stop(Timer::E);
                self.table.stop(Timer::F);
                self.state = Completed;
                self.events.push_back(TransactionEvent::Response(response));
                if self.reliable {
                    self.terminate();
                } else {
                    self.table.set_after(Timer::K, now, self.timers.t4);
                }
            }
            (state, _) => {
                debug!(?state, status = %response.status_code, "response absorbed by non-INVITE client transaction");
            }
        }
    }

    /// Fires every timer due at `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        use NonInviteClientState::{Completed, Proceeding, Trying};
        for timer in self.table.expired(now) {
            if !self.table.is_expired(timer, now) {
                continue;
            }
            self.table.stop(timer);
            match (timer, self.state) {
                (Timer::E, Trying | Proceeding) => {
                    self.transmits.push_back(self.request.clone());
                    self.e_interval = if self.state == Trying {
                        self.timers.next_capped(self.e_interval)
                    } else {
                        self.timers.t2.max(Duration::from_millis(1))
                    };
                    self.table.set_after(Timer::E, now, self.e_interval);
                }
                (Timer::F, Trying | Proceeding) => {
                    self.events.push_back(TransactionEvent::Timeout);
                    self.terminate();
                }
                (Timer::K, Completed) => self.terminate(),
                _ => {}
            }
        }
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = NonInviteClientState::Terminated;
        self.events.push_back(TransactionEvent::Terminated);
    }

    /// The next request to send (the request and its retransmissions).
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
        self.state == NonInviteClientState::Terminated
    }

    /// The current state.
    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }
}
