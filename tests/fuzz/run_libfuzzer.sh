#!/usr/bin/env bash
# Builds every tests/fuzz/*_fuzz.cc target with clang's libFuzzer (+ ASan/UBSan) in BUILD_DIR
# and runs each one for a bounded time. Run by the ctest `fuzz.libfuzzer`; also by hand:
#
#   tests/fuzz/run_libfuzzer.sh BUILD_DIR [SECONDS_PER_TARGET]     (default: $S3RDMA_FUZZ_SECONDS or 25)
#
# Exit 0 if no target crashed, 1 on a crash or build failure (the crashing input is kept in
# BUILD_DIR/artifacts/; replay it with the GCC-built target: `build/tests/fuzz/<target> FILE`),
# 77 (ctest "skipped") if clang++ is not installed, unless CI is set.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run_libfuzzer.sh BUILD_DIR [SECONDS]}
seconds=${2:-${S3RDMA_FUZZ_SECONDS:-25}}

clangxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z "$clangxx" ]]; then
  if [[ -n "${CI:-}" ]]; then echo "fuzz: clang++ is missing (scripts/packages.txt lists clang)" >&2; exit 1; fi
  echo "fuzz: clang++ not installed, skipping libFuzzer runs"
  exit 77
fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
mkdir -p "$build"
if ! cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$clangxx" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  exit 1
fi
status=0
for src in "$here"/*_fuzz.cc; do
  name=$(basename "$src" .cc)
  bin="$build/$name"
  # One target at a time, so a layer that does not build with clang fails only its targets.
  if ! ninja -C "$build" -t query "$name" >/dev/null 2>&1; then
    echo "fuzz: $name skipped (its layer library is not part of this checkout)"
    continue
  fi
  if ! cmake --build "$build" -j2 --target "$name" >"$build/$name.build.log" 2>&1; then
    echo "fuzz: $name FAILED to build with $clangxx; first errors ($build/$name.build.log):" >&2
    grep -A6 -m3 "error:" "$build/$name.build.log" >&2 || tail -30 "$build/$name.build.log" >&2
    status=1
    continue
  fi
  corpus="$build/corpus/$name"
  mkdir -p "$corpus" "$build/artifacts"
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -seed=1 -max_len=4400 -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$build/artifacts/$name-" -print_final_stats=1 "$corpus" >"$build/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines of $build/$name.log:" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$build/$name.log" | tail -2 || true
  fi
done
exit $status
