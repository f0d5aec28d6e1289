//! Linear PCM audio: the hand-off type between TTS/prompt files (`prompts`)
//! and packetisation (`media`). Mono, signed 16-bit, at a stated rate.

use std::sync::Arc;

/// Mono 16-bit linear PCM at `rate` Hz. Samples are shared (`Arc`) so a
/// cached prompt can be played on many calls without copying.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub samples: Arc<[i16]>,
    pub rate: u32,
}

impl Pcm {
    pub fn new(samples: impl Into<Arc<[i16]>>, rate: u32) -> Self {
        Self { samples: samples.into(), rate }
    }

    /// Duration in milliseconds (rounded down).
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.rate)
    }
}
