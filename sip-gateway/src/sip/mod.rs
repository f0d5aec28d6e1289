//! The SIP stack (RFC 3261 and its extensions): wire format and header
//! helpers, transport (UDP/TCP), the transaction layer and the endpoint that
//! owns it, dialogs, SDP offer/answer, REFER with context, digest auth.
//! Nothing here knows flows or audio.

pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod headers;
pub mod icmp;
pub mod limits;
pub mod refer;
pub mod sdp;
pub mod transaction;
pub mod transport;
pub mod wire;
