//! Whisper's input features: the 80-band log-mel spectrogram of 30 s of
//! 16 kHz audio (3000 frames of 10 ms), computed exactly as OpenAI's
//! `whisper.audio.log_mel_spectrogram` and faster-whisper's
//! `FeatureExtractor` do: the audio padded with 30 s of zeros, a centred
//! STFT (reflect padding, periodic Hann window of 400, hop 160), power
//! spectrum × Slaney mel filter bank (librosa's `mel(sr=16000, n_fft=400,
//! n_mels=80)`), `log10(max(x, 1e-10))`, floored at the maximum − 8, then
//! `(x + 4) / 4`. The padding frames are the model's "silence" (what it was
//! trained on), not zeros.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per second.
pub(crate) const SAMPLE_RATE: usize = 16_000;
/// FFT window.
const N_FFT: usize = 400;
/// Hop between frames (10 ms).
const HOP: usize = 160;
/// Frames in the model's 30 s window.
pub(crate) const FRAMES: usize = 3000;
/// Samples in the model's 30 s window.
pub(crate) const N_SAMPLES: usize = FRAMES * HOP;
const BINS: usize = N_FFT / 2 + 1;

/// Reusable feature extractor (FFT plan, window, filter bank).
pub(crate) struct MelExtractor {
    n_mels: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// `n_mels` rows of `BINS` weights.
    filters: Vec<f32>,
    /// Each row's non-zero bins, `lo..hi`.
    bands: Vec<(usize, usize)>,
}

impl MelExtractor {
    pub(crate) fn new(n_mels: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let window = (0..N_FFT).map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / N_FFT as f32).cos()).collect();
        let filters = slaney_filters(n_mels);
        let bands = filters
            .chunks(BINS)
            .map(|row| {
                let lo = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let hi = row.iter().rposition(|&w| w != 0.0).map_or(lo, |i| i + 1);
                (lo, hi)
            })
            .collect();
        Self { n_mels, fft, window, filters, bands }
    }

    /// Features of `audio` (mono, 16 kHz, −1..1; at most 30 s are used),
    /// row-major `[n_mels][FRAMES]`, the model input for a batch of one.
    pub(crate) fn features(&self, audio: &[f32]) -> Vec<f32> {
        let audio = &audio[..audio.len().min(N_SAMPLES)];
        let pad = N_FFT / 2;
        // The padded signal: audio then zeros, reflect-padded by N_FFT/2 on
        // both sides (torch.stft(center=True)). Only the frames that touch
        // audio need an FFT; the others are all zeros.
        let sample = |i: isize| -> f32 {
            // Index into audio ++ zeros(N_SAMPLES), reflected at 0 (the far
            // end is zeros either way).
            let j = if i < 0 { (-i) as usize } else { i as usize };
            audio.get(j).copied().unwrap_or(0.0)
        };
        let mut out = vec![0f32; self.n_mels * FRAMES];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0f32; BINS];
        let audio_frames = if audio.is_empty() { 0 } else { ((audio.len() + pad) / HOP + 1).min(FRAMES) };
        let mut max = f32::NEG_INFINITY;
        for t in 0..FRAMES {
            if t < audio_frames {
                let start = (t * HOP) as isize - pad as isize;
                for (n, x) in frame.iter_mut().enumerate() {
                    *x = sample(start + n as isize) * self.window[n];
                }
                if self.fft.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).is_err() {
                    power.fill(0.0);
                } else {
                    for (p, c) in power.iter_mut().zip(&spectrum) {
                        *p = c.norm_sqr();
                    }
                }
            } else {
                // All padding from here: every band is log10(1e-10).
                for m in 0..self.n_mels {
                    out[m * FRAMES + t..(m + 1) * FRAMES].fill(-10.0);
                }
                max = max.max(-10.0);
                break;
            }
            for (m, &(lo, hi)) in self.bands.iter().enumerate() {
                let weights = &self.filters[m * BINS + lo..m * BINS + hi];
                let e: f32 = weights.iter().zip(&power[lo..hi]).map(|(w, p)| w * p).sum();
                let v = e.max(1e-10).log10();
                max = max.max(v);
                out[m * FRAMES + t] = v;
            }
        }
        let floor = max - 8.0;
        for v in &mut out {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        out
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz, logarithmic above.
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney").
fn slaney_filters(n_mels: usize) -> Vec<f32> {
    let sr = SAMPLE_RATE as f64;
    let fft_freqs: Vec<f64> = (0..BINS).map(|k| k as f64 * sr / N_FFT as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut out = vec![0f32; n_mels * BINS];
    for m in 0..n_mels {
        let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            out[m * BINS + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_the_floor_and_a_tone_lands_in_its_band() {
        let mel = MelExtractor::new(80);
        let silence = mel.features(&[]);
        assert_eq!(silence.len(), 80 * FRAMES);
        // All −10 in log10, floored at itself: (−10 + 4) / 4.
        assert!(silence.iter().all(|v| (v + 1.5).abs() < 1e-6));
        // 1 s of 1 kHz: its band is loud in the first 100 frames, and the
        // padding after it sits at the floor (max − 8).
        let tone: Vec<f32> = (0..SAMPLE_RATE).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin()).collect();
        let f = mel.features(&tone);
        let band = (0..80).max_by(|&a, &b| f[a * FRAMES + 50].total_cmp(&f[b * FRAMES + 50])).unwrap();
        let hz = mel_to_hz(hz_to_mel(0.0) + (hz_to_mel(8000.0) - hz_to_mel(0.0)) * (band + 1) as f64 / 81.0);
        assert!((hz - 1000.0).abs() < 100.0, "loudest band at {hz} Hz");
        let max = f.iter().copied().fold(f32::MIN, f32::max);
        assert!((f[band * FRAMES + 2000] - (max - 2.0)).abs() < 1e-5, "padding at the floor");
    }

    #[test]
    fn features_match_faster_whisper() {
        // faster_whisper.feature_extractor.FeatureExtractor()(x, padding=480000)[:, :3000]
        // for x = 0.5·sin(2π·1000·t), 1 s at 16 kHz (faster-whisper 1.2.1).
        let tone: Vec<f32> =
            (0..SAMPLE_RATE).map(|i| 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16_000.0).sin() as f32).collect();
        let f = MelExtractor::new(80).features(&tone);
        let at = |m: usize, t: usize| f[m * FRAMES + t];
        let band = (0..80).max_by(|&a, &b| at(a, 50).total_cmp(&at(b, 50))).unwrap();
        assert_eq!(band, 26);
        for (got, want) in [(at(26, 50), 1.439_651_7), (at(17, 0), 0.933_708_85), (at(17, 99), 0.279_295_86), (at(17, 2000), -0.560_348_3)]
        {
            assert!((got - want).abs() < 2e-3, "{got} vs {want}");
        }
    }

    #[test]
    fn filters_match_librosa() {
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)[0][:3] and
        // the first filter's peak bin.
        let f = slaney_filters(80);
        assert!(f[0].abs() < 1e-9);
        assert!((f[1] - 0.024_862_31).abs() < 1e-4, "{}", f[1]);
        assert!(f[2].abs() < 1e-4, "{}", f[2]);
    }
}
