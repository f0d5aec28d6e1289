//! Issue #3: the dialog beyond the happy path: a call over TCP, hold by
//! re-INVITE (a=sendonly answered a=recvonly, RFC 3264 §8.4), and the RTP
//! inactivity hang-up that prevents zombie calls.

use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, record_rtp, repo_root, sipp_messages, sipp_ok, Gateway, Scratch};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

#[test]
fn call_over_tcp_is_referred_and_hung_up() {
    let gw = Gateway::start();
    let dir = Scratch::new("tcp");
    let rtp = record_rtp();
    let vars = [("RTP_PORT", rtp.port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    // SIP INFO for the digit: with -t t1 everything shares one TCP connection.
    sipp_ok(&scenario("refer_603.xml"), &vars, gw.sip_tcp, &["-m", "1", "-t", "t1"], &dir.0);
    let cap = rtp.stop();
    assert!(cap.loud_packets > 10, "prompt heard over a TCP-signalled call: {cap:?}");
    assert!(gw.log_text().contains("transfer succeeded"));
    assert!(gw.wait_idle(Duration::from_secs(5)));
}

#[test]
fn reinvite_to_hold_is_answered_recvonly_and_stops_our_audio() {
    let gw = Gateway::start();
    let dir = Scratch::new("hold");
    let rtp = record_rtp();
    let vars = [("RTP_PORT", rtp.port.to_string())];
    sipp_ok(&scenario("reinvite_hold.xml"), &vars, gw.sip_udp, &["-m", "1", "-trace_msg"], &dir.0);
    let cap = rtp.stop();
    assert!(gw.log_text().contains("RecvOnly"), "direction change logged");
    // When SIPp got the re-INVITE's 200 (a=recvonly, checked by the
    // scenario) and when it sent the BYE, on the clock the capture uses.
    let msgs = sipp_messages(&dir.0);
    let held = msgs
        .iter()
        .find(|m| !m.sent && m.first_line().starts_with("SIP/2.0 200") && m.cseq() == Some("2 INVITE"))
        .unwrap_or_else(|| panic!("no 200 to the re-INVITE in SIPp's log: {msgs:#?}"))
        .at;
    let bye = msgs.iter().find(|m| m.sent && m.first_line().starts_with("BYE ")).expect("SIPp sent the BYE").at;
    let before = cap.arrivals.iter().filter(|&&t| t < held).count();
    assert!(before > 5, "audio before the hold: {before} packets; {cap:?}");
    // Packets already in flight when the 200 left may still land just after it.
    let quiet_from = held + Duration::from_millis(100);
    assert!(bye > quiet_from + Duration::from_millis(500), "the scenario holds for 1 s before its BYE");
    let during = cap.packets_between(quiet_from, bye);
    assert_eq!(during, 0, "kept sending while on hold: {during} packets between the 200 (+100 ms) and the BYE");
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
