//! Matching what the caller said to what a node listens for: intents by
//! phrase, yes/no for consent, spoken numbers for surveys.
//!
//! Text is normalised first: lower case, accents folded (`sí` = `si`,
//! `atención` = `atencion`), punctuation turned into spaces. A phrase
//! matches when its words appear together, in order, anywhere in the
//! utterance, each within a small edit distance (none up to 3 letters, one
//! up to 6, two beyond) so that `asesora` still finds `asesor`. The intent
//! whose phrase has the most words wins (`hablar con una persona` beats
//! `persona`), then the one with fewer edits; a tie between intents is no
//! match at all, so the flow re-asks rather than guessing. English and Spanish words are built in for yes/no and numbers.

/// Lower case, accents folded, punctuation as spaces, one space between words.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '\'' | '’' => continue, // don't -> dont
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn words(text: &str) -> Vec<String> {
    normalize(text).split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Edits allowed for a word of `len` letters.
fn tolerance(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    }
}

/// Levenshtein distance, or `None` when above `max`.
fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// The best score of `phrase` inside `said`: 100 per word, less one per edit.
fn phrase_score(said: &[String], phrase: &str) -> Option<i64> {
    let want = words(phrase);
    if want.is_empty() || want.len() > said.len() {
        return None;
    }
    let mut best: Option<i64> = None;
    for window in said.windows(want.len()) {
        let mut edits = 0;
        let ok = window.iter().zip(&want).all(|(s, w)| match distance(s, w, tolerance(w.chars().count())) {
            Some(d) => {
                edits += d;
                true
            }
            None => false,
        });
        if ok {
            let score = 100 * want.len() as i64 - edits as i64;
            best = Some(best.map_or(score, |b| b.max(score)));
        }
    }
    best
}

/// The intent whose phrases best match `said`, or `None` (nothing, or a tie).
#[cfg(test)]
pub(crate) fn match_intent<'a>(said: &str, intents: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Option<&'a str> {
    match_phrase(said, intents).map(|(name, _)| name)
}

/// [`match_intent`], with the intent's phrase that matched best (as the
/// flow writes it), for a confirmation question ("Did you say agent?").
pub(crate) fn match_phrase<'a>(said: &str, intents: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Option<(&'a str, &'a str)> {
    let said = words(said);
    let mut best: Option<(i64, &str, &str)> = None;
    let mut tie = false;
    for (name, phrases) in intents {
        let Some((score, phrase)) = phrases.iter().filter_map(|p| phrase_score(&said, p).map(|s| (s, p.as_str()))).max_by_key(|(s, _)| *s)
        else {
            continue;
        };
        match best {
            Some((b, _, _)) if score < b => {}
            Some((b, _, _)) if score == b => tie = true,
            _ => {
                best = Some((score, name, phrase));
                tie = false;
            }
        }
    }
    if tie {
        return None;
    }
    best.map(|(_, name, phrase)| (name, phrase))
}

pub(crate) const YES: [&str; 19] = [
    "yes",
    "yeah",
    "yup",
    "correct",
    "yep",
    "sure",
    "ok",
    "okay",
    "i agree",
    "accept",
    "of course",
    "si",
    "claro",
    "dale",
    "acepto",
    "de acuerdo",
    "por supuesto",
    "bueno",
    "sim",
];
pub(crate) const NO: [&str; 12] =
    ["no", "nope", "nah", "dont", "do not", "not", "wrong", "nunca", "negativo", "no acepto", "incorrecto", "nao"];

/// A spoken yes (`true`) or no (`false`); `None` when neither or unclear.
/// When both appear, the first one said counts (`no, yes` is no).
pub(crate) fn yes_no(said: &str) -> Option<bool> {
    let said = words(said);
    let first = |list: &[&str]| -> Option<usize> {
        list.iter()
            .filter_map(|p| {
                let want = words(p);
                said.windows(want.len().max(1)).position(|w| w == want.as_slice())
            })
            .min()
    };
    match (first(&YES), first(&NO)) {
        (Some(y), Some(n)) => Some(y < n),
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        (None, None) => None,
    }
}

pub(crate) const NUMBERS: [(&str, u8); 22] = [
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("cero", 0),
    ("uno", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("diez", 10),
];

/// The first number said (`un`/`una` are articles, not one), as digits (`7`, `10`) or a word (`seven`, `siete`).
pub(crate) fn spoken_number(said: &str) -> Option<u8> {
    words(said).iter().find_map(|w| {
        if let Ok(n) = w.parse::<u8>() {
            return Some(n);
        }
        NUMBERS.iter().find(|(word, _)| word == w).map(|(_, n)| *n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intents() -> Vec<(&'static str, Vec<String>)> {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        vec![
            ("agent", v(&["agente", "asesor", "hablar con una persona", "agent", "person"])),
            ("sales", v(&["ventas", "comprar", "sales"])),
            ("support", v(&["soporte", "ayuda", "support", "help"])),
        ]
    }

    fn m(said: &str) -> Option<String> {
        let i = intents();
        match_intent(said, i.iter().map(|(n, p)| (*n, p.as_slice()))).map(str::to_owned)
    }

    #[test]
    fn normalises() {
        assert_eq!(normalize("  ¡Sí, QUIERO hablar con atención!  "), "si quiero hablar con atencion");
        assert_eq!(normalize("I don't"), "i dont");
    }

    #[test]
    fn matches_words_phrases_and_typos() {
        assert_eq!(m("quiero hablar con una persona por favor").as_deref(), Some("agent"));
        assert_eq!(m("Ventas.").as_deref(), Some("sales"));
        assert_eq!(m("necesito un asesora").as_deref(), Some("agent"));
        assert_eq!(m("I need help").as_deref(), Some("support"));
        assert_eq!(m("the weather").as_deref(), None);
        assert_eq!(m("sales or support").as_deref(), None, "a tie is no match");
        assert_eq!(m("").as_deref(), None);
        assert_eq!(m("helpless").as_deref(), None, "whole words only");
    }

    #[test]
    fn yes_no_and_numbers() {
        assert_eq!(yes_no("Sí, claro"), Some(true));
        assert_eq!(yes_no("no acepto"), Some(false));
        assert_eq!(yes_no("yes please"), Some(true));
        assert_eq!(yes_no("I don't"), Some(false));
        assert_eq!(yes_no("maybe"), None);
        assert_eq!(spoken_number("le doy un nueve"), Some(9), "articles are not numbers");
        assert_eq!(spoken_number("nueve"), Some(9));
        assert_eq!(spoken_number("ten out of ten"), Some(10));
        assert_eq!(spoken_number("diez"), Some(10));
        assert_eq!(spoken_number("nothing"), None);
    }
}
