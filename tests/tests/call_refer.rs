//! Issue #3 e2e 1–2: a SIPp call hears the demo prompt, presses 0 (RFC 4733
//! from SIPp's shipped pcap, or an in-band tone streamed as audio) and is
//! REFERred to the agent with User-to-User context, 202 + NOTIFY 200, then
//! the gateway hangs up.

use std::time::Duration;

use centralita_e2e::{capture_rtp, record_rtp, repo_root, sipp_messages, sipp_ok, Gateway, Scratch};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

#[test]
fn rfc4733_zero_during_prompt_is_referred_with_context() {
    let gw = Gateway::start();
    let dir = Scratch::new("refer4733");
    // SDP points RTP at our capture socket so we hear the prompt; SIPp's
    // pcap DTMF then comes from its own media port (the gateway latches).
    // Recorded for the whole call (stopped once SIPp is done), not a fixed
    // window opened before SIPp even started.
    let rtp = record_rtp();
    let vars = [("RTP_PORT", rtp.port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    sipp_ok(&scenario("refer_rfc4733.xml"), &vars, gw.sip_udp, &["-m", "1", "-trace_msg"], &dir.0);
    let cap = rtp.stop();
    // The prompt plays from the answer until the digit (SIPp waits 1.5 s
    // after its ACK): count what arrived between the ACK and the REFER.
    let msgs = sipp_messages(&dir.0);
    let acked = msgs.iter().find(|m| m.sent && m.first_line().starts_with("ACK ")).expect("SIPp sent the ACK").at;
    let referred = msgs.iter().find(|m| !m.sent && m.first_line().starts_with("REFER ")).expect("SIPp got the REFER").at;
    let prompt = cap.loud_between(acked, referred);
    assert!(prompt >= 20, "prompt audio expected before the DTMF: {prompt} loud packets between ACK and REFER; {cap:?}");
    assert_eq!(cap.payload_types, vec![0], "PCMU only");
    assert!(gw.wait_idle(Duration::from_secs(10)), "call still active after BYE");
    let log = gw.log_text();
    assert!(log.contains("sending REFER"), "{log}");
    assert!(log.contains("transfer succeeded"), "{log}");
}

#[test]
fn inband_zero_streamed_as_audio_is_referred() {
    let gw = Gateway::start();
    let dir = Scratch::new("referinband");
    let tone = dir.0.join("dtmf0.ulaw");
    make_dtmf_tone(&tone, 941.0, 1336.0);
    let (rtp_port, _cap) = capture_rtp(Duration::from_millis(100));
    let vars = [("RTP_PORT", rtp_port.to_string()), ("SIPFRAG", "200 OK".to_string()), ("TONE", tone.display().to_string())];
    sipp_ok(&scenario("refer_inband.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let log = gw.log_text();
    assert!(log.contains("InBand"), "the digit must come from the in-band detector: {log}");
    assert!(log.contains("transfer succeeded"), "{log}");
}

/// 300 ms of a DTMF dual tone then 300 ms of silence, raw µ-law at 8 kHz
/// (what SIPp's rtp_stream plays for payload type 0), made with sox.
fn make_dtmf_tone(path: &std::path::Path, low: f64, high: f64) {
    let out = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(path)
        .args(["synth", "0.3", "sine", &low.to_string(), "sine", &high.to_string(), "remix", "-", "gain", "-n", "-8", "pad", "0", "0.3"])
        .output()
        .expect("sox (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "sox failed: {}", String::from_utf8_lossy(&out.stderr));
}
