#!/usr/bin/env bash
# Turn-latency benchmark (issue #5): caller's end of speech / DTMF -> first
# RTP packet of the next prompt, built-in recogniser and voice, SIPp on
# loopback. Figures go in BENCHMARKS.md; see scripts/bench_speech_latency.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release -p sip-gateway --bin centralita
python3 scripts/bench_speech_latency.py "$@"
