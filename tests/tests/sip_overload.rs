//! Issue #15 item 5, overload control (`[limits]`): an INVITE flood from
//! one loopback address (SIPp bound to 127.0.0.2) while 20 healthy calls
//! from another (127.0.0.1) run. Every healthy call completes with audio,
//! the flood is throttled (503 with Retry-After, then dropped once its
//! source is banned), OPTIONS from the healthy address keep their 200, and
//! the metrics count the rejections by reason. And: every overload 503
//! carries Retry-After, the exhausted RTP port range's included.
//!
//! Nothing here is timed: the test waits for events (a metric moving, SIPp
//! exiting, an answer arriving).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, http_get_text, record_rtp, repo_root, sipp_ok, Gateway, Scratch};

const FLOOD_IP: &str = "127.0.0.2";

/// A counter or gauge from `/metrics` (0 when absent).
fn metric(gw: &Gateway, series: &str) -> f64 {
    let (status, text) = http_get_text(gw.api, "/metrics");
    assert_eq!(status, 200);
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

fn rejections(gw: &Gateway, reason: &str, action: &str) -> f64 {
    metric(gw, &format!("centralita_overload_rejections_total{{reason=\"{reason}\",action=\"{action}\"}} "))
}

/// Waits for `cond` (re-checked every 50 ms), failing after `limit`:
/// an upper bound on an event, not a timing assertion.
fn await_event(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < until, "{what}: not seen within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One datagram from `from` (any port) to `to`; the first final answer, if any.
fn udp_from(from: &str, to: SocketAddr, msg: &str, wait: Duration) -> Option<String> {
    let s = UdpSocket::bind((from.parse::<IpAddr>().expect("ip"), 0)).expect("bind source");
    s.set_read_timeout(Some(Duration::from_millis(100))).ok();
    s.send_to(msg.as_bytes(), to).expect("send");
    let (until, mut buf) = (Instant::now() + wait, [0u8; 65536]);
    while Instant::now() < until {
        if let Ok(n) = s.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).is_some_and(|c| c >= 200) {
                return Some(text);
            }
        }
    }
    None
}

fn options(from: &str, id: &str) -> String {
    format!(
        "OPTIONS sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from}:9;rport;branch=z9hG4bK{id}\r\nFrom: <sip:monitor@{from}>;tag={id}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn invite(id: &str, rtp_port: u16) -> String {
    let sdp = format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    format!(
        "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK{id}\r\nFrom: <sip:caller@127.0.0.1>;tag={id}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:9>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

#[test]
fn a_flood_from_one_address_is_throttled_while_healthy_calls_complete_with_audio() {
    let limits = "[limits]\nmax_calls = 200\nmax_cps = 50\nmax_cps_per_source = 10\nsource_rate = 40\n\
                  ban_seconds = 120\nban_action = \"drop\"\nretry_after = 5\n";
    let gw = Gateway::start_with_tables("", 20, &repo_root().join("flows/demo.yaml"), limits);
    let dir = Scratch::new("overload");

    // The flood: 150 calls/s from 127.0.0.2 for 15 s.
    let flood_sf = dir.0.join("flood.xml");
    let flood = std::fs::read_to_string(repo_root().join("tests/scenarios/flood_uac.xml")).expect("scenario");
    std::fs::write(&flood_sf, flood.replace("@RTP_PORT@", &free_udp_port().to_string()).replace("@HOLD_MS@", "0")).expect("write scenario");
    let mut flood = Command::new("sipp")
        .arg(gw.sip_udp.to_string())
        .arg("-sf")
        .arg(&flood_sf)
        .args(["-i", FLOOD_IP, "-p", &free_udp_port().to_string(), "-mi", FLOOD_IP, "-mp", &free_udp_port().to_string()])
        .args(["-nostdin", "-nd", "-r", "150", "-l", "3000", "-m", "2250", "-recv_timeout", "2000", "-timeout", "120s"])
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp (install it with scripts/install-deps.sh)");

    // Throttled (503 with Retry-After), then banned (dropped).
    await_event("the flood's per-source call rate refused", Duration::from_secs(30), || rejections(&gw, "source_cps", "rejected") > 0.0);
    await_event("the flood's source banned", Duration::from_secs(30), || rejections(&gw, "source_rate", "dropped") > 0.0);

    // A monitor on the healthy address is answered meanwhile.
    let r = udp_from("127.0.0.1", gw.sip_udp, &options("127.0.0.1", "mon1"), Duration::from_secs(10)).expect("OPTIONS answered");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");

    // 20 healthy calls from 127.0.0.1, each with its own RTP receiver.
    let recorders: Vec<_> = (0..20).map(|_| record_rtp()).collect();
    let csv = dir.0.join("ports.csv");
    let lines: String = recorders.iter().map(|r| format!("{};\n", r.port)).collect();
    std::fs::write(&csv, format!("SEQUENTIAL\n{lines}")).expect("write csv");
    let healthy = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).expect("scenario");
    let healthy = healthy.replace("@RTP_PORT@", "[field0]");
    let csv_arg = csv.display().to_string();
    sipp_ok(&healthy, &[("HOLD_MS", "4000".to_string())], gw.sip_udp, &["-m", "20", "-l", "20", "-r", "5", "-inf", &csv_arg], &dir.0);
    for (i, rec) in recorders.into_iter().enumerate() {
        let cap = rec.stop();
        assert!(cap.loud_packets >= 25, "healthy call {i} heard {} loud packets of {}", cap.loud_packets, cap.packets);
    }
    let flood_was_running = flood.try_wait().expect("flood status").is_none();

    let status = flood.wait().expect("flood sipp");
    eprintln!("flood sipp exited {status}; still running when the healthy calls ended: {flood_was_running}");
    let metrics = http_get_text(gw.api, "/metrics").1;
    let overload: Vec<&str> = metrics.lines().filter(|l| l.starts_with("centralita_overload_rejections_total{")).collect();
    let invites = metric(&gw, "centralita_sip_requests_received_total{method=\"INVITE\"} ");
    eprintln!("INVITEs received: {invites}; {overload:#?}");
    assert!(rejections(&gw, "source_cps", "rejected") >= 1.0);
    assert!(rejections(&gw, "banned", "dropped") >= 1.0, "{overload:#?}");
    assert_eq!(rejections(&gw, "max_cps", "rejected"), 0.0, "the flood refused for its own rate took no global tokens");
    assert!(metric(&gw, "centralita_banned_sources ") >= 1.0);

    // Still banned: nothing at all for its OPTIONS (counted, not answered),
    // while the monitor's keep their 200.
    let before = rejections(&gw, "banned", "dropped");
    let _ = udp_from(FLOOD_IP, gw.sip_udp, &options(FLOOD_IP, "banned1"), Duration::from_millis(10));
    await_event("the banned source's OPTIONS dropped", Duration::from_secs(10), || rejections(&gw, "banned", "dropped") > before);
    let r = udp_from("127.0.0.1", gw.sip_udp, &options("127.0.0.1", "mon2"), Duration::from_secs(10)).expect("OPTIONS answered");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
}

/// Two consecutive loopback UDP ports, held (bound) by the test: an RTP
/// port range the gateway can never bind.
fn hold_two_ports() -> (UdpSocket, UdpSocket, u16) {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = a.local_addr().expect("addr").port();
        if p == u16::MAX {
            continue;
        }
        if let Ok(b) = UdpSocket::bind(("127.0.0.1", p + 1)) {
            return (a, b, p);
        }
    }
    panic!("no two consecutive free UDP ports");
}

#[test]
fn every_overload_503_carries_retry_after_and_options_are_still_answered() {
    let (_a, _b, port) = hold_two_ports();
    let limits = "[limits]\nmax_cps_per_source = 0.01\nsource_rate = 0.01\nsource_burst = 3\nban_seconds = 60\n\
                  ban_action = \"503\"\nretry_after = 7\n";
    let flow = repo_root().join("flows/demo.yaml");
    let gw = Gateway::start_rtp_tables("", 20, &flow, limits, &format!("{port}-{}", port + 1));
    let wait = Duration::from_secs(10);
    let dead = free_udp_port();

    // 1. Admitted by every limit, but the RTP port range is exhausted.
    let r = udp_from("127.0.0.1", gw.sip_udp, &invite("ovl1", dead), wait).expect("an answer");
    assert!(r.starts_with("SIP/2.0 503") && r.contains("no RTP port"), "{r}");
    assert_eq!(header(&r, "Retry-After"), Some("7"), "{r}");
    // 2. Over the source's call rate.
    let r = udp_from("127.0.0.1", gw.sip_udp, &invite("ovl2", dead), wait).expect("an answer");
    assert!(r.starts_with("SIP/2.0 503") && r.contains("too many new calls"), "{r}");
    assert_eq!(header(&r, "Retry-After"), Some("7"), "{r}");
    // 3. OPTIONS are not calls: answered.
    let r = udp_from("127.0.0.1", gw.sip_udp, &options("127.0.0.1", "ovl3"), wait).expect("an answer");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    // 4. The fourth request exceeds the source's burst of 3: banned, told for how long.
    let r = udp_from("127.0.0.1", gw.sip_udp, &options("127.0.0.1", "ovl4"), wait).expect("an answer");
    assert!(r.starts_with("SIP/2.0 503") && r.contains("too many requests"), "{r}");
    assert_eq!(header(&r, "Retry-After"), Some("60"), "{r}");
    // 5. Banned: 503 with the rest of the ban.
    let r = udp_from("127.0.0.1", gw.sip_udp, &options("127.0.0.1", "ovl5"), wait).expect("an answer");
    assert!(r.starts_with("SIP/2.0 503"), "{r}");
    let left: u64 = header(&r, "Retry-After").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&left), "{r}");

    for (reason, n) in [("no_rtp_port", 1.0), ("source_cps", 1.0), ("source_rate", 1.0), ("banned", 1.0)] {
        assert_eq!(rejections(&gw, reason, "rejected"), n, "{reason}");
    }
}
