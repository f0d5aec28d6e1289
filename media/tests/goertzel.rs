//! In-band DTMF detection (media::goertzel): Q.24-style acceptance and
//! rejection on synthesized 8 kHz audio.
mod common;

use common::*;

const KEYS: &str = "123A456B789C*0#D";

#[test]
fn every_key_60ms_at_minus_10_dbm0() {
    for key in KEYS.chars() {
        let tone = concat(&[silence(30.0), dtmf(key, 60.0, -10.0, -10.0), silence(60.0)]);
        assert_eq!(detect(&to_pcm(&tone), 160), key.to_string(), "key {key}");
    }
}

#[test]
fn chunk_size_does_not_matter() {
    let signal = to_pcm(&concat(&[silence(20.0), dtmf('7', 60.0, -10.0, -8.0), silence(60.0), dtmf('#', 60.0, -12.0, -10.0)]));
    for chunk in [1, 7, 80, 102, 160, 333, 4000] {
        assert_eq!(detect(&signal, chunk), "7#", "chunk {chunk}");
    }
}

#[test]
fn every_key_with_white_noise_at_20_db_snr() {
    for (i, key) in KEYS.chars().enumerate() {
        let mut tone = concat(&[dtmf(key, 60.0, -10.0, -10.0)]);
        add_noise(&mut tone, 20.0, i as u64 + 1);
        // Noise before and after the key too.
        let mut lead = vec![0.0; samples_for_ms(40.0)];
        let mut n = Noise::new(i as u64 + 50);
        let sigma = amplitude(-10.0) / 10.0;
        for x in lead.iter_mut() {
            *x = sigma * n.gaussian();
        }
        let signal = concat(&[lead.clone(), tone, lead]);
        assert_eq!(detect(&to_pcm(&signal), 160), key.to_string(), "key {key}");
    }
}

#[test]
fn twist_limits() {
    // Normal twist: low group louder. 6 dB accepted, 10 dB rejected.
    assert_eq!(detect(&to_pcm(&dtmf('2', 80.0, -6.0, -12.0)), 160), "2");
    assert_eq!(detect(&to_pcm(&dtmf('2', 80.0, -4.0, -14.0)), 160), "");
    // Reverse twist: high group louder. 3 dB accepted, 6 dB rejected.
    assert_eq!(detect(&to_pcm(&dtmf('9', 80.0, -12.0, -9.0)), 160), "9");
    assert_eq!(detect(&to_pcm(&dtmf('9', 80.0, -12.0, -6.0)), 160), "");
}

#[test]
fn minimum_level() {
    assert_eq!(detect(&to_pcm(&dtmf('5', 80.0, -28.0, -28.0)), 160), "5");
    assert_eq!(detect(&to_pcm(&dtmf('5', 80.0, -38.0, -38.0)), 160), "");
}

#[test]
fn frequency_tolerance() {
    let off = |key: char, dev: f32| {
        let (fl, fh) = media::goertzel::key_frequencies(key).unwrap();
        let shift = |f: f32| f * (1.0 + dev) + 2.0 * dev.signum();
        let (fl, fh, a) = (shift(fl), shift(fh), amplitude(-10.0));
        let tau = 2.0 * std::f32::consts::PI;
        let tone: Vec<f32> = (0..480).map(|n| n as f32 / RATE).map(|t| a * (tau * fl * t).sin() + a * (tau * fh * t).sin()).collect();
        detect(&to_pcm(&tone), 160)
    };
    for key in KEYS.chars() {
        assert_eq!(off(key, 0.015), key.to_string(), "+1.5 % {key}");
        assert_eq!(off(key, -0.015), key.to_string(), "-1.5 % {key}");
        assert_eq!(off(key, 0.035), "", "+3.5 % {key}");
        assert_eq!(off(key, -0.035), "", "-3.5 % {key}");
    }
}

#[test]
fn single_tones_are_not_keys() {
    let (low, _) = media::goertzel::key_frequencies('1').unwrap();
    let a = amplitude(-10.0);
    let tone: Vec<f32> = (0..800).map(|n| a * (2.0 * std::f32::consts::PI * low * n as f32 / RATE).sin()).collect();
    assert_eq!(detect(&to_pcm(&tone), 160), "");
}

#[test]
fn tones_shorter_than_30ms_are_rejected_at_any_alignment() {
    for offset in (0..102).step_by(3) {
        let signal = concat(&[vec![0.0; offset], dtmf('8', 25.0, -10.0, -10.0), silence(50.0)]);
        assert_eq!(detect(&to_pcm(&signal), 160), "", "offset {offset}");
    }
}

#[test]
fn tones_of_40ms_are_accepted_at_any_alignment() {
    for offset in (0..102).step_by(3) {
        let signal = concat(&[vec![0.0; offset], dtmf('0', 40.0, -10.0, -10.0), silence(50.0)]);
        assert_eq!(detect(&to_pcm(&signal), 160), "0", "offset {offset}");
    }
}

#[test]
fn a_long_tone_is_reported_once() {
    let mut tone = dtmf('4', 2000.0, -10.0, -10.0);
    add_noise(&mut tone, 20.0, 7);
    assert_eq!(detect(&to_pcm(&tone), 160), "4");
}

#[test]
fn a_10ms_dropout_does_not_split_a_press() {
    let signal = concat(&[dtmf('6', 100.0, -10.0, -10.0), silence(10.0), dtmf('6', 100.0, -10.0, -10.0)]);
    assert_eq!(detect(&to_pcm(&signal), 160), "6");
}

#[test]
fn two_presses_with_a_50ms_gap_are_two_keys() {
    for gap in [50.0, 30.0] {
        for offset in (0..51).step_by(5) {
            let signal = concat(&[vec![0.0; offset], dtmf('3', 60.0, -10.0, -10.0), silence(gap), dtmf('3', 60.0, -10.0, -10.0)]);
            assert_eq!(detect(&to_pcm(&signal), 160), "33", "gap {gap} ms, offset {offset}");
        }
    }
    // Different keys back to back need no gap.
    let signal = concat(&[dtmf('1', 60.0, -10.0, -10.0), dtmf('2', 60.0, -10.0, -10.0)]);
    assert_eq!(detect(&to_pcm(&signal), 160), "12");
}

#[test]
fn survives_g711_round_trip() {
    for codec in [media::Codec::Pcmu, media::Codec::Pcma] {
        let pcm = to_pcm(&concat(&[dtmf('B', 60.0, -10.0, -10.0), silence(60.0), dtmf('*', 60.0, -20.0, -20.0)]));
        let mut coded = vec![0u8; pcm.len()];
        codec.encode(&pcm, &mut coded);
        let mut back = vec![0i16; pcm.len()];
        codec.decode(&coded, &mut back);
        assert_eq!(detect(&back, 160), "B*", "{codec:?}");
    }
}

#[test]
fn speech_like_audio_does_not_talk_off() {
    for seed in 1..=6 {
        let speech = speech_like(5.0, seed);
        let keys = detect(&to_pcm(&speech), 160);
        assert_eq!(keys, "", "seed {seed}");
    }
}

#[test]
fn sustained_vowels_stay_within_the_talk_off_budget() {
    // Sustained vowels at every fundamental from 100 to 250 Hz (2.5 Hz
    // steps, 120 ms each), with ~1 % pitch jitter. A stationary vowel whose
    // harmonics land on one row and one column with little energy elsewhere
    // is a key to any Goertzel receiver (see the module doc): /æ/ at
    // F0 ≈ 232 Hz puts its 3rd and 7th harmonics on 697 and 1633 Hz.
    const VOWELS: [(f32, f32); 7] =
        [(270.0, 2290.0), (530.0, 1840.0), (730.0, 1090.0), (570.0, 840.0), (300.0, 870.0), (660.0, 1720.0), (490.0, 1350.0)];
    let mut noise = Noise::new(3);
    let mut false_keys = String::new();
    for &(f1, f2) in &VOWELS {
        let mut signal = Vec::new();
        let mut phase = 0.0f32;
        let mut jitter = 1.0f32;
        for step in 0..=60 {
            let f0_mean = 100.0 + 2.5 * step as f32;
            for n in 0..samples_for_ms(120.0) {
                if n % 40 == 0 {
                    jitter = 1.0 + 0.01 * noise.gaussian();
                }
                let f0 = f0_mean * jitter;
                phase = (phase + 2.0 * std::f32::consts::PI * f0 / RATE) % (2.0 * std::f32::consts::PI);
                let mut x = 0.0;
                let mut k = 1;
                while k as f32 * f0 < 3800.0 {
                    let f = k as f32 * f0;
                    let g = 1.0 / (1.0 + ((f - f1) / 80.0).powi(2)) + 1.0 / (1.0 + ((f - f2) / 100.0).powi(2));
                    x += g / (k as f32).sqrt() * (k as f32 * phase).sin();
                    k += 1;
                }
                signal.push(x * amplitude(-12.0) * 0.5 + amplitude(-50.0) * noise.gaussian());
            }
        }
        false_keys.push_str(&detect(&to_pcm(&signal), 160));
    }
    // Talk-off budget: at most one false key in 427 sustained vowels (51 s).
    assert!(false_keys.len() <= 1, "false keys: {false_keys:?}");
}
