#!/usr/bin/env bash
# Load harness (issue #7): builds the release gateway and drives it with SIPp.
#   scripts/bench-load.sh            full ramp (minutes); figures go in BENCHMARKS.md
#   scripts/bench-load.sh --smoke    a few calls: proves the harness works (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release -p sip-gateway --bin centralita
ulimit -n 65536 2>/dev/null || true
python3 scripts/bench_load.py "$@"
# The plot (BENCHMARKS.md) needs matplotlib; only full runs draw it.
case " $* " in *" --smoke "*) exit 0 ;; esac
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install --quiet matplotlib
out=target/bench-load
for a in "$@"; do [ "${prev:-}" = "--out" ] && out=$a; prev=$a; done
python3 scripts/plot_load.py "$out/report.json" BENCHMARKS-load.png
