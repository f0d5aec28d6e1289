//! Error types of the `prompts` crate, one `thiserror` enum per concern:
//! [`ConvertError`] for WAV decoding/encoding and resampling, [`TtsError`] for
//! speech synthesis and the prompt cache, [`PromptError`] for the WAV prompt
//! library. Every variant names what failed (path, program, rate) so a log
//! line is enough to act on.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Decoding, encoding or resampling audio failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The WAV container or its samples could not be read or written.
    #[error("invalid WAV data: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV uses a sample format this crate does not convert.
    #[error("unsupported WAV sample format: {format:?} with {bits} bits per sample")]
    UnsupportedFormat { format: hound::SampleFormat, bits: u16 },
    /// The WAV header declares zero channels.
    #[error("WAV declares zero channels")]
    NoChannels,
    /// A sample rate outside 1..=384000 Hz.
    #[error("unsupported sample rate {0} Hz (expected 1..=384000)")]
    UnsupportedRate(u32),
    /// The clip is longer than the crate accepts for a prompt.
    #[error("audio too long: more than {max_samples} samples")]
    TooLong { max_samples: usize },
    /// rubato refused the rate pair.
    #[error("cannot build resampler {from} Hz -> {to} Hz: {source}")]
    ResamplerSetup { from: u32, to: u32, source: rubato::ResamplerConstructionError },
    /// An audio buffer did not match the size the resampler expected.
    #[error("resampler buffer size mismatch: {0}")]
    Buffer(#[from] rubato::audioadapter_buffers::SizeError),
    /// rubato failed while processing.
    #[error("resampling {from} Hz -> {to} Hz failed: {source}")]
    Resample { from: u32, to: u32, source: rubato::ResampleError },
}

/// Synthesizing speech (or fetching it from the cache) failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// There is nothing to say (empty or whitespace-only text).
    #[error("nothing to synthesize: text is empty")]
    EmptyText,
    /// The TTS program is not installed (or not at the configured path).
    #[error("TTS program {program:?} not found (is it installed?): {source}")]
    ProgramNotFound { program: PathBuf, source: std::io::Error },
    /// The TTS program exists but could not be started or talked to.
    #[error("cannot run TTS program {program:?}: {source}")]
    Spawn { program: PathBuf, source: std::io::Error },
    /// The TTS program ran and reported failure.
    #[error("TTS program {program:?} failed ({status}): {stderr}")]
    ProgramFailed { program: PathBuf, status: ExitStatus, stderr: String },
    /// The engine's audio could not be decoded or resampled.
    #[error("TTS audio conversion failed: {0}")]
    Audio(#[from] ConvertError),
    /// An engine-specific failure reported by a third-party [`crate::Synthesizer`].
    #[error("TTS engine {engine} failed: {source}")]
    Engine { engine: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// An HTTP TTS engine's setting (or a voice given at run time) cannot be used.
    #[error("{engine} TTS config: invalid {field}: {reason}")]
    Config { engine: String, field: &'static str, reason: String },
    /// The TTS server could not be reached or the request not sent (DNS,
    /// refused, TLS).
    #[error("cannot reach TTS engine {engine}: {source}")]
    Connect { engine: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// The TTS server answered with a non-success status (401 bad key, 429
    /// quota, 5xx …); `detail` is the vendor's message, cut to 200 characters.
    #[error("TTS engine {engine} answered HTTP {status}: {detail}")]
    Http { engine: String, status: u16, detail: String },
    /// No answer (or no audio for a while) within the configured time.
    #[error("TTS engine {engine} timed out after {after:?}")]
    Timeout { engine: String, after: std::time::Duration },
    /// The connection broke while the audio was arriving.
    #[error("TTS engine {engine}: connection lost while receiving audio: {source}")]
    Body { engine: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// The engine answered 2xx but with no usable audio.
    #[error("TTS engine {engine} sent unusable audio: {reason}")]
    BadAudio { engine: String, reason: String },
    /// Both the primary engine and the built-in fallback failed.
    #[error("TTS failed: primary: {primary}; fallback: {fallback}")]
    Fallback { primary: Box<TtsError>, fallback: Box<TtsError> },
}

/// Loading a prompt from the WAV prompt library failed.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The prompt id is not a plain file stem (empty, `..`, `/`, `\`, …).
    #[error("invalid prompt id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// The language tag is not a BCP 47-like tag (letters, digits, `-`).
    #[error("invalid language tag {language:?}")]
    InvalidLanguage { language: String },
    /// No file exists for the prompt; lists every path that was tried.
    #[error("prompt {id:?} not found; tried {}", display_paths(tried))]
    NotFound { id: String, tried: Vec<PathBuf> },
    /// The file exists but could not be read.
    #[error("cannot read prompt file {path:?}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The file is not usable audio.
    #[error("cannot convert prompt file {path:?}: {source}")]
    Audio { path: PathBuf, source: ConvertError },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
