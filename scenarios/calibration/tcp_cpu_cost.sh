#!/bin/sh
# Measures the CPU cost of kernel TCP on this machine: iperf3 over loopback, one stream,
# and prints core-seconds per GB (10^9 bytes) for the sending and the receiving process,
# from iperf3's own CPU accounting (getrusage user+system of each process).
# These are the defaults costs.tcp.send_cpu_per_gb / recv_cpu_per_gb (docs/models.md).
# Usage: scenarios/calibration/tcp_cpu_cost.sh [seconds] [runs]    (needs iperf3, python3)
set -eu
secs=${1:-10}
runs=${2:-3}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
i=0
while [ "$i" -lt "$runs" ]; do
  iperf3 -s -B 127.0.0.1 -p "$port" -1 >/dev/null 2>&1 &
  srv=$!
  sleep 0.5
  iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J > "/tmp/tcp_cpu_cost.$$.json"
  wait "$srv" || true
  python3 - "/tmp/tcp_cpu_cost.$$.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = d["end"]; s = e["sum_received"]; c = e["cpu_utilization_percent"]
gb = s["bytes"] / 1e9; t = s["seconds"]
print("rate %.2f GB/s  send %.3f s/GB  recv %.3f s/GB" %
      (gb / t, c["host_total"] / 100 * t / gb, c["remote_total"] / 100 * t / gb))
PY
  i=$((i + 1))
done
rm -f "/tmp/tcp_cpu_cost.$$.json"
