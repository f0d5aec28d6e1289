//! Speech input (issue #5, #15 item 8): the recogniser is asked for at the
//! caller's voice onset, and a final that does not come within
//! `final_timeout` of the end of speech turns the call to keys with a
//! spoken hint, instead of leaving the caller in silence.

use std::time::Duration;

use media::leg::MediaCommand;
use media::rtp_session::MediaEvent;

use super::{settings, Driver, OFFER};
use crate::call::core::Output;

const FLOW: &str = r#"
flow: speech
start: ask
nodes:
  ask:
    say: "Say agent."
    gather: { digits: 1, speech: true, timeout: 5s, retries: 2 }
    intents:
      agent: { dtmf: "0", phrases: [agent] }
    on: { agent: bye, no_input: ask, no_match: ask, exhausted: bye }
  bye:
    say: "Bye."
    hangup: true
"#;

fn talking() -> Driver {
    let mut s = settings();
    s.speech = true;
    let mut d = Driver::inbound(s, FLOW, super::invite(OFFER));
    d.ack();
    d.drive_until("the question plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    assert!(d.log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Detect { .. }))), "listening for the onset");
    assert!(!d.log.iter().any(|o| matches!(o, Output::StartRecognizer { .. })), "no recogniser before the caller talks");
    d.media(MediaEvent::SpeechStarted);
    assert!(d.log.iter().any(|o| matches!(o, Output::StartRecognizer { .. })));
    d.run_for(Duration::from_millis(800));
    d.media(MediaEvent::SpeechEnded);
    d
}

#[test]
fn a_final_that_never_comes_turns_the_call_to_keys_after_the_deadline() {
    let mut d = talking();
    let before = d.prompts().len();
    d.run_for(Duration::from_millis(2900));
    assert_eq!(d.prompts().len(), before, "still waiting for the final");
    d.run_for(Duration::from_millis(200));
    assert!(d.log.iter().any(|o| matches!(o, Output::StopRecognizer)));
    let last = d.prompts().last().cloned().unwrap_or_default();
    assert!(last.starts_with("Sorry, I could not hear you. Please use your keypad."), "{last}");
}

#[test]
fn a_final_in_time_is_the_callers_answer() {
    let mut d = talking();
    d.run_for(Duration::from_millis(500));
    d.core.handle_asr(Some(media::asr::AsrEvent::Final { text: "agent".into(), confidence: 0.9 }), d.now);
    d.pump();
    assert_eq!(d.prompts().last().map(String::as_str), Some("Bye."));
    d.run_for(Duration::from_secs(5));
    assert!(!d.prompts().iter().any(|p| p.starts_with("Sorry")), "no fallback after a final");
}

/// (kind, detail, confidence) of the call's steps of `kinds`.
fn steps(d: &Driver, kinds: &[crate::store::StepKind]) -> Vec<(crate::store::StepKind, String, Option<f64>)> {
    d.records()
        .into_iter()
        .filter_map(|r| match r {
            crate::store::Record::Step(s) if kinds.contains(&s.kind) => Some((s.kind, s.detail.clone(), s.confidence)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_final_under_min_confidence_is_a_rejected_step_and_the_caller_hears_sorry() {
    use crate::store::StepKind;
    let mut d = talking();
    let before = crate::metrics::metrics().speech_rejected.get();
    d.core.handle_asr(Some(media::asr::AsrEvent::Final { text: "agent".into(), confidence: 0.25 }), d.now);
    d.pump();
    assert!(crate::metrics::metrics().speech_rejected.get() > before, "counted in centralita_speech_rejected_total");
    let got = steps(&d, &[StepKind::Transcript, StepKind::Rejected, StepKind::Intent]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, StepKind::Transcript);
    assert_eq!(got[1].0, StepKind::Rejected);
    assert_eq!(got[1].1, "\"agent\" (heard as agent; below min_confidence 0.50)");
    assert_eq!(got[1].2, Some(0.25));
    assert_eq!(d.prompts().last().map(String::as_str), Some("Sorry, I didn't get that. Say agent."));
}

#[test]
fn a_mid_confidence_final_is_confirmed_with_a_key_and_recorded() {
    use crate::store::StepKind;
    let mut s = settings();
    s.speech = true;
    let flow = FLOW.replace("retries: 2 }", "retries: 2, confirm_below: 0.8 }");
    let mut d = Driver::inbound(s, &flow, super::invite(OFFER));
    d.ack();
    d.drive_until("the question plays", |log| log.iter().any(|o| matches!(o, Output::Media(MediaCommand::Play { .. }))));
    d.media(MediaEvent::SpeechStarted);
    d.run_for(Duration::from_millis(800));
    d.media(MediaEvent::SpeechEnded);
    d.core.handle_asr(Some(media::asr::AsrEvent::Final { text: "agent".into(), confidence: 0.6 }), d.now);
    d.pump();
    assert_eq!(d.prompts().last().map(String::as_str), Some("Did you say agent? Say yes or press 1; say no or press 2."));
    d.run_for(Duration::from_secs(1));
    d.media(MediaEvent::Dtmf { digit: '1', source: media::rtp_session::DtmfSource::Rfc4733 });
    d.run_for(Duration::from_millis(100));
    assert_eq!(d.prompts().last().map(String::as_str), Some("Bye."));
    let got = steps(&d, &[StepKind::Confirm, StepKind::Intent, StepKind::Rejected]);
    let kinds: Vec<StepKind> = got.iter().map(|s| s.0).collect();
    assert_eq!(kinds, [StepKind::Confirm, StepKind::Intent], "{got:?}");
    assert_eq!(got[0].1, "agent? (\"agent\")");
    assert_eq!(got[1].1, "agent (agent)");
}
