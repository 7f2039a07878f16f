#!/bin/sh
# Measures the CPU cost of a TCP object-storage server on this machine: `s3rdma serve`
# (memory and filesystem stores) and nginx (sendfile, the lower bound) loaded by wrk over
# loopback; server and client CPU per GB for 64 MiB / 8 MiB / 1 MiB GETs and PUTs, CPU per
# request for 4 KiB, 0-byte and SigV4-signed 0-byte GETs, and one memcpy pass (the GPU
# server's bounce copy). Prints a Markdown table and the constants docs/models.md uses.
# Usage: scenarios/calibration/s3_server_cpu_cost.sh [S3RDMA_BINARY] [--seconds S] [--reps R] [--quick]
# Needs wrk, nginx (nginx-light), curl, g++, /usr/bin/python3 with botocore.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/cli/s3rdma}
[ $# -gt 0 ] && shift
[ -x "$bin" ] || { echo "s3_server_cpu_cost.sh: no s3rdma binary at $bin (pass it as the first argument)" >&2; exit 2; }
for tool in wrk /usr/sbin/nginx curl g++; do
  command -v "$tool" >/dev/null 2>&1 || { echo "s3_server_cpu_cost.sh: needs $tool" >&2; exit 2; }
done
exec /usr/bin/python3 "$here/s3_server_cpu_cost.py" "$bin" "$@"
