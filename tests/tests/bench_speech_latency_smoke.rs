//! Issue #5: the turn-latency harness (scripts/bench_speech_latency.py)
//! runs end to end with the debug binary, one call per phase, and measures
//! every turn it made. Figures come from release runs recorded in
//! BENCHMARKS.md, never from assertions here.

use std::process::Command;

use centralita_e2e::{gateway_binary, repo_root, Scratch};

#[test]
fn latency_harness_measures_every_turn() {
    let dir = Scratch::new("benchlatency");
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/bench_speech_latency.py"))
        .args(["--calls", "1", "--bin"])
        .arg(gateway_binary())
        .arg("--out")
        .arg(&dir.0)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "harness failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report on stdout");
    assert_eq!(report["speech_words_end_to_prompt"]["n"], 4, "one turn per utterance: {report}");
    assert_eq!(report["dtmf_to_prompt"]["n"], 1, "{report}");
    for key in ["speech_words_end_to_prompt", "speech_endpoint_to_prompt", "dtmf_to_prompt"] {
        assert!(report[key]["p95_ms"].as_f64().is_some(), "{key} missing: {report}");
    }
}
