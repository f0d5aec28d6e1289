//! Helpers shared by the integration tests: test signals, level and pitch
//! measurements, and scripted synthesizers.
#![allow(dead_code, unreachable_pub)]

use std::f64::consts::PI;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use prompts::{Pcm, SynthFuture, Synthesizer, TtsError, Voice};

/// `amplitude * sin(2π f t + phase)` sampled at `rate`, as f64 full scale.
pub fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f64, phase: f64) -> Vec<f64> {
    let n = (f64::from(rate) * seconds).round() as usize;
    (0..n).map(|i| amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate) + phase).sin()).collect()
}

pub fn to_i16(x: &[f64]) -> Vec<i16> {
    x.iter().map(|v| (v * 32767.0).round() as i16).collect()
}

/// A 16-bit WAV image with `channels` copies of `mono`.
pub fn wav_bytes(mono: &[i16], rate: u32, channels: u16) -> Vec<u8> {
    let spec = hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for &s in mono {
        for _ in 0..channels {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
    out.into_inner()
}

pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

pub fn db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

/// The middle of a clip, without `edge` of each end (resampler edges).
pub fn middle(samples: &[i16], edge: f64) -> &[i16] {
    let cut = (samples.len() as f64 * edge) as usize;
    &samples[cut..samples.len() - cut]
}

/// Frequency estimated from sign changes.
pub fn zero_crossing_freq(samples: &[i16], rate: u32) -> f64 {
    let crossings = samples.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(rate))
}

/// Returns `pcm` after every call and counts the calls.
pub struct CountingSynth {
    pub pcm: Pcm,
    pub calls: AtomicUsize,
    pub yields: usize,
}

impl CountingSynth {
    pub fn new(pcm: Pcm) -> Self {
        Self { pcm, calls: AtomicUsize::new(0), yields: 0 }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Synthesizer for CountingSynth {
    fn name(&self) -> &str {
        "counting"
    }

    fn synthesize<'a>(&'a self, _text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            for _ in 0..self.yields {
                tokio::task::yield_now().await;
            }
            Ok(self.pcm.clone())
        })
    }
}

/// Always fails, counting the attempts.
pub struct FailingSynth {
    pub calls: AtomicUsize,
}

impl Synthesizer for FailingSynth {
    fn name(&self) -> &str {
        "counting"
    }

    fn synthesize<'a>(&'a self, _text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(TtsError::EmptyText) })
    }
}

/// Least-squares fit of a sine at `freq` over `samples[skip..len-skip]`:
/// returns (amplitude in full scale, delay in samples of the clip relative
/// to `sin(2π f n / rate + phase)`).
pub fn fit_sine(samples: &[i16], freq: f64, rate: u32, phase: f64) -> (f64, f64) {
    let w = 2.0 * PI * freq / f64::from(rate);
    let skip = samples.len() / 10;
    let (mut s, mut c) = (0.0, 0.0);
    let span = &samples[skip..samples.len() - skip];
    for (i, &x) in span.iter().enumerate() {
        let t = (i + skip) as f64;
        s += f64::from(x) / 32767.0 * (w * t).sin();
        c += f64::from(x) / 32767.0 * (w * t).cos();
    }
    let (a, b) = (2.0 * s / span.len() as f64, 2.0 * c / span.len() as f64);
    let mut shift = phase - b.atan2(a);
    while shift > PI {
        shift -= 2.0 * PI;
    }
    while shift < -PI {
        shift += 2.0 * PI;
    }
    ((a * a + b * b).sqrt(), shift / w)
}
