//! Issue #4 in a real call: a flow's CRM look-up webhook is performed by the
//! gateway (HTTP to a local server standing in for the CRM), its answer
//! lands in flow variables, and those reach the agent's transfer context.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use centralita_e2e::{capture_rtp, repo_root, sipp_ok, Gateway, Scratch};

const FLOW: &str = r#"flow: crm
language: en-US
start: lookup
nodes:
  lookup:
    webhook:
      name: crm_lookup
      method: GET
      url: "http://@CRM@/contacts?phone={{caller}}"
      timeout: 3s
      map: { crm.name: contact.first_name }
    on: { done: greet, failed: greet_unknown }
  greet:
    say: "Hello {{crm.name}}. To talk to a person press 0."
    gather: { digits: 1, timeout: 5s, retries: 1 }
    intents:
      agent: { dtmf: "0" }
    on: { agent: to_agent, no_input: greet, no_match: greet, exhausted: to_agent }
  greet_unknown:
    say: "Hello. To talk to a person press 0."
    gather: { digits: 1, timeout: 5s, retries: 1 }
    intents:
      agent: { dtmf: "0" }
    on: { agent: to_agent, no_input: greet_unknown, no_match: greet_unknown, exhausted: to_agent }
  to_agent:
    transfer: { to: "${transfer.agent_uri}", mode: blind, context: [caller, intent, variables] }
    on: { failed: bye }
  bye:
    say: "Goodbye."
    hangup: true
"#;

/// Serves one HTTP request with a JSON contact; returns the request head.
fn fake_crm() -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut head = String::new();
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let body = r#"{"contact":{"first_name":"Ana","last_name":"Paz"}}"#;
        write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            .expect("write");
        head
    });
    (addr, h)
}

#[test]
fn crm_lookup_feeds_the_greeting_and_the_agent_context() {
    let (crm, served) = fake_crm();
    let dir = Scratch::new("webhook");
    let flow = dir.0.join("crm.yaml");
    std::fs::write(&flow, FLOW.replace("@CRM@", &crm)).expect("flow");
    let gw = Gateway::start_full("", 20, &flow);
    let (rtp_port, _cap) = capture_rtp(Duration::from_millis(100));
    let vars = [("RTP_PORT", rtp_port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/refer_rfc4733.xml")).expect("scenario");
    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0);

    let head = served.join().expect("crm thread");
    assert!(head.starts_with("GET /contacts?phone=1234 HTTP/1.1"), "{head}");
    let call_id = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().starts_with("x-centralita-call-id:").then(|| l.split_once(':').map(|x| x.1.trim().to_string()))
        })
        .flatten()
        .expect("X-Centralita-Call-Id header");
    let log = gw.log_text();
    assert!(log.contains("webhook answered"), "{log}");
    assert!(log.contains("node=greet") && !log.contains("node=greet_unknown"), "the success path: {log}");
    let (status, ctx) = gw.api_get(&format!("/v1/calls/{call_id}/context"), Some(&gw.token));
    assert_eq!(status, 200, "{ctx}");
    assert_eq!(ctx["variables"]["crm.name"], "Ana", "{ctx}");
    // The look-up is a step of the call's record: the URL without its query.
    let id: String =
        call_id.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let (_, detail) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    let webhook = detail["steps"].as_array().into_iter().flatten().find(|s| s["kind"] == "webhook").expect("a webhook step");
    let line = webhook["detail"].as_str().unwrap_or_default();
    assert!(line.starts_with(&format!("crm_lookup: GET http://{crm}/contacts → 200 in ")), "{line}");
    assert!(!line.contains("phone="), "no query values in the record: {line}");
}
