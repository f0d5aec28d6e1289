//! The prompt being played on a leg: a queue of 8 kHz PCM chunks read out
//! one 20 ms frame at a time (RFC 3551 §4.2 packetisation is the caller's).
//!
//! A prompt is either whole (one clip, known to end) or streamed: chunks are
//! appended while a TTS engine is still synthesising, so the first packet
//! goes out before synthesis ends. A streamed prompt that runs dry before
//! its end is marked is an *underrun*: the frame is padded with silence and
//! the prompt goes on when more audio arrives; it finishes only once it is
//! both ended and drained. Frames span chunk boundaries without a gap.

use std::collections::VecDeque;

use crate::pcm::Pcm;

/// One prompt's audio queue.
#[derive(Debug)]
pub struct Playback {
    pub id: u64,
    chunks: VecDeque<Pcm>,
    /// Read position in the front chunk.
    position: usize,
    /// More chunks may follow (a streamed prompt not yet ended).
    open: bool,
    /// The first frame has been read (its packet carries the marker).
    pub started: bool,
    /// Frames padded with silence because a streamed prompt ran dry.
    pub underruns: u64,
}

/// What reading one frame produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Samples written from the prompt (the rest of the frame is silence).
    pub samples: usize,
    /// The prompt is over: ended and drained.
    pub finished: bool,
}

impl Playback {
    /// A whole prompt.
    pub fn whole(pcm: Pcm, id: u64) -> Self {
        let mut p = Self::streamed(pcm, id);
        p.open = false;
        p
    }

    /// A streamed prompt starting with `first`; more follows with
    /// [`Self::append`] until [`Self::end`].
    pub fn streamed(first: Pcm, id: u64) -> Self {
        let mut chunks = VecDeque::new();
        if !first.samples.is_empty() {
            chunks.push_back(first);
        }
        Self { id, chunks, position: 0, open: true, started: false, underruns: 0 }
    }

    /// Queues more audio. Ignored once ended (a late chunk of a stream that
    /// was already closed must not restart it).
    pub fn append(&mut self, pcm: Pcm) {
        if self.open && !pcm.samples.is_empty() {
            self.chunks.push_back(pcm);
        }
    }

    /// No more audio will be appended.
    pub fn end(&mut self) {
        self.open = false;
    }

    /// Samples still queued.
    pub fn queued(&self) -> usize {
        self.chunks.iter().map(|c| c.samples.len()).sum::<usize>() - self.position
    }

    /// Reads up to `out.len()` samples through `encode` (which encodes a
    /// slice into the front of a byte buffer and returns how many samples it
    /// took), across chunk boundaries. A streamed prompt that cannot fill
    /// the frame counts an underrun: the caller hears silence inside it.
    pub fn read_frame(&mut self, out: &mut [u8], mut encode: impl FnMut(&[i16], &mut [u8]) -> usize) -> Frame {
        let mut written = 0;
        while written < out.len() {
            let Some(front) = self.chunks.front() else { break };
            let rest = front.samples.get(self.position..).unwrap_or_default();
            let n = encode(rest, &mut out[written..]);
            written += n;
            self.position += n;
            if self.position >= front.samples.len() {
                self.chunks.pop_front();
                self.position = 0;
            }
            if n == 0 {
                break;
            }
        }
        if written < out.len() && self.open {
            self.underruns += 1;
        }
        Frame { samples: written, finished: !self.open && self.chunks.is_empty() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm(samples: &[i16]) -> Pcm {
        Pcm::new(samples.to_vec(), 8000)
    }

    // An "encoder" that copies the low byte, so frames can be inspected.
    fn copy(src: &[i16], dst: &mut [u8]) -> usize {
        let n = src.len().min(dst.len());
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s as u8;
        }
        n
    }

    #[test]
    fn whole_prompt_finishes_on_its_last_frame() {
        let mut p = Playback::whole(pcm(&[1; 6]), 7);
        let mut out = [0u8; 4];
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 4, finished: false });
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 2, finished: true });
        assert_eq!(p.underruns, 0);
    }

    #[test]
    fn frames_span_chunks_without_a_gap() {
        let mut p = Playback::streamed(pcm(&[1, 2, 3]), 1);
        p.append(pcm(&[4, 5, 6]));
        let mut out = [0u8; 4];
        assert_eq!(p.read_frame(&mut out, copy).samples, 4);
        assert_eq!(out, [1, 2, 3, 4]);
        assert_eq!(p.queued(), 2);
    }

    #[test]
    fn a_streamed_prompt_that_runs_dry_waits_for_more_and_counts_underruns() {
        let mut p = Playback::streamed(pcm(&[1, 2]), 1);
        let mut out = [0u8; 4];
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 2, finished: false });
        assert_eq!(p.underruns, 1);
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 0, finished: false });
        assert_eq!(p.underruns, 2);
        p.append(pcm(&[9; 4]));
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 4, finished: false });
        p.end();
        assert_eq!(p.read_frame(&mut out, copy), Frame { samples: 0, finished: true });
        assert_eq!(p.underruns, 2);
    }

    #[test]
    fn ending_drains_what_is_queued_first() {
        let mut p = Playback::streamed(pcm(&[1; 5]), 1);
        p.end();
        let mut out = [0u8; 4];
        assert!(!p.read_frame(&mut out, copy).finished);
        assert!(p.read_frame(&mut out, copy).finished);
    }

    #[test]
    fn chunks_after_the_end_are_ignored() {
        let mut p = Playback::streamed(pcm(&[1; 2]), 1);
        p.end();
        p.append(pcm(&[2; 100]));
        assert_eq!(p.queued(), 2);
    }
}
