#!/usr/bin/env bash
# Flood harness (issue #15): builds the release gateway and floods it with
# INVITEs from 127.0.0.2 while healthy calls from 127.0.0.1 run.
#   scripts/bench-flood.sh                        [limits] on, 150 calls/s for 60 s
#   scripts/bench-flood.sh --no-limits            the same without [limits]
#   scripts/bench-flood.sh --memory               RSS around OPTIONS and INVITE floods
# Figures go in BENCHMARKS.md ("Reliability").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release -p sip-gateway --bin centralita
python3 scripts/bench_flood.py "$@"
