//! Accumulates a streaming engine's results into the one final transcript
//! of an utterance: streaming engines (Vosk, Deepgram) finalise segments as
//! they go; the utterance's text is their concatenation, its confidence the
//! mean of the segments' (or words') confidences.

use super::AsrEvent;

#[derive(Debug, Default)]
pub(crate) struct Transcript {
    text: String,
    confidence_sum: f64,
    confidences: u32,
    last_partial: String,
}

impl Transcript {
    /// A finalised segment and its confidences (words or whole segment).
    pub(crate) fn add_final(&mut self, text: &str, confidences: impl IntoIterator<Item = f32>) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(text);
        for c in confidences {
            if c.is_finite() {
                self.confidence_sum += f64::from(c.clamp(0.0, 1.0));
                self.confidences += 1;
            }
        }
    }

    /// The hypothesis to report for the engine's current partial, `None` if
    /// it is empty or the same as the last one reported.
    pub(crate) fn partial(&mut self, partial: &str) -> Option<String> {
        let partial = partial.trim();
        let combined = match (self.text.is_empty(), partial.is_empty()) {
            (_, true) => self.text.clone(),
            (true, false) => partial.to_owned(),
            (false, false) => format!("{} {partial}", self.text),
        };
        if combined.is_empty() || combined == self.last_partial {
            return None;
        }
        self.last_partial.clone_from(&combined);
        Some(combined)
    }

    pub(crate) fn into_final(self) -> AsrEvent {
        let confidence = if self.text.is_empty() {
            0.0
        } else if self.confidences == 0 {
            1.0
        } else {
            (self.confidence_sum / f64::from(self.confidences)) as f32
        };
        AsrEvent::Final { text: self.text, confidence }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_join_and_partials_deduplicate() {
        let mut t = Transcript::default();
        assert_eq!(t.partial("talk"), Some("talk".into()));
        assert_eq!(t.partial("talk "), None);
        t.add_final("talk to", [0.8, 1.0]);
        assert_eq!(t.partial(""), Some("talk to".into()));
        assert_eq!(t.partial("an"), Some("talk to an".into()));
        t.add_final("an agent", [0.6]);
        match t.into_final() {
            AsrEvent::Final { text, confidence } => {
                assert_eq!(text, "talk to an agent");
                assert!((confidence - 0.8).abs() < 1e-6);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Transcript::default().into_final(), AsrEvent::Final { confidence, .. } if confidence == 0.0));
    }
}
