//! `[speech] asr = "discard"`: the whole speech path (speech tap, rubato
//! 8→16 kHz, VAD, the stream's batching and hand-off) without recognition:
//! the audio is consumed and dropped, and every utterance's final is empty
//! (confidence 0, i.e. the flow's `no_match`). For load tests and capacity
//! planning, where a real recogniser would be the bottleneck being sized
//! separately; never a production choice.

use super::{stream_pair, AsrError, AsrEvent, AsrInput, Grammar, Recognizer, RecognizerStream, DEFAULT_SAMPLE_RATE};

/// See the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardRecognizer;

impl Recognizer for DiscardRecognizer {
    fn name(&self) -> &'static str {
        "discard"
    }

    fn start(&self, _grammar: &Grammar, _language: &str) -> Result<RecognizerStream, AsrError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AsrError::NoRuntime)?;
        let (stream, mut io) = stream_pair(DEFAULT_SAMPLE_RATE);
        runtime.spawn(async move {
            while let Some(input) = io.recv().await {
                match input {
                    AsrInput::Audio(buf) => io.recycle(buf),
                    AsrInput::EndOfSpeech => {
                        io.finish(AsrEvent::Final { text: String::new(), confidence: 0.0 }).await;
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }
}
