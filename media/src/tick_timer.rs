//! The shards' pacing clock as a file descriptor: a Linux `timerfd`
//! (timerfd_create(2), CLOCK_MONOTONIC, the clock `Instant` reads) that a
//! shard registers in its epoll set next to its RTP sockets. Waiting in
//! epoll until either the next 1 ms grid point or a readable socket lets a
//! shard relay a bridged packet the moment it arrives instead of at the
//! next tick, while paced sends keep their grid: epoll's own timeout has
//! only millisecond resolution (mio rounds it up), a timerfd has
//! nanoseconds. `rustix` gives the syscalls a safe API.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::time::{timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

/// A one-shot monotonic timer, non-blocking.
pub(crate) struct TickTimer {
    fd: OwnedFd,
}

impl TickTimer {
    pub(crate) fn new() -> std::io::Result<Self> {
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
        Ok(TickTimer { fd })
    }

    /// Fires once, `after` from now (at least 1 ns: zero would disarm it).
    /// Re-arming resets the expiration count, so a fired, unread timer
    /// cannot hide the next expiry from an edge-triggered epoll.
    pub(crate) fn arm(&self, after: Duration) -> std::io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let value = Timespec { tv_sec: after.as_secs() as _, tv_nsec: after.subsec_nanos() as _ };
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &Itimerspec { it_interval: zero, it_value: value })?;
        Ok(())
    }

    /// Reads the expiration count so the descriptor is quiet again.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use std::time::Instant;

    #[test]
    fn epoll_wakes_at_the_timer_with_sub_millisecond_precision() {
        let timer = TickTimer::new().unwrap();
        let mut poll = Poll::new().unwrap();
        poll.registry().register(&mut SourceFd(&timer.raw_fd()), Token(7), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(4);
        for _ in 0..3 {
            let start = Instant::now();
            timer.arm(Duration::from_micros(300)).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
            assert!(events.iter().any(|e| e.token() == Token(7)), "woken by the timer, not the 5 s timeout");
            assert!(start.elapsed() >= Duration::from_micros(300), "not before the deadline");
            timer.clear();
        }
    }
}
