//! Media for Centralita: RTP (RFC 3550), G.711, DTMF (RFC 4733 and in-band),
//! paced prompt playback. Knows nothing of SIP or flows (DESIGN.md §2).

pub mod pcm;

pub use pcm::Pcm;
