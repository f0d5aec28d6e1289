//! Issue #3 e2e 5: baresip (a real softphone) calls the demo flow and
//! records what it hears (its sndfile module dumps the decoded audio); the
//! recording holds speech-level audio for the length of the prompt.

use centralita_e2e::{baresip_config, baresip_dial, Gateway, Scratch};

/// RMS per 100 ms window of a 16-bit mono WAV file.
fn wav_rms_windows(path: &std::path::Path) -> (u32, Vec<f64>) {
    let bytes = std::fs::read(path).expect("read wav");
    assert!(bytes.len() > 44 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE", "not a WAV file");
    // Walk the chunks to find fmt and data.
    let (mut rate, mut pos, mut data) = (8000u32, 12usize, &bytes[0..0]);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("len")) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            rate = u32::from_le_bytes(body[4..8].try_into().expect("rate"));
            assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit PCM expected");
        } else if id == b"data" {
            data = body;
        }
        pos += 8 + len + (len & 1);
    }
    let samples: Vec<i16> = data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let win = (rate / 10) as usize;
    let rms = samples.chunks(win).map(|w| (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / w.len() as f64).sqrt()).collect();
    (rate, rms)
}

#[test]
fn baresip_records_the_spoken_prompt() {
    let gw = Gateway::start();
    let dir = Scratch::new("baresip");
    let d = &dir.0;
    baresip_config(d, true);
    let log = baresip_dial(d, &format!("sip:5550100@{}", gw.sip_udp), 7);
    assert!(log.contains("Call established") || log.contains("established"), "call not established:\n{log}");
    let dump = std::fs::read_dir(d)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-dec.wav")))
        .unwrap_or_else(|| panic!("no decoded-audio dump from baresip:\n{log}"));
    let (_, rms) = wav_rms_windows(&dump);
    let loud = rms.iter().filter(|&&r| r > 500.0).count();
    // The welcome prompt is several seconds of speech; pauses between words
    // are quiet, so ask for at least 2 s worth of loud 100 ms windows.
    assert!(loud >= 20, "expected speech-level audio, got {loud} loud windows of {}: {rms:?}", rms.len());
}
