//! Issue #15 item 1: one admin request must not stall SIP. Deeply nested
//! flow sources (the 100,000 levels in 200 KB took 38 s to parse
//! on the async workers, and two at once left OPTIONS and a caller's BYE
//! unanswered for ~45 s) are sent several at a time while a SIPp call
//! plays and hangs up and OPTIONS are asked: every PUT gets a JSON 4xx
//! naming the limit, every OPTIONS its 200, the call's BYE its 200.
//! Nothing is timed beyond "answered" (each wait is an upper bound).

use std::time::{Duration, Instant};

use centralita_e2e::{http_put, record_rtp, repo_root, sipp_spawn, udp_exchange, Gateway, Scratch};

fn options(id: &str) -> String {
    format!(
        "OPTIONS sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK{id}\r\nFrom: <sip:monitor@127.0.0.1>;tag={id}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn deep_flow_puts_are_refused_while_sip_keeps_answering() {
    let dir = Scratch::new("flows-isolation");
    let flow_path = dir.0.join("demo.yaml");
    let original = std::fs::read_to_string(repo_root().join("flows/demo.yaml")).expect("demo flow");
    std::fs::write(&flow_path, &original).expect("copy demo flow");
    let gw = Gateway::start_full("", 60, &flow_path);

    // A call that listens to the prompt for 3 s, then hangs up (BYE -> 200).
    let rtp = record_rtp();
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).expect("scenario");
    let vars = [("RTP_PORT", rtp.port.to_string()), ("HOLD_MS", "3000".to_string())];
    let mut call = sipp_spawn(&scenario, &vars, gw.sip_udp, &["-m", "1", "-timeout_error"], &dir.0);
    let until = Instant::now() + Duration::from_secs(30);
    while gw.api_get("/v1/calls/live", Some(&gw.token)).1["calls"].as_array().is_none_or(|c| c.is_empty()) {
        assert!(Instant::now() < until, "the call never went live");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Several abusive sources at once, from their own threads.
    let sources: Vec<(&str, String)> = vec![
        ("depth", format!("flow: demo\nstart: a\nnodes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))),
        ("depth", format!("flow: demo\nstart: a\nnodes: {}{}\n", "{a: ".repeat(50_000), "}".repeat(50_000))),
        ("depth", format!("flow: demo\nstart: a\nnodes:\n  {}x\n", "- ".repeat(100_000))),
        ("depth", (0..1_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect()),
        ("nodes", format!("flow: demo\nstart: a\nnodes: [{}]\n", "1,".repeat(300_000))),
        ("size", format!("flow: demo\n#{}\n", "x".repeat(1024 * 1024))),
    ];
    let api = gw.api;
    let token = gw.token.clone();
    let puts: Vec<_> = sources
        .into_iter()
        .map(|(limit, body)| {
            let token = token.clone();
            std::thread::spawn(move || (limit, http_put(api, "/v1/flows/demo", Some(&token), "application/yaml", &body)))
        })
        .collect();

    // Meanwhile SIP answers.
    for i in 0..5 {
        let r = udp_exchange(gw.sip_udp, options(&format!("iso{i}")).as_bytes(), Duration::from_secs(10)).expect("OPTIONS answered");
        assert!(r.starts_with("SIP/2.0 200"), "{r}");
    }
    for put in puts {
        let (limit, (status, v)) = put.join().expect("PUT thread");
        let expected = if limit == "size" { 413 } else { 422 };
        assert_eq!(status, expected, "{limit}: {v}");
        assert_eq!(v["limit"].as_str(), Some(limit), "{v}");
        assert!(v["error"].as_str().is_some_and(|e| e.contains("flow rejected")), "{v}");
    }
    let status = call.wait().expect("sipp");
    assert!(status.success(), "the call's BYE was not answered ({status}); see {}", dir.0.display());
    let heard = rtp.stop();
    assert!(heard.loud_packets > 0, "the call heard its prompt while the PUTs ran: {heard:?}");

    // Nothing was taken; a valid version still is, through the same path.
    let (status, flow) = gw.api_get("/v1/flows/demo", Some(&gw.token));
    assert_eq!((status, flow["source"].as_str()), (200, Some(original.as_str())));
    let next = original.replacen("flow: demo", "flow: demo\nversion: isolation-2", 1);
    let (status, v) = http_put(gw.api, "/v1/flows/demo", Some(&gw.token), "application/yaml", &next);
    assert_eq!((status, v["version"].as_str()), (200, Some("isolation-2")), "{v}");
}
