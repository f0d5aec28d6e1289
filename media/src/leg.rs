//! The IO edge of call legs, as seen from a call task: bind an RTP port,
//! hand the socket and its [`RtpSession`] to the [`MediaEngine`], then talk
//! to the leg through a [`MediaLeg`] handle (commands in, events out, final
//! stats when it ends). All protocol rules live in the session (RFC 3550
//! pacing, RFC 4733, latching); the engine's shards ([`crate::shard`]) do
//! the IO and the pacing for many legs at once.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use rand::seq::SliceRandom;
use tokio::sync::{mpsc, oneshot};

use crate::rtp_session::{Direction, MediaEvent, RtpSession, RtpStats};
pub use crate::shard::failed_legs_total;
use crate::shard::{NewLeg, Shard, ShardInput};
use crate::{MediaError, Pcm};

const EVENT_CAPACITY: usize = 64;

/// Binds a UDP socket for RTP on an even port (RFC 3550 §11) of `ports`,
/// trying them in random order. `0..=0` lets the OS choose any port.
pub fn bind_rtp_socket(address: IpAddr, ports: RangeInclusive<u16>) -> Result<(UdpSocket, u16), MediaError> {
    let (start, end) = (*ports.start(), *ports.end());
    if start == 0 && end == 0 {
        let socket = UdpSocket::bind((address, 0))?;
        let port = socket.local_addr()?.port();
        return Ok((socket, port));
    }
    let first_even = (u32::from(start) + u32::from(start % 2)).max(2);
    let mut candidates: Vec<u16> = (first_even..=u32::from(end)).step_by(2).filter_map(|p| u16::try_from(p).ok()).collect();
    if candidates.is_empty() {
        return Err(MediaError::InvalidPortRange { start, end });
    }
    candidates.shuffle(&mut rand::rng());
    for port in candidates {
        match UdpSocket::bind((address, port)) {
            Ok(socket) => return Ok((socket, port)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(MediaError::NoFreePort { address, start, end })
}

/// What the call task asks of its media leg.
#[derive(Debug)]
pub enum MediaCommand {
    /// Play 8 kHz audio as prompt `id`, replacing any current prompt.
    Play {
        pcm: Pcm,
        id: u64,
    },
    /// Play the first chunk of streamed prompt `id` (8 kHz), replacing any
    /// current prompt; the rest follows with `Append` and `EndStream`.
    PlayStream {
        pcm: Pcm,
        id: u64,
    },
    /// More audio for streamed prompt `id` (dropped if it no longer plays).
    Append {
        pcm: Pcm,
        id: u64,
    },
    /// Streamed prompt `id` is complete; it finishes once played out.
    EndStream {
        id: u64,
    },
    /// Barge-in: stop the current prompt.
    Stop,
    SetRemote(SocketAddr),
    SetDirection(Direction),
    /// Listen for one utterance: caller audio through the speech tap
    /// ([`crate::speech_tap`]) to `sink`; `SpeechStarted`/`SpeechEnded`
    /// events follow. Replaces any tap already listening.
    Listen {
        sink: crate::asr::AudioSink,
        vad: crate::vad::VadConfig,
    },
    /// Listen for one utterance without a recogniser yet: the tap keeps the
    /// audio from the onset (`SpeechStarted` follows) until `Attach`.
    Detect {
        vad: crate::vad::VadConfig,
    },
    /// The recogniser for the utterance `Detect` is keeping.
    Attach(crate::asr::AudioSink),
    /// Change the end-of-speech silence of the utterance being listened to
    /// (VoiceXML `completetimeout` once the words match the grammar).
    SetEndOfSpeech(std::time::Duration),
    /// Stop listening (the gather ended some other way).
    StopListening,
    /// Bridge this leg with leg `peer` (a [`LegCommands::id`] on the same
    /// shard: see [`MediaEngine::spawn_leg_beside`]): each leg's received
    /// RTP goes out on the other at once (`rtp_session::relay`), replacing
    /// both legs' paced streams. Ends with `Unbridge` or either leg's end.
    Bridge {
        peer: u64,
    },
    /// End the bridge; both legs resume their own paced streams.
    Unbridge,
    /// Record this leg's audio into a call recording ([`crate::recorder`]):
    /// received audio on `spec.received`, sent audio on `spec.sent`; frames
    /// go through the tap's bounded queue (full: dropped and counted).
    /// `None` stops.
    Record(Option<crate::recorder::RecordSpec>),
    /// End the task; it returns the final stats.
    Close,
    /// Test hook: the leg's next receive panics (fault isolation tests).
    #[cfg(test)]
    FailOnReceive,
}

/// Handle on a running media leg. Dropping it ends the leg (at the shard's
/// next housekeeping pass); `Close` ends it at once.
#[derive(Debug)]
pub struct MediaLeg {
    pub commands: LegCommands,
    pub events: mpsc::Receiver<MediaEvent>,
    pub local_port: u16,
    /// Resolves with the final stats once the leg has ended.
    pub finished: oneshot::Receiver<RtpStats>,
}

/// The command side of a [`MediaLeg`]: everything goes through its shard's
/// one input channel, tagged with the leg's id.
#[derive(Debug, Clone)]
pub struct LegCommands {
    id: u64,
    shard: mpsc::UnboundedSender<ShardInput>,
}

/// The leg's shard has stopped (the engine was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("media engine stopped")]
pub struct EngineStopped;

impl LegCommands {
    /// The leg's id, for [`MediaCommand::Bridge`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues `command` for the leg. Never waits: commands are few per call.
    pub fn send(&self, command: MediaCommand) -> Result<(), EngineStopped> {
        self.shard.send(ShardInput::Command(self.id, command)).map_err(|_| EngineStopped)
    }
}

impl std::fmt::Debug for ShardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardInput::Attach(leg) => write!(f, "Attach({})", leg.id),
            ShardInput::Command(id, c) => write!(f, "Command({id}, {c:?})"),
        }
    }
}

/// The media threads. Cheap to clone; the threads end when the last clone
/// and every leg handle are dropped.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    shards: Vec<ShardHandle>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct ShardHandle {
    inputs: mpsc::UnboundedSender<ShardInput>,
    legs: Arc<AtomicUsize>,
}

impl MediaEngine {
    /// Starts `shards` media threads (at least one). One per core is right
    /// for a dedicated gateway. `realtime` asks for SCHED_RR priority for
    /// them (falls back to normal priority where that is not permitted).
    pub fn start(shards: usize, realtime: bool) -> Result<Self, MediaError> {
        let mut handles = Vec::new();
        for n in 0..shards.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let legs = Arc::new(AtomicUsize::new(0));
            let shard = Shard::new(rx, legs.clone())?;
            std::thread::Builder::new().name(format!("media-shard-{n}")).spawn(move || shard.run(realtime))?;
            handles.push(ShardHandle { inputs: tx, legs });
        }
        Ok(MediaEngine { inner: Arc::new(EngineInner { shards: handles, next_id: AtomicU64::new(1) }) })
    }

    /// Hands `session` on `socket` to the least busy shard.
    pub fn spawn_leg(&self, socket: UdpSocket, session: RtpSession) -> Result<MediaLeg, MediaError> {
        let shard = self.inner.shards.iter().min_by_key(|s| s.legs.load(Ordering::Relaxed)).ok_or(MediaError::EngineStopped)?;
        self.spawn_on(shard, socket, session)
    }

    /// Hands `session` to the shard that runs `beside`, so the two legs
    /// can be bridged (a bridge relays within one thread, no hand-off).
    pub fn spawn_leg_beside(&self, beside: &LegCommands, socket: UdpSocket, session: RtpSession) -> Result<MediaLeg, MediaError> {
        let shard = self.inner.shards.iter().find(|s| s.inputs.same_channel(&beside.shard)).ok_or(MediaError::EngineStopped)?;
        self.spawn_on(shard, socket, session)
    }

    fn spawn_on(&self, shard: &ShardHandle, socket: UdpSocket, session: RtpSession) -> Result<MediaLeg, MediaError> {
        let local_port = socket.local_addr()?.port();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
        let (finished_tx, finished_rx) = oneshot::channel();
        let leg = NewLeg { id, socket, session, events: event_tx, finished: finished_tx };
        // The shard counts the leg down when it ends (the least-busy choice).
        shard.legs.fetch_add(1, Ordering::Relaxed);
        if shard.inputs.send(ShardInput::Attach(Box::new(leg))).is_err() {
            shard.legs.fetch_sub(1, Ordering::Relaxed);
            return Err(MediaError::EngineStopped);
        }
        Ok(MediaLeg { commands: LegCommands { id, shard: shard.inputs.clone() }, events: event_rx, local_port, finished: finished_rx })
    }
}
