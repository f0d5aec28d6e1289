//! Fault isolation on a media shard: a leg whose processing panics ends
//! alone; the shard's other legs keep their media.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::leg::{bind_rtp_socket, failed_legs_total, MediaCommand, MediaEngine};
use crate::rtp_session::{MediaEvent, RtpConfig, RtpSession};
use crate::Codec;

fn dtmf_end(seq: u16, digit: u8) -> Vec<u8> {
    let mut p = vec![0x80, 101];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&8000u32.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[digit, 0x8a, 0x03, 0x20]);
    p
}

#[tokio::test]
async fn a_panicking_leg_ends_alone_and_is_counted() {
    let engine = MediaEngine::start(1, false).unwrap(); // both legs on one shard
    let mut legs = Vec::new();
    for _ in 0..2 {
        let (socket, port) = bind_rtp_socket(Ipv4Addr::LOCALHOST.into(), 0..=0).unwrap();
        let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut config = RtpConfig::new(Codec::Pcmu);
        config.telephone_event_pt = Some(101);
        config.remote = Some(peer.local_addr().unwrap());
        let leg = engine.spawn_leg(socket, RtpSession::new(config, Instant::now())).unwrap();
        legs.push((leg, peer, SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }
    let (mut good, good_peer, good_addr) = legs.pop().unwrap();
    let (mut bad, bad_peer, bad_addr) = legs.pop().unwrap();
    let failed_before = failed_legs_total();

    bad.commands.send(MediaCommand::FailOnReceive).unwrap();
    bad_peer.send_to(&dtmf_end(1, 5), bad_addr).unwrap();
    // The bad leg's events end (the call sees its media stop) ...
    loop {
        match tokio::time::timeout(Duration::from_secs(2), bad.events.recv()).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => panic!("the failed leg's events did not end"),
        }
    }
    let stats = tokio::time::timeout(Duration::from_secs(2), bad.finished).await.unwrap().unwrap();
    assert!(stats.failed, "{stats:?}");
    assert_eq!(failed_legs_total() - failed_before, 1);

    // ... and the other leg on the same shard goes on: packets and keys.
    let mut buf = [0u8; 1500];
    while good_peer.recv_from(&mut buf).is_ok_and(|(n, _)| n == 0) {}
    for seq in 1..=3 {
        good_peer.send_to(&dtmf_end(seq, 9), good_addr).unwrap();
    }
    let digit = loop {
        match tokio::time::timeout(Duration::from_secs(2), good.events.recv()).await.unwrap() {
            Some(MediaEvent::Dtmf { digit, .. }) => break digit,
            Some(_) => continue,
            None => panic!("the healthy leg ended"),
        }
    };
    assert_eq!(digit, '9');
    assert!(good_peer.recv_from(&mut buf).is_ok(), "the healthy leg still sends");
    good.commands.send(MediaCommand::Close).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(2), good.finished).await.unwrap().unwrap();
    assert!(!stats.failed && stats.packets_received >= 1);
}
