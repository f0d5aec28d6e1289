//! SIP protocol pieces: wire format, header helpers, transactions' users.

pub mod headers;
pub mod wire;
