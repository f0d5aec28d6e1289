//! SIP transaction timers (RFC 3261 §17 and Table 4 of Appendix A; Timers L
//! and M from RFC 6026), in the shape of quinn-proto's
//! `connection/timer.rs`: one enum, one fixed array of deadlines.
//!
//! The table only stores deadlines; each state machine decides what a firing
//! means. [`TimerTable::expired`] gives the due timers earliest first so a
//! late `handle_timeout` fires them in the order the RFC would have.

use std::time::{Duration, Instant};

/// The RFC 3261 / RFC 6026 transaction timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission, T1 doubling (§17.1.1.2).
    A,
    /// INVITE client: transaction timeout, 64*T1 (§17.1.1.2).
    B,
    /// INVITE client: wait for response retransmissions, ≥ 32 s (§17.1.1.2).
    D,
    /// Non-INVITE client: request retransmission, T1 doubling to T2 (§17.1.2.2).
    E,
    /// Non-INVITE client: transaction timeout, 64*T1 (§17.1.2.2).
    F,
    /// INVITE server: response retransmission, T1 doubling to T2 (§17.2.1);
    /// also the 2xx retransmission interval of [`super::Ok2xxRetransmitter`].
    G,
    /// INVITE server: wait for ACK, 64*T1 (§17.2.1); also the §13.3.1.4
    /// 2xx ACK wait.
    H,
    /// INVITE server: wait for ACK retransmissions, T4 (§17.2.1).
    I,
    /// Non-INVITE server: wait for request retransmissions, 64*T1 (§17.2.2).
    J,
    /// Non-INVITE client: wait for response retransmissions, T4 (§17.1.2.2).
    K,
    /// INVITE server: wait in Accepted, 64*T1 (RFC 6026).
    L,
    /// INVITE client: wait in Accepted, 64*T1 (RFC 6026).
    M,
}

impl Timer {
    /// Every timer, in declaration order.
    pub const VALUES: [Self; 12] =
        [Self::A, Self::B, Self::D, Self::E, Self::F, Self::G, Self::H, Self::I, Self::J, Self::K, Self::L, Self::M];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    data: [Option<Instant>; Timer::VALUES.len()],
}

impl TimerTable {
    /// Arms `timer` at `time` (replacing any earlier deadline).
    pub fn set(&mut self, timer: Timer, time: Instant) {
        self.data[timer.index()] = Some(time);
    }

    /// Arms `timer` at `now + after`; a deadline past what `Instant` can
    /// represent means "never" and leaves the timer stopped.
    pub fn set_after(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.data[timer.index()] = now.checked_add(after);
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer.index()]
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.data[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.data = [None; Timer::VALUES.len()];
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// Whether `timer` is armed with a deadline at or before `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.data[timer.index()].is_some_and(|t| t <= now)
    }

    /// The timers due at `now`, earliest deadline first (ties in
    /// declaration order). Firing is up to the caller: check
    /// [`is_expired`](Self::is_expired) again before each one, since firing
    /// an earlier timer may have stopped it.
    pub fn expired(&self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<(Instant, Timer)> =
            Timer::VALUES.iter().filter_map(|&t| self.get(t).filter(|&d| d <= now).map(|d| (d, t))).collect();
        due.sort();
        due.into_iter().map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_timeout_is_the_minimum() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::H, t0 + Duration::from_secs(32));
        t.set(Timer::G, t0 + Duration::from_millis(500));
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_millis(500)));
        t.stop(Timer::G);
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_secs(32)));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn expired_orders_by_deadline_and_skips_future() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::A, t0 + Duration::from_secs(3));
        t.set(Timer::B, t0 + Duration::from_secs(1));
        t.set(Timer::D, t0 + Duration::from_secs(9));
        assert_eq!(t.expired(t0), vec![]);
        assert_eq!(t.expired(t0 + Duration::from_secs(5)), vec![Timer::B, Timer::A]);
        assert!(t.is_expired(Timer::A, t0 + Duration::from_secs(3)));
        assert!(!t.is_expired(Timer::D, t0 + Duration::from_secs(3)));
    }

    #[test]
    fn set_after_overflow_means_never() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.set_after(Timer::F, t0, Duration::MAX);
        assert_eq!(t.get(Timer::F), None);
    }
}
