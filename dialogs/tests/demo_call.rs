//! The demo flow (flows/demo.yaml) driven through whole calls with fake
//! time: barge-in to an agent, sales, silence and retries, a failed
//! transfer (an apology, then the menu; the second failure ends the call
//! politely), a wrong key, the loop guard.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{
    load_flow, Action, CallContext, FlowEvent, FlowRunner, IntentRecord, NodeId, Speaker, TranscriptLine, TransferMode, Variables,
};

const WELCOME: &str = "Welcome to Acme. For sales press 1 or say sales. For support press 2. To talk to a person press 0 or say agent.";
const AGENT: &str = "sip:agents@127.0.0.1:5070";
const SORRY: &str = "Sorry, we could not connect your call right now.";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn start(t0: Instant) -> FlowRunner {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/demo.yaml");
    let (flow, _) = load_flow(&path).expect("demo flow loads");
    let vars: Variables = [("caller", "+5493510000000"), ("called", "5550100"), ("call_id", "abc@host"), ("transfer.agent_uri", AGENT)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
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

fn welcome() -> Vec<Action> {
    vec![entered("welcome"), say(WELCOME)]
}

/// Lets the caller stay silent through one prompt of `welcome`.
fn silence(r: &mut FlowRunner, now: &mut Instant) -> Vec<Action> {
    *now += secs(4);
    r.handle_event(FlowEvent::PromptFinished, *now);
    assert_eq!(r.poll_timeout(), Some(*now + secs(5)));
    *now += secs(5);
    r.handle_timeout(*now);
    drain(r)
}

#[test]
fn zero_during_the_prompt_transfers_with_context() {
    let t0 = Instant::now();
    let mut r = start(t0);
    assert_eq!(drain(&mut r), welcome());
    assert_eq!(r.poll_timeout(), None, "no timer while the prompt plays");

    r.handle_event(FlowEvent::Digit('0'), t0 + secs(2));
    let context = CallContext {
        flow: "demo".into(),
        caller: "+5493510000000".into(),
        called: "5550100".into(),
        call_id: "abc@host".into(),
        intents: vec![IntentRecord { intent: "agent".into(), input: "0".into(), node: NodeId::from("welcome") }],
        transcript: vec![
            TranscriptLine { speaker: Speaker::Bot, text: WELCOME.into() },
            TranscriptLine { speaker: Speaker::Caller, text: "DTMF 0".into() },
        ],
        ..CallContext::default()
    };
    assert_eq!(
        drain(&mut r),
        vec![
            Action::StopPrompt,
            Action::IntentMatched { intent: "agent".into(), input: "0".into() },
            entered("to_agent"),
            Action::Transfer { to: AGENT.into(), mode: TransferMode::Blind, context: context.clone(), options: blind_options(&context) },
        ]
    );
    let json = serde_json::to_value(&context).expect("serializes");
    assert_eq!(json["intents"][0]["intent"], "agent");
    assert_eq!(json["transcript"][1]["speaker"], "caller");
    assert!(json.get("path").is_none(), "path was not asked for");

    // A late PromptFinished and keys during the transfer mean nothing.
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(3));
    r.handle_event(FlowEvent::Digit('1'), t0 + secs(3));
    assert_eq!(drain(&mut r), vec![]);
    assert!(!r.is_finished());

    r.handle_event(FlowEvent::TransferAccepted, t0 + secs(4));
    assert!(r.is_finished());
    assert_eq!(drain(&mut r), vec![]);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.context().path, vec![NodeId::from("welcome"), NodeId::from("to_agent")]);
}

#[test]
fn one_goes_to_sales_and_hangs_up() {
    let t0 = Instant::now();
    let mut r = start(t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(8));
    r.handle_event(FlowEvent::Digit('1'), t0 + secs(9));
    assert_eq!(
        drain(&mut r),
        vec![
            Action::IntentMatched { intent: "sales".into(), input: "1".into() },
            entered("sales"),
            say("Sales: our team will call you back shortly. Goodbye."),
        ]
    );
    assert_eq!(r.poll_timeout(), None);
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(12));
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
    assert!(r.is_finished());
}

#[test]
fn two_goes_to_support_then_bye() {
    let t0 = Instant::now();
    let mut r = start(t0);
    r.handle_event(FlowEvent::PromptFinished, t0);
    r.handle_event(FlowEvent::Digit('2'), t0);
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(3));
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(4));
    let actions = drain(&mut r);
    assert_eq!(actions[actions.len() - 3..], [entered("bye"), say("Goodbye."), Action::Hangup]);
}

#[test]
fn silence_retries_then_exhausted_transfers() {
    let mut now = Instant::now();
    let mut r = start(now);
    assert_eq!(drain(&mut r), welcome());
    // Two retries: the prompt is heard three times in all.
    assert_eq!(silence(&mut r, &mut now), welcome());
    assert_eq!(silence(&mut r, &mut now), welcome());
    let actions = silence(&mut r, &mut now);
    assert_eq!(actions[0], entered("to_agent"));
    assert!(matches!(&actions[1], Action::Transfer { to, .. } if to == AGENT));
    assert_eq!(actions.len(), 2);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn failed_transfer_goes_back_to_welcome_with_fresh_retries() {
    let mut now = Instant::now();
    let mut r = start(now);
    drain(&mut r);
    r.handle_event(FlowEvent::Digit('0'), now);
    drain(&mut r);
    r.handle_event(FlowEvent::TransferFailed { reason: "486 Busy Here".into() }, now);
    assert_eq!(drain(&mut r), vec![entered("welcome"), say(&format!("{SORRY} {WELCOME}"))], "an apology first");
    assert_eq!(silence(&mut r, &mut now), welcome());
    assert_eq!(silence(&mut r, &mut now), welcome());
    let actions = silence(&mut r, &mut now);
    assert_eq!(actions[0], entered("to_agent"));
    assert!(matches!(&actions[1], Action::Transfer { .. }), "the second attempt: {actions:?}");
    r.handle_event(FlowEvent::TransferFailed { reason: "486 Busy Here".into() }, now);
    let actions = drain(&mut r);
    assert_eq!(actions[0], entered("agents_busy"), "the attempts are used up: `exhausted`: {actions:?}");
    assert!(matches!(&actions[1], Action::Say { text, .. } if text.starts_with(SORRY)), "{actions:?}");
    r.handle_event(FlowEvent::PromptFinished, now);
    assert_eq!(drain(&mut r), vec![Action::Hangup]);
}

#[test]
fn nine_is_no_match() {
    let t0 = Instant::now();
    let mut r = start(t0);
    drain(&mut r);
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(8));
    r.handle_event(FlowEvent::Digit('9'), t0 + secs(9));
    assert_eq!(drain(&mut r), vec![entered("welcome"), say(&format!("Sorry, I didn't get that. {WELCOME}"))], "asked again, sorry first");
    assert_eq!(r.context().digits, "9");
    assert!(r.context().intents.is_empty());
}

#[test]
fn poll_timeout_is_set_exactly_while_a_gather_waits() {
    let t0 = Instant::now();
    let mut r = start(t0);
    assert_eq!(drain(&mut r), welcome());
    assert_eq!(r.poll_timeout(), None);
    r.handle_event(FlowEvent::PromptFinished, t0 + secs(8));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(13)));
    // An early wake-up changes nothing.
    r.handle_timeout(t0 + secs(10));
    assert_eq!(drain(&mut r), vec![]);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(13)));
    r.handle_event(FlowEvent::CallerHungUp, t0 + secs(11));
    assert!(r.is_finished());
    assert_eq!(r.poll_timeout(), None);
    r.handle_timeout(t0 + secs(13));
    r.handle_event(FlowEvent::Digit('1'), t0 + secs(14));
    assert_eq!(drain(&mut r), vec![]);
}

#[test]
fn caller_hang_up_mid_prompt_ends_everything() {
    let t0 = Instant::now();
    let mut r = start(t0);
    r.handle_event(FlowEvent::CallerHungUp, t0 + secs(1));
    assert!(r.is_finished());
    assert_eq!(drain(&mut r), vec![], "queued actions are dropped too");
}

#[test]
fn failed_transfers_are_capped_per_call() {
    let mut now = Instant::now();
    let mut r = start(now);
    let mut actions = drain(&mut r);
    for _ in 0..100 {
        if r.is_finished() {
            break;
        }
        if let Some(Action::Transfer { .. }) = actions.last() {
            r.handle_event(FlowEvent::TransferFailed { reason: "timeout".into() }, now);
            actions.extend(drain(&mut r));
        } else if matches!(actions.last(), Some(Action::Say { text, .. }) if !text.ends_with(WELCOME)) {
            r.handle_event(FlowEvent::PromptFinished, now);
            actions.extend(drain(&mut r));
        } else {
            actions.extend(silence(&mut r, &mut now));
        }
    }
    assert!(r.is_finished());
    assert_eq!(actions.last(), Some(&Action::Hangup));
    let transfers = actions.iter().filter(|a| matches!(a, Action::Transfer { .. })).count();
    assert_eq!(transfers, 2, "two attempts per call, then `exhausted`");
    let sorry = actions.iter().filter(|a| matches!(a, Action::Say { text, .. } if text.starts_with(SORRY))).count();
    assert_eq!(sorry, 2, "an apology per failure");
    assert!(actions.contains(&entered("agents_busy")), "{actions:?}");
}

/// A blind transfer's options: defaults, and the whisper a warm one would say.
fn blind_options(context: &CallContext) -> dialogs::TransferOptions {
    let caller: Vec<String> = context.caller.chars().filter(char::is_ascii_digit).map(String::from).collect();
    dialogs::TransferOptions {
        whisper: format!("Transferred call from {}. Reason: agent. Press 1 to accept or 2 to decline.", caller.join(" ")),
        accept: dialogs::AcceptMode::Dtmf,
        timeout: Duration::from_secs(20),
        hold: None,
        release: None,
        caller_id: None,
        fallback: None,
    }
}
