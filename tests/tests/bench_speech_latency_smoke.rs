//! Issue #5: the turn-latency harness (scripts/bench_speech_latency.py)
//! runs end to end with the debug binary, one call per phase, and measures
//! every turn it made. Figures come from release runs recorded in
//! BENCHMARKS.md, never from assertions here.

use centralita_e2e::run_bench_harness;

#[test]
fn latency_harness_measures_every_turn() {
    let report = run_bench_harness("bench_speech_latency.py", &["--calls", "1"]);
    assert_eq!(report["speech_words_end_to_prompt"]["n"], 4, "one turn per utterance: {report}");
    assert_eq!(report["dtmf_to_prompt"]["n"], 1, "{report}");
    for key in ["speech_words_end_to_prompt", "speech_endpoint_to_prompt", "dtmf_to_prompt"] {
        assert!(report[key]["p95_ms"].as_f64().is_some(), "{key} missing: {report}");
    }
}
