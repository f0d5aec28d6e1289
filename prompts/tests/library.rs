//! `PromptLibrary`: per-language lookup with fallback, conversion to the
//! call rate, caching, and rejection of ids that could escape the directory.

mod common;

use std::sync::Arc;

use common::*;
use prompts::{PromptError, PromptId, PromptLibrary};

fn write_prompt(path: &std::path::Path, freq: f64, rate: u32, channels: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, wav_bytes(&to_i16(&sine(freq, rate, 1.0, 0.5, 0.2)), rate, channels)).unwrap();
}

fn id(s: &str) -> PromptId {
    PromptId::new(s).unwrap()
}

#[tokio::test]
async fn loads_16k_stereo_as_8k_mono_and_caches_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("en-US/welcome.wav");
    write_prompt(&path, 500.0, 16_000, 2);
    let lib = PromptLibrary::new(dir.path());
    let pcm = lib.load(&id("welcome"), "en-US", 8000).await.unwrap();
    assert_eq!(pcm.rate, 8000);
    assert_eq!(pcm.samples.len(), 8000);
    let mid = middle(&pcm.samples, 0.1);
    assert!((zero_crossing_freq(mid, 8000) - 500.0).abs() < 5.0);
    assert!(db(rms(mid) / (0.5 * 32767.0 / 2f64.sqrt())).abs() < 1.0);

    std::fs::remove_file(&path).unwrap();
    let again = lib.load(&id("welcome"), "en-US", 8000).await.unwrap();
    assert!(Arc::ptr_eq(&pcm.samples, &again.samples), "served from memory");
}

#[tokio::test]
async fn language_directory_first_then_primary_then_root() {
    let dir = tempfile::tempdir().unwrap();
    write_prompt(&dir.path().join("menu.wav"), 300.0, 8000, 1);
    write_prompt(&dir.path().join("es/menu.wav"), 600.0, 8000, 1);
    write_prompt(&dir.path().join("es-AR/menu.wav"), 900.0, 8000, 1);
    let lib = PromptLibrary::new(dir.path());
    for (language, freq) in [("es-AR", 900.0), ("es-MX", 600.0), ("en-US", 300.0)] {
        let pcm = lib.load(&id("menu"), language, 8000).await.unwrap();
        let f = zero_crossing_freq(middle(&pcm.samples, 0.1), 8000);
        assert!((f - freq).abs() < freq / 100.0, "{language}: {f}");
    }
}

#[tokio::test]
async fn missing_prompt_names_every_path_tried() {
    let dir = tempfile::tempdir().unwrap();
    let lib = PromptLibrary::new(dir.path());
    let err = lib.load(&id("nope"), "en-US", 8000).await.unwrap_err();
    let PromptError::NotFound { tried, .. } = &err else { panic!("{err}") };
    assert_eq!(tried.len(), 3);
    let msg = err.to_string();
    for p in ["en-US/nope.wav", "en/nope.wav"] {
        assert!(msg.contains(&dir.path().join(p).display().to_string()), "{msg}");
    }
}

#[tokio::test]
async fn bad_ids_languages_and_files_are_errors() {
    for bad in ["../secret", "a/b", "..", "", "/etc/passwd"] {
        assert!(matches!(bad.parse::<PromptId>(), Err(PromptError::InvalidId { .. })), "{bad:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = PromptLibrary::new(dir.path());
    assert!(matches!(lib.load(&id("x"), "../en", 8000).await, Err(PromptError::InvalidLanguage { .. })));
    std::fs::write(dir.path().join("broken.wav"), b"RIFF garbage").unwrap();
    let err = lib.load(&id("broken"), "en-US", 8000).await.unwrap_err();
    assert!(matches!(&err, PromptError::Audio { path, .. } if path.ends_with("broken.wav")), "{err}");
}
