#!/usr/bin/env bash
# bench/des/run.sh [des_bench FLAGS...]: the DES scheduler benchmark in one command.
# Builds des_bench in Release (build dir: $S3RDMA_BUILD_DIR, default build/, the one
# scripts/dev.sh uses) and runs s3rdma's VirtualRuntime and ns-3's Map, Heap and Calendar
# schedulers side by side on the same hold-model event pattern with 1k, 100k and 1M
# pending events. Flags go to des_bench (see --help), e.g. --reps 3 --pending 100000.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${S3RDMA_BUILD_DIR:-$root/build}
cd "$root"
scripts/dev.sh deps build >&2
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS3RDMA_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "${S3RDMA_JOBS:-2}" --target des_bench >&2
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg), ns-3 $(pkg-config --modversion ns3-core), git $(git rev-parse --short HEAD)"
exec "$build/bench/des/des_bench" "$@"
