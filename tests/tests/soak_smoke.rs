//! Issue #15: two minutes of the soak's call mix (scripts/soak.py: menu
//! calls with speech, blind transfers, caller CANCELs, RTP that stops)
//! against the debug binary. Correctness only — no call fails, every
//! answered call has its record and none is left open; RSS and jitter are
//! figures for BENCHMARKS.md from full runs, never assertions here.

use centralita_e2e::run_bench_harness;

#[test]
fn two_minutes_of_the_soak_mix_fail_no_call_and_lose_no_record() {
    let report = run_bench_harness("soak.py", &["--minutes", "2", "--concurrency", "30"]);
    assert_eq!(report["failed"], 0, "{report}");
    for kind in ["menu", "transfer", "cancel", "rtp_stop"] {
        let ok = report["sipp"][kind]["ok"].as_u64().unwrap_or(0);
        assert!(ok > 0, "some {kind} calls ran: {report}");
    }
    assert_eq!(report["records"], report["answered_calls"], "a record for every answered call: {report}");
    assert_eq!(report["records_left_open"], 0, "{report}");
    assert!(report["live_max"].as_u64().is_some_and(|n| n >= 10), "calls overlapped: {report}");
}
