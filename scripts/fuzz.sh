#!/usr/bin/env bash
# `make fuzz` (issue #15, "Fuzzing"): builds the cargo-fuzz targets of fuzz/
# with the nightly toolchain and runs each for FUZZ_SECONDS (default 60),
# one at a time, at the lowest CPU priority. Not part of `make test` (which
# stays on stable).
#
#   make fuzz                                  # every target, 60 s each
#   make fuzz FUZZ_SECONDS=1800 FUZZ_TARGETS=sip_udp
#
# Seeds: fuzz/seeds/<target>/ (committed; scripts/fuzz-seeds.py makes them).
# What libFuzzer learns goes to target/fuzz-corpus/<target>/ (kept between
# runs), crashes to target/fuzz-artifacts/<target>/, the logs to
# target/fuzz-logs/<target>.log; the build to target/fuzz (its own target
# dir: nightly and the sanitizer flags never invalidate the stable build).
# Exits non-zero if any target found a crash, a leak, a timeout or an OOM.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-sip_udp sip_tcp sdp rtp flow}
export CARGO_TARGET_DIR="$root/target/fuzz"
CARGO_FUZZ_VERSION=0.13.1

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "make fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" || exit 1
fi
# FUZZ_BUILD=0 runs the binaries already built (while others edit the tree).
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
    nice -n 19 cargo +nightly fuzz build || exit 1
fi
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

mkdir -p target/fuzz-logs
status=0
for t in $targets; do
    mkdir -p "target/fuzz-corpus/$t" "target/fuzz-artifacts/$t"
    log="target/fuzz-logs/$t.log"
    echo "== fuzz $t for ${seconds}s (log: $log)"
    # What `cargo fuzz run` would do, without building again.
    ASAN_OPTIONS=detect_odr_violation=0 nice -n 19 "$bin/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -artifact_prefix="$root/target/fuzz-artifacts/$t/" -print_final_stats=1 \
        "$root/target/fuzz-corpus/$t" "$root/fuzz/seeds/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
    echo "   $t: exit $rc, ${runs:-?} executions, ${cov:-cov: ?}, corpus $(ls "target/fuzz-corpus/$t" | wc -l) files"
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -aE 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -5
    fi
done
exit $status
