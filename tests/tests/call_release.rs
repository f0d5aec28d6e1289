//! Issue #12, `release: refer` end to end (RFC 5589 §7, RFC 3891): a warm
//! transfer is accepted and bridged, then the gateway REFERs the caller's
//! side to the agent's Contact with `Replaces` naming its agent dialog (the
//! caller's SIPp scenario checks the Refer-To). A caller's side that
//! accepts (202, NOTIFY 200) gets the gateway's BYE, the agent's leg too,
//! and the record says `released`; one that refuses (603) stays bridged:
//! its audio still reaches the agent until the agent hangs up.

#[path = "support/two_way.rs"]
mod two_way;

use std::time::Duration;

use centralita_e2e::{free_udp_port, sipp_spawn, sipp_uas, Gateway, Scratch};
use media::Codec;
use two_way::{loud, scenario, sipp_errors, tone, urlencode, wait, Rtp};

fn release_flow(agent_port: u16, dir: &Scratch) -> std::path::PathBuf {
    let yaml = scenario("warm_flow.yaml")
        .replace("@AGENT@", &format!("sip:agent@127.0.0.1:{agent_port}"))
        .replace("      timeout: 8s\n", "      timeout: 8s\n      release: refer\n");
    assert!(yaml.contains("release: refer"), "the flow asks for the release");
    let path = dir.0.join("release_flow.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The caller pressed 0, the agent heard the whisper and pressed 1.
fn bridge(gw: &Gateway, dir: &Scratch, caller: &mut Rtp, agent: &mut Rtp) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let gw_caller_rtp = caller.until_loud(Duration::from_secs(15)).expect("the menu prompt reaches the caller");
    caller.key(gw_caller_rtp, 0);
    let gw_agent_rtp = agent
        .until_loud(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the whisper reaches the agent; SIPp: {}\ngateway log:\n{}", sipp_errors(dir), gw.log_text()));
    agent.key(gw_agent_rtp, 1);
    (gw_caller_rtp, gw_agent_rtp)
}

fn release_steps(gw: &Gateway) -> (serde_json::Value, Vec<String>) {
    let (status, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(status, 200);
    let call = calls["calls"][0].clone();
    let id = call["id"].as_str().expect("a call record").to_string();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(&id)), Some(&gw.token));
    let steps = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "release")
        .filter_map(|s| s["detail"].as_str().map(String::from))
        .collect();
    (call, steps)
}

#[test]
fn an_accepted_refer_with_replaces_takes_the_gateway_out_of_the_call() {
    let dir = Scratch::new("release-ok");
    let agent_port = free_udp_port();
    let gw = Gateway::start_full("", 20, &release_flow(agent_port, &dir));
    let mut caller = Rtp::new(0x4444_4444);
    let mut agent = Rtp::new(0x5555_5555);
    let mut agent_sipp = sipp_uas(
        &scenario("release_agent.xml"),
        &[("RTP_PORT", agent.port().to_string()), ("CODEC_PT", "0".into())],
        agent_port,
        &["-m", "1"],
        &dir.0,
    );
    let mut caller_sipp =
        sipp_spawn(&scenario("release_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    bridge(&gw, &dir, &mut caller, &mut agent);
    let caller_status = wait(&mut caller_sipp, Duration::from_secs(30));
    assert!(
        caller_status.success(),
        "the caller's side got a REFER with Replaces, NOTIFYed 200 and got our BYE: {caller_status:?}\nSIPp: {}\n{}",
        sipp_errors(&dir),
        gw.log_text()
    );
    assert!(wait(&mut agent_sipp, Duration::from_secs(30)).success(), "the agent's old leg got our BYE: {}", sipp_errors(&dir));
    assert!(gw.wait_idle(Duration::from_secs(10)), "both legs ended");
    let (call, steps) = release_steps(&gw);
    assert_eq!(call["outcome"], "transferred", "{call}");
    assert_eq!(steps, ["released (200): caller and agent talk directly"]);
}

#[test]
fn a_refused_refer_keeps_the_bridge() {
    let dir = Scratch::new("release-refused");
    let agent_port = free_udp_port();
    let gw = Gateway::start_full("", 20, &release_flow(agent_port, &dir));
    let mut caller = Rtp::new(0x6666_6666);
    let mut agent = Rtp::new(0x7777_7777);
    let agent_vars = [("RTP_PORT", agent.port().to_string()), ("TALK_MS", "9000".to_string()), ("CODEC_PT", "8".to_string())];
    let mut agent_sipp = sipp_uas(&scenario("warm_agent.xml"), &agent_vars, agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("release_refused_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    let (gw_caller_rtp, _) = bridge(&gw, &dir, &mut caller, &mut agent);
    // The REFER is refused at once; the caller's voice still reaches the agent.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while release_steps_now(&gw).is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in 0..50 {
        caller.send(gw_caller_rtp, 0, n == 0, &tone(Codec::Pcmu, n), 160);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (heard, _) = agent.receive_for(Duration::from_millis(300));
    let relayed = heard.iter().filter(|p| p.pt == 8 && loud(&p.payload, 8)).count();
    assert!(relayed >= 45, "bridged after the refusal: {relayed} of 50 tone packets reached the agent");
    assert!(wait(&mut agent_sipp, Duration::from_secs(30)).success(), "the agent hung up: {}", sipp_errors(&dir));
    assert!(wait(&mut caller_sipp, Duration::from_secs(30)).success(), "the caller got our BYE: {}", sipp_errors(&dir));
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let (call, steps) = release_steps(&gw);
    assert_eq!(call["outcome"], "transferred", "{call}");
    assert_eq!(steps, ["refused (603): REFER rejected with 603; bridge kept"]);
}

/// The live call's release steps (empty until the REFER's answer).
fn release_steps_now(gw: &Gateway) -> Vec<String> {
    gw.log_text().lines().filter(|l| l.contains("release refused")).map(String::from).collect()
}
