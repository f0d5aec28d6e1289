//! `EspeakSynthesizer`: the built-in offline TTS, a thin adapter over the
//! `espeak-ng` program (Debian package `espeak-ng`).
//!
//! The program is started directly (no shell) with the text on its standard
//! input (`--stdin`), so text beginning with `-` or containing quotes is
//! never read as options. Audio comes back on standard output as a WAV at
//! espeak's native 22050 Hz. Because espeak-ng cannot seek back on a pipe,
//! the RIFF and `data` sizes in that header are placeholders; they are
//! rewritten from the bytes actually received before hound parses them.
//! The child is killed if the returned future is dropped (call hung up,
//! caller-side timeout).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::synth::{SynthFuture, Synthesizer, Voice};
use crate::{convert, TtsError};

/// Engine name used in the cache key.
const ENGINE_NAME: &str = "espeak-ng";
/// espeak-ng's accepted speed range in words per minute.
const RATE_RANGE: (u32, u32) = (80, 450);
/// Longest stderr excerpt kept in an error.
const STDERR_MAX: usize = 512;

/// Offline TTS through the `espeak-ng` program.
#[derive(Debug, Clone)]
pub struct EspeakSynthesizer {
    program: PathBuf,
}

impl EspeakSynthesizer {
    /// espeak-ng's output rate.
    pub const NATIVE_RATE: u32 = 22_050;

    /// Runs `espeak-ng` found on `PATH`.
    pub fn new() -> Self {
        Self::with_program(ENGINE_NAME)
    }

    /// Runs the program at `program` (a path, or a name looked up on `PATH`).
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into() }
    }

    /// The program this synthesizer runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    async fn run(&self, text: &str, voice: &Voice) -> Result<media::Pcm, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(espeak_args(voice)).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => TtsError::ProgramNotFound { program: self.program.clone(), source },
            _ => TtsError::Spawn { program: self.program.clone(), source },
        })?;
        let stdin = child.stdin.take();
        let write = async move {
            let mut stdin = stdin.ok_or_else(|| std::io::Error::other("stdin was not piped"))?;
            stdin.write_all(text.as_bytes()).await?;
            stdin.shutdown().await
        };
        let (written, output) = tokio::join!(write, child.wait_with_output());
        let output = output.map_err(|source| TtsError::Spawn { program: self.program.clone(), source })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr: String = stderr.trim().chars().take(STDERR_MAX).collect();
            return Err(TtsError::ProgramFailed { program: self.program.clone(), status: output.status, stderr });
        }
        written.map_err(|source| TtsError::Spawn { program: self.program.clone(), source })?;
        let mut wav = output.stdout;
        repair_streamed_wav(&mut wav);
        let pcm = convert::decode_wav(Cursor::new(wav))?;
        tracing::debug!(voice = %voice.language, ms = pcm.duration_ms(), "espeak-ng synthesized");
        Ok(pcm)
    }
}

impl Default for EspeakSynthesizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Synthesizer for EspeakSynthesizer {
    fn name(&self) -> &str {
        ENGINE_NAME
    }

    fn synthesize<'a>(&'a self, text: &'a str, voice: &'a Voice) -> SynthFuture<'a> {
        Box::pin(self.run(text, voice))
    }
}

/// Arguments for one run: UTF-8 text on stdin, WAV on stdout.
fn espeak_args(voice: &Voice) -> Vec<String> {
    let mut name = espeak_voice(&voice.language);
    if let Some(variant) = &voice.name {
        if !variant.is_empty() && variant.len() <= 32 && variant.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            name = format!("{name}+{variant}");
        } else {
            tracing::warn!(variant = %variant, "ignoring invalid espeak-ng variant name");
        }
    }
    let mut args = vec!["-b".to_owned(), "1".to_owned(), "--stdin".to_owned(), "--stdout".to_owned(), "-v".to_owned(), name];
    if let Some(wpm) = voice.rate_wpm {
        args.push("-s".to_owned());
        args.push(wpm.clamp(RATE_RANGE.0, RATE_RANGE.1).to_string());
    }
    args
}

/// Maps a BCP 47 tag to an espeak-ng voice: `en-US` → `en-us`, `en-GB` →
/// `en-gb`, Latin-American Spanish (`es-AR`, `es-MX`, `es-419`, any `es-`
/// region but `ES`) → `es-419`, `es`/`es-ES` → `es`, `pt-BR` → `pt-br`,
/// otherwise the primary subtag; a tag without a valid primary subtag → `en-us`.
pub fn espeak_voice(language: &str) -> String {
    let tag = language.trim().to_ascii_lowercase().replace('_', "-");
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let region = parts.next();
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return "en-us".to_owned();
    }
    let voice = match (primary, region) {
        ("en", Some("us")) => "en-us",
        ("en", Some("gb" | "uk")) => "en-gb",
        ("es", None | Some("es")) => "es",
        ("es", Some(_)) => "es-419",
        ("pt", Some("br")) => "pt-br",
        (primary, _) => primary,
    };
    voice.to_owned()
}

/// Rewrites the RIFF and `data` chunk sizes of a WAV written to a pipe (where
/// the writer could not seek back to fill them in) from the bytes present.
/// Leaves anything that is not a RIFF/WAVE image untouched for hound to reject.
fn repair_streamed_wav(bytes: &mut [u8]) {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return;
    }
    let riff_len = u32::try_from(bytes.len() - 8).unwrap_or(u32::MAX);
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let mut pos = 12usize;
    let mut block_align = 1usize;
    while let (Some(id), Some(size)) = (bytes.get(pos..pos + 4), read_u32(bytes, pos + 4)) {
        let body = pos + 8;
        let available = bytes.len() - body;
        if id == b"fmt " {
            if let Some(align) = bytes.get(body + 12..body + 14) {
                block_align = usize::from(u16::from_le_bytes([align[0], align[1]])).max(1);
            }
        } else if id == b"data" {
            if size as usize > available {
                let fixed = u32::try_from(available - available % block_align).unwrap_or(u32::MAX);
                bytes[pos + 4..pos + 8].copy_from_slice(&fixed.to_le_bytes());
            }
            return;
        }
        pos = body.saturating_add(size as usize).saturating_add(size as usize & 1);
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::Pcm;

    #[test]
    fn maps_languages_to_espeak_voices() {
        let cases = [
            ("en-US", "en-us"),
            ("en-GB", "en-gb"),
            ("es-AR", "es-419"),
            ("es-MX", "es-419"),
            ("es-419", "es-419"),
            ("es-ES", "es"),
            ("es", "es"),
            ("fr-CA", "fr"),
            ("pt-BR", "pt-br"),
            ("", "en-us"),
            ("-v", "en-us"),
            ("../x", "en-us"),
        ];
        for (tag, voice) in cases {
            assert_eq!(espeak_voice(tag), voice, "{tag}");
        }
    }

    #[test]
    fn args_carry_voice_variant_and_clamped_rate() {
        let args = espeak_args(&Voice::new("en-US").with_name("f3").with_rate_wpm(5000));
        assert_eq!(args, ["-b", "1", "--stdin", "--stdout", "-v", "en-us+f3", "-s", "450"]);
        let args = espeak_args(&Voice::new("es-AR").with_name("../evil"));
        assert_eq!(args, ["-b", "1", "--stdin", "--stdout", "-v", "es-419"]);
    }

    #[test]
    fn repairs_placeholder_sizes_of_a_streamed_wav() {
        let pcm = Pcm::new((0..1001).map(|i| i as i16).collect::<Vec<_>>(), 22050);
        let mut wav = convert::encode_wav(&pcm).unwrap();
        wav[4..8].copy_from_slice(&0x7fff_f024u32.to_le_bytes());
        wav[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        wav.push(0x55); // half a sample at the end of the stream
        repair_streamed_wav(&mut wav);
        assert_eq!(convert::decode_wav(Cursor::new(wav)).unwrap(), pcm);
    }

    #[test]
    fn repair_ignores_garbage() {
        for mut bytes in [Vec::new(), b"RIFF".to_vec(), b"RIFF\xff\xff\xff\xffWAVEdata\xff\xff".to_vec(), vec![0u8; 100]] {
            repair_streamed_wav(&mut bytes);
        }
    }
}
