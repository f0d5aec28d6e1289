//! The default whisper of a warm transfer (issue #12): what the agent
//! hears before accepting when the node gives no `whisper:` — who calls,
//! what they want, what they last said (a bare yes/no skipped) and up to
//! three CRM fields, then how to accept. Spanish for `es*` calls, English otherwise.

use crate::context::{CallContext, Speaker};

/// CRM fields read out at most.
const MAX_FIELDS: usize = 3;

/// A spoken summary of `context` for the agent, in `language`.
pub(crate) fn summary(context: &CallContext, language: &str, accept_by_key: bool) -> String {
    let es = language.to_ascii_lowercase().starts_with("es");
    let mut parts = Vec::new();
    let caller = spaced_digits(&context.caller);
    parts.push(match (es, caller.is_empty()) {
        (true, false) => format!("Llamada transferida de {caller}."),
        (true, true) => "Llamada transferida.".to_owned(),
        (false, false) => format!("Transferred call from {caller}."),
        (false, true) => "Transferred call.".to_owned(),
    });
    if let Some(i) = context.intents.last() {
        parts.push(if es { format!("Motivo: {}.", i.intent) } else { format!("Reason: {}.", i.intent) });
    }
    // The caller's last words, not a key or a bare yes/no (the answer to
    // "Did you say …?" or a consent question says nothing to the agent).
    let answer = |text: &str| text.split_whitespace().count() <= 3 && crate::speech::yes_no(text).is_some();
    let said = context.transcript.iter().rev().find(|l| l.speaker == Speaker::Caller && !l.text.starts_with("DTMF") && !answer(&l.text));
    if let Some(line) = said {
        parts.push(if es {
            format!("Dijo: {}.", line.text.trim_end_matches('.'))
        } else {
            format!("They said: {}.", line.text.trim_end_matches('.'))
        });
    }
    let crm = context.variables.iter().filter(|(k, _)| *k != "language" && !k.starts_with("consent"));
    for (name, value) in crm.take(MAX_FIELDS) {
        parts.push(format!("{}: {value}.", name.replace(['_', '.'], " ")));
    }
    if accept_by_key {
        parts.push(if es {
            "Marque 1 para aceptar o 2 para rechazar.".to_owned()
        } else {
            "Press 1 to accept or 2 to decline.".to_owned()
        });
    }
    parts.join(" ")
}

/// "5551234" → "5 5 5 1 2 3 4", so TTS reads digits, not a number.
fn spaced_digits(number: &str) -> String {
    if number.chars().all(|c| c.is_ascii_digit() || c == '+') {
        number.chars().filter(char::is_ascii_digit).map(String::from).collect::<Vec<_>>().join(" ")
    } else {
        number.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{IntentRecord, TranscriptLine};

    #[test]
    fn summarises_caller_intent_words_and_fields() {
        let mut c = CallContext { caller: "5551234".into(), ..CallContext::default() };
        c.intents.push(IntentRecord { intent: "billing".into(), input: "2".into(), node: "menu".into() });
        c.transcript.push(TranscriptLine { speaker: Speaker::Caller, text: "my invoice is wrong".into() });
        c.transcript.push(TranscriptLine { speaker: Speaker::Caller, text: "DTMF 2".into() });
        c.transcript.push(TranscriptLine { speaker: Speaker::Caller, text: "Sí, claro".into() });
        c.variables.insert("customer_name".into(), "Ana".into());
        assert_eq!(
            summary(&c, "en-US", true),
            "Transferred call from 5 5 5 1 2 3 4. Reason: billing. They said: my invoice is wrong. customer name: Ana. Press 1 to accept or 2 to decline."
        );
        assert_eq!(summary(&CallContext::default(), "es-AR", false), "Llamada transferida.");
    }
}
