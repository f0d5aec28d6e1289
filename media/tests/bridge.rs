//! Two legs bridged on a real shard (issue #12): each peer's RTP reaches
//! the other with the other leg's SSRC and payload type (PCMU ↔ PCMA
//! transcoded), RFC 4733 events relayed, and the paced streams stop while
//! bridged and come back after `Unbridge`.
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use media::{bind_rtp_socket, Codec, MediaCommand, MediaEngine, MediaLeg, RtpConfig, RtpSession};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Side {
    peer: UdpSocket,
    leg: MediaLeg,
    addr: SocketAddr,
    ssrc: u32,
}

fn config(codec: Codec, remote: SocketAddr, ssrc: u32) -> RtpConfig {
    let mut c = RtpConfig::new(codec);
    c.telephone_event_pt = Some(101);
    c.remote = Some(remote);
    c.ssrc = ssrc;
    c
}

async fn side(engine: &MediaEngine, codec: Codec, ssrc: u32, beside: Option<&MediaLeg>) -> Side {
    let (socket, port) = bind_rtp_socket(LOCALHOST, 0..=0).unwrap();
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let session = RtpSession::new(config(codec, peer.local_addr().unwrap(), ssrc), std::time::Instant::now());
    let leg = match beside {
        Some(b) => engine.spawn_leg_beside(&b.commands, socket, session).unwrap(),
        None => engine.spawn_leg(socket, session).unwrap(),
    };
    Side { peer, leg, addr: (LOCALHOST, port).into(), ssrc }
}

/// The next packet `s`'s peer receives whose payload type is `pt`.
async fn next_with_pt(s: &Side, pt: u8) -> Sent {
    let mut buf = [0u8; 1500];
    loop {
        let (len, _) = timeout(Duration::from_secs(2), s.peer.recv_from(&mut buf)).await.expect("RTP keeps coming").unwrap();
        let p = parse_sent(&buf[..len]);
        if p.pt == pt {
            return p;
        }
    }
}

#[tokio::test]
async fn bridged_legs_relay_each_others_audio_and_events() {
    // Several shards: the agent leg must still land beside the caller's.
    let engine = MediaEngine::start(3, false).unwrap();
    let caller = side(&engine, Codec::Pcmu, 0x1111, None).await;
    let agent = side(&engine, Codec::Pcma, 0x2222, Some(&caller.leg)).await;
    // Both legs send paced silence before the bridge.
    let mut last = next_with_pt(&agent, 8).await;
    caller.leg.commands.send(MediaCommand::Bridge { peer: agent.leg.commands.id() }).unwrap();
    // Take the paced packets sent before the shard took the command: none
    // comes for 100 ms once bridged.
    let mut buf = [0u8; 1500];
    while let Ok(r) = timeout(Duration::from_millis(100), agent.peer.recv_from(&mut buf)).await {
        last = parse_sent(&buf[..r.unwrap().0]);
    }

    // The caller's peer talks PCMU: the agent's peer hears PCMA, stamped
    // as the agent leg's stream.
    let pcm: Vec<i16> = (0..160).map(|n| ((n as f32 / 5.0).sin() * 9000.0) as i16).collect();
    let mut ulaw = [0u8; 160];
    Codec::Pcmu.encode(&pcm, &mut ulaw);
    for i in 0..5u16 {
        caller.peer.send_to(&rtp_packet(0, i == 0, 10 + i, 1000 + u32::from(i) * 160, 0xCAFE, &ulaw), caller.addr).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(
            timeout(Duration::from_secs(2), async {
                let (len, _) = agent.peer.recv_from(&mut buf).await.unwrap();
                parse_sent(&buf[..len])
            })
            .await
            .expect("relayed packet"),
        );
    }
    assert!(got.iter().all(|p| p.pt == 8 && p.ssrc == agent.ssrc), "PCMA with the agent leg's SSRC: {got:?}");
    assert_eq!(got[0].seq, last.seq.wrapping_add(1), "the sequence continues the paced stream");
    assert!(got[0].marker, "a new source is marked");
    for w in got.windows(2) {
        assert_eq!((w[1].seq.wrapping_sub(w[0].seq), w[1].ts.wrapping_sub(w[0].ts)), (1, 160));
    }
    let mut back = [0i16; 160];
    Codec::Pcma.decode(&got[2].payload, &mut back);
    assert!(pcm.iter().zip(back.iter()).all(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() < 600), "the caller's audio, transcoded");

    // The agent presses 1: the caller's peer gets the event, PT 101, the
    // caller leg's SSRC.
    agent.peer.send_to(&rtp_packet(101, true, 500, 9000, 0xBEEF, &[1, 0x0a, 0x00, 0xa0]), agent.addr).await.unwrap();
    let ev = next_with_pt(&caller, 101).await;
    assert_eq!((ev.ssrc, ev.payload.as_slice()), (caller.ssrc, &[1u8, 0x0a, 0x00, 0xa0][..]));

    // Unbridged: the agent leg's own (silence) stream comes back.
    caller.leg.commands.send(MediaCommand::Unbridge).unwrap();
    let p = next_with_pt(&agent, 8).await;
    assert!(p.payload.iter().all(|&b| b == Codec::Pcma.silence_byte()), "paced silence again");
    caller.leg.commands.send(MediaCommand::Close).unwrap();
    agent.leg.commands.send(MediaCommand::Close).unwrap();
    let stats = timeout(Duration::from_secs(2), agent.leg.finished).await.unwrap().unwrap();
    assert!(stats.packets_sent >= 6);
}
