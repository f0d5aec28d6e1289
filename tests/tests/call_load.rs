//! Issue #3 e2e 4: 20 concurrent and 100 sequential calls all complete, and
//! the gateway is back to idle afterwards with no leaked sockets.

use std::time::Duration;

use centralita_e2e::{free_udp_port, repo_root, sipp_ok, Gateway, Scratch};

#[test]
fn concurrent_and_sequential_calls_complete_without_leaks() {
    let gw = Gateway::start();
    let dir = Scratch::new("load");
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).expect("scenario");
    // RTP goes to a port nobody listens on; only signalling and cleanup matter here.
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "1500".to_string())];
    // Warm-up call so lazily created state (prompt cache) is counted in the baseline.
    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    assert!(gw.wait_idle(Duration::from_secs(10)));
    let baseline = gw.open_fds();

    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", "20", "-l", "20", "-r", "20"], &dir.0);
    sipp_ok(&scenario.replace("@HOLD_MS@", "50"), &vars[..1], gw.sip_udp, &["-m", "100", "-l", "1", "-r", "50"], &dir.0);

    assert!(gw.wait_idle(Duration::from_secs(10)), "calls left active");
    let after = gw.open_fds();
    assert!(after <= baseline + 2, "file descriptors leaked: {baseline} before, {after} after");
}
