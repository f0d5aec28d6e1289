//! The sans-IO RTP session driven with fake time (no sockets, no sleeps).
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use media::{Codec, Direction, DtmfSource, MediaEvent, Pcm, RtpConfig, RtpSession};

const PEER: &str = "192.0.2.10:40000";
const NAT: &str = "198.51.100.7:31000";
const ATTACKER: &str = "203.0.113.66:5004";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(remote: Option<&str>) -> RtpConfig {
    RtpConfig {
        payload_type: Codec::Pcmu.payload_type(),
        codec: Codec::Pcmu,
        telephone_event_pt: Some(101),
        remote: remote.map(addr),
        inactivity_timeout: Duration::from_secs(60),
        ssrc: 0x1234_5678,
        initial_sequence: 65_530, // wraps during the tests
        initial_timestamp: u32::MAX - 1000,
    }
}

fn tone_pcm(ms: u32) -> Pcm {
    let samples: Vec<i16> = (0..ms * 8).map(|n| ((n as f32 * 0.2).sin() * 8000.0) as i16 | 1).collect();
    Pcm::new(samples, 8000)
}

/// A session plus a virtual clock; collects what it sends and reports.
struct Harness {
    session: RtpSession,
    t0: Instant,
    now: Instant,
    sent: Vec<(Duration, Sent, SocketAddr)>,
    events: Vec<(Duration, MediaEvent)>,
    buf: [u8; 1500],
}

impl Harness {
    fn new(config: RtpConfig) -> Self {
        let t0 = Instant::now();
        Harness { session: RtpSession::new(config, t0), t0, now: t0, sent: Vec::new(), events: Vec::new(), buf: [0; 1500] }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn drain(&mut self) {
        while let Some((len, to)) = self.session.poll_transmit(&mut self.buf) {
            let packet = parse_sent(&self.buf[..len]);
            self.sent.push((self.now - self.t0, packet, to));
        }
        while let Some(ev) = self.session.poll_event() {
            self.events.push((self.now - self.t0, ev));
        }
    }

    /// Advances the clock in `tick` steps up to `t0 + until`, like a real
    /// edge that wakes at every `poll_timeout` (with `tick` granularity).
    fn run_until(&mut self, until: Duration, tick: Duration) {
        self.session.handle_timeout(self.now);
        self.drain();
        while self.elapsed() + tick <= until {
            self.now += tick;
            if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
                self.session.handle_timeout(self.now);
            }
            self.drain();
        }
    }

    fn receive(&mut self, datagram: &[u8], from: &str) {
        self.session.handle_receive(datagram, addr(from), self.now);
        self.drain();
    }

    fn take_events(&mut self) -> Vec<MediaEvent> {
        std::mem::take(&mut self.events).into_iter().map(|(_, e)| e).collect()
    }
}

#[test]
fn paces_fifty_packets_per_second_on_absolute_deadlines() {
    let mut h = Harness::new(config(Some(PEER)));
    h.session.play(tone_pcm(2000), 1, h.now).unwrap();
    h.run_until(Duration::from_millis(999), Duration::from_millis(1));
    assert_eq!(h.sent.len(), 50);
    for (n, (at, p, to)) in h.sent.iter().enumerate() {
        assert_eq!(*at, Duration::from_millis(20 * n as u64), "packet {n} on its deadline");
        assert_eq!(*to, addr(PEER));
        assert_eq!((p.pt, p.ssrc, p.payload.len()), (0, 0x1234_5678, 160));
        assert_eq!(p.seq, 65_530u16.wrapping_add(n as u16));
        assert_eq!(p.ts, (u32::MAX - 1000).wrapping_add(160 * n as u32));
        assert_eq!(p.marker, n == 0, "marker only on the first packet");
    }
}

#[test]
fn coarse_or_odd_wakeups_do_not_drift() {
    let mut h = Harness::new(config(Some(PEER)));
    h.run_until(Duration::from_secs(10), Duration::from_millis(7));
    assert_eq!(h.sent.len(), 500);
    for (n, (at, p, _)) in h.sent.iter().enumerate() {
        let deadline = Duration::from_millis(20 * n as u64);
        assert!(*at >= deadline && *at < deadline + Duration::from_millis(7), "packet {n} at {at:?}");
        assert_eq!(p.ts, (u32::MAX - 1000).wrapping_add(160 * n as u32));
    }
    assert_eq!(h.sent.iter().filter(|(_, p, _)| p.marker).count(), 1);
    // Silence is µ-law 0xFF.
    assert!(h.sent[1].1.payload.iter().all(|&b| b == 0xFF));
}

#[test]
fn a_stall_sends_one_packet_and_keeps_timestamps_on_wall_time() {
    let mut h = Harness::new(config(Some(PEER)));
    h.run_until(Duration::from_millis(100), Duration::from_millis(1));
    assert_eq!(h.sent.len(), 6); // 0, 20, … 100 ms
    let last = h.sent.last().unwrap().1.clone();
    // The edge sleeps through 5 deadlines (the process stalled 110 ms).
    h.now += Duration::from_millis(115); // t = 215 ms
    h.session.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.sent.len(), 7, "one packet, no burst");
    let p = &h.sent[6].1;
    assert_eq!(p.seq, last.seq.wrapping_add(1));
    assert_eq!(p.ts, last.ts.wrapping_add(160 * 5), "timestamp of the 200 ms deadline");
    assert!(p.marker, "timestamp jump marked like a new talkspurt");
    // Back on the original grid: next at 220 ms.
    assert_eq!(h.session.poll_timeout(), Some(h.t0 + Duration::from_millis(220)));
    h.run_until(Duration::from_millis(250), Duration::from_millis(1));
    assert_eq!(h.sent.len(), 9);
    assert_eq!(h.sent[7].0, Duration::from_millis(220));
    assert_eq!(h.sent[8].1.ts, last.ts.wrapping_add(160 * 7));
}

#[test]
fn playback_events_on_the_right_packets() {
    let mut h = Harness::new(config(Some(PEER)));
    h.run_until(Duration::from_millis(40), Duration::from_millis(1)); // 3 silence packets
    h.session.play(tone_pcm(500), 7, h.now).unwrap();
    h.run_until(Duration::from_millis(1000), Duration::from_millis(1));
    let started = h.events.iter().find(|(_, e)| *e == MediaEvent::PlaybackStarted { id: 7 }).unwrap().0;
    let finished = h.events.iter().find(|(_, e)| *e == MediaEvent::PlaybackFinished { id: 7 }).unwrap().0;
    assert_eq!(started, Duration::from_millis(60));
    assert_eq!(finished, Duration::from_millis(60 + 24 * 20), "with the 25th prompt packet");
    let first = h.sent.iter().position(|(at, _, _)| *at == started).unwrap();
    assert!(h.sent[first].1.marker && !h.sent[first + 1].1.marker);
    let pcm = tone_pcm(500);
    let mut expected = vec![0u8; pcm.samples.len()];
    Codec::Pcmu.encode(&pcm.samples, &mut expected);
    let got: Vec<u8> = h.sent[first..first + 25].iter().flat_map(|(_, p, _)| p.payload.clone()).collect();
    assert_eq!(got, expected);
    assert!(h.sent[first + 25].1.payload.iter().all(|&b| b == 0xFF), "silence after the prompt");
    assert_eq!(h.events.iter().filter(|(_, e)| matches!(e, MediaEvent::FirstPacketSent)).count(), 1);
}

#[test]
fn a_partial_last_frame_is_padded_with_silence() {
    let mut h = Harness::new(config(Some(PEER)));
    h.session.play(Pcm::new(vec![5000i16; 170], 8000), 1, h.now).unwrap();
    h.run_until(Duration::from_millis(20), Duration::from_millis(1));
    assert_eq!(
        h.take_events(),
        [MediaEvent::FirstPacketSent, MediaEvent::PlaybackStarted { id: 1 }, MediaEvent::PlaybackFinished { id: 1 }]
    );
    let second = &h.sent[1].1.payload;
    assert!(second[..10].iter().all(|&b| b != 0xFF) && second[10..].iter().all(|&b| b == 0xFF));
}

#[test]
fn stop_playback_is_barge_in() {
    let mut h = Harness::new(config(Some(PEER)));
    h.session.play(tone_pcm(3000), 3, h.now).unwrap();
    h.run_until(Duration::from_millis(100), Duration::from_millis(1));
    h.session.stop_playback(h.now + Duration::from_millis(1));
    h.drain();
    assert_eq!(h.events.last().unwrap().1, MediaEvent::PlaybackFinished { id: 3 });
    h.run_until(Duration::from_millis(120), Duration::from_millis(1));
    let next = &h.sent.last().unwrap().1;
    assert!(next.payload.iter().all(|&b| b == 0xFF), "the next packet is silence");
    // Stopping again is a no-op.
    h.session.stop_playback(h.now);
    assert_eq!(h.session.poll_event(), None);
}

#[test]
fn play_replaces_without_finishing_the_old_one_and_checks_the_rate() {
    let mut h = Harness::new(config(Some(PEER)));
    h.session.play(tone_pcm(1000), 1, h.now).unwrap();
    h.run_until(Duration::from_millis(40), Duration::from_millis(1));
    h.session.play(tone_pcm(40), 2, h.now).unwrap();
    h.run_until(Duration::from_millis(200), Duration::from_millis(1));
    let events = h.take_events();
    assert!(!events.contains(&MediaEvent::PlaybackFinished { id: 1 }));
    assert!(events.ends_with(&[MediaEvent::PlaybackStarted { id: 2 }, MediaEvent::PlaybackFinished { id: 2 }]));
    assert!(h.sent[3].1.marker, "new prompt, new marker");
    let err = h.session.play(Pcm::new(vec![0i16; 16_000], 16_000), 3, h.now).unwrap_err();
    assert!(matches!(err, media::MediaError::UnsupportedSampleRate { rate: 16_000 }));
}

#[test]
fn a_streamed_prompt_plays_its_first_chunk_before_the_rest_exists() {
    let mut h = Harness::new(config(Some(PEER)));
    let pcm = tone_pcm(200); // 10 frames, delivered as 3 uneven chunks
    let (a, rest) = pcm.samples.split_at(250);
    let (b, c) = rest.split_at(700);
    h.session.play_stream(Pcm::new(a.to_vec(), 8000), 9, h.now).unwrap();
    h.run_until(Duration::from_millis(40), Duration::from_millis(1)); // 3 packets; the 2nd runs dry
    assert_eq!(h.take_events()[..2], [MediaEvent::FirstPacketSent, MediaEvent::PlaybackStarted { id: 9 }]);
    assert!(h.sent[0].1.marker);
    assert_eq!(h.session.stats().playback_underruns, 2, "frame 2 half empty, frame 3 empty");
    h.session.append_playback(9, Pcm::new(b.to_vec(), 8000)).unwrap();
    h.session.append_playback(8, Pcm::new(vec![1; 800], 8000)).unwrap(); // not this prompt: ignored
    h.session.append_playback(9, Pcm::new(c.to_vec(), 8000)).unwrap();
    h.run_until(Duration::from_millis(400), Duration::from_millis(1));
    assert!(!h.events.iter().any(|(_, e)| matches!(e, MediaEvent::PlaybackFinished { .. })), "not ended: waits for more");
    h.session.end_playback(9);
    h.run_until(Duration::from_millis(420), Duration::from_millis(1));
    assert_eq!(h.take_events(), [MediaEvent::PlaybackFinished { id: 9 }]);
    // Every sample arrived, in order, after the padding of the underrun.
    let got: Vec<u8> = h.sent.iter().flat_map(|(_, p, _)| p.payload.clone()).filter(|&b| b != 0xFF).collect();
    let mut expected = vec![0u8; pcm.samples.len()];
    Codec::Pcmu.encode(&pcm.samples, &mut expected);
    assert_eq!(got, expected.into_iter().filter(|&b| b != 0xFF).collect::<Vec<_>>());
    let err = h.session.append_playback(9, Pcm::new(vec![0; 10], 16_000)).unwrap_err();
    assert!(matches!(err, media::MediaError::UnsupportedSampleRate { rate: 16_000 }));
}

#[test]
fn without_an_sdp_address_a_source_latches_after_probation() {
    let mut h = Harness::new(config(None));
    h.run_until(Duration::from_millis(100), Duration::from_millis(1));
    assert!(h.sent.is_empty(), "nowhere to send yet");
    assert_eq!(h.session.poll_timeout(), Some(h.t0 + Duration::from_secs(60)));
    h.receive(b"\x00garbage", NAT);
    for seq in 1..=4u16 {
        assert!(h.take_events().is_empty(), "latched after {} packets", seq - 1);
        h.receive(&rtp_packet(0, seq == 1, seq, u32::from(seq) * 160, 9, &[0xFF; 160]), NAT);
    }
    assert_eq!(h.take_events(), [MediaEvent::Latched(addr(NAT))]);
    assert_eq!(h.session.stats().packets_rejected, 3, "the probation packets");
    h.run_until(Duration::from_millis(160), Duration::from_millis(1));
    assert!(h.sent.len() >= 2 && h.sent.iter().all(|(_, _, to)| *to == addr(NAT)));
    assert_eq!(h.sent[0].0, Duration::from_millis(100), "sent at once after latching");
    assert_eq!(h.take_events(), [MediaEvent::FirstPacketSent]);
    // Others cannot hijack the stream.
    h.receive(&rtp_packet(0, false, 5, 800, 66, &[0xFF; 160]), ATTACKER);
    assert_eq!(h.session.remote(), Some(addr(NAT)));
    assert_eq!((h.session.stats().packets_ignored, h.session.stats().packets_rejected), (5, 4));
    // A new address from signalling: send there, latch on its first packet.
    h.session.set_remote(addr(PEER));
    h.run_until(Duration::from_millis(200), Duration::from_millis(1));
    assert_eq!(h.sent.last().unwrap().2, addr(PEER));
    h.receive(&rtp_packet(0, false, 3, 320, 9, &[0xFF; 160]), PEER);
    assert_eq!(h.take_events(), [MediaEvent::Latched(addr(PEER))]);
    // Re-announcing the same address keeps the latch.
    h.session.set_remote(addr(PEER));
    assert_eq!(h.session.remote(), Some(addr(PEER)));
}

/// The telephone-event packets of SIPp's `dtmf_2833_1.pcap` (RTP headers
/// and payloads, byte for byte): start with marker, 6 updates, 3 ends.
const SIPP_DIGIT_1: [&str; 10] = [
    "80e51f30000033e00e05384e010a0000",
    "80651f31000033e00e05384e010a0140",
    "80651f32000033e00e05384e010a0280",
    "80651f33000033e00e05384e010a03c0",
    "80651f34000033e00e05384e010a0500",
    "80651f35000033e00e05384e010a0640",
    "80651f36000033e00e05384e010a0780",
    "80651f37000033e00e05384e018a08c0",
    "80651f37000033e00e05384e018a08c0",
    "80651f37000033e00e05384e018a08c0",
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn rfc4733_digit_once_from_sipp_packets() {
    let mut h = Harness::new(config(Some(PEER)));
    for packet in SIPP_DIGIT_1 {
        h.now += Duration::from_millis(20);
        h.receive(&hex(packet), PEER);
    }
    let dtmf: Vec<_> = h.take_events().into_iter().filter(|e| matches!(e, MediaEvent::Dtmf { .. })).collect();
    assert_eq!(dtmf, [MediaEvent::Dtmf { digit: '1', source: DtmfSource::Rfc4733 }]);
    let stats = h.session.stats();
    assert_eq!((stats.packets_received, stats.lost), (10, 0), "end retransmissions are not losses");
}

#[test]
fn rfc4733_end_packets_alone_give_the_digit_once() {
    let mut h = Harness::new(config(Some(PEER)));
    for packet in &SIPP_DIGIT_1[7..] {
        h.receive(&hex(packet), PEER);
    }
    let events = h.take_events();
    assert_eq!(events.iter().filter(|e| matches!(e, MediaEvent::Dtmf { digit: '1', .. })).count(), 1);
}

fn tone_packets(key: char, ms: f32, seq0: u16) -> Vec<Vec<u8>> {
    let mut audio = to_pcm(&concat(&[dtmf(key, ms, -10.0, -10.0), silence(100.0)]));
    audio.resize(audio.len().div_ceil(160) * 160, 0);
    audio
        .chunks(160)
        .enumerate()
        .map(|(i, frame)| {
            let mut payload = [0u8; 160];
            Codec::Pcmu.encode(frame, &mut payload);
            rtp_packet(0, i == 0, seq0.wrapping_add(i as u16), 160 * i as u32, 77, &payload)
        })
        .collect()
}

#[test]
fn inband_digit_from_g711_packets_and_dedup_with_rfc4733() {
    let mut h = Harness::new(config(Some(PEER)));
    for p in tone_packets('5', 80.0, 100) {
        h.now += Duration::from_millis(20);
        h.receive(&p, PEER);
    }
    let dtmf: Vec<_> = h.take_events().into_iter().filter(|e| matches!(e, MediaEvent::Dtmf { .. })).collect();
    assert_eq!(dtmf, [MediaEvent::Dtmf { digit: '5', source: DtmfSource::InBand }]);
    // The same press also signalled by RFC 4733 (a gateway doing both).
    h.receive(&rtp_packet(101, true, 200, 90_000, 77, &[5, 0x0a, 0, 0]), PEER);
    assert!(h.take_events().is_empty(), "same key within 200 ms is one press");
    // A later press via RFC 4733 is reported.
    h.now += Duration::from_millis(300);
    h.receive(&rtp_packet(101, true, 201, 99_000, 77, &[5, 0x8a, 3, 0]), PEER);
    assert_eq!(h.take_events(), [MediaEvent::Dtmf { digit: '5', source: DtmfSource::Rfc4733 }]);
}

#[test]
fn inactivity_is_reported_once_and_rearmed_by_traffic() {
    let mut h = Harness::new(config(Some(PEER)));
    h.run_until(Duration::from_secs(59), Duration::from_millis(20));
    assert!(!h.events.iter().any(|(_, e)| *e == MediaEvent::Inactive));
    h.run_until(Duration::from_secs(130), Duration::from_millis(20));
    let inactive: Vec<_> = h.events.iter().filter(|(_, e)| *e == MediaEvent::Inactive).collect();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].0, Duration::from_secs(60));
    h.receive(&rtp_packet(0, true, 1, 0, 5, &[0xFF; 160]), PEER);
    h.run_until(Duration::from_secs(191), Duration::from_millis(20));
    assert_eq!(h.events.iter().filter(|(_, e)| *e == MediaEvent::Inactive).count(), 2);
}

#[test]
fn hold_stops_sending_and_resume_tracks_wall_time() {
    let mut h = Harness::new(config(Some(PEER)));
    h.run_until(Duration::from_millis(100), Duration::from_millis(1));
    let before = h.sent.len();
    let last_ts = h.sent.last().unwrap().1.ts;
    h.session.set_direction(Direction::Inactive);
    h.run_until(Duration::from_secs(100), Duration::from_millis(5));
    assert_eq!(h.sent.len(), before, "no packets while on hold");
    assert_eq!(h.session.poll_timeout(), None, "nothing to wake up for");
    assert!(!h.events.iter().any(|(_, e)| *e == MediaEvent::Inactive), "no inactivity while held");
    h.session.set_direction(Direction::SendRecv);
    h.run_until(Duration::from_millis(100_010), Duration::from_millis(5));
    let resumed = &h.sent[before];
    assert_eq!(resumed.0, Duration::from_secs(100), "sent on the first wake-up");
    assert!(resumed.1.marker);
    assert_eq!(resumed.1.ts, last_ts.wrapping_add(160 * (100_000 - 100) / 20));
    // Inactivity counts again from the resume.
    h.run_until(Duration::from_secs(159), Duration::from_millis(20));
    assert!(!h.events.iter().any(|(_, e)| *e == MediaEvent::Inactive));
    h.run_until(Duration::from_secs(161), Duration::from_millis(20));
    assert!(h.events.iter().any(|(_, e)| *e == MediaEvent::Inactive));
    // RecvOnly (the peer holds us with sendonly): still no sending.
    let n = h.sent.len();
    h.session.set_direction(Direction::RecvOnly);
    h.run_until(Duration::from_secs(162), Duration::from_millis(20));
    assert_eq!(h.sent.len(), n);
}

#[test]
fn sequence_gaps_count_as_lost() {
    let mut h = Harness::new(config(Some(PEER)));
    for seq in [65_534u16, 65_535, 0, 3, 3, 4, 2] {
        h.receive(&rtp_packet(0, false, seq, u32::from(seq) * 160, 42, &[0xFF; 160]), PEER);
    }
    // Expected 65534..=4 (7), received 6 distinct: seq 1 is missing.
    let stats = h.session.stats();
    assert_eq!((stats.packets_received, stats.lost, stats.bytes_received), (7, 1, 7 * 160));
}

#[test]
fn bad_packets_are_ignored_without_panicking() {
    let mut h = Harness::new(config(Some(PEER)));
    let good = rtp_packet(0, false, 1, 0, 1, &[0xFF; 160]);
    let mut bad: Vec<Vec<u8>> = vec![vec![], vec![0x80], good[..11].to_vec()];
    let mut v1 = good.clone();
    v1[0] = 0x40; // version 1
    bad.push(v1);
    bad.push(rtp_packet(13, false, 2, 0, 1, &[0; 1])); // comfort noise: not negotiated
    bad.push(rtp_packet(8, false, 2, 0, 1, &[0xD5; 160])); // PCMA while PCMU was agreed
                                                           // One-byte extension whose element claims 16 bytes in a 4-byte block.
    let mut ext = vec![0x90, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x1F, 0, 0, 0];
    bad.push(ext.clone());
    ext.truncate(17);
    bad.push(ext);
    // Two-byte extension with a dangling length byte.
    bad.push(vec![0x90, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x00, 0, 1, 0, 0, 0, 7]);
    // Padding longer than the payload, and zero padding.
    bad.push(vec![0xA0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 9]);
    bad.push(vec![0xA0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0]);
    bad.push(vec![0x8F, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1]); // 15 CSRCs missing
    for p in &bad {
        h.receive(p, PEER);
    }
    assert_eq!(h.session.stats().packets_received, 0);
    assert_eq!(h.session.stats().packets_ignored, bad.len() as u64);
    // Random datagrams never panic.
    let mut noise = Noise::new(11);
    for len in 0..3000 {
        let mut d: Vec<u8> = (0..len % 300).map(|_| (noise.uniform() * 128.0 + 128.0) as u8).collect();
        if let Some(b) = d.first_mut() {
            *b = (*b & 0x3F) | 0x80; // mostly version 2, to reach the parser
        }
        h.receive(&d, PEER);
    }
    // A well-formed packet with CSRCs, an extension and padding is accepted.
    let mut rich = vec![0xB1, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0];
    rich.extend_from_slice(&[0xFF; 160]);
    rich.extend_from_slice(&[0, 0, 0, 4]);
    let before = h.session.stats().bytes_received;
    h.receive(&rich, PEER);
    assert_eq!(h.session.stats().bytes_received - before, 160);
}

#[test]
fn once_the_peer_signals_rfc4733_inband_detection_is_off() {
    // A peer that sends telephone-event signals keys that way; tones in its
    // audio (music on hold, talk-off) must not become digits.
    let mut h = Harness::new(config(Some(PEER)));
    h.receive(&rtp_packet(101, true, 50, 1_000, 77, &[1, 0x8a, 3, 0]), PEER);
    assert_eq!(h.take_events().iter().filter(|e| matches!(e, MediaEvent::Dtmf { .. })).count(), 1);
    for p in tone_packets('5', 120.0, 100) {
        h.now += Duration::from_millis(20);
        h.receive(&p, PEER);
    }
    assert!(!h.take_events().iter().any(|e| matches!(e, MediaEvent::Dtmf { .. })), "in-band tone ignored");
}

#[test]
fn a_dynamic_payload_type_for_pcmu_is_sent_and_received() {
    let mut cfg = config(Some(PEER));
    cfg.payload_type = 96;
    let mut h = Harness::new(cfg);
    for p in tone_packets('7', 80.0, 10) {
        let mut p = p;
        p[1] = (p[1] & 0x80) | 96;
        h.now += Duration::from_millis(20);
        h.receive(&p, PEER);
    }
    assert!(h.take_events().contains(&MediaEvent::Dtmf { digit: '7', source: DtmfSource::InBand }), "PT 96 decoded as PCMU");
    let mut buf = [0u8; 256];
    h.session.handle_timeout(h.now);
    let (n, _) = h.session.poll_transmit(&mut buf).expect("a packet");
    assert!(n > 12);
    assert_eq!(buf[1] & 0x7f, 96, "sent with the negotiated payload type");
}

#[test]
fn interarrival_jitter_follows_rfc_3550_a8() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(None), t0);
    let peer = addr("127.0.0.1:40000");
    let payload = [0xFFu8; 160];
    // Steady 20 ms spacing: no jitter.
    for i in 0..50u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        s.handle_receive(&rtp_packet(0, false, i, 160 * u32::from(i), 7, &payload), peer, at);
    }
    assert_eq!(s.stats().jitter_us, 0);
    // Alternating 15/25 ms arrivals: |D| = 5 ms each time, J tends to 5 ms.
    let mut at = t0 + Duration::from_millis(20 * 49);
    for i in 50..400u16 {
        at += Duration::from_millis(if i % 2 == 0 { 15 } else { 25 });
        s.handle_receive(&rtp_packet(0, false, i, 160 * u32::from(i), 7, &payload), peer, at);
    }
    let j = s.stats().jitter_us;
    assert!((4_900..=5_000).contains(&j), "{j} µs");
}
