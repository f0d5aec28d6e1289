//! Centralita's SIP gateway: the SIP stack (`sip`: transport, transactions,
//! dialogs, SDP, REFER, digest auth), call control (`call`, around a sans-IO
//! `CallCore`), admin API, store (DESIGN.md §2).

pub mod api;
pub mod call;
pub mod config;
pub mod dashboard;
pub mod flow_guard;
pub mod flows;
pub mod metrics;
pub mod numbers;
pub mod outbox_dispatcher;
pub mod prompt_stream;
pub mod recording;
pub mod registry;
pub mod sip;
pub mod speech;
pub mod store;
pub mod webhook;
