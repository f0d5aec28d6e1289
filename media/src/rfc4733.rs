//! RFC 4733 telephone-events: the 4-byte event payload (§2.3), the DTMF
//! event codes (§3.2, table 7), and the receiver rules of §2.5.2 turned into
//! "one digit per key press".
//!
//! [`DtmfReceiver`] reports a digit on the *first* packet it sees of an event
//! (lowest latency for barge-in), keyed by RTP timestamp (§2.5.1.1: all
//! packets of one event share the timestamp of its start):
//! - the end packet retransmitted three times (§2.5.1.4) is one event;
//! - a missing marker bit is tolerated: a new timestamp is a new event;
//! - a lost start packet is harmless: the first continuation or end packet
//!   of an unseen timestamp reports the digit;
//! - late packets of an older event (timestamp behind the current one, within
//!   a few seconds) are ignored;
//! - a long event split into segments (§2.5.1.3: new timestamp, no marker,
//!   previous segment near the 0xFFFF duration cap) stays one event.

use crate::MediaError;

/// One telephone-event block (RFC 4733 §2.3):
/// `event (8) | E (1) R (1) volume (6) | duration (16)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0–15 are the DTMF keys (§3.2).
    pub event: u8,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in -dBm0, 0–63 (larger is quieter).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

/// Size of one event block.
pub const EVENT_LEN: usize = 4;

impl TelephoneEvent {
    /// Parses the first event block of a payload; extra bytes are ignored
    /// (the reserved R bit too, as §2.3.4 requires).
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(MediaError::TelephoneEventTooShort { len: payload.len() });
        };
        Ok(TelephoneEvent { event, end: flags & 0x80 != 0, volume: flags & 0x3F, duration: u16::from_be_bytes([d0, d1]) })
    }

    /// The 4 payload bytes (R bit 0; volume clamped to 6 bits).
    pub fn to_bytes(&self) -> [u8; EVENT_LEN] {
        let flags = (if self.end { 0x80 } else { 0 }) | (self.volume.min(63));
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, flags, d0, d1]
    }

    /// Writes the payload into `out`; returns the bytes written (4).
    pub fn write(&self, out: &mut [u8]) -> Result<usize, MediaError> {
        let available = out.len();
        let dst = out.get_mut(..EVENT_LEN).ok_or(MediaError::BufferTooSmall { needed: EVENT_LEN, available })?;
        dst.copy_from_slice(&self.to_bytes());
        Ok(EVENT_LEN)
    }
}

/// DTMF event code → key (§3.2): 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D`.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Key → DTMF event code; accepts `a`–`d` in lower case too.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// Timestamps this far behind the current event (4 s at 8 kHz) are late
/// packets of old events; farther means the sender restarted its clock.
const STALE_WINDOW: u32 = 4 * 8000;
/// A segment boundary (§2.5.1.3) follows a segment this close to 0xFFFF.
const SEGMENT_NEAR_CAP: u16 = u16::MAX - 8000;

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// Turns telephone-event packets into DTMF keys, once per key press.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    current: Option<Current>,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the current event (call on an SSRC change).
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Feeds one telephone-event packet: its RTP timestamp, marker bit and
    /// payload. Returns the key when this packet starts a new DTMF event.
    /// Malformed payloads and non-DTMF events (flash, tones) return `None`.
    pub fn handle_packet(&mut self, timestamp: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        if let Some(cur) = self.current.as_mut() {
            let delta = timestamp.wrapping_sub(cur.timestamp);
            if delta == 0 && ev.event == cur.event {
                // Same event: update, retransmitted end, or re-sent start.
                cur.ended |= ev.end;
                cur.duration = cur.duration.max(ev.duration);
                return None;
            }
            let behind = cur.timestamp.wrapping_sub(timestamp);
            if behind != 0 && behind <= STALE_WINDOW {
                return None; // a late packet of an older event
            }
            let is_next_segment = !marker
                && !cur.ended
                && ev.event == cur.event
                && cur.duration >= SEGMENT_NEAR_CAP
                && delta <= u32::from(cur.duration) + 8000;
            if is_next_segment {
                *cur = Current { timestamp, event: ev.event, ended: ev.end, duration: ev.duration };
                return None;
            }
        }
        self.current = Some(Current { timestamp, event: ev.event, ended: ev.end, duration: ev.duration });
        event_to_digit(ev.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent { event, end, volume: 10, duration }.to_bytes()
    }

    #[test]
    fn payload_parse_and_serialize() {
        // The end packet of SIPp's dtmf_2833_1.pcap: event 1, E, volume 10, 2240.
        let e = TelephoneEvent::parse(&[0x01, 0x8a, 0x08, 0xc0]).unwrap();
        assert_eq!(e, TelephoneEvent { event: 1, end: true, volume: 10, duration: 2240 });
        assert_eq!(e.to_bytes(), [0x01, 0x8a, 0x08, 0xc0]);
        // R bit is ignored on receive and never sent.
        let r = TelephoneEvent::parse(&[11, 0x40 | 7, 0, 160, 0xEE]).unwrap();
        assert_eq!((r.event, r.end, r.volume, r.duration), (11, false, 7, 160));
        assert_eq!(r.to_bytes()[1], 7);
        assert!(matches!(TelephoneEvent::parse(&[1, 2, 3]), Err(MediaError::TelephoneEventTooShort { len: 3 })));
        let mut small = [0u8; 3];
        assert!(e.write(&mut small).is_err());
        let mut out = [0u8; 8];
        assert_eq!(e.write(&mut out).unwrap(), 4);
    }

    #[test]
    fn event_codes_map_to_keys() {
        let keys: String = (0..=15).filter_map(event_to_digit).collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(digit_to_event(key), Some(code as u8));
        }
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn one_digit_per_event_despite_three_end_packets() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(1000, true, &ev(5, false, 0)), Some('5'));
        for d in [160, 320, 480] {
            assert_eq!(rx.handle_packet(1000, false, &ev(5, false, d)), None);
        }
        for _ in 0..3 {
            assert_eq!(rx.handle_packet(1000, false, &ev(5, true, 640)), None);
        }
    }

    #[test]
    fn missing_marker_new_timestamp_is_a_new_event() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(0, false, &ev(1, false, 160)), Some('1'));
        assert_eq!(rx.handle_packet(0, false, &ev(1, true, 800)), None);
        // Same key again, no marker anywhere: a new timestamp is a new press.
        assert_eq!(rx.handle_packet(4000, false, &ev(1, false, 160)), Some('1'));
        assert_eq!(rx.handle_packet(8000, false, &ev(2, false, 160)), Some('2'));
    }

    #[test]
    fn lost_start_packet_still_reports_on_end_packets() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(500, false, &ev(11, true, 1280)), Some('#'));
        assert_eq!(rx.handle_packet(500, false, &ev(11, true, 1280)), None);
        assert_eq!(rx.handle_packet(500, false, &ev(11, true, 1280)), None);
    }

    #[test]
    fn late_packets_of_an_older_event_are_ignored() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(1000, true, &ev(3, false, 0)), Some('3'));
        assert_eq!(rx.handle_packet(3000, true, &ev(4, false, 0)), Some('4'));
        assert_eq!(rx.handle_packet(1000, false, &ev(3, true, 800)), None);
        // A far jump backwards is a restarted clock, not a late packet.
        assert_eq!(rx.handle_packet(3000u32.wrapping_sub(1_000_000), true, &ev(3, false, 0)), Some('3'));
    }

    #[test]
    fn timestamp_wraparound() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(u32::MAX - 100, true, &ev(7, true, 800)), Some('7'));
        assert_eq!(rx.handle_packet(700, true, &ev(7, false, 0)), Some('7'));
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(0, true, &ev(9, false, 0)), Some('9'));
        assert_eq!(rx.handle_packet(0, false, &ev(9, false, u16::MAX)), None);
        assert_eq!(rx.handle_packet(u32::from(u16::MAX), false, &ev(9, false, 160)), None);
        assert_eq!(rx.handle_packet(u32::from(u16::MAX), false, &ev(9, true, 4000)), None);
    }

    #[test]
    fn garbage_and_non_dtmf_events_yield_nothing() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.handle_packet(0, true, &[]), None);
        assert_eq!(rx.handle_packet(0, true, &[1, 2]), None);
        assert_eq!(rx.handle_packet(10, true, &ev(16, false, 0)), None); // flash
        assert_eq!(rx.handle_packet(20, true, &ev(255, true, 0)), None);
    }
}
