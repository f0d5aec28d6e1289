#!/usr/bin/env bash
# Soak (issue #15): a steady call mix against the release gateway.
#   scripts/soak.sh                     60 minutes at ~200 concurrent calls
#   scripts/soak.sh --minutes 2         what CI runs (tests/tests/soak_smoke.rs, debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release -p sip-gateway --bin centralita
ulimit -n 65536 2>/dev/null || true
python3 scripts/soak.py "$@"
