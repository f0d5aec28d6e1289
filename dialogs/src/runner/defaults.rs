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

impl crate::model::Flow {
    /// The texts a re-prompt after `no_match` speaks (`no_match_say` then
    /// the node's `reprompt` or `say`), by language, as TTS will be asked
    /// for them: for nodes whose `no_match` leads back to themselves and
    /// whose texts have no templates. The gateway renders them ahead of the
    /// first call, with the other static prompts.
    pub fn reprompt_texts(&self) -> Vec<(String, String)> {
        use crate::model::Text;
        let mut out = Vec::new();
        for (id, node) in &self.nodes {
            let Some(gather) = super::gather_of(node) else { continue };
            if node.on.get("no_match") != Some(id) || node.play.is_some() {
                continue;
            }
            let prompt = gather.reprompt.as_ref().or(node.say.as_ref());
            let sorry = node.no_match_say.as_ref().or(self.no_match_say.as_ref());
            let mut languages: Vec<&str> = vec![self.language.as_str()];
            for text in [prompt, sorry].into_iter().flatten() {
                if let Text::ByLanguage(map) = text {
                    languages.extend(map.keys().map(String::as_str));
                }
            }
            languages.sort_unstable();
            languages.dedup();
            for language in languages {
                let sorry = match sorry {
                    Some(t) => t.for_language(language, &self.language).unwrap_or(""),
                    None if gather.reprompt.is_some() => "",
                    None => no_match(language),
                };
                // As the runner joins them (`enter`).
                let text = match prompt.map(|t| t.for_language(language, &self.language).unwrap_or("")) {
                    Some(p) if p.trim().is_empty() => continue,
                    Some(p) => format!("{sorry} {p}"),
                    None => sorry.to_owned(),
                };
                if sorry.trim().is_empty() || text.contains("{{") || text.contains("${") {
                    continue;
                }
                out.push((crate::sayas::speakable(&text, language), language.to_owned()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprompts_to_render_ahead() {
        let yaml = "flow: t\nlanguage: es-AR\nstart: m\nnodes:\n  m:\n    say: { es-AR: Menú, en-US: Menu }\n    gather: { digits: 1 }\n    intents:\n      a: { dtmf: \"1\" }\n    on: { a: b, no_match: m }\n  n:\n    say: \"Hi {{caller}}\"\n    gather: { digits: 1 }\n    on: { no_match: n }\n  r:\n    say: Hi\n    gather: { digits: 1, reprompt: Again }\n    on: { no_match: r }\n  b:\n    hangup: true\n";
        let flow = crate::parse_flow(yaml, "t.yaml").expect("flow");
        assert_eq!(
            flow.reprompt_texts(),
            [
                ("Sorry, I didn't get that. Menu".to_owned(), "en-US".to_owned()),
                ("Perdón, no le entendí. Menú".to_owned(), "es-AR".to_owned())
            ],
            "templates are rendered per call; a reprompt without no_match_say has no sorry"
        );
    }

    #[test]
    fn by_primary_language() {
        assert_eq!(no_match("es-AR"), "Perdón, no le entendí.");
        assert_eq!(no_match("en-GB"), "Sorry, I didn't get that.");
        assert_eq!(no_match("fr-FR"), "Sorry, I didn't get that.");
        assert!(confirm("es_MX").starts_with("¿Dijo {{choice}}?"));
        assert!(confirm("en-US").starts_with("Did you say {{choice}}?"));
    }
}
