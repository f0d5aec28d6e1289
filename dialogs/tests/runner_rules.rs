//! FlowRunner rules on small flows: unmapped events, templates and `set`,
//! digit collection (count, terminator, inter-digit timeout), retries,
//! prompts before transfers, the loop guard and events that mean nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{parse_flow, Action, FlowEvent, FlowRunner, NodeId, PromptId, Variables};

fn run(yaml: &str, vars: &[(&str, &str)], t0: Instant) -> FlowRunner {
    let flow = parse_flow(yaml, "t.yaml").expect("test flow parses");
    let vars: Variables = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    FlowRunner::new(Arc::new(flow), vars, t0)
}

fn drain(r: &mut FlowRunner) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn entered(node: &str) -> Action {
    Action::NodeEntered { node: NodeId::from(node) }
}

fn say(text: &str) -> Action {
    Action::Say { text: text.to_owned(), language: "en-US".to_owned() }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn unmapped_no_input_hangs_up() {
    let t0 = Instant::now();
    let mut r = run("flow: t\nstart: a\nnodes:\n  a:\n    gather: { timeout: 2s }\n", &[], t0);
    assert_eq!(drain(&mut r), vec![entered("a")]);
    // No prompt: the no-input timer runs from entry.
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000)));
    r.handle_timeout(t0 + ms(2000));
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
    assert!(r.is_finished());
}

#[test]
fn prompt_only_node_fires_done_then_hangs_up_when_unmapped() {
    let t0 = Instant::now();
    let mut r = run("flow: t\nstart: a\nnodes:\n  a:\n    play: hello\n    on: { done: b }\n  b:\n    say: Bye\n", &[], t0);
    assert_eq!(drain(&mut r), vec![entered("a"), Action::Play { prompt: PromptId::from("hello"), language: "en-US".into() }]);
    r.handle_event(FlowEvent::Digit('5'), t0); // no gather: no barge-in
    assert_eq!(drain(&mut r), vec![]);
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![entered("b"), say("Bye")]);
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
}

#[test]
fn set_and_templates() {
    let t0 = Instant::now();
    let yaml = "flow: t\nlanguage: es-AR\nstart: a\nnodes:\n  a:\n    set: { who: \"{{caller}}!\", n: 3 }\n    say: \"Hola {{who}} ({{n}}) {{nothing}}\"\n    hangup: true\n";
    let mut r = run(yaml, &[("caller", "555")], t0);
    assert_eq!(drain(&mut r)[1], Action::Say { text: "Hola 555! (3) ".into(), language: "es-AR".into() });
    assert_eq!(r.context().variables["who"], "555!");
}

#[test]
fn terminator_ends_multi_digit_input() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    say: Code\n    gather: { terminator: \"#\" }\n    intents:\n      vip: { dtmf: \"123\" }\n    on: { vip: b, no_match: a }\n  b:\n    say: \"VIP {{digits}} {{intent}}\"\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    for (i, c) in "123".chars().enumerate() {
        r.handle_event(FlowEvent::Digit(c), t0 + ms(100 * i as u64));
        assert_eq!(drain(&mut r), vec![]);
    }
    assert_eq!(r.poll_timeout(), Some(t0 + ms(200) + ms(3000)));
    r.handle_event(FlowEvent::Digit('#'), t0 + ms(300));
    assert_eq!(drain(&mut r), vec![Action::IntentMatched { intent: "vip".into(), input: "123".into() }, entered("b"), say("VIP 123 vip"),]);
    assert_eq!(r.context().digits, "123#");
}

#[test]
fn inter_digit_timeout_ends_input() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    say: Code\n    gather: { digits: 4, inter_digit_timeout: 500ms }\n    intents:\n      short: { dtmf: \"12\" }\n    on: { short: b }\n  b:\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0);
    r.handle_event(FlowEvent::Digit('2'), t0 + ms(100));
    assert_eq!(drain(&mut r), vec![Action::StopPrompt]);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(600)));
    r.handle_timeout(t0 + ms(600));
    assert_eq!(drain(&mut r), vec![Action::IntentMatched { intent: "short".into(), input: "12".into() }, entered("b"), Action::Hangup,]);
}

#[test]
fn zero_retries_exhaust_at_once() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    say: Hi\n    gather: { retries: 0 }\n    on: { no_match: a, exhausted: b }\n  b:\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_timeout(t0 + ms(5000));
    assert_eq!(drain(&mut r), vec![entered("b"), Action::Hangup]);
}

#[test]
fn free_input_without_intents_fires_done() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    gather: { digits: 2 }\n    on: { done: b }\n  b:\n    say: \"You typed {{digits}}\"\n    hangup: true\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('4'), t0);
    r.handle_event(FlowEvent::Digit('2'), t0);
    assert_eq!(drain(&mut r), vec![entered("b"), say("You typed 42")]);
}

#[test]
fn transfer_after_its_prompt_and_missing_target_fails() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    say: Hold on\n    transfer: { to: \"${transfer.agent_uri}\", mode: warm }\n    on: { failed: b }\n  b:\n    say: Sorry\n    hangup: true\n";
    let mut r = run(yaml, &[("transfer.agent_uri", "sip:a@b")], t0);
    assert_eq!(drain(&mut r), vec![entered("a"), say("Hold on")]);
    r.handle_event(FlowEvent::TransferAccepted, t0); // no transfer yet
    assert!(!r.is_finished());
    r.handle_event(FlowEvent::PromptFinished, t0);
    match drain(&mut r).as_slice() {
        [Action::Transfer { to, mode, context, .. }] => {
            assert_eq!(to, "sip:a@b");
            assert_eq!(*mode, dialogs::TransferMode::Warm);
            assert_eq!(context.flow, "t");
            assert!(context.transcript.is_empty(), "not in the context list");
        }
        other => panic!("expected a transfer, got {other:?}"),
    }

    // No agent URI configured: `failed` without a Transfer action (the
    // apology is off here: `b` apologises).
    let quiet = yaml.replace("mode: warm }", "mode: warm, apology: \"\" }");
    let mut r = run(&quiet, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![entered("b"), say("Sorry")]);
}

#[test]
fn a_transfer_out_of_attempts_apologises_and_takes_exhausted() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    transfer: { to: \"sip:a@b\", max_attempts: 1, apology: { en-US: Nobody is free., es-AR: No hay nadie. } }\n    on: { failed: a, exhausted: b }\n  b:\n    hangup: true\n";
    let mut r = run(yaml, &[("language", "es-AR")], t0);
    assert!(matches!(drain(&mut r).as_slice(), [_, Action::Transfer { .. }]));
    r.handle_event(FlowEvent::TransferFailed { reason: "486 Busy Here".into() }, t0);
    let sorry = Action::Say { text: "No hay nadie.".into(), language: "es-AR".into() };
    assert_eq!(drain(&mut r), vec![entered("b"), sorry.clone()], "the apology is the prompt of a node without one");
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
    // Unmapped `exhausted` (max 1, so the first failure uses it up): the
    // apology, then the hang-up.
    let mut r = run(&yaml.replace("failed: a, exhausted: b", "failed: a"), &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::TransferFailed { reason: "486 Busy Here".into() }, t0);
    let nobody = Action::Say { text: "Nobody is free.".into(), language: "en-US".into() };
    assert_eq!(drain(&mut r), vec![entered("a"), nobody], "`failed` goes back to `a`, which apologises");
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup], "`a` is out of attempts and `exhausted` is unmapped");
}

#[test]
fn loop_guard_stops_a_silent_cycle() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    on: { done: b }\n  b:\n    on: { done: a }\n";
    let mut r = run(yaml, &[], t0);
    let actions = drain(&mut r);
    assert_eq!(actions.len(), 51);
    assert_eq!(actions[50], Action::Hangup);
    assert!(r.is_finished());
}

#[test]
fn missing_nodes_hang_up_instead_of_panicking() {
    let t0 = Instant::now();
    let mut r = run("flow: t\nstart: nowhere\nnodes: {}\n", &[], t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    say: Hi\n    on: { done: gone }\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
}

#[test]
fn stray_events_are_ignored() {
    let t0 = Instant::now();
    let yaml = "flow: t\nstart: a\nnodes:\n  a:\n    gather: { digits: 1 }\n    intents:\n      one: { dtmf: \"1\" }\n    on: { one: a }\n";
    let mut r = run(yaml, &[], t0);
    drain(&mut r);
    for event in
        [FlowEvent::PromptFinished, FlowEvent::TransferAccepted, FlowEvent::TransferFailed { reason: "x".into() }, FlowEvent::Digit('x')]
    {
        r.handle_event(event, t0);
    }
    r.handle_timeout(t0 + ms(10));
    assert_eq!(drain(&mut r), vec![]);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(5000)));
    // Lower-case DTMF letters are keys too; here `no_match` is unmapped.
    r.handle_event(FlowEvent::Digit('a'), t0);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
    assert_eq!(r.context().digits, "A");
}
