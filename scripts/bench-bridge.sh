#!/usr/bin/env bash
# Bridged-call load harness (issue #12): builds the release gateway and
# drives warm-transferred calls with SIPp as callers and as agents.
#   scripts/bench-bridge.sh                    full ramp; figures go in BENCHMARKS.md
#   scripts/bench-bridge.sh --smoke            a few calls: proves the harness works
#   scripts/bench-bridge.sh --levels 200 --hold 20
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release -p sip-gateway --bin centralita
cargo build --release -p media --example rtp_peers
ulimit -n 65536 2>/dev/null || true
python3 scripts/bench_bridge.py "$@"
