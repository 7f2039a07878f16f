#!/usr/bin/env bash
# Software RDMA NIC vs UCX, side by side in one run on this machine (loopback, 2 processes):
#   1. ucx_perftest -t ucp_put_bw  (UCX_TLS=tcp), 1 MiB        vs  s3rdma perf write --fabric udp, 1 MiB
#   2. ucx_perftest -t ucp_put_lat (UCX_TLS=tcp), 8 B          vs  s3rdma perf write --fabric udp --latency, 8 B
#   3. s3rdma perf write --fabric inproc, 1 MiB (the engine alone, no sockets; goal >= 4 GB/s)
# Each pair runs REPEAT times (default 3), interleaved, and every run is printed; the summary
# takes the best run of each (the machine is shared, so slower runs measure the neighbours).
#
# Usage: bench/rdma/run.sh [PATH/TO/s3rdma]   (default build/cli/s3rdma)
# Env:   REPEAT=3 ITERS_BW=2000 ITERS_LAT=20000 UCX_ITERS_BW=2000 UCX_ITERS_LAT=100000
# Needs: ucx-utils (scripts/packages.txt, role bench), python3.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$root/build/cli/s3rdma}
repeat=${REPEAT:-3}
iters_bw=${ITERS_BW:-2000}
iters_lat=${ITERS_LAT:-20000}
ucx_iters_bw=${UCX_ITERS_BW:-2000}
ucx_iters_lat=${UCX_ITERS_LAT:-100000}
[ -x "$bin" ] || { echo "no s3rdma binary at $bin (build it, or pass its path)" >&2; exit 2; }
command -v ucx_perftest >/dev/null || { echo "ucx_perftest missing: scripts/dev.sh deps bench" >&2; exit 2; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ucx PERFTEST_ARGS...: server + client on loopback over TCP; prints the client's final
# result row (ucx_perftest -f): iterations, latency 50%ile / average / overall (us),
# bandwidth average / overall (MB/s, MB = 2^20 B), message rate average / overall.
ucx() {
  local port; port=$(free_port)
  UCX_TLS=tcp UCX_NET_DEVICES=lo ucx_perftest -p "$port" "$@" >"$tmp/ucx_server.out" 2>&1 &
  pids+=($!)
  local srv=$!
  sleep 0.5
  UCX_TLS=tcp UCX_NET_DEVICES=lo ucx_perftest -p "$port" 127.0.0.1 -f "$@" >"$tmp/ucx_client.out" 2>&1 || {
    cat "$tmp/ucx_client.out" >&2; return 1; }
  wait "$srv" || true
  grep -E '^ *[0-9]+ +[0-9.]+ ' "$tmp/ucx_client.out" | tail -1
}

# s3rdma_udp PERF_ARGS...: server + client over the UDP fabric; prints the client's JSON.
s3rdma_udp() {
  "$bin" perf "$1" --fabric udp --port 0 --timeout 120 >/dev/null 2>"$tmp/s3_server.err" &
  pids+=($!)
  local srv=$! port=
  for _ in $(seq 200); do
    port=$(sed -n 's/.*waiting for a client on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/s3_server.err")
    [ -n "$port" ] && break
    sleep 0.05
  done
  "$bin" perf "$@" --fabric udp --connect "127.0.0.1:$port" --timeout 120 --json
  wait "$srv"
}

field() { python3 -c 'import json,sys; print("%.3f" % json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

echo "# machine: $(nproc) cores, $(uname -r), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# ucx-utils: $(dpkg-query -W -f="\${Version}" ucx-utils 2>/dev/null || echo unknown)"
echo "# s3rdma: $("$bin" --version)"
best() { sort -g | "$1" -1; }
: >"$tmp/ucx_bw"; : >"$tmp/s3_bw"; : >"$tmp/ucx_lat"; : >"$tmp/s3_lat"; : >"$tmp/inproc_bw"; : >"$tmp/inproc_cpu"

for r in $(seq "$repeat"); do
  echo "## run $r"
  line=$(ucx -t ucp_put_bw -s 1048576 -n "$ucx_iters_bw" -w 100)
  echo "ucx ucp_put_bw 1MiB: $line"
  echo "$line" | awk '{printf "%.3f\n", $6 * 1048576 / 1e9}' >>"$tmp/ucx_bw"  # overall MB/s
  json=$(s3rdma_udp write --size 1MiB --iters "$iters_bw")
  echo "s3rdma write udp 1MiB: $(echo "$json" | tr -d ' \n')"
  echo "$json" | field bw_avg_gbytes_per_s >>"$tmp/s3_bw"

  line=$(ucx -t ucp_put_lat -s 8 -n "$ucx_iters_lat" -w 1000)
  echo "ucx ucp_put_lat 8B: $line"
  echo "$line" | awk '{printf "%.3f\n", $2}' >>"$tmp/ucx_lat"  # 50%ile one-way us
  json=$(s3rdma_udp write --latency --size 8 --iters "$iters_lat")
  echo "s3rdma write udp 8B latency: $(echo "$json" | tr -d ' \n')"
  echo "$json" | field t_typical_us >>"$tmp/s3_lat"

  json=$("$bin" perf write --fabric inproc --size 1MiB --iters "$iters_bw" --json)
  echo "s3rdma write inproc 1MiB: $(echo "$json" | tr -d ' \n')"
  echo "$json" | field bw_avg_gbytes_per_s >>"$tmp/inproc_bw"
  # Bytes moved per CPU-second of the (single-threaded) process: what the engine would do
  # with a core to itself, whatever the neighbours are doing.
  echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); c=j["cpu_user_s"]+j["cpu_sys_s"]; print("%.3f" % (j["size_bytes"]*j["iterations"]/c/1e9 if c > 0 else 0))' >>"$tmp/inproc_cpu"
done

echo "## summary (best of $repeat)"
printf "%-48s %10s\n" "measurement" "value"
printf "%-48s %10s GB/s\n" "UCX ucp_put_bw TCP loopback, 1 MiB" "$(best tail <"$tmp/ucx_bw")"
printf "%-48s %10s GB/s\n" "s3rdma perf write --fabric udp, 1 MiB" "$(best tail <"$tmp/s3_bw")"
printf "%-48s %10s us\n" "UCX ucp_put_lat TCP loopback, 8 B (typical)" "$(best head <"$tmp/ucx_lat")"
printf "%-48s %10s us\n" "s3rdma perf write --latency udp, 8 B (typical)" "$(best head <"$tmp/s3_lat")"
printf "%-48s %10s GB/s\n" "s3rdma perf write --fabric inproc, 1 MiB" "$(best tail <"$tmp/inproc_bw")"
printf "%-48s %10s GB/s\n" "  same, bytes per CPU-second of the process" "$(best tail <"$tmp/inproc_cpu")"
