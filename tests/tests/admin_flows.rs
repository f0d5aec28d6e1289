//! Issue #6: `GET/PUT /v1/flows/{name}`. A broken version is refused with
//! its file:line diagnostics and changes nothing; a valid one is taken
//! (and saved) and the next call runs it.

use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, http_put, repo_root, sipp_ok, Gateway, Scratch};
use serde_json::Value;

fn first_node(gw: &Gateway, id: &str) -> String {
    let (_, call) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    call["steps"].as_array().and_then(|s| s.first()).and_then(|s| s["node"].as_str()).unwrap_or_default().to_string()
}

/// Ids of the stored calls, newest first.
fn call_ids(gw: &Gateway, n: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = gw.api_get("/v1/calls", Some(&gw.token));
        let ids: Vec<String> = page["calls"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str().map(String::from)).collect();
        if ids.len() >= n {
            return ids;
        }
        assert!(Instant::now() < until, "expected {n} calls: {page}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_flow_is_replaced_only_by_a_valid_version() {
    let dir = Scratch::new("flows");
    let flow_path = dir.0.join("demo.yaml");
    let original = std::fs::read_to_string(repo_root().join("flows/demo.yaml")).expect("demo flow");
    std::fs::write(&flow_path, &original).unwrap();
    let gw = Gateway::start_full("", 60, &flow_path);
    let (status, list) = gw.api_get("/v1/flows", Some(&gw.token));
    assert_eq!(status, 200, "{list}");
    assert!(list["flows"].as_array().is_some_and(|f| f.iter().any(|f| f["name"] == "demo")), "{list}");
    let (status, flow) = gw.api_get("/v1/flows/demo", Some(&gw.token));
    assert_eq!((status, flow["source"].as_str()), (200, Some(original.as_str())));
    let call = |tag: &str| {
        let vars = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "200".to_string())];
        sipp_ok(
            &std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).unwrap(),
            &vars,
            gw.sip_udp,
            &["-m", "1"],
            &dir.0,
        );
        tag.to_string()
    };
    call("before");

    // Broken: a start node that does not exist. Refused, nothing changes.
    let broken = original.replacen("start: welcome", "start: nowhere", 1);
    let (status, err) = http_put(gw.api, "/v1/flows/demo", Some(&gw.token), "application/yaml", &broken);
    assert_eq!(status, 400, "{err}");
    let msg = err["error"].as_str().unwrap_or_default();
    assert!(msg.contains("demo.yaml:") && msg.contains("nowhere"), "diagnostics name file:line and the node: {msg}");
    let d = &err["diagnostics"][0];
    assert_eq!((d["severity"].as_str(), d["line"].as_u64().is_some(), d["column"].as_u64()), (Some("error"), true, Some(1)), "{err}");
    assert!(d["message"].as_str().is_some_and(|m| m.contains("nowhere")), "{err}");
    assert_eq!(std::fs::read_to_string(&flow_path).unwrap(), original);

    // A different name in the body than in the URL is refused too.
    let (status, _) =
        http_put(gw.api, "/v1/flows/demo", Some(&gw.token), "application/yaml", &original.replacen("flow: demo", "flow: other", 1));
    assert_eq!(status, 400);

    // Valid: a new start node. Taken, saved, and the next call runs it.
    let v2 = format!(
        "{}\n  greeting:\n    say: \"Hello again.\"\n    on: {{ done: welcome }}\n",
        original.replacen("start: welcome", "start: greeting", 1).replacen("version: 1", "version: 2", 1).trim_end()
    );
    let (status, body): (u16, Value) = http_put(gw.api, "/v1/flows/demo", Some(&gw.token), "application/yaml", &v2);
    assert_eq!(status, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&flow_path).unwrap(), v2, "saved to its file");
    call("after");
    let ids = call_ids(&gw, 2);
    assert_eq!(first_node(&gw, &ids[0]), "greeting", "the new call runs the new version");
    assert_eq!(first_node(&gw, &ids[1]), "welcome", "the earlier call ran the old one");
}
