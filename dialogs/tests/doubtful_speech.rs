//! Doubtful speech (issue #13 item 7), in virtual time: words under
//! `min_confidence` are rejected with a record (never silently), the
//! re-prompt after a `no_match` opens with `no_match_say` (node, flow,
//! built-in default in English or Spanish), a mid-confidence intent is
//! confirmed first with `confirm_below` (yes/no by voice or keys 1/2,
//! silence), and every failure counts against `retries`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{parse_flow, Action, FlowEvent, FlowRunner, NodeId, RejectReason, Variables};

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

fn heard(text: &str, confidence: f32) -> FlowEvent {
    FlowEvent::Speech { text: text.to_owned(), confidence }
}

fn says(actions: &[Action]) -> Vec<String> {
    actions.iter().filter_map(|a| if let Action::Say { text, .. } = a { Some(text.clone()) } else { None }).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A menu; `gather_extra` goes into its gather, `node_extra` and
/// `flow_extra` are extra lines of the node and the flow.
fn menu(gather_extra: &str, node_extra: &str, flow_extra: &str) -> String {
    format!(
        "flow: t\n{flow_extra}start: m\nnodes:\n  m:\n    say: Menu\n    gather: {{ digits: 1, speech: true, timeout: 4s, retries: 2{gather_extra} }}\n{node_extra}    intents:\n      agent: {{ dtmf: \"0\", phrases: [agent, person, human] }}\n      sales: {{ dtmf: \"1\", phrases: [sales, ventas] }}\n    on: {{ agent: a, sales: s, no_input: m, no_match: m, exhausted: x }}\n  a:\n    say: Agent\n    hangup: true\n  s:\n    say: Sales\n    hangup: true\n  x:\n    say: Bye\n    hangup: true\n"
    )
}

/// Runs `yaml` until the menu's prompt has played.
fn at_menu(yaml: &str, vars: &[(&str, &str)], t0: Instant) -> FlowRunner {
    let mut r = run(yaml, vars, t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    assert_eq!(drain(&mut r), vec![]);
    r
}

fn low(min: f32) -> RejectReason {
    RejectReason::LowConfidence { min_confidence: min }
}

#[test]
fn a_right_answer_under_min_confidence_is_recorded_and_reasked_with_sorry() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu("", "", ""), &[], t0);
    r.handle_event(heard("human", 0.49), t0 + ms(100));
    assert_eq!(
        drain(&mut r),
        vec![
            Action::SpeechRejected { text: "human".into(), confidence: 0.49, guess: Some("agent".into()), reason: low(0.5) },
            entered("m"),
            say("Sorry, I didn't get that. Menu"),
        ]
    );
    // Words that mean nothing here are rejected without a guess.
    r.handle_event(FlowEvent::PromptFinished, t0 + ms(150));
    r.handle_event(heard("the weather", 0.2), t0 + ms(200));
    assert_eq!(drain(&mut r)[0], Action::SpeechRejected { text: "the weather".into(), confidence: 0.2, guess: None, reason: low(0.5) });
    assert_eq!(r.context().transcript.iter().filter(|l| l.text == "human").count(), 1, "the words stay in the transcript");
}

#[test]
fn the_builtin_sorry_is_in_the_calls_language() {
    let t0 = Instant::now();
    let yaml = menu("", "", "language: es-AR\n");
    let mut r = at_menu(&yaml, &[], t0);
    r.handle_event(FlowEvent::Digit('7'), t0);
    assert_eq!(says(&drain(&mut r)), ["Perdón, no le entendí. Menu"], "a wrong key is a no_match too");
    let mut r = at_menu(&menu("", "", ""), &[("language", "es-MX")], t0);
    r.handle_event(heard("ventas", 0.1), t0);
    assert_eq!(says(&drain(&mut r)), ["Perdón, no le entendí. Menu"]);
}

#[test]
fn no_match_say_of_the_node_then_the_flow_and_empty_for_none() {
    let t0 = Instant::now();
    let flow_level = "no_match_say: { en-US: Pardon?, es-AR: ¿Perdón? }\n";
    let mut r = at_menu(&menu("", "", flow_level), &[], t0);
    r.handle_event(FlowEvent::Digit('9'), t0);
    assert_eq!(says(&drain(&mut r)), ["Pardon? Menu"]);
    let mut r = at_menu(&menu("", "    no_match_say: \"Hmm, {{speech}}?\"\n", flow_level), &[], t0);
    r.handle_event(heard("blah", 0.9), t0);
    assert_eq!(says(&drain(&mut r)), ["Hmm, blah? Menu"], "the node's wins; templates render");
    let mut r = at_menu(&menu("", "    no_match_say: \"\"\n", ""), &[], t0);
    r.handle_event(FlowEvent::Digit('9'), t0);
    assert_eq!(says(&drain(&mut r)), ["Menu"], "\"\" says nothing");
}

#[test]
fn a_reprompt_replaces_the_builtin_sorry_but_not_a_written_one() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", reprompt: \"Sorry. Say agent or sales.\"", "", ""), &[], t0);
    r.handle_event(FlowEvent::Digit('9'), t0);
    assert_eq!(says(&drain(&mut r)), ["Sorry. Say agent or sales."]);
    let mut r = at_menu(&menu(", reprompt: \"Say agent or sales.\"", "", "no_match_say: Oops.\n"), &[], t0);
    r.handle_event(FlowEvent::Digit('9'), t0);
    assert_eq!(says(&drain(&mut r)), ["Oops. Say agent or sales."]);
}

#[test]
fn silence_and_empty_recognitions_reask_without_sorry() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu("", "", ""), &[], t0);
    assert_eq!(r.poll_timeout(), Some(t0 + ms(4000)));
    r.handle_timeout(t0 + ms(4000));
    assert_eq!(drain(&mut r), vec![entered("m"), say("Menu")], "no_input");
    r.handle_event(FlowEvent::PromptFinished, t0 + ms(5000));
    r.handle_event(heard("", 0.0), t0 + ms(5100));
    assert_eq!(drain(&mut r), vec![entered("m"), say("Menu")], "nothing heard: no rejected step, no sorry");
}

#[test]
fn rejections_count_against_retries() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu("", "", ""), &[], t0);
    for i in 0..2 {
        r.handle_event(heard("human", 0.3), t0 + ms(i * 100));
        assert_eq!(says(&drain(&mut r)), ["Sorry, I didn't get that. Menu"]);
        r.handle_event(FlowEvent::PromptFinished, t0 + ms(i * 100 + 50));
    }
    r.handle_event(heard("human", 0.3), t0 + ms(300));
    let a = drain(&mut r);
    assert!(matches!(a[0], Action::SpeechRejected { .. }), "{a:?}");
    assert_eq!(a[1..], [entered("x"), say("Bye")], "past retries: exhausted");
}

#[test]
fn confident_speech_is_taken_at_once_even_with_confirm_below() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("human", 0.7), t0);
    assert_eq!(drain(&mut r)[..2], [Action::IntentMatched { intent: "agent".into(), input: "human".into() }, entered("a")]);
}

#[test]
fn mid_confidence_is_confirmed_by_a_spoken_yes() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("I want a human", 0.6), t0 + ms(100));
    assert_eq!(
        drain(&mut r),
        vec![
            Action::ConfirmationAsked { intent: "agent".into(), text: "I want a human".into(), confidence: 0.6 },
            say("Did you say human? Say yes or press 1; say no or press 2."),
        ]
    );
    let grammar = r.active_grammar().expect("listening for the answer");
    assert!(grammar.contains(&"yes".to_owned()) && grammar.contains(&"no".to_owned()) && !grammar.contains(&"sales".to_owned()));
    assert_eq!(r.poll_timeout(), None, "the silence timer starts when the question ends");
    r.handle_event(FlowEvent::PromptFinished, t0 + ms(2000));
    assert_eq!(r.poll_timeout(), Some(t0 + ms(6000)));
    r.handle_event(heard("yeah", 0.8), t0 + ms(3000));
    assert_eq!(
        drain(&mut r),
        vec![Action::IntentMatched { intent: "agent".into(), input: "I want a human".into() }, entered("a"), say("Agent")]
    );
    assert_eq!(r.context().intents[0].intent, "agent");
}

#[test]
fn a_spanish_si_confirms_and_the_question_is_spanish() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.8", "", "language: es-AR\n"), &[], t0);
    r.handle_event(heard("ventas", 0.6), t0);
    assert_eq!(says(&drain(&mut r)), ["¿Dijo ventas? Diga sí o marque 1; diga no o marque 2."]);
    r.handle_event(heard("Sí, claro", 0.9), t0);
    assert_eq!(drain(&mut r)[1], Action::IntentMatched { intent: "sales".into(), input: "ventas".into() });
}

#[test]
fn a_no_rejects_the_hypothesis_and_reasks() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("sales", 0.55), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(heard("no", 0.9), t0 + ms(500));
    assert_eq!(
        drain(&mut r),
        vec![
            Action::SpeechRejected { text: "sales".into(), confidence: 0.55, guess: Some("sales".into()), reason: RejectReason::Denied },
            entered("m"),
            say("Sorry, I didn't get that. Menu"),
        ]
    );
    // Back at the menu: keys mean the menu again.
    r.handle_event(FlowEvent::Digit('1'), t0 + ms(600));
    assert_eq!(drain(&mut r)[1], Action::IntentMatched { intent: "sales".into(), input: "1".into() });
}

#[test]
fn keys_answer_the_confirmation_even_during_the_question() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("sales", 0.6), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('1'), t0 + ms(300)); // barge-in: yes
    assert_eq!(
        drain(&mut r)[..3],
        [Action::StopPrompt, Action::IntentMatched { intent: "sales".into(), input: "sales".into() }, entered("s")]
    );
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("agent", 0.6), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(FlowEvent::Digit('2'), t0 + ms(300));
    let a = drain(&mut r);
    assert!(matches!(&a[0], Action::SpeechRejected { reason: RejectReason::Denied, guess: Some(g), .. } if g == "agent"), "{a:?}");
    assert_eq!(says(&a), ["Sorry, I didn't get that. Menu"]);
    // Another key is neither: a no_match.
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("agent", 0.6), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('0'), t0);
    assert_eq!(says(&drain(&mut r)), ["Sorry, I didn't get that. Menu"]);
}

#[test]
fn silence_after_the_question_is_no_input() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("agent", 0.6), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0 + ms(1000));
    let due = r.poll_timeout().expect("a silence timer");
    assert_eq!(due, t0 + ms(5000));
    r.handle_timeout(due - ms(1));
    assert_eq!(drain(&mut r), vec![], "early: nothing");
    r.handle_timeout(due);
    assert_eq!(drain(&mut r), vec![entered("m"), say("Menu")]);
    assert_eq!(r.active_grammar().map(|g| g.contains(&"sales".to_owned())), Some(true), "the menu listens again");
}

#[test]
fn a_doubtful_answer_to_the_question_is_rejected_too() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("agent", 0.6), t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(heard("yes", 0.3), t0);
    let a = drain(&mut r);
    assert_eq!(a[0], Action::SpeechRejected { text: "yes".into(), confidence: 0.3, guess: Some("yes".into()), reason: low(0.5) });
    assert_eq!(says(&a), ["Sorry, I didn't get that. Menu"]);
    // Unclear words: a no_match without a rejection.
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    r.handle_event(heard("agent", 0.6), t0);
    drain(&mut r);
    r.handle_event(heard("maybe", 0.9), t0);
    assert_eq!(drain(&mut r), vec![Action::StopPrompt, entered("m"), say("Sorry, I didn't get that. Menu")], "barged in");
}

#[test]
fn a_caller_who_keeps_saying_no_reaches_exhausted() {
    let t0 = Instant::now();
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", ""), &[], t0);
    let mut nodes = Vec::new();
    for i in 0..3 {
        r.handle_event(heard("sales", 0.6), t0 + ms(i * 1000));
        drain(&mut r);
        r.handle_event(heard("no", 0.9), t0 + ms(i * 1000 + 500));
        nodes.extend(drain(&mut r).into_iter().filter_map(|a| {
            if let Action::NodeEntered { node } = a {
                Some(node.to_string())
            } else {
                None
            }
        }));
    }
    assert_eq!(nodes, ["m", "m", "x"], "retries: 2, then exhausted");
}

#[test]
fn confirm_say_of_the_gather_then_the_flow() {
    let t0 = Instant::now();
    let flow_level = "confirm_say: \"{{choice}}, right?\"\n";
    let mut r = at_menu(&menu(", confirm_below: 0.7", "", flow_level), &[], t0);
    r.handle_event(heard("person", 0.6), t0);
    assert_eq!(says(&drain(&mut r)), ["person, right?"]);
    let mut r = at_menu(&menu(", confirm_below: 0.7, confirm_say: \"So, {{choice}}?\"", "", flow_level), &[], t0);
    r.handle_event(heard("person", 0.6), t0);
    assert_eq!(says(&drain(&mut r)), ["So, person?"]);
    // Without a question the runner listens at once, timer running.
    let mut r = at_menu(&menu(", confirm_below: 0.7, confirm_say: \"\"", "", ""), &[], t0);
    r.handle_event(heard("person", 0.6), t0);
    assert_eq!(drain(&mut r).len(), 1, "only ConfirmationAsked");
    assert_eq!(r.poll_timeout(), Some(t0 + ms(4000)));
}
