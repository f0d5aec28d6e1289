//! Issue #19 in the core: the flow's `recording:` policy, the caller's
//! consent and the nodes' `record:` become `Output::Recording` in order;
//! a refusal never records and the verdict says why.

use std::time::Duration;

use dialogs::{RecordState, RecordingVerdict};
use media::rtp_session::{DtmfSource, MediaEvent};

use super::{settings, Driver, OFFER};
use crate::call::core::Output;

const FLOW: &str = r#"
flow: rec
recording: { on_consent: recording }
start: ask
nodes:
  ask:
    say: "May we record?"
    consent: { topic: recording }
    on: { yes: card, no: card, no_input: bye, exhausted: bye }
  card:
    say: "Your card number, please."
    record: pause
    on: { done: bye }
  bye:
    say: "Goodbye."
    record: resume
    hangup: true
"#;

fn states(d: &Driver) -> Vec<RecordState> {
    d.log.iter().filter_map(|o| if let Output::Recording(s) = o { Some(*s) } else { None }).collect()
}

fn answered_with(key: char) -> Driver {
    let mut d = Driver::inbound(settings(), FLOW, super::invite(OFFER));
    d.ack();
    d.drive_until("the question plays", |log| log.iter().any(|o| matches!(o, Output::Media(media::leg::MediaCommand::Play { .. }))));
    assert!(states(&d).is_empty(), "nothing is recorded before the consent");
    d.run_for(Duration::from_millis(300));
    d.media(MediaEvent::Dtmf { digit: key, source: DtmfSource::Rfc4733 });
    d.drive_until("the call ends", super::has_ended);
    d
}

#[test]
fn a_yes_records_with_the_flows_pause_and_resume() {
    let d = answered_with('1');
    assert_eq!(states(&d), [RecordState::On, RecordState::Paused, RecordState::On]);
    assert_eq!(d.core.recording_verdict(), Some(RecordingVerdict::Recorded));
}

#[test]
fn a_no_is_never_recorded_and_says_why() {
    let d = answered_with('2');
    assert!(states(&d).is_empty(), "{:?}", states(&d));
    let verdict = d.core.recording_verdict().expect("a flow ran");
    assert_eq!(verdict, RecordingVerdict::Refused("recording".into()));
    assert_eq!(verdict.reason(), "the caller refused consent `recording`");
}

#[test]
fn always_records_from_the_answer() {
    let flow = super::MENU.replace("flow: menu\n", "flow: menu\nrecording: always\n");
    let mut d = Driver::inbound(settings(), &flow, super::invite(OFFER));
    d.ack();
    d.drive_until("the menu plays", |log| log.iter().any(|o| matches!(o, Output::Media(media::leg::MediaCommand::Play { .. }))));
    assert_eq!(states(&d), [RecordState::On]);
}
