//! Streaming resampling (media::resample) keeps tones clean: frequency,
//! level and no chunk-rate (50 Hz) artefacts through 8 → 16 → 8 kHz and
//! from TTS rates to 8 kHz; output length follows the rate ratio.

use media::StreamResampler;

/// −10 dBFS peak.
const AMPLITUDE: f64 = 32768.0 * 0.316_227_766;

fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<i16> {
    let len = (seconds * f64::from(rate)) as usize;
    (0..len).map(|n| (AMPLITUDE * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16).collect()
}

/// Amplitude of the `freq` component of `x` (Hann window, Goertzel).
fn amplitude_at(x: &[i16], rate: u32, freq: f64) -> f64 {
    let n = x.len() as f64;
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut window_sum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &s) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos();
        window_sum += hann;
        let s0 = f64::from(s) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / window_sum
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-12).log10()
}

/// The strongest frequency on a 5 Hz grid up to Nyquist (resolution ±4 Hz
/// with a 0.5 s window).
fn peak_frequency(x: &[i16], rate: u32) -> f64 {
    (4..rate / 10)
        .map(|k| f64::from(k) * 5.0)
        .map(|f| (f, amplitude_at(x, rate, f)))
        .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
        .0
}

/// Chunk-rate artefacts relative to the tone, in dB: (worst of the 50, 100
/// and 150 Hz bins, all of them together). A distortion that repeats every
/// 20 ms turns a tone at `f0` into components at `|f0 + 50·k|`: "all of
/// them" sums those below Nyquist other than the tone itself (this includes
/// 50, 100 and 150 Hz when `f0` is a multiple of 50 Hz).
fn chunk_artefacts_db(x: &[i16], rate: u32, tone: f64) -> (f64, f64) {
    let reference = amplitude_at(x, rate, tone);
    let worst_bin = [50.0, 100.0, 150.0].map(|f| db(amplitude_at(x, rate, f) / reference)).into_iter().fold(f64::NEG_INFINITY, f64::max);
    let nyquist = f64::from(rate) / 2.0;
    let comb_power: f64 = (-(nyquist as i64) / 50..=(nyquist as i64) / 50)
        .filter(|&k| k != 0)
        .map(|k| (tone + 50.0 * k as f64).abs())
        .filter(|&f| f < nyquist - 25.0 && (f - tone).abs() > 25.0)
        .map(|f| (amplitude_at(x, rate, f) / reference).powi(2))
        .sum();
    (worst_bin, 10.0 * comb_power.max(1e-24).log10())
}

/// Feeds `input` in 20 ms pieces through one resampler per stream.
fn stream(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    let mut r = StreamResampler::new(from, to, from as usize / 50).unwrap();
    let mut out = Vec::with_capacity(input.len() * to as usize / from as usize + 1);
    for piece in input.chunks(from as usize / 50) {
        r.process(piece, &mut out);
    }
    r.flush(&mut out);
    out
}

/// The anti-pattern of DESIGN.md §7: a new resampler for every 20 ms chunk.
fn resampler_per_chunk(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    let mut out = Vec::new();
    for piece in input.chunks(from as usize / 50) {
        let mut r = StreamResampler::new(from, to, from as usize / 50).unwrap();
        r.process(piece, &mut out);
        r.flush(&mut out);
    }
    out
}

/// Checks a tone after conversion: steady-state window of 2 s from 1 s in.
fn assert_clean_tone(out: &[i16], rate: u32, tone: f64, what: &str) {
    let window = &out[rate as usize..3 * rate as usize];
    let peak = peak_frequency(&window[..rate as usize / 2], rate);
    assert_eq!(peak, tone, "{what}: peak at {peak} Hz");
    let level = db(amplitude_at(window, rate, tone) / AMPLITUDE);
    assert!(level.abs() <= 0.5, "{what}: level changed by {level:.2} dB");
    let (bins, comb) = chunk_artefacts_db(window, rate, tone);
    assert!(bins <= -60.0 && comb <= -60.0, "{what}: 50 Hz artefacts at {bins:.1} dB (50/100/150 Hz), {comb:.1} dB (all)");
}

#[test]
fn tones_survive_8k_to_16k_to_8k() {
    for tone in [440.0, 1000.0, 3000.0] {
        let input = sine(tone, 8000, 4.0);
        let wide = stream(&input, 8000, 16000);
        assert_clean_tone(&wide, 16000, tone, &format!("{tone} Hz at 16 kHz"));
        let back = stream(&wide, 16000, 8000);
        assert_eq!(back.len(), input.len());
        assert_clean_tone(&back, 8000, tone, &format!("{tone} Hz 8 -> 16 -> 8 kHz"));
    }
}

#[test]
fn tts_rates_down_to_8k() {
    for from in [22050, 24000, 44100, 48000] {
        for tone in [440.0, 1000.0, 3000.0] {
            let out = stream(&sine(tone, from, 3.0), from, 8000);
            assert_eq!(out.len(), 24000);
            assert_clean_tone(&out, 8000, tone, &format!("{tone} Hz {from} -> 8000"));
        }
    }
}

#[test]
fn a_resampler_per_chunk_fails_the_artefact_check() {
    // Proves the check above can fail: restarting the filter every 20 ms
    // (even trimming its delay and flushing its tail each time) distorts
    // the chunk edges, 50 times a second.
    for tone in [440.0, 1000.0] {
        let input = sine(tone, 8000, 4.0);
        let back = resampler_per_chunk(&resampler_per_chunk(&input, 8000, 16000), 16000, 8000);
        assert_eq!(back.len(), input.len());
        let (_, comb) = chunk_artefacts_db(&back[8000..24000], 8000, tone);
        assert!(comb > -50.0, "{tone} Hz: per-chunk resampling artefacts only {comb:.1} dB");
        let streamed = stream(&stream(&input, 8000, 16000), 16000, 8000);
        let (_, streamed_comb) = chunk_artefacts_db(&streamed[8000..24000], 8000, tone);
        assert!(streamed_comb < comb - 40.0, "{tone} Hz: streamed {streamed_comb:.1} dB vs per chunk {comb:.1} dB");
    }
}

#[test]
fn images_and_aliases_are_suppressed() {
    // 16 -> 8 kHz: a 5 kHz tone would fold to 3 kHz.
    let out = stream(&sine(5000.0, 16000, 3.0), 16000, 8000);
    let alias = db(amplitude_at(&out[8000..16000], 8000, 3000.0) / AMPLITUDE);
    assert!(alias < -50.0, "5 kHz aliased to 3 kHz at {alias:.1} dB");
    // 8 -> 16 kHz: a 3 kHz tone must not leave an image at 5 kHz.
    let out = stream(&sine(3000.0, 8000, 3.0), 8000, 16000);
    let image = db(amplitude_at(&out[16000..32000], 16000, 5000.0) / AMPLITUDE);
    assert!(image < -50.0, "3 kHz imaged to 5 kHz at {image:.1} dB");
}

#[test]
fn output_length_tracks_the_ratio_over_10_s() {
    for (from, to) in [(8000, 16000), (16000, 8000), (22050, 8000), (44100, 8000), (48000, 8000)] {
        let mut r = StreamResampler::new(from, to, from as usize / 50).unwrap();
        let input = sine(1000.0, from, 10.0);
        let bound = (r.output_chunk() + r.delay_samples()) as u64;
        let (mut out, mut fed) = (Vec::new(), 0u64);
        // Uneven pieces, as a jitter buffer or a TTS engine would deliver.
        for (i, piece) in input.chunks(97).enumerate() {
            let piece = if i % 3 == 0 { &piece[..piece.len() / 2] } else { piece };
            fed += piece.len() as u64;
            r.process(piece, &mut out);
            let ideal = fed * u64::from(to) / u64::from(from);
            assert!(out.len() as u64 <= ideal && ideal - out.len() as u64 <= bound, "{from}->{to}: {} after {fed}", out.len());
        }
        r.flush(&mut out);
        assert_eq!(out.len() as u64, (fed * u64::from(to)).div_ceil(u64::from(from)), "{from}->{to}");
    }
}
