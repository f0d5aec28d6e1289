//! Every verb of DESIGN.md §4 on small flows, with fake time: per-language
//! `say`, reprompts, barge-in rules, digit bounds, speech, webhooks,
//! branches and A/B splits, consent, surveys, business events and hours.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dialogs::{parse_flow, parse_timestamp, Action, EventKind, FlowEvent, FlowRunner, NodeId, SurveyScale, Variables};

fn flow(yaml: &str) -> Arc<dialogs::Flow> {
    Arc::new(parse_flow(yaml, "t.yaml").expect("test flow parses"))
}

fn vars(list: &[(&str, &str)]) -> Variables {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn run(yaml: &str, list: &[(&str, &str)], t0: Instant) -> FlowRunner {
    FlowRunner::new(flow(yaml), vars(list), t0)
}

fn drain(r: &mut FlowRunner) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn entered(node: &str) -> Action {
    Action::NodeEntered { node: NodeId::from(node) }
}

fn says(actions: &[Action]) -> Vec<String> {
    actions.iter().filter_map(|a| if let Action::Say { text, .. } = a { Some(text.clone()) } else { None }).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn speech(text: &str) -> FlowEvent {
    FlowEvent::Speech { text: text.to_owned(), confidence: 0.9 }
}

const MENU: &str = "flow: t\nstart: m\nnodes:\n  m:\n    say: { en-US: Menu, es-AR: Menú }\n    gather: { digits: 1, speech: true, retries: 1, reprompt: { en-US: Again, es-AR: Otra vez } }\n    intents:\n      agent: { dtmf: \"0\", phrases: [agent, agente, hablar con una persona] }\n      sales: { dtmf: \"1\", phrases: [sales, ventas] }\n    on: { agent: a, sales: s, no_input: m, no_match: m, exhausted: a }\n  a:\n    hangup: true\n  s:\n    hangup: true\n";

#[test]
fn say_picks_the_call_language_and_reprompt_replaces_it_on_retry() {
    let t0 = Instant::now();
    let mut r = run(MENU, &[("language", "es-AR")], t0);
    assert_eq!(says(&drain(&mut r)), ["Menú"]);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_timeout(t0 + ms(5000));
    let a = drain(&mut r);
    assert_eq!(a[1], Action::Say { text: "Otra vez".into(), language: "es-AR".into() });
    // Default language: the flow's (en-US); an unknown one falls back to it.
    let mut r = run(MENU, &[("language", "fr-FR")], t0);
    assert_eq!(says(&drain(&mut r)), ["Menu"]);
}

#[test]
fn speech_selects_intents_and_low_confidence_is_no_match() {
    let t0 = Instant::now();
    let mut r = run(MENU, &[], t0);
    drain(&mut r);
    // Barge-in by speech during the prompt stops it.
    r.handle_event(speech("quiero hablar con una persona"), t0);
    assert_eq!(
        drain(&mut r)[..3],
        [Action::StopPrompt, Action::IntentMatched { intent: "agent".into(), input: "quiero hablar con una persona".into() }, entered("a")]
    );
    let mut r = run(MENU, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(FlowEvent::Speech { text: "sales".into(), confidence: 0.2 }, t0);
    assert_eq!(says(&drain(&mut r)), ["Again"], "low confidence re-prompts");
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(speech("sales and agent"), t0);
    assert_eq!(drain(&mut r), vec![entered("a"), Action::Hangup], "a tie is no_match; past retries: exhausted");
}

#[test]
fn a_spoken_key_selects_its_intent() {
    let t0 = Instant::now();
    let mut r = run(MENU, &[], t0);
    drain(&mut r);
    r.handle_event(speech("uno"), t0);
    assert_eq!(drain(&mut r)[1], Action::IntentMatched { intent: "sales".into(), input: "uno".into() });
}

#[test]
fn active_grammar_lists_the_phrases() {
    let t0 = Instant::now();
    let r = run(MENU, &[], t0);
    let g = r.active_grammar().expect("listening for speech");
    assert!(g.contains(&"hablar con una persona".to_owned()) && g.contains(&"ventas".to_owned()));
    let r = run("flow: t\nstart: a\nnodes:\n  a:\n    say: hi\n    hangup: true\n", &[], t0);
    assert_eq!(r.active_grammar(), None);
}

#[test]
fn barge_in_none_ignores_input_during_the_prompt() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: m\nnodes:\n  m:\n    say: Listen\n    gather: { digits: 1, speech: true, barge_in: none }\n    intents:\n      one: { dtmf: \"1\", phrases: [one] }\n    on: { one: b }\n  b:\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0);
    r.handle_event(speech("one"), t0);
    assert_eq!(drain(&mut r), vec![]);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(FlowEvent::Digit('1'), t0);
    assert_eq!(drain(&mut r)[1], entered("b"));
    // barge_in: dtmf takes keys but not speech during the prompt.
    let mut r = run(&yaml.replace("barge_in: none", "barge_in: dtmf"), &[], t0);
    drain(&mut r);
    r.handle_event(speech("one"), t0);
    assert_eq!(drain(&mut r), vec![]);
    r.handle_event(FlowEvent::Digit('1'), t0);
    assert_eq!(drain(&mut r)[0], Action::StopPrompt);
}

#[test]
fn speech_onset_barges_in_and_holds_the_no_input_timer() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: m\nnodes:\n  m:\n    say: Listen\n    gather: { speech: true, timeout: 2s, retries: 0 }\n    intents:\n      one: { phrases: [one] }\n    on: { one: b, no_input: b, exhausted: b }\n  b:\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::SpeechStarted, t0);
    assert_eq!(drain(&mut r), vec![Action::StopPrompt], "voice onset stops the prompt at once");
    // The caller is talking: the 2 s no-input timeout does not fire.
    assert_eq!(r.poll_timeout(), None);
    r.handle_event(speech("one"), t0 + ms(3000));
    assert_eq!(drain(&mut r)[1], entered("b"));
    // With barge_in: dtmf, the onset changes nothing while the prompt plays.
    let mut r = run(&yaml.replace("speech: true,", "speech: true, barge_in: dtmf,"), &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::SpeechStarted, t0);
    assert_eq!(drain(&mut r), vec![]);
}

#[test]
fn min_and_max_digits() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: m\nnodes:\n  m:\n    gather: { min_digits: 3, max_digits: 4, inter_digit_timeout: 1s, retries: 0 }\n    on: { done: ok, exhausted: bad }\n  ok:\n    say: \"got {{digits}}\"\n    hangup: true\n  bad:\n    say: \"short {{digits}}\"\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    "1234".chars().for_each(|c| r.handle_event(FlowEvent::Digit(c), t0));
    assert_eq!(says(&drain(&mut r)), ["got 1234"]);
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0);
    r.handle_event(FlowEvent::Digit('2'), t0);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(1000)));
    r.handle_timeout(t0 + ms(1000));
    assert_eq!(says(&drain(&mut r)), ["short 12"]);
}

const HOOK: &str = "flow: t\nstart: w\nnodes:\n  w:\n    webhook: { name: crm, method: GET, url: \"https://crm/x?n={{caller}}\", timeout: 2s, map: { crm.name: customer.name, crm.first: items.0 } }\n    on: { done: ok, failed: ko }\n  ok:\n    say: \"Hi {{crm.name}} {{crm.first}} {{webhook.status}}\"\n    hangup: true\n  ko:\n    say: \"Sorry {{webhook.error}}\"\n    hangup: true\n";

#[test]
fn webhook_result_maps_into_variables() {
    let t0 = Instant::now();
    let mut r = run(HOOK, &[("caller", "555")], t0);
    assert_eq!(
        drain(&mut r),
        vec![
            entered("w"),
            Action::Webhook {
                name: "crm".into(),
                url: "https://crm/x?n=555".into(),
                method: dialogs::HttpMethod::Get,
                body: Default::default(),
                timeout: ms(2000)
            }
        ]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000)));
    let body = serde_json::json!({"customer": {"name": "Ana"}, "items": [7]});
    r.handle_event(FlowEvent::WebhookResult { status: 200, body }, t0 + ms(10));
    assert_eq!(says(&drain(&mut r)), ["Hi Ana 7 200"]);
    assert_eq!(r.context().variables["crm.name"], "Ana");
}

#[test]
fn webhook_errors_timeouts_and_failures_take_failed() {
    let t0 = Instant::now();
    let mut r = run(HOOK, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::WebhookResult { status: 500, body: serde_json::Value::Null }, t0);
    assert_eq!(says(&drain(&mut r)), ["Sorry "]);
    let mut r = run(HOOK, &[], t0);
    drain(&mut r);
    r.handle_timeout(t0 + ms(1999));
    assert_eq!(drain(&mut r), vec![]);
    r.handle_timeout(t0 + ms(2000));
    assert_eq!(says(&drain(&mut r)), ["Sorry timed out"]);
    let mut r = run(HOOK, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::WebhookFailed { reason: "not yet".into() }, t0);
    assert_eq!(says(&drain(&mut r)), ["Sorry not yet"]);
    r.handle_event(FlowEvent::WebhookFailed { reason: "stray".into() }, t0);
    assert_eq!(drain(&mut r), vec![], "stray results are ignored");
}

#[test]
fn branch_conditions_in_order_then_else() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: b\nnodes:\n  b:\n    branch:\n      when:\n        - { if: \"vars.tier == gold\", goto: gold }\n        - { if: \"score > 9\", goto: high }\n        - { if: \"name contains ana\", goto: ana }\n      else: other\n  gold:\n    hangup: true\n  high:\n    hangup: true\n  ana:\n    hangup: true\n  other:\n    hangup: true\n";
    for (vars_, want) in [
        (vec![("tier", "gold"), ("score", "50")], "gold"),
        (vec![("score", "10")], "high"),
        (vec![("score", "9"), ("name", "Mariana")], "ana"),
        (vec![], "other"),
    ] {
        let mut r = run(yaml, &vars_, t0);
        assert_eq!(drain(&mut r)[1], entered(want), "{vars_:?}");
    }
}

#[test]
fn ab_split_is_sticky_per_caller_and_recorded() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: b\nnodes:\n  b:\n    branch:\n      split: { a: { weight: 1, goto: x }, b: { weight: 1, goto: y } }\n  x:\n    hangup: true\n  y:\n    hangup: true\n";
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..40 {
        let caller = format!("+54911{n:06}");
        let first = drain(&mut run(yaml, &[("caller", &caller)], t0));
        let again = drain(&mut run(yaml, &[("caller", &caller)], t0));
        assert_eq!(first, again, "same caller, same variant");
        if let Action::VariantChosen { variant, .. } = &first[1] {
            seen.insert(variant.clone());
        }
    }
    assert_eq!(seen.len(), 2, "both variants are used");
    // Stable across versions: this caller is pinned to `b` (FNV-1a of "b\0+5491100000001").
    let mut r = run(yaml, &[("caller", "+5491100000001")], t0);
    drain(&mut r);
    assert_eq!(r.context().variants["b"], "b");
    let zero = yaml.replace("weight: 1, goto: y", "weight: 0, goto: y");
    for n in 0..10 {
        assert_eq!(drain(&mut run(&zero, &[("caller", &n.to_string())], t0))[2], entered("x"));
    }
}

const CONSENT: &str = "flow: t\nversion: 7\nstart: c\nnodes:\n  c:\n    say: Record?\n    consent: { topic: recording }\n    on: { yes: y, no: n, no_match: c, exhausted: n }\n  y:\n    hangup: true\n  n:\n    hangup: true\n";

#[test]
fn consent_by_key_or_speech_is_recorded_with_time_and_version() {
    let t0 = Instant::now();
    let wall = parse_timestamp("2026-11-24T13:00:00-03:00").expect("time");
    let mut r = FlowRunner::with_clock(flow(CONSENT), vars(&[]), t0, wall);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(FlowEvent::Digit('2'), t0 + ms(1500));
    let a = drain(&mut r);
    assert_eq!(
        a[0],
        Action::ConsentRecorded {
            topic: "recording".into(),
            granted: false,
            at: Some("2026-11-24T16:00:02Z".into()),
            flow_version: "7".into()
        }
    );
    assert_eq!(a[1], entered("n"));
    assert_eq!(r.context().consents[0].at.as_deref(), Some("2026-11-24T16:00:02Z"));
    let mut r = run(CONSENT, &[], t0);
    drain(&mut r);
    r.handle_event(speech("Sí, claro"), t0);
    let a = drain(&mut r);
    assert!(matches!(&a[1], Action::ConsentRecorded { granted: true, at: None, .. }), "{a:?}");
    assert_eq!(r.active_grammar(), None, "finished");
    let mut r = run(CONSENT, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('7'), t0);
    assert_eq!(says(&drain(&mut r)), ["Sorry, I didn't get that. Record?"], "other keys are no_match");
}

fn survey(scale: &str) -> String {
    format!("flow: t\nstart: s\nnodes:\n  s:\n    survey: {{ scale: {scale} }}\n    on: {{ done: d, no_match: s, exhausted: d }}\n  d:\n    hangup: true\n")
}

fn score(r: &mut FlowRunner) -> Option<u8> {
    drain(r).into_iter().find_map(|a| if let Action::SurveyAnswer { score, .. } = a { Some(score) } else { None })
}

#[test]
fn csat_and_nps_by_keys_and_speech() {
    let t0 = Instant::now();
    let mut r = run(&survey("csat"), &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('4'), t0);
    assert_eq!(score(&mut r), Some(4));
    let mut r = run(&survey("csat"), &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('7'), t0);
    assert_eq!(score(&mut r), None, "out of 1-5");
    r.handle_event(speech("le doy un cinco"), t0);
    assert_eq!(score(&mut r), Some(5));
    assert_eq!(r.context().surveys[0].scale, SurveyScale::Csat);
    for (keys, want) in [("10", Some(10)), ("*", Some(10)), ("7", Some(7)), ("0", Some(0)), ("1#", Some(1))] {
        let mut r = run(&survey("nps"), &[], t0);
        drain(&mut r);
        keys.chars().for_each(|c| r.handle_event(FlowEvent::Digit(c), t0));
        assert_eq!(score(&mut r), want, "{keys}");
    }
    // A lone 1 waits for the inter-digit timeout.
    let mut r = run(&survey("nps"), &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0);
    assert_eq!(score(&mut r), None);
    r.handle_timeout(t0 + ms(3000));
    assert_eq!(score(&mut r), Some(1));
    let mut r = run(&survey("nps"), &[], t0);
    drain(&mut r);
    r.handle_event(speech("ten"), t0);
    assert_eq!(score(&mut r), Some(10));
}

#[test]
fn business_events_render_their_fields() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: o\nnodes:\n  o:\n    set: { total: 150 }\n    event: { kind: order, value: \"{{total}}\", currency: ARS, data: { plan: pro } }\n    hangup: true\n";
    let a = drain(&mut run(yaml, &[], t0));
    assert_eq!(
        a[1],
        Action::BusinessEvent {
            kind: EventKind::Order,
            value: Some("150".into()),
            currency: Some("ARS".into()),
            data: [("plan".to_owned(), "pro".to_owned())].into()
        }
    );
}

#[test]
fn hours_route_closed_calls_with_an_injected_clock() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: open\nhours:\n  timezone: America/Argentina/Cordoba\n  open: { mon-fri: \"09:00-18:00\" }\n  holidays: [\"2026-12-25\"]\n  closed: shut\nnodes:\n  open:\n    hangup: true\n  shut:\n    hangup: true\n";
    let at = |s: &str| -> SystemTime { parse_timestamp(s).expect("time") };
    for (when, want) in [
        ("2026-11-24T10:00:00-03:00", "open"),
        ("2026-11-24T19:00:00-03:00", "shut"),
        ("2026-11-29T10:00:00-03:00", "shut"),
        ("2026-12-25T10:00:00-03:00", "shut"),
    ] {
        let mut r = FlowRunner::with_clock(flow(yaml), vars(&[]), t0, at(when));
        assert_eq!(drain(&mut r)[0], entered(want), "{when}");
    }
    // Without a clock hours are not checked.
    assert_eq!(drain(&mut run(yaml, &[], t0))[0], entered("open"));
}

#[test]
fn warm_transfer_carries_the_listed_context() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: c\nnodes:\n  c:\n    consent: {}\n    on: { yes: x, no: x }\n  x:\n    transfer: { to: \"sip:a@b\", mode: warm, context: [consent, variables] }\n    on: { failed: bye }\n  bye:\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0);
    let a = drain(&mut r);
    let Some(Action::Transfer { mode, context, .. }) = a.last() else { panic!("transfer expected: {a:?}") };
    assert_eq!(*mode, dialogs::TransferMode::Warm);
    assert_eq!(context.consents.len(), 1);
    assert_eq!(context.variables["consent.consent"], "yes");
    assert!(context.intents.is_empty());
    r.handle_event(FlowEvent::TransferFailed { reason: "busy".into() }, t0);
    let a = drain(&mut r);
    assert_eq!(a[0], entered("bye"));
    assert_eq!(says(&a), ["Sorry, we could not connect your call right now."], "the apology is the prompt of a node without one");
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
}

#[test]
fn absurd_durations_do_not_panic() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: w\nnodes:\n  w:\n    webhook: { url: \"https://x\", timeout: 18446744073709551615s }\n    on: { failed: g, done: g }\n  g:\n    gather: { timeout: 18446744073709551615s, inter_digit_timeout: 18446744073709551615s, digits: 3 }\n    on: { done: w }\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    assert!(r.poll_timeout().is_some());
    r.handle_event(FlowEvent::WebhookFailed { reason: "x".into() }, t0);
    r.handle_event(FlowEvent::Digit('1'), t0);
    assert!(r.poll_timeout().is_some());
    let mut sim = dialogs::Simulator::new(flow(yaml), dialogs::SimOptions::default(), t0);
    sim.input(":wait 18446744073709551615s");
    sim.input(":silence");
    sim.finish();
    assert!(!sim.output().is_empty());
}
