//! Bridged legs (issue #12): a packet received on one leg goes out on the
//! other at once, rewritten as part of *this* leg's stream, as an RTP
//! translator does (RFC 3550 §7.1, §7.2): our SSRC, our sequence numbers
//! continuing where the paced stream left off, timestamps mapped onto our
//! timeline (one offset per source SSRC, so the peer sees one continuous
//! stream, marker set where the source changes), G.711 µ-law ↔ A-law
//! transcoded when the legs differ (ITU-T G.711 via linear PCM), and
//! RFC 4733 events re-labelled with this leg's telephone-event payload type
//! (dropped when this leg negotiated none).
//!
//! While relaying, the session's own paced packets (silence or a prompt)
//! are not sent — relayed audio replaces them — but its frame clock keeps
//! running, so when the bridge ends the paced stream resumes with
//! timestamps that still track wall time and sequence numbers that
//! continue the relayed ones.

use std::net::SocketAddr;

use rtp::header::Header;
use webrtc_util::marshal::Marshal;

use super::RtpSession;
use crate::codec::{Codec, FRAME_SAMPLES};
use crate::rtp_packet::{parse, HEADER_LEN};

/// The largest relayed payload (120 ms of G.711).
pub(super) const MAX_RELAY_PAYLOAD: usize = 960;
/// The largest packet `relay` writes.
pub const MAX_RELAY_PACKET: usize = HEADER_LEN + MAX_RELAY_PAYLOAD;

/// How to read the other leg's packets: what it negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySource {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
}

/// Per-bridge state of the sending side.
#[derive(Debug, Clone, Default)]
pub(super) struct RelayState {
    /// The source SSRC being relayed and the offset added to its
    /// timestamps.
    mapping: Option<(u32, u32)>,
}

impl RtpSession {
    /// What the other leg must know to relay to this one's peer.
    pub fn relay_source(&self) -> RelaySource {
        RelaySource { codec: self.config.codec, payload_type: self.config.payload_type, telephone_event_pt: self.config.telephone_event_pt }
    }

    /// Bridged (`true`): relayed packets replace this leg's paced stream.
    pub fn set_relaying(&mut self, on: bool) {
        match (on, self.relay.is_some()) {
            (true, false) => self.relay = Some(RelayState::default()),
            (false, true) => {
                self.relay = None;
                self.marker_pending = true; // the paced stream starts again
            }
            _ => {}
        }
    }

    pub fn is_relaying(&self) -> bool {
        self.relay.is_some()
    }

    /// Valid packets received so far (from the latched source).
    pub fn packets_received(&self) -> u64 {
        self.stats.packets_received
    }

    /// Our timeline's timestamp for the current frame.
    fn timeline_now(&self) -> u32 {
        self.config.initial_timestamp.wrapping_add((self.next_frame as u32).wrapping_mul(FRAME_SAMPLES as u32))
    }

    /// Rewrites `datagram` (received on the bridged leg, which speaks
    /// `from`) into `buf` (at least [`MAX_RELAY_PACKET`] bytes) as our
    /// packet; returns its length and destination, or None when it is not
    /// to be sent (not relaying, not sending, not audio or an event we can
    /// carry, or too long).
    pub fn relay(&mut self, datagram: &[u8], from: RelaySource, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let remote = self.latch.remote().filter(|_| self.relay.is_some() && self.direction.sends())?;
        let (header, payload) = parse(datagram)?;
        if payload.len() > MAX_RELAY_PAYLOAD || buf.len() < MAX_RELAY_PACKET {
            return None;
        }
        let out = &mut buf[HEADER_LEN..HEADER_LEN + payload.len()];
        let payload_type = if header.payload_type == from.payload_type {
            if from.codec == self.config.codec {
                out.copy_from_slice(payload);
            } else {
                let mut pcm = [0i16; MAX_RELAY_PAYLOAD];
                let n = from.codec.decode(payload, &mut pcm);
                self.config.codec.encode(&pcm[..n], out);
            }
            self.config.payload_type
        } else if from.telephone_event_pt == Some(header.payload_type) {
            out.copy_from_slice(payload);
            self.config.telephone_event_pt?
        } else {
            return None;
        };
        let now_ts = self.timeline_now();
        let state = self.relay.as_mut()?;
        let mut marker = header.marker;
        let offset = match state.mapping {
            Some((ssrc, offset)) if ssrc == header.ssrc => offset,
            _ => {
                // A new source (or the first packet): continue our timeline.
                let offset = now_ts.wrapping_sub(header.timestamp);
                state.mapping = Some((header.ssrc, offset));
                marker = true;
                offset
            }
        };
        let out_header = Header {
            version: 2,
            marker: marker || self.marker_pending,
            payload_type,
            sequence_number: self.header.sequence_number,
            timestamp: header.timestamp.wrapping_add(offset),
            ssrc: self.config.ssrc,
            ..Header::default()
        };
        out_header.marshal_to(&mut buf[..HEADER_LEN]).ok()?;
        self.header.sequence_number = self.header.sequence_number.wrapping_add(1);
        self.marker_pending = false;
        self.sent_any = true;
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        Some((HEADER_LEN + payload.len(), remote))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::rtp_session::RtpConfig;

    fn session(codec: Codec, te: Option<u8>, now: Instant) -> RtpSession {
        let config = RtpConfig {
            codec,
            payload_type: codec.payload_type(),
            telephone_event_pt: te,
            remote: Some("127.0.0.1:7000".parse().unwrap()),
            inactivity_timeout: Duration::ZERO,
            ssrc: 0xAABB,
            initial_sequence: 100,
            initial_timestamp: 5000,
        };
        RtpSession::new(config, now)
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let h = Header { version: 2, payload_type: pt, sequence_number: seq, timestamp: ts, ssrc, ..Header::default() };
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        h.marshal_to(&mut b[..HEADER_LEN]).unwrap();
        b[HEADER_LEN..].copy_from_slice(payload);
        b
    }

    const PCMU: RelaySource = RelaySource { codec: Codec::Pcmu, payload_type: 0, telephone_event_pt: Some(101) };

    #[test]
    fn rewrites_ssrc_sequence_and_timestamps_continuously() {
        let t0 = Instant::now();
        let mut s = session(Codec::Pcmu, Some(101), t0);
        let mut buf = [0u8; MAX_RELAY_PACKET];
        assert!(s.relay(&packet(0, 7, 90_000, 1, &[0x55; 160]), PCMU, &mut buf).is_none(), "not bridged yet");
        s.set_relaying(true);
        let (n, to) = s.relay(&packet(0, 7, 90_000, 1, &[0x55; 160]), PCMU, &mut buf).unwrap();
        assert_eq!((n, to), (HEADER_LEN + 160, "127.0.0.1:7000".parse().unwrap()));
        let (h1, p1) = parse(&buf[..n]).unwrap();
        assert_eq!((h1.ssrc, h1.sequence_number, h1.timestamp, h1.marker), (0xAABB, 100, 5000, true));
        assert_eq!(p1, &[0x55; 160][..], "same codec: payload untouched");
        let (n, _) = s.relay(&packet(0, 8, 90_160, 1, &[0x55; 160]), PCMU, &mut buf).unwrap();
        let (h2, _) = parse(&buf[..n]).unwrap();
        assert_eq!((h2.sequence_number, h2.timestamp, h2.marker), (101, 5160, false));
        // The source restarts with a new SSRC: our stream goes on, marked.
        s.handle_timeout(t0 + Duration::from_millis(60));
        let (n, _) = s.relay(&packet(0, 1, 7, 2, &[0x55; 160]), PCMU, &mut buf).unwrap();
        let (h3, _) = parse(&buf[..n]).unwrap();
        assert_eq!(h3.sequence_number, 102);
        assert!(h3.marker);
        assert_eq!(h3.timestamp, 5000u32.wrapping_add(s.next_frame as u32 * 160));
    }

    #[test]
    fn transcodes_ulaw_to_alaw() {
        let mut s = session(Codec::Pcma, None, Instant::now());
        s.set_relaying(true);
        let pcm: Vec<i16> = (0..160).map(|i| ((i as f32 / 8.0).sin() * 8000.0) as i16).collect();
        let mut ulaw = [0u8; 160];
        Codec::Pcmu.encode(&pcm, &mut ulaw);
        let mut buf = [0u8; MAX_RELAY_PACKET];
        let (n, _) = s.relay(&packet(0, 1, 0, 1, &ulaw), PCMU, &mut buf).unwrap();
        let (h, payload) = parse(&buf[..n]).unwrap();
        assert_eq!(h.payload_type, 8);
        let mut back = [0i16; 160];
        Codec::Pcma.decode(payload, &mut back);
        for (a, b) in pcm.iter().zip(back.iter()) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 600, "{a} vs {b}");
        }
        // No telephone-event on this leg: events are not relayed.
        assert!(s.relay(&packet(101, 2, 0, 1, &[1, 0x8a, 0, 160]), PCMU, &mut buf).is_none());
    }

    #[test]
    fn events_take_this_legs_payload_type_and_unknown_types_are_dropped() {
        let mut s = session(Codec::Pcmu, Some(96), Instant::now());
        s.set_relaying(true);
        let mut buf = [0u8; MAX_RELAY_PACKET];
        let (n, _) = s.relay(&packet(101, 1, 400, 1, &[1, 0x0a, 0, 160]), PCMU, &mut buf).unwrap();
        let (h, payload) = parse(&buf[..n]).unwrap();
        assert_eq!((h.payload_type, payload), (96, &[1, 0x0a, 0, 160][..]));
        assert!(s.relay(&packet(18, 2, 400, 1, &[0; 20]), PCMU, &mut buf).is_none(), "G.729 from the other leg");
    }

    #[test]
    fn paced_packets_stop_while_relaying_and_resume_after() {
        let t0 = Instant::now();
        let mut s = session(Codec::Pcmu, None, t0);
        let mut buf = [0u8; MAX_RELAY_PACKET];
        s.handle_timeout(t0);
        assert!(s.poll_transmit(&mut buf).is_some());
        s.set_relaying(true);
        s.handle_timeout(t0 + Duration::from_millis(20));
        assert!(s.poll_transmit(&mut buf).is_none(), "the relay replaces our paced packets");
        s.relay(&packet(0, 1, 0, 1, &[0x55; 160]), PCMU, &mut buf).unwrap();
        s.set_relaying(false);
        s.handle_timeout(t0 + Duration::from_millis(40));
        let (n, _) = s.poll_transmit(&mut buf).unwrap();
        let (h, _) = parse(&buf[..n]).unwrap();
        assert_eq!(h.sequence_number, 102, "paced stream continues the relayed sequence");
        assert!(h.marker);
    }
}
