//! A test-owned, two-way RTP peer for the bridged-call tests (warm
//! transfer, `release: refer`): the SDP points a leg's media at its socket;
//! it sends tones and RFC 4733 keys from there and reads what the gateway
//! relays. Plus the small helpers those tests share. Included with
//! `#[path]` by each test file, so not every file uses every item.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use centralita_e2e::{repo_root, Scratch};
use media::Codec;

pub(crate) fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

/// A test-owned RTP endpoint: sends from, and receives on, one socket.
pub(crate) struct Rtp {
    socket: UdpSocket,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub(crate) pt: u8,
    pub(crate) ssrc: u32,
    pub(crate) payload: Vec<u8>,
}

impl Rtp {
    pub(crate) fn new(ssrc: u32) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Rtp { socket, seq: 1, ts: 0, ssrc }
    }

    pub(crate) fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    pub(crate) fn send(&mut self, to: SocketAddr, pt: u8, marker: bool, payload: &[u8], advance: u32) {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.socket.send_to(&p, to).unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(advance);
    }

    /// An RFC 4733 key: a start packet and three end packets.
    pub(crate) fn key(&mut self, to: SocketAddr, event: u8) {
        self.send(to, 101, true, &[event, 0x0a, 0x00, 0xa0], 0);
        for _ in 0..3 {
            self.send(to, 101, false, &[event, 0x8a, 0x03, 0x20], 0);
        }
        self.ts = self.ts.wrapping_add(800);
    }

    /// Everything received for `d`, with the gateway's address.
    pub(crate) fn receive_for(&self, d: Duration) -> (Vec<Packet>, Option<SocketAddr>) {
        let until = Instant::now() + d;
        let (mut got, mut from) = (Vec::new(), None);
        let mut buf = [0u8; 1500];
        while Instant::now() < until {
            if let Ok((n, src)) = self.socket.recv_from(&mut buf) {
                from = Some(src);
                let b = &buf[..n];
                got.push(Packet { pt: b[1] & 0x7f, ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]), payload: b[12..].to_vec() });
            }
        }
        (got, from)
    }

    /// Waits (at most `within`) for a loud audio packet; returns the sender.
    pub(crate) fn until_loud(&self, within: Duration) -> Option<SocketAddr> {
        let until = Instant::now() + within;
        let mut buf = [0u8; 1500];
        while Instant::now() < until {
            if let Ok((n, src)) = self.socket.recv_from(&mut buf) {
                if n > 12 && buf[1] & 0x7f != 101 && loud(&buf[12..n], buf[1] & 0x7f) {
                    return Some(src);
                }
            }
        }
        None
    }
}

/// RMS above 300 (of 32768): speech or a tone, not silence or comfort noise.
pub(crate) fn loud(payload: &[u8], pt: u8) -> bool {
    rms(payload, pt) > 300.0
}

/// The RMS of a G.711 payload (PCMA for payload type 8, else PCMU).
pub(crate) fn rms(payload: &[u8], pt: u8) -> f64 {
    let codec = if pt == 8 { Codec::Pcma } else { Codec::Pcmu };
    let mut pcm = vec![0i16; payload.len()];
    codec.decode(payload, &mut pcm);
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / pcm.len().max(1) as f64;
    energy.sqrt()
}

/// Frame `n` of a 400 Hz tone (20 ms), in `codec`.
pub(crate) fn tone(codec: Codec, n: u32) -> Vec<u8> {
    let pcm: Vec<i16> =
        (0..160).map(|i| ((((n * 160 + i) as f32 / 8000.0) * 400.0 * std::f32::consts::TAU).sin() * 8000.0) as i16).collect();
    let mut out = vec![0u8; 160];
    codec.encode(&pcm, &mut out);
    out
}

pub(crate) fn wait(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// SIPp's error logs in `dir`, for failure messages.
pub(crate) fn sipp_errors(dir: &Scratch) -> String {
    std::fs::read_dir(&dir.0)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}
