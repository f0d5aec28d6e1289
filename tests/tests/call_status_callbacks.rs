//! Issue #13 item 13: call status callbacks. An outbound call placed with
//! `status_callback` reports `ringing` (the callee's 180), `answered` and
//! `completed` to a receiver on loopback, signed like `[events]` deliveries
//! (with no `[events].url` at all); the flow it runs is named by its
//! `flow:` and loaded from the flows directory on first use, and its own
//! flow-level callback (which the request's replaced) hears a busy call's
//! `completed` with the SIP status. An inbound call whose flow has a
//! `status_callback:` reports `ringing` (our 180), `answered`,
//! `transferred` (a blind REFER accepted) and `completed`. Bad requests get
//! a 4xx with a JSON body naming the field or the flow.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use centralita_e2e::{free_udp_port, http_post, record_rtp, repo_root, sipp_done, sipp_ok, sipp_uas, wait_bound, Gateway, Scratch};
use serde_json::{json, Value};

const SECRET: &str = "s3cret";

/// One POST the receiver got.
struct Delivery {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    /// The body, after checking the signature as a receiver must.
    fn verified(&self) -> Value {
        let ts = self.header("x-centralita-timestamp");
        let sig = self.header("x-centralita-signature");
        assert!(
            sip_gateway::outbox_dispatcher::verify_signature(SECRET, ts, self.body.as_bytes(), sig),
            "bad signature: {:?}",
            self.headers
        );
        assert!(!sip_gateway::outbox_dispatcher::verify_signature("wrong", ts, self.body.as_bytes(), sig));
        let age = ts.parse::<i64>().unwrap() - std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!(age.abs() < 300, "timestamp {ts} is off by {age} s");
        assert_eq!(self.header("x-centralita-event"), "call_status");
        let body: Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(self.header("idempotency-key"), body["idempotency_key"].as_str().unwrap());
        body
    }
}

/// An HTTP receiver on 127.0.0.1 (OS-chosen port) answering every POST 200.
fn receiver() -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim_end().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut stream = reader.into_inner();
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send(Delivery { path, headers, body: String::from_utf8_lossy(&body).into_owned() }).is_err() {
                break;
            }
        }
    });
    (base, rx)
}

/// The next `n` deliveries (bounded wait), as verified bodies in the order
/// of their `sequence`; each delivered to `path`.
fn statuses(rx: &mpsc::Receiver<Delivery>, n: usize, path: &str, gw: &Gateway) -> Vec<Value> {
    let mut got: Vec<Value> = (0..n)
        .map(|i| {
            let d = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("status {} of {n} never came\n{}", i + 1, gw.log_text()));
            assert_eq!(d.path, path);
            d.verified()
        })
        .collect();
    got.sort_by_key(|b| b["sequence"].as_u64());
    got
}

fn names(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().map(|b| b["status"].as_str().unwrap_or_default()).collect()
}

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

/// A flows directory: `greet.yaml` (the default flow) and `campaign.yaml`
/// (not loaded at start: no route names it), whose own callback goes to
/// `flow_callback`.
fn flows_dir(dir: &Path, flow_callback: &str) -> std::path::PathBuf {
    let greet = "flow: greet\nstart: hi\nnodes:\n  hi:\n    say: \"Hello.\"\n    hangup: true\n";
    std::fs::write(dir.join("greet.yaml"), greet).unwrap();
    let campaign = format!(
        "flow: campaign\nstatus_callback: {flow_callback}\nstart: offer\nnodes:\n  offer:\n    say: \"Hello {{{{name}}}}. Your cart is waiting.\"\n    hangup: true\n"
    );
    std::fs::write(dir.join("campaign.yaml"), campaign).unwrap();
    let broken = "flow: broken\nstart: nowhere\nnodes:\n  hi:\n    hangup: true\n";
    std::fs::write(dir.join("broken.yaml"), broken).unwrap();
    dir.join("greet.yaml")
}

fn gateway(flows: &Path, callee_port: u16) -> Gateway {
    // No [events].url: status callbacks carry their own URL.
    let tables = format!(
        "[events]\nsecret = \"{SECRET}\"\npoll_ms = 100\n\
         [[trunks]]\nname = \"sipp\"\nuri = \"sip:127.0.0.1:{callee_port}\"\nfrom_user = \"5550100\"\n"
    );
    Gateway::start_with_tables("ring_timeout = 5", 60, flows, &tables)
}

#[test]
fn an_outbound_call_reports_ringing_answered_completed_and_a_busy_one_its_sip_status() {
    let dir = Scratch::new("status-out");
    let (base, deliveries) = receiver();
    let port = free_udp_port();
    let gw = gateway(&flows_dir(&dir.0, &format!("{base}/flow")), port);

    // The request's callback (three of the four statuses) replaces the flow's.
    let rec = record_rtp();
    let sipp = sipp_uas(&scenario("uas_answer.xml"), &[("RTP_PORT", rec.port.to_string())], port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let callback = json!({"url": format!("{base}/calls/status"), "events": ["ringing", "answered", "completed"]});
    let body = json!({"number": "+5491155550000", "flow": "campaign", "variables": {"name": "Ana"}, "status_callback": callback});
    let (status, placed) = http_post(gw.api, "/v1/calls", Some(&gw.token), &body);
    assert_eq!(status, 202, "a flow by name from the flows directory: {placed}");
    let id = placed["id"].as_str().unwrap().to_string();
    let got = statuses(&deliveries, 3, "/calls/status", &gw);
    sipp_done(sipp, Duration::from_secs(30));
    let cap = rec.stop();
    assert!(cap.loud_packets > 25, "the callee heard campaign's prompt: {cap:?}");
    assert_eq!(names(&got), ["ringing", "answered", "completed"]);
    for (i, b) in got.iter().enumerate() {
        assert_eq!(b["call_id"], id.as_str(), "{b}");
        assert_eq!(b["sequence"], i as u64 + 1);
        assert_eq!(b["idempotency_key"], format!("status:{id}:{}", b["status"].as_str().unwrap()));
        assert_eq!((b["direction"].as_str(), b["flow"].as_str()), (Some("outbound"), Some("campaign")), "{b}");
        // As the call's record says them (the caller ID in E.164 too).
        assert_eq!((b["called"].as_str(), b["caller"].as_str()), (Some("+5491155550000"), Some("+5550100")), "{b}");
        assert!(b["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{b}");
    }
    assert_eq!(got[0]["sip_status"], 180, "{}", got[0]);
    let done = &got[2];
    assert_eq!((done["outcome"].as_str(), done["hangup_side"].as_str()), (Some("completed"), Some("gateway")), "{done}");
    assert!(done["duration_ms"].as_u64().is_some_and(|ms| ms > 500), "the prompt played: {done}");
    assert!(done["sip_status"].is_null(), "{done}");
    let (_, call) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    assert_eq!(
        (done["answered_at"].as_str(), done["ended_at"].as_str()),
        (call["answered_at"].as_str(), call["ended_at"].as_str()),
        "{call:#}"
    );
    assert_eq!((call["flow"].as_str(), call["caller"].as_str()), (Some("campaign"), done["caller"].as_str()), "{call:#}");

    // Without one in the request, the flow's own (every status) hears a busy callee.
    let busy = sipp_uas(&scenario("uas_busy.xml"), &[], port, &["-m", "1"], &dir.0);
    wait_bound(port);
    let (status, placed) = http_post(gw.api, "/v1/calls", Some(&gw.token), &json!({"number": "5550001", "flow": "campaign"}));
    assert_eq!(status, 202, "{placed}");
    let got = statuses(&deliveries, 1, "/flow", &gw);
    sipp_done(busy, Duration::from_secs(30));
    assert_eq!(names(&got), ["completed"], "no 180 came: no ringing");
    let done = &got[0];
    assert_eq!(done["call_id"], placed["id"]);
    assert_eq!((done["outcome"].as_str(), done["hangup_side"].as_str()), (Some("busy"), Some("caller")), "{done}");
    assert_eq!((done["sip_status"].as_u64(), done["duration_ms"].as_u64()), (Some(486), Some(0)), "{done}");
    assert!(done["answered_at"].is_null());
    assert!(deliveries.recv_timeout(Duration::from_millis(700)).is_err(), "one delivery per status");
}

#[test]
fn an_inbound_call_reports_every_status_its_flow_asks_for() {
    let dir = Scratch::new("status-in");
    let (base, deliveries) = receiver();
    // The demo flow with a flow-level callback: 0 is a blind transfer.
    let demo = std::fs::read_to_string(repo_root().join("flows/demo.yaml")).unwrap();
    let demo = demo.replacen("\nflow: demo\n", &format!("\nflow: demo\nstatus_callback: {{ url: \"{base}/inbound\" }}\n"), 1);
    assert!(demo.contains("status_callback"), "demo.yaml starts with `flow: demo` on its own line");
    let flow = dir.0.join("demo.yaml");
    std::fs::write(&flow, demo).unwrap();
    let tables = format!("[events]\nsecret = \"{SECRET}\"\npoll_ms = 100\n");
    let gw = Gateway::start_with_tables("answer_delay_ms = 300", 20, &flow, &tables);

    let rtp = record_rtp();
    let vars = [("RTP_PORT", rtp.port.to_string()), ("SIPFRAG", "200 OK".to_string())];
    sipp_ok(&scenario("refer_rfc4733.xml"), &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    rtp.stop();
    let got = statuses(&deliveries, 4, "/inbound", &gw);
    assert_eq!(names(&got), ["ringing", "answered", "transferred", "completed"]);
    let id = got[0]["call_id"].as_str().unwrap().to_string();
    for b in &got {
        assert_eq!(
            (b["call_id"].as_str(), b["direction"].as_str(), b["flow"].as_str()),
            (Some(id.as_str()), Some("inbound"), Some("demo")),
            "{b}"
        );
        assert_eq!(b["called"], "5550100");
    }
    assert_eq!(got[0]["sip_status"], 180, "our 180 during answer_delay_ms");
    let transfer = &got[2]["transfer"];
    assert_eq!((transfer["mode"].as_str(), transfer["outcome"].as_str()), (Some("blind"), Some("referred")), "{transfer}");
    assert!(transfer["target"].as_str().is_some_and(|t| t.starts_with("sip:agent@127.0.0.1:5070")), "{transfer}");
    let done = &got[3];
    assert_eq!((done["outcome"].as_str(), done["hangup_side"].as_str()), (Some("transferred"), Some("gateway")), "{done}");
    assert!(done["duration_ms"].as_u64().is_some_and(|ms| ms >= 1_000), "1.5 s of menu before the key: {done}");
    let (_, call) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    assert_eq!(call["outcome"], "transferred", "{call:#}");
    assert_eq!(done["ended_at"], call["ended_at"]);
}

#[test]
fn bad_callbacks_and_unknown_or_broken_flows_get_a_4xx_naming_them() {
    let dir = Scratch::new("status-bad");
    let gw = gateway(&flows_dir(&dir.0, "http://127.0.0.1:9/flow"), free_udp_port());
    let post = |body: Value| http_post(gw.api, "/v1/calls", Some(&gw.token), &body);

    let (status, body) = post(json!({"number": "5550001", "flow": "ventas_no"}));
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("\"ventas_no\""), "names the flow: {body}");

    let (status, body) = post(json!({"number": "5550001", "flow": "broken"}));
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("\"broken\"") && error.contains("broken.yaml:2:1: start node `nowhere`"), "{body}");
    assert_eq!(body["diagnostics"][0]["line"], 2, "{body}");

    let (status, body) = post(json!({"number": "5550001", "status_callback": "ftp://crm.example/status"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`status_callback`"), "{body}");
    let (status, body) = post(json!({"number": "5550001", "status_callback": {"url": "http://h/s", "events": ["rung"]}}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("status_callback") && body["error"].as_str().unwrap().contains("rung"), "{body}");
    let (status, body) = post(json!({"number": "5550001", "status_callback": {"url": "http://h/s", "events": []}}));
    assert_eq!(status, 400, "{body}");

    let (_, page) = gw.api_get("/v1/calls", Some(&gw.token));
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(0), "refused calls leave no record: {page}");
}
