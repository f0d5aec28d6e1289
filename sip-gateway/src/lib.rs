//! Centralita's SIP gateway: transport, transactions, dialogs, call control,
//! REFER with context, admin API (DESIGN.md §2).

pub mod transaction;
