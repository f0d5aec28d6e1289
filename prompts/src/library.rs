//! `PromptLibrary`: recorded WAV prompts on disk, per language.
//!
//! Prompt `welcome` in language `en-US` resolves to the first existing file of
//! `<dir>/en-US/welcome.wav`, `<dir>/en/welcome.wav` (primary subtag, so
//! `es-AR` and `es-MX` can share `es/`), `<dir>/welcome.wav`. A file is read
//! once per (language, id, rate), downmixed to mono and resampled to the
//! call's rate, then served from memory (an `Arc` clone per hit). Files
//! changed on disk are picked up only after [`PromptLibrary::clear`].
//! Ids and language tags are validated before they touch a path, so
//! `../etc/passwd` or `a/b` never leave the library directory.

use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use media::Pcm;

use crate::convert;
use crate::once_map::OnceMap;
use crate::PromptError;

/// Longest prompt id accepted.
const MAX_ID_LEN: usize = 128;

/// A validated prompt id: a file stem of ASCII letters, digits, `_`, `-`
/// and `.` (not leading, no `..`), at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptId(String);

impl PromptId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, PromptError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("empty")
        } else if id.len() > MAX_ID_LEN {
            Some("longer than 128 characters")
        } else if id.contains('/') || id.contains('\\') {
            Some("contains a path separator")
        } else if id.contains("..") || id.starts_with('.') {
            Some("starts with '.' or contains '..'")
        } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            Some("only ASCII letters, digits, '_', '-' and '.' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(PromptError::InvalidId { id, reason }),
            None => Ok(Self(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PromptId {
    type Err = PromptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for PromptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PromptId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// WAV prompts under one directory, converted and cached per call rate.
pub struct PromptLibrary {
    dir: PathBuf,
    memory: OnceMap<(String, PromptId, u32), Pcm>,
}

impl PromptLibrary {
    /// Default bound of the in-memory cache, in converted prompts.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A library rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), memory: OnceMap::new(Self::DEFAULT_CAPACITY) }
    }

    /// Bounds the in-memory cache to `entries` converted prompts (at least 1).
    pub fn with_capacity(self, entries: usize) -> Self {
        Self { memory: self.memory.with_capacity(entries), ..self }
    }

    /// The library directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files tried for `id` in `language`, in order.
    pub fn candidates(&self, id: &PromptId, language: &str) -> Result<Vec<PathBuf>, PromptError> {
        validate_language(language)?;
        let file = format!("{id}.wav");
        let mut paths = vec![self.dir.join(language).join(&file)];
        if let Some((primary, _)) = language.split_once('-') {
            paths.push(self.dir.join(primary).join(&file));
        }
        paths.push(self.dir.join(&file));
        Ok(paths)
    }

    /// Loads prompt `id` for `language` as mono PCM at `rate` Hz.
    pub async fn load(&self, id: &PromptId, language: &str, rate: u32) -> Result<Pcm, PromptError> {
        let candidates = self.candidates(id, language)?;
        let key = (language.to_owned(), id.clone(), rate);
        self.memory.get_or_try_init(key, || read_first(id, candidates, rate)).await
    }

    /// Forgets every converted prompt so edited files are read again.
    pub fn clear(&self) {
        self.memory.clear();
    }
}

async fn read_first(id: &PromptId, candidates: Vec<PathBuf>, rate: u32) -> Result<Pcm, PromptError> {
    for path in &candidates {
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                let pcm =
                    convert::decode_wav_at(Cursor::new(bytes), rate).map_err(|source| PromptError::Audio { path: path.clone(), source })?;
                tracing::debug!(path = %path.display(), rate, ms = pcm.duration_ms(), "prompt loaded");
                return Ok(pcm);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PromptError::Io { path: path.clone(), source }),
        }
    }
    Err(PromptError::NotFound { id: id.to_string(), tried: candidates })
}

/// A BCP 47-like tag: 1–35 ASCII letters, digits and inner `-`.
fn validate_language(language: &str) -> Result<(), PromptError> {
    let ok = !language.is_empty()
        && language.len() <= 35
        && !language.starts_with('-')
        && !language.ends_with('-')
        && language.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PromptError::InvalidLanguage { language: language.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ids_that_could_escape_the_directory() {
        for bad in ["", "..", "../welcome", "a/b", "a\\b", ".hidden", "x..y", "wel come", "é", "a\0b", &"x".repeat(129)] {
            assert!(matches!(PromptId::new(bad), Err(PromptError::InvalidId { .. })), "{bad:?}");
        }
        for good in ["welcome", "menu_1", "sales-v2", "menu.v2"] {
            assert_eq!(PromptId::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn candidate_order_and_language_validation() {
        let lib = PromptLibrary::new("/p");
        let id = PromptId::new("welcome").unwrap();
        let c = lib.candidates(&id, "es-AR").unwrap();
        assert_eq!(c, [PathBuf::from("/p/es-AR/welcome.wav"), "/p/es/welcome.wav".into(), "/p/welcome.wav".into()]);
        assert_eq!(lib.candidates(&id, "en").unwrap(), [PathBuf::from("/p/en/welcome.wav"), "/p/welcome.wav".into()]);
        for bad in ["", "..", "../en", "en/US", "-x", "en-", "a b"] {
            assert!(matches!(lib.candidates(&id, bad), Err(PromptError::InvalidLanguage { .. })), "{bad:?}");
        }
    }
}
