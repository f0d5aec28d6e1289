//! Which languages a flow listens in, and the warning when the configured
//! recogniser cannot serve one of them (issue #13: a Spanish flow with
//! `speech: true` on the en-US-only built-in recogniser silently had no
//! speech). The gateway says what its recogniser serves
//! ([`RecogniserLanguages`]); this module knows the flow.

use std::collections::BTreeSet;

use super::Check;
use crate::model::{Flow, Text};

/// What the configured speech recogniser understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecogniserLanguages {
    /// Its `[speech].asr` name (`builtin`), for the message.
    pub engine: String,
    /// The language tags it serves (`en-US`); matched on the primary
    /// subtag (`en`). Empty: no speech at all (`asr = "none"`).
    pub languages: Vec<String>,
}

fn primary(tag: &str) -> String {
    tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase()
}

/// The languages a call of this flow may listen for speech in: none when
/// no node listens for speech, else the flow's `language` and every
/// language tag of its `say` and `reprompt` texts (a call runs in one of
/// them, by its `language` variable).
pub fn speech_languages(flow: &Flow) -> Vec<String> {
    let listens = flow.nodes.values().any(|n| n.gather.as_ref().is_some_and(|g| g.speech) || n.consent.is_some() || n.survey.is_some());
    if !listens {
        return Vec::new();
    }
    let mut out = vec![flow.language.clone()];
    let mut seen: BTreeSet<String> = BTreeSet::from([flow.language.clone()]);
    for node in flow.nodes.values() {
        let texts = node.say.iter().chain(node.gather.as_ref().and_then(|g| g.reprompt.as_ref()));
        for text in texts {
            if let Text::ByLanguage(map) = text {
                for tag in map.keys() {
                    if seen.insert(tag.clone()) {
                        out.push(tag.clone());
                    }
                }
            }
        }
    }
    out
}

impl Check<'_> {
    pub(super) fn languages(&mut self, recogniser: &RecogniserLanguages) {
        let flow = self.flow;
        let served: BTreeSet<String> = recogniser.languages.iter().map(|l| primary(l)).collect();
        let unserved: Vec<String> = speech_languages(flow).into_iter().filter(|l| !served.contains(&primary(l))).collect();
        if unserved.is_empty() {
            return;
        }
        let serves = if recogniser.languages.is_empty() { "no language".to_owned() } else { recogniser.languages.join(", ") };
        self.warning(
            &["language"],
            format!(
                "flow `{}`: speech in {} cannot be recognised by [speech].asr = \"{}\" (it serves {serves}); callers in {} can only use keys",
                flow.name,
                unserved.join(", "),
                recogniser.engine,
                if unserved.len() == 1 { "it" } else { "them" }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_flow, validate_with, ValidateOptions};

    #[test]
    fn unserved_languages_are_named() {
        let src = "flow: f\nlanguage: es-AR\nstart: a\nnodes:\n  a:\n    say: { es-AR: Hola, en-US: Hi, pt-BR: Oi }\n    gather: { speech: true }\n    on: { no_input: b, exhausted: b }\n  b:\n    hangup: true\n";
        let flow = parse_flow(src, "f.yaml").expect("parses");
        assert_eq!(speech_languages(&flow), ["es-AR", "en-US", "pt-BR"]);
        let builtin = RecogniserLanguages { engine: "builtin".into(), languages: vec!["en-US".into()] };
        let options = ValidateOptions { recogniser: Some(builtin), ..ValidateOptions::default() };
        let out: Vec<String> = validate_with(&flow, &options).iter().map(ToString::to_string).collect();
        assert_eq!(out, ["f.yaml:2:1: warning: flow `f`: speech in es-AR, pt-BR cannot be recognised by [speech].asr = \"builtin\" (it serves en-US); callers in them can only use keys"]);
        let keys_only = parse_flow(&src.replace("speech: true", "digits: 1"), "f.yaml").expect("parses");
        assert!(speech_languages(&keys_only).is_empty());
        assert!(validate_with(&keys_only, &options).is_empty());
    }
}
