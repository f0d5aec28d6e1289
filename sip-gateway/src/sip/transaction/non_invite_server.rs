//! The non-INVITE server transaction: RFC 3261 §17.2.2 (Figure 8).
//!
//! ```text
//! Trying     --1xx from TU--------> Proceeding  (sent)
//! Trying     --request retrans.---> Trying      (absorbed)
//! Proceeding --request retrans.---> Proceeding  (last 1xx re-sent)
//! Trying/Proceeding --200-699-----> Completed   (sent; Timer J = 64*T1 unreliable, at once reliable)
//! Completed  --request retrans.---> Completed   (final re-sent)
//! Completed  --Timer J------------> Terminated
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use rsip::{Request, Response};
use tracing::debug;

use super::message::class;
use super::{Timer, TimerConfig, TimerTable, TransactionEvent};

/// States of [`NonInviteServerTransaction`] (RFC 3261 Figure 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A server non-INVITE transaction (BYE, CANCEL, OPTIONS, INFO, NOTIFY,
/// REFER…). See the module doc.
#[derive(Debug)]
pub struct NonInviteServerTransaction {
    /// Only the request's method is kept, not the request: a completed
    /// transaction lives on for Timer J (32 s over UDP), and 20,000 OPTIONS
    /// with a 30 KB header kept 600 MB that way (issue #15 item 4).
    method: rsip::Method,
    reliable: bool,
    timers: TimerConfig,
    state: NonInviteServerState,
    table: TimerTable,
    /// The last response sent, re-sent on request retransmission.
    last_response: Option<Response>,
    transmits: VecDeque<Response>,
    events: VecDeque<TransactionEvent>,
}

impl NonInviteServerTransaction {
    /// Starts the transaction for `request` (nothing is sent until the TU
    /// answers).
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, _now: Instant) -> Self {
        Self {
            method: request.method,
            reliable,
            timers,
            state: NonInviteServerState::Trying,
            table: TimerTable::default(),
            last_response: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The TU's response: a 1xx moves to Proceeding, a 2xx–6xx to
    /// Completed. Responses after the final one (or junk statuses) are
    /// dropped.
    pub fn send_response(&mut self, response: Response, now: Instant) {
        let class = class(&response);
        match (self.state, class) {
            (NonInviteServerState::Trying | NonInviteServerState::Proceeding, 1) => {
                self.state = NonInviteServerState::Proceeding;
                self.last_response = Some(response.clone());
                self.transmits.push_back(response);
            }
            (NonInviteServerState::Trying | NonInviteServerState::Proceeding, 2..=6) => {
                self.state = NonInviteServerState::Completed;
                self.last_response = Some(response.clone());
                self.transmits.push_back(response);
                if self.reliable {
                    self.terminate();
                } else {
                    self.table.set_after(Timer::J, now, self.timers.t1_x64());
                }
            }
            (state, _) => {
                debug!(?state, status = %response.status_code, "response dropped by non-INVITE server transaction");
            }
        }
    }

    /// A retransmission of the request: re-sends the last response
    /// (Proceeding, Completed); absorbed in Trying and Terminated.
    pub fn handle_request(&mut self, request: &Request, _now: Instant) {
        match (self.state, &self.last_response) {
            (NonInviteServerState::Proceeding | NonInviteServerState::Completed, Some(r)) => {
                self.transmits.push_back(r.clone());
            }
            (state, _) => {
                debug!(method = %request.method, ?state, "request absorbed by non-INVITE server transaction");
            }
        }
    }

    /// Fires Timer J if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.table.is_expired(Timer::J, now) && self.state == NonInviteServerState::Completed {
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = NonInviteServerState::Terminated;
        self.events.push_back(TransactionEvent::Terminated);
    }

    /// The next response to send, in order.
    pub fn poll_transmit(&mut self) -> Option<Response> {
        self.transmits.pop_front()
    }

    /// The next event for the TU (only `Terminated`).
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_timeout()
    }

    /// Whether the transaction reached Terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }

    /// The current state.
    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> rsip::Method {
        self.method
    }
}
