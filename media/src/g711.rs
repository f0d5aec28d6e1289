//! ITU-T G.711 (11/88) companding: µ-law (§2, as used in North America and
//! Japan) and A-law (§3, Europe), between 16-bit linear PCM and 8-bit codes.
//! The payload formats are PCMU and PCMA of RFC 3551 §4.5.14.
//!
//! Encoding follows the reference segment search (the Sun/CCITT `g711.c`
//! algorithm, rewritten); decoding uses 256-entry tables built at compile
//! time. Slice helpers write into caller buffers and never allocate.

/// The µ-law code of linear 0 (positive zero): the µ-law silence byte.
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code of linear 0 (smallest positive step): the A-law silence byte.
pub const ALAW_SILENCE: u8 = 0xD5;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// µ-law code → linear sample (G.711 §2 decoding, scaled to 16 bits).
pub static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
/// A-law code → linear sample (G.711 §3 decoding, scaled to 16 bits).
pub static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

const fn ulaw_decode_calc(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_calc(code: u8) -> i16 {
    let a = code ^ 0x55;
    let segment = (a & 0x70) >> 4;
    let mut magnitude = ((a & 0x0F) as i32) << 4;
    magnitude += if segment == 0 { 8 } else { 0x108 };
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    table
}

/// Linear sample → µ-law code (G.711 §2). Saturates at ±32 635.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign: u8 = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7 (0..=7).
    let top = (s >> 7) as u32;
    let exponent = if top == 0 { 0 } else { 31 - top.leading_zeros() };
    let mantissa = ((s >> (exponent + 3)) & 0x0F) as u8;
    !(sign | ((exponent as u8) << 4) | mantissa)
}

/// µ-law code → linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Linear sample → A-law code (G.711 §3), even bits inverted as transmitted.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13 bits.
    let mut value = i32::from(sample) >> 3;
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    // Segment ends (13-bit magnitudes): 0x1F, 0x3F, 0x7F, … 0xFFF.
    let segment = match value {
        0..=0x1F => 0,
        0x20..=0x3F => 1,
        0x40..=0x7F => 2,
        0x80..=0xFF => 3,
        0x100..=0x1FF => 4,
        0x200..=0x3FF => 5,
        0x400..=0x7FF => 6,
        0x800..=0xFFF => 7,
        _ => return 0x7F ^ mask,
    };
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment as u8) << 4) | ((value >> shift) & 0x0F) as u8;
    code ^ mask
}

/// A-law code → linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes `min(pcm.len(), out.len())` samples to µ-law; returns the count.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Decodes `min(codes.len(), out.len())` µ-law codes; returns the count.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = ulaw_to_linear(c);
    }
    n
}

/// Encodes `min(pcm.len(), out.len())` samples to A-law; returns the count.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes `min(codes.len(), out.len())` A-law codes; returns the count.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = alaw_to_linear(c);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_points() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
        // Full scale.
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        // Small negative values (A-law has no negative zero: -1 -> 0x55).
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(alaw_to_linear(0x55), -8);
    }

    /// Every code decodes to a value that encodes back to the same code
    /// (except µ-law's negative zero 0x7F, which is the same level as 0xFF).
    #[test]
    fn codes_are_fixed_points() {
        for code in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(code));
            assert!(u == code || (code == 0x7F && u == 0xFF), "ulaw {code:#x} -> {u:#x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "alaw {code:#x}");
        }
    }

    /// Quantisation error is at most half a step; steps double per segment,
    /// so the error stays below ~3 % of the magnitude (plus the first step).
    #[test]
    fn round_trip_error_bounds() {
        for x in i16::MIN..=i16::MAX {
            let mag = i32::from(x).abs();
            let u_err = (i32::from(ulaw_to_linear(linear_to_ulaw(x))) - i32::from(x)).abs();
            let a_err = (i32::from(alaw_to_linear(linear_to_alaw(x))) - i32::from(x)).abs();
            if mag <= 32_000 {
                assert!(u_err <= (mag + 132) / 32 + 4, "ulaw x={x} err={u_err}");
                assert!(a_err <= (mag / 32).max(8) + 8, "alaw x={x} err={a_err}");
            } else {
                // Saturation region: decoded peak is 32 124 (µ) / 32 256 (A).
                assert!(u_err <= 32_768 - 32_124 && a_err <= 32_768 - 32_000, "x={x}");
            }
        }
    }

    #[test]
    fn monotonic_and_symmetric() {
        let mut prev = i16::MIN;
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(x));
            assert!(u >= prev);
            prev = u;
        }
        for x in [1i16, 100, 1000, 10_000, 30_000] {
            assert_eq!(ulaw_to_linear(linear_to_ulaw(x)), -ulaw_to_linear(linear_to_ulaw(-x)));
        }
    }

    #[test]
    fn slice_helpers_stop_at_the_shorter_slice() {
        let pcm = [0i16, 1000, -1000, 32_000];
        let mut codes = [0u8; 3];
        assert_eq!(encode_ulaw(&pcm, &mut codes), 3);
        assert_eq!(codes[0], 0xFF);
        let mut back = [0i16; 8];
        assert_eq!(decode_ulaw(&codes, &mut back), 3);
        assert!((back[1] - 1000).abs() < 40 && (back[2] + 1000).abs() < 40);
        assert_eq!(encode_alaw(&pcm, &mut codes), 3);
        assert_eq!(decode_alaw(&codes, &mut back), 3);
        assert_eq!(back[0], 8);
        assert!((back[1] - 1000).abs() < 40);
    }
}
