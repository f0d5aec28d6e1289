//! Centralita's SIP gateway: transport, transactions, dialogs, call control,
//! REFER with context, admin API (DESIGN.md §2).

pub mod api;
pub mod auth;
pub mod call;
pub mod config;
pub mod dashboard;
pub mod dialog;
pub mod endpoint;
pub mod flows;
pub mod metrics;
pub mod outbox;
pub mod prompt_stream;
pub mod refer;
pub mod registry;
pub mod sdp;
pub mod sip;
pub mod speech;
pub mod store;
pub mod transaction;
pub mod transport;
pub mod webhook;
