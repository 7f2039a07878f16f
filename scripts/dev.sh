#!/usr/bin/env bash
# The project's one entry point for set-up, building, running and testing.
#
#   scripts/dev.sh run [ARGS...]   install what is missing, build (Release), run the main job
#                                  (`s3rdma sim scenarios/quickstart.yaml`; ARGS replace it,
#                                  e.g. `scripts/dev.sh run serve --memory`)
#   scripts/dev.sh test            install what is missing, build, run the whole test suite
#   scripts/dev.sh sanitize        the same test suite built with ASan + UBSan
#   scripts/dev.sh deps [ROLE...]  only install packages (roles: build test bench)
#   scripts/dev.sh build           install build packages and build only
#
# Idempotent: apt runs only when a package is missing. Build dirs: build/, build-asan/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${S3RDMA_JOBS:-2}

log() { printf '[dev] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else log "need root to run: $*"; return 1
  fi
}

# deps ROLE...: installs every package of the given roles that is not installed yet.
deps() {
  local roles=" $* " missing=() pkg role
  while read -r pkg role; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    [[ $roles == *" $role "* ]] || continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done < scripts/packages.txt
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# build DIR [CMAKE ARGS...]
build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

run_tests() {
  local dir=$1
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case "$cmd" in
  deps) deps "${@:-build}" ;;
  build) deps build; build build ;;
  run)
    deps build
    build build
    if [ $# -gt 0 ]; then exec build/cli/s3rdma "$@"; fi
    exec build/cli/s3rdma sim scenarios/quickstart.yaml
    ;;
  test)
    deps build test
    build build
    run_tests build
    ;;
  sanitize)
    deps build test
    build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DS3RDMA_SANITIZE=ON \
      -DS3RDMA_BUILD_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run_tests build-asan
    ;;
  *) log "unknown command '$cmd' (run, test, sanitize, deps, build)"; exit 2 ;;
esac
