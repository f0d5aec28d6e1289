//! The channel pair between a call task and a recogniser's worker.
//!
//! The call side holds a [`RecognizerStream`] (or its two halves,
//! [`AudioSink`] + [`AsrEvents`], after [`RecognizerStream::split`]); the
//! engine side holds an [`EngineIo`]. Audio crosses in ~100 ms chunks
//! ([`CHUNK`]) on a bounded queue of [`QUEUE_CHUNKS`] chunks (5 s):
//! - `push` never blocks and never waits on the network: samples are copied
//!   into the pending chunk; a full chunk is handed over with `try_send`. If
//!   the worker has fallen 5 s behind, the chunk is dropped and counted
//!   ([`AudioSink::dropped_samples`]).
//! - one slot of the queue is kept for [`AsrInput::EndOfSpeech`], so end of
//!   speech is never lost to a full queue and always arrives after the audio.
//! - chunk buffers travel back on a small recycle queue
//!   ([`EngineIo::recycle`]), so after warm-up the sender does not allocate.
//!
//! Events: zero or more [`AsrEvent::Partial`], then exactly one
//! [`AsrEvent::Final`] or [`AsrEvent::Error`], then `None`. Partials are
//! dropped (not queued) if the call side does not read them.
//!
//! Cancel: dropping the stream (or the sink before `end_of_speech`) tells
//! the worker to stop; it closes its connection without a result.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::{AsrError, AsrEvent};

/// Chunk length: audio is handed to the worker 100 ms at a time.
pub const CHUNK: Duration = Duration::from_millis(100);
/// Queue depth between sink and worker, in chunks (5 s of audio).
pub const QUEUE_CHUNKS: usize = 50;
/// Sample count of one [`CHUNK`] at `sample_rate` (at least 1).
pub fn chunk_samples(sample_rate: u32) -> usize {
    (u64::from(sample_rate) * CHUNK.as_millis() as u64 / 1000).max(1) as usize
}
const EVENT_QUEUE: usize = 16;
const RECYCLE_QUEUE: usize = 4;

/// What an engine receives from the call side.
#[derive(Debug)]
pub enum AsrInput {
    /// Mono PCM at the recogniser's sample rate; a full chunk except maybe
    /// the last one before `EndOfSpeech`.
    Audio(Vec<i16>),
    /// The caller stopped talking: finish and send the final result.
    EndOfSpeech,
}

/// Builds a connected pair: the call side's stream and the engine's end.
/// Adapters call this in `Recognizer::start`, then move the [`EngineIo`] to
/// their task or thread.
pub fn stream_pair(sample_rate: u32) -> (RecognizerStream, EngineIo) {
    let chunk = chunk_samples(sample_rate);
    // One extra slot: the reserved place of EndOfSpeech.
    let (audio_tx, audio_rx) = mpsc::channel(QUEUE_CHUNKS + 1);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (recycle_tx, recycle_rx) = mpsc::channel(RECYCLE_QUEUE);
    let sink =
        AudioSink { tx: audio_tx, recycle: recycle_rx, pending: Vec::with_capacity(chunk), chunk, sample_rate, dropped: 0, ended: false };
    let stream = RecognizerStream { sink, events: AsrEvents { rx: event_rx } };
    (stream, EngineIo { audio: audio_rx, events: event_tx, recycle: recycle_tx })
}

/// The call side of one recognition: push audio, say when speech ended,
/// await events. Owned by the call task (`&mut self` everywhere: no locks).
#[derive(Debug)]
pub struct RecognizerStream {
    sink: AudioSink,
    events: AsrEvents,
}

impl RecognizerStream {
    /// Queues mono samples at [`Self::sample_rate`]; never blocks. `Ok` even
    /// when a chunk had to be dropped (see [`Self::dropped_samples`]);
    /// [`AsrError::Closed`] once the worker has ended, [`AsrError::Ended`]
    /// after [`Self::end_of_speech`].
    pub fn push(&mut self, samples: &[i16]) -> Result<(), AsrError> {
        self.sink.push(samples)
    }

    /// Flushes the pending audio and asks for the final result. Idempotent.
    pub fn end_of_speech(&mut self) -> Result<(), AsrError> {
        self.sink.end_of_speech()
    }

    /// The next event; `None` after the final result or error. Cancel safe
    /// (use it in `tokio::select!`).
    pub async fn next_event(&mut self) -> Option<AsrEvent> {
        self.events.next().await
    }

    /// An event if one is ready, without waiting.
    pub fn try_next_event(&mut self) -> Option<AsrEvent> {
        self.events.try_next()
    }

    /// Samples dropped because the worker was 5 s behind.
    pub fn dropped_samples(&self) -> u64 {
        self.sink.dropped
    }

    pub fn sample_rate(&self) -> u32 {
        self.sink.sample_rate
    }

    /// Separates the audio half (e.g. for a media thread) from the events
    /// half (for the call task's `select!`).
    pub fn split(self) -> (AudioSink, AsrEvents) {
        (self.sink, self.events)
    }
}

/// The audio half of a [`RecognizerStream`]: `Send`, usable from a plain
/// (non-Tokio) thread.
#[derive(Debug)]
pub struct AudioSink {
    tx: mpsc::Sender<AsrInput>,
    recycle: mpsc::Receiver<Vec<i16>>,
    pending: Vec<i16>,
    chunk: usize,
    sample_rate: u32,
    dropped: u64,
    ended: bool,
}

impl AudioSink {
    /// See [`RecognizerStream::push`].
    pub fn push(&mut self, mut samples: &[i16]) -> Result<(), AsrError> {
        if self.ended {
            return Err(AsrError::Ended);
        }
        if self.tx.is_closed() {
            return Err(AsrError::Closed);
        }
        while !samples.is_empty() {
            let take = (self.chunk - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() == self.chunk {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// See [`RecognizerStream::end_of_speech`].
    pub fn end_of_speech(&mut self) -> Result<(), AsrError> {
        if self.ended {
            return Ok(());
        }
        if !self.pending.is_empty() {
            self.flush()?;
        }
        self.ended = true;
        // The reserved slot: audio never takes the queue's last place.
        match self.tx.try_send(AsrInput::EndOfSpeech) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(AsrError::Closed),
            Err(TrySendError::Full(_)) => unreachable!("the last queue slot is kept for EndOfSpeech"),
        }
    }

    /// See [`RecognizerStream::dropped_samples`].
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn flush(&mut self) -> Result<(), AsrError> {
        if self.tx.capacity() <= 1 {
            self.dropped += self.pending.len() as u64;
            self.pending.clear();
            return if self.tx.is_closed() { Err(AsrError::Closed) } else { Ok(()) };
        }
        let next = match self.recycle.try_recv() {
            Ok(mut buf) => {
                buf.clear();
                buf
            }
            Err(_) => Vec::with_capacity(self.chunk),
        };
        let full = std::mem::replace(&mut self.pending, next);
        match self.tx.try_send(AsrInput::Audio(full)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(AsrError::Closed),
            Err(TrySendError::Full(AsrInput::Audio(buf))) => {
                // Only reachable if capacity changed under us (it cannot grow
                // smaller: this is the only sender). Count it all the same.
                self.dropped += buf.len() as u64;
                Ok(())
            }
            Err(TrySendError::Full(AsrInput::EndOfSpeech)) => Ok(()),
        }
    }
}

/// The events half of a [`RecognizerStream`].
#[derive(Debug)]
pub struct AsrEvents {
    rx: mpsc::Receiver<AsrEvent>,
}

impl AsrEvents {
    /// See [`RecognizerStream::next_event`].
    pub async fn next(&mut self) -> Option<AsrEvent> {
        self.rx.recv().await
    }

    /// See [`RecognizerStream::try_next_event`].
    pub fn try_next(&mut self) -> Option<AsrEvent> {
        self.rx.try_recv().ok()
    }
}

/// The engine's end of a stream. Async engines `recv().await`; engines on
/// their own thread use the `blocking_*` methods (never inside a runtime).
#[derive(Debug)]
pub struct EngineIo {
    audio: mpsc::Receiver<AsrInput>,
    events: mpsc::Sender<AsrEvent>,
    recycle: mpsc::Sender<Vec<i16>>,
}

impl EngineIo {
    /// The next input; `None` means the call side went away before end of
    /// speech: stop without a result. Cancel safe.
    pub async fn recv(&mut self) -> Option<AsrInput> {
        self.audio.recv().await
    }

    /// [`Self::recv`] for an engine thread.
    pub fn blocking_recv(&mut self) -> Option<AsrInput> {
        self.audio.blocking_recv()
    }

    /// Hands a consumed chunk's buffer back to the sender for reuse.
    pub fn recycle(&self, buf: Vec<i16>) {
        let _ = self.recycle.try_send(buf);
    }

    /// Reports a hypothesis; dropped if the call side is not keeping up.
    pub fn partial(&self, text: String) {
        let _ = self.events.try_send(AsrEvent::Partial { text });
    }

    /// Sends the last event ([`AsrEvent::Final`] or [`AsrEvent::Error`])
    /// and closes the stream.
    pub async fn finish(self, event: AsrEvent) {
        let _ = self.events.send(event).await;
    }

    /// [`Self::finish`] for an engine thread.
    pub fn blocking_finish(self, event: AsrEvent) {
        let _ = self.events.blocking_send(event);
    }

    /// Completes when nobody listens for events any more (stream dropped).
    pub async fn cancelled(&self) {
        self.events.closed().await
    }

    /// Whether nobody listens for events any more.
    pub fn is_cancelled(&self) -> bool {
        self.events.is_closed()
    }
}
