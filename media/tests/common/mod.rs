//! Signal generators and helpers shared by the integration tests.
#![allow(dead_code)]

use std::f32::consts::PI;

use media::goertzel::{key_frequencies, DBM0_PEAK};
use media::DtmfDetector;

pub(crate) const RATE: f32 = 8000.0;

pub(crate) fn samples_for_ms(ms: f32) -> usize {
    (ms * RATE / 1000.0).round() as usize
}

/// Peak amplitude of a sine at `dbm0`.
pub(crate) fn amplitude(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// A DTMF key: low tone at `low_dbm0`, high tone at `high_dbm0`.
pub(crate) fn dtmf(key: char, ms: f32, low_dbm0: f32, high_dbm0: f32) -> Vec<f32> {
    let (fl, fh) = key_frequencies(key).expect("a DTMF key");
    let (al, ah) = (amplitude(low_dbm0), amplitude(high_dbm0));
    (0..samples_for_ms(ms))
        .map(|n| {
            let t = n as f32 / RATE;
            al * (2.0 * PI * fl * t).sin() + ah * (2.0 * PI * fh * t + 1.0).sin()
        })
        .collect()
}

pub(crate) fn silence(ms: f32) -> Vec<f32> {
    vec![0.0; samples_for_ms(ms)]
}

/// Deterministic noise (xorshift64*), uniform and roughly Gaussian.
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    /// Zero mean, unit variance (sum of 12 uniforms).
    pub(crate) fn gaussian(&mut self) -> f32 {
        (0..12).map(|_| self.uniform()).sum::<f32>() * 0.5
    }
}

/// Adds white noise `snr_db` below the RMS of `signal`.
pub(crate) fn add_noise(signal: &mut [f32], snr_db: f32, seed: u64) {
    let rms = (signal.iter().map(|x| x * x).sum::<f32>() / signal.len().max(1) as f32).sqrt();
    let sigma = rms / 10f32.powf(snr_db / 20.0);
    let mut noise = Noise::new(seed);
    for x in signal.iter_mut() {
        *x += sigma * noise.gaussian();
    }
}

pub(crate) fn to_pcm(signal: &[f32]) -> Vec<i16> {
    signal.iter().map(|x| x.round().clamp(-32768.0, 32767.0) as i16).collect()
}

pub(crate) fn concat(parts: &[Vec<f32>]) -> Vec<f32> {
    parts.concat()
}

/// Runs a fresh detector over `pcm` fed in `chunk`-sized pieces; returns the keys.
pub(crate) fn detect(pcm: &[i16], chunk: usize) -> String {
    let mut detector = DtmfDetector::new();
    let mut keys = String::new();
    for piece in pcm.chunks(chunk.max(1)) {
        detector.push(piece);
        while let Some(k) = detector.poll_digit() {
            keys.push(k);
        }
    }
    // Flush: trailing silence lets a final window complete.
    detector.push(&[0; 2 * media::goertzel::WINDOW]);
    while let Some(k) = detector.poll_digit() {
        keys.push(k);
    }
    keys
}

/// Voiced-speech-like audio: harmonics of a gliding 100–250 Hz fundamental
/// shaped by three moving formants, syllable envelopes, and noise.
pub(crate) fn speech_like(seconds: f32, seed: u64) -> Vec<f32> {
    // (F1, F2, F3) of common vowels (Peterson & Barney averages).
    const VOWELS: [(f32, f32, f32); 7] = [
        (270.0, 2290.0, 3010.0),
        (530.0, 1840.0, 2480.0),
        (730.0, 1090.0, 2440.0),
        (570.0, 840.0, 2410.0),
        (300.0, 870.0, 2240.0),
        (660.0, 1720.0, 2410.0),
        (490.0, 1350.0, 1690.0),
    ];
    let mut noise = Noise::new(seed);
    let n = (seconds * RATE) as usize;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f32;
    let syllable = samples_for_ms(180.0);
    let (mut from, mut to) = (VOWELS[0], VOWELS[1]);
    let mut f0_target = 150.0f32;
    let mut f0 = 150.0f32;
    for i in 0..n {
        if i % syllable == 0 {
            from = to;
            to = VOWELS[((noise.uniform() + 1.0) * 3.5) as usize % VOWELS.len()];
            f0_target = 100.0 + (noise.uniform() + 1.0) * 75.0;
        }
        let s = (i % syllable) as f32 / syllable as f32;
        let lerp = |a: f32, b: f32| a + (b - a) * s;
        let formants = [(lerp(from.0, to.0), 90.0), (lerp(from.1, to.1), 110.0), (lerp(from.2, to.2), 160.0)];
        f0 += (f0_target - f0) * 0.0008;
        let f0_now = f0 * (1.0 + 0.02 * (2.0 * PI * 5.0 * i as f32 / RATE).sin());
        phase = (phase + 2.0 * PI * f0_now / RATE) % (2.0 * PI);
        let mut x = 0.0f32;
        let mut k = 1;
        while (k as f32) * f0_now < 3800.0 {
            let f = k as f32 * f0_now;
            let gain: f32 = formants.iter().map(|&(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2))).sum::<f32>() / (k as f32).sqrt();
            x += gain * (k as f32 * phase).sin();
            k += 1;
        }
        let envelope = (PI * s).sin().powf(0.5);
        out.push(x * envelope * amplitude(-12.0) * 0.5 + amplitude(-45.0) * noise.gaussian());
    }
    out
}

/// An RTP v2 packet with a 12-byte header, built by hand (independent of
/// the code under test).
pub(crate) fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Fields of a packet we sent (12-byte header expected).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sent {
    pub(crate) marker: bool,
    pub(crate) pt: u8,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ssrc: u32,
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn parse_sent(p: &[u8]) -> Sent {
    assert!(p.len() >= 12 && p[0] == 0x80, "v2, no padding/extension/CSRC: {p:02x?}");
    Sent {
        marker: p[1] & 0x80 != 0,
        pt: p[1] & 0x7F,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        payload: p[12..].to_vec(),
    }
}
