//! `recording:` and `record:` (issue #19): parsed, validated with
//! `file:line:col`, and the gate fed by a real runner's actions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{parse_flow, validate, Action, FlowEvent, FlowRunner, RecordOp, RecordState, RecordingGate, RecordingPolicy, Variables};

fn diagnostics(source: &str) -> Vec<String> {
    match parse_flow(source, "rec.yaml") {
        Ok(flow) => validate(&flow).iter().map(ToString::to_string).collect(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const CONSENT: &str = "flow: rec
recording: { on_consent: recording }
start: ask
nodes:
  ask:
    say: May we record?
    consent: { topic: recording }
    on: { yes: menu, no: menu, no_input: bye, exhausted: bye }
  menu:
    say: Thanks.
    record: pause
    on: { done: bye }
  bye:
    say: Bye.
    record: resume
    hangup: true
";

#[test]
fn policies_parse() {
    let flow = parse_flow(CONSENT, "rec.yaml").expect("parses");
    assert_eq!(flow.recording, RecordingPolicy::OnConsent("recording".into()));
    assert_eq!(flow.nodes[&"menu".into()].record, Some(RecordOp::Pause));
    let always = parse_flow("flow: a\nrecording: always\nstart: a\nnodes:\n  a: { hangup: true }\n", "a.yaml").expect("parses");
    assert_eq!(always.recording, RecordingPolicy::Always);
    let none = parse_flow("flow: a\nstart: a\nnodes:\n  a: { hangup: true }\n", "a.yaml").expect("parses");
    assert_eq!(none.recording, RecordingPolicy::Never);
    assert!(diagnostics(CONSENT).is_empty(), "{:?}", diagnostics(CONSENT));
}

#[test]
fn unknown_policy_is_a_parse_error_with_a_line() {
    let d = diagnostics("flow: a\nrecording: sometimes\nstart: a\nnodes:\n  a: { hangup: true }\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("rec.yaml:2:"), "{d:?}");
    assert!(d[0].contains("sometimes"), "{d:?}");
}

#[test]
fn bad_record_op_is_a_parse_error_with_a_line() {
    let d = diagnostics("flow: a\nrecording: always\nstart: a\nnodes:\n  a:\n    record: rewind\n    hangup: true\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("rec.yaml:6:"), "{d:?}");
}

#[test]
fn on_consent_topic_must_be_asked() {
    let d = diagnostics("flow: a\nrecording: { on_consent: grabar }\nstart: a\nnodes:\n  a:\n    say: hi\n    consent: { topic: recording }\n    on: { yes: b, no: b, no_input: b, exhausted: b }\n  b: { hangup: true }\n");
    assert_eq!(
        d,
        ["rec.yaml:2:14: recording: no node asks for consent `grabar` (`consent: { topic: grabar }`), so no call would ever be recorded"]
    );
}

#[test]
fn record_without_a_policy_is_a_warning() {
    let d = diagnostics("flow: a\nstart: a\nnodes:\n  a:\n    record: start\n    hangup: true\n");
    assert_eq!(
        d,
        ["rec.yaml:5:5: warning: node `a`: `record: start` has no effect: the flow's `recording:` policy is `never` (the default)"]
    );
}

/// A real runner drives the gate the way the gateway does.
fn run(keys: &str) -> (Vec<RecordState>, RecordingGate) {
    let flow = Arc::new(parse_flow(CONSENT, "rec.yaml").expect("parses"));
    let mut now = Instant::now();
    let mut runner = FlowRunner::new(flow.clone(), Variables::new(), now);
    let mut gate = RecordingGate::new(&flow);
    let mut states: Vec<RecordState> = gate.answered().into_iter().collect();
    let mut keys = keys.chars();
    loop {
        let mut prompt = false;
        while let Some(action) = runner.poll_action() {
            let change = match action {
                Action::NodeEntered { node } => gate.node_entered(&flow.nodes[&node]),
                Action::ConsentRecorded { topic, granted, .. } => gate.consent(&topic, granted),
                Action::Say { .. } => {
                    prompt = true;
                    None
                }
                _ => None,
            };
            states.extend(change);
        }
        if runner.is_finished() {
            break;
        }
        now += Duration::from_secs(1);
        if prompt {
            runner.handle_event(FlowEvent::PromptFinished, now);
        }
        match keys.next() {
            Some(k) => runner.handle_event(FlowEvent::Digit(k), now),
            None if !prompt => break,
            None => {}
        }
    }
    (states, gate)
}

#[test]
fn a_consenting_caller_is_recorded_with_a_pause() {
    let (states, gate) = run("1");
    assert_eq!(states, [RecordState::On, RecordState::Paused, RecordState::On]);
    assert_eq!(gate.verdict().status(), "recorded");
}

#[test]
fn a_refusing_caller_is_never_recorded_and_the_reason_says_so() {
    let (states, gate) = run("2");
    assert!(states.is_empty(), "{states:?}");
    assert_eq!(gate.verdict().status(), "refused");
    assert_eq!(gate.verdict().reason(), "the caller refused consent `recording`");
}
