//! The built-in hold music (issue #12): what a caller hears while a warm
//! transfer reaches an agent, when the flow names no `hold:` prompt. A
//! soft three-note chime, synthesised once (no asset to ship or license),
//! 8 kHz mono, meant to be looped: it ends in silence so the loop has a
//! rest, and every note fades in and out so there are no clicks.

use std::f32::consts::TAU;
use std::sync::{Arc, OnceLock};

use media::Pcm;

const RATE: u32 = 8000;
/// (frequency Hz, start s, length s) of each note: C5, E5, G5, then rest.
const NOTES: [(f32, f32, f32); 3] = [(523.25, 0.0, 0.6), (659.25, 0.5, 0.6), (783.99, 1.0, 1.0)];
const LENGTH_S: f32 = 3.0;
/// Peak amplitude (about −18 dBFS: background, not a prompt).
const PEAK: f32 = 4000.0;

/// The hold loop, built on first use and shared.
pub fn hold_music() -> Pcm {
    static MUSIC: OnceLock<Arc<[i16]>> = OnceLock::new();
    let samples = MUSIC.get_or_init(|| synthesise().into()).clone();
    Pcm { samples, rate: RATE }
}

fn synthesise() -> Vec<i16> {
    let n = (LENGTH_S * RATE as f32) as usize;
    let mut out = vec![0f32; n];
    for (freq, start, len) in NOTES {
        let (first, count) = ((start * RATE as f32) as usize, (len * RATE as f32) as usize);
        for i in 0..count.min(n - first) {
            let t = i as f32 / RATE as f32;
            // 10 ms attack, exponential decay: a bell, not a beep.
            let envelope = (t / 0.01).min(1.0) * (-3.0 * t / len).exp() * (1.0 - i as f32 / count as f32);
            out[first + i] += PEAK * envelope * (TAU * freq * t).sin();
        }
    }
    out.into_iter().map(|s| s.clamp(-32768.0, 32767.0) as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_seconds_of_quiet_chime_ending_in_silence() {
        let m = hold_music();
        assert_eq!((m.rate, m.samples.len()), (8000, 24_000));
        let peak = m.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((2000..=8000).contains(&peak), "audible but soft: {peak}");
        assert!(m.samples[..4].iter().all(|s| s.unsigned_abs() < 200), "fades in");
        assert!(m.samples[23_000..].iter().all(|&s| s == 0), "a rest before the loop starts again");
    }
}
