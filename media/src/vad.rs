//! Voice activity detection and endpointing for one caller stream: tells a
//! recogniser (and barge-in) when the caller starts and stops talking.
//!
//! Sans-IO: the detector is fed 20 ms frames of `i16` at 8 or 16 kHz with
//! [`VoiceActivityDetector::handle_frame`] and never reads a clock; time is
//! the index of a sample since the detector was built or reset.
//!
//! Method (an energy endpointer in the tradition of Rabiner & Sambur 1975,
//! with a minimum-statistics noise floor after R. Martin 2001):
//! - each frame is high-passed at 100 Hz (2nd-order Butterworth: no DC, no
//!   mains hum) and its level taken in dBFS, also per 5 ms sub-block;
//! - the noise floor is the minimum of the (lightly smoothed) frame levels
//!   over the last 1.5 s: it follows noise down at once and up within 1.5 s,
//!   so a steady tone or noise that lasts longer becomes floor;
//! - a frame is *loud* at `start_threshold_db` above the floor, *active* at
//!   `continue_threshold_db` (hysteresis), *edge* at 3 dB; none of them
//!   below `min_level_dbfs`;
//! - a loud frame opens a candidate. Its onset goes back to the earliest
//!   edge frame of the 160 ms before (a weak first consonant, maybe after a
//!   stop's closure), then to that frame's first edge 5 ms sub-block. After
//!   `min_speech` of active frames with no gap over 40 ms,
//!   [`VadEvent::SpeechStart`] is reported, carrying that onset, not the
//!   time of the decision. A click or line crackle never lasts long enough;
//! - the end of speech is the last edge sub-block within 160 ms of the last
//!   active frame; [`VadEvent::SpeechEnd`] carries it once
//!   `end_of_speech_silence` has passed after it.
//!
//! Onset and end are exact to ~5 ms on clean speech; in noise they are where
//! the speech stands 3 dB out of it (a final /s/ or /t/ at 15 dB SNR does
//! not). The decisions come `min_speech` and `end_of_speech_silence` later.
//! Nothing here tells speech from other sounds of speech-like level and
//! duration (a tone burst, a cough): DTMF is the business of
//! [`crate::goertzel`].
//!
//! Pre-roll: the last `pre_roll + 2·min_speech + 180 ms` of raw input is kept
//! in a fixed ring, so that right after `SpeechStart` the recogniser can be
//! handed everything since `pre_roll` before the onset
//! ([`VoiceActivityDetector::onset_audio`]) and the first syllable is not
//! lost. Nothing allocates after construction.

use std::time::Duration;

use crate::MediaError;

/// Frame duration the detector works on.
pub const FRAME: Duration = Duration::from_millis(20);
const HIGH_PASS_HZ: f32 = 100.0;
/// Sub-blocks per frame, for onset/end precision (5 ms each).
const SUB_BLOCKS: usize = 4;
/// Frames over which the noise floor is the minimum (1.5 s).
const NOISE_WINDOW: usize = 75;
/// Edge level (dB above the floor, at most the continue threshold): an
/// onset is moved back, and an end forward, to frames that reach it within
/// `MAX_EDGE_FRAMES` (160 ms) of the loud / last active frame.
const EDGE_DB: f32 = 3.0;
const MAX_EDGE_FRAMES: usize = 8;
/// Longest run of inactive frames a candidate onset survives.
const MAX_ONSET_GAP: usize = 2;
/// Upper bound on `pre_roll` and `min_speech` (the ring is sized from them).
const MAX_BUFFERED: Duration = Duration::from_secs(5);

/// Why a [`VoiceActivityDetector`] cannot be built or fed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VadError {
    #[error("unsupported sample rate {rate} Hz: 8000 or 16000")]
    UnsupportedRate { rate: u32 },
    /// Thresholds must be finite, non-negative, `continue ≤ start`.
    #[error("thresholds must be finite and 0 <= continue_threshold_db <= start_threshold_db")]
    Thresholds,
    #[error("{field} is longer than {MAX_BUFFERED:?}")]
    TooLong { field: &'static str },
    /// Every frame must be 20 ms long.
    #[error("frame of {got} samples, expected {expected} (20 ms)")]
    FrameLength { expected: usize, got: usize },
}

/// Tuning of a [`VoiceActivityDetector`]. Durations are rounded up to
/// whole 20 ms frames.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Silence that ends an utterance (default 600 ms).
    pub end_of_speech_silence: Duration,
    /// Activity needed before speech is reported (default 150 ms, i.e.
    /// 8 frames: clicks and line noise are shorter).
    pub min_speech: Duration,
    /// Level above the noise floor that opens an utterance (default 10 dB).
    pub start_threshold_db: f32,
    /// Level above the noise floor that keeps one going (default 6 dB).
    pub continue_threshold_db: f32,
    /// Absolute level below which nothing is speech (default −55 dBFS).
    pub min_level_dbfs: f32,
    /// Audio before the onset handed over with it (default 300 ms).
    pub pre_roll: Duration,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            end_of_speech_silence: Duration::from_millis(600),
            min_speech: Duration::from_millis(150),
            start_threshold_db: 10.0,
            continue_threshold_db: 6.0,
            min_level_dbfs: -55.0,
            pre_roll: Duration::from_millis(300),
        }
    }
}

/// What the detector reports. Sample indices count from the first sample
/// fed after construction or [`VoiceActivityDetector::reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech confirmed; it began at `at_sample`.
    SpeechStart { at_sample: u64 },
    /// Speech over; `at_sample` is the first sample after it.
    SpeechEnd { at_sample: u64 },
}

/// Buffered input: `first` then `second`, starting at `start_sample`.
#[derive(Debug, Clone, Copy)]
pub struct BufferedAudio<'a> {
    pub start_sample: u64,
    pub first: &'a [i16],
    pub second: &'a [i16],
}

impl BufferedAudio<'_> {
    pub fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = i16> + '_ {
        self.first.iter().chain(self.second).copied()
    }

    /// Appends the samples to `out`.
    pub fn copy_into(&self, out: &mut Vec<i16>) {
        out.extend_from_slice(self.first);
        out.extend_from_slice(self.second);
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Silence,
    /// Loud audio seen, not yet long enough to be speech.
    Onset {
        onset: u64,
        first_frame: u64,
        active: usize,
        gap: usize,
    },
    /// `end`: the end of speech so far (sample); `last_active`: the last
    /// active frame (index).
    Speech {
        onset: u64,
        end: u64,
        last_active: u64,
    },
}

/// Per-frame levels kept for onset back-tracking.
#[derive(Debug, Clone, Copy, Default)]
struct FrameLevels {
    frame: f32,
    sub: [f32; SUB_BLOCKS],
}

/// The endpointer of one stream; see the module doc.
#[derive(Debug)]
pub struct VoiceActivityDetector {
    config: VadConfig,
    rate: u32,
    frame_len: usize,
    min_speech_frames: usize,
    max_onset_frames: usize,
    end_silence_samples: u64,
    pre_roll_samples: u64,
    hpf: Biquad,
    /// Smoothed frame power (linear) and the ring of its dB values.
    smoothed: Option<f32>,
    noise: [f32; NOISE_WINDOW],
    /// Levels of the last `MAX_EDGE_FRAMES` frames (ring by frame index).
    history: [FrameLevels; MAX_EDGE_FRAMES],
    ring: Ring,
    frames: u64,
    state: State,
}

impl VoiceActivityDetector {
    /// A detector for `sample_rate` (8000 or 16000 Hz) audio.
    pub fn new(sample_rate: u32, config: VadConfig) -> Result<Self, MediaError> {
        if sample_rate != 8000 && sample_rate != 16000 {
            return Err(VadError::UnsupportedRate { rate: sample_rate }.into());
        }
        let (start, cont) = (config.start_threshold_db, config.continue_threshold_db);
        if !(start.is_finite() && cont.is_finite() && config.min_level_dbfs.is_finite() && 0.0 <= cont && cont <= start) {
            return Err(VadError::Thresholds.into());
        }
        for (field, value) in [("pre_roll", config.pre_roll), ("min_speech", config.min_speech)] {
            if value > MAX_BUFFERED {
                return Err(VadError::TooLong { field }.into());
            }
        }
        let frame_len = (sample_rate / 50) as usize;
        let frames_of = |d: Duration| d.as_micros().div_ceil(FRAME.as_micros()).max(1) as usize;
        let min_speech_frames = frames_of(config.min_speech);
        let max_onset_frames = 2 * min_speech_frames + MAX_EDGE_FRAMES;
        let end_silence_frames = frames_of(config.end_of_speech_silence.min(Duration::from_secs(3600)));
        let pre_roll_frames = config.pre_roll.as_micros().div_ceil(FRAME.as_micros()) as usize;
        Ok(Self {
            rate: sample_rate,
            frame_len,
            min_speech_frames,
            max_onset_frames,
            end_silence_samples: (end_silence_frames * frame_len) as u64,
            pre_roll_samples: (pre_roll_frames * frame_len) as u64,
            hpf: Biquad::high_pass(HIGH_PASS_HZ, sample_rate as f32),
            smoothed: None,
            noise: [f32::INFINITY; NOISE_WINDOW],
            history: [FrameLevels::default(); MAX_EDGE_FRAMES],
            ring: Ring::new((pre_roll_frames + max_onset_frames + 1) * frame_len),
            frames: 0,
            state: State::Silence,
            config,
        })
    }

    /// Changes the end-of-speech silence from the next frame on; silence
    /// already heard counts towards it. Used for VoiceXML's
    /// `completetimeout` (§6.3.2): a shorter wait once the words so far are
    /// a complete match of the grammar.
    pub fn set_end_of_speech_silence(&mut self, silence: Duration) {
        let frames = silence.min(Duration::from_secs(3600)).as_micros().div_ceil(FRAME.as_micros()).max(1) as u64;
        self.end_silence_samples = frames * self.frame_len as u64;
        self.config.end_of_speech_silence = silence;
    }

    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Samples per frame: 160 at 8 kHz, 320 at 16 kHz.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Between `SpeechStart` and `SpeechEnd`.
    pub fn is_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// The current noise floor estimate in dBFS (`None` before any frame).
    pub fn noise_floor_dbfs(&self) -> Option<f32> {
        let floor = self.noise.iter().copied().fold(f32::INFINITY, f32::min);
        floor.is_finite().then_some(floor)
    }

    /// While in speech: the input from `pre_roll` before the onset (or as
    /// far back as the ring reaches) up to the last sample fed. Complete
    /// when taken on the frame that reported `SpeechStart`; after that the
    /// caller forwards frames itself.
    pub fn onset_audio(&self) -> Option<BufferedAudio<'_>> {
        let State::Speech { onset, .. } = self.state else { return None };
        Some(self.ring.since(onset.saturating_sub(self.pre_roll_samples)))
    }

    /// Forgets everything: noise floor, state, buffered audio, sample count.
    pub fn reset(&mut self) {
        self.hpf = Biquad::high_pass(HIGH_PASS_HZ, self.rate as f32);
        self.smoothed = None;
        self.noise = [f32::INFINITY; NOISE_WINDOW];
        self.history = [FrameLevels::default(); MAX_EDGE_FRAMES];
        self.ring.clear();
        self.frames = 0;
        self.state = State::Silence;
    }

    /// Feeds the next 20 ms frame; returns the event it caused, if any.
    pub fn handle_frame(&mut self, frame: &[i16]) -> Result<Option<VadEvent>, MediaError> {
        if frame.len() != self.frame_len {
            return Err(VadError::FrameLength { expected: self.frame_len, got: frame.len() }.into());
        }
        self.ring.push(frame);
        let levels = self.measure(frame);
        let floor = self.noise_floor_dbfs().unwrap_or(f32::INFINITY);
        let above = |db: f32| (floor + db).max(self.config.min_level_dbfs);
        let cont = self.config.continue_threshold_db;
        let (loud, active, edge) = (above(self.config.start_threshold_db), above(cont), above(EDGE_DB.min(cont)));
        self.learn_noise(&levels);

        let index = self.frames;
        let frame_start = index * self.frame_len as u64;
        let sub_len = (self.frame_len / SUB_BLOCKS) as u64;
        let event = match self.state {
            State::Silence if levels.frame >= loud => {
                // Move the onset back to the earliest frame of the last
                // 160 ms that stands out of the noise (a weak first
                // consonant, gaps allowed: a stop's closure), then to the
                // first sub-block of it that does.
                let first = (index.saturating_sub(MAX_EDGE_FRAMES as u64)..index).find(|&j| self.past(j).frame >= edge).unwrap_or(index);
                let first_levels = if first == index { levels } else { self.past(first) };
                let sub = first_levels.sub.iter().position(|&l| l >= edge).unwrap_or(0) as u64;
                let onset = first * self.frame_len as u64 + sub * sub_len;
                self.state = State::Onset { onset, first_frame: first, active: (index - first + 1) as usize, gap: 0 };
                self.confirm(frame_start, &levels, edge)
            }
            State::Silence => None,
            State::Onset { onset, first_frame, active: count, gap } => {
                let (count, gap) = if levels.frame >= active { (count + 1, 0) } else { (count, gap + 1) };
                if gap > MAX_ONSET_GAP || (index - first_frame + 1) as usize > self.max_onset_frames {
                    self.state = State::Silence;
                    None
                } else {
                    self.state = State::Onset { onset, first_frame, active: count, gap };
                    self.confirm(frame_start, &levels, edge)
                }
            }
            State::Speech { onset, end, last_active } => {
                if levels.frame >= active {
                    self.state = State::Speech { onset, end: end_of_activity(frame_start, sub_len, &levels, edge), last_active: index };
                    None
                } else if levels.frame >= edge && index - last_active <= MAX_EDGE_FRAMES as u64 {
                    // A fading end or a final consonant, out of the noise.
                    self.state = State::Speech { onset, end: end_of_activity(frame_start, sub_len, &levels, edge), last_active };
                    None
                } else if frame_start + self.frame_len as u64 - end >= self.end_silence_samples {
                    self.state = State::Silence;
                    Some(VadEvent::SpeechEnd { at_sample: end })
                } else {
                    None
                }
            }
        };
        self.history[(index % MAX_EDGE_FRAMES as u64) as usize] = levels;
        self.frames += 1;
        Ok(event)
    }

    /// In `Onset`: turns into `Speech` once `min_speech` frames were active.
    fn confirm(&mut self, frame_start: u64, levels: &FrameLevels, edge: f32) -> Option<VadEvent> {
        let State::Onset { onset, active, .. } = self.state else { return None };
        if active < self.min_speech_frames {
            return None;
        }
        // The confirming frame is active: it was just counted.
        let end = end_of_activity(frame_start, (self.frame_len / SUB_BLOCKS) as u64, levels, edge);
        self.state = State::Speech { onset, end, last_active: frame_start / self.frame_len as u64 };
        Some(VadEvent::SpeechStart { at_sample: onset })
    }

    /// Levels of an earlier frame still in `history`.
    fn past(&self, index: u64) -> FrameLevels {
        self.history[(index % MAX_EDGE_FRAMES as u64) as usize]
    }

    /// High-passes the frame and measures its level and sub-block levels.
    fn measure(&mut self, frame: &[i16]) -> FrameLevels {
        let sub_len = frame.len() / SUB_BLOCKS;
        let mut sub_power = [0f32; SUB_BLOCKS];
        for (block, samples) in sub_power.iter_mut().zip(frame.chunks_exact(sub_len)) {
            let sum: f32 = samples.iter().map(|&s| self.hpf.run(f32::from(s) / 32768.0).powi(2)).sum();
            *block = sum / sub_len as f32;
        }
        let power = sub_power.iter().sum::<f32>() / SUB_BLOCKS as f32;
        FrameLevels { frame: to_db(power), sub: sub_power.map(to_db) }
    }

    /// Adds the frame to the minimum-statistics window.
    fn learn_noise(&mut self, levels: &FrameLevels) {
        let power = 10f32.powf(levels.frame / 10.0);
        let smoothed = self.smoothed.map_or(power, |previous| 0.6 * previous + 0.4 * power);
        self.smoothed = Some(smoothed);
        self.noise[(self.frames % NOISE_WINDOW as u64) as usize] = to_db(smoothed);
    }
}

/// The end of the last sub-block of the frame at or above `level`.
fn end_of_activity(frame_start: u64, sub_len: u64, levels: &FrameLevels, level: f32) -> u64 {
    let last = levels.sub.iter().rposition(|&l| l >= level).unwrap_or(SUB_BLOCKS - 1) as u64;
    frame_start + (last + 1) * sub_len
}

/// Power (full scale = 1) in dB, digital silence at −120 dB.
fn to_db(power: f32) -> f32 {
    10.0 * power.max(1e-12).log10()
}

/// A 2nd-order IIR section (RBJ cookbook), direct form I.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    /// Butterworth high-pass (Q = 1/√2) at `cutoff` Hz.
    fn high_pass(cutoff: f32, rate: f32) -> Self {
        let w0 = 2.0 * std::f32::consts::PI * cutoff / rate;
        let alpha = w0.sin() / std::f32::consts::SQRT_2;
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        let b0 = (1.0 + cos) / 2.0 / a0;
        Self { b: [b0, -2.0 * b0, b0], a: [-2.0 * cos / a0, (1.0 - alpha) / a0], x: [0.0; 2], y: [0.0; 2] }
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1] - self.a[0] * self.y[0] - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// The last `capacity` samples fed, by absolute sample index.
#[derive(Debug)]
struct Ring {
    buf: Vec<i16>,
    written: u64,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self { buf: vec![0; capacity], written: 0 }
    }

    fn clear(&mut self) {
        self.written = 0;
    }

    /// Appends `samples` (at most the capacity: one frame).
    fn push(&mut self, samples: &[i16]) {
        let pos = (self.written % self.buf.len() as u64) as usize;
        let head = samples.len().min(self.buf.len() - pos);
        self.buf[pos..pos + head].copy_from_slice(&samples[..head]);
        self.buf[..samples.len() - head].copy_from_slice(&samples[head..]);
        self.written += samples.len() as u64;
    }

    /// Samples from `start` (clamped to what is kept) to the newest.
    fn since(&self, start: u64) -> BufferedAudio<'_> {
        let cap = self.buf.len() as u64;
        let start = start.max(self.written.saturating_sub(cap)).min(self.written);
        let from = (start % cap) as usize;
        let len = (self.written - start) as usize;
        let (wrapped, head) = self.buf.split_at(from);
        let first = &head[..len.min(head.len())];
        BufferedAudio { start_sample: start, first, second: &wrapped[..len - first.len()] }
    }
}

// Behaviour on synthetic and recorded audio: tests/vad_audio.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_samples_across_the_wrap() {
        let mut ring = Ring::new(5);
        ring.push(&[1, 2, 3]);
        ring.push(&[4, 5, 6, 7]);
        let audio = ring.since(0);
        assert_eq!((audio.start_sample, audio.iter().collect::<Vec<_>>()), (2, vec![3, 4, 5, 6, 7]));
        assert_eq!(ring.since(5).iter().collect::<Vec<_>>(), vec![6, 7]);
        assert!(ring.since(9).is_empty());
    }

    #[test]
    fn high_pass_removes_dc_and_hum_but_not_speech_band() {
        let gain = |freq: f32| {
            let mut hpf = Biquad::high_pass(100.0, 8000.0);
            let out: Vec<f32> = (0..8000).map(|n| hpf.run((2.0 * std::f32::consts::PI * freq * n as f32 / 8000.0).cos())).collect();
            out[4000..].iter().fold(0f32, |m, x| m.max(x.abs()))
        };
        assert!(gain(0.0) < 1e-3 && gain(50.0) < 0.25 && gain(1000.0) > 0.99);
    }

    #[test]
    fn bad_rates_configs_and_frames_are_errors() {
        let vad_error = |r: Result<VoiceActivityDetector, MediaError>| match r {
            Err(MediaError::Vad(e)) => e,
            other => panic!("expected a VAD error, got {other:?}"),
        };
        assert_eq!(vad_error(VoiceActivityDetector::new(44100, VadConfig::default())), VadError::UnsupportedRate { rate: 44100 });
        let inverted = VadConfig { start_threshold_db: 3.0, continue_threshold_db: 6.0, ..VadConfig::default() };
        assert_eq!(vad_error(VoiceActivityDetector::new(8000, inverted)), VadError::Thresholds);
        let long = VadConfig { pre_roll: Duration::from_secs(60), ..VadConfig::default() };
        assert_eq!(vad_error(VoiceActivityDetector::new(8000, long)), VadError::TooLong { field: "pre_roll" });
        let mut vad = VoiceActivityDetector::new(16000, VadConfig::default()).unwrap();
        assert!(matches!(vad.handle_frame(&[0; 160]), Err(MediaError::Vad(VadError::FrameLength { expected: 320, got: 160 }))));
        assert_eq!(vad.handle_frame(&[0; 320]).unwrap(), None);
    }
}
