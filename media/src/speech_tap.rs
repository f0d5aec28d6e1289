//! The speech tap of a call leg (issue #5, DESIGN.md §1): the caller's
//! decoded 8 kHz audio → VAD/endpointing → from the utterance's onset (with
//! the VAD's pre-roll, so the first syllable is kept) to its end: rubato
//! 8→16 kHz (one resampler per tap, fixed 20 ms chunks) → the recogniser's
//! [`AudioSink`], then `end_of_speech`. One utterance per tap.
//!
//! The VAD runs at the call's 8 kHz and only speech is resampled: a caller
//! listening to a prompt costs a VAD pass per frame and nothing more.
//!
//! Runs on the media shard's thread, so barge-in is signalled the moment
//! the VAD decides, without a round trip through the call task. Apart from
//! the sink's non-blocking push it does no IO; it never reads a clock
//! (time is sample counts).

use std::time::Duration;

use crate::asr::AudioSink;
use crate::resample::StreamResampler;
use crate::vad::{VadConfig, VadEvent, VoiceActivityDetector};
use crate::MediaError;

/// The recogniser's rate.
pub const ASR_RATE: u32 = 16_000;
const CALL_RATE: u32 = 8_000;
const CHUNK_8K: usize = 160;
/// An utterance longer than this is cut (end of speech sent): a caller on
/// a noisy line must not keep a recogniser open for ever.
pub const MAX_UTTERANCE: Duration = Duration::from_secs(15);

/// What the tap reports to its leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapEvent {
    SpeechStarted,
    SpeechEnded,
}

/// See the module doc.
pub struct SpeechTap {
    resampler: StreamResampler,
    vad: VoiceActivityDetector,
    sink: Option<AudioSink>,
    speaking: bool,
    /// 8 kHz audio not yet handed to the VAD (less than one frame).
    pending: Vec<i16>,
    /// 8 kHz speech to resample (onset audio, then each frame).
    speech: Vec<i16>,
    /// Its 16 kHz version for the sink.
    upsampled: Vec<i16>,
    spoken_samples: usize,
}

impl std::fmt::Debug for SpeechTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechTap").field("speaking", &self.speaking).field("open", &self.sink.is_some()).finish()
    }
}

impl SpeechTap {
    pub fn new(sink: AudioSink, vad: VadConfig) -> Result<Self, MediaError> {
        Ok(SpeechTap {
            resampler: StreamResampler::new(CALL_RATE, ASR_RATE, CHUNK_8K)?,
            vad: VoiceActivityDetector::new(CALL_RATE, vad)?,
            sink: Some(sink),
            speaking: false,
            pending: Vec::with_capacity(4 * CHUNK_8K),
            speech: Vec::with_capacity(CALL_RATE as usize),
            upsampled: Vec::with_capacity(ASR_RATE as usize),
            spoken_samples: 0,
        })
    }

    /// Shortens (or lengthens) the silence that ends the utterance; see
    /// [`VoiceActivityDetector::set_end_of_speech_silence`].
    pub fn set_end_of_speech(&mut self, silence: Duration) {
        self.vad.set_end_of_speech_silence(silence);
    }

    /// True once the utterance has ended (or the recogniser went away).
    pub fn is_done(&self) -> bool {
        self.sink.is_none()
    }

    /// Feeds caller audio at 8 kHz; `on_event` hears the VAD's decisions.
    pub fn push(&mut self, pcm8k: &[i16], mut on_event: impl FnMut(TapEvent)) {
        if self.sink.is_none() {
            return;
        }
        self.pending.extend_from_slice(pcm8k);
        let frame = self.vad.frame_len();
        let mut at = 0;
        while self.pending.len() - at >= frame && self.sink.is_some() {
            let end = at + frame;
            self.frame(at, end, &mut on_event);
            at = end;
        }
        self.pending.drain(..at);
    }

    fn frame(&mut self, start: usize, end: usize, on_event: &mut impl FnMut(TapEvent)) {
        let event = match self.vad.handle_frame(&self.pending[start..end]) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "VAD rejected a frame; speech tap closed");
                self.sink = None;
                return;
            }
        };
        match event {
            Some(VadEvent::SpeechStart { .. }) if !self.speaking => {
                self.speaking = true;
                on_event(TapEvent::SpeechStarted);
                // The onset audio: the pre-roll up to this frame, included.
                self.speech.clear();
                if let Some(onset) = self.vad.onset_audio() {
                    onset.copy_into(&mut self.speech);
                }
                self.send_speech();
            }
            Some(VadEvent::SpeechEnd { .. }) if self.speaking => {
                self.speech.clear();
                self.speech.extend_from_slice(&self.pending[start..end]);
                self.send_speech();
                self.end(on_event);
            }
            _ if self.speaking => {
                self.speech.clear();
                self.speech.extend_from_slice(&self.pending[start..end]);
                self.send_speech();
                if self.spoken_samples >= (MAX_UTTERANCE.as_millis() as usize) * (ASR_RATE as usize / 1000) {
                    self.end(on_event);
                }
            }
            _ => {}
        }
    }

    /// Resamples `self.speech` to 16 kHz and hands it to the recogniser.
    fn send_speech(&mut self) {
        self.upsampled.clear();
        self.resampler.process(&self.speech, &mut self.upsampled);
        self.spoken_samples += self.upsampled.len();
        if let Some(sink) = self.sink.as_mut() {
            if sink.push(&self.upsampled).is_err() {
                self.sink = None; // the recogniser is gone
            }
        }
    }

    fn end(&mut self, on_event: &mut impl FnMut(TapEvent)) {
        self.speaking = false;
        // The resampler's last samples, then the end.
        self.upsampled.clear();
        self.resampler.flush(&mut self.upsampled);
        if let Some(mut sink) = self.sink.take() {
            let _ = sink.push(&self.upsampled);
            let _ = sink.end_of_speech();
        }
        on_event(TapEvent::SpeechEnded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::{stream_pair, AsrInput};

    #[test]
    fn an_utterance_goes_to_the_sink_with_its_pre_roll_then_ends() {
        let (stream, mut engine) = stream_pair(ASR_RATE);
        let (sink, _events) = stream.split();
        let mut tap = SpeechTap::new(sink, VadConfig::default()).unwrap();
        let tone: Vec<i16> =
            (0..8000).map(|n| ((n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 10_000.0) as i16).collect();
        let silence = vec![0i16; 8000];
        let mut events = Vec::new();
        for part in [&silence, &tone, &silence] {
            for frame in part.chunks(CHUNK_8K) {
                tap.push(frame, |e| events.push(e));
            }
        }
        assert_eq!(events, [TapEvent::SpeechStarted, TapEvent::SpeechEnded]);
        assert!(tap.is_done());
        let mut samples = 0;
        loop {
            match engine.blocking_recv() {
                Some(AsrInput::Audio(buf)) => samples += buf.len(),
                Some(AsrInput::EndOfSpeech) => break,
                None => panic!("the sink closed without end of speech"),
            }
        }
        // 1 s of tone, plus the 300 ms pre-roll and the 600 ms hangover at
        // most, at 16 kHz; the start is never cut.
        assert!((16_000..=16_000 + 15_000).contains(&samples), "{samples} samples");
    }

    #[test]
    fn silence_sends_nothing() {
        let (stream, mut engine) = stream_pair(ASR_RATE);
        let (sink, _events) = stream.split();
        let mut tap = SpeechTap::new(sink, VadConfig::default()).unwrap();
        let mut events = Vec::new();
        for frame in vec![0i16; 24_000].chunks(CHUNK_8K) {
            tap.push(frame, |e| events.push(e));
        }
        assert!(events.is_empty() && !tap.is_done());
        drop(tap);
        assert!(engine.blocking_recv().is_none(), "no audio, no end of speech");
    }
}
