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
//! The only IO in the crate is [`load_flow`], which reads one flow file.

mod context;
mod diagnostic;
mod locate;
mod model;
mod parse;
mod runner;
mod template;
mod validate;

pub use context::{CallContext, IntentRecord, Speaker, TranscriptLine};
pub use diagnostic::{Diagnostic, FlowError, Severity};
pub use model::{
    ContextField, Date, DayRange, Flow, Gather, Hours, Intent, Node, NodeId, PromptId, TimeRange, Transfer, TransferMode, Weekday,
};
pub use parse::{load_flow, parse_flow};
pub use runner::{Action, FlowEvent, FlowRunner, Variables};
pub use validate::validate;
