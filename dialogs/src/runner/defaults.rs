//! Built-in wording for the prompts a flow need not write: the "sorry"
//! before a re-prompt after `no_match` and the question that confirms a
//! mid-confidence answer, by the call's primary language (English
//! otherwise). Flows override them with `no_match_say:` and `confirm_say:`.

fn primary(language: &str) -> String {
    language.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase()
}

/// Said before the prompt when the caller is asked again after `no_match`.
pub(crate) fn no_match(language: &str) -> &'static str {
    match primary(language).as_str() {
        "es" => "Perdón, no le entendí.",
        "pt" => "Desculpe, não entendi.",
        _ => "Sorry, I didn't get that.",
    }
}

/// "Did you say …?", with `{{choice}}` for the phrase heard.
pub(crate) fn confirm(language: &str) -> &'static str {
    match primary(language).as_str() {
        "es" => "¿Dijo {{choice}}? Diga sí o marque 1; diga no o marque 2.",
        "pt" => "Você disse {{choice}}? Diga sim ou tecle 1; diga não ou tecle 2.",
        _ => "Did you say {{choice}}? Say yes or press 1; say no or press 2.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_primary_language() {
        assert_eq!(no_match("es-AR"), "Perdón, no le entendí.");
        assert_eq!(no_match("en-GB"), "Sorry, I didn't get that.");
        assert_eq!(no_match("fr-FR"), "Sorry, I didn't get that.");
        assert!(confirm("es_MX").starts_with("¿Dijo {{choice}}?"));
        assert!(confirm("en-US").starts_with("Did you say {{choice}}?"));
    }
}
