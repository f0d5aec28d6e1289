//! The speech tap of a call leg (issue #5, DESIGN.md §1): the caller's
//! decoded 8 kHz audio → VAD/endpointing → from the utterance's onset (with
//! the VAD's pre-roll, so the first syllable is kept) to its end: rubato
//! 8→16 kHz (one resampler per tap, fixed 20 ms chunks) → the recogniser's
//! [`AudioSink`], then `end_of_speech`. One utterance per tap.
//!
//! The VAD runs at the call's 8 kHz and only speech is resampled: a caller
//! listening to a prompt costs a VAD pass per frame and nothing more.
//!
//! The recogniser may join late: a tap made with [`SpeechTap::detect`] has
//! no sink yet and keeps the utterance's 16 kHz audio (pre-roll included,
//! up to [`MAX_WAITING`]) until [`SpeechTap::attach`] hands it one, so the
//! call starts a recogniser only when someone speaks — a decoder (or a
//! vendor stream) is held per talking caller, not per caller listening to a
//! prompt — and still loses no syllable.
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

/// Audio kept for a recogniser that has not joined yet, at most (16 kHz
/// samples: 4 s). It joins within milliseconds of the onset normally.
pub const MAX_WAITING: usize = ASR_RATE as usize * 4;

/// Where the utterance's audio goes.
enum Output {
    /// No recogniser yet: the audio so far, and whether the utterance ended.
    Waiting {
        audio: Vec<i16>,
        ended: bool,
        dropped: usize,
    },
    Attached(AudioSink),
    /// Ended and handed over, or the recogniser went away.
    Closed,
}

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
    output: Output,
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
        let output = match &self.output {
            Output::Waiting { audio, ended, .. } => format!("waiting ({} samples, ended: {ended})", audio.len()),
            Output::Attached(_) => "attached".into(),
            Output::Closed => "closed".into(),
        };
        f.debug_struct("SpeechTap").field("speaking", &self.speaking).field("output", &output).finish()
    }
}

impl SpeechTap {
    /// A tap feeding `sink` from the onset on.
    pub fn new(sink: AudioSink, vad: VadConfig) -> Result<Self, MediaError> {
        Self::with_output(Output::Attached(sink), vad)
    }

    /// A tap without a recogniser: it keeps the utterance for [`Self::attach`].
    pub fn detect(vad: VadConfig) -> Result<Self, MediaError> {
        Self::with_output(Output::Waiting { audio: Vec::new(), ended: false, dropped: 0 }, vad)
    }

    fn with_output(output: Output, vad: VadConfig) -> Result<Self, MediaError> {
        Ok(SpeechTap {
            resampler: StreamResampler::new(CALL_RATE, ASR_RATE, CHUNK_8K)?,
            vad: VoiceActivityDetector::new(CALL_RATE, vad)?,
            output,
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

    /// Hands the recogniser its sink: the audio kept so far goes first
    /// (and the end, if the utterance is over). A tap that already has one,
    /// or is closed, drops `sink` (its recogniser sees the input end).
    pub fn attach(&mut self, mut sink: AudioSink) {
        let Output::Waiting { audio, ended, dropped } = std::mem::replace(&mut self.output, Output::Closed) else { return };
        if dropped > 0 {
            tracing::warn!(dropped, "recogniser joined late: the start of the utterance was dropped");
        }
        if sink.push(&audio).is_err() {
            return; // the recogniser is gone
        }
        if ended {
            let _ = sink.end_of_speech();
        } else {
            self.output = Output::Attached(sink);
        }
    }

    /// True once the utterance has ended and been handed over (or the
    /// recogniser went away): the tap has nothing left to do.
    pub fn is_done(&self) -> bool {
        matches!(self.output, Output::Closed)
    }

    fn finished_listening(&self) -> bool {
        matches!(self.output, Output::Closed | Output::Waiting { ended: true, .. })
    }

    /// Feeds caller audio at 8 kHz; `on_event` hears the VAD's decisions.
    pub fn push(&mut self, pcm8k: &[i16], mut on_event: impl FnMut(TapEvent)) {
        if self.finished_listening() {
            return;
        }
        self.pending.extend_from_slice(pcm8k);
        let frame = self.vad.frame_len();
        let mut at = 0;
        while self.pending.len() - at >= frame && !self.finished_listening() {
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
                self.output = Output::Closed;
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
        self.output_audio();
    }

    /// `self.upsampled` to the recogniser, or kept for it.
    fn output_audio(&mut self) {
        match &mut self.output {
            Output::Attached(sink) => {
                if sink.push(&self.upsampled).is_err() {
                    self.output = Output::Closed; // the recogniser is gone
                }
            }
            Output::Waiting { audio, dropped, .. } => {
                let room = MAX_WAITING.saturating_sub(audio.len());
                let take = room.min(self.upsampled.len());
                audio.extend_from_slice(&self.upsampled[..take]);
                *dropped += self.upsampled.len() - take;
            }
            Output::Closed => {}
        }
    }

    fn end(&mut self, on_event: &mut impl FnMut(TapEvent)) {
        self.speaking = false;
        // The resampler's last samples, then the end.
        self.upsampled.clear();
        self.resampler.flush(&mut self.upsampled);
        self.output_audio();
        match std::mem::replace(&mut self.output, Output::Closed) {
            Output::Attached(mut sink) => {
                let _ = sink.end_of_speech();
            }
            Output::Waiting { audio, dropped, .. } => self.output = Output::Waiting { audio, ended: true, dropped },
            Output::Closed => {}
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

    fn tone_then_silence() -> Vec<i16> {
        let tone = (0..8000).map(|n| ((n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 10_000.0) as i16);
        [vec![0i16; 8000], tone.collect(), vec![0i16; 8000]].concat()
    }

    fn received(engine: &mut crate::asr::EngineIo) -> usize {
        let mut samples = 0;
        loop {
            match engine.blocking_recv() {
                Some(AsrInput::Audio(buf)) => samples += buf.len(),
                Some(AsrInput::EndOfSpeech) => return samples,
                None => panic!("the sink closed without end of speech"),
            }
        }
    }

    #[test]
    fn a_recogniser_that_joins_after_the_onset_gets_the_whole_utterance() {
        // Reference: attached from the start.
        let (stream, mut engine) = stream_pair(ASR_RATE);
        let mut tap = SpeechTap::new(stream.split().0, VadConfig::default()).unwrap();
        for frame in tone_then_silence().chunks(CHUNK_8K) {
            tap.push(frame, |_| {});
        }
        let whole = received(&mut engine);
        // Joining 200 ms after the onset, and after the end.
        for join_after_ms in [200usize, 5000] {
            let (stream, mut engine) = stream_pair(ASR_RATE);
            let mut sink = Some(stream.split().0);
            let mut tap = SpeechTap::detect(VadConfig::default()).unwrap();
            let (mut started_at, mut events) = (None, Vec::new());
            for (i, frame) in tone_then_silence().chunks(CHUNK_8K).enumerate() {
                tap.push(frame, |e| events.push(e));
                if started_at.is_none() && events.contains(&TapEvent::SpeechStarted) {
                    started_at = Some(i);
                }
                if started_at.is_some_and(|s| (i - s) * 20 >= join_after_ms) {
                    if let Some(sink) = sink.take() {
                        assert!(!tap.is_done());
                        tap.attach(sink);
                    }
                }
            }
            if let Some(sink) = sink.take() {
                assert!(!tap.is_done(), "the ended utterance waits for its recogniser");
                tap.attach(sink);
            }
            assert_eq!(events, [TapEvent::SpeechStarted, TapEvent::SpeechEnded]);
            assert!(tap.is_done());
            assert_eq!(received(&mut engine), whole, "joined {join_after_ms} ms after the onset");
        }
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
