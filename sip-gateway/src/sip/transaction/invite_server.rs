//! The INVITE server transaction: RFC 3261 §17.2.1 (Figure 7) as corrected
//! by RFC 6026 (a 2xx moves it to Accepted instead of Terminated, so INVITE
//! retransmissions keep matching it until Timer L).
//!
//! ```text
//! Proceeding --1xx from TU--> Proceeding   (sent, kept for INVITE retransmissions)
//! Proceeding --2xx from TU--> Accepted     (Timer L = 64*T1; the UAS core re-sends the 2xx)
//! Proceeding --3xx-6xx-----> Completed    (Timer G from T1 doubling to T2, unreliable only; Timer H = 64*T1)
//! Completed  --ACK---------> Confirmed    (Timer I = T4 unreliable, at once reliable)
//! Completed  --Timer H-----> Terminated   (Timeout to the TU)
//! Confirmed  --Timer I-----> Terminated
//! Accepted   --Timer L-----> Terminated
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response};
use tracing::debug;

use super::message::{build_trying, class};
use super::{Timer, TimerConfig, TimerTable, TransactionEvent};

/// States of [`InviteServerTransaction`] (RFC 3261 Figure 7 + RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}

/// A server INVITE transaction. See the module doc.
#[derive(Debug)]
pub struct InviteServerTransaction {
    /// Only the method of the INVITE is kept: the request itself (a 64 KB
    /// datagram at most) would be held for the whole transaction, Timer H
    /// and I included (issue #15 item 4: memory after floods).
    method: rsip::Method,
    reliable: bool,
    timers: TimerConfig,
    state: InviteServerState,
    table: TimerTable,
    /// The last provisional or final response, re-sent on INVITE
    /// retransmission (Proceeding, Completed) and by Timer G.
    last_response: Response,
    g_interval: Duration,
    transmits: VecDeque<Response>,
    events: VecDeque<TransactionEvent>,
}

impl InviteServerTransaction {
    /// Starts the transaction for `invite` and queues a 100 (Trying).
    pub fn new(invite: Request, reliable: bool, timers: TimerConfig, _now: Instant) -> Self {
        let trying = build_trying(&invite);
        let g_interval = timers.first_interval();
        Self {
            method: invite.method,
            reliable,
            timers,
            state: InviteServerState::Proceeding,
            table: TimerTable::default(),
            last_response: trying.clone(),
            g_interval,
            transmits: VecDeque::from([trying]),
            events: VecDeque::new(),
        }
    }

    /// The TU's response. A 1xx is sent and remembered; a 2xx is sent and
    /// moves to Accepted (further 2xx retransmissions from the TU are sent
    /// too); a 3xx–6xx is sent and moves to Completed. Anything else — a
    /// response after the final one, a junk status — is dropped.
    pub fn send_response(&mut self, response: Response, now: Instant) {
        let class = class(&response);
        match (self.state, class) {
            (InviteServerState::Proceeding, 1) => {
                self.last_response = response.clone();
                self.transmits.push_back(response);
            }
            (InviteServerState::Proceeding, 2) => {
                self.transmits.push_back(response);
                self.state = InviteServerState::Accepted;
                self.table.set_after(Timer::L, now, self.timers.t1_x64());
            }
            (InviteServerState::Proceeding, 3..=6) => {
                self.last_response = response.clone();
                self.transmits.push_back(response);
                self.state = InviteServerState::Completed;
                if !self.reliable {
                    self.table.set_after(Timer::G, now, self.g_interval);
                }
                self.table.set_after(Timer::H, now, self.timers.t1_x64());
            }
            (InviteServerState::Accepted, 2) => self.transmits.push_back(response),
            (state, _) => {
                debug!(?state, status = %response.status_code, "response dropped by INVITE server transaction");
            }
        }
    }

    /// A request that matched this transaction: an INVITE retransmission
    /// re-sends the last response in Proceeding and Completed and is absorbed
    /// otherwise; the ACK for our non-2xx final moves Completed to
    /// Confirmed. Other requests are ignored (an ACK reaching an Accepted
    /// transaction is for the 2xx: the owner passes it to the dialog).
    pub fn handle_request(&mut self, request: &Request, now: Instant) {
        match (request.method, self.state) {
            (Method::Invite, InviteServerState::Proceeding | InviteServerState::Completed) => {
                self.transmits.push_back(self.last_response.clone());
            }
            (Method::Ack, InviteServerState::Completed) => {
                self.table.stop(Timer::G);
                self.table.stop(Timer::H);
                self.state = InviteServerState::Confirmed;
                if self.reliable {
                    self.terminate();
                } else {
                    self.table.set_after(Timer::I, now, self.timers.t4);
                }
            }
            (method, state) => debug!(%method, ?state, "request absorbed by INVITE server transaction"),
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
                (Timer::G, InviteServerState::Completed) => {
                    self.transmits.push_back(self.last_response.clone());
                    self.g_interval = self.timers.next_capped(self.g_interval);
                    self.table.set_after(Timer::G, now, self.g_interval);
                }
                (Timer::H, InviteServerState::Completed) => {
                    self.events.push_back(TransactionEvent::Timeout);
                    self.terminate();
                }
                (Timer::I, InviteServerState::Confirmed) | (Timer::L, InviteServerState::Accepted) => self.terminate(),
                _ => {}
            }
        }
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = InviteServerState::Terminated;
        self.events.push_back(TransactionEvent::Terminated);
    }

    /// The next response to send, in order.
    pub fn poll_transmit(&mut self) -> Option<Response> {
        self.transmits.pop_front()
    }

    /// The next event for the TU: `Timeout` (Timer H, no ACK), `Terminated`.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_timeout()
    }

    /// Whether the transaction reached Terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }

    /// The current state.
    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// The method of the request that created the transaction (INVITE).
    pub fn method(&self) -> rsip::Method {
        self.method
    }
}
