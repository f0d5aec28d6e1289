//! Issue #3 e2e 3: CANCEL before answer, caller BYE mid-prompt, and a REFER
//! answered 603 whose `failed` path plays the menu again.

use std::time::Duration;

use centralita_e2e::{record_rtp, repo_root, sipp_ok, Gateway, Scratch};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

#[test]
fn cancel_before_answer_gets_487() {
    let gw = Gateway::start_with("answer_delay_ms = 5000");
    let dir = Scratch::new("cancel");
    sipp_ok(&scenario("cancel.xml"), &[], gw.sip_udp, &["-m", "1"], &dir.0);
    assert!(gw.wait_idle(Duration::from_secs(5)), "cancelled call still listed");
}

#[test]
fn caller_bye_mid_prompt_ends_the_call() {
    let gw = Gateway::start();
    let dir = Scratch::new("bye");
    let rtp = record_rtp(); // for the whole call, stopped once SIPp is done
    let vars = [("RTP_PORT", rtp.port.to_string()), ("HOLD_MS", "1000".to_string())];
    sipp_ok(&scenario("caller_bye.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let cap = rtp.stop();
    assert!(cap.loud_packets > 10, "prompt was playing: {cap:?}");
    assert!(gw.wait_idle(Duration::from_secs(5)), "call still listed after BYE");
    assert!(gw.log_text().contains("caller hung up"));
    let (status, metrics) = centralita_e2e::http_get_text(gw.api, "/metrics");
    assert_eq!(status, 200);
    for line in [
        "centralita_calls_total{outcome=\"abandoned\",cause=\"caller_hangup\"} 1",
        "centralita_active_calls 0",
        "centralita_sip_requests_received_total{method=\"BYE\"} 1",
        "centralita_first_response_seconds_count 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line:?} missing from\n{metrics}");
    }
}

#[test]
fn refer_declined_plays_the_failed_path() {
    let gw = Gateway::start();
    let dir = Scratch::new("refer603");
    // DTMF goes by SIP INFO here, so all RTP keeps coming to our socket.
    let rtp = record_rtp(); // for the whole call, stopped once SIPp is done
    let vars = [("RTP_PORT", rtp.port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    sipp_ok(&scenario("refer_603.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let cap = rtp.stop();
    // Welcome prompt, then welcome again after the failed transfer: two
    // talkspurts, each starting with a marker bit.
    assert!(cap.markers.len() >= 2, "the failed path must play a prompt again: {cap:?}");
    let log = gw.log_text();
    assert!(log.contains("REFER rejected with 603"), "{log}");
    assert!(log.contains("transfer succeeded"), "{log}");
}

#[test]
fn cancel_after_the_answer_gets_200_and_the_call_goes_on() {
    // RFC 3261 §9.2: a CANCEL matching a transaction that already has its
    // final response is answered 200 and has no effect.
    let gw = Gateway::start();
    let dir = Scratch::new("cancel-late");
    let rtp = record_rtp(); // for the whole call, stopped once SIPp is done
    let vars = [("RTP_PORT", rtp.port.to_string()), ("HOLD_MS", "1000".to_string())];
    sipp_ok(&scenario("cancel_after_answer.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    assert!(rtp.stop().loud_packets > 10, "the prompt still plays");
    assert!(gw.log_text().contains("caller hung up"), "the call ended by the caller's BYE, not the CANCEL");
}
