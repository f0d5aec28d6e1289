//! Issue #3: the dialog beyond the happy path: a call over TCP, hold by
//! re-INVITE (a=sendonly answered a=recvonly, RFC 3264 §8.4), and the RTP
//! inactivity hang-up that prevents zombie calls.

use std::time::{Duration, Instant};

use centralita_e2e::{capture_rtp, free_udp_port, repo_root, sipp_ok, Gateway, Scratch};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

#[test]
fn call_over_tcp_is_referred_and_hung_up() {
    let gw = Gateway::start();
    let dir = Scratch::new("tcp");
    let (rtp_port, cap) = capture_rtp(Duration::from_secs(4));
    let vars = [("RTP_PORT", rtp_port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    // SIP INFO for the digit: with -t t1 everything shares one TCP connection.
    sipp_ok(&scenario("refer_603.xml"), &vars, gw.sip_tcp, &["-m", "1", "-t", "t1"], &dir.0);
    let cap = cap.join().expect("capture");
    assert!(cap.loud_packets > 10, "prompt heard over a TCP-signalled call: {cap:?}");
    assert!(gw.log_text().contains("transfer succeeded"));
    assert!(gw.wait_idle(Duration::from_secs(5)));
}

#[test]
fn reinvite_to_hold_is_answered_recvonly_and_stops_our_audio() {
    let gw = Gateway::start();
    let dir = Scratch::new("hold");
    let (rtp_port, cap) = capture_rtp(Duration::from_millis(2500));
    let vars = [("RTP_PORT", rtp_port.to_string())];
    let started = Instant::now();
    sipp_ok(&scenario("reinvite_hold.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let cap = cap.join().expect("capture");
    assert!(cap.packets > 5, "audio before the hold: {cap:?}");
    assert!(gw.log_text().contains("RecvOnly"), "direction change logged");
    // On hold (we are recvonly) we must not send: at 50 packets/s for the
    // ~1.3 s the call lasted before hold was applied plus margin, far fewer
    // packets than the whole call time would give.
    let call_ms = started.elapsed().as_millis() as usize;
    assert!(cap.packets < call_ms / 20, "kept sending while on hold: {} packets in {call_ms} ms", cap.packets);
}

#[test]
fn silent_caller_is_hung_up_after_rtp_inactivity() {
    let gw = Gateway::start_custom("", 2);
    let dir = Scratch::new("inactive");
    let vars = [("RTP_PORT", free_udp_port().to_string())];
    let t0 = Instant::now();
    sipp_ok(&scenario("inactivity.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    assert!(t0.elapsed() >= Duration::from_secs(2), "BYE before the inactivity timeout");
    assert!(gw.log_text().contains("inactivity"), "{}", gw.log_text());
}

#[test]
fn sigterm_hangs_up_active_calls_and_exits_cleanly() {
    let mut gw = Gateway::start();
    let dir = Scratch::new("shutdown");
    let vars = [("RTP_PORT", free_udp_port().to_string())];
    // The caller waits for the gateway's BYE (inactivity is 20 s, far away).
    let target = gw.sip_udp;
    let scen = scenario("inactivity.xml");
    let dir_path = dir.0.clone();
    let caller = std::thread::spawn(move || sipp_ok(&scen, &vars, target, &["-m", "1"], &dir_path));
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && gw.api_get("/v1/calls/live", Some(&gw.token)).1["calls"].as_array().is_none_or(|a| a.is_empty()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = gw.terminate(Duration::from_secs(15)).expect("gateway exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    caller.join().expect("the caller got its BYE and answered it");
    let log = gw.log_text();
    assert!(log.contains("gateway shutting down") && log.contains("all calls ended"), "{log}");
}
