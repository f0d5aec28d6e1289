//! The recording tap of an RTP session (issue #19): received audio goes to
//! one channel, sent prompt audio to the other, through a bounded queue
//! that drops (and counts) rather than block.
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use media::recorder::{RecordChannel, RecordInput, RecordSpec, RecordTap};
use media::{Codec, Pcm, RtpConfig, RtpSession};

const PEER: &str = "192.0.2.10:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn session(t0: Instant) -> RtpSession {
    RtpSession::new(
        RtpConfig {
            payload_type: Codec::Pcmu.payload_type(),
            codec: Codec::Pcmu,
            telephone_event_pt: Some(101),
            remote: Some(addr(PEER)),
            inactivity_timeout: Duration::from_secs(60),
            ssrc: 7,
            initial_sequence: 1,
            initial_timestamp: 0,
        },
        t0,
    )
}

fn frames(rx: &mut tokio::sync::mpsc::Receiver<RecordInput>) -> Vec<(RecordChannel, Duration, Vec<i16>)> {
    let mut out = Vec::new();
    while let Ok(RecordInput::Frame(f)) = rx.try_recv() {
        out.push((f.channel, f.at.elapsed(), f.audio().to_vec()));
    }
    out
}

#[test]
fn received_and_sent_audio_reach_their_channels() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let (tap, mut rx) = RecordTap::channel(64);
    s.set_record(Some(RecordSpec { tap: tap.clone(), received: RecordChannel::Caller, sent: Some(RecordChannel::Bot) }));
    let tone: Vec<i16> = (0..160).map(|n| ((n as f32 * 0.2).sin() * 8000.0) as i16).collect();
    s.play(Pcm::new(tone.clone(), 8000), 1, t0).expect("plays");
    s.handle_timeout(t0);
    let mut buf = [0u8; 1500];
    assert!(s.poll_transmit(&mut buf).is_some());
    let mut payload = [0u8; 160];
    Codec::Pcmu.encode(&[3000; 160], &mut payload);
    s.handle_receive(&rtp_packet(0, false, 1, 0, 99, &payload), addr(PEER), t0 + Duration::from_millis(5));
    let got = frames(&mut rx);
    assert_eq!(got.len(), 2, "{got:?}");
    let bot = got.iter().find(|f| f.0 == RecordChannel::Bot).expect("bot frame");
    let energy: i64 = bot.2.iter().map(|&s| i64::from(s).abs()).sum();
    assert!(energy > 160 * 1000, "the prompt is on the bot channel");
    let caller = got.iter().find(|f| f.0 == RecordChannel::Caller).expect("caller frame");
    assert!(caller.2.iter().all(|&s| (2900..3100).contains(&s)), "{:?}", &caller.2[..4]);

    // A writer that does not keep up: frames are dropped and counted.
    for seq in 2..200u16 {
        s.handle_receive(&rtp_packet(0, false, seq, u32::from(seq) * 160, 99, &payload), addr(PEER), t0);
    }
    assert!(tap.dropped() > 100, "dropped {}", tap.dropped());
    s.set_record(None);
    let _ = frames(&mut rx);
    s.handle_receive(&rtp_packet(0, false, 300, 48_000, 99, &payload), addr(PEER), t0);
    assert!(frames(&mut rx).is_empty(), "stopped");
}
