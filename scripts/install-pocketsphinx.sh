#!/usr/bin/env bash
# Builds the PocketSphinx 5.1.1 C library (static) and installs it, with its
# en-US acoustic model and dictionary, into a prefix the `pocketsphinx-sys`
# crate links against (issue #5, the built-in offline recogniser).
#
#   scripts/install-pocketsphinx.sh [PREFIX]     # default: target/pocketsphinx
#
# Sources: the PyPI sdist of pocketsphinx 5.1.1 (C library + CMake + en-us
# model), fetched with `pip download`. Idempotent: does nothing when
# PREFIX/lib/libpocketsphinx.a and the model are already there. Needs a C
# compiler, cmake (installed from Debian when missing) and pip.
#
# Layout of PREFIX:
#   lib/libpocketsphinx.a
#   include/pocketsphinx.h, include/pocketsphinx/*.h
#   model/en-us/{en-us/ (acoustic model), cmudict-en-us.dict}
set -euo pipefail
VERSION=5.1.1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${1:-${POCKETSPHINX_PREFIX:-$ROOT/target/pocketsphinx}}"
SRC_CACHE="${POCKETSPHINX_SRC_CACHE:-$ROOT/target/pocketsphinx-src}"

if [ -f "$PREFIX/lib/libpocketsphinx.a" ] && [ -f "$PREFIX/model/en-us/en-us/mdef" ] \
  && [ "$(cat "$PREFIX/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi

have() { command -v "$1" >/dev/null 2>&1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
have cmake || need+=(cmake)
have cc || need+=(gcc libc6-dev)
if ! have pip3 && ! python3 -m pip --version >/dev/null 2>&1; then need+=(python3-pip); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-pocketsphinx: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
PIP=(python3 -m pip); python3 -m pip --version >/dev/null 2>&1 || PIP=(pip3)

mkdir -p "$SRC_CACHE"
SDIST="$SRC_CACHE/pocketsphinx-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  echo "install-pocketsphinx: downloading pocketsphinx $VERSION sources from PyPI" >&2
  # `--no-binary pocketsphinx` (not `:all:`): the build backend that pip runs
  # to read the metadata may come as wheels; building cmake from source takes ages.
  "${PIP[@]}" download --quiet --no-deps --no-binary pocketsphinx \
    "pocketsphinx==$VERSION" -d "$SRC_CACHE"
fi
SRC="$SRC_CACHE/pocketsphinx-$VERSION"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  tar xzf "$SDIST" -C "$SRC_CACHE"
fi

BUILD="$SRC_CACHE/build"
echo "install-pocketsphinx: building libpocketsphinx.a (about 30 s)" >&2
LOG="$SRC_CACHE/build.log"
# Only the library: the programs, examples and docs are not needed. The C
# compiler's warnings go to the log, shown only when the build fails.
if ! { cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
         -DBUILD_TESTING=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
       && cmake --build "$BUILD" --target pocketsphinx -j "$(nproc 2>/dev/null || echo 2)"; } >"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  echo "install-pocketsphinx: build failed (full log: $LOG)" >&2
  exit 1
fi

rm -rf "$PREFIX.tmp"
mkdir -p "$PREFIX.tmp/lib" "$PREFIX.tmp/include" "$PREFIX.tmp/model"
cp "$BUILD/libpocketsphinx.a" "$PREFIX.tmp/lib/"
cp -R "$SRC/include/." "$PREFIX.tmp/include/"
cp -R "$BUILD/include/." "$PREFIX.tmp/include/"
# The acoustic model and the dictionary; the n-gram LMs (30 MB) are not used
# (the recogniser decodes with a grammar).
mkdir -p "$PREFIX.tmp/model/en-us"
cp -R "$SRC/model/en-us/en-us" "$PREFIX.tmp/model/en-us/"
cp "$SRC/model/en-us/cmudict-en-us.dict" "$PREFIX.tmp/model/en-us/"
cp "$SRC/LICENSE" "$PREFIX.tmp/LICENSE"
echo "$VERSION" > "$PREFIX.tmp/VERSION"
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
echo "install-pocketsphinx: installed into $PREFIX" >&2
