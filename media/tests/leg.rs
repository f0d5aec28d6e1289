//! The media engine on loopback: real sockets, real time, real shard threads.
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use media::{bind_rtp_socket, Codec, DtmfSource, MediaCommand, MediaEngine, MediaError, MediaEvent, Pcm, RtpConfig, RtpSession};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn engine() -> MediaEngine {
    static ENGINE: std::sync::OnceLock<MediaEngine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| MediaEngine::start(2, false).unwrap()).clone()
}

async fn recv_packet(peer: &UdpSocket) -> Option<Sent> {
    let mut buf = [0u8; 1500];
    let (len, _) = timeout(Duration::from_secs(2), peer.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(parse_sent(&buf[..len]))
}

async fn next_event(leg: &mut media::MediaLeg, within: Duration) -> Option<MediaEvent> {
    timeout(within, leg.events.recv()).await.ok().flatten()
}

#[tokio::test]
async fn plays_a_prompt_and_reports_rfc4733_digits() {
    let (socket, port) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let mut config = RtpConfig::new(Codec::Pcmu);
    config.telephone_event_pt = Some(101);
    config.remote = Some(peer.local_addr().unwrap());
    let session = RtpSession::new(config, tokio::time::Instant::now().into_std());
    let mut leg = engine().spawn_leg(socket, session).unwrap();
    assert_eq!(leg.local_port, port);

    // A 500 ms 1 kHz tone: 25 packets.
    let tone: Vec<i16> = (0..4000).map(|n| ((n as f32 * std::f32::consts::PI / 4.0).sin() * 10_000.0) as i16).collect();
    leg.commands.send(MediaCommand::Play { pcm: Pcm::new(tone, 8000), id: 42 }).unwrap();
    let mut prompt = Vec::new();
    let mut last_seq = None;
    while prompt.len() < 25 {
        let p = recv_packet(&peer).await.expect("RTP keeps flowing");
        if let Some(prev) = last_seq {
            assert_eq!(p.seq, u16::wrapping_add(prev, 1), "in order, no gaps");
        }
        last_seq = Some(p.seq);
        if p.payload.iter().any(|&b| b != 0xFF) {
            prompt.push(p);
        } else {
            assert!(prompt.is_empty(), "no silence inside the prompt");
        }
    }
    assert!(prompt[0].marker);
    for w in prompt.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 160);
    }
    // Silence follows the prompt.
    assert!(recv_packet(&peer).await.unwrap().payload.iter().all(|&b| b == 0xFF));

    let mut events = Vec::new();
    while let Some(e) = next_event(&mut leg, Duration::from_millis(100)).await {
        events.push(e);
    }
    assert!(events.contains(&MediaEvent::FirstPacketSent));
    let started = events.iter().position(|e| *e == MediaEvent::PlaybackStarted { id: 42 }).unwrap();
    let finished = events.iter().position(|e| *e == MediaEvent::PlaybackFinished { id: 42 }).unwrap();
    assert!(started < finished);

    // Digit 5: three end packets of one event (RFC 4733 §2.5.1.4).
    let to: SocketAddr = (LOCALHOST, port).into();
    for _ in 0..3 {
        peer.send_to(&rtp_packet(101, false, 7, 48_000, 99, &[5, 0x8a, 0x03, 0x20]), to).await.unwrap();
    }
    let mut dtmf = Vec::new();
    while let Some(e) = next_event(&mut leg, Duration::from_millis(300)).await {
        if let MediaEvent::Dtmf { digit, source } = e {
            dtmf.push((digit, source));
        }
    }
    assert_eq!(dtmf, [('5', DtmfSource::Rfc4733)]);

    leg.commands.send(MediaCommand::Close).unwrap();
    let stats = timeout(Duration::from_secs(2), leg.finished).await.unwrap().unwrap();
    assert_eq!(stats.packets_received, 3);
    assert!(stats.packets_sent >= 26 && stats.first_packet_sent_at.is_some());
}

#[tokio::test]
async fn dropping_the_handle_ends_the_leg() {
    let (socket, _) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
    let session = RtpSession::new(RtpConfig::new(Codec::Pcma), tokio::time::Instant::now().into_std());
    let leg = engine().spawn_leg(socket, session).unwrap();
    let finished = leg.finished;
    drop(leg.events);
    // Reaped at the next housekeeping pass.
    let stats = timeout(Duration::from_secs(2), finished).await.unwrap().unwrap();
    assert_eq!(stats.packets_sent, 0, "no remote, nothing sent");
}

#[tokio::test]
async fn a_rejected_prompt_still_finishes() {
    let (socket, _) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
    let session = RtpSession::new(RtpConfig::new(Codec::Pcmu), tokio::time::Instant::now().into_std());
    let mut leg = engine().spawn_leg(socket, session).unwrap();
    leg.commands.send(MediaCommand::Play { pcm: Pcm::new(vec![0i16; 160], 16_000), id: 9 }).unwrap();
    assert_eq!(next_event(&mut leg, Duration::from_secs(2)).await, Some(MediaEvent::PlaybackFinished { id: 9 }));
}

#[tokio::test]
async fn binds_even_ports_in_the_range() {
    // Find an even port the OS considers free, then ask for a range around it.
    let probe = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let p = probe.local_addr().unwrap().port() & !1;
    drop(probe);
    let (a, port_a) = bind_rtp_socket(LOCALHOST, p..=p.saturating_add(9)).unwrap();
    assert!(port_a % 2 == 0 && (p..=p.saturating_add(9)).contains(&port_a));
    assert_eq!(a.local_addr().unwrap().port(), port_a);
    // The only even port of the range is taken.
    let err = bind_rtp_socket(LOCALHOST, port_a..=port_a + 1).unwrap_err();
    assert!(matches!(err, MediaError::NoFreePort { .. }), "{err}");
    // No even port at all, or an inverted range.
    assert!(matches!(bind_rtp_socket(LOCALHOST, 40_001..=40_001), Err(MediaError::InvalidPortRange { .. })));
    let (high, low) = (40_010, 40_000);
    assert!(matches!(bind_rtp_socket(LOCALHOST, high..=low), Err(MediaError::InvalidPortRange { .. })));
}

#[tokio::test]
async fn one_shard_paces_many_legs_and_reuses_slots() {
    // A single shard: every leg shares its tick, its heap and its poll.
    let engine = MediaEngine::start(1, false).unwrap();
    let mut legs = Vec::new();
    for round in 0..2 {
        for _ in 0..40 {
            let (socket, _) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
            let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
            let mut config = RtpConfig::new(Codec::Pcma);
            config.remote = Some(peer.local_addr().unwrap());
            let session = RtpSession::new(config, tokio::time::Instant::now().into_std());
            legs.push((engine.spawn_leg(socket, session).unwrap(), peer));
        }
        // Each leg's stream: 15 packets in sequence, timestamps 160 apart.
        for (_, peer) in &legs {
            let first = recv_packet(peer).await.expect("packets flow on every leg");
            let mut last = first;
            for _ in 0..14 {
                let p = recv_packet(peer).await.expect("packets keep flowing");
                assert_eq!(p.seq, last.seq.wrapping_add(1));
                assert_eq!(p.ts.wrapping_sub(last.ts), 160);
                last = p;
            }
        }
        // Close the first half; the rest keep going and their slots are reused next round.
        let rest = legs.split_off(20);
        for (leg, _) in legs.drain(..) {
            leg.commands.send(MediaCommand::Close).unwrap();
            let stats = timeout(Duration::from_secs(2), leg.finished).await.unwrap().unwrap();
            assert!(stats.packets_sent >= 15, "round {round}");
        }
        legs = rest;
        for (_, peer) in &legs {
            // Drain what queued up while we read the other legs.
            let mut buf = [0u8; 1500];
            while peer.try_recv_from(&mut buf).is_ok() {}
            assert!(recv_packet(peer).await.is_some());
        }
    }
}

#[tokio::test]
async fn an_attacker_sending_first_does_not_take_the_leg() {
    let (socket, port) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
    let caller = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    // Another address on the loopback network: not the SDP's.
    let attacker = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).await.unwrap();
    let mut config = RtpConfig::new(Codec::Pcmu);
    config.telephone_event_pt = Some(101);
    config.remote = Some(caller.local_addr().unwrap());
    let session = RtpSession::new(config, tokio::time::Instant::now().into_std());
    let mut leg = engine().spawn_leg(socket, session).unwrap();
    let to: SocketAddr = (LOCALHOST, port).into();
    for seq in 0..20u16 {
        attacker.send_to(&rtp_packet(0, false, seq, u32::from(seq) * 160, 66, &[0xFF; 160]), to).await.unwrap();
    }
    for _ in 0..3 {
        attacker.send_to(&rtp_packet(101, false, 20, 3_200, 66, &[5, 0x8a, 0x03, 0x20]), to).await.unwrap();
    }
    for _ in 0..3 {
        caller.send_to(&rtp_packet(101, false, 7, 48_000, 99, &[1, 0x8a, 0x03, 0x20]), to).await.unwrap();
    }
    let mut events = Vec::new();
    while let Some(e) = next_event(&mut leg, Duration::from_millis(300)).await {
        events.push(e);
    }
    let caller_addr = caller.local_addr().unwrap();
    assert!(!events.iter().any(|e| matches!(e, MediaEvent::Latched(a) if *a != caller_addr)), "{events:?}");
    let digits: Vec<_> = events.iter().filter_map(|e| if let MediaEvent::Dtmf { digit, .. } = e { Some(*digit) } else { None }).collect();
    assert_eq!(digits, ['1'], "only the caller's key");
    let mut buf = [0u8; 1500];
    assert!(attacker.try_recv_from(&mut buf).is_err(), "the attacker got media");
    assert!(recv_packet(&caller).await.is_some(), "the caller gets media");
    leg.commands.send(MediaCommand::Close).unwrap();
    let stats = timeout(Duration::from_secs(2), leg.finished).await.unwrap().unwrap();
    assert_eq!((stats.packets_rejected, stats.packets_received), (23, 3));
}
