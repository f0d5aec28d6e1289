//! `prerender`: start-up rendering of static prompts with bounded
//! concurrency, progress reporting and failure collection; and the built-in
//! voice rendering English and Spanish flows with the right espeak voice.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use prompts::{prerender, prerender_with, CacheKey, EspeakSynthesizer, Pcm, PromptCache, SynthFuture, Synthesizer, TtsError, Voice};

/// Stays pending for a few polls per text (no clock involved), fails texts
/// containing "fail", and records the highest number of renders in flight.
/// On the test's single-threaded runtime every render the limit admits has
/// started before any of them can finish, so the maximum is exactly the
/// concurrency limit.
#[derive(Default)]
struct Scripted {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    calls: AtomicUsize,
}

impl Synthesizer for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn synthesize<'a>(&'a self, text: &'a str, _voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if text.contains("fail") {
                return Err(TtsError::BadAudio { engine: "scripted".into(), reason: format!("cannot say {text:?}") });
            }
            Ok(Pcm::new(vec![1000i16; 160], 8000))
        })
    }
}

#[tokio::test]
async fn renders_everything_four_at_a_time_reporting_progress_and_failures() {
    let cache = PromptCache::in_memory();
    let synth = Scripted::default();
    let en = Voice::new("en-US");
    let mut items: Vec<(String, Voice)> = (0..12).map(|i| (format!("prompt {i}"), en.clone())).collect();
    items.insert(3, ("please fail".into(), en.clone()));
    items.push(("prompt 0".into(), en.clone())); // duplicate: rendered once
    items.push(("prompt 0".into(), Voice::new("es-AR"))); // another voice: its own item
    items.push(("fail again".into(), Voice::new("es-AR")));
    let progress = Mutex::new(Vec::new());

    let report = prerender(&cache, &synth, 8000, items, |done, total| progress.lock().unwrap().push((done, total))).await;

    assert_eq!((report.total, report.rendered, report.failures.len()), (15, 13, 2));
    assert!(!report.is_complete());
    let mut failed: Vec<&str> = report.failures.iter().map(|f| f.text.as_str()).collect();
    failed.sort();
    assert_eq!(failed, ["fail again", "please fail"]);
    assert!(report.failures.iter().all(|f| matches!(f.error, TtsError::BadAudio { .. })));
    assert_eq!(report.failures.iter().find(|f| f.text == "fail again").unwrap().voice, Voice::new("es-AR"));

    let progress = progress.into_inner().unwrap();
    assert_eq!(progress, (0..=15).map(|d| (d, 15)).collect::<Vec<_>>());
    assert_eq!(synth.calls.load(Ordering::SeqCst), 15);
    let max = synth.max_in_flight.load(Ordering::SeqCst);
    assert_eq!(max, 4, "four at once: never more, and never fewer while items wait");
    assert_eq!(cache.memory_len(), 13);

    // A second run finds everything rendered in the cache.
    let again = prerender(&cache, &synth, 8000, [("prompt 5", en.clone())], |_, _| {}).await;
    assert!(again.is_complete());
    assert_eq!(synth.calls.load(Ordering::SeqCst), 15);
}

#[tokio::test]
async fn prerender_with_runs_any_renderer_and_honours_its_concurrency() {
    let in_flight = AtomicUsize::new(0);
    let max = AtomicUsize::new(0);
    let render = |text: String, _voice: Voice| {
        let (in_flight, max) = (&in_flight, &max);
        async move {
            max.fetch_max(in_flight.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            for _ in 0..3 {
                tokio::task::yield_now().await; // pending a while, no clock
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if text.is_empty() {
                Err(TtsError::EmptyText)
            } else {
                Ok(())
            }
        }
    };
    let items = (0..10).map(|i| (if i == 7 { String::new() } else { format!("t{i}") }, Voice::default()));
    let report = prerender_with(2, items, render, |_, _| {}).await;
    assert_eq!((report.total, report.rendered, report.failures.len()), (10, 9, 1));
    assert_eq!(max.load(Ordering::SeqCst), 2);
    let empty = prerender_with(4, Vec::<(String, Voice)>::new(), render, |d, t| assert_eq!((d, t), (0, 0))).await;
    assert!(empty.is_complete());
}

#[tokio::test]
async fn builtin_voice_prerenders_english_and_spanish_flows() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PromptCache::new(dir.path());
    let espeak = EspeakSynthesizer::new();
    let items = [
        ("Welcome. Press one for sales.", Voice::new("en-US")),
        ("Bienvenido. Marque uno para ventas.", Voice::new("es-AR")),
        ("Bienvenido. Marque uno para ventas.", Voice::new("es-ES")),
    ];
    let report = prerender(&cache, &espeak, 8000, items.clone(), |_, _| {}).await;
    assert!(report.is_complete(), "{:?}", report.failures);
    for (text, voice) in &items {
        let path = cache.file_path(&CacheKey::new("espeak-ng", text, voice, 8000)).unwrap();
        assert!(path.exists(), "{text} / {}", voice.language);
    }
    // es-AR is spoken with espeak's Latin-American voice, es-ES with Castilian: different audio.
    let ar = cache.get_or_synthesize(&espeak, items[1].0, &items[1].1, 8000).await.unwrap();
    let es = cache.get_or_synthesize(&espeak, items[2].0, &items[2].1, 8000).await.unwrap();
    assert_eq!(prompts::espeak_voice("es-AR"), "es-419");
    assert_eq!(prompts::espeak_voice("es-ES"), "es");
    assert_ne!(ar.samples, es.samples);
}
