//! In-band DTMF detection on 8 kHz linear audio (ITU-T Q.23 frequencies,
//! Q.24 receiver tolerances), with the Goertzel algorithm.
//!
//! The signal is cut into 102-sample windows (12.75 ms, ~78 Hz resolution)
//! every 51 samples (50 % overlap), whatever the chunk sizes fed to
//! [`DtmfDetector::push`]. A window is a *hit* for a key when:
//! - the strongest row (697–941 Hz) and column (1209–1633 Hz) tones are each
//!   above -32 dBm0;
//! - twist is within limits: the low group may exceed the high group by 8 dB
//!   (normal twist), the high group the low group by 4 dB (reverse twist);
//! - each tone beats the other frequencies of its group by 8 dB (relative peak);
//! - the two tones carry ≥ 70 % of the window's energy, which rejects speech
//!   and music and also windows only partly covered by a tone;
//! - the second harmonics of the two tones are ≥ 8 dB below them (talk-off
//!   guard: voiced speech has strong harmonics, DTMF has none); a row
//!   harmonic that falls next to the column tone (2×697 Hz is 58 Hz from
//!   1336 Hz) is not measured, as its bin would only see that tone.
//!
//! Frequency tolerance: keys off by ±(1.5 % + 2 Hz) are accepted (Q.24),
//! beyond ~2 % they are mostly rejected, at 3.5 % always.
//!
//! Duration: a key is reported after 5 consecutive hit windows (a 306-sample
//! span; a window only counts when the tone fills ≥ 70 % of it): tones
//! ≥ 40 ms are always reported, tones < 30 ms never (Q.24 leaves the band
//! between to the implementer). Each press is reported once: the same key
//! is reported again only after 4 consecutive windows without it (a gap of
//! 30 ms always re-arms, a 10 ms drop-out inside a tone never does).
//!
//! Known limit (talk-off): a *stationary* periodic sound whose harmonics fall
//! on one row and one column frequency, with little energy elsewhere, is a
//! key to this receiver as to any Goertzel receiver (a sustained /æ/ at
//! F0 ≈ 232 Hz puts its 3rd and 7th harmonics on 697 and 1633 Hz: `A`).
//! Gliding speech does not do it; prefer RFC 4733 when the peer offers it.

use std::f32::consts::PI;

/// Analysis window length in samples (12.75 ms at 8 kHz).
pub const WINDOW: usize = 102;
/// Hop between windows in samples.
pub const HOP: usize = 51;

const SAMPLE_RATE: f32 = 8000.0;
const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];

/// Peak amplitude of a 0 dBm0 sine in 16-bit linear PCM (G.711: +3.17 dBm0
/// is the µ-law full-scale sine, 32 124).
pub const DBM0_PEAK: f32 = 22_400.0;
/// Weakest accepted tone, per frequency.
const MIN_LEVEL_DBM0: f32 = -32.0;
const NORMAL_TWIST_DB: f32 = 8.0;
const REVERSE_TWIST_DB: f32 = 4.0;
const RELATIVE_PEAK_DB: f32 = 8.0;
const HARMONIC_DB: f32 = 8.0;
/// Row harmonics closer than this to the detected column are not checked.
const HARMONIC_GUARD_HZ: f32 = 150.0;
/// Share of the window energy the two tones must carry.
const TONE_ENERGY_SHARE: f32 = 0.7;
const HITS_TO_REPORT: u32 = 5;
const MISSES_TO_REARM: u32 = 4;
const QUEUE: usize = 8;

fn db(x: f32) -> f32 {
    10f32.powf(x / 10.0)
}

fn coeff(hz: f32) -> f32 {
    2.0 * (2.0 * PI * hz / SAMPLE_RATE).cos()
}

/// |X(f)|² over the window (Goertzel, non-integer bin allowed).
fn goertzel(window: &[f32; WINDOW], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in window {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The eight DTMF bins in one pass: the same recurrence per bin as
/// [`goertzel`] (so bit-identical results), but eight independent chains
/// side by side instead of one serial chain after another, which the
/// compiler vectorises. This was ~45 % of the gateway's CPU under load.
fn goertzel8(window: &[f32; WINDOW], coeffs: &[f32; 8]) -> [f32; 8] {
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    for &x in window {
        for k in 0..8 {
            let s0 = x + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    std::array::from_fn(|k| s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k])
}

fn strongest(powers: &[f32; 4]) -> usize {
    (1..4).fold(0, |best, i| if powers[i] > powers[best] { i } else { best })
}

/// Streaming in-band DTMF detector. Push audio, then poll keys.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    window: [f32; WINDOW],
    filled: usize,
    /// Row then column coefficients, for [`goertzel8`].
    coeffs: [f32; 8],
    row_harmonic_coeffs: [f32; 4],
    col_harmonic_coeffs: [f32; 4],
    min_power: f32,
    candidate: Option<char>,
    run: u32,
    held: Option<char>,
    misses: u32,
    queue: [char; QUEUE],
    queue_head: usize,
    queue_len: usize,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    pub fn new() -> Self {
        let min_amplitude = DBM0_PEAK * 10f32.powf(MIN_LEVEL_DBM0 / 20.0);
        let bin = WINDOW as f32 * min_amplitude / 2.0;
        DtmfDetector {
            window: [0.0; WINDOW],
            filled: 0,
            coeffs: std::array::from_fn(|k| coeff(if k < 4 { ROW_HZ[k] } else { COL_HZ[k - 4] })),
            row_harmonic_coeffs: ROW_HZ.map(|f| coeff(2.0 * f)),
            col_harmonic_coeffs: COL_HZ.map(|f| coeff(2.0 * f)),
            min_power: bin * bin,
            candidate: None,
            run: 0,
            held: None,
            misses: 0,
            queue: ['\0'; QUEUE],
            queue_head: 0,
            queue_len: 0,
        }
    }

    /// Forgets buffered audio and key state (queued keys are kept).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.candidate = None;
        self.run = 0;
        self.held = None;
        self.misses = 0;
    }

    /// Feeds 8 kHz samples, in chunks of any size.
    pub fn push(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let take = (WINDOW - self.filled).min(samples.len());
            for (dst, &s) in self.window[self.filled..self.filled + take].iter_mut().zip(&samples[..take]) {
                *dst = f32::from(s);
            }
            self.filled += take;
            samples = &samples[take..];
            if self.filled == WINDOW {
                let hit = self.analyse();
                self.track(hit);
                self.window.copy_within(HOP.., 0);
                self.filled = WINDOW - HOP;
            }
        }
    }

    /// The next detected key, oldest first.
    pub fn poll_digit(&mut self) -> Option<char> {
        if self.queue_len == 0 {
            return None;
        }
        let key = self.queue[self.queue_head];
        self.queue_head = (self.queue_head + 1) % QUEUE;
        self.queue_len -= 1;
        Some(key)
    }

    fn report(&mut self, key: char) {
        if self.queue_len == QUEUE {
            self.queue_head = (self.queue_head + 1) % QUEUE; // drop the oldest
            self.queue_len -= 1;
        }
        self.queue[(self.queue_head + self.queue_len) % QUEUE] = key;
        self.queue_len += 1;
    }

    /// Duration and once-per-press logic over successive window results.
    fn track(&mut self, hit: Option<char>) {
        if hit.is_some() && hit == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = hit;
            self.run = u32::from(hit.is_some());
        }
        if self.held.is_some() {
            if hit == self.held {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= MISSES_TO_REARM {
                    self.held = None;
                }
            }
        }
        if let Some(key) = hit {
            if self.held != Some(key) && self.run >= HITS_TO_REPORT {
                self.held = Some(key);
                self.misses = 0;
                self.report(key);
            }
        }
    }

    /// Classifies the current window: `Some(key)` when every check passes.
    fn analyse(&self) -> Option<char> {
        let w = &self.window;
        let energy: f32 = w.iter().map(|x| x * x).sum();
        // Cauchy–Schwarz: no bin's power exceeds N·E, so a window this quiet
        // cannot hold a tone at the minimum level; skip the filters.
        if energy <= 0.0 || WINDOW as f32 * energy < self.min_power {
            return None;
        }
        let bins = goertzel8(w, &self.coeffs);
        let rows = [bins[0], bins[1], bins[2], bins[3]];
        let cols = [bins[4], bins[5], bins[6], bins[7]];
        let (r, c) = (strongest(&rows), strongest(&cols));
        let (row, col) = (rows[r], cols[c]);
        if row < self.min_power || col < self.min_power {
            return None;
        }
        if row > col * db(NORMAL_TWIST_DB) || col > row * db(REVERSE_TWIST_DB) {
            return None;
        }
        let peak = db(RELATIVE_PEAK_DB);
        let dominates = |powers: &[f32; 4], best: usize| (0..4).all(|i| i == best || powers[i] * peak <= powers[best]);
        if !dominates(&rows, r) || !dominates(&cols, c) {
            return None;
        }
        // A pure full-window dual tone gives (row + col) = N·E/2.
        if 2.0 * (row + col) < TONE_ENERGY_SHARE * WINDOW as f32 * energy {
            return None;
        }
        // 2×697, 2×770 and 2×852 Hz lie within 71 Hz of a column tone; there
        // the row harmonic bin would only measure that column's leakage.
        let row_harmonic =
            if (2.0 * ROW_HZ[r] - COL_HZ[c]).abs() < HARMONIC_GUARD_HZ { 0.0 } else { goertzel(w, self.row_harmonic_coeffs[r]) };
        let harmonics = row_harmonic + goertzel(w, self.col_harmonic_coeffs[c]);
        if harmonics * db(HARMONIC_DB) > row + col {
            return None;
        }
        Some(KEYPAD[r][c])
    }
}

/// The (low, high) frequencies of a key, for generators and tests.
pub fn key_frequencies(key: char) -> Option<(f32, f32)> {
    KEYPAD.iter().enumerate().find_map(|(r, keys)| keys.iter().position(|&k| k == key).map(|c| (ROW_HZ[r], COL_HZ[c])))
}
