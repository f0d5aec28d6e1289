//! Issue #6, outbound calls: `POST /v1/calls` makes the gateway call a
//! SIPp UAS through a `[[trunks]]` entry; the callee hears the flow's
//! prompt; busy, no answer (CANCEL at the ring timeout) and a digest
//! challenge from the trunk end as the records say; the do-not-call list
//! and missing consent refuse the call before any SIP.

use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, http_post, record_rtp, repo_root, sipp_done, sipp_uas, wait_bound, Gateway, Scratch};
use serde_json::{json, Value};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

/// A gateway whose one trunk points at 127.0.0.1:`callee_port`.
fn gateway(callee_port: u16, trunk_extra: &str) -> Gateway {
    let flow = repo_root().join("tests/scenarios/outbound_flow.yaml");
    let consent_flow = repo_root().join("tests/scenarios/outbound_consent_flow.yaml");
    let tables = format!(
        "[flows.routes]\n\"7770\" = \"{}\"\n[[trunks]]\nname = \"sipp\"\nuri = \"sip:127.0.0.1:{callee_port}\"\nfrom_user = \"5550100\"\n{trunk_extra}\n",
        consent_flow.display()
    );
    Gateway::start_with_tables("ring_timeout = 1", 60, &flow, &tables)
}

fn dial(gw: &Gateway, body: Value) -> (u16, Value) {
    http_post(gw.api, "/v1/calls", Some(&gw.token), &body)
}

/// Polls the stored call until it has ended.
fn ended_call(gw: &Gateway, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, call) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
        if status == 200 && call["ended_at"].is_string() {
            return call;
        }
        assert!(Instant::now() < until, "call {id} never ended: {status} {call:#}\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn answered_outbound_call_plays_the_flow_and_is_recorded() {
    let dir = Scratch::new("outbound");
    let port = free_udp_port();
    let gw = gateway(port, "");
    let rec = record_rtp();
    let sipp = sipp_uas(&scenario("uas_answer.xml"), &[("RTP_PORT", rec.port.to_string())], port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let (status, placed) = dial(&gw, json!({"number": "+5491155550000", "variables": {"name": "Ana"}}));
    assert_eq!(status, 202, "{placed}");
    let id = placed["call_id"].as_str().expect("call_id").to_string();
    let call = ended_call(&gw, &id);
    sipp_done(sipp, Duration::from_secs(20));
    let cap = rec.stop();
    assert!(cap.loud_packets > 25, "the callee heard the prompt: {cap:?}");
    assert_eq!(call["direction"], "outbound", "{call:#}");
    assert_eq!(call["outcome"], "completed", "the flow hung up: {call:#}");
    assert_eq!(call["called"], "+5491155550000");
    assert!(call["answered_at"].is_string() && call["first_prompt_at"].is_string(), "{call:#}");
    assert_eq!(call["flow"], "cart_recovery", "the flow's name, as /v1/flows says it: {call:#}");
    assert!(gw.log_text().contains("outbound call answered"));
}

#[test]
fn a_trunk_whose_port_is_closed_fails_the_call_at_once_with_the_icmp_error() {
    // Nothing listens on the trunk's port: the kernel answers the INVITE
    // with ICMP port unreachable, which fails its transaction as a 503
    // (RFC 3261 §8.1.3.1) instead of Timer B or the ring timeout.
    let port = free_udp_port();
    let gw = gateway(port, "");
    let (status, placed) = dial(&gw, json!({"number": "5550003"}));
    assert_eq!(status, 202, "{placed}");
    let call = ended_call(&gw, placed["call_id"].as_str().unwrap());
    assert_eq!(call["outcome"], "failed", "{call:#}");
    let cause = call["hangup_cause"].as_str().unwrap_or_default();
    assert!(cause.contains("503") && cause.contains("refused"), "the SIP status and the ICMP error are recorded: {call:#}");
}

#[test]
fn busy_and_no_answer_are_recorded() {
    let dir = Scratch::new("outbound-fail");
    let port = free_udp_port();
    let gw = gateway(port, "");
    let busy = sipp_uas(&scenario("uas_busy.xml"), &[], port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let (status, placed) = dial(&gw, json!({"number": "5550001"}));
    assert_eq!(status, 202, "{placed}");
    let call = ended_call(&gw, placed["call_id"].as_str().unwrap());
    sipp_done(busy, Duration::from_secs(20));
    assert_eq!(call["outcome"], "busy", "{call:#}");
    assert!(call["answered_at"].is_null(), "{call:#}");

    // Rings past `ring_timeout = 1`: CANCEL, 487, no_answer.
    let ringing = sipp_uas(&scenario("uas_noanswer.xml"), &[], port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let (status, placed) = dial(&gw, json!({"number": "5550002"}));
    assert_eq!(status, 202, "{placed}");
    let call = ended_call(&gw, placed["call_id"].as_str().unwrap());
    sipp_done(ringing, Duration::from_secs(20));
    assert_eq!(call["outcome"], "no_answer", "{call:#}");
}

#[test]
fn a_challenging_trunk_gets_the_digest_it_asked_for() {
    let dir = Scratch::new("outbound-auth");
    let port = free_udp_port();
    let gw = gateway(port, "username = \"acme\"\npassword = \"s3cret\"");
    let vars = [("USER", "acme".to_string()), ("PASS", "s3cret".to_string())];
    let sipp = sipp_uas(&scenario("uas_auth.xml"), &vars, port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let (status, placed) = dial(&gw, json!({"number": "5550003"}));
    assert_eq!(status, 202, "{placed}");
    let call = ended_call(&gw, placed["call_id"].as_str().unwrap());
    sipp_done(sipp, Duration::from_secs(20));
    // SIPp answers a valid digest with 486 and a wrong one with 403.
    assert_eq!(call["outcome"], "busy", "the trunk accepted our credentials: {call:#}");
}

#[test]
fn do_not_call_and_missing_consent_refuse_before_any_sip() {
    let gw = gateway(free_udp_port(), "");
    let (status, body) = dial(&gw, json!({"number": "12"}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = dial(&gw, json!({"number": "5550004", "flow": "no_such_flow"}));
    assert_eq!(status, 404, "{body}");
    let (status, _) = http_put_dnc(&gw, "5550005");
    assert!(status == 201 || status == 200);
    let (status, body) = dial(&gw, json!({"number": "5550005"}));
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("do-not-call"), "{body}");
    let (status, body) = dial(&gw, json!({"number": "5550006", "flow": "callback_offer"}));
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("consent"), "{body}");
    let (status, page) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(status, 200);
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(0), "refused calls leave no record: {page}");
}

fn http_put_dnc(gw: &Gateway, number: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.api).expect("connect");
    write!(
        s,
        "PUT /v1/dnc/{number} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        gw.token
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    (buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), buf)
}
