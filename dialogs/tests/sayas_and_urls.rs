//! Say-as and webhook URLs through the runner: `{{var|filter}}` and
//! addresses in `say` text reach TTS readable while the transcript keeps
//! the text as written; webhook URL values are percent-encoded per
//! component and body fields stay plain (the gateway JSON-encodes them).

use std::sync::Arc;
use std::time::Instant;

use dialogs::{parse_flow, Action, FlowRunner, Variables};

fn start(yaml: &str, vars: &[(&str, &str)]) -> FlowRunner {
    let flow = Arc::new(parse_flow(yaml, "t.yaml").expect("test flow parses"));
    let vars: Variables = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    FlowRunner::new(flow, vars, Instant::now())
}

fn drain(r: &mut FlowRunner) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

#[test]
fn filters_and_addresses_are_spoken_naturally() {
    let yaml = "flow: t\nlanguage: en-US\nstart: a\nnodes:\n  a:\n    say: \"Your number is {{caller|phone}}. You owe {{amount|currency:USD}}. See acme.example/help or write to help@acme.example.\"\n    hangup: true\n";
    let mut r = start(yaml, &[("caller", "+1 555 0100"), ("amount", "12.5")]);
    let said: Vec<String> =
        drain(&mut r).into_iter().filter_map(|a| if let Action::Say { text, .. } = a { Some(text) } else { None }).collect();
    assert_eq!(
        said,
        vec!["Your number is plus 1, 5 5 5, 0 1 0 0. You owe 12 dollars and 50 cents. See acme dot example slash help or write to help at acme dot example."]
    );
    let transcript = r.context().transcript;
    assert!(transcript[0].text.contains("See acme.example/help or write to help@acme.example."), "{transcript:?}");
}

#[test]
fn spanish_words_for_spanish_calls() {
    let yaml = "flow: t\nlanguage: es-AR\nstart: a\nnodes:\n  a:\n    say: \"Tu total es {{total|currency}}. Código {{code|digits}}. Entrá a acme.example/factura.\"\n    hangup: true\n";
    let mut r = start(yaml, &[("total", "19900"), ("code", "4071")]);
    let actions = drain(&mut r);
    assert!(
        actions.contains(&Action::Say {
            text: "Tu total es 19900 pesos. Código 4 0 7 1. Entrá a acme punto example barra factura.".to_owned(),
            language: "es-AR".to_owned()
        }),
        "{actions:?}"
    );
}

#[test]
fn webhook_url_values_are_encoded_and_body_values_are_not() {
    let yaml = "flow: t\nstart: w\nnodes:\n  w:\n    webhook:\n      url: \"https://crm.example.com/contacts/{{id}}?phone={{caller}}&note={{note}}\"\n      method: POST\n      body: { phone: \"{{caller}}\", note: \"{{note}}\" }\n    on: { done: w2, failed: w2 }\n  w2:\n    hangup: true\n";
    let mut r = start(yaml, &[("caller", "+54 9 351"), ("note", "a&admin=1 \"x\""), ("id", "../42")]);
    let actions = drain(&mut r);
    let Some(Action::Webhook { url, body, .. }) = actions.iter().find(|a| matches!(a, Action::Webhook { .. })) else {
        panic!("no webhook: {actions:?}");
    };
    assert_eq!(url, "https://crm.example.com/contacts/..%2F42?phone=%2B54%209%20351&note=a%26admin%3D1%20%22x%22");
    assert_eq!(body.get("phone").map(String::as_str), Some("+54 9 351"));
    assert_eq!(body.get("note").map(String::as_str), Some("a&admin=1 \"x\""));
    let json = serde_json::to_string(body).expect("json");
    assert!(json.contains(r#""note":"a&admin=1 \"x\"""#), "{json}");
}
