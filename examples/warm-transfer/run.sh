#!/usr/bin/env bash
# Runs the warm-transfer example end to end on loopback: the gateway with
# examples/warm-transfer/centralita.toml, SIPp as the agent's phone on
# 127.0.0.1:5070 and SIPp as the caller. Prints the call as stored.
#
#   make build && examples/warm-transfer/run.sh
#
# Needs the ports 5060, 5070 and 8080 free, and sipp (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=examples/warm-transfer
work="$(mktemp -d)"
trap 'kill "${gw:-}" "${agent:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
rm -f target/warm-example.db*
target/debug/centralita run --config "$here/centralita.toml" > "$work/ready.json" 2> "$work/gateway.log" &
gw=$!
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { cat "$work/gateway.log"; echo "the gateway did not start" >&2; exit 1; }
(cd "$work" && sipp -sf "$OLDPWD/$here/agent.xml" -i 127.0.0.1 -p 5070 -m 1 -nostdin -trace_err > agent.out 2>&1) &
agent=$!
(cd "$work" && sipp 127.0.0.1:5060 -sf "$OLDPWD/$here/caller.xml" -i 127.0.0.1 -m 1 -nostdin -trace_err -timeout 60s -timeout_error > caller.out 2>&1) \
  || { tail -n 30 "$work/gateway.log"; echo "the caller's SIPp failed" >&2; exit 1; }
wait "$agent" || { tail -n 30 "$work/gateway.log"; echo "the agent's SIPp failed" >&2; exit 1; }
grep -E "warm transfer|agent answered|agent key|bridged|call finished" "$work/gateway.log" | sed 's/^[^ ]* *//'
id=$(curl -s -H 'Authorization: Bearer example-token' http://127.0.0.1:8080/v1/calls | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"][0]["id"])')
curl -s -H 'Authorization: Bearer example-token' "http://127.0.0.1:8080/v1/calls/$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$id")" | python3 -m json.tool | grep -E '"(outcome|mode|ok|answered_ms|target)"'
