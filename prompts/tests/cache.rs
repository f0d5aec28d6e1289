//! `PromptCache`: memory hits, the disk tier across restarts, one synthesis
//! for concurrent requests, and no caching of failures.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use common::*;
use prompts::{CacheKey, Pcm, PromptCache, Synthesizer, TtsError, Voice};

fn tone() -> Pcm {
    Pcm::new(to_i16(&sine(440.0, 16_000, 0.5, 0.4, 0.0)), 16_000)
}

#[tokio::test]
async fn hit_does_not_synthesize_again() {
    let synth = CountingSynth::new(tone());
    let cache = PromptCache::in_memory();
    let voice = Voice::new("en-US");
    let a = cache.get_or_synthesize(&synth, "Hello", &voice, 8000).await.unwrap();
    let b = cache.get_or_synthesize(&synth, "Hello", &voice, 8000).await.unwrap();
    assert_eq!(synth.calls(), 1);
    assert!(Arc::ptr_eq(&a.samples, &b.samples));
    assert_eq!((a.rate, a.samples.len()), (8000, 4000));

    cache.get_or_synthesize(&synth, "Hello", &voice, 16_000).await.unwrap();
    cache.get_or_synthesize(&synth, "Hello", &voice.clone().with_rate_wpm(200), 8000).await.unwrap();
    assert_eq!(synth.calls(), 3, "rate and voice are part of the key");
    assert_eq!(cache.memory_len(), 3);
}

#[tokio::test]
async fn disk_tier_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let synth = CountingSynth::new(tone());
    let voice = Voice::new("es-AR");
    let first = PromptCache::new(dir.path()).get_or_synthesize(&synth, "Hola", &voice, 8000).await.unwrap();
    let file = PromptCache::new(dir.path()).file_path(&CacheKey::new("counting", "Hola", &voice, 8000)).unwrap();
    assert!(file.is_file(), "{file:?}");

    let restarted = PromptCache::new(dir.path());
    let again = restarted.get_or_synthesize(&synth, "Hola", &voice, 8000).await.unwrap();
    assert_eq!(synth.calls(), 1);
    assert_eq!(again, first);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");
}

#[tokio::test]
async fn corrupt_disk_file_is_resynthesized() {
    let dir = tempfile::tempdir().unwrap();
    let synth = CountingSynth::new(tone());
    let voice = Voice::default();
    let file = PromptCache::new(dir.path()).file_path(&CacheKey::new("counting", "Hi", &voice, 8000)).unwrap();
    std::fs::write(&file, b"not a wav").unwrap();
    let pcm = PromptCache::new(dir.path()).get_or_synthesize(&synth, "Hi", &voice, 8000).await.unwrap();
    assert_eq!(synth.calls(), 1);
    assert_eq!(pcm.samples.len(), 4000);
    assert!(std::fs::read(&file).unwrap().starts_with(b"RIFF"), "file rewritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_synthesize_once() {
    let synth = Arc::new(CountingSynth { yields: 50, ..CountingSynth::new(tone()) });
    let cache = Arc::new(PromptCache::in_memory());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (synth, cache) = (Arc::clone(&synth), Arc::clone(&cache));
            tokio::spawn(async move { cache.get_or_synthesize(synth.as_ref(), "Same", &Voice::default(), 8000).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().rate, 8000);
    }
    assert_eq!(synth.calls(), 1);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let cache = PromptCache::in_memory();
    let failing = FailingSynth { calls: AtomicUsize::new(0) };
    let voice = Voice::default();
    assert!(cache.get_or_synthesize(&failing, "Hi", &voice, 8000).await.is_err());
    assert_eq!(cache.memory_len(), 0);
    let ok = CountingSynth::new(tone());
    assert!(cache.get_or_synthesize(&ok, "Hi", &voice, 8000).await.is_ok());
    assert_eq!(ok.name(), failing.name(), "same key");

    assert!(matches!(cache.get_or_synthesize(&ok, "  ", &voice, 8000).await, Err(TtsError::EmptyText)));
    assert!(matches!(cache.get_or_synthesize(&ok, "Hi", &voice, 0).await, Err(TtsError::Audio(_))));
    assert_eq!(ok.calls(), 1);
}

#[tokio::test]
async fn memory_tier_is_bounded() {
    let synth = CountingSynth::new(tone());
    let cache = PromptCache::in_memory().with_capacity(2);
    for text in ["a", "b", "c", "a"] {
        cache.get_or_synthesize(&synth, text, &Voice::default(), 8000).await.unwrap();
    }
    assert_eq!(cache.memory_len(), 2);
    assert_eq!(synth.calls(), 4, "'a' was evicted by 'c'");
}

#[tokio::test]
async fn a_stored_streamed_rendering_is_a_hit_in_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let synth = CountingSynth::new(tone());
    let voice = Voice::new("en-US");
    let streamed = Pcm::new(vec![7i16; 800], 8000);
    PromptCache::new(dir.path()).store("counting", "Streamed", &voice, streamed.clone()).await;
    let cache = PromptCache::new(dir.path());
    let got = cache.get_or_synthesize(&synth, "Streamed", &voice, 8000).await.unwrap();
    assert_eq!((got, synth.calls()), (streamed.clone(), 0), "read back from disk, not synthesized");
    cache.store("counting", "Streamed", &voice, Pcm::new(vec![1i16; 8], 8000)).await;
    assert_eq!(cache.get_or_synthesize(&synth, "Streamed", &voice, 8000).await.unwrap(), streamed, "an entry is kept");
}
