//! Voice activity detection (media::vad) on audio: recorded speech (espeak-ng
//! fixtures, see tests/fixtures/generate.sh) in silence and in white noise,
//! and synthetic signals that must or must not count as speech.

use media::{StreamResampler, VadConfig, VadEvent, VoiceActivityDetector};

/// ±60 ms at 8 kHz.
const TOLERANCE: i64 = 480;

const FIXTURES: [&str; 4] = ["transfer_me_to_an_agent", "i_need_help_with_my_bill", "quiero_hablar_con_una_persona", "yes"];

fn fixture(name: &str) -> Vec<i16> {
    let path = format!("{}/tests/fixtures/{name}.wav", env!("CARGO_MANIFEST_DIR"));
    let mut reader = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (8000, 1, 16), "{path}");
    reader.samples::<i16>().map(Result::unwrap).collect()
}

/// Deterministic Gaussian-ish noise (xorshift64*, sum of 12 uniforms).
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn gaussian(&mut self) -> f64 {
        let mut sum = 0.0;
        for _ in 0..12 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            sum += (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        }
        sum - 6.0
    }
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// The RMS amplitude `level` dB below full scale (32768), as the detector
/// measures dBFS.
fn dbfs(level: f64) -> f64 {
    32768.0 * 10f64.powf(level / 20.0)
}

/// `x` plus white noise of RMS `sigma`.
fn with_noise(x: &[i16], sigma: f64, seed: u64) -> Vec<i16> {
    let mut noise = Noise::new(seed);
    x.iter().map(|&s| (f64::from(s) + sigma * noise.gaussian()).round().clamp(-32768.0, 32767.0) as i16).collect()
}

/// `clip` with one second of silence before and after.
fn padded(clip: &[i16], rate: usize) -> Vec<i16> {
    [vec![0; rate], clip.to_vec(), vec![0; rate]].concat()
}

/// Runs a fresh detector (default config) over `x` in 20 ms frames.
fn events(x: &[i16], rate: u32) -> Vec<VadEvent> {
    let mut vad = VoiceActivityDetector::new(rate, VadConfig::default()).unwrap();
    x.chunks_exact(vad.frame_len()).filter_map(|frame| vad.handle_frame(frame).unwrap()).collect()
}

/// Asserts one utterance from `start` to `end` (samples) within ±60 ms,
/// except that the end may come early by up to `buried` samples more.
fn assert_one_utterance(found: &[VadEvent], (start, end): (u64, u64), buried: u64, rate: u32, what: &str) {
    let tolerance = TOLERANCE * i64::from(rate) / 8000;
    let ms = |samples: i64| samples * 1000 / i64::from(rate);
    match found {
        [VadEvent::SpeechStart { at_sample: s }, VadEvent::SpeechEnd { at_sample: e }] => {
            let (ds, de) = (*s as i64 - start as i64, *e as i64 - end as i64);
            assert!(ds.abs() <= tolerance, "{what}: onset off by {} ms", ms(ds));
            assert!(
                -tolerance - buried as i64 <= de && de <= tolerance,
                "{what}: end off by {} ms (buried {} ms)",
                ms(de),
                ms(buried as i64)
            );
        }
        other => panic!("{what}: expected one utterance, got {other:?}"),
    }
}

/// How long the clip's last part stays under `level` (RMS of 5 ms blocks):
/// a final consonant buried in noise at `level` is not speech to any
/// energy detector.
fn buried_tail(clip: &[i16], level: f64) -> u64 {
    let blocks = clip.rchunks(40).take_while(|block| rms(block) < level).count();
    (blocks * 40).min(clip.len()) as u64
}

#[test]
fn speech_in_silence() {
    for name in FIXTURES {
        let clip = fixture(name);
        let found = events(&padded(&clip, 8000), 8000);
        assert_one_utterance(&found, (8000, 8000 + clip.len() as u64), 0, 8000, name);
    }
}

#[test]
fn speech_in_white_noise_at_15_db_snr() {
    // SNR: RMS of the whole clip to RMS of the noise.
    for name in FIXTURES {
        let clip = fixture(name);
        let sigma = rms(&clip) / 10f64.powf(15.0 / 20.0);
        // "yes" ends in an /s/ and "agent" in a /t/ released after its
        // closure, both less than 3 dB above the noise: there the end of
        // the vowel is what an energy detector can find (~100 ms early).
        let buried = buried_tail(&clip, sigma * 10f64.powf(3.0 / 20.0));
        for seed in 1..=5 {
            let found = events(&with_noise(&padded(&clip, 8000), sigma, seed), 8000);
            assert_one_utterance(&found, (8000, 8000 + clip.len() as u64), buried, 8000, &format!("{name} at 15 dB SNR, seed {seed}"));
        }
    }
}

#[test]
fn speech_resampled_to_16k_as_fed_to_a_recogniser() {
    for name in FIXTURES {
        let clip = fixture(name);
        let mut resampler = StreamResampler::new(8000, 16000, 160).unwrap();
        let mut wide = Vec::new();
        resampler.process(&padded(&clip, 8000), &mut wide);
        resampler.flush(&mut wide);
        let found = events(&wide, 16000);
        assert_one_utterance(&found, (16000, 16000 + 2 * clip.len() as u64), 0, 16000, &format!("{name} at 16 kHz"));
    }
}

#[test]
fn pre_roll_hands_over_the_audio_from_before_the_onset() {
    let clip = fixture("transfer_me_to_an_agent");
    let input = with_noise(&padded(&clip, 8000), dbfs(-50.0), 7);
    let mut vad = VoiceActivityDetector::new(8000, VadConfig::default()).unwrap();
    for (i, frame) in input.chunks_exact(160).enumerate() {
        if let Some(VadEvent::SpeechStart { at_sample }) = vad.handle_frame(frame).unwrap() {
            let audio = vad.onset_audio().expect("in speech");
            let now = (i as u64 + 1) * 160;
            assert_eq!(audio.start_sample, at_sample - 2400, "300 ms before the onset");
            assert_eq!(audio.start_sample + audio.len() as u64, now);
            assert_eq!(audio.iter().collect::<Vec<_>>(), input[audio.start_sample as usize..now as usize]);
            return;
        }
        assert!(vad.onset_audio().is_none());
    }
    panic!("no speech found");
}

#[test]
fn noise_and_silence_alone_are_not_speech() {
    let five_seconds = vec![0i16; 40000];
    assert_eq!(events(&five_seconds, 8000), []);
    assert_eq!(events(&vec![0i16; 80000], 16000), []);
    for (seed, level) in [-70.0, -55.0, -40.0, -25.0, -15.0].into_iter().enumerate() {
        let noise = with_noise(&five_seconds, dbfs(level), seed as u64 + 11);
        assert_eq!(events(&noise, 8000), [], "white noise at {level} dBFS");
    }
}

// Synthetic signals, 8 kHz, in a faint noise floor (−65 dBFS) unless said.

fn tone(freq: f64, level: f64, ms: usize) -> Vec<i16> {
    let amplitude = dbfs(level) * std::f64::consts::SQRT_2;
    (0..ms * 8).map(|n| (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin()).round() as i16).collect()
}

/// `parts` one after the other, with noise at `noise_dbfs` over all of it.
fn scene(parts: &[Vec<i16>], noise_dbfs: f64, seed: u64) -> Vec<i16> {
    with_noise(&parts.concat(), dbfs(noise_dbfs), seed)
}

fn ms(n: usize) -> Vec<i16> {
    vec![0; n * 8]
}

/// Noise amplitude-modulated at a syllable rate (4 Hz), `level` at its peaks.
fn speech_like(level: f64, ms: usize, seed: u64) -> Vec<i16> {
    let mut noise = Noise::new(seed);
    (0..ms * 8)
        .map(|n| {
            let envelope = (std::f64::consts::PI * 4.0 * n as f64 / 8000.0).sin().abs();
            (dbfs(level) * envelope * noise.gaussian()).round() as i16
        })
        .collect()
}

#[test]
fn clicks_and_crackle_are_not_speech() {
    let click: Vec<i16> = (0..40).map(|n| if n % 2 == 0 { 30000 } else { -30000 }).collect(); // 5 ms
    for noise in [-65.0, -45.0] {
        assert_eq!(events(&scene(&[ms(1000), click.clone(), ms(2000)], noise, 1), 8000), [], "a click in {noise} dBFS noise");
        // Line crackle: a click every 100 ms for 2 s.
        let crackle: Vec<Vec<i16>> = (0..20).flat_map(|_| [click.clone(), ms(95)]).collect();
        assert_eq!(events(&scene(&[ms(1000), crackle.concat(), ms(1000)], noise, 2), 8000), [], "crackle in {noise} dBFS noise");
    }
}

#[test]
fn tone_bursts_longer_than_min_speech_are_found_at_their_edges() {
    for (level, noise) in [(-20.0, -65.0), (-30.0, -45.0)] {
        let found = events(&scene(&[ms(1000), tone(1000.0, level, 400), ms(1000)], noise, 3), 8000);
        assert_one_utterance(&found, (8000, 11200), 0, 8000, &format!("400 ms at {level} dBFS in {noise} dBFS noise"));
        assert!(matches!(found[0], VadEvent::SpeechStart { at_sample } if at_sample.abs_diff(8000) <= 40), "{found:?}");
        assert!(matches!(found[1], VadEvent::SpeechEnd { at_sample } if at_sample.abs_diff(11200) <= 40), "{found:?}");
        // 100 ms is shorter than min_speech (160 ms).
        assert_eq!(events(&scene(&[ms(1000), tone(1000.0, level, 100), ms(1000)], noise, 4), 8000), []);
    }
}

#[test]
fn speech_start_is_reported_after_min_speech_but_dated_at_the_onset() {
    let input = scene(&[ms(1000), tone(440.0, -20.0, 500), ms(1000)], -65.0, 5);
    let mut vad = VoiceActivityDetector::new(8000, VadConfig::default()).unwrap();
    let mut seen = Vec::new();
    for (i, frame) in input.chunks_exact(160).enumerate() {
        if let Some(event) = vad.handle_frame(frame).unwrap() {
            seen.push((i, event));
        }
    }
    // Onset in frame 50; 8 active frames (160 ms) confirm it in frame 57.
    assert_eq!(seen[0], (57, VadEvent::SpeechStart { at_sample: 8000 }));
    // The tone stops at 12000 (the high-pass rings for ~10 ms); the end is
    // reported on the frame that completes 600 ms of silence after it.
    let [_, (frame, VadEvent::SpeechEnd { at_sample })] = seen[..] else { panic!("{seen:?}") };
    assert!((12000..=12080).contains(&at_sample), "{seen:?}");
    assert_eq!(frame as u64, (at_sample + 4800).div_ceil(160) - 1, "{seen:?}");
}

#[test]
fn speech_like_modulated_noise_is_one_utterance_per_phrase() {
    for level in [-45.0, -25.0, -6.0] {
        // Two "phrases" 1.5 s apart; the 250 ms gap inside the first one
        // is shorter than end_of_speech_silence.
        let first = [speech_like(level, 750, 6), ms(250), speech_like(level, 500, 7)].concat();
        let found = events(&scene(&[ms(1000), first, ms(1500), speech_like(level, 1000, 8), ms(1000)], -65.0, 9), 8000);
        let starts: Vec<u64> =
            found.iter().filter_map(|e| if let VadEvent::SpeechStart { at_sample } = e { Some(*at_sample) } else { None }).collect();
        assert_eq!(found.len(), 4, "{level} dBFS: {found:?}");
        assert!(starts[0].abs_diff(8000) <= 480 && starts[1].abs_diff(8000 + 8 * 3000) <= 480, "{level} dBFS: {found:?}");
    }
}

#[test]
fn a_noise_step_becomes_floor_within_two_seconds() {
    // The floor follows noise down at once and up within 1.5 s: a sudden
    // louder noise may look like speech for that long, then never again.
    let quiet = with_noise(&ms(2000), dbfs(-60.0), 10);
    let loud = with_noise(&ms(8000), dbfs(-30.0), 11);
    let found = events(&[quiet, loud].concat(), 8000);
    assert!(found.len() <= 2, "{found:?}");
    if let [VadEvent::SpeechStart { .. }, VadEvent::SpeechEnd { at_sample }] = found[..] {
        assert!(at_sample <= 16000 + 8 * 2000, "{found:?}");
    }
    // And back down: speech right after the noise drops is found.
    let input =
        [with_noise(&ms(3000), dbfs(-30.0), 12), with_noise(&[ms(500), tone(1000.0, -30.0, 400), ms(1000)].concat(), dbfs(-60.0), 13)];
    let found = events(&input.concat(), 8000);
    assert_one_utterance(&found, (8 * 3500, 8 * 3900), 0, 8000, "speech after the noise drops");
}

/// The frame (as the sample after it) at which the detector ends the
/// utterance, feeding `x`; `shorten` = (after this many samples, the new
/// end-of-speech silence).
fn decided_at(x: &[i16], shorten: Option<(usize, std::time::Duration)>) -> Option<(u64, u64)> {
    let mut vad = VoiceActivityDetector::new(8000, VadConfig::default()).unwrap();
    let n = vad.frame_len();
    let mut shorten = shorten;
    for (i, frame) in x.chunks_exact(n).enumerate() {
        if let Some((_, silence)) = shorten.filter(|(after, _)| *after <= i * n) {
            vad.set_end_of_speech_silence(silence);
            shorten = None;
        }
        if let Some(VadEvent::SpeechEnd { at_sample }) = vad.handle_frame(frame).unwrap() {
            return Some(((i + 1) as u64 * n as u64, at_sample));
        }
    }
    None
}

#[test]
fn a_shorter_end_of_speech_silence_ends_the_utterance_sooner() {
    // VoiceXML completetimeout: once the words match the grammar the call
    // shortens the wait; silence already heard counts.
    let clip = fixture("yes");
    let x = padded(&clip, 8000);
    let speech_end = 8000 + clip.len();
    let (default_at, end) = decided_at(&x, None).expect("one utterance");
    assert!((default_at - end) as i64 >= 600 * 8 - 160, "default waits 600 ms: {} ms", (default_at - end) / 8);
    // Shortened to 200 ms while the caller still speaks: decided ~200 ms after the end.
    let (at, end2) = decided_at(&x, Some((speech_end - 1600, std::time::Duration::from_millis(200)))).unwrap();
    assert_eq!(end2, end, "the same end of speech");
    assert!((at - end) <= 200 * 8 + 160, "{} ms after the end", (at - end) / 8);
    // Shortened 400 ms into the silence: the next frame decides.
    let late = (end + 400 * 8) as usize / 160 * 160;
    let (at, _) = decided_at(&x, Some((late, std::time::Duration::from_millis(200)))).unwrap();
    assert_eq!(at, late as u64 + 160);
}
