#!/usr/bin/env bash
# bench/simgrid/run.sh N M Q K [SEED]: the flow-level comparison of issue 6, one command.
#
# Builds (Release, build dir $S3RDMA_BUILD_DIR, default build/) and runs, on the same
# question (N storage hosts, M clients, non-blocking star, 400 Gbps / 2 us per host link,
# each client Q streams of K back-to-back 64 MB transfers from uniformly random storage):
#   1. SimGrid 3.32, CM02 (plain max-min): bench/simgrid/simgrid_star.cc
#   2. s3rdma sim scenarios/simgrid-star.yaml with the same N, M, Q, K and seed
# and prints wall time (whole process, measured here), simulated makespan and aggregate
# throughput (total bytes / makespan, GB = 10^9 bytes) of each, then the speed-up and the
# difference in predicted aggregate. ONLY=simgrid or ONLY=s3rdma runs one side.
# Both draw the storage host of every transfer from the same per-stream core::Rng
# streams (see simgrid_star.cc), so they answer the same question and differences are
# the models'; another SEED moves both aggregates by a few percent.
set -euo pipefail
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
  echo "usage: bench/simgrid/run.sh N M Q K [SEED]   (env: ONLY=simgrid|s3rdma, S3RDMA_BUILD_DIR)" >&2
  exit 2
fi
n=$1 m=$2 q=$3 k=$4 seed=${5:-1}
for v in "$n" "$m" "$q" "$k" "$seed"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "run.sh: error: '$v' is not a non-negative integer" >&2; exit 2; }
done
only=${ONLY:-both}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${S3RDMA_BUILD_DIR:-$root/build}
cd "$root"
scripts/dev.sh deps build test bench >&2
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS3RDMA_BUILD_BENCH=ON >/dev/null
targets=()
[ "$only" != s3rdma ] && targets+=(simgrid_star)
[ "$only" != simgrid ] && targets+=(s3rdma)
cmake --build "$build" -j "${S3RDMA_JOBS:-2}" --target "${targets[@]}" >&2

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg), SimGrid $(pkg-config --modversion simgrid 2>/dev/null || echo absent)," \
     "git $(git rev-parse --short HEAD)"
echo "# N=$n M=$m Q=$q K=$k seed=$seed"

if [ "$only" != s3rdma ]; then
  sg_cmd=("$build/bench/simgrid/simgrid_star" "$n" "$m" "$q" "$k" "$seed" --cfg=network/model:CM02)
  echo "\$ ${sg_cmd[*]#$root/}"
  t0=$(now)
  "${sg_cmd[@]}" >"$out/simgrid.txt" 2>"$out/simgrid.err" || { cat "$out/simgrid.err" >&2; exit 1; }
  t1=$(now)
  echo "process_wall_s=$(python3 -c "print(f'{$t1-$t0:.3f}')")" >>"$out/simgrid.txt"
  sed 's/^/  /' "$out/simgrid.txt"
fi

if [ "$only" != simgrid ]; then
  s3_cmd=("$build/cli/s3rdma" sim scenarios/simgrid-star.yaml --no-progress --seed "$seed"
          --set "cluster.storage.count=$n" --set "cluster.clients.count=$m"
          --set "workloads.0.streams=$q" --set "workloads.0.requests=$k" --out "$out/s3rdma")
  echo "\$ ${s3_cmd[*]#$root/}" | sed "s|--out $out/s3rdma|--out DIR|"
  t0=$(now)
  "${s3_cmd[@]}" >"$out/s3rdma.log" 2>&1 || { cat "$out/s3rdma.log" >&2; exit 1; }
  t1=$(now)
  python3 - "$out/s3rdma/results.json" "$t0" "$t1" >"$out/s3rdma.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"makespan_s={r['makespan_s']:.6f}")
print(f"total_bytes={r['bytes']}")
print(f"aggregate_GBps={r['aggregate_bytes_per_s'] / 1e9:.2f}")
print(f"events={r['events']}")
print(f"process_wall_s={float(sys.argv[3]) - float(sys.argv[2]):.3f}")
PY
  sed 's/^/  /' "$out/s3rdma.txt"
fi

if [ "$only" = both ]; then
  python3 - "$out/simgrid.txt" "$out/s3rdma.txt" <<'PY'
import sys
def load(p):
    return dict(l.strip().split("=", 1) for l in open(p) if "=" in l and not l.startswith("simgrid:"))
sg, s3 = load(sys.argv[1]), load(sys.argv[2])
w_sg, w_s3 = float(sg["process_wall_s"]), float(s3["process_wall_s"])
a_sg, a_s3 = float(sg["aggregate_GBps"]), float(s3["aggregate_GBps"])
print(f"{'':8} {'wall s':>9} {'makespan s':>11} {'aggregate GB/s':>15}")
print(f"{'SimGrid':8} {w_sg:9.3f} {float(sg['makespan_s']):11.6f} {a_sg:15.2f}")
print(f"{'s3rdma':8} {w_s3:9.3f} {float(s3['makespan_s']):11.6f} {a_s3:15.2f}")
print(f"speed-up {w_sg / w_s3:.1f}x (goal >= 50x); aggregate differs by "
      f"{100 * (a_s3 - a_sg) / a_sg:+.2f}% (goal within 2%)")
PY
fi
