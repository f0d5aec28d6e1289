//! The tokio edge of a call leg: binds the RTP port and runs one task that
//! owns the UDP socket and the [`RtpSession`], feeding it packets, commands
//! and the clock, and sending what it produces. All protocol rules live in
//! the session (RFC 3550 pacing, RFC 4733, latching); this file only does IO.
//!
//! Run loop (str0m's rule): wait for one input (datagram, command, timer),
//! hand it to the session, then drain `poll_transmit` and `poll_event`, then
//! sleep until `poll_timeout`. One receive and one send buffer are reused.
//! Events go out with `try_send`; if the call task is slow they wait in a
//! local queue rather than stall the media clock.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Instant;

use rand::seq::SliceRandom;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::rtp_session::{Direction, MediaEvent, RtpSession, RtpStats, MAX_PACKET_LEN};
use crate::{MediaError, Pcm};

const COMMAND_CAPACITY: usize = 32;
const EVENT_CAPACITY: usize = 64;
const RECV_BUFFER: usize = 2048;

/// Binds a UDP socket for RTP on an even port (RFC 3550 §11) of `ports`,
/// trying them in random order. `0..=0` lets the OS choose any port.
pub async fn bind_rtp_socket(address: IpAddr, ports: RangeInclusive<u16>) -> Result<(UdpSocket, u16), MediaError> {
    let (start, end) = (*ports.start(), *ports.end());
    if start == 0 && end == 0 {
        let socket = UdpSocket::bind((address, 0)).await?;
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
        match UdpSocket::bind((address, port)).await {
            Ok(socket) => return Ok((socket, port)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(MediaError::NoFreePort { address, start, end })
}

/// What the call task asks of its media leg.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Play 8 kHz audio as prompt `id`, replacing any current prompt.
    Play {
        pcm: Pcm,
        id: u64,
    },
    /// Barge-in: stop the current prompt.
    Stop,
    SetRemote(SocketAddr),
    SetDirection(Direction),
    /// End the task; it returns the final stats.
    Close,
}

/// Handle on a running media leg.
#[derive(Debug)]
pub struct MediaLeg {
    pub commands: mpsc::Sender<MediaCommand>,
    pub events: mpsc::Receiver<MediaEvent>,
    pub local_port: u16,
    /// Ends on `Close` or when `commands` is dropped, with the final stats.
    pub task: JoinHandle<RtpStats>,
}

/// Spawns the task that runs `session` on `socket`. Must be called within
/// a tokio runtime.
pub fn spawn_media_leg(socket: UdpSocket, session: RtpSession) -> MediaLeg {
    let local_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
    let task = tokio::spawn(run(socket, session, command_rx, event_tx));
    MediaLeg { commands: command_tx, events: event_rx, local_port, task }
}

/// The edge's clock. Read from tokio so that paused test time works.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn run(
    socket: UdpSocket,
    mut session: RtpSession,
    mut commands: mpsc::Receiver<MediaCommand>,
    events: mpsc::Sender<MediaEvent>,
) -> RtpStats {
    let mut recv_buf = vec![0u8; RECV_BUFFER];
    let mut send_buf = [0u8; MAX_PACKET_LEN];
    let mut backlog: VecDeque<MediaEvent> = VecDeque::new();
    loop {
        let timeout = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            command = commands.recv() => {
                let now = now();
                match command {
                    None | Some(MediaCommand::Close) => break,
                    Some(MediaCommand::Play { pcm, id }) => {
                        if let Err(e) = session.play(pcm, id, now) {
                            tracing::warn!(error = %e, id, "prompt rejected");
                            // Never leave the caller waiting for a prompt that will not play.
                            deliver(&events, &mut backlog, MediaEvent::PlaybackFinished { id });
                        }
                    }
                    Some(MediaCommand::Stop) => session.stop_playback(now),
                    Some(MediaCommand::SetRemote(addr)) => session.set_remote(addr),
                    Some(MediaCommand::SetDirection(dir)) => session.set_direction(dir),
                }
            }
            received = socket.recv_from(&mut recv_buf) => match received {
                Ok((len, source)) => session.handle_receive(&recv_buf[..len], source, now()),
                // E.g. ICMP port unreachable surfaced as ECONNREFUSED: keep going.
                Err(e) => tracing::debug!(error = %e, "RTP receive error"),
            },
            () = sleep_until(timeout) => session.handle_timeout(now()),
            permit = events.reserve(), if !backlog.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(event) = backlog.pop_front() {
                        permit.send(event);
                    }
                }
                Err(_) => backlog.clear(), // nobody listens any more
            },
        }
        while let Some((len, to)) = session.poll_transmit(&mut send_buf) {
            if let Err(e) = socket.send_to(&send_buf[..len], to).await {
                tracing::debug!(error = %e, %to, "RTP send failed");
            }
        }
        while let Some(event) = session.poll_event() {
            deliver(&events, &mut backlog, event);
        }
    }
    session.stats()
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn deliver(events: &mpsc::Sender<MediaEvent>, backlog: &mut VecDeque<MediaEvent>, event: MediaEvent) {
    if !backlog.is_empty() {
        backlog.push_back(event); // keep order behind earlier events
        return;
    }
    match events.try_send(event) {
        Ok(()) | Err(TrySendError::Closed(_)) => {}
        Err(TrySendError::Full(event)) => backlog.push_back(event),
    }
}
