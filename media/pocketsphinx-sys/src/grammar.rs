//! Keyword grammars: a JSGF grammar from labelled phrases (the active
//! gather's intents) plus yes/no and spoken digits, and the mapping of a
//! hypothesis back to a label. Pure Rust, no FFI.
//!
//! Grammar shape: `public <s> = <item>;` where an item is one phrase or a run
//! of digits. Out-of-vocabulary words are dropped from phrases (the decoder
//! would reject the grammar); a phrase left empty is skipped.

/// What a hypothesis means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// A labelled phrase (an intent name, or `yes` / `no`).
    Label(String),
    /// Spoken digits, as ASCII `0`–`9`.
    Digits(String),
}

const DIGITS: [(&str, char); 11] = [
    ("zero", '0'),
    ("oh", '0'),
    ("one", '1'),
    ("two", '2'),
    ("three", '3'),
    ("four", '4'),
    ("five", '5'),
    ("six", '6'),
    ("seven", '7'),
    ("eight", '8'),
    ("nine", '9'),
];

/// A set of labelled phrases compiled to JSGF.
#[derive(Debug, Clone, Default)]
pub struct KeywordGrammar {
    phrases: Vec<(String, String)>, // (normalised phrase, label)
    digits: bool,
}

/// Lower-cases and keeps letters, apostrophes and spaces.
pub fn normalise(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_alphabetic() || c == '\'' { c.to_ascii_lowercase() } else { ' ' }).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl KeywordGrammar {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `phrase` meaning `label`.
    pub fn phrase(mut self, label: &str, phrase: &str) -> Self {
        let p = normalise(phrase);
        if !p.is_empty() {
            self.phrases.push((p, label.to_owned()));
        }
        self
    }
    /// Adds `yes` / `no` (labels `yes`, `no`) with a few synonyms.
    pub fn yes_no(self) -> Self {
        self.phrase("yes", "yes").phrase("yes", "yeah").phrase("yes", "correct").phrase("no", "no").phrase("no", "nope")
    }
    /// Accepts runs of spoken digits.
    pub fn digits(mut self) -> Self {
        self.digits = true;
        self
    }
    /// Keeps only phrases whose every word `known` accepts (the dictionary).
    pub fn retain_known(mut self, known: impl Fn(&str) -> bool) -> Self {
        self.phrases.retain(|(p, _)| p.split(' ').all(&known));
        self
    }
    /// The JSGF text.
    pub fn to_jsgf(&self) -> String {
        let mut alts: Vec<String> = Vec::new();
        for (p, _) in &self.phrases {
            if !alts.contains(p) {
                alts.push(p.clone());
            }
        }
        let mut g = String::from("#JSGF V1.0;\ngrammar centralita;\n");
        if self.digits {
            let d: Vec<&str> = DIGITS.iter().map(|(w, _)| *w).collect();
            g.push_str(&format!("<digit> = {};\n", d.join(" | ")));
            alts.push("<digit>+".into());
        }
        // The empty alternative lets silence and noise decode to no words
        // instead of the nearest phrase.
        alts.push("<NULL>".into());
        g.push_str(&format!("public <s> = {};\n", alts.join(" | ")));
        g
    }
    /// Maps a hypothesis to its meaning: the label of the longest phrase it
    /// contains, else its digits, else `None`.
    pub fn classify(&self, hyp: &str) -> Option<Match> {
        let h = format!(" {} ", normalise(hyp));
        let best = self.phrases.iter().filter(|(p, _)| h.contains(&format!(" {p} "))).max_by_key(|(p, _)| p.len());
        if let Some((_, label)) = best {
            return Some(Match::Label(label.clone()));
        }
        if self.digits {
            let d: String = h.split_whitespace().filter_map(|w| DIGITS.iter().find(|(n, _)| *n == w).map(|(_, c)| *c)).collect();
            if !d.is_empty() {
                return Some(Match::Digits(d));
            }
        }
        None
    }

    /// [`Self::classify`] as `scripts/asr_eval.py` labels its clips: the
    /// label, `digits:<digits>`, or `-` for nothing recognised.
    pub fn manifest_label(&self, hyp: &str) -> String {
        match self.classify(hyp) {
            Some(Match::Label(l)) => l,
            Some(Match::Digits(d)) => format!("digits:{d}"),
            None => "-".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn jsgf_and_classify() {
        let g = KeywordGrammar::new().phrase("agent", "Agent").phrase("sales", "buy").yes_no().digits();
        let j = g.to_jsgf();
        assert!(j.contains("public <s> = agent | buy | yes"), "{j}");
        assert!(j.trim_end().ends_with("<digit>+ | <NULL>;"), "{j}");
        assert_eq!(g.classify("agent"), Some(Match::Label("agent".into())));
        assert_eq!(g.classify("four two"), Some(Match::Digits("42".into())));
        assert_eq!(g.classify(""), None);
    }
}
