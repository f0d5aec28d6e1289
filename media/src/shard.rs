//! Shared pacing: a few media threads ("shards") each run many call legs,
//! instead of one tokio task and one tokio timer per leg.
//!
//! Why: with a task and a 20 ms timer per leg, 2,000 legs mean 100,000 timer
//! wake-ups a second queued behind each other on a 1 ms timer wheel, and the
//! RTP send interval's p99 jitter grew past 5 ms (BENCHMARKS.md). A shard is
//! one OS thread with a fixed 1 ms tick on an absolute grid. At each tick it
//!
//! 1. takes new legs and the call tasks' commands (one channel per shard),
//! 2. hands `now` to every session whose `poll_timeout` has passed (a heap
//!    of deadlines) and sends what they produce, and forwards their events,
//! 3. then, while any of its legs is bridged, waits in epoll (mio) until
//!    the next grid point — a `timerfd` in the same epoll set ends the wait
//!    with sub-millisecond precision (`tick_timer.rs`) — draining each
//!    socket as it becomes readable into its [`RtpSession`], so a bridged
//!    leg's packet is relayed the moment it arrives; with no bridge it
//!    sleeps to the grid point and then drains what arrived (nobody waits
//!    on an IVR leg's audio, and a wake-up per socket costs CPU). While working
//!    through a burst it checks every 16 sockets for sends that came due
//!    meanwhile — peers send their streams in bursts, and a burst's
//!    decoding, VAD and resampling must not hold up the pacing.
//!
//! A packet therefore leaves at most one tick after its deadline, and by a
//! constant amount for a given leg (its phase against the grid does not
//! change), so the send *interval* stays at 20 ms. A shard that falls
//! behind (overload) sleeps a whole tick and then takes what arrived, so a
//! real-time shard never takes a whole core from signalling.

//! The sessions keep every protocol rule (RFC 3550 pacing, RFC 4733,
//! latching); this file only does IO and scheduling. A leg's events go to its
//! call task with `try_send`; if the call task is slow they wait in the leg's
//! backlog rather than stall the shard. A leg whose handle is dropped is
//! reaped at the next housekeeping pass.
//!
//! Fault isolation: the media path has no `unwrap`s, but a bug in one leg's
//! processing must not end every call on the shard. Each leg's work (a
//! command, its timeout, its received packets, its sends) runs under
//! `std::panic::catch_unwind`, which costs nothing until something panics.
//! A leg that panics is ended: its event channel closes (the call hangs up
//! as failed), its final stats say `failed`, and [`failed_legs_total`]
//! counts it; the shard and its other legs go on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, oneshot};

use crate::leg::MediaCommand;
use crate::rtp_session::{MediaEvent, RtpSession, RtpStats, MAX_PACKET_LEN, MAX_RELAY_PACKET};
use crate::speech_tap::{SpeechTap, TapEvent};
use crate::tick_timer::TickTimer;

/// The pacing grid. Packets leave at most this long after their deadline.
pub(crate) const TICK: Duration = Duration::from_millis(1);
/// While receiving, check for due sends after this many sockets.
const SEND_CHECK_EVERY: usize = 16;
/// Reap legs whose handles were dropped every this many ticks.
const HOUSEKEEPING_TICKS: u64 = 250;
const RECV_BUFFER: usize = 2048;
const EVENTS_CAPACITY: usize = 1024;
/// The tick timer's token in the epoll set (legs use their slot index).
const TIMER_TOKEN: Token = Token(usize::MAX - 1);

static FAILED_LEGS: AtomicU64 = AtomicU64::new(0);

/// Legs ended because their processing panicked, since the process started
/// (for a metric; each also ends its call and says `failed` in its stats).
pub fn failed_legs_total() -> u64 {
    FAILED_LEGS.load(Ordering::Relaxed)
}

/// What a shard is told over its one input channel.
pub(crate) enum ShardInput {
    Attach(Box<NewLeg>),
    Command(u64, MediaCommand),
}

/// A leg handed to a shard.
pub(crate) struct NewLeg {
    pub(crate) id: u64,
    pub(crate) socket: std::net::UdpSocket,
    pub(crate) session: RtpSession,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    pub(crate) finished: oneshot::Sender<RtpStats>,
}

struct Slot {
    id: u64,
    socket: UdpSocket,
    session: RtpSession,
    events: mpsc::Sender<MediaEvent>,
    backlog: VecDeque<MediaEvent>,
    finished: Option<oneshot::Sender<RtpStats>>,
    /// The deadline this slot has in the heap (older heap entries are stale).
    armed: Option<Instant>,
    touched: bool,
    /// Listening for speech (MediaCommand::Listen).
    tap: Option<SpeechTap>,
    /// Bridged to the leg in this slot (MediaCommand::Bridge).
    bridge: Option<usize>,
    /// Test hook: the next receive panics (MediaCommand::FailOnReceive).
    #[cfg(test)]
    fail_on_receive: bool,
}

/// One shard's state; lives on its own thread.
pub(crate) struct Shard {
    poll: Poll,
    inputs: mpsc::UnboundedReceiver<ShardInput>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    touched: Vec<usize>,
    backlogged: Vec<usize>,
    recv_buf: Vec<u8>,
    send_buf: [u8; MAX_PACKET_LEN],
    /// Relayed packets of bridged legs are written here.
    relay_buf: Vec<u8>,
    /// Legs attached and not yet ended (read by the engine to pick a shard).
    legs: Arc<AtomicUsize>,
    /// The pacing clock in the epoll set (`TIMER_TOKEN`); None where a
    /// timerfd could not be made: then the shard sleeps between ticks.
    tick_timer: Option<TickTimer>,
    /// Legs in a bridge. Only then is a packet taken on arrival: relaying
    /// is latency the caller hears, while an IVR leg's audio waits a tick
    /// for nobody, and waking per readable socket costs CPU (2,000 IVR
    /// calls: 114 % → 132 % of a core, p99 jitter 1.5 → 2.6 ms).
    bridged: usize,
}

impl Shard {
    pub(crate) fn new(inputs: mpsc::UnboundedReceiver<ShardInput>, legs: Arc<AtomicUsize>) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let tick_timer = match TickTimer::new()
            .and_then(|t| poll.registry().register(&mut SourceFd(&t.raw_fd()), TIMER_TOKEN, Interest::READABLE).map(|()| t))
        {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "no timerfd for the media shard: packets wait for the next 1 ms tick");
                None
            }
        };
        Ok(Shard {
            poll,
            tick_timer,
            bridged: 0,
            inputs,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            timers: BinaryHeap::new(),
            touched: Vec::new(),
            backlogged: Vec::new(),
            recv_buf: vec![0; RECV_BUFFER],
            send_buf: [0; MAX_PACKET_LEN],
            relay_buf: vec![0; MAX_RELAY_PACKET],
            legs,
        })
    }

    /// The thread's body: returns when every handle to the engine is gone.
    /// With `realtime`, the thread first asks for the lowest real-time
    /// priority (SCHED_RR 1), as Asterisk (`-p`) and FreeSWITCH (`-rp`) do for
    /// their media: above every normal thread, so a busy box delays
    /// signalling and logging rather than the 20 ms clock.
    pub(crate) fn run(mut self, realtime: bool) {
        if realtime {
            use thread_priority::{RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
            let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin);
            match thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), ThreadPriority::Min, policy) {
                Ok(()) => tracing::debug!("media thread at real-time priority"),
                // E.g. no CAP_SYS_NICE / RLIMIT_RTPRIO: run at normal priority.
                Err(e) => tracing::info!(error = ?e, "media thread stays at normal priority (real-time not permitted)"),
            }
        }
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut next_tick = Instant::now();
        let mut ticks: u64 = 0;
        loop {
            if self.by_id.is_empty() {
                // Idle: block until there is something to run.
                match self.inputs.blocking_recv() {
                    Some(input) => self.handle_input(input, Instant::now()),
                    None => return,
                }
                next_tick = Instant::now();
            }
            let now = Instant::now();
            if !self.drain_inputs(now) {
                self.close_all();
                return;
            }
            // Due packets first, so a leg's send time does not depend on how
            // many packets other legs received this tick.
            self.fire_timers(now);
            self.flush();
            ticks += 1;
            if ticks.is_multiple_of(HOUSEKEEPING_TICKS) {
                self.reap_dropped();
            }
            // Absolute grid: a late wake-up does not shift later ticks.
            next_tick += TICK;
            let now = Instant::now();
            if next_tick <= now {
                // Behind (overload): sleep a whole tick, then take what
                // arrived, so a real-time shard never takes a whole core
                // from signalling.
                next_tick = now + TICK;
                std::thread::sleep(TICK);
                self.receive(&mut events, Some(Duration::ZERO));
                self.flush();
                continue;
            }
            self.wait_for_tick(&mut events, next_tick);
        }
    }

    /// Until `next_tick`: packets are taken (and bridged ones relayed) as
    /// they arrive, woken by epoll; the tick timer ends the wait. Without a
    /// timer (it could not be created) this is the old fixed tick: sleep,
    /// then take what arrived.
    fn wait_for_tick(&mut self, events: &mut Events, next_tick: Instant) {
        let armed = (self.bridged > 0)
            .then(|| self.tick_timer.as_ref().map(|t| t.arm(next_tick.saturating_duration_since(Instant::now()))))
            .flatten();
        if !matches!(armed, Some(Ok(()))) {
            std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
            self.receive(events, Some(Duration::ZERO));
            self.flush();
            return;
        }
        loop {
            // The timeout is only a safety net: the timer ends the wait.
            let fired = self.receive(events, Some(TICK * 2));
            self.flush();
            let now = Instant::now();
            if now >= next_tick {
                return;
            }
            // An expiry reported late (edge-triggered epoll keeps it queued
            // across a re-arm) must not start the tick early: wait on.
            if fired && self.tick_timer.as_ref().is_some_and(|t| t.arm(next_tick - now).is_err()) {
                std::thread::sleep(next_tick - now);
                return;
            }
        }
    }

    /// Takes every queued input; false once the engine is gone.
    fn drain_inputs(&mut self, now: Instant) -> bool {
        loop {
            match self.inputs.try_recv() {
                Ok(input) => self.handle_input(input, now),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn handle_input(&mut self, input: ShardInput, now: Instant) {
        match input {
            ShardInput::Attach(leg) => self.attach(*leg),
            ShardInput::Command(id, command) => {
                let Some(&idx) = self.by_id.get(&id) else { return };
                self.handle_command(idx, command, now);
            }
        }
    }

    fn attach(&mut self, leg: NewLeg) {
        let NewLeg { id, socket, session, events, finished } = leg;
        let mut socket = match socket.set_nonblocking(true) {
            Ok(()) => UdpSocket::from_std(socket),
            Err(e) => {
                tracing::warn!(error = %e, "RTP socket unusable");
                self.legs.fetch_sub(1, Ordering::Relaxed);
                let _ = finished.send(session.stats());
                return;
            }
        };
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if let Err(e) = self.poll.registry().register(&mut socket, Token(idx), Interest::READABLE) {
            tracing::warn!(error = %e, "RTP socket not registered");
            self.free.push(idx);
            self.legs.fetch_sub(1, Ordering::Relaxed);
            let _ = finished.send(session.stats());
            return;
        }
        self.slots[idx] = Some(Slot {
            id,
            socket,
            session,
            events,
            backlog: VecDeque::new(),
            finished: Some(finished),
            armed: None,
            touched: false,
            tap: None,
            bridge: None,
            #[cfg(test)]
            fail_on_receive: false,
        });
        self.by_id.insert(id, idx);
        self.touch(idx);
    }

    fn handle_command(&mut self, idx: usize, command: MediaCommand, now: Instant) {
        match command {
            MediaCommand::Close => return self.detach(idx, false),
            MediaCommand::Bridge { peer } => return self.bridge(idx, peer),
            MediaCommand::Unbridge => return self.unbridge(idx),
            _ => {}
        }
        let Some(slot) = self.slots[idx].as_mut() else { return };
        if catch_unwind(AssertUnwindSafe(|| apply_command(slot, command, now))).is_err() {
            self.fail(idx);
            return;
        }
        self.touch(idx);
    }

    /// Bridges the legs in `idx` and (by id) `peer`, ending any bridge
    /// either was in.
    fn bridge(&mut self, idx: usize, peer: u64) {
        let Some(peer_idx) = self.by_id.get(&peer).copied().filter(|&p| p != idx) else {
            tracing::warn!(peer, "bridge peer is not on this shard; not bridged");
            return;
        };
        self.unbridge(idx);
        self.unbridge(peer_idx);
        for (a, b) in [(idx, peer_idx), (peer_idx, idx)] {
            if let Some(s) = self.slots[a].as_mut() {
                s.bridge = Some(b);
                s.session.set_relaying(true);
                self.bridged += 1;
            }
            self.touch(a);
        }
    }

    /// Ends the bridge of the leg in `idx` (both sides), if any.
    fn unbridge(&mut self, idx: usize) {
        let Some(peer) = self.slots[idx].as_mut().and_then(|s| s.bridge.take()) else { return };
        self.bridged = self.bridged.saturating_sub(1);
        if let Some(s) = self.slots[idx].as_mut() {
            s.session.set_relaying(false);
        }
        if let Some(p) = self.slots[peer].as_mut().filter(|p| p.bridge == Some(idx)) {
            p.bridge = None;
            p.session.set_relaying(false);
            self.bridged = self.bridged.saturating_sub(1);
        }
        self.touch(peer);
    }

    /// Waits for readiness (at most `timeout`; None: until the tick timer
    /// or a socket) and drains every readable leg. True when the tick
    /// timer fired.
    fn receive(&mut self, events: &mut Events, timeout: Option<Duration>) -> bool {
        if let Err(e) = self.poll.poll(events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                tracing::warn!(error = %e, "media poll failed");
            }
            return false;
        }
        let now = Instant::now();
        let mut fired = false;
        for (n, event) in events.iter().enumerate() {
            if n > 0 && n % SEND_CHECK_EVERY == 0 {
                self.send_due();
            }
            if event.token() == TIMER_TOKEN {
                fired = true;
                if let Some(t) = &self.tick_timer {
                    t.clear();
                }
                continue;
            }
            let idx = event.token().0;
            let Some(peer_idx) = self.slots.get(idx).and_then(Option::as_ref).map(|s| s.bridge) else { continue };
            let (buf, relay_buf) = (&mut self.recv_buf, &mut self.relay_buf);
            let received = match peer_idx.map(|p| self.slots.get_disjoint_mut([idx, p])) {
                Some(Ok([Some(slot), Some(peer)])) => {
                    catch_unwind(AssertUnwindSafe(|| receive_into(slot, Some((peer, relay_buf.as_mut_slice())), buf, now)))
                }
                _ => match self.slots[idx].as_mut() {
                    Some(slot) => catch_unwind(AssertUnwindSafe(|| receive_into(slot, None, buf, now))),
                    None => continue,
                },
            };
            if received.is_err() {
                self.fail(idx);
                continue;
            }
            self.touch(idx);
        }
        fired
    }

    /// Sends whatever has come due while a burst of receives is being
    /// worked through: peers (SIPp, media servers) often send all their
    /// streams' packets at once, and decoding, VAD and resampling a few
    /// hundred of them takes milliseconds that must not delay the pacing.
    fn send_due(&mut self) {
        let now = Instant::now();
        if self.timers.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            self.fire_timers(now);
            self.flush();
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, idx))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots[idx].as_mut() else { continue };
            if slot.armed != Some(deadline) {
                continue; // stale entry: the slot was re-armed since
            }
            slot.armed = None;
            if catch_unwind(AssertUnwindSafe(|| slot.session.handle_timeout(now))).is_err() {
                self.fail(idx);
                continue;
            }
            self.touch(idx);
        }
    }

    /// Sends, forwards events and re-arms every leg touched this tick.
    fn flush(&mut self) {
        for idx in std::mem::take(&mut self.touched) {
            let Some(slot) = self.slots[idx].as_mut() else { continue };
            slot.touched = false;
            let buf = &mut self.send_buf;
            let Ok((backlogged, next)) = catch_unwind(AssertUnwindSafe(|| flush_slot(slot, buf))) else {
                self.fail(idx);
                continue;
            };
            if backlogged {
                self.backlogged.push(idx);
            }
            if next != slot.armed {
                slot.armed = next;
                if let Some(at) = next {
                    self.timers.push(Reverse((at, idx)));
                }
            }
        }
        self.retry_backlogs();
    }

    fn retry_backlogs(&mut self) {
        let slots = &mut self.slots;
        self.backlogged.retain(|&idx| {
            let Some(slot) = slots[idx].as_mut() else { return false };
            while let Some(event) = slot.backlog.pop_front() {
                match slot.events.try_send(event) {
                    Ok(()) => {}
                    Err(TrySendError::Full(event)) => {
                        slot.backlog.push_front(event);
                        return true;
                    }
                    Err(TrySendError::Closed(_)) => {
                        slot.backlog.clear(); // nobody listens any more
                        return false;
                    }
                }
            }
            false
        });
    }

    fn touch(&mut self, idx: usize) {
        if let Some(slot) = self.slots[idx].as_mut() {
            if !slot.touched {
                slot.touched = true;
                self.touched.push(idx);
            }
        }
    }

    /// Ends legs whose `MediaLeg` handle is gone without a `Close`.
    fn reap_dropped(&mut self) {
        let dropped: Vec<usize> =
            self.slots.iter().enumerate().filter_map(|(idx, s)| s.as_ref().filter(|s| s.events.is_closed()).map(|_| idx)).collect();
        for idx in dropped {
            self.detach(idx, false);
        }
    }

    /// Ends leg `idx`, whose processing panicked (see the module doc).
    fn fail(&mut self, idx: usize) {
        FAILED_LEGS.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = self.slots[idx].as_ref() {
            tracing::error!(leg = slot.id, "media leg panicked: ended, the shard's other legs go on");
        }
        self.detach(idx, true);
    }

    fn detach(&mut self, idx: usize, failed: bool) {
        self.unbridge(idx);
        let Some(mut slot) = self.slots[idx].take() else { return };
        let _ = self.poll.registry().deregister(&mut slot.socket);
        self.by_id.remove(&slot.id);
        self.free.push(idx);
        self.legs.fetch_sub(1, Ordering::Relaxed);
        if let Some(finished) = slot.finished.take() {
            // A failed session may be inconsistent: its stats must not panic too.
            let stats = catch_unwind(AssertUnwindSafe(|| slot.session.stats())).unwrap_or_default();
            let _ = finished.send(RtpStats { failed: failed || stats.failed, ..stats });
        }
    }

    fn close_all(&mut self) {
        for idx in 0..self.slots.len() {
            self.detach(idx, false);
        }
    }
}

fn deliver(slot: &mut Slot, event: MediaEvent) {
    if !slot.backlog.is_empty() {
        slot.backlog.push_back(event); // keep order behind earlier events
        return;
    }
    match slot.events.try_send(event) {
        Ok(()) | Err(TrySendError::Closed(_)) => {}
        Err(TrySendError::Full(event)) => slot.backlog.push_back(event),
    }
}

/// One command for a leg (`Close` is the shard's).
fn apply_command(slot: &mut Slot, command: MediaCommand, now: Instant) {
    match command {
        // Handled by the shard: they concern other slots too.
        MediaCommand::Close | MediaCommand::Bridge { .. } | MediaCommand::Unbridge => {}
        #[cfg(test)]
        MediaCommand::FailOnReceive => slot.fail_on_receive = true,
        MediaCommand::Play { pcm, id } => {
            if let Err(e) = slot.session.play(pcm, id, now) {
                tracing::warn!(error = %e, id, "prompt rejected");
                // Never leave the caller waiting for a prompt that will not play.
                deliver(slot, MediaEvent::PlaybackFinished { id });
            }
        }
        MediaCommand::PlayStream { pcm, id } => {
            if let Err(e) = slot.session.play_stream(pcm, id, now) {
                tracing::warn!(error = %e, id, "streamed prompt rejected");
                deliver(slot, MediaEvent::PlaybackFinished { id });
            }
        }
        MediaCommand::Append { pcm, id } => {
            if let Err(e) = slot.session.append_playback(id, pcm) {
                tracing::warn!(error = %e, id, "prompt audio rejected");
            }
        }
        MediaCommand::EndStream { id } => slot.session.end_playback(id),
        MediaCommand::Stop => slot.session.stop_playback(now),
        MediaCommand::SetRemote(addr) => slot.session.set_remote(addr),
        MediaCommand::SetDirection(dir) => slot.session.set_direction(dir),
        MediaCommand::Listen { sink, vad } => match SpeechTap::new(sink, vad) {
            Ok(tap) => {
                slot.tap = Some(tap);
                slot.session.set_audio_tap(true);
            }
            Err(e) => tracing::warn!(error = %e, "speech tap not started"),
        },
        MediaCommand::Detect { vad } => match SpeechTap::detect(vad) {
            Ok(tap) => {
                slot.tap = Some(tap);
                slot.session.set_audio_tap(true);
            }
            Err(e) => tracing::warn!(error = %e, "speech tap not started"),
        },
        MediaCommand::Attach(sink) => {
            if let Some(tap) = slot.tap.as_mut() {
                tap.attach(sink);
                if tap.is_done() {
                    slot.tap = None;
                    slot.session.set_audio_tap(false);
                }
            }
        }
        MediaCommand::SetEndOfSpeech(silence) => {
            if let Some(tap) = slot.tap.as_mut() {
                tap.set_end_of_speech(silence);
            }
        }
        MediaCommand::StopListening => {
            slot.tap = None;
            slot.session.set_audio_tap(false);
        }
        MediaCommand::Record(spec) => slot.session.set_record(spec),
    }
}

/// Drains a readable leg's socket into its session and speech tap; when
/// the leg is bridged, every packet its session takes goes out on `peer`
/// at once (written into the relay buffer).
fn receive_into(slot: &mut Slot, mut peer: Option<(&mut Slot, &mut [u8])>, buf: &mut [u8], now: Instant) {
    #[cfg(test)]
    if slot.fail_on_receive {
        panic!("injected media fault");
    }
    // Edge-triggered: drain until WouldBlock or the next edge never comes.
    loop {
        let (len, source) = match slot.socket.recv_from(buf) {
            Ok(received) => received,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // E.g. ICMP port unreachable surfaced as ECONNREFUSED: keep going.
            Err(e) => {
                tracing::debug!(error = %e, "RTP receive error");
                continue;
            }
        };
        let before = slot.session.packets_received();
        slot.session.handle_receive(&buf[..len], source, now);
        let Some((p, relay_buf)) = peer.as_mut().filter(|_| slot.session.packets_received() > before) else { continue };
        if let Some((n, to)) = p.session.relay(&buf[..len], slot.session.relay_source(), relay_buf) {
            if let Err(e) = p.socket.send_to(&relay_buf[..n], to) {
                tracing::debug!(error = %e, %to, "relayed RTP send failed");
            }
        }
    }
    if let Some(tap) = slot.tap.as_mut() {
        let mut heard = [None, None];
        slot.session.take_audio(|audio| {
            tap.push(audio, |e| {
                let i = usize::from(e == TapEvent::SpeechEnded);
                heard[i] = Some(e);
            })
        });
        for e in heard.into_iter().flatten() {
            deliver(slot, if e == TapEvent::SpeechStarted { MediaEvent::SpeechStarted } else { MediaEvent::SpeechEnded });
        }
        if slot.tap.as_ref().is_some_and(SpeechTap::is_done) {
            slot.tap = None;
            slot.session.set_audio_tap(false);
        }
    }
}

/// Sends a leg's due packets and forwards its events: whether its events
/// have just started to back up, and its next deadline.
fn flush_slot(slot: &mut Slot, send_buf: &mut [u8; MAX_PACKET_LEN]) -> (bool, Option<Instant>) {
    while let Some((len, to)) = slot.session.poll_transmit(send_buf) {
        if let Err(e) = slot.socket.send_to(&send_buf[..len], to) {
            tracing::debug!(error = %e, %to, "RTP send failed");
        }
    }
    let had_backlog = !slot.backlog.is_empty();
    while let Some(event) = slot.session.poll_event() {
        deliver(slot, event);
    }
    (!had_backlog && !slot.backlog.is_empty(), slot.session.poll_timeout())
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
