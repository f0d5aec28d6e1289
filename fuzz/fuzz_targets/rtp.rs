//! RTP and RFC 4733 on the receive side: a sequence of datagrams (split out
//! of the input by a 2-byte length prefix each) into an `RtpSession` that
//! speaks PCMU (0) with telephone-event on 101, from the signalled address
//! or, every other packet when the input says so, from another one, with
//! time passing; events and transmits drained as the run loop does. Each
//! datagram's payload also goes through the `DtmfReceiver` on its own.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::{Codec, DtmfReceiver, RtpConfig, RtpSession, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let now0 = Instant::now();
    let remote: SocketAddr = ([192, 0, 2, 10], 40000).into();
    let other: SocketAddr = ([198, 51, 100, 3], 40002).into();
    let mut config = RtpConfig::new(Codec::Pcmu);
    config.telephone_event_pt = Some(101);
    config.remote = Some(remote);
    config.ssrc = 1;
    config.initial_sequence = 1;
    config.initial_timestamp = 1;
    let mut session = RtpSession::new(config, now0);
    let mut dtmf = DtmfReceiver::new();
    let mut buf = [0u8; 1500];
    let mut now = now0;
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b]) & 0x07FF);
        let from = if a & 0x80 != 0 { other } else { remote };
        // Bits 3-6 of the first byte: 0-15 x 5 ms between packets.
        now += Duration::from_millis(u64::from((a >> 3) & 0x0F) * 5);
        let n = len.min(tail.len());
        let (packet, next) = tail.split_at(n);
        rest = next;
        session.handle_receive(packet, from, now);
        session.handle_timeout(now);
        while session.poll_transmit(&mut buf).is_some() {}
        while session.poll_event().is_some() {}
        if packet.len() >= 12 {
            let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
            let _ = dtmf.handle_packet(ts, packet[1] & 0x80 != 0, &packet[12..]);
            if let Ok(ev) = TelephoneEvent::parse(&packet[12..]) {
                assert_eq!(TelephoneEvent::parse(&ev.to_bytes()).unwrap(), TelephoneEvent { volume: ev.volume & 0x3F, ..ev });
            }
        }
    }
    let _ = session.stats();
    let _ = session.poll_timeout();
});
