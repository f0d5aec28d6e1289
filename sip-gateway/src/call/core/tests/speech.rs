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
