//! Media-path micro-benchmarks: G.711, in-band DTMF (Goertzel), RFC 4733
//! parsing and the sans-IO RTP session. Every per-frame bench works on one
//! 20 ms frame (160 samples at 8 kHz): at 50 frames/s a call costs
//! `time × 50` per second of one core. See BENCHMARKS.md.
//!
//! There is no jitter buffer yet, so there is no jitter-buffer bench.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use media::codec::FRAME_SAMPLES;
use media::{g711, Codec, DtmfDetector, Pcm, RtpConfig, RtpSession, TelephoneEvent};

/// One second of speech-like 8 kHz audio (a few tones with a slow envelope).
fn speech_like(samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            let s = (2.0 * std::f32::consts::PI * 220.0 * t).sin() * 0.5
                + (2.0 * std::f32::consts::PI * 710.0 * t).sin() * 0.3
                + (2.0 * std::f32::consts::PI * 1830.0 * t).sin() * 0.2;
            (s * env * 12000.0) as i16
        })
        .collect()
}

/// 8 kHz audio alternating 100 ms of DTMF '5' (770 + 1336 Hz) and 100 ms of
/// silence, so the detector goes through press and release.
fn dtmf_keys(samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            if (i / 800) % 2 == 1 {
                return 0;
            }
            let t = i as f32 / 8000.0;
            let s = (2.0 * std::f32::consts::PI * 770.0 * t).sin() + (2.0 * std::f32::consts::PI * 1336.0 * t).sin();
            (s * 6000.0) as i16
        })
        .collect()
}

fn g711_benches(c: &mut Criterion) {
    let pcm = speech_like(FRAME_SAMPLES);
    let mut codes = [0u8; FRAME_SAMPLES];
    let mut out = [0i16; FRAME_SAMPLES];
    let mut group = c.benchmark_group("g711_frame_160");
    group.bench_function("ulaw_encode", |b| b.iter(|| g711::encode_ulaw(black_box(&pcm), black_box(&mut codes))));
    g711::encode_ulaw(&pcm, &mut codes);
    group.bench_function("ulaw_decode", |b| b.iter(|| g711::decode_ulaw(black_box(&codes), black_box(&mut out))));
    group.bench_function("alaw_encode", |b| b.iter(|| g711::encode_alaw(black_box(&pcm), black_box(&mut codes))));
    g711::encode_alaw(&pcm, &mut codes);
    group.bench_function("alaw_decode", |b| b.iter(|| g711::decode_alaw(black_box(&codes), black_box(&mut out))));
    group.finish();
}

fn goertzel_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtmf_detector_frame_160");
    for (name, audio) in [("speech", speech_like(8000)), ("keys", dtmf_keys(8000))] {
        let frames: Vec<&[i16]> = audio.chunks_exact(FRAME_SAMPLES).collect();
        let mut detector = DtmfDetector::new();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                detector.push(black_box(frames[i % frames.len()]));
                i += 1;
                while let Some(key) = detector.poll_digit() {
                    black_box(key);
                }
            })
        });
    }
    group.finish();
}

fn rfc4733_benches(c: &mut Criterion) {
    // Event 5, end bit, volume 10, duration 800.
    let payload = [5u8, 0x8a, 0x03, 0x20];
    c.bench_function("rfc4733_parse", |b| b.iter(|| TelephoneEvent::parse(black_box(&payload))));
}

/// A PCMU RTP packet (12-byte header + 160 bytes of payload).
fn pcmu_packet(seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn rtp_benches(c: &mut Criterion) {
    let source: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let start = Instant::now();
    let mut payload = [0u8; FRAME_SAMPLES];
    g711::encode_ulaw(&speech_like(FRAME_SAMPLES), &mut payload);
    let mut group = c.benchmark_group("rtp_session");

    // Receive: parse, latch, sequence tracking, decode and in-band DTMF.
    for (name, te_seen) in [("handle_receive_pcmu", false), ("handle_receive_pcmu_after_rfc4733", true)] {
        let mut config = RtpConfig::new(Codec::Pcmu);
        config.telephone_event_pt = Some(101);
        let mut session = RtpSession::new(config, start);
        let mut packet = pcmu_packet(1, 160, &payload);
        if te_seen {
            let mut ev = pcmu_packet(0, 0, &[1, 0x0a, 0, 160]);
            ev[1] = 101;
            session.handle_receive(&ev, source, start);
        }
        let mut seq: u16 = 1;
        let mut now = start;
        group.bench_function(name, |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                now += Duration::from_millis(20);
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                session.handle_receive(black_box(&packet), source, now);
                while let Some(ev) = session.poll_event() {
                    black_box(ev);
                }
            })
        });
    }

    // Transmit during playback: one 20 ms tick = handle_timeout + one packet.
    let mut config = RtpConfig::new(Codec::Pcmu);
    config.remote = Some(source);
    let mut session = RtpSession::new(config, start);
    let prompt = Pcm::new(speech_like(8000 * 10), 8000);
    session.play(prompt.clone(), 1, start).unwrap();
    let mut buf = [0u8; 1500];
    let mut now = start;
    let mut id = 1;
    group.bench_function("poll_transmit_playback", |b| {
        b.iter(|| {
            session.handle_timeout(now);
            let sent = session.poll_transmit(black_box(&mut buf));
            black_box(sent);
            while let Some(ev) = session.poll_event() {
                if matches!(ev, media::MediaEvent::PlaybackFinished { .. }) {
                    id += 1;
                    session.play(prompt.clone(), id, now).unwrap();
                }
            }
            now += Duration::from_millis(20);
        })
    });
    group.finish();
}

criterion_group!(benches, g711_benches, goertzel_benches, rfc4733_benches, rtp_benches);
criterion_main!(benches);
