//! Issue #12, warm transfer end to end: SIPp as the caller and SIPp as the
//! agent's phone, the media of both legs on sockets this test owns. The
//! caller presses 0 (RFC 4733); the agent's INVITE carries the context (the
//! agent scenario checks User-to-User, X-Centralita-* and Call-Info); the
//! agent hears the whisper (loud RTP), presses 1; then each side's audio
//! reaches the other through the gateway (PCMU caller ↔ PCMA agent:
//! transcoded, re-stamped with the other leg's SSRC), a key is relayed as
//! RFC 4733, and the agent's BYE ends both legs with one record. A busy
//! agent sends the caller back to the flow's `busy` node.

#[path = "support/two_way.rs"]
mod two_way;

use std::time::Duration;

use centralita_e2e::{free_udp_port, sipp_spawn, sipp_uas, Gateway, Scratch};
use media::Codec;
use two_way::{loud, rms, scenario, sipp_errors, tone, urlencode, wait, Rtp};

fn flow_for(agent_port: u16, dir: &Scratch) -> std::path::PathBuf {
    let yaml = scenario("warm_flow.yaml").replace("@AGENT@", &format!("sip:agent@127.0.0.1:{agent_port}"));
    let path = dir.0.join("warm_flow.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn accepted_warm_transfer_bridges_caller_and_agent_until_the_agent_hangs_up() {
    let dir = Scratch::new("warm-accept");
    let agent_port = free_udp_port();
    let gw = Gateway::start_full("", 20, &flow_for(agent_port, &dir));
    let mut caller = Rtp::new(0x1111_1111);
    let mut agent = Rtp::new(0x2222_2222);
    let agent_vars = [("RTP_PORT", agent.port().to_string()), ("TALK_MS", "9000".to_string()), ("CODEC_PT", "8".to_string())];
    let mut agent_sipp = sipp_uas(&scenario("warm_agent.xml"), &agent_vars, agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);

    // The menu plays to the caller; 0 asks for a person.
    let gw_caller_rtp = caller.until_loud(Duration::from_secs(15)).expect("the menu prompt reaches the caller");
    caller.key(gw_caller_rtp, 0);
    // The agent answers and hears the whisper.
    let gw_agent_rtp = agent
        .until_loud(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the whisper reaches the agent; SIPp: {}\ngateway log:\n{}", sipp_errors(&dir), gw.log_text()));
    let (during_whisper, _) = caller.receive_for(Duration::from_millis(300));
    assert!(during_whisper.iter().any(|p| p.pt == 0), "the caller hears hold music meanwhile, not silence");
    // A second and a half of the whisper, as the agent hears it: speech
    // (loud frames whose loudness comes and goes), not a tone or silence.
    let (whisper, _) = agent.receive_for(Duration::from_millis(1500));
    let levels: Vec<f64> = whisper.iter().filter(|p| p.pt == 8).map(|p| rms(&p.payload, 8)).collect();
    assert!(levels.len() >= 50, "the whisper is a 20 ms stream: {} packets", levels.len());
    let voiced: Vec<f64> = levels.iter().copied().filter(|&r| r > 300.0).collect();
    let mean = voiced.iter().sum::<f64>() / voiced.len().max(1) as f64;
    let spread = (voiced.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / voiced.len().max(1) as f64).sqrt() / mean.max(1.0);
    assert!(
        voiced.len() * 10 >= levels.len() * 3 && spread > 0.25,
        "speech-like: {} of {} frames loud, level spread {spread:.2}",
        voiced.len(),
        levels.len()
    );
    agent.key(gw_agent_rtp, 1);
    std::thread::sleep(Duration::from_millis(300));
    let _ = agent.receive_for(Duration::from_millis(100));
    let _ = caller.receive_for(Duration::from_millis(100));

    // Bridged: the caller talks for 1 s (PCMU tone); the agent hears it as PCMA with the agent leg's SSRC.
    for n in 0..50 {
        caller.send(gw_caller_rtp, 0, n == 0, &tone(Codec::Pcmu, n), 160);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (heard_by_agent, _) = agent.receive_for(Duration::from_millis(300));
    let relayed: Vec<_> = heard_by_agent.iter().filter(|p| p.pt == 8 && loud(&p.payload, 8)).collect();
    assert!(
        relayed.len() >= 45,
        "the caller's 50 packets reach the agent transcoded to PCMA: {} of {}",
        relayed.len(),
        heard_by_agent.len()
    );
    let agent_ssrcs: std::collections::BTreeSet<u32> = heard_by_agent.iter().map(|p| p.ssrc).collect();
    assert_eq!(agent_ssrcs.len(), 1, "one continuous stream towards the agent");

    // The agent talks back (PCMA tone); the caller hears PCMU.
    for n in 0..50u32 {
        agent.send(gw_agent_rtp, 8, n == 0, &tone(Codec::Pcma, n), 160);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (heard_by_caller, _) = caller.receive_for(Duration::from_millis(300));
    let back: Vec<_> = heard_by_caller.iter().filter(|p| p.pt == 0 && loud(&p.payload, 0)).collect();
    assert!(back.len() >= 45, "the agent's 50 packets reach the caller as PCMU: {} of {}", back.len(), heard_by_caller.len());

    // A key from the caller is relayed to the agent as RFC 4733.
    caller.key(gw_caller_rtp, 5);
    let (events, _) = agent.receive_for(Duration::from_millis(300));
    assert!(events.iter().any(|p| p.pt == 101 && p.payload.first() == Some(&5)), "digit 5 relayed: {events:?}");

    // The agent hangs up (after TALK_MS): both SIPp ends finish cleanly.
    let caller_status = wait(&mut caller_sipp, Duration::from_secs(30));
    let agent_status = wait(&mut agent_sipp, Duration::from_secs(30));
    assert!(agent_status.success(), "agent SIPp failed (context headers checked by its scenario): {agent_status:?}\n{}", gw.log_text());
    assert!(caller_status.success(), "caller SIPp failed: {caller_status:?}");
    assert!(gw.wait_idle(Duration::from_secs(10)), "both legs ended");

    let (status, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(status, 200);
    let call = &calls["calls"][0];
    assert_eq!(call["outcome"], "transferred", "{call}");
    let id = call["id"].as_str().unwrap();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(id)), Some(&gw.token));
    let t = &detail["transfers"][0];
    assert_eq!((t["mode"].as_str(), t["ok"].as_bool()), (Some("warm"), Some(true)), "{detail}");
    assert!(t["answered_ms"].as_i64().is_some_and(|ms| ms > 0), "time to agent recorded: {t}");
    // The agent's screen-pop reads how the call came and what they heard.
    let (_, context) = gw.api_get(&format!("/v1/calls/{}/context", urlencode(id)), Some(&gw.token));
    assert_eq!(context["transfer"]["mode"], "warm", "{context}");
    assert_eq!(context["transfer"]["whisper"], "Call from 5551234 who wants a person. Press 1 to accept.", "{context}");
    let (_, kpis) = gw.api_get("/v1/kpis", Some(&gw.token));
    assert_eq!(kpis["total"]["time_to_agent_samples"], 1, "{kpis}");
    assert_eq!(kpis["total"]["effective_handoff_pct"], 100.0, "a bridged warm transfer is an effective handoff: {kpis}");
}

#[test]
fn a_busy_agent_sends_the_caller_to_the_busy_node() {
    let dir = Scratch::new("warm-busy");
    let agent_port = free_udp_port();
    let gw = Gateway::start_full("", 20, &flow_for(agent_port, &dir));
    let mut caller = Rtp::new(0x3333_3333);
    let mut agent_sipp = sipp_uas(&scenario("uas_busy.xml"), &[], agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    let gw_rtp = caller.until_loud(Duration::from_secs(15)).expect("menu");
    caller.key(gw_rtp, 0);
    assert!(wait(&mut agent_sipp, Duration::from_secs(20)).success(), "the agent's phone got the INVITE and answered 486");
    assert!(wait(&mut caller_sipp, Duration::from_secs(30)).success(), "the flow's busy node hangs up the caller");
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    let id = calls["calls"][0]["id"].as_str().unwrap().to_string();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(&id)), Some(&gw.token));
    let nodes: Vec<&str> =
        detail["steps"].as_array().unwrap().iter().filter(|s| s["kind"] == "node").filter_map(|s| s["node"].as_str()).collect();
    assert_eq!(nodes, ["welcome", "to_agent", "busy"], "{detail}");
    let t = &detail["transfers"][0];
    assert_eq!((t["ok"].as_bool(), t["result_code"].as_i64()), (Some(false), Some(486)), "{t}");
    assert_eq!(calls["calls"][0]["outcome"], "completed");
}

#[test]
fn an_agent_pbx_that_challenges_gets_the_trunks_digest_answer() {
    let dir = Scratch::new("warm-auth");
    let agent_port = free_udp_port();
    // The agent's PBX is a [[trunks]] entry: its `uri` says where, its
    // credentials answer the PBX's challenge (`allow` keeps the loopback
    // caller in).
    let trunk = format!(
        "[[trunks]]\nname = \"pbx\"\nallow = [\"127.0.0.0/8\"]\nuri = \"sip:127.0.0.1:{agent_port}\"\nusername = \"desk\"\npassword = \"s3cret\"\n"
    );
    let gw = Gateway::start_with_tables("", 20, &flow_for(agent_port, &dir), &trunk);
    let mut caller = Rtp::new(0x8888_8888);
    let vars = [("USER", "desk".to_string()), ("PASS", "s3cret".to_string())];
    let mut agent_sipp = sipp_uas(&scenario("uas_auth.xml"), &vars, agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    let gw_rtp = caller.until_loud(Duration::from_secs(15)).expect("menu");
    caller.key(gw_rtp, 0);
    assert!(wait(&mut agent_sipp, Duration::from_secs(20)).success(), "the PBX verified the digest: {}", sipp_errors(&dir));
    assert!(wait(&mut caller_sipp, Duration::from_secs(30)).success(), "the busy node hangs up the caller");
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    let id = calls["calls"][0]["id"].as_str().unwrap().to_string();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(&id)), Some(&gw.token));
    let t = &detail["transfers"][0];
    assert_eq!(t["result_code"].as_i64(), Some(486), "verified (a wrong digest gets 403 from the scenario): {t}");
}

#[test]
fn an_agent_by_host_name_is_resolved_and_dialled() {
    let dir = Scratch::new("warm-dns");
    let agent_port = free_udp_port();
    let flow = flow_for(agent_port, &dir);
    let yaml = std::fs::read_to_string(&flow).unwrap().replace("sip:agent@127.0.0.1:", "sip:agent@localhost:");
    std::fs::write(&flow, yaml).unwrap();
    let gw = Gateway::start_full("", 20, &flow);
    let mut caller = Rtp::new(0x9999_9999);
    let mut agent_sipp = sipp_uas(&scenario("uas_busy.xml"), &[], agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    let gw_rtp = caller.until_loud(Duration::from_secs(15)).expect("menu");
    caller.key(gw_rtp, 0);
    assert!(
        wait(&mut agent_sipp, Duration::from_secs(20)).success(),
        "localhost resolved, the INVITE reached the agent: {}",
        gw.log_text()
    );
    assert!(wait(&mut caller_sipp, Duration::from_secs(30)).success());
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    let id = calls["calls"][0]["id"].as_str().unwrap().to_string();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(&id)), Some(&gw.token));
    let t = &detail["transfers"][0];
    assert_eq!(
        (t["target"].as_str(), t["result_code"].as_i64()),
        (Some(format!("sip:agent@localhost:{agent_port}").as_str()), Some(486)),
        "{t}"
    );
}

/// One call to the warm flow whose agent (a SIPp UAS playing `agent`) does
/// not take it: (the transfer's outcome and code, the nodes walked).
fn not_taken(
    gw: &Gateway,
    dir: &Scratch,
    agent_port: u16,
    agent: &str,
    vars: &[(&str, String)],
    decline: Option<&mut Rtp>,
) -> (serde_json::Value, Vec<String>) {
    let mut caller = Rtp::new(0xaaaa_0001);
    let mut agent_sipp = sipp_uas(agent, vars, agent_port, &["-m", "1"], &dir.0);
    let mut caller_sipp =
        sipp_spawn(&scenario("warm_caller.xml"), &[("RTP_PORT", caller.port().to_string())], gw.sip_udp, &["-m", "1"], &dir.0);
    let gw_rtp = caller.until_loud(Duration::from_secs(15)).expect("menu");
    caller.key(gw_rtp, 0);
    if let Some(agent_rtp) = decline {
        let gw_agent = agent_rtp.until_loud(Duration::from_secs(15)).expect("the whisper");
        agent_rtp.key(gw_agent, 2);
    }
    assert!(wait(&mut caller_sipp, Duration::from_secs(40)).success(), "the flow's sorry node hangs up the caller: {}", sipp_errors(dir));
    let _ = wait(&mut agent_sipp, Duration::from_secs(20));
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    let id = calls["calls"][0]["id"].as_str().unwrap().to_string();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{}", urlencode(&id)), Some(&gw.token));
    let nodes = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "node")
        .filter_map(|s| s["node"].as_str().map(String::from))
        .collect();
    (detail["transfers"][0].clone(), nodes)
}

#[test]
fn an_agent_who_declines_never_answers_or_fails_returns_the_caller_to_the_flow() {
    let dir = Scratch::new("warm-not-taken");
    let agent_port = free_udp_port();
    let gw = Gateway::start_full("", 20, &flow_for(agent_port, &dir));
    let path = ["welcome", "to_agent", "sorry"].map(String::from).to_vec();

    // 503: failed at once.
    let unavailable = scenario("uas_busy.xml").replace("486 Busy Here", "503 Service Unavailable");
    let (t, nodes) = not_taken(&gw, &dir, agent_port, &unavailable, &[], None);
    assert_eq!((t["outcome"].as_str(), t["result_code"].as_i64(), nodes), (Some("failed"), Some(503), path.clone()), "{t}");

    // Rings past the node's 8 s timeout: CANCEL, no_answer.
    let (t, nodes) = not_taken(&gw, &dir, agent_port, &scenario("uas_noanswer.xml"), &[], None);
    assert_eq!((t["outcome"].as_str(), t["result_code"].as_i64(), nodes), (Some("no_answer"), Some(480), path.clone()), "{t}");

    // Answers, hears the whisper, presses 2.
    let mut agent = Rtp::new(0xaaaa_0002);
    let vars = [("RTP_PORT", agent.port().to_string()), ("CODEC_PT", "0".to_string())];
    // Answers, then waits for our BYE.
    let answering = scenario("release_agent.xml");
    let (t, nodes) = not_taken(&gw, &dir, agent_port, &answering, &vars, Some(&mut agent));
    assert_eq!((t["outcome"].as_str(), t["result_code"].as_i64(), nodes), (Some("declined"), Some(603), path), "{t}");
}
