//! Media for Centralita: RTP (RFC 3550), G.711, DTMF (RFC 4733 and in-band),
//! paced prompt playback. Knows nothing of SIP or flows (DESIGN.md §2).
//!
//! Layout, pure code first:
//! - [`g711`], [`codec`]: sample formats (ITU-T G.711, RFC 3551 §4.5.14).
//! - [`rfc4733`]: telephone-event payloads and a de-duplicating receiver.
//! - [`goertzel`]: in-band DTMF detection (ITU-T Q.23/Q.24).
//! - [`latch`]: strict RTP latching (which sources a leg takes media from).
//! - [`rtp_session`]: the sans-IO RTP session of one call leg (RFC 3550):
//!   `handle_*` inputs with `now: Instant` passed in, `poll_*` outputs.
//! - [`leg`]: the handles a call task holds: [`MediaEngine`], [`MediaLeg`].
//! - `shard`: the IO edge: a few threads that own the sockets and the clock
//!   and pace every leg on a shared 1 ms grid.
//!
//! Run-loop rule for [`RtpSession`] (as in str0m): make one change
//! (`handle_receive`, `handle_timeout`, `play`, …), then drain
//! `poll_transmit` and `poll_event`, then sleep until `poll_timeout`.

pub mod asr;
pub mod codec;
pub mod g711;
pub mod goertzel;
pub mod latch;
pub mod leg;
pub mod pcm;
pub mod playback;
pub mod recorder;
pub mod resample;
pub mod rfc4733;
mod rtp_packet;
pub mod rtp_session;
mod shard;
pub mod speech_tap;
mod tick_timer;
pub mod vad;

pub use asr::{AsrError, AsrEvent, Grammar, GrammarPhrase, Recognizer, RecognizerStream};
pub use codec::Codec;
pub use goertzel::DtmfDetector;
pub use leg::{bind_rtp_socket, EngineStopped, LegCommands, MediaCommand, MediaEngine, MediaLeg};
pub use pcm::Pcm;
pub use recorder::{RecordChannel, RecordInput, RecordMode, RecordSpec, RecordSummary, RecordTap, StereoWav};
pub use resample::{ResamplerSetupError, StreamResampler};
pub use rfc4733::{DtmfReceiver, TelephoneEvent};
pub use rtp_session::{Direction, DtmfSource, MediaEvent, RtpConfig, RtpSession, RtpStats};
pub use vad::{BufferedAudio, VadConfig, VadError, VadEvent, VoiceActivityDetector};

use std::net::IpAddr;

/// Errors of the `media` crate.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Prompts must be resampled to the codec rate before playback.
    #[error("unsupported sample rate {rate} Hz: G.711 playback needs 8000 Hz")]
    UnsupportedSampleRate { rate: u32 },
    /// An RFC 4733 payload is shorter than its 4-byte event block.
    #[error("telephone-event payload too short: {len} bytes, need 4")]
    TelephoneEventTooShort { len: usize },
    /// A caller-provided output buffer cannot hold the result.
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
    /// `start > end`, or a range with no even port in it.
    #[error("invalid RTP port range {start}-{end}")]
    InvalidPortRange { start: u16, end: u16 },
    /// Every even port of the range is taken.
    #[error("no free even RTP port in {start}-{end} on {address}")]
    NoFreePort { address: IpAddr, start: u16, end: u16 },
    /// The media threads have stopped.
    #[error("media engine stopped")]
    EngineStopped,
    #[error("RTP socket: {0}")]
    Io(#[from] std::io::Error),
    /// A [`StreamResampler`] cannot be built for these rates and chunk size.
    #[error("cannot resample {from} Hz to {to} Hz in chunks of {chunk} samples: {reason}")]
    ResamplerSetup { from: u32, to: u32, chunk: usize, reason: ResamplerSetupError },
    /// A [`VoiceActivityDetector`] was built or fed wrongly.
    #[error("VAD: {0}")]
    Vad(#[from] VadError),
}
