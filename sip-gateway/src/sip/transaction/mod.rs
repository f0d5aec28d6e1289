//! SIP transactions (RFC 3261 §17), sans-IO.
//!
//! Four state machines, one per RFC 3261 transaction kind, plus the UAS
//! core's 2xx retransmitter:
//!
//! | type | RFC |
//! |---|---|
//! | [`InviteClientTransaction`] | RFC 3261 §17.1.1, RFC 6026 (Accepted state, Timer M) |
//! | [`NonInviteClientTransaction`] | RFC 3261 §17.1.2 |
//! | [`InviteServerTransaction`] | RFC 3261 §17.2.1, RFC 6026 (Accepted state, Timer L) |
//! | [`NonInviteServerTransaction`] | RFC 3261 §17.2.2 |
//! | [`Ok2xxRetransmitter`] | RFC 3261 §13.3.1.4 (2xx re-sent by the UAS core until ACK) |
//!
//! [`TransactionKey`] matches messages to transactions (§17.1.3, §17.2.3).
//! Timers A–M live in a [`TimerTable`] shaped like quinn-proto's.
//!
//! # Driving a machine (the str0m / quinn-proto rule)
//!
//! Nothing here reads the clock or touches a socket: every input carries
//! `now: Instant`. After each input (`new`, `handle_request`,
//! `handle_response`, `send_response`, `handle_timeout`) the owner drains
//! `poll_transmit()` (messages to send, in order) and `poll_event()` (what
//! the TU must know), then re-arms its timer at `poll_timeout()`.
//! `handle_timeout` may be called early (no-op) or late (every due timer
//! fires once, earliest first; a late retransmission timer sends one copy,
//! not a burst). Transmits queued just before termination (the ACK of a
//! reliable INVITE client, say) are still returned by `poll_transmit` after
//! `is_terminated()` turns true: drain before dropping.

mod invite_client;
mod invite_server;
mod key;
mod message;
mod non_invite_client;
mod non_invite_server;
mod ok_retransmit;
mod timer;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use invite_client::{InviteClientState, InviteClientTransaction};
pub use invite_server::{InviteServerState, InviteServerTransaction};
pub use key::TransactionKey;
pub use non_invite_client::{NonInviteClientState, NonInviteClientTransaction};
pub use non_invite_server::{NonInviteServerState, NonInviteServerTransaction};
pub use ok_retransmit::Ok2xxRetransmitter;
pub use timer::{Timer, TimerTable};

/// The RFC 3261 §17.1.1.1 timer base values (Table 4).
///
/// `t1` is the RTT estimate (retransmission base, and 64*T1 is every
/// transaction timeout), `t2` caps non-INVITE and response retransmission
/// intervals, `t4` is how long a message may linger in the network. A zero
/// `t1` is treated as 1 ms for retransmission intervals so a misconfiguration
/// cannot make a machine spin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J, L, M (and the §13.3.1.4 ACK wait).
    pub(crate) fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// First retransmission interval (Timers A, E, G): T1, at least 1 ms.
    pub(crate) fn first_interval(&self) -> Duration {
        self.t1.max(Duration::from_millis(1))
    }

    /// Next interval after `current`: doubled, capped at T2 (Timers E, G and
    /// the 2xx retransmitter; Timer A is uncapped and doubles on its own).
    pub(crate) fn next_capped(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2.max(Duration::from_millis(1)))
    }
}

/// What a transaction tells its transaction user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionEvent {
    /// Client transactions: a response for the TU (every 1xx, every 2xx, and
    /// the first of each non-2xx final; retransmitted finals are absorbed).
    Response(rsip::Response),
    /// Timer B or F (no final response), Timer H (no ACK for our non-2xx
    /// final), or the §13.3.1.4 64*T1 wait for the ACK of a 2xx.
    Timeout,
    /// The transaction reached Terminated; the owner may drop it once its
    /// transmits are drained.
    Terminated,
}

/// Why a message cannot be keyed to a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("message has no Via header")]
    MissingVia,
    #[error("malformed top Via header: {0:?}")]
    MalformedVia(String),
    #[error("response's top Via has no RFC 3261 branch (z9hG4bK…)")]
    MissingBranch,
    #[error("message has no CSeq header")]
    MissingCSeq,
    #[error("malformed CSeq header: {0:?}")]
    MalformedCSeq(String),
    #[error("message has no Call-ID header")]
    MissingCallId,
    #[error("expected a CANCEL request, got {0}")]
    NotCancel(rsip::Method),
}

/// What every transaction (and the 2xx retransmitter) offers its driver:
/// the sans-IO output side, so the endpoint drains them all alike.
pub trait Transaction {
    /// What it transmits: requests (client side) or responses (server side).
    type Message;
    fn handle_timeout(&mut self, now: std::time::Instant);
    fn poll_transmit(&mut self) -> Option<Self::Message>;
    fn poll_event(&mut self) -> Option<TransactionEvent>;
    fn poll_timeout(&self) -> Option<std::time::Instant>;
    /// Terminated: the driver may forget it.
    fn is_finished(&self) -> bool;
}

macro_rules! impl_transaction {
    ($ty:ty, $msg:ty, $finished:ident) => {
        impl Transaction for $ty {
            type Message = $msg;
            fn handle_timeout(&mut self, now: std::time::Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<$msg> {
                <$ty>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<TransactionEvent> {
                <$ty>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<std::time::Instant> {
                <$ty>::poll_timeout(self)
            }
            fn is_finished(&self) -> bool {
                <$ty>::$finished(self)
            }
        }
    };
}

impl_transaction!(InviteServerTransaction, rsip::Response, is_terminated);
impl_transaction!(NonInviteServerTransaction, rsip::Response, is_terminated);
impl_transaction!(InviteClientTransaction, rsip::Request, is_terminated);
impl_transaction!(NonInviteClientTransaction, rsip::Request, is_terminated);
impl_transaction!(Ok2xxRetransmitter, rsip::Response, is_done);
