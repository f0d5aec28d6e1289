//! Paced RTP peers for the bridged-call benchmark (`scripts/bench_bridge.py
//! --peers`): N phones' media in one process, as a load generator that
//! behaves like independent phones (RFC 3550 senders at 20 ms, each with its
//! own random phase) rather than SIPp's `rtp_stream`, which sends all of an
//! instance's streams in one burst per tick, and that measures what the
//! gateway adds without tcpdump.
//!
//! Each socket learns the gateway's address from the first packet it gets
//! (symmetric RTP, as the gateway latches), then sends 160-byte G.711
//! frames: a 400 Hz tone whose first 20 bytes carry a magic, the socket's
//! index, a sequence number and the send time (CLOCK_REALTIME ns, shared by
//! every process on the machine). A PCMU↔PCMU bridge relays the payload
//! untouched, so a receiving peer reads the send time back: `relay` is the
//! one-way time through loopback and the gateway. The receiver also keeps
//! each stream's arrival intervals (deviation from 20 ms: the send-interval
//! jitter of the gateway's streams as a phone hears it) and the sender its
//! own lateness against its schedule (the generator's floor).
//!
//! Usage: rtp_peers --sockets N --pt 0|8 --ports FILE --seconds S
//!        [--warmup W] [--realtime 1] --json OUT
//! `--realtime 1` runs both threads at SCHED_RR 1 (steadier figures; on a
//! box shared with SIPp it can starve SIPp's signalling).
//! FILE gets SIPp's injection format (`SEQUENTIAL`, then `port;` per line):
//! scenarios put `[field0]` in their SDP.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use media::Codec;
use mio::{Events, Interest, Poll, Token};

const MAGIC: [u8; 4] = *b"CtRl";
const FRAME: Duration = Duration::from_millis(20);

struct Args {
    sockets: usize,
    pt: u8,
    ports: String,
    seconds: f64,
    warmup: f64,
    realtime: bool,
    json: String,
}

fn args() -> Args {
    let mut a = Args { sockets: 0, pt: 0, ports: String::new(), seconds: 10.0, warmup: 0.0, realtime: false, json: String::new() };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--sockets" => a.sockets = v.parse().expect("--sockets N"),
            "--pt" => a.pt = v.parse().expect("--pt 0|8"),
            "--ports" => a.ports = v,
            "--seconds" => a.seconds = v.parse().expect("--seconds S"),
            "--warmup" => a.warmup = v.parse().expect("--warmup S"),
            "--json" => a.json = v,
            "--realtime" => a.realtime = v == "1",
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        a.sockets > 0 && !a.ports.is_empty() && !a.json.is_empty(),
        "usage: rtp_peers --sockets N --pt 0|8 --ports FILE --seconds S --json OUT"
    );
    a
}

fn realtime_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn pack(addr: SocketAddr) -> u64 {
    match addr {
        SocketAddr::V4(v4) => (u64::from(u32::from(*v4.ip())) << 16) | u64::from(v4.port()),
        SocketAddr::V6(_) => 0,
    }
}

fn unpack(v: u64) -> SocketAddr {
    SocketAddr::from((std::net::Ipv4Addr::from((v >> 16) as u32), v as u16))
}

/// Microsecond samples, kept whole: a run is a few million at most.
#[derive(Default)]
struct Samples(Vec<u32>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros().min(u128::from(u32::MAX)) as u32);
    }
    fn summary(&mut self) -> serde_json::Value {
        self.0.sort_unstable();
        let q =
            |p: f64| self.0.get(((self.0.len() as f64 * p) as usize).min(self.0.len().saturating_sub(1))).map(|&us| f64::from(us) / 1000.0);
        serde_json::json!({"samples": self.0.len(), "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": self.0.last().map(|&us| f64::from(us) / 1000.0)})
    }
}

fn try_realtime() {
    use thread_priority::{RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin);
    let _ = thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), ThreadPriority::Min, policy);
}

/// Sends every socket's frames on its own 20 ms grid, once its gateway
/// address is known.
fn sender(
    sockets: Vec<UdpSocket>,
    remotes: Arc<Vec<AtomicU64>>,
    pt: u8,
    until: Instant,
    warmup: Instant,
    realtime: bool,
) -> (u64, Samples) {
    if realtime {
        try_realtime();
    }
    let codec = if pt == 8 { Codec::Pcma } else { Codec::Pcmu };
    let pcm: Vec<i16> = (0..160).map(|i| ((i as f32 / 8000.0 * 400.0 * std::f32::consts::TAU).sin() * 6000.0) as i16).collect();
    let mut tone = vec![0u8; 160];
    codec.encode(&pcm, &mut tone);
    let start = Instant::now();
    let n = sockets.len();
    // Phases spread over the frame, as independent phones' are.
    let mut next: Vec<Instant> = (0..n).map(|_| start + FRAME.mul_f64(rand::random::<f64>())).collect();
    let (mut seq, mut ts) = (vec![0u16; n], vec![0u32; n]);
    let ssrc: Vec<u32> = (0..n).map(|_| rand::random()).collect();
    let (mut sent, mut lateness) = (0u64, Samples::default());
    let mut packet = [0u8; 172];
    while Instant::now() < until {
        let now = Instant::now();
        let mut soonest = now + FRAME;
        for i in 0..n {
            if next[i] > now {
                soonest = soonest.min(next[i]);
                continue;
            }
            let late = now - next[i];
            next[i] += FRAME;
            soonest = soonest.min(next[i]);
            let remote = remotes[i].load(Ordering::Relaxed);
            if remote == 0 {
                continue;
            }
            packet[0] = 0x80;
            packet[1] = pt | if seq[i] == 0 { 0x80 } else { 0 };
            packet[2..4].copy_from_slice(&seq[i].to_be_bytes());
            packet[4..8].copy_from_slice(&ts[i].to_be_bytes());
            packet[8..12].copy_from_slice(&ssrc[i].to_be_bytes());
            packet[12..].copy_from_slice(&tone);
            packet[12..16].copy_from_slice(&MAGIC);
            packet[16..20].copy_from_slice(&(i as u32).to_be_bytes());
            packet[20..24].copy_from_slice(&u32::from(seq[i]).to_be_bytes());
            packet[24..32].copy_from_slice(&realtime_ns().to_be_bytes());
            if sockets[i].send_to(&packet, unpack(remote)).is_ok() {
                sent += 1;
            }
            seq[i] = seq[i].wrapping_add(1);
            ts[i] = ts[i].wrapping_add(160);
            if now >= warmup {
                lateness.push(late);
            }
        }
        let wait = soonest.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
    (sent, lateness)
}

fn main() {
    let a = args();
    let mut poll = Poll::new().expect("epoll");
    let (mut receivers, mut senders, mut ports) = (Vec::new(), Vec::new(), String::from("SEQUENTIAL\n"));
    for i in 0..a.sockets {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        ports.push_str(&format!("{};\n", s.local_addr().expect("addr").port()));
        senders.push(s.try_clone().expect("clone"));
        s.set_nonblocking(true).expect("nonblocking");
        let mut m = mio::net::UdpSocket::from_std(s);
        poll.registry().register(&mut m, Token(i), Interest::READABLE).expect("register");
        receivers.push(m);
    }
    std::fs::write(&a.ports, ports).expect("ports file");
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.seconds);
    let warmup = start + Duration::from_secs_f64(a.warmup);
    let remotes: Arc<Vec<AtomicU64>> = Arc::new((0..a.sockets).map(|_| AtomicU64::new(0)).collect());
    let send_thread = {
        let remotes = remotes.clone();
        let realtime = a.realtime;
        std::thread::spawn(move || sender(senders, remotes, a.pt, until, warmup, realtime))
    };
    if a.realtime {
        try_realtime();
    }
    let (mut relay, mut jitter) = (Samples::default(), Samples::default());
    let mut last_arrival: Vec<Option<(Instant, u16)>> = vec![None; a.sockets];
    let (mut received, mut relayed, mut lost) = (0u64, 0u64, 0u64);
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        if poll.poll(&mut events, Some(Duration::from_millis(100))).is_err() {
            continue;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            while let Ok((n, from)) = receivers[i].recv_from(&mut buf) {
                let (now, wall) = (Instant::now(), realtime_ns());
                if n < 12 || buf[0] >> 6 != 2 {
                    continue;
                }
                received += 1;
                if remotes[i].load(Ordering::Relaxed) == 0 {
                    remotes[i].store(pack(from), Ordering::Relaxed);
                }
                if now < warmup {
                    continue;
                }
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                if let Some((t0, s0)) = last_arrival[i] {
                    match seq.wrapping_sub(s0) {
                        1 => jitter.push((now - t0).abs_diff(FRAME)),
                        gap @ 2..1000 => lost += u64::from(gap - 1),
                        _ => {}
                    }
                }
                last_arrival[i] = Some((now, seq));
                if buf[1] & 0x7f == 0 && n >= 32 && buf[12..16] == MAGIC {
                    relayed += 1;
                    let sent_ns = u64::from_be_bytes(buf[24..32].try_into().unwrap_or_default());
                    relay.push(Duration::from_nanos(wall.saturating_sub(sent_ns)));
                }
            }
        }
    }
    let (sent, mut lateness) = send_thread.join().expect("sender");
    let learned = remotes.iter().filter(|r| r.load(Ordering::Relaxed) != 0).count();
    let report = serde_json::json!({
        "sockets": a.sockets, "payload_type": a.pt, "streams_started": learned, "sent": sent, "received": received,
        "relayed_with_timestamp": relayed, "lost": lost,
        "relay_latency": relay.summary(), "arrival_jitter": jitter.summary(), "sender_lateness": lateness.summary(),
    });
    std::fs::write(&a.json, serde_json::to_string_pretty(&report).unwrap_or_default()).expect("json");
}
