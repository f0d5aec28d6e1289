//! Audio conversion for prompts: any WAV hound can read (8/16/24/32-bit
//! integer or 32-bit float, any channel count, any rate) to mono `i16`
//! [`Pcm`], back to WAV bytes, and whole-clip resampling with rubato.
//!
//! Resampling is offline, per clip: one rubato `Fft` (synchronous, fixed
//! ratio) resampler is built for the clip and driven by `process_all`, which
//! feeds fixed-size chunks, flushes the tail with silence and trims the
//! resampler's delay, so the output is aligned with the input and
//! `ceil(len * to / from)` samples long (chunk sizes are chosen so the
//! delay is a whole number of samples; see `even_block_chunk`). Work is done in `f32`; a WAV is
//! downmixed and resampled before it is rounded to `i16` once.

use std::io::{Cursor, Read};

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};
use media::Pcm;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::ConvertError;

/// Highest sample rate accepted anywhere in this crate.
pub const MAX_RATE: u32 = 384_000;
/// Longest clip accepted, in mono frames (30 minutes at 48 kHz).
pub const MAX_FRAMES: usize = 48_000 * 60 * 30;
/// Target chunk size handed to rubato (rounded to fit the rate ratio).
const CHUNK_FRAMES: usize = 1024;
/// Upper bound on the up-front allocation trusted from a WAV header.
const PREALLOC_FRAMES: usize = 1 << 20;

/// Mono audio in `f32` (full scale = ±1.0) at `rate` Hz.
struct MonoF32 {
    samples: Vec<f32>,
    rate: u32,
}

/// Decodes a WAV stream to mono `i16` PCM at the file's own rate.
/// Channels are averaged.
pub fn decode_wav<R: Read>(reader: R) -> Result<Pcm, ConvertError> {
    let mono = read_mono_f32(reader)?;
    Ok(Pcm::new(to_i16(&mono.samples), mono.rate))
}

/// Decodes a WAV stream to mono `i16` PCM at `rate` Hz (downmix, then
/// resample in `f32`, then round once).
pub fn decode_wav_at<R: Read>(reader: R, rate: u32) -> Result<Pcm, ConvertError> {
    check_rate(rate)?;
    let mono = read_mono_f32(reader)?;
    let samples = if mono.rate == rate { mono.samples } else { resample_f32(&mono.samples, mono.rate, rate)? };
    Ok(Pcm::new(to_i16(&samples), rate))
}

/// Encodes mono PCM as a 16-bit WAV file image.
pub fn encode_wav(pcm: &Pcm) -> Result<Vec<u8>, ConvertError> {
    check_rate(pcm.rate)?;
    let spec = WavSpec { channels: 1, sample_rate: pcm.rate, bits_per_sample: 16, sample_format: SampleFormat::Int };
    let mut out = Cursor::new(Vec::with_capacity(44 + pcm.samples.len() * 2));
    let mut writer = WavWriter::new(&mut out, spec)?;
    {
        let mut i16_writer = writer.get_i16_writer(u32::try_from(pcm.samples.len()).map_err(|_| too_long())?);
        for &s in pcm.samples.iter() {
            i16_writer.write_sample(s);
        }
        i16_writer.flush()?;
    }
    writer.finalize()?;
    Ok(out.into_inner())
}

/// Resamples a whole clip to `target_rate`. Equal rates return the same
/// samples (an `Arc` clone, no copy).
pub fn resample(pcm: &Pcm, target_rate: u32) -> Result<Pcm, ConvertError> {
    check_rate(pcm.rate)?;
    check_rate(target_rate)?;
    if pcm.rate == target_rate {
        return Ok(pcm.clone());
    }
    let input: Vec<f32> = pcm.samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let output = resample_f32(&input, pcm.rate, target_rate)?;
    Ok(Pcm::new(to_i16(&output), target_rate))
}

fn too_long() -> ConvertError {
    ConvertError::TooLong { max_samples: MAX_FRAMES }
}

fn check_rate(rate: u32) -> Result<(), ConvertError> {
    if rate == 0 || rate > MAX_RATE {
        return Err(ConvertError::UnsupportedRate(rate));
    }
    Ok(())
}

fn read_mono_f32<R: Read>(reader: R) -> Result<MonoF32, ConvertError> {
    let mut wav = WavReader::new(reader)?;
    let spec = wav.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(ConvertError::NoChannels);
    }
    check_rate(spec.sample_rate)?;
    let declared_frames = usize::try_from(wav.duration()).unwrap_or(usize::MAX);
    let mut mixer = Downmix::new(channels, declared_frames.min(PREALLOC_FRAMES));
    match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            for sample in wav.samples::<i32>() {
                mixer.push((f64::from(sample?) * scale) as f32)?;
            }
        }
        (SampleFormat::Float, 32) => {
            for sample in wav.samples::<f32>() {
                mixer.push(sample?)?;
            }
        }
        (format, bits) => return Err(ConvertError::UnsupportedFormat { format, bits }),
    }
    Ok(MonoF32 { samples: mixer.frames, rate: spec.sample_rate })
}

/// Averages interleaved channels into mono frames as samples arrive.
struct Downmix {
    channels: usize,
    pending: usize,
    sum: f32,
    frames: Vec<f32>,
}

impl Downmix {
    fn new(channels: usize, capacity: usize) -> Self {
        Self { channels, pending: 0, sum: 0.0, frames: Vec::with_capacity(capacity) }
    }

    fn push(&mut self, sample: f32) -> Result<(), ConvertError> {
        // NaN/inf in a float WAV would poison the resampler; treat as silence.
        self.sum += if sample.is_finite() { sample } else { 0.0 };
        self.pending += 1;
        if self.pending == self.channels {
            if self.frames.len() >= MAX_FRAMES {
                return Err(too_long());
            }
            self.frames.push(self.sum / self.channels as f32);
            self.pending = 0;
            self.sum = 0.0;
        }
        Ok(())
    }
}

/// Resamples mono `f32` with one rubato `Fft` resampler for the whole clip.
fn resample_f32(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ConvertError> {
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, even_block_chunk(from, to), 1, FixedSync::Both)
        .map_err(|source| ConvertError::ResamplerSetup { from, to, source })?;
    let input = InterleavedSlice::new(samples, 1, samples.len())?;
    let output = resampler.process_all(&input, samples.len(), None).map_err(|source| ConvertError::Resample { from, to, source })?;
    Ok(output.take_data())
}

/// A chunk size near `CHUNK_FRAMES` made of an even number of the smallest
/// FFT blocks the rate pair allows (`from / gcd` input frames). rubato's
/// `Fft` reports its delay as `fft_size_out / 2` rounded down; with an odd
/// block on either side the clip would come out shifted by half a sample.
/// An even count makes both block sizes even and the trimmed output exact.
fn even_block_chunk(from: u32, to: u32) -> usize {
    let min_in = (from / gcd(from, to)) as usize;
    let blocks = CHUNK_FRAMES.div_ceil(min_in).max(1);
    (blocks + blocks % 2) * min_in
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Rounds full-scale `f32` to `i16`, clipping overshoot.
fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(spec: WavSpec, write: impl FnOnce(&mut WavWriter<&mut Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut w = WavWriter::new(&mut out, spec).unwrap();
        write(&mut w);
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_8_24_bit_and_float_to_the_same_levels() {
        let int = |bits| WavSpec { channels: 2, sample_rate: 8000, bits_per_sample: bits, sample_format: SampleFormat::Int };
        let b8 = wav_bytes(int(8), |w| [32i8, 32, -32, 0].iter().for_each(|&s| w.write_sample(s).unwrap()));
        let b24 = wav_bytes(int(24), |w| [1 << 21, 1 << 21, -(1 << 21), 0].iter().for_each(|&s| w.write_sample(s).unwrap()));
        let float = WavSpec { channels: 2, sample_rate: 8000, bits_per_sample: 32, sample_format: SampleFormat::Float };
        let bf = wav_bytes(float, |w| [0.25f32, 0.25, -0.25, 0.0].iter().for_each(|&s| w.write_sample(s).unwrap()));
        for bytes in [b8, b24, bf] {
            let pcm = decode_wav(Cursor::new(bytes)).unwrap();
            assert_eq!(pcm.rate, 8000);
            assert_eq!(&pcm.samples[..], &[8192, -4096]);
        }
    }

    #[test]
    fn wav_round_trip() {
        let pcm = Pcm::new(vec![0i16, 1, -1, 32767, -32768], 16000);
        let back = decode_wav(Cursor::new(encode_wav(&pcm).unwrap())).unwrap();
        assert_eq!(back, pcm);
    }

    #[test]
    fn garbage_and_bad_rates_are_errors_not_panics() {
        assert!(matches!(decode_wav(Cursor::new(b"RIFF\0\0\0\0WAVEjunk".to_vec())), Err(ConvertError::Wav(_))));
        assert!(decode_wav(Cursor::new(Vec::new())).is_err());
        let pcm = Pcm::new(vec![0i16; 10], 8000);
        assert!(matches!(resample(&pcm, 0), Err(ConvertError::UnsupportedRate(0))));
        assert!(matches!(resample(&Pcm::new(vec![0i16; 10], 0), 8000), Err(ConvertError::UnsupportedRate(0))));
        let float64 = WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 32, sample_format: SampleFormat::Float };
        let mut bytes = wav_bytes(float64, |w| w.write_sample(0.5f32).unwrap());
        bytes[34] = 64; // bits_per_sample = 64
        assert!(decode_wav(Cursor::new(bytes)).is_err());
    }

    #[test]
    fn empty_and_tiny_clips_resample() {
        assert_eq!(resample(&Pcm::new(Vec::<i16>::new(), 22050), 8000).unwrap().samples.len(), 0);
        let out = resample(&Pcm::new(vec![1000i16; 3], 22050), 8000).unwrap();
        assert_eq!(out.samples.len(), 2); // ceil(3 * 8000 / 22050)
        assert_eq!(out.rate, 8000);
    }
}
