//! Say-as: text that TTS engines read badly, rewritten to be read
//! naturally (the idea of SSML's `<say-as>`, done before the engine so it
//! works with every engine, espeak-ng included).
//!
//! - Template filters, `{{var|filter}}`: `digits` ("5 5 5 1 2 3 4"),
//!   `phone` (digits in the number's groups, `+` as "plus"), `currency`
//!   or `currency:ARS` (amount with the currency's name, cents spoken),
//!   `url`, `email` and `spell` (letter by letter).
//! - [`speakable`]: what the runner sends to TTS for a `say`: web
//!   addresses and e-mail addresses written in the text are read with
//!   their separators as words ("acme dot example slash help"). The
//!   transcript keeps the text as written.
//!
//! Words exist for English, Spanish and Portuguese (by the primary
//! language of the call); other languages use the English words.

/// The filters [`apply`] knows (`currency` also as `currency:CODE`).
pub(crate) const FILTERS: [&str; 6] = ["digits", "phone", "currency", "url", "email", "spell"];

/// Whether `filter` (as written after `|`) is known.
pub(crate) fn is_known(filter: &str) -> bool {
    let name = filter.split_once(':').map_or(filter, |(n, _)| n).trim();
    FILTERS.contains(&name)
}

struct Words {
    plus: &'static str,
    dot: &'static str,
    slash: &'static str,
    at: &'static str,
    dash: &'static str,
    underscore: &'static str,
    colon: &'static str,
    and_cents: &'static str,
    cents: &'static str,
}

const EN: Words = Words {
    plus: "plus",
    dot: "dot",
    slash: "slash",
    at: "at",
    dash: "dash",
    underscore: "underscore",
    colon: "colon",
    and_cents: "and",
    cents: "cents",
};
const ES: Words = Words {
    plus: "más",
    dot: "punto",
    slash: "barra",
    at: "arroba",
    dash: "guion",
    underscore: "guion bajo",
    colon: "dos puntos",
    and_cents: "con",
    cents: "centavos",
};
const PT: Words = Words {
    plus: "mais",
    dot: "ponto",
    slash: "barra",
    at: "arroba",
    dash: "hífen",
    underscore: "sublinhado",
    colon: "dois pontos",
    and_cents: "e",
    cents: "centavos",
};

fn primary(language: &str) -> String {
    language.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase()
}

fn words(language: &str) -> &'static Words {
    match primary(language).as_str() {
        "es" => &ES,
        "pt" => &PT,
        _ => &EN,
    }
}

/// Applies the filter written after `|` to `value`. An unknown filter
/// leaves the value as it is (the validator warns about it).
pub(crate) fn apply(filter: &str, value: &str, language: &str) -> String {
    let (name, arg) = match filter.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (filter.trim(), None),
    };
    match name {
        "digits" => digits(value, language),
        "phone" => phone(value, language),
        "currency" => currency(value, arg, language),
        "url" => address(value, language),
        "email" => address(value, language),
        "spell" => spell(value),
        _ => value.to_owned(),
    }
}

/// Every digit on its own; a leading `+` as a word; other characters dropped.
fn digits(value: &str, language: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    if value.trim_start().starts_with('+') {
        out.push(words(language).plus.to_owned());
    }
    out.extend(value.chars().filter(char::is_ascii_digit).map(String::from));
    out.join(" ")
}

/// Digits grouped as written (spaces, dashes, dots, brackets part groups).
fn phone(value: &str, language: &str) -> String {
    let groups: Vec<String> = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(|g| g.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect();
    let body = groups.join(", ");
    if value.trim_start().starts_with('+') {
        format!("{} {body}", words(language).plus)
    } else {
        body
    }
}

/// The currency of a language's country when the filter names none.
fn default_currency(language: &str) -> &'static str {
    let region = language.split(['-', '_']).nth(1).unwrap_or("").to_ascii_uppercase();
    match (primary(language).as_str(), region.as_str()) {
        (_, "AR") => "ARS",
        (_, "MX") => "MXN",
        (_, "CL") => "CLP",
        (_, "CO") => "COP",
        (_, "UY") => "UYU",
        (_, "BR") => "BRL",
        (_, "GB") => "GBP",
        (_, "ES" | "PT" | "FR" | "DE" | "IT") => "EUR",
        ("es", _) => "EUR",
        _ => "USD",
    }
}

fn currency_name(code: &str, language: &str, one: bool) -> String {
    let es = primary(language) == "es";
    let pt = primary(language) == "pt";
    let (singular, plural) = match code {
        "ARS" | "MXN" | "CLP" | "COP" | "UYU" => ("peso", "pesos"),
        "USD" if es || pt => ("dólar", "dólares"),
        "USD" => ("dollar", "dollars"),
        "EUR" => ("euro", "euros"),
        "BRL" if es => ("real", "reales"),
        "BRL" => ("real", "reais"),
        "GBP" if es || pt => ("libra", "libras"),
        "GBP" => ("pound", "pounds"),
        other => return other.to_owned(),
    };
    (if one { singular } else { plural }).to_owned()
}

/// `19900` → "19900 pesos"; `12.5` → "12 dollars and 50 cents". Not a
/// number: left as it is.
fn currency(value: &str, code: Option<&str>, language: &str) -> String {
    let text = value.trim().trim_start_matches(['$', '€', '£']).replace(',', "");
    let Ok(amount) = text.parse::<f64>() else {
        return value.to_owned();
    };
    if !amount.is_finite() || amount < 0.0 {
        return value.to_owned();
    }
    let code = code.filter(|c| !c.is_empty()).map(str::to_ascii_uppercase).unwrap_or_else(|| default_currency(language).to_owned());
    let cents_total = (amount * 100.0).round();
    let whole = (cents_total / 100.0).trunc();
    let cents = (cents_total - whole * 100.0) as u64;
    let whole = whole as u64;
    let w = words(language);
    let mut out = format!("{whole} {}", currency_name(&code, language, whole == 1));
    if cents > 0 {
        out.push_str(&format!(" {} {cents} {}", w.and_cents, w.cents));
    }
    out
}

fn spell(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).map(String::from).collect::<Vec<_>>().join(" ")
}

/// A web or e-mail address with its separators as words; the scheme
/// (`https://`) and a trailing slash are not read.
fn address(value: &str, language: &str) -> String {
    let w = words(language);
    let lower = value.to_ascii_lowercase();
    let rest = ["https://", "http://"].iter().find(|s| lower.starts_with(*s)).map_or(value, |s| &value[s.len()..]);
    let rest = rest.trim_end_matches('/');
    let mut out = String::new();
    for c in rest.chars() {
        let word = match c {
            '.' => w.dot,
            '/' => w.slash,
            '@' => w.at,
            '-' => w.dash,
            '_' => w.underscore,
            ':' => w.colon,
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(' ');
        out.push_str(word);
        out.push(' ');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a word (trailing punctuation removed) is a web or e-mail address:
/// a scheme, `www.`, an `@` before a dotted domain, or dotted labels whose
/// last one is two or more letters (`acme.example/help`; not `9.99`, `e.g`).
fn is_address(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
        return true;
    }
    let host = lower.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels.iter().all(|l| l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// The text TTS should read: addresses written in it spoken out.
pub fn speakable(text: &str, language: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
        let lead = core.len() - core.trim_start_matches(['(', '"', '\'', '¿', '¡']).len();
        let (prefix, core) = core.split_at(lead);
        if is_address(core) {
            out.push_str(prefix);
            out.push_str(&address(core, language));
            out.push_str(&word[prefix.len() + core.len()..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(apply("digits", "5551234", "en-US"), "5 5 5 1 2 3 4");
        assert_eq!(apply("digits", "+54 351", "es-AR"), "más 5 4 3 5 1");
        assert_eq!(apply("phone", "+54 9 351 555-0000", "en-US"), "plus 5 4, 9, 3 5 1, 5 5 5, 0 0 0 0");
        assert_eq!(apply("currency", "19900", "es-AR"), "19900 pesos");
        assert_eq!(apply("currency:USD", "12.5", "en-US"), "12 dollars and 50 cents");
        assert_eq!(apply("currency", "1", "en-US"), "1 dollar");
        assert_eq!(apply("currency", "free", "en-US"), "free");
        assert_eq!(apply("email", "ana.p@acme.example", "es-AR"), "ana punto p arroba acme punto example");
        assert_eq!(apply("url", "https://acme.example/help/", "en-US"), "acme dot example slash help");
        assert_eq!(apply("spell", "AB 12", "en-US"), "A B 1 2");
        assert_eq!(apply("shout", "x", "en-US"), "x");
        assert!(is_known("currency:ARS") && is_known("digits") && !is_known("shout"));
    }

    #[test]
    fn addresses_in_text_are_spoken() {
        assert_eq!(
            speakable("Support: you will find help and answers at acme.example/help.", "en-US"),
            "Support: you will find help and answers at acme dot example slash help."
        );
        assert_eq!(
            speakable("Escribinos a soporte@acme.example, gracias.", "es-AR"),
            "Escribinos a soporte arroba acme punto example, gracias."
        );
        assert_eq!(speakable("(www.acme.example)", "en-US"), "(www dot acme dot example)");
        let plain = "It costs 9.99, e.g. today. Press 1.";
        assert_eq!(speakable(plain, "en-US"), plain);
    }
}
