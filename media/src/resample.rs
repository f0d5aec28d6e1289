//! Streaming sample-rate conversion for call audio: 8 kHz caller audio up
//! to the 16 kHz that recognisers want, 16 kHz back to 8 kHz, and TTS output
//! (22 050 / 24 000 / 44 100 / 48 000 Hz) down to 8 kHz for G.711.
//!
//! One [`StreamResampler`] per stream, built once (DESIGN.md §7: a rubato
//! resampler built per packet restarts its filter every packet and buzzes at
//! the packet rate, 50 Hz for 20 ms packets). It wraps a rubato 5.1 `Fft`
//! resampler (synchronous, fixed ratio, `FixedSync::Both`) with a single FFT
//! block per chunk, so the anti-aliasing filter is as long as the chunk:
//! 20 ms chunks give a 160-tap filter at 8 kHz whose pass band reaches
//! ~3.6 kHz. The chunk must be a whole number of samples on both sides
//! (`chunk × to / from` an integer): 20 ms works for every rate above.
//!
//! Input of any length is buffered internally and whole chunks are
//! converted; work is done in `f32` and rounded to `i16` once, clipping the
//! filter's overshoot. After construction nothing allocates: the `f32`
//! buffers are reused, and the only growth is of the caller's `out` vector.
//!
//! Timing: the output is aligned with the input. The filter's start-up
//! delay is trimmed, so output sample `k` is the signal at input instant
//! `k / to` seconds (to within half an output sample when the output chunk
//! is odd, as rubato rounds its delay down). The price is latency: input
//! waits in the buffer until its chunk is complete (up to `chunk − 1` input
//! samples), then the last [`StreamResampler::delay_samples`] output samples
//! of each chunk are held back until the next chunk (the filter needs the
//! future). So after `n` input samples the stream has emitted between
//! `⌊n·to/from⌋ − output_chunk() − delay_samples()` and `⌊n·to/from⌋`
//! samples; with 20 ms chunks the latency is at most 30 ms. [`flush`]
//! ends a stream and emits the rest: exactly `⌈n·to/from⌉` samples in all.
//!
//! Equal rates are a pass-through (no filter, no delay).
//!
//! [`flush`]: StreamResampler::flush

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::MediaError;

/// Highest sample rate accepted (either side).
pub const MAX_RATE: u32 = 384_000;

/// Why a [`StreamResampler`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ResamplerSetupError {
    /// A rate of 0 Hz or above [`MAX_RATE`].
    #[error("sample rates must be 1..={MAX_RATE} Hz")]
    Rate,
    /// The chunk is empty or not a whole number of output samples.
    #[error("the input chunk must be a positive multiple of {step} samples")]
    Chunk { step: usize },
    /// rubato refused the parameters.
    #[error("rubato: {0}")]
    Rubato(#[from] rubato::ResamplerConstructionError),
}

/// A fixed-ratio resampler for one continuous mono `i16` stream.
pub struct StreamResampler {
    from: u32,
    to: u32,
    chunk_in: usize,
    chunk_out: usize,
    /// `None` when `from == to`.
    fft: Option<Fft<f32>>,
    /// The chunk being filled, `fill` samples so far.
    input: Vec<f32>,
    fill: usize,
    /// rubato writes one output chunk here.
    output: Vec<f32>,
    /// Start-up delay still to drop from the output.
    to_trim: usize,
    /// Input samples taken and output samples emitted since the last reset.
    consumed: u64,
    emitted: u64,
    /// Chunks rubato failed to convert (replaced by silence).
    failures: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("chunk_in", &self.chunk_in)
            .field("chunk_out", &self.chunk_out)
            .field("pending", &self.fill)
            .field("consumed", &self.consumed)
            .field("emitted", &self.emitted)
            .finish()
    }
}

impl StreamResampler {
    /// Builds a resampler from `from_rate` to `to_rate` Hz converting
    /// `chunk_in_samples` input samples at a time (e.g. 160 for 20 ms at
    /// 8 kHz). The chunk must be a multiple of `from / gcd(from, to)`.
    pub fn new(from_rate: u32, to_rate: u32, chunk_in_samples: usize) -> Result<Self, MediaError> {
        let setup_error = |reason| MediaError::ResamplerSetup { from: from_rate, to: to_rate, chunk: chunk_in_samples, reason };
        if from_rate == 0 || to_rate == 0 || from_rate > MAX_RATE || to_rate > MAX_RATE {
            return Err(setup_error(ResamplerSetupError::Rate));
        }
        let step = (from_rate / gcd(from_rate, to_rate)) as usize;
        if chunk_in_samples == 0 || !chunk_in_samples.is_multiple_of(step) {
            return Err(setup_error(ResamplerSetupError::Chunk { step }));
        }
        let chunk_out = chunk_in_samples / step * (to_rate / gcd(from_rate, to_rate)) as usize;
        let fft = if from_rate == to_rate {
            None
        } else {
            // One FFT block per chunk: the longest filter the chunk allows.
            let fft = Fft::<f32>::new_custom(
                from_rate as usize,
                to_rate as usize,
                chunk_in_samples,
                1,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Both,
            )
            .map_err(|e| setup_error(e.into()))?;
            debug_assert_eq!((fft.input_frames_next(), fft.output_frames_next()), (chunk_in_samples, chunk_out));
            Some(fft)
        };
        let mut resampler = Self {
            from: from_rate,
            to: to_rate,
            chunk_in: chunk_in_samples,
            chunk_out,
            fft,
            input: vec![0.0; chunk_in_samples],
            fill: 0,
            output: vec![0.0; chunk_out],
            to_trim: 0,
            consumed: 0,
            emitted: 0,
            failures: 0,
        };
        resampler.reset();
        Ok(resampler)
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Input samples converted at a time.
    pub fn input_chunk(&self) -> usize {
        self.chunk_in
    }

    /// Output samples produced per input chunk.
    pub fn output_chunk(&self) -> usize {
        self.chunk_out
    }

    /// The filter's delay in output samples: half an output chunk (rounded
    /// down), 0 for a pass-through. It is trimmed from the start of the
    /// stream, so it shows only as latency; see the module doc for the bound
    /// on how far the output lags the input.
    pub fn delay_samples(&self) -> usize {
        if self.fft.is_some() {
            self.chunk_out / 2
        } else {
            0
        }
    }

    /// Chunks that could not be converted and were replaced by silence
    /// (never expected; counted rather than panicking on a media thread).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Input samples waiting for their chunk to fill.
    pub fn pending_input(&self) -> usize {
        self.fill
    }

    /// Converts `input` (any length, possibly empty), appending every
    /// completed output sample to `out`. Returns the number appended.
    pub fn process(&mut self, mut input: &[i16], out: &mut Vec<i16>) -> usize {
        let before = out.len();
        while !input.is_empty() {
            let take = input.len().min(self.chunk_in - self.fill);
            for (dst, &src) in self.input[self.fill..self.fill + take].iter_mut().zip(&input[..take]) {
                *dst = f32::from(src) / 32768.0;
            }
            self.fill += take;
            self.consumed += take as u64;
            input = &input[take..];
            if self.fill == self.chunk_in {
                self.run_chunk(out, usize::MAX);
            }
        }
        out.len() - before
    }

    /// Ends the stream: pads the pending input with silence, drains the
    /// filter and appends the rest of the output, so that `⌈n·to/from⌉`
    /// samples have been emitted for the `n` input samples since the last
    /// reset. Then resets, ready for a new stream. Returns the number
    /// appended.
    pub fn flush(&mut self, out: &mut Vec<i16>) -> usize {
        let before = out.len();
        let total = (self.consumed * u64::from(self.to)).div_ceil(u64::from(self.from));
        while self.emitted < total {
            self.input[self.fill..].fill(0.0);
            self.fill = self.chunk_in;
            let wanted = usize::try_from(total - self.emitted).unwrap_or(usize::MAX);
            self.run_chunk(out, wanted);
        }
        self.reset();
        out.len() - before
    }

    /// Forgets the stream (buffered input, filter state, counters) without
    /// emitting anything.
    pub fn reset(&mut self) {
        if let Some(fft) = self.fft.as_mut() {
            fft.reset();
        }
        self.fill = 0;
        self.to_trim = self.delay_samples();
        self.consumed = 0;
        self.emitted = 0;
    }

    /// Converts the full input chunk, appending at most `limit` samples
    /// (after the start-up trim) to `out`.
    fn run_chunk(&mut self, out: &mut Vec<i16>, limit: usize) {
        debug_assert_eq!(self.fill, self.chunk_in);
        self.fill = 0;
        let produced = match self.fft.as_mut() {
            None => {
                self.output.copy_from_slice(&self.input);
                self.chunk_out
            }
            Some(fft) => {
                // Both buffers were sized for this resampler in `new`, and
                // one channel is always one channel: rubato should not fail
                // here. If it does, the chunk becomes silence (counted)
                // rather than a panic on the media thread.
                match run_fft(fft, &self.input, &mut self.output, self.chunk_in, self.chunk_out) {
                    Ok(produced) => produced.min(self.chunk_out),
                    Err(error) => {
                        self.failures += 1;
                        if self.failures == 1 {
                            tracing::warn!(%error, from = self.from, to = self.to, "resampler failed; chunk replaced by silence");
                        }
                        self.output.fill(0.0);
                        self.chunk_out
                    }
                }
            }
        };
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        let keep = (produced - skip).min(limit);
        out.extend(self.output[skip..skip + keep].iter().map(|&x| to_i16(x)));
        self.emitted += keep as u64;
    }
}

/// One FFT block of `input` into `output`: produced output frames.
fn run_fft(fft: &mut Fft<f32>, input: &[f32], output: &mut [f32], chunk_in: usize, chunk_out: usize) -> Result<usize, String> {
    let input = InterleavedSlice::new(input, 1, chunk_in).map_err(|e| e.to_string())?;
    let mut output = InterleavedSlice::new_mut(output, 1, chunk_out).map_err(|e| e.to_string())?;
    let (_, produced) = fft.process_into_buffer(&input, &mut output, None).map_err(|e| e.to_string())?;
    Ok(produced)
}

fn to_i16(x: f32) -> i16 {
    // Round half away from zero without libm's `roundf` (a call per
    // sample showed up in profiles); float-to-int `as` saturates.
    let y = x * 32768.0;
    (y + 0.5f32.copysign(y)) as i16
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, len: usize, amplitude: f64) -> Vec<i16> {
        (0..len).map(|n| (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16).collect()
    }

    #[test]
    fn twenty_ms_chunks_for_all_call_and_tts_rates() {
        for (from, to) in [(8000, 16000), (16000, 8000), (22050, 8000), (24000, 8000), (44100, 8000), (48000, 8000), (8000, 8000)] {
            let chunk = from as usize / 50;
            let r = StreamResampler::new(from, to, chunk).unwrap();
            assert_eq!(r.output_chunk(), to as usize / 50, "{from}->{to}");
            assert!(r.delay_samples() <= r.output_chunk() / 2);
        }
    }

    #[test]
    fn bad_rates_and_chunks_are_errors() {
        let reason = |r: Result<StreamResampler, MediaError>| match r {
            Err(MediaError::ResamplerSetup { reason, .. }) => reason,
            other => panic!("expected a setup error, got {other:?}"),
        };
        assert!(matches!(reason(StreamResampler::new(0, 8000, 160)), ResamplerSetupError::Rate));
        assert!(matches!(reason(StreamResampler::new(8000, MAX_RATE + 1, 160)), ResamplerSetupError::Rate));
        assert!(matches!(reason(StreamResampler::new(8000, 16000, 0)), ResamplerSetupError::Chunk { step: 1 }));
        // 10 ms at 22.05 kHz is 220.5 samples: no whole chunk maps to 8 kHz.
        assert!(matches!(reason(StreamResampler::new(22050, 8000, 220)), ResamplerSetupError::Chunk { step: 441 }));
    }

    #[test]
    fn input_split_any_way_gives_the_same_output() {
        let signal = sine(1000.0, 8000, 8000, 10000.0);
        let mut reference = Vec::new();
        let mut r = StreamResampler::new(8000, 16000, 160).unwrap();
        r.process(&signal, &mut reference);
        r.flush(&mut reference);
        assert_eq!(reference.len(), 16000);
        for piece in [1, 7, 159, 160, 161, 1000] {
            let mut out = Vec::new();
            for part in signal.chunks(piece) {
                r.process(part, &mut out);
            }
            r.flush(&mut out);
            assert_eq!(out, reference, "pieces of {piece}");
        }
    }

    #[test]
    fn output_is_aligned_with_the_input() {
        // A 1 kHz sine at 8 kHz and at 16 kHz: after up-sampling the first
        // samples must match the sine sampled at 16 kHz (no delay, no shift).
        let mut r = StreamResampler::new(8000, 16000, 160).unwrap();
        let mut out = Vec::new();
        r.process(&sine(1000.0, 8000, 1600, 10000.0), &mut out);
        let expected = sine(1000.0, 16000, out.len(), 10000.0);
        // Skip the filter's start-up transient (one delay).
        let worst = out.iter().zip(&expected).skip(r.delay_samples()).map(|(a, b)| (a - b).abs()).max().unwrap();
        assert!(worst < 150, "max deviation {worst} of 10000");
    }

    #[test]
    fn lag_is_bounded_and_flush_completes_the_stream() {
        let mut r = StreamResampler::new(44100, 8000, 882).unwrap();
        let mut out = Vec::new();
        let mut fed = 0u64;
        for len in [1usize, 881, 1, 5000, 3, 44100, 2] {
            r.process(&vec![0i16; len], &mut out);
            fed += len as u64;
            let ideal = fed * 8000 / 44100;
            let lag = ideal - out.len() as u64;
            assert!(lag <= (r.output_chunk() + r.delay_samples()) as u64, "lag {lag} after {fed}");
        }
        r.flush(&mut out);
        assert_eq!(out.len() as u64, (fed * 8000).div_ceil(44100));
        assert_eq!(r.pending_input(), 0);
    }

    #[test]
    fn pass_through_at_equal_rates() {
        let mut r = StreamResampler::new(16000, 16000, 320).unwrap();
        let signal = sine(440.0, 16000, 1000, 8000.0);
        let mut out = Vec::new();
        r.process(&signal, &mut out);
        assert_eq!(out.len(), 960);
        r.flush(&mut out);
        assert_eq!(out, signal);
    }

    #[test]
    fn full_scale_overshoot_clips_instead_of_wrapping() {
        let square: Vec<i16> = (0..1600).map(|n| if (n / 20) % 2 == 0 { 32767 } else { -32768 }).collect();
        let mut r = StreamResampler::new(8000, 16000, 160).unwrap();
        let mut out = Vec::new();
        r.process(&square, &mut out);
        // Gibbs overshoot saturates; a wrap would flip the sign mid-plateau.
        let plateau = &out[170..190]; // input 85..95: a positive half period
        assert!(out.contains(&32767), "no overshoot to clip?");
        assert!(plateau.iter().all(|&s| s > 20000), "{plateau:?}");
    }

    #[test]
    fn reset_forgets_buffered_input() {
        let mut r = StreamResampler::new(16000, 8000, 320).unwrap();
        let mut out = Vec::new();
        r.process(&[1000i16; 100], &mut out);
        assert_eq!(r.pending_input(), 100);
        r.reset();
        assert_eq!(r.pending_input(), 0);
        r.flush(&mut out);
        assert!(out.is_empty());
    }
}
