#!/usr/bin/env bash
# Installs the Debian packages Centralita's run and test commands need, only
# when they are missing. Safe to run repeatedly (CI runs it on every checkout).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have sipp      || need+=(sip-tester)
have baresip   || need+=(baresip)
have espeak-ng || need+=(espeak-ng)
have sox       || need+=(sox)
have tcpdump   || need+=(tcpdump)   # the load harness measures RTP on loopback
# The store tests start a throwaway PostgreSQL with initdb + pg_ctl (scripts/pg-test.sh).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The dashboard's end-to-end test renders it in headless Chromium (tests/tests/dashboard_chromium.rs).
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The built-in offline recogniser: PocketSphinx 5.1.1 (static C library and
# en-US model) into target/pocketsphinx; media/pocketsphinx-sys links it.
bash "$(dirname "$0")/install-pocketsphinx.sh"
# The built-in Whisper recogniser: CTranslate2 built once into
# ~/.cache/centralita (linked as target/ct2), and the Whisper models into
# target/whisper-models.
bash "$(dirname "$0")/install-ct2.sh"
bash "$(dirname "$0")/install-whisper-models.sh"
# The OpenAI-compatible ASR adapter's test against a real model: a venv with
# faster-whisper and Whisper tiny.en in target/whisper-venv.
bash "$(dirname "$0")/install-whisper.sh"
