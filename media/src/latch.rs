//! Strict RTP latching: which sources a leg accepts media from, and when the
//! remote it sends to may follow a packet source (symmetric RTP, RFC 4961).
//!
//! Latching on the first valid packet from *any* address lets whoever sends
//! first take the call's media (the "RTP bleed" attack Asterisk fixed with
//! `strictrtp`, AST-2017-005/008). The rules, in order:
//!
//! 1. A packet from the SDP-signalled address latches at once.
//! 2. Behind a NAT that rewrites the port only, a packet from the signalled
//!    IP latches at once during [`LEARNING_WINDOW`] after the address was
//!    signalled; later it needs [`PROBATION`] packets (rule 3).
//! 3. When the signalled address cannot be the packets' source (a private,
//!    link-local or shared address behind a NAT, or none), a
//!    source latches after [`PROBATION`] consecutive packets of one stream
//!    (same SSRC, sequence numbers advancing by 1 or 2) — as Asterisk's
//!    `probation`. A public signalled address never yields to another IP.
//! 4. Once latched, another source takes over only if it *continues the
//!    latched stream* (same SSRC, next sequence numbers within
//!    [`MAX_RELATCH_GAP`]) for [`PROBATION`] packets: a NAT rebinding, not a
//!    stranger who does not know the stream. New streams come with new
//!    signalling ([`Latch::signal`]).
//!
//! Everything else is rejected and counted by the session
//! (`RtpStats::packets_rejected`). No allocation: this runs per packet.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long after signalling a packet from the signalled IP on another port
/// latches at once (NAT port rewriting).
pub const LEARNING_WINDOW: Duration = Duration::from_secs(3);
/// Consecutive packets a source must send before it latches without being
/// the signalled address (Asterisk's default `probation`).
pub const PROBATION: u8 = 4;
/// Largest sequence-number advance that still continues the latched stream
/// when its packets move to a new source (2 s of 20 ms packets).
pub const MAX_RELATCH_GAP: u16 = 100;

/// What to do with a packet that passed the format checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// From the latched source.
    Accept,
    /// Accept, and this source is now the remote (report it).
    Latched(SocketAddr),
    /// Not from a source this leg takes media from.
    Reject,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    source: SocketAddr,
    ssrc: u32,
    seq: u16,
    count: u8,
}

/// The latching state of one leg.
#[derive(Debug, Clone)]
pub(crate) struct Latch {
    signalled: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    /// When the signalled address was set; `None` until the next input.
    signalled_at: Option<Instant>,
    candidate: Option<Candidate>,
    /// SSRC and highest sequence number of the latched stream.
    stream: Option<(u32, u16)>,
}

impl Latch {
    pub(crate) fn new(signalled: Option<SocketAddr>, now: Instant) -> Self {
        Latch { signalled, latched: None, signalled_at: Some(now), candidate: None, stream: None }
    }

    /// Where to send: the latched source, else the signalled address.
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }

    /// A (new) address from signalling. A different one drops the latch;
    /// the same one re-announced keeps it. Its learning window starts at
    /// the next [`Self::tick`] or packet.
    pub(crate) fn signal(&mut self, addr: SocketAddr) {
        if self.signalled == Some(addr) && self.remote().is_some() {
            return;
        }
        self.signalled = Some(addr);
        self.latched = None;
        self.signalled_at = None;
        self.candidate = None;
    }

    /// Starts a pending learning window.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.signalled_at.get_or_insert(now);
    }

    /// Judges one packet of stream `ssrc` with sequence number `seq`.
    pub(crate) fn check(&mut self, source: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Verdict {
        self.tick(now);
        if self.latched == Some(source) {
            self.advance_stream(ssrc, seq);
            return Verdict::Accept;
        }
        if self.latched.is_none() {
            return self.learn(source, ssrc, seq, now);
        }
        // Another source while latched: only the latched stream moving.
        let on_probation = self.probation(source, ssrc, seq, |latch| {
            latch.stream.is_some_and(|(s, last)| s == ssrc && (1..=MAX_RELATCH_GAP).contains(&seq.wrapping_sub(last)))
        });
        if on_probation {
            return Verdict::Reject;
        }
        self.latch(source, ssrc, seq)
    }

    fn learn(&mut self, source: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Verdict {
        let Some(signalled) = self.signalled else {
            return self.latch_after_probation(source, ssrc, seq);
        };
        if source == signalled {
            return self.latch(source, ssrc, seq);
        }
        let in_window = self.signalled_at.is_some_and(|at| now.saturating_duration_since(at) < LEARNING_WINDOW);
        if source.ip() == signalled.ip() && in_window {
            return self.latch(source, ssrc, seq);
        }
        if source.ip() == signalled.ip() || !is_reachable(signalled.ip()) {
            return self.latch_after_probation(source, ssrc, seq);
        }
        Verdict::Reject
    }

    fn latch_after_probation(&mut self, source: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        if self.probation(source, ssrc, seq, |_| true) {
            Verdict::Reject
        } else {
            self.latch(source, ssrc, seq)
        }
    }

    /// Counts `source`'s packet towards its probation; true while it is
    /// still on probation. A new candidate must pass `may_start`.
    fn probation(&mut self, source: SocketAddr, ssrc: u32, seq: u16, may_start: impl Fn(&Self) -> bool) -> bool {
        let next = |c: &Candidate| c.source == source && c.ssrc == ssrc && (1..=2).contains(&seq.wrapping_sub(c.seq));
        if let Some(c) = self.candidate.as_mut().filter(|c| next(c)) {
            c.seq = seq;
            c.count = c.count.saturating_add(1);
        } else if may_start(self) {
            self.candidate = Some(Candidate { source, ssrc, seq, count: 1 });
        } else {
            return true;
        }
        self.candidate.is_some_and(|c| c.count < PROBATION)
    }

    fn latch(&mut self, source: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        self.latched = Some(source);
        self.candidate = None;
        self.stream = Some((ssrc, seq));
        Verdict::Latched(source)
    }

    fn advance_stream(&mut self, ssrc: u32, seq: u16) {
        match self.stream.as_mut() {
            // Keep the highest sequence number (reordered packets are older).
            Some((s, last)) if *s == ssrc => {
                if seq.wrapping_sub(*last) < 0x8000 {
                    *last = seq;
                }
            }
            _ => self.stream = Some((ssrc, seq)),
        }
    }
}

/// Whether packets can come from `ip` as seen from elsewhere: false for
/// addresses that only mean something behind a NAT. Loopback counts as
/// reachable: a peer on this host is not behind a NAT, so another IP
/// sending for it is a stranger.
fn is_reachable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b); // RFC 6598 CGNAT
            !(v4.is_private() || v4.is_link_local() || v4.is_unspecified() || shared)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_unspecified() || unique_local || link_local)
        }
    }
}
