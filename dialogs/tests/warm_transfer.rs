//! Warm transfer keys (DESIGN.md §8): the action carries the rendered
//! whisper, acceptance, ring timeout, hold and release; the agent's
//! `no_answer` / `busy` / `declined` take the node's mapping when it has
//! one, else `failed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{parse_flow, AcceptMode, Action, FlowEvent, FlowRunner, Release, TransferFailure, TransferMode, Variables};

const FLOW: &str = r#"
flow: warm
start: to_agent
nodes:
  to_agent:
    transfer:
      to: "sip:agents@127.0.0.1:5070"
      mode: warm
      whisper: "Caller {{caller}} about billing."
      accept: auto
      timeout: 7s
      hold: "Please hold."
      release: refer
      apology: ""
    on: { no_answer: later, failed: sorry }
  later:
    say: "Nobody answered."
    hangup: true
  sorry:
    say: "Sorry."
    hangup: true
"#;

fn start() -> (FlowRunner, Instant) {
    let flow = Arc::new(parse_flow(FLOW, "warm.yaml").unwrap());
    let mut vars = Variables::new();
    vars.insert("caller".into(), "5551234".into());
    let now = Instant::now();
    (FlowRunner::new(flow, vars, now), now)
}

fn said(r: &mut FlowRunner) -> Vec<String> {
    std::iter::from_fn(|| r.poll_action()).filter_map(|a| if let Action::Say { text, .. } = a { Some(text) } else { None }).collect()
}

#[test]
fn the_action_carries_the_rendered_warm_settings() {
    let (mut r, _) = start();
    let transfer = std::iter::from_fn(|| r.poll_action()).find_map(|a| match a {
        Action::Transfer { mode, options, .. } => Some((mode, options)),
        _ => None,
    });
    let (mode, o) = transfer.expect("a transfer");
    assert_eq!(mode, TransferMode::Warm);
    assert_eq!(o.whisper, "Caller 5551234 about billing.");
    assert_eq!(
        (o.accept, o.timeout, o.hold.as_deref(), o.release),
        (AcceptMode::Auto, Duration::from_secs(7), Some("Please hold."), Some(Release::Refer))
    );
}

#[test]
fn no_answer_takes_its_own_mapping() {
    let (mut r, now) = start();
    said(&mut r);
    r.handle_event(FlowEvent::TransferNotTaken { failure: TransferFailure::NoAnswer, reason: "ring timeout".into() }, now);
    assert_eq!(said(&mut r), ["Nobody answered."]);
}

#[test]
fn an_unmapped_failure_is_failed() {
    let (mut r, now) = start();
    said(&mut r);
    r.handle_event(FlowEvent::TransferNotTaken { failure: TransferFailure::Busy, reason: "486".into() }, now);
    assert_eq!(said(&mut r), ["Sorry."]);
}

#[test]
fn warm_only_keys_on_a_blind_transfer_are_warnings() {
    let blind = FLOW.replace("mode: warm", "mode: blind");
    let flow = parse_flow(&blind, "b.yaml").unwrap();
    let diags = dialogs::validate(&flow);
    let warned: Vec<_> = diags.iter().map(|d| d.to_string()).filter(|d| d.contains("applies to `mode: warm` only")).collect();
    assert_eq!(warned.len(), 4, "{diags:?}");
}
