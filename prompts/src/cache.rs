//! `PromptCache`: synthesized speech at the call's codec rate, so a prompt
//! is spoken by the TTS engine once and then played from memory.
//!
//! Key: SHA-256 over a versioned, length-prefixed encoding of (engine name,
//! voice language/name/rate, target rate, text) — stable across Rust and
//! crate versions, unlike `DefaultHasher`. Two tiers:
//! - memory: `Pcm` values (samples behind an `Arc`, so a hit is a refcount
//!   bump), bounded by an entry count, oldest evicted first;
//! - disk (optional): `<dir>/<hex key>.wav`, 16-bit mono at the target rate,
//!   written via a temp file and a rename so a crash never leaves a torn
//!   file, and read back after a restart instead of re-synthesizing.
//!
//! Sharing: hold one `PromptCache` in an `Arc` and call it from every call
//! task. Its only lock guards a map lookup/insert and is never held across
//! an await (see `once_map`); concurrent requests for the same key wait for
//! one synthesis instead of starting their own. The disk tier is best
//! effort: a failed write is logged and the audio still returned; an
//! unreadable file is logged and re-synthesized.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use media::Pcm;
use sha2::{Digest, Sha256};

use crate::once_map::OnceMap;
use crate::synth::{Synthesizer, Voice};
use crate::{convert, ConvertError, TtsError};

/// Bumped whenever the key encoding or file format changes.
const KEY_VERSION: &[u8] = b"centralita-prompt-cache-v1";

/// Stable identity of one rendered prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// Key for `text` spoken by engine `engine` with `voice`, at `rate` Hz.
    pub fn new(engine: &str, text: &str, voice: &Voice, rate: u32) -> Self {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(KEY_VERSION);
        field(engine.as_bytes());
        field(voice.language.as_bytes());
        field(voice.name.as_deref().map_or(&[][..], |_| &[1]));
        field(voice.name.as_deref().unwrap_or_default().as_bytes());
        field(&voice.rate_wpm.map_or([0; 5], |r| {
            let b = r.to_le_bytes();
            [1, b[0], b[1], b[2], b[3]]
        }));
        field(&rate.to_le_bytes());
        field(text.as_bytes());
        Self(h.finalize().into())
    }

    /// Lower-case hex, used as the cache file stem.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Two-tier (memory + optional disk) cache of synthesized prompts.
pub struct PromptCache {
    dir: Option<PathBuf>,
    memory: OnceMap<CacheKey, Pcm>,
}

impl PromptCache {
    /// Default bound of the in-memory tier, in prompts.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A cache that also persists rendered prompts under `dir` (created on
    /// first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: Some(dir.into()), memory: OnceMap::new(Self::DEFAULT_CAPACITY) }
    }

    /// A cache that lives in memory only.
    pub fn in_memory() -> Self {
        Self { dir: None, memory: OnceMap::new(Self::DEFAULT_CAPACITY) }
    }

    /// Bounds the in-memory tier to `entries` prompts (at least 1).
    pub fn with_capacity(self, entries: usize) -> Self {
        Self { memory: self.memory.with_capacity(entries), ..self }
    }

    /// The disk directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the disk tier keeps `key`, if there is a disk tier.
    pub fn file_path(&self, key: &CacheKey) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{}.wav", key.to_hex())))
    }

    /// Prompts held in memory.
    pub fn memory_len(&self) -> usize {
        self.memory.len()
    }

    /// Drops the in-memory tier (the disk tier is kept).
    pub fn clear_memory(&self) {
        self.memory.clear();
    }

    /// Returns `text` spoken by `synth` with `voice` as mono PCM at `rate`
    /// Hz: from memory, else from disk, else synthesized, resampled and
    /// stored in both tiers.
    pub async fn get_or_synthesize(&self, synth: &dyn Synthesizer, text: &str, voice: &Voice, rate: u32) -> Result<Pcm, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        if rate == 0 || rate > convert::MAX_RATE {
            return Err(ConvertError::UnsupportedRate(rate).into());
        }
        let key = CacheKey::new(synth.name(), text, voice, rate);
        self.memory.get_or_try_init(key, || self.load_or_render(key, synth, text, voice, rate)).await
    }

    /// Stores `pcm` as `engine`'s rendering of `text` with `voice` (a
    /// streamed rendering, assembled once it ended), in memory and on disk,
    /// so the next call plays it from the cache. An entry already present
    /// is kept. A disk error is logged: the memory tier still has it.
    pub async fn store(&self, engine: &str, text: &str, voice: &Voice, pcm: Pcm) {
        if text.trim().is_empty() || pcm.samples.is_empty() {
            return;
        }
        let key = CacheKey::new(engine, text, voice, pcm.rate);
        let stored = pcm.clone();
        let mut inserted = false;
        let _ = self
            .memory
            .get_or_try_init(key, || {
                inserted = true;
                async move { Ok::<_, TtsError>(stored) }
            })
            .await;
        if let Some(path) = self.file_path(&key).filter(|_| inserted) {
            if let Err(error) = write_cached(&path, &pcm).await {
                tracing::warn!(path = %path.display(), %error, "could not write prompt cache file");
            }
        }
    }

    async fn load_or_render(&self, key: CacheKey, synth: &dyn Synthesizer, text: &str, voice: &Voice, rate: u32) -> Result<Pcm, TtsError> {
        let path = self.file_path(&key);
        if let Some(path) = &path {
            if let Some(pcm) = read_cached(path, rate).await {
                return Ok(pcm);
            }
        }
        let native = synth.synthesize(text, voice).await?;
        let pcm = convert::resample(&native, rate)?;
        if let Some(path) = &path {
            if let Err(error) = write_cached(path, &pcm).await {
                tracing::warn!(path = %path.display(), %error, "could not write prompt cache file");
            }
        }
        Ok(pcm)
    }
}

/// Reads a cached prompt; any problem is a miss (logged unless the file is
/// simply absent).
async fn read_cached(path: &Path, rate: u32) -> Option<Pcm> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read prompt cache file");
            return None;
        }
    };
    match convert::decode_wav(Cursor::new(bytes)) {
        Ok(pcm) if pcm.rate == rate => Some(pcm),
        Ok(pcm) => {
            tracing::warn!(path = %path.display(), found = pcm.rate, rate, "prompt cache file has the wrong rate");
            None
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "corrupt prompt cache file");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Encode(#[from] ConvertError),
}

/// Writes via `<name>.tmp-<pid>-<n>` + rename so readers never see a partial file.
async fn write_cached(path: &Path, pcm: &Pcm) -> Result<(), WriteError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let bytes = convert::encode_wav(pcm)?;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, &bytes).await?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_distinguishes_every_field() {
        let v = Voice::new("en-US");
        let k = CacheKey::new("espeak-ng", "Hello", &v, 8000);
        // Pinned: changing this breaks every deployed disk cache; bump KEY_VERSION instead.
        assert_eq!(k.to_hex(), "4fa0e68d63672aa9963ddd25567e68759ab5a041a0b92596dc4f8753d33aa216");
        let others = [
            CacheKey::new("other", "Hello", &v, 8000),
            CacheKey::new("espeak-ng", "Hello!", &v, 8000),
            CacheKey::new("espeak-ng", "Hello", &v, 16000),
            CacheKey::new("espeak-ng", "Hello", &Voice::new("en-GB"), 8000),
            CacheKey::new("espeak-ng", "Hello", &v.clone().with_name(""), 8000),
            CacheKey::new("espeak-ng", "Hello", &v.clone().with_rate_wpm(0), 8000),
            CacheKey::new("espeak-ngH", "ello", &v, 8000),
        ];
        for o in others {
            assert_ne!(o, k);
        }
    }
}
