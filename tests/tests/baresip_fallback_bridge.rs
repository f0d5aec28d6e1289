//! Issue #12: baresip calls a flow whose blind transfer has `fallback:
//! bridge`. baresip does not complete the REFER, so the gateway dials the
//! agent (SIPp) itself and bridges; the agent's BYE ends both legs. The
//! record holds both attempts: the blind one failed, the bridged one ok.

use std::time::Duration;

use centralita_e2e::{baresip_config, baresip_dial, free_udp_port, repo_root, sipp_uas, Gateway, Scratch};

#[test]
fn baresip_refusing_refer_is_bridged_to_the_agent() {
    let dir = Scratch::new("baresip-fallback");
    let d = &dir.0;
    let agent_port = free_udp_port();
    let flow = format!(
        "flow: fallback_e2e\nstart: to_agent\nnodes:\n  to_agent:\n    say: \"Connecting you to a person.\"\n    \
         transfer: {{ to: \"sip:agent@127.0.0.1:{agent_port}\", mode: blind, context: [caller], fallback: bridge }}\n    \
         on: {{ failed: sorry }}\n  sorry:\n    say: \"Sorry.\"\n    hangup: true\n"
    );
    std::fs::write(d.join("flow.yaml"), flow).unwrap();
    let gw = Gateway::start_full("", 20, &d.join("flow.yaml"));
    let agent_rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/agent_answer_bye.xml")).unwrap();
    let vars =
        [("RTP_PORT", agent_rtp.local_addr().unwrap().port().to_string()), ("TALK_MS", "3000".to_string()), ("CODEC_PT", "0".to_string())];
    let mut agent = sipp_uas(&scenario, &vars, agent_port, &["-m", "1"], d);

    baresip_config(d, false);
    let baresip_log = baresip_dial(d, &format!("sip:5550100@{}", gw.sip_udp), 12);
    let agent_status = agent.wait().unwrap();
    let gw_log = gw.log_text();
    assert!(agent_status.success(), "the agent's SIPp got no bridged call:\nbaresip:\n{baresip_log}\ngateway:\n{gw_log}");
    assert!(gw_log.contains("bridging to the agent instead"), "the REFER failed and the fallback ran:\n{gw_log}");
    assert!(gw.wait_idle(Duration::from_secs(10)), "the agent's BYE ended the caller's leg too");

    let (_, calls) = gw.api_get("/v1/calls", Some(&gw.token));
    let call = &calls["calls"][0];
    assert_eq!(call["outcome"], "transferred", "{call}");
    let id: String = call["id"]
        .as_str()
        .unwrap()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    let attempts: Vec<(String, bool)> = detail["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["mode"].as_str().unwrap_or_default().to_string(), t["ok"].as_bool().unwrap_or_default()))
        .collect();
    assert_eq!(attempts, [("blind".to_string(), false), ("warm".to_string(), true)], "{detail}");
}
