//! RTP receivers for the end-to-end tests: a UDP socket on loopback that
//! the SDP points the gateway's audio at, recording what arrives (packet
//! and marker counts, payload types, µ-law loudness, arrival times).
//!
//! [`record_rtp`] records from the moment its socket exists until the test
//! calls [`RtpRecorder::stop`] (after SIPp returns): the window is the call
//! itself, so a slow start on a busy box cannot push the audio out of it.
//! [`capture_rtp`] is the older fixed window, for tests that only need to
//! give the gateway a socket to send to.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What an RTP receiver saw.
#[derive(Debug, Default, Clone)]
pub struct RtpCapture {
    pub packets: usize,
    /// Packets whose µ-law payload is above silence level.
    pub loud_packets: usize,
    pub markers: Vec<Instant>,
    pub payload_types: Vec<u8>,
    pub first_at: Option<Instant>,
    /// Wall-clock arrival of every RTP packet (to compare with SIPp's
    /// message log, see [`crate::sipp_messages`]).
    pub arrivals: Vec<SystemTime>,
    /// Wall-clock arrival of each of the `loud_packets`.
    pub loud_arrivals: Vec<SystemTime>,
}

impl RtpCapture {
    /// Packets that arrived strictly between `from` and `to`.
    pub fn packets_between(&self, from: SystemTime, to: SystemTime) -> usize {
        self.arrivals.iter().filter(|&&t| t > from && t < to).count()
    }

    /// Loud packets that arrived strictly between `from` and `to`.
    pub fn loud_between(&self, from: SystemTime, to: SystemTime) -> usize {
        self.loud_arrivals.iter().filter(|&&t| t > from && t < to).count()
    }

    fn record(&mut self, packet: &[u8]) {
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            return;
        }
        let (now, wall) = (Instant::now(), SystemTime::now());
        self.arrivals.push(wall);
        self.packets += 1;
        self.first_at.get_or_insert(now);
        let pt = packet[1] & 0x7f;
        if !self.payload_types.contains(&pt) {
            self.payload_types.push(pt);
        }
        if packet[1] & 0x80 != 0 {
            self.markers.push(now);
        }
        if pt == 0 && ulaw_rms(&packet[12..]) > 300.0 {
            self.loud_packets += 1;
            self.loud_arrivals.push(wall);
        }
    }
}

fn bind() -> (UdpSocket, u16) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind rtp capture");
    let port = sock.local_addr().expect("addr").port();
    sock.set_read_timeout(Some(Duration::from_millis(100))).ok();
    (sock, port)
}

/// Binds a UDP socket for RTP and records what arrives for `for_how_long`
/// from now.
pub fn capture_rtp(for_how_long: Duration) -> (u16, JoinHandle<RtpCapture>) {
    let (sock, port) = bind();
    let h = std::thread::spawn(move || {
        let mut cap = RtpCapture::default();
        let until = Instant::now() + for_how_long;
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            if let Ok(n) = sock.recv(&mut buf) {
                cap.record(&buf[..n]);
            }
        }
        cap
    });
    (port, h)
}

/// An RTP receiver recording until [`RtpRecorder::stop`].
pub struct RtpRecorder {
    pub port: u16,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<RtpCapture>,
}

/// Binds a UDP socket for RTP and records everything that arrives until
/// `stop` is called.
pub fn record_rtp() -> RtpRecorder {
    let (sock, port) = bind();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut cap = RtpCapture::default();
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::SeqCst) {
            if let Ok(n) = sock.recv(&mut buf) {
                cap.record(&buf[..n]);
            }
        }
        // What was already queued when we were told to stop.
        sock.set_nonblocking(true).ok();
        while let Ok(n) = sock.recv(&mut buf) {
            cap.record(&buf[..n]);
        }
        cap
    });
    RtpRecorder { port, stop, handle }
}

impl RtpRecorder {
    /// Stops recording and returns what arrived.
    pub fn stop(self) -> RtpCapture {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("rtp recorder thread")
    }
}

/// RMS of µ-law bytes as linear samples.
pub fn ulaw_rms(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let sum: f64 = bytes.iter().map(|&b| f64::from(ulaw_to_linear(b)).powi(2)).sum();
    (sum / bytes.len() as f64).sqrt()
}

/// G.711 µ-law expansion (ITU-T G.711), for checking what we hear.
pub fn ulaw_to_linear(b: u8) -> i16 {
    let u = !b;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0f;
    let magnitude = ((i32::from(mantissa) << 3) + 0x84) << exponent;
    let v = magnitude - 0x84;
    (if sign != 0 { -v } else { v }) as i16
}
