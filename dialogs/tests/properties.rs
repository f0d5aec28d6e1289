//! Property: on every example flow, any sequence of caller and gateway
//! events never panics, never leaves the runner waiting on nothing (while
//! not finished there is always a prompt playing, a transfer under way or a
//! timer), and a caller who then goes silent is done within a bounded
//! number of steps.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogs::{load_flow, parse_timestamp, Action, Flow, FlowEvent, FlowRunner, Variables};
use proptest::prelude::*;

const WORDS: [&str; 16] = [
    "agent",
    "sales",
    "hablar con una persona",
    "sí",
    "no",
    "cinco",
    "diez",
    "ventas",
    "internet",
    "comprar",
    "pro",
    "técnico",
    "ten",
    "blah",
    "",
    "asesor",
];

#[derive(Debug, Clone)]
enum Step {
    Event(FlowEvent),
    /// Let this many milliseconds pass, firing a due timeout.
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let digit = prop::sample::select(vec!['0', '1', '2', '3', '5', '9', '*', '#', 'A', 'x']).prop_map(FlowEvent::Digit);
    let speech =
        (prop::sample::select(WORDS.to_vec()), 0.0f32..1.0).prop_map(|(w, c)| FlowEvent::Speech { text: w.to_owned(), confidence: c });
    let hook = prop_oneof![
        (100u16..600).prop_map(|status| FlowEvent::WebhookResult {
            status,
            body: serde_json::json!({"contact": {"first_name": "Ana"}, "cart": {"total": 10}, "id": 1})
        }),
        Just(FlowEvent::WebhookFailed { reason: "x".into() }),
    ];
    prop_oneof![
        4 => digit.prop_map(Step::Event),
        3 => speech.prop_map(Step::Event),
        3 => Just(Step::Event(FlowEvent::PromptFinished)),
        1 => Just(Step::Event(FlowEvent::TransferAccepted)),
        1 => Just(Step::Event(FlowEvent::TransferFailed { reason: "486".into() })),
        2 => hook.prop_map(Step::Event),
        3 => (0u64..12_000).prop_map(Step::Wait),
    ]
}

fn flows() -> Vec<Arc<Flow>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    ["demo.yaml", "ventas.yaml", "soporte.yaml"].iter().map(|f| Arc::new(load_flow(&dir.join(f)).expect("example flow").0)).collect()
}

/// What the call task still owes the runner.
#[derive(Default)]
struct Owed {
    prompt: bool,
    transfer: bool,
}

impl Owed {
    fn drain(&mut self, r: &mut FlowRunner) {
        while let Some(a) = r.poll_action() {
            match a {
                Action::Say { .. } | Action::Play { .. } => self.prompt = true,
                Action::StopPrompt => self.prompt = false,
                Action::Transfer { .. } => self.transfer = true,
                _ => {}
            }
        }
    }

    fn note(&mut self, event: &FlowEvent) {
        match event {
            FlowEvent::PromptFinished => self.prompt = false,
            FlowEvent::TransferAccepted | FlowEvent::TransferFailed { .. } => self.transfer = false,
            _ => {}
        }
    }

    fn check(&self, r: &FlowRunner) -> Result<(), TestCaseError> {
        prop_assert!(
            r.is_finished() || r.poll_timeout().is_some() || self.prompt || self.transfer,
            "runner waits on nothing: {:?}",
            r.context().path.last()
        );
        Ok(())
    }
}

fn start(flow: &Arc<Flow>, t0: Instant, evening: bool, caller: u32) -> FlowRunner {
    let mut vars = Variables::new();
    vars.insert("caller".into(), format!("+54911{caller:08}"));
    vars.insert("transfer.agent_uri".into(), "sip:a@b".into());
    let at = if evening { "2026-11-24T23:00:00-03:00" } else { "2026-11-24T10:00:00-03:00" };
    FlowRunner::with_clock(Arc::clone(flow), vars, t0, parse_timestamp(at).expect("time"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_calls_never_hang_or_panic(
        which in 0usize..3,
        evening in any::<bool>(),
        caller in any::<u32>(),
        steps in prop::collection::vec(step(), 0..60),
    ) {
        let flow = &flows()[which];
        let t0 = Instant::now();
        let mut now = t0;
        let mut r = start(flow, t0, evening, caller);
        let mut owed = Owed::default();
        owed.drain(&mut r);
        owed.check(&r)?;
        for s in steps {
            match s {
                Step::Event(e) => {
                    owed.note(&e);
                    r.handle_event(e, now);
                }
                Step::Wait(ms) => {
                    now += Duration::from_millis(ms);
                    if r.poll_timeout().is_some_and(|t| t <= now) {
                        r.handle_timeout(now);
                    }
                }
            }
            owed.drain(&mut r);
            owed.check(&r)?;
        }
        // The caller goes silent; the gateway answers what it owes.
        for _ in 0..1000 {
            if r.is_finished() {
                break;
            }
            if owed.prompt {
                owed.prompt = false;
                r.handle_event(FlowEvent::PromptFinished, now);
            } else if owed.transfer {
                owed.transfer = false;
                r.handle_event(FlowEvent::TransferFailed { reason: "busy".into() }, now);
            } else if let Some(t) = r.poll_timeout() {
                now = now.max(t);
                r.handle_timeout(now);
            }
            owed.drain(&mut r);
            owed.check(&r)?;
        }
        prop_assert!(r.is_finished(), "a silent caller is never let go: {:?}", r.context().path);
        r.handle_event(FlowEvent::Digit('1'), now);
        prop_assert!(r.poll_action().is_none(), "nothing after the end");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// Whatever is typed into the simulator, it never panics and ends with a summary.
    #[test]
    fn simulator_takes_any_input(
        which in 0usize..3,
        lines in prop::collection::vec(
            prop_oneof![
                "[0-9*#A-D]{1,4}",
                "\\PC{0,30}",
                Just(":silence".to_owned()),
                Just(":hangup".to_owned()),
                "(:webhook [0-9]{1,3} \\{\"id\":\"[a-z]{0,3}\"\\})",
                Just(":webhook-fail x".to_owned()),
                Just(":transfer-fail 486".to_owned()),
                Just(":transfer-ok".to_owned()),
                "(:wait [0-9]{1,6}(ms|s|m)?)",
                "(:say [0-9.]{1,4} \\PC{0,10})",
            ],
            0..30,
        ),
    ) {
        let flow = Arc::clone(&flows()[which]);
        let mut sim = dialogs::Simulator::new(flow, dialogs::SimOptions::default(), Instant::now());
        for line in &lines {
            sim.input(line);
        }
        sim.finish();
        let out = sim.output();
        prop_assert!(out.iter().any(|l| l == "--- summary ---"));
        prop_assert!(sim.is_finished(), "a silent end always finishes the call");
    }
}
