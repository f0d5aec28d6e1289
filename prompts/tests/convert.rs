//! Whole-clip conversion: WAV of any layout to mono PCM at the call rate,
//! keeping pitch, level, length and time alignment.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use common::*;
use prompts::{convert, Pcm};

/// Asserts `pcm` is the sine `amplitude * sin(2π f n / rate + phase)`: same
/// level and no time shift (the resampler delay is trimmed exactly).
fn assert_aligned(pcm: &Pcm, freq: f64, amplitude: f64, phase: f64) {
    let (amp, delay) = fit_sine(&pcm.samples, freq, pcm.rate, phase);
    assert!(db(amp / amplitude).abs() < 0.1, "amplitude {amp}");
    assert!(delay.abs() < 0.02, "shifted by {delay} samples");
}

#[test]
fn sine_1k_44k1_stereo_to_8k_mono() {
    let input = to_i16(&sine(1000.0, 44_100, 1.0, 0.5, 0.3));
    let wav = wav_bytes(&input, 44_100, 2);
    let direct = convert::decode_wav_at(Cursor::new(wav.clone()), 8000).unwrap();
    let native = convert::decode_wav(Cursor::new(wav)).unwrap();
    assert_eq!(native.rate, 44_100);
    assert_eq!(native.samples.len(), input.len(), "stereo downmixed to mono");
    let via_pcm = convert::resample(&native, 8000).unwrap();

    for out in [direct, via_pcm] {
        assert_eq!(out.rate, 8000);
        let len = out.samples.len() as f64;
        assert!((len - 8000.0).abs() / 8000.0 < 0.01, "length {len}");
        let mid = middle(&out.samples, 0.1);
        let f = zero_crossing_freq(mid, 8000);
        assert!((f - 1000.0).abs() < 10.0, "frequency {f}");
        let level = db(rms(mid) / rms(middle(&input, 0.1)));
        assert!(level.abs() < 1.0, "level change {level} dB");
        assert_aligned(&out, 1000.0, 0.5, 0.3);
    }
}

#[test]
fn sine_440_8k_to_16k_and_back() {
    let input = Pcm::new(to_i16(&sine(440.0, 8000, 2.0, 0.3, 0.1)), 8000);
    let up = convert::resample(&input, 16_000).unwrap();
    assert_eq!(up.rate, 16_000);
    assert_eq!(up.samples.len(), 32_000);
    assert_aligned(&up, 440.0, 0.3, 0.1);
    let back = convert::resample(&up, 8000).unwrap();
    assert_eq!(back.samples.len(), input.samples.len());
    let mid = middle(&back.samples, 0.1);
    let f = zero_crossing_freq(mid, 8000);
    assert!((f - 440.0).abs() < 4.4, "frequency {f}");
    let level = db(rms(mid) / rms(middle(&input.samples, 0.1)));
    assert!(level.abs() < 1.0, "level change {level} dB");
    assert_aligned(&back, 440.0, 0.3, 0.1);
}

#[test]
fn speech_rates_stay_aligned() {
    for (from, to) in [(22_050, 8000), (8000, 22_050), (48_000, 8000), (11_025, 16_000), (44_101, 8000)] {
        let pcm = Pcm::new(to_i16(&sine(700.0, from, 1.0, 0.4, 1.0)), from);
        let out = convert::resample(&pcm, to).unwrap();
        assert_eq!(out.samples.len(), (f64::from(to) * 1.0).ceil() as usize, "{from}->{to}");
        assert_aligned(&out, 700.0, 0.4, 1.0);
    }
}

#[test]
fn equal_rates_pass_through_without_copying() {
    let pcm = Pcm::new(vec![1i16, 2, 3], 8000);
    let out = convert::resample(&pcm, 8000).unwrap();
    assert!(Arc::ptr_eq(&pcm.samples, &out.samples));
}
