//! The sans-IO RTP session of one call leg: paced G.711 playback out, DTMF
//! and liveness in. No socket and no clock inside: inputs carry `now`,
//! outputs are polled (`poll_transmit`, `poll_event`, `poll_timeout`).
//!
//! Implements:
//! - RFC 3550 §5.1 header fields (via the `rtp` crate), random SSRC, sequence
//!   and timestamp origins (§5.1, §8), sequence tracking and loss count of
//!   Appendix A.1/A.3 (simplified: no probation, resync on a large jump or a
//!   new SSRC). No RTCP yet.
//! - RFC 3551 §4.1 marker bit and §4.2 20 ms packets: one packet per
//!   absolute deadline `start + n × 20 ms`. After a stall of more than one
//!   frame the missed deadlines are skipped, not burst: one packet goes out,
//!   its timestamp advanced by the skipped frames so timestamps track wall
//!   time, with the marker set as after a silence period. Prompt audio is
//!   not consumed by skipped frames nor while not sending (hold): the prompt
//!   is delayed, not cut.
//! - The marker is also set on the first packet of the stream and of each
//!   prompt. Silence is sent when no prompt plays (keeps NAT bindings and
//!   the peer's latch alive).
//! - Symmetric RTP (RFC 4961) with strict latching ([`crate::latch`]): the
//!   SDP-signalled address (or its IP behind a port-rewriting NAT, or a
//!   source that passed probation when the SDP address is private) becomes
//!   the remote; other sources are rejected and counted, and a new source
//!   takes over only by continuing the latched stream or after new
//!   signalling (`set_remote`).
//! - RFC 3264 §5.1 directions: we send only in `SendRecv`/`SendOnly`.
//! - RFC 4733 events in, and in-band DTMF (see [`crate::goertzel`]); the same
//!   key from both sources within 200 ms is reported once.
//!
//! Decisions: `play` replaces the current prompt *without* a
//! `PlaybackFinished` for the replaced one (the caller knows it replaced
//! it); `stop_playback` does emit `PlaybackFinished` for the stopped one,
//! even if none of it was sent yet. Inactivity is only supervised in
//! `SendRecv` (a held peer may legitimately send nothing) and re-armed when
//! `SendRecv` resumes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp::header::Header;

use crate::playback::Playback;
use webrtc_util::marshal::Marshal;

use crate::codec::{Codec, FRAME_DURATION, FRAME_SAMPLES};
use crate::goertzel::DtmfDetector;
use crate::latch::{Latch, Verdict};
use crate::rfc4733::DtmfReceiver;
use crate::rtp_packet::{parse, SeqState, HEADER_LEN};
use crate::{MediaError, Pcm};

mod relay;
pub use relay::{RelaySource, MAX_RELAY_PACKET};

/// The largest packet `poll_transmit` writes.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;
const FRAME_NANOS: u64 = 20_000_000;
/// Caller audio kept for the speech tap between two `take_audio` calls (1 s).
pub const TAP_CAPACITY: usize = 8000;
/// Same key from both DTMF sources within this window is one press.
const DTMF_DEDUP_WINDOW: Duration = Duration::from_millis(200);

/// Parameters of one leg, usually from the SDP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpConfig {
    pub codec: Codec,
    /// Payload type of the audio codec: its static one (0/8) or the dynamic
    /// one the SDP mapped to it (RFC 3551 §6 allows PCMU as, say, 96).
    pub payload_type: u8,
    /// Payload type negotiated for `telephone-event/8000`, if any.
    pub telephone_event_pt: Option<u8>,
    /// Address from SDP; replaced by the latched source when packets arrive.
    pub remote: Option<SocketAddr>,
    /// `MediaEvent::Inactive` after this long without valid RTP (zero: never).
    pub inactivity_timeout: Duration,
    pub ssrc: u32,
    pub initial_sequence: u16,
    pub initial_timestamp: u32,
}

impl RtpConfig {
    /// Random SSRC, sequence and timestamp origins (RFC 3550 §5.1), no
    /// telephone-event, no remote yet, 60 s inactivity timeout.
    pub fn new(codec: Codec) -> Self {
        RtpConfig {
            codec,
            payload_type: codec.payload_type(),
            telephone_event_pt: None,
            remote: None,
            inactivity_timeout: Duration::from_secs(60),
            ssrc: rand::random(),
            initial_sequence: rand::random(),
            initial_timestamp: rand::random(),
        }
    }
}

/// Our media direction (RFC 3264 §5.1), i.e. the one in our SDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// Whether we may send RTP.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// Where a DTMF key was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// Tones in the audio (Goertzel detector).
    InBand,
}

/// What the session reports to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The remote address is now this packet source (symmetric RTP).
    Latched(SocketAddr),
    Dtmf {
        digit: char,
        source: DtmfSource,
    },
    /// The first packet of prompt `id` was produced.
    PlaybackStarted {
        id: u64,
    },
    /// The last packet of prompt `id` was produced, or it was stopped.
    PlaybackFinished {
        id: u64,
    },
    /// The very first RTP packet of the leg was produced.
    FirstPacketSent,
    /// No valid RTP for `inactivity_timeout` (reported once per silence).
    Inactive,
    /// The speech tap's VAD heard the caller start speaking (barge-in).
    SpeechStarted,
    /// ... and stop: the utterance went to the recogniser, end included.
    SpeechEnded,
}

/// Counters of one leg. Byte counts are payload octets (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpStats {
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Datagrams dropped: not RTP v2, malformed, unknown payload type, or
    /// from a source other than the latched one.
    pub packets_ignored: u64,
    /// Of `packets_ignored`, valid RTP rejected for its source address
    /// (strict latching, [`crate::latch`]): hijack attempts, strays, and
    /// a new source's packets while on probation.
    pub packets_rejected: u64,
    /// Expected minus received, from sequence numbers (RFC 3550 A.3).
    pub lost: u64,
    /// The `now` of the timeout that produced the first packet.
    pub first_packet_sent_at: Option<Instant>,
    /// Interarrival jitter of the received audio (RFC 3550 §6.4.1, A.8),
    /// in microseconds, as it stood at the last packet.
    pub jitter_us: u32,
    /// Frames of a streamed prompt padded with silence because the TTS
    /// audio had not arrived in time.
    pub playback_underruns: u64,
    /// The leg's processing panicked and its media shard ended it (the
    /// call's media stopped; see `media::leg::failed_legs_total`).
    pub failed: bool,
}

/// One call leg's RTP state machine. See the module doc for the rules.
#[derive(Debug)]
pub struct RtpSession {
    config: RtpConfig,
    direction: Direction,
    latch: Latch,
    header: Header,
    start: Instant,
    next_frame: u64,
    ready: u32,
    ready_at: Instant,
    marker_pending: bool,
    sent_any: bool,
    playback: Option<Playback>,
    events: VecDeque<MediaEvent>,
    stats: RtpStats,
    last_rx: Instant,
    inactive_reported: bool,
    rearm_inactivity: bool,
    seq_state: Option<SeqState>,
    /// RFC 3550 A.8: (ssrc, arrival in timestamp units, RTP timestamp) of
    /// the last audio packet, and the running jitter estimate in units.
    last_arrival: Option<(u32, f64, u32)>,
    jitter: f64,
    created: Instant,
    lost_before: u64,
    rfc4733: DtmfReceiver,
    inband: DtmfDetector,
    /// Set once the peer sends RFC 4733 events: it signals keys that way,
    /// so in-band detection (which speech can talk off) is switched off.
    rfc4733_seen: bool,
    last_dtmf: Option<(char, DtmfSource, Instant)>,
    decoded: [i16; FRAME_SAMPLES],
    /// Keep decoded caller audio for [`RtpSession::take_audio`] (speech).
    audio_tap: bool,
    tapped: Vec<i16>,
    /// Bridged to another leg ([`relay`]): relayed packets replace ours.
    relay: Option<relay::RelayState>,
    /// Call recording ([`crate::recorder`]): received (and sent) audio
    /// offered to the writer's bounded queue.
    record: Option<crate::recorder::RecordSpec>,
}

impl RtpSession {
    /// A session whose first packet is due at `now` (once a remote is known).
    pub fn new(config: RtpConfig, now: Instant) -> Self {
        let header = Header {
            version: 2,
            payload_type: config.payload_type,
            sequence_number: config.initial_sequence,
            timestamp: config.initial_timestamp,
            ssrc: config.ssrc,
            ..Header::default()
        };
        RtpSession {
            direction: Direction::SendRecv,
            latch: Latch::new(config.remote, now),
            header,
            start: now,
            next_frame: 0,
            ready: 0,
            ready_at: now,
            marker_pending: true,
            sent_any: false,
            playback: None,
            events: VecDeque::with_capacity(16),
            stats: RtpStats::default(),
            last_rx: now,
            inactive_reported: false,
            rearm_inactivity: false,
            seq_state: None,
            last_arrival: None,
            jitter: 0.0,
            created: now,
            lost_before: 0,
            rfc4733: DtmfReceiver::new(),
            inband: DtmfDetector::new(),
            rfc4733_seen: false,
            last_dtmf: None,
            decoded: [0; FRAME_SAMPLES],
            audio_tap: false,
            tapped: Vec::new(),
            relay: None,
            record: None,
            config,
        }
    }

    /// The current remote address (signalled or latched).
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latch.remote()
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    fn can_send(&self) -> bool {
        self.latch.remote().is_some() && self.direction.sends()
    }

    fn supervised(&self) -> bool {
        self.direction == Direction::SendRecv && !self.config.inactivity_timeout.is_zero()
    }

    /// `start + frame × 20 ms` (absolute: no drift); `None` past the clock's range.
    fn deadline(&self, frame: u64) -> Option<Instant> {
        self.start.checked_add(Duration::from_nanos(frame.checked_mul(FRAME_NANOS)?))
    }

    /// One datagram from the socket.
    pub fn handle_receive(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) {
        self.touch(now);
        let Some((header, payload)) = parse(datagram) else {
            self.stats.packets_ignored += 1;
            return;
        };
        let pt = header.payload_type;
        let is_event = self.config.telephone_event_pt == Some(pt);
        let is_audio = pt == self.config.payload_type;
        if !(is_event || is_audio) {
            self.stats.packets_ignored += 1;
            return;
        }
        match self.latch.check(source, header.ssrc, header.sequence_number, now) {
            Verdict::Accept => {}
            Verdict::Latched(source) => self.events.push_back(MediaEvent::Latched(source)),
            Verdict::Reject => {
                self.stats.packets_ignored += 1;
                self.stats.packets_rejected += 1;
                return;
            }
        }
        self.last_rx = now;
        self.inactive_reported = false;
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload.len() as u64;
        self.track_sequence(header.ssrc, header.sequence_number);
        if is_audio {
            self.track_jitter(header.ssrc, header.timestamp, now);
        }
        // Bridged, the peer hears the caller's tones themselves: no decode
        // and Goertzel pass per packet on the relay path.
        let inband = is_audio && !self.rfc4733_seen && self.relay.is_none();
        if is_audio && (inband || self.audio_tap || self.record.is_some()) {
            for chunk in payload.chunks(FRAME_SAMPLES) {
                let n = self.config.codec.decode(chunk, &mut self.decoded);
                if inband {
                    self.inband.push(&self.decoded[..n]);
                }
                if let Some(spec) = &self.record {
                    spec.tap.push(spec.received, now, &self.decoded[..n]);
                }
                if self.audio_tap && self.tapped.len() + n <= TAP_CAPACITY {
                    self.tapped.extend_from_slice(&self.decoded[..n]);
                }
            }
            while let Some(digit) = self.inband.poll_digit() {
                self.report_dtmf(digit, DtmfSource::InBand, now);
            }
        }
        if is_event {
            self.rfc4733_seen = true;
        }
        if !is_event {
            return;
        }
        if let Some(digit) = self.rfc4733.handle_packet(header.timestamp, header.marker, payload) {
            self.report_dtmf(digit, DtmfSource::Rfc4733, now);
        }
    }

    /// RFC 3550 A.8: J += (|D(i-1, i)| - J) / 16, where D is the change in
    /// transit time (arrival minus RTP timestamp), in timestamp units.
    fn track_jitter(&mut self, ssrc: u32, timestamp: u32, now: Instant) {
        let rate = f64::from(self.config.codec.clock_rate());
        let arrival = now.saturating_duration_since(self.created).as_secs_f64() * rate;
        if let Some((last_ssrc, last_arrival, last_ts)) = self.last_arrival {
            if last_ssrc == ssrc {
                let d = (arrival - last_arrival) - f64::from(timestamp.wrapping_sub(last_ts) as i32);
                self.jitter += (d.abs() - self.jitter) / 16.0;
            } else {
                self.jitter = 0.0; // a new source starts its own estimate
            }
        }
        self.last_arrival = Some((ssrc, arrival, timestamp));
        self.stats.jitter_us = (self.jitter / rate * 1e6) as u32;
    }

    fn track_sequence(&mut self, ssrc: u32, seq: u16) {
        match self.seq_state.as_mut() {
            Some(state) if state.ssrc == ssrc => {
                if !state.update(seq) {
                    self.lost_before += state.lost();
                    *state = SeqState::new(ssrc, seq);
                }
            }
            other => {
                // A new source (first packet, or the peer switched streams).
                self.lost_before += other.map_or(0, |old| old.lost());
                self.seq_state = Some(SeqState::new(ssrc, seq));
                self.rfc4733.reset();
            }
        }
    }

    fn report_dtmf(&mut self, digit: char, source: DtmfSource, now: Instant) {
        if let Some((last, last_source, at)) = self.last_dtmf {
            if last == digit && last_source != source && now.saturating_duration_since(at) < DTMF_DEDUP_WINDOW {
                return;
            }
        }
        self.last_dtmf = Some((digit, source, now));
        self.events.push_back(MediaEvent::Dtmf { digit, source });
    }

    /// Starts prompt `id` at the next packet, replacing any current prompt
    /// (no `PlaybackFinished` for the replaced one). `pcm` must be 8000 Hz.
    /// `now` is taken for symmetry with the other inputs; it is not needed.
    pub fn play(&mut self, pcm: Pcm, id: u64, now: Instant) -> Result<(), MediaError> {
        if pcm.rate != self.config.codec.clock_rate() {
            return Err(MediaError::UnsupportedSampleRate { rate: pcm.rate });
        }
        self.touch(now);
        self.playback = Some(Playback::whole(pcm, id));
        Ok(())
    }

    /// Starts streamed prompt `id` with its first chunk, replacing any
    /// current prompt like [`Self::play`]; more follows with
    /// [`Self::append_playback`] until [`Self::end_playback`]. The first
    /// packet goes out at the next deadline, before synthesis has ended.
    pub fn play_stream(&mut self, first: Pcm, id: u64, now: Instant) -> Result<(), MediaError> {
        if first.rate != self.config.codec.clock_rate() {
            return Err(MediaError::UnsupportedSampleRate { rate: first.rate });
        }
        self.touch(now);
        self.playback = Some(Playback::streamed(first, id));
        Ok(())
    }

    /// More audio for streamed prompt `id`; ignored if `id` is no longer
    /// playing (stopped by barge-in or replaced).
    pub fn append_playback(&mut self, id: u64, pcm: Pcm) -> Result<(), MediaError> {
        if pcm.rate != self.config.codec.clock_rate() {
            return Err(MediaError::UnsupportedSampleRate { rate: pcm.rate });
        }
        if let Some(p) = self.playback.as_mut().filter(|p| p.id == id) {
            p.append(pcm);
        }
        Ok(())
    }

    /// Streamed prompt `id` has all its audio; it finishes once drained.
    pub fn end_playback(&mut self, id: u64) {
        if let Some(p) = self.playback.as_mut().filter(|p| p.id == id) {
            p.end();
        }
    }

    /// Barge-in: the next packet is silence; emits `PlaybackFinished` for
    /// the prompt that was playing (or queued), if any.
    pub fn stop_playback(&mut self, now: Instant) {
        self.touch(now);
        if let Some(playback) = self.playback.take() {
            self.events.push_back(MediaEvent::PlaybackFinished { id: playback.id });
        }
    }

    /// A (new) address from signalling: sending goes there, and a
    /// different address drops the latch so packets from it (or its IP,
    /// within the learning window) latch again; the same address
    /// re-announced (e.g. in a re-INVITE) keeps the current latch.
    pub fn set_remote(&mut self, addr: SocketAddr) {
        self.latch.signal(addr);
    }

    /// Our direction from the latest offer/answer. Hold stops sending;
    /// resuming sends at once (skipped deadlines, marker set).
    pub fn set_direction(&mut self, dir: Direction) {
        if dir == Direction::SendRecv && self.direction != Direction::SendRecv {
            self.rearm_inactivity = true;
        }
        if dir.sends() && !self.direction.sends() {
            self.marker_pending = true;
        }
        self.direction = dir;
    }

    fn touch(&mut self, now: Instant) {
        if self.rearm_inactivity {
            self.rearm_inactivity = false;
            self.last_rx = now;
        }
    }

    /// Records this leg (issue #19): its received audio, and what it sends
    /// when `spec.sent` is set, go to the recording's writer; `None` stops.
    pub fn set_record(&mut self, spec: Option<crate::recorder::RecordSpec>) {
        self.record = spec;
    }

    /// Keeps the caller's decoded 8 kHz audio for [`Self::take_audio`]
    /// (speech recognition) while on; off drops what was kept.
    pub fn set_audio_tap(&mut self, on: bool) {
        self.audio_tap = on;
        if on {
            self.tapped.reserve(TAP_CAPACITY);
        } else {
            self.tapped.clear();
        }
    }

    /// Hands the caller audio decoded since the last call to `f` (8 kHz,
    /// in arrival order; at most [`TAP_CAPACITY`] samples are kept between
    /// calls, the rest dropped) and clears it.
    pub fn take_audio(&mut self, f: impl FnOnce(&[i16])) {
        if !self.tapped.is_empty() {
            f(&self.tapped);
            self.tapped.clear();
        }
    }

    /// Advances time: makes due packets ready and checks inactivity.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        self.latch.tick(now);
        if self.can_send() {
            while let Some(deadline) = self.deadline(self.next_frame) {
                if deadline > now {
                    break;
                }
                let late = now - deadline;
                if late > FRAME_DURATION {
                    // Stalled (or resuming): skip, do not burst.
                    let skipped = (late.as_nanos() / u128::from(FRAME_NANOS)) as u64;
                    self.next_frame += skipped;
                    self.ready = 0;
                    self.marker_pending = true;
                    continue;
                }
                // At most one frame of catch-up; anything older was dropped above.
                self.ready = (self.ready + 1).min(2);
                self.next_frame += 1;
            }
            self.ready_at = now;
        }
        if self.supervised() && !self.inactive_reported {
            if let Some(deadline) = self.last_rx.checked_add(self.config.inactivity_timeout) {
                if now >= deadline {
                    self.inactive_reported = true;
                    self.events.push_back(MediaEvent::Inactive);
                }
            }
        }
    }

    /// Writes the next due packet into `buf` (at least [`MAX_PACKET_LEN`]
    /// bytes) and returns its length and destination.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        if self.ready == 0 {
            return None;
        }
        let remote = match self.latch.remote() {
            Some(remote) if self.direction.sends() && self.relay.is_none() => remote,
            _ => {
                self.ready = 0;
                return None;
            }
        };
        let frame = self.next_frame - u64::from(self.ready);
        self.ready -= 1;
        if buf.len() < MAX_PACKET_LEN {
            tracing::warn!(len = buf.len(), "RTP send buffer too small; frame dropped");
            return None;
        }
        let codec = self.config.codec;
        let mut marker = self.marker_pending || !self.sent_any;
        if !self.sent_any {
            self.sent_any = true;
            self.stats.first_packet_sent_at = Some(self.ready_at);
            self.events.push_back(MediaEvent::FirstPacketSent);
        }
        let payload = &mut buf[HEADER_LEN..MAX_PACKET_LEN];
        match self.playback.as_mut() {
            Some(playback) => {
                if !playback.started {
                    playback.started = true;
                    marker = true;
                    self.events.push_back(MediaEvent::PlaybackStarted { id: playback.id });
                }
                let underruns = playback.underruns;
                let frame = playback.read_frame(payload, |pcm, out| codec.encode(pcm, out));
                payload[frame.samples..].fill(codec.silence_byte());
                self.stats.playback_underruns += playback.underruns - underruns;
                if frame.finished {
                    self.events.push_back(MediaEvent::PlaybackFinished { id: playback.id });
                    self.playback = None;
                }
            }
            None => payload.fill(codec.silence_byte()),
        }
        if let Some(spec) = &self.record {
            if let Some(channel) = spec.sent {
                let n = codec.decode(payload, &mut self.decoded);
                let at = self.deadline(frame).unwrap_or(self.ready_at);
                spec.tap.push(channel, at, &self.decoded[..n]);
            }
        }
        self.header.marker = marker;
        self.header.timestamp = self.config.initial_timestamp.wrapping_add((frame as u32).wrapping_mul(FRAME_SAMPLES as u32));
        if let Err(e) = self.header.marshal_to(&mut buf[..HEADER_LEN]) {
            tracing::warn!(error = %e, "RTP header marshal failed");
            return None;
        }
        self.header.sequence_number = self.header.sequence_number.wrapping_add(1);
        self.marker_pending = false;
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += FRAME_SAMPLES as u64;
        Some((MAX_PACKET_LEN, remote))
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pacing = if self.can_send() { self.deadline(self.next_frame) } else { None };
        let inactivity = if !self.supervised() || self.inactive_reported {
            None
        } else if self.rearm_inactivity {
            Some(self.last_rx) // due now: re-arm from the caller's clock
        } else {
            self.last_rx.checked_add(self.config.inactivity_timeout)
        };
        match (pacing, inactivity) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn stats(&self) -> RtpStats {
        let lost = self.lost_before + self.seq_state.map_or(0, |s| s.lost());
        RtpStats { lost, ..self.stats }
    }
}
