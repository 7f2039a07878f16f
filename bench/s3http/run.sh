#!/bin/bash
# S3 over HTTP: `s3rdma serve` versus nginx (Debian nginx-light, one worker, sendfile)
# serving the same objects, loaded by the same wrk command at the same concurrency.
# Usage: bench/s3http/run.sh S3RDMA_BINARY [DURATION_SECONDS]
# Prints a Markdown table (the bench/RESULTS.md section) and the raw wrk lines.
set -euo pipefail
S3RDMA=$(realpath "$1")
DUR=${2:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
C_SMALL=${C_SMALL:-32}   # connections for 4 KiB GETs
C_LARGE=${C_LARGE:-4}    # connections for 64 MiB GETs
WORK=$(mktemp -d /tmp/s3rdma-bench-s3http.XXXXXX)
PIDS=()
cleanup() {
  [ -s "$WORK/s3rdma.err" ] && { echo "s3rdma stderr:" >&2; cat "$WORK/s3rdma.err" >&2; }
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || echo "process $p exited early" >&2; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$WORK/www/bench" "$WORK/nginx/logs"
head -c 4096 /dev/urandom > "$WORK/www/bench/obj4k"
head -c 67108864 /dev/urandom > "$WORK/www/bench/obj64m"
chmod 755 "$WORK"; chmod -R a+rX "$WORK/www"  # nginx workers run as www-data

# --- nginx ---
NGINX_PORT=$(free_port)
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
  }
}
CONF
/usr/sbin/nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)

# --- s3rdma (memory store and filesystem store) ---
export S3RDMA_CREDENTIALS="AKIDBENCH:bench-secret"
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret
start_s3rdma() {  # $1 = store args; prints the port
  local out="$WORK/s3rdma-$RANDOM.out"
  "$S3RDMA" serve --port 0 $1 --anonymous-read bench > "$out" 2>> "$WORK/s3rdma.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "^listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out"
}
MEM_PORT=$(start_s3rdma --memory)
FS_PORT=$(start_s3rdma "--data-dir $WORK/s3data")
for port in $MEM_PORT $FS_PORT; do
  "$S3RDMA" mb s3://bench --endpoint "http://127.0.0.1:$port" > /dev/null
  for obj in obj4k obj64m; do
    "$S3RDMA" put "$WORK/www/bench/$obj" "s3://bench/$obj" --endpoint "http://127.0.0.1:$port" > /dev/null
  done
done
sleep 0.5
for port in $NGINX_PORT $MEM_PORT $FS_PORT; do  # same bytes everywhere
  for obj in obj4k obj64m; do
    curl -sf "http://127.0.0.1:$port/bench/$obj" | cmp - "$WORK/www/bench/$obj" || { echo "port $port serves wrong bytes for $obj" >&2; cat "$WORK/nginx/logs/error.log" "$WORK/s3rdma.err" >&2; exit 1; }
  done
done

RESULTS=()
run_wrk() {  # $1 label, $2 connections, rest: wrk URL and headers
  local label=$1 conns=$2
  shift 2
  local out
  out=$(wrk -t1 -c"$conns" -d"${DUR}s" --latency "$@" 2>&1) || true
  if ! grep -q 'requests in' <<< "$out"; then
    echo "wrk failed for $label: $out" >&2
    RESULTS+=("$label|$conns|failed|-|-")
    return 0
  fi
  local rps bps p50
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
  bps=$(awk '/^Transfer\/sec:/ {print $2}' <<< "$out")
  p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
  local errs
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<< "$out" | tr '\n' ' ')
  echo "raw: $label: $(grep -E 'requests in' <<< "$out" | xargs) | $errs" >&2
  RESULTS+=("$label|$conns|$rps|$bps|$p50")
}

SIG_HEADERS=()
while IFS= read -r line; do SIG_HEADERS+=("$line"); done < <(/usr/bin/python3 "$HERE/sign_headers.py" header "http://127.0.0.1:$MEM_PORT" /bench/obj4k)
PRESIGNED=$(/usr/bin/python3 "$HERE/sign_headers.py" presign "http://127.0.0.1:$MEM_PORT" /bench/obj4k)
SIG_HEADERS_FS=()
while IFS= read -r line; do SIG_HEADERS_FS+=("$line"); done < <(/usr/bin/python3 "$HERE/sign_headers.py" header "http://127.0.0.1:$FS_PORT" /bench/obj4k)

run_wrk "nginx 4 KiB" "$C_SMALL" "http://127.0.0.1:$NGINX_PORT/bench/obj4k"
run_wrk "s3rdma memory 4 KiB anonymous" "$C_SMALL" "http://127.0.0.1:$MEM_PORT/bench/obj4k"
run_wrk "s3rdma fs 4 KiB anonymous" "$C_SMALL" "http://127.0.0.1:$FS_PORT/bench/obj4k"
run_wrk "s3rdma memory 4 KiB SigV4 header" "$C_SMALL" "${SIG_HEADERS[@]}" "http://127.0.0.1:$MEM_PORT/bench/obj4k"
run_wrk "s3rdma memory 4 KiB SigV4 presigned" "$C_SMALL" "$PRESIGNED"
run_wrk "s3rdma fs 4 KiB SigV4 header" "$C_SMALL" "${SIG_HEADERS_FS[@]}" "http://127.0.0.1:$FS_PORT/bench/obj4k"
run_wrk "nginx 64 MiB" "$C_LARGE" "http://127.0.0.1:$NGINX_PORT/bench/obj64m"
run_wrk "s3rdma memory 64 MiB anonymous" "$C_LARGE" "http://127.0.0.1:$MEM_PORT/bench/obj64m"
run_wrk "s3rdma fs 64 MiB anonymous" "$C_LARGE" "http://127.0.0.1:$FS_PORT/bench/obj64m"

echo "| run | wrk connections | requests/s | transfer/s | p50 latency |"
echo "|---|---|---|---|---|"
for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
