//! Issue #7: the SIPp load harness runs end to end (a few calls with the
//! debug binary). Figures come from full runs recorded in BENCHMARKS.md,
//! never from assertions here.

use centralita_e2e::run_bench_harness;

#[test]
fn load_harness_smoke_run_completes_with_no_failed_calls() {
    let report = run_bench_harness("bench_load.py", &["--smoke"]);
    let level = &report["levels"][0];
    assert_eq!(level["failed"], 0, "{report}");
    // The report carries every figure the full run records.
    for key in ["cpu_pct", "rss_per_call_kib", "jitter_p99_ms", "lost", "late_over_40ms", "dtmf_to_prompt_p50_ms"] {
        assert!(!level[key].is_null(), "{key} missing from {level}");
    }
    assert!(report["max_cps_with_0_failures"].as_u64().is_some_and(|c| c > 0), "{report}");
}
