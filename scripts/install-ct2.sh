#!/usr/bin/env bash
# Builds CTranslate2 (the C++ inference engine behind the built-in Whisper
# recogniser, media/src/asr/whisper.rs) once, into a cache OUTSIDE the
# checkout, and points the workspace at it (issue #14).
#
#   scripts/install-ct2.sh            # default cache: ~/.cache/centralita
#
# Why: the `ct2rs` crate (0.10.3) carries CTranslate2's sources and, by
# default, builds them with cmake inside target/ — 7+ minutes on 2 cores,
# paid again by every fresh clone (CI) and every `cargo clean`. With its
# `system` feature, ct2rs's build.rs builds nothing and only links
# libraries found on CMAKE_LIBRARY_PATH, which .cargo/config.toml sets to
# target/ct2/lib. This script builds those libraries from the very
# sources of the ct2rs crate (the .crate file cargo downloaded, checked
# against the SHA-256 below, the one Cargo.lock pins) into
#   ${CENTRALITA_CACHE:-~/.cache/centralita}/ct2rs-0.10.3-<sha12>-<backend>/
# and links target/ct2 to it. A second run, or a fresh clone on the same
# machine (CI with a cached home), takes a second.
#
# Backend: oneDNN (Debian's libdnnl-dev 2.6, OpenMP/gomp) for the GEMMs,
# int8 included — the backend faster-whisper's wheel uses; measured 2x
# faster than ruy here (BENCHMARKS.md). CT2_BACKEND=ruy builds the
# dependency-free ruy backend instead.
#
# What ct2rs's `system` mode links, and how the cache satisfies it:
# `-lctranslate2` → lib/libctranslate2.so, a linker script naming the
# merged static archive (CTranslate2 + cpu_features [+ ruy/cpuinfo]) and
# the backend's shared libraries; every other name it asks for (CUDA's
# static libraries, ruy's parts, cpuinfo) → an empty archive, since the
# merged one already holds them. So the binary carries CTranslate2
# statically and needs only Debian's libdnnl2 + libgomp1 at run time.
set -euo pipefail
CT2RS=0.10.3
# sha256 of ct2rs-0.10.3.crate (crates.io; the same as Cargo.lock's checksum).
CT2RS_SHA256=edf9167bb229e98360fe2ae650bf44936bf043f11cf6e620994bd0ef51c6cf8c
BACKEND="${CT2_BACKEND:-dnnl}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CENTRALITA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centralita}"
PREFIX="$CACHE/ct2rs-$CT2RS-${CT2RS_SHA256:0:12}-$BACKEND"
LINK="$ROOT/target/ct2"

link_target() {
  mkdir -p "$ROOT/target"
  if [ "$(readlink "$LINK" 2>/dev/null)" != "$PREFIX" ]; then
    rm -rf "$LINK"
    ln -s "$PREFIX" "$LINK"
  fi
}

if [ -f "$PREFIX/DONE" ]; then
  link_target
  exit 0
fi

have() { command -v "$1" >/dev/null 2>&1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
have cmake || need+=(cmake)
have c++ || need+=(g++)
if [ "$BACKEND" = dnnl ]; then
  [ -f /usr/include/dnnl.h ] || need+=(libdnnl-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-ct2: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The ct2rs crate as cargo downloaded it (cargo verifies it against
# Cargo.lock; checked again here, since the build below trusts it).
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
crate_file() { ls "$CARGO_HOME"/registry/cache/*/ct2rs-$CT2RS.crate 2>/dev/null | head -n 1; }
if [ -z "$(crate_file)" ]; then
  (cd "$ROOT" && cargo fetch --quiet)
fi
CRATE="$(crate_file)"
[ -n "$CRATE" ] || { echo "install-ct2: ct2rs-$CT2RS.crate not found after cargo fetch" >&2; exit 1; }
echo "$CT2RS_SHA256  $CRATE" | sha256sum -c --quiet -

# The build tree stays until the install succeeds, so an interrupted
# build resumes where it stopped.
WORK="$CACHE/ct2rs-$CT2RS-build-$BACKEND"
SRC="$WORK/ct2rs-$CT2RS/CTranslate2"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  rm -rf "$WORK"
  mkdir -p "$WORK"
  tar xzf "$CRATE" -C "$WORK"
fi
if [ "$BACKEND" = dnnl ]; then
  # CTranslate2 4.8's oneDNN convolution uses the oneDNN 3 C++ API; Debian
  # 12 ships oneDNN 2.6. Whisper's two encoder convolutions then take
  # CTranslate2's own im2col + GEMM path (still oneDNN's sgemm); the GEMMs
  # of every other layer are unchanged.
  sed -i '1,5s/^#ifdef CT2_WITH_DNNL$/#if 0 \/\/ centralita: oneDNN 2.6 (Debian 12) lacks the oneDNN 3 convolution API/' \
    "$SRC/src/ops/conv1d_cpu.cc"
  grep -q '^#if 0 // centralita' "$SRC/src/ops/conv1d_cpu.cc"
fi

# The options of ct2rs's build.rs for a CPU build, in Release whatever the
# cargo profile (a debug CTranslate2 would make every test decode crawl).
opts=(-DCMAKE_BUILD_TYPE=Release -DBUILD_CLI=OFF -DBUILD_SHARED_LIBS=OFF -DWITH_MKL=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
case "$BACKEND" in
  dnnl) opts+=(-DWITH_DNNL=ON -DOPENMP_RUNTIME=COMP) ;;
  ruy) opts+=(-DWITH_RUY=ON -DOPENMP_RUNTIME=NONE) ;;
  *) echo "install-ct2: CT2_BACKEND must be dnnl or ruy" >&2; exit 1 ;;
esac
LOG="$WORK/build.log"
echo "install-ct2: building CTranslate2 (ct2rs $CT2RS, $BACKEND) into $PREFIX; about 7 min on 2 cores, once" >&2
start=$(date +%s)
if ! { nice -n 10 cmake -S "$SRC" -B "$WORK/build" "${opts[@]}" \
       && nice -n 10 cmake --build "$WORK/build" -j "$(nproc 2>/dev/null || echo 2)"; } >"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  echo "install-ct2: build failed (full log: $LOG)" >&2
  exit 1
fi

rm -rf "$PREFIX.tmp"
mkdir -p "$PREFIX.tmp/lib"
# One archive with every static library of the build (ar's MRI script).
mri="CREATE $PREFIX.tmp/lib/libct2_all.a"
while IFS= read -r a; do mri+=$'\n'"ADDLIB $a"; done < <(find "$WORK/build" -name 'lib*.a' | sort)
mri+=$'\n'"SAVE"$'\n'"END"
ar -M <<<"$mri"
ranlib "$PREFIX.tmp/lib/libct2_all.a"
case "$BACKEND" in
  dnnl) extra="-ldnnl -lgomp" ;;
  ruy) extra="" ;;
esac
printf 'GROUP ( %s %s )\n' "$PREFIX/lib/libct2_all.a" "$extra" >"$PREFIX.tmp/lib/libctranslate2.so"
# The other names ct2rs's `system` mode asks for: empty archives.
for name in cpu_features cublas_static cublasLt_static culibos cpuinfo clog \
  ruy_allocator ruy_apply_multiplier ruy_block_map ruy_blocking_counter ruy_context \
  ruy_context_get_ctx ruy_cpuinfo ruy_ctx ruy_denormal ruy_frontend ruy_prepacked_cache \
  ruy_prepare_packed_matrices ruy_profiler_instrumentation ruy_system_aligned_alloc \
  ruy_thread_pool ruy_trmul ruy_tune ruy_wait ruy_have_built_path_for_avx ruy_kernel_avx \
  ruy_pack_avx ruy_have_built_path_for_avx2_fma ruy_kernel_avx2_fma ruy_pack_avx2_fma \
  ruy_have_built_path_for_avx512 ruy_kernel_avx512 ruy_pack_avx512; do
  ar rcs "$PREFIX.tmp/lib/lib$name.a"
done
cp "$SRC/LICENSE" "$PREFIX.tmp/LICENSE"
echo "ct2rs $CT2RS ($CT2RS_SHA256), CTranslate2 backend $BACKEND, built in $(( $(date +%s) - start )) s" >"$PREFIX.tmp/DONE"
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
rm -rf "$WORK"
link_target
echo "install-ct2: $(cat "$PREFIX/DONE")" >&2
