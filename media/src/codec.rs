//! The audio codecs a call leg can use: G.711 PCMU and PCMA with their
//! static payload types (RFC 3551 §4.5.14 and table 4), 8000 Hz clock, and
//! the 20 ms packetisation Centralita sends (RFC 3551 §4.2 default ptime).

use crate::g711;

/// Samples per 20 ms frame at 8000 Hz: the payload size of one packet.
pub const FRAME_SAMPLES: usize = 160;
/// The duration of one frame.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);

/// An audio codec of RFC 3551 that the media path can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 table 4).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// RTP clock rate in Hz (RFC 3551 §4.5.14): 8000 for both.
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// The encoding name of `a=rtpmap` (RFC 4566 §6), without the rate.
    pub const fn rtpmap_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec of a static payload type, if it is one of ours.
    pub const fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The codec of an `a=rtpmap` encoding name (case-insensitive, RFC 4855 §3).
    pub fn from_rtpmap_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The code of linear silence (0xFF µ-law, 0xD5 A-law).
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => g711::ULAW_SILENCE,
            Codec::Pcma => g711::ALAW_SILENCE,
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples (one byte each); returns the count.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => g711::encode_ulaw(pcm, out),
            Codec::Pcma => g711::encode_alaw(pcm, out),
        }
    }

    /// Decodes `min(payload.len(), out.len())` bytes to samples; returns the count.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => g711::decode_ulaw(payload, out),
            Codec::Pcma => g711::decode_alaw(payload, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_parameters() {
        assert_eq!((Codec::Pcmu.payload_type(), Codec::Pcma.payload_type()), (0, 8));
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!((Codec::Pcmu.rtpmap_name(), Codec::Pcma.rtpmap_name()), ("PCMU", "PCMA"));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(101), None);
        assert_eq!(Codec::from_rtpmap_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap_name("G722"), None);
        assert_eq!(FRAME_SAMPLES as u32, Codec::Pcma.clock_rate() / 50);
    }

    #[test]
    fn frames_round_trip_and_silence_decodes_to_near_zero() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let pcm: Vec<i16> = (0..FRAME_SAMPLES).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16).collect();
            let mut payload = [0u8; FRAME_SAMPLES];
            assert_eq!(codec.encode(&pcm, &mut payload), FRAME_SAMPLES);
            let mut back = [0i16; FRAME_SAMPLES];
            assert_eq!(codec.decode(&payload, &mut back), FRAME_SAMPLES);
            for (a, b) in pcm.iter().zip(&back) {
                assert!((a - b).abs() <= 300, "{codec:?}: {a} vs {b}");
            }
            let mut one = [0i16; 1];
            codec.decode(&[codec.silence_byte()], &mut one);
            assert!(one[0].abs() <= 8);
        }
    }
}
