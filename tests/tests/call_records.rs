//! Issue #6: call records are never lost. Finished calls are committed
//! before their BYE is answered, so a `kill -9` mid-load loses none of
//! them; calls in flight at the crash are marked `interrupted` when the
//! gateway starts again on the same store.

use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, repo_root, sipp_ok, sipp_spawn, Gateway, Scratch};

fn scenario(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/scenarios").join(name)).expect("scenario")
}

fn live_calls(gw: &Gateway) -> usize {
    let (_, v) = gw.api_get("/v1/calls/live", Some(&gw.token));
    v["calls"].as_array().map_or(0, Vec::len)
}

#[test]
fn finished_calls_survive_kill_9_and_in_flight_ones_are_interrupted() {
    let gw = Gateway::start();
    let dir = Scratch::new("records");
    // Ten calls that end with the caller's BYE (the trunk saw them finish).
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "300".to_string())];
    sipp_ok(&scenario("caller_bye.xml"), &vars, gw.sip_udp, &["-m", "10", "-l", "5", "-r", "20"], &dir.0);
    // Four calls still talking when the gateway dies.
    let long = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "60000".to_string())];
    let mut sipp = sipp_spawn(&scenario("caller_bye.xml"), &long, gw.sip_udp, &["-m", "4", "-l", "4", "-r", "20"], &dir.0);
    let until = Instant::now() + Duration::from_secs(20);
    // Live (the registry shows a call from its INVITE) and answered with
    // its row committed: a crash before that commit has no row to keep.
    let stored = |gw: &Gateway| gw.api_get("/v1/calls?limit=100", Some(&gw.token)).1["calls"].as_array().map_or(0, Vec::len);
    while live_calls(&gw) < 4 || stored(&gw) < 14 {
        assert!(Instant::now() < until, "the four long calls never became active and recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    let gw = gw.kill_and_restart();
    let _ = sipp.kill();
    let _ = sipp.wait();

    let (status, page) = gw.api_get("/v1/calls?limit=100", Some(&gw.token));
    assert_eq!(status, 200, "{page}");
    let calls = page["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 14, "every answered call has a row: {page:#}");
    let outcome = |o: &str| calls.iter().filter(|c| c["outcome"] == o).count();
    assert_eq!(outcome("abandoned"), 10, "finished calls (caller hung up) keep their end: {page:#}");
    assert_eq!(outcome("interrupted"), 4, "in-flight calls are closed at the next start: {page:#}");
    assert!(calls.iter().all(|c| c["ended_at"].is_string() && c["answered_at"].is_string()), "{page:#}");
    assert!(calls.iter().all(|c| c["flow"] == "demo"), "the flow's name, as /v1/flows says it: {page:#}");
    assert!(gw.log_text().contains("marked interrupted"), "{}", gw.log_text());

    // A finished call's path: the welcome node, and a first prompt time.
    let finished = calls.iter().find(|c| c["outcome"] == "abandoned").expect("a finished call");
    let id = finished["id"].as_str().expect("id");
    let (status, detail) = gw.api_get(&format!("/v1/calls/{id}"), Some(&gw.token));
    assert_eq!(status, 200, "{detail}");
    assert!(detail["first_prompt_at"].is_string() && detail["answered_at"].is_string(), "{detail:#}");
    let steps = detail["steps"].as_array().expect("steps");
    assert!(steps.iter().any(|s| s["kind"] == "node" && s["node"] == "welcome"), "{detail:#}");
}
