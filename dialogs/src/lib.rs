//! Centralita's dialogs: the flow format, its validation and the `FlowRunner`.
//!
//! A flow is a YAML (or JSON) file of nodes (see DESIGN.md §4). This crate
//! parses it ([`parse_flow`]), checks it with `file:line:col` diagnostics
//! ([`validate`], [`load_flow`]) and runs it for one call ([`FlowRunner`]).
//!
//! The runner is sans-IO, in the style of str0m and quinn-proto: it never
//! reads the clock, opens a socket or plays audio. The call task owns it and
//! drives it with this loop:
//!
//! 1. feed one input: [`FlowRunner::handle_event`] (a caller digit, a prompt
//!    that ended, a transfer result) or [`FlowRunner::handle_timeout`] when the
//!    instant from [`FlowRunner::poll_timeout`] has come;
//! 2. drain [`FlowRunner::poll_action`] until it returns `None`, performing
//!    each [`Action`] (speak, play, REFER, BYE);
//! 3. arm a timer for [`FlowRunner::poll_timeout`] and wait for the next input.
//!
//! Call setup: [`FlowRunner::new`] ignores business hours;
//! [`FlowRunner::with_clock`] takes the wall-clock time (a `SystemTime`
//! the caller reads, never this crate) to route closed calls to
//! `hours.closed` and to time-stamp consent answers. The variable
//! `language` picks the prompts' language. Speech arrives as
//! [`FlowEvent::Speech`]; [`FlowRunner::active_grammar`] lists what the
//! current node listens for. [`Simulator`] is the same engine behind
//! `centralita simulate`, on virtual time.
//!
//! The only IO in the crate is [`load_flow`], which reads one flow file,
//! plus the system time-zone database (for `hours.timezone`) and, when
//! [`ValidateOptions::prompt_dir`] is given, checking that prompt files
//! exist.

mod clock;
mod context;
mod diagnostic;
mod locate;
mod model;
mod parse;
mod recording;
mod runner;
mod sayas;
mod schema;
mod simulate;
mod speech;
mod template;
mod validate;

pub use clock::{parse_timestamp, ClockError};
pub use context::{CallContext, ConsentRecord, IntentRecord, Speaker, SurveyRecord, TranscriptLine};
pub use diagnostic::{Diagnostic, FlowError, Severity};
pub use model::{
    AcceptMode, BargeIn, Branch, BusinessEvent, CallStatus, Case, CompareOp, Condition, Consent, ContextField, Date, DayRange, EventKind,
    Fallback, Flow, Gather, Hours, HttpMethod, Intent, Node, NodeId, PromptId, RecordOp, RecordingPolicy, Release, StatusCallback, Survey,
    SurveyScale, Text, TimeRange, Transfer, TransferMode, Variant, Webhook, Weekday,
};
pub use parse::{load_flow, parse_flow};
pub use recording::{RecordState, RecordingGate, RecordingVerdict};
pub use runner::{Action, FlowEvent, FlowRunner, RejectReason, TransferFailure, TransferOptions, Variables};
pub use sayas::speakable;
pub use schema::{flow_schema, FLOW_SCHEMA_ID};
pub use simulate::{SimOptions, Simulator};
pub use validate::{speech_languages, validate, validate_with, RecogniserLanguages, ValidateOptions};
