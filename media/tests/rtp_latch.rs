//! Strict RTP latching (media/src/latch.rs) through the sans-IO session,
//! with fake time: who may take a leg's media, and who may not.
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::rtp_packet;
use media::latch::{LEARNING_WINDOW, PROBATION};
use media::{Codec, DtmfSource, MediaEvent, RtpConfig, RtpSession};

const PEER: &str = "192.0.2.10:40000";
const PEER_OTHER_PORT: &str = "192.0.2.10:41234";
const REBOUND: &str = "192.0.2.99:50000";
const PRIVATE_SDP: &str = "192.168.1.20:4000";
const NAT_PUBLIC: &str = "198.51.100.7:31000";
const ATTACKER: &str = "203.0.113.66:5004";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Leg {
    session: RtpSession,
    now: Instant,
    latched: Vec<SocketAddr>,
    digits: Vec<char>,
    sent_to: Vec<SocketAddr>,
}

impl Leg {
    fn new(sdp: Option<&str>) -> Self {
        let mut config = RtpConfig::new(Codec::Pcmu);
        config.telephone_event_pt = Some(101);
        config.remote = sdp.map(addr);
        let now = Instant::now();
        Leg { session: RtpSession::new(config, now), now, latched: Vec::new(), digits: Vec::new(), sent_to: Vec::new() }
    }

    /// `n` audio packets of stream `ssrc` from `from`, 20 ms apart, with
    /// sequence numbers from `seq`.
    fn audio(&mut self, from: &str, ssrc: u32, seq: u16, n: u16) {
        for k in 0..n {
            let s = seq.wrapping_add(k);
            self.packet(&rtp_packet(0, false, s, u32::from(s) * 160, ssrc, &[0xFF; 160]), from);
        }
    }

    /// RFC 4733 digit 5 (three end packets) of stream `ssrc`.
    fn digit(&mut self, from: &str, ssrc: u32, seq: u16) {
        for k in 0..3 {
            self.packet(&rtp_packet(101, k == 0, seq.wrapping_add(k), 77_000, ssrc, &[5, 0x8a, 0, 160]), from);
        }
    }

    fn packet(&mut self, datagram: &[u8], from: &str) {
        self.now += Duration::from_millis(20);
        self.session.handle_receive(datagram, addr(from), self.now);
        self.session.handle_timeout(self.now);
        let mut buf = [0u8; 512];
        while let Some((_, to)) = self.session.poll_transmit(&mut buf) {
            self.sent_to.push(to);
        }
        while let Some(e) = self.session.poll_event() {
            match e {
                MediaEvent::Latched(a) => self.latched.push(a),
                MediaEvent::Dtmf { digit, source: DtmfSource::Rfc4733 } => self.digits.push(digit),
                _ => {}
            }
        }
    }
}

#[test]
fn an_attacker_sending_first_gets_neither_the_prompt_nor_the_callers_keys() {
    let mut leg = Leg::new(Some(PEER));
    // 50 well-formed, in-sequence packets and a digit before the caller's first.
    leg.audio(ATTACKER, 0x6666, 1000, 50);
    leg.digit(ATTACKER, 0x6666, 1050);
    assert!(leg.latched.is_empty(), "latched to {:?}", leg.latched);
    assert!(leg.digits.is_empty(), "the attacker's key was taken");
    assert_eq!(leg.session.remote(), Some(addr(PEER)));
    let stats = leg.session.stats();
    assert_eq!((stats.packets_rejected, stats.packets_received), (53, 0));
    // The caller's stream latches at once and its keys count.
    leg.audio(PEER, 0x1111, 7, 5);
    leg.digit(PEER, 0x1111, 12);
    assert_eq!(leg.latched, [addr(PEER)]);
    assert_eq!(leg.digits, ['5']);
    // The attacker keeps going: still nothing.
    leg.audio(ATTACKER, 0x6666, 1053, 20);
    assert_eq!(leg.latched, [addr(PEER)]);
    assert!(!leg.sent_to.is_empty() && leg.sent_to.iter().all(|to| *to == addr(PEER)), "media only to the caller");
    let stats = leg.session.stats();
    assert_eq!((stats.packets_rejected, stats.packets_received), (73, 8));
}

#[test]
fn a_nat_rewriting_the_port_latches_at_once_within_the_learning_window() {
    let mut leg = Leg::new(Some(PEER));
    leg.audio(PEER_OTHER_PORT, 1, 100, 1);
    assert_eq!(leg.latched, [addr(PEER_OTHER_PORT)]);
    assert_eq!(leg.session.remote(), Some(addr(PEER_OTHER_PORT)));
    assert_eq!(leg.session.stats().packets_rejected, 0);
}

#[test]
fn after_the_learning_window_the_same_ip_needs_probation() {
    let mut leg = Leg::new(Some(PEER));
    leg.now += LEARNING_WINDOW;
    leg.session.handle_timeout(leg.now);
    leg.audio(PEER_OTHER_PORT, 1, 100, u16::from(PROBATION) - 1);
    assert!(leg.latched.is_empty());
    leg.audio(PEER_OTHER_PORT, 1, 100 + u16::from(PROBATION) - 1, 1);
    assert_eq!(leg.latched, [addr(PEER_OTHER_PORT)]);
    assert_eq!(leg.session.stats().packets_rejected, u64::from(PROBATION) - 1);
}

#[test]
fn a_private_sdp_address_latches_a_sustained_stream_after_probation() {
    let mut leg = Leg::new(Some(PRIVATE_SDP));
    // A stray packet, then sequence jumps: probation starts over each time.
    leg.audio(ATTACKER, 9, 1, 1);
    leg.audio(NAT_PUBLIC, 5, 10, 2);
    leg.audio(NAT_PUBLIC, 5, 500, 2);
    assert!(leg.latched.is_empty());
    leg.audio(NAT_PUBLIC, 5, 502, 2);
    assert_eq!(leg.latched, [addr(NAT_PUBLIC)]);
    assert_eq!(leg.session.stats().packets_rejected, 6);
}

#[test]
fn a_new_source_takes_over_only_by_continuing_the_latched_stream() {
    let mut leg = Leg::new(Some(PEER));
    leg.audio(PEER, 0x1111, 100, 10); // latched; last seq 109
                                      // A stranger with its own stream, and one guessing the SSRC but not the
                                      // sequence: never.
    leg.audio(ATTACKER, 0x6666, 110, 30);
    leg.audio(ATTACKER, 0x1111, 5000, 30);
    assert_eq!(leg.latched, [addr(PEER)]);
    // The caller's NAT rebinds: the same stream from a new address, a few
    // packets lost on the way.
    leg.audio(REBOUND, 0x1111, 115, u16::from(PROBATION) - 1);
    assert_eq!(leg.latched, [addr(PEER)], "not before probation");
    leg.audio(REBOUND, 0x1111, 115 + u16::from(PROBATION) - 1, 5);
    assert_eq!(leg.latched, [addr(PEER), addr(REBOUND)]);
    assert_eq!(leg.session.remote(), Some(addr(REBOUND)));
    assert_eq!(leg.session.stats().packets_rejected, 60 + u64::from(PROBATION) - 1);
}

#[test]
fn new_signalling_moves_the_latch() {
    let mut leg = Leg::new(Some(PEER));
    leg.audio(PEER, 1, 1, 3);
    leg.session.set_remote(addr(NAT_PUBLIC));
    assert_eq!(leg.session.remote(), Some(addr(NAT_PUBLIC)));
    leg.audio(PEER, 1, 4, 3);
    assert_eq!(leg.latched, [addr(PEER)], "the old address is a stranger now");
    leg.audio(NAT_PUBLIC, 2, 1, 1);
    assert_eq!(leg.latched, [addr(PEER), addr(NAT_PUBLIC)]);
}
