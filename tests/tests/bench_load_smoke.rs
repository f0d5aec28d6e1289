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

    // What the smoke run sends (scripts/bench_load.py --smoke): 5 calls held
    // together, each hearing one 20 ms-paced stream from the gateway, caught
    // by a 2 s tcpdump in the middle of the hold.
    assert_eq!(level["level"], SMOKE_CALLS, "{level}");
    assert_eq!(level["ok"], SMOKE_CALLS, "every smoke call completed: {level}");
    assert_eq!(level["streams"], SMOKE_CALLS, "one gateway stream per call in the capture: {level}");
    let packets = level["packets"].as_u64().expect("packets");
    let sent = packets + level["lost"].as_u64().expect("lost");
    let expected = level["expected_packets"].as_u64().expect("expected_packets");
    // tcpdump's start-up eats into its 2 s on a busy box (a quiet run
    // catches about 1 s of each stream): ask for a few packets per stream.
    assert!(packets >= SMOKE_CALLS * 10, "{packets} packets from {SMOKE_CALLS} streams: {level}");
    // Packets sent over the streams' captured span are what 20 ms pacing
    // sends: a packet per stream at each edge of the capture, and 10 % for
    // a send burst catching up at an edge (30 ms pacing would be 33 % off).
    assert!(sent.abs_diff(expected) <= expected / 10 + 2 * SMOKE_CALLS, "{sent} packets sent, {expected} at 20 ms pacing: {level}");
}

/// The smoke run's one load level (`--smoke`: `levels = "5"`).
const SMOKE_CALLS: u64 = 5;
