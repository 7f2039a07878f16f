#!/usr/bin/env bash
# `s3rdma perf` over the UDP fabric as a user runs it: a server process and a client process
# on loopback, talking RoCEv2 datagrams. Checks that WRITE / READ / SEND / atomic bandwidth
# runs complete with the received bytes verified on the receiving side (the command exits
# non-zero otherwise), that a latency run reports sane numbers, that a pcap capture is
# written, and that bad flags are one-line usage errors (exit 2).
#
# Usage: emu_perf_udp.sh PATH/TO/s3rdma. Ports: the server listens on an ephemeral TCP port
# (--port 0) and binds its RoCEv2 socket to an ephemeral UDP port; everything is on 127.0.0.1.
set -euo pipefail

bin=$1
tmp=$(mktemp -d)
srv=
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# run_pair TEST [CLIENT ARGS...]: runs a server and a client; the client's stdout goes to
# $tmp/client.out; fails if either side fails.
run_pair() {
  local test=$1; shift
  : >"$tmp/server.err"
  "$bin" perf "$test" --fabric udp --port 0 --timeout 30 >"$tmp/server.out" 2>"$tmp/server.err" &
  srv=$!
  local port=
  for _ in $(seq 200); do
    port=$(sed -n 's/.*waiting for a client on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.err")
    [ -n "$port" ] && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$tmp/server.err" >&2; fail "$test: server did not start"; }
  if ! "$bin" perf "$test" --fabric udp --connect "127.0.0.1:$port" --timeout 30 "$@" \
      >"$tmp/client.out" 2>"$tmp/client.err"; then
    cat "$tmp/client.err" >&2
    fail "$test: client failed"
  fi
  if ! wait "$srv"; then
    srv=
    cat "$tmp/server.err" >&2
    fail "$test: server failed"
  fi
  srv=
}

json_field() {  # json_field FILE KEY
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

run_pair write --size 1MiB --iters 200 --json --pcap "$tmp/write.pcap"
grep -q "received data verified" "$tmp/server.err" || fail "write: server did not verify the data"
[ "$(json_field "$tmp/client.out" iterations)" = 200 ] || fail "write: wrong iteration count"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["bw_avg_gbytes_per_s"] > 0.01, j' \
  "$tmp/client.out" || fail "write: implausible bandwidth"
# 200 x 1 MiB at MTU 4096 is 51200 WRITE packets plus ACKs, each in a 16+ byte pcap record.
[ "$(stat -c %s "$tmp/write.pcap")" -gt $((51200 * 16)) ] || fail "write: pcap too small"
echo "write bw ok: $(json_field "$tmp/client.out" bw_avg_gbytes_per_s) GB/s"

run_pair read --size 200000 --iters 200 --mtu 1024 --json
echo "read bw ok: $(json_field "$tmp/client.out" bw_avg_gbytes_per_s) GB/s"
run_pair send --size 5000 --iters 2000 --json
grep -q "received data verified" "$tmp/server.err" || fail "send: server did not verify the data"
echo "send bw ok: $(json_field "$tmp/client.out" msg_rate_mpps) Mpps"
run_pair atomic --iters 2000 --qdepth 16 --json
grep -q "received data verified" "$tmp/server.err" || fail "atomic: counter not checked"
echo "atomic ok: $(json_field "$tmp/client.out" msg_rate_mpps) Mpps"

run_pair write --latency --size 8 --iters 2000 --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert 0 < j["t_min_us"] <= j["t_typical_us"] <= j["t_p99_us"] <= j["t_p999_us"] <= j["t_max_us"], j' \
  "$tmp/client.out" || fail "latency: inconsistent percentiles"
echo "write latency ok: typical $(json_field "$tmp/client.out" t_typical_us) us"

# Bad flags: one line on stderr, exit 2.
for args in "perf write --size 0" "perf write --mtu 300" "perf copy" "perf write --fabric tcp" \
            "perf write --fabric inproc --connect 127.0.0.1" "perf write --qdepth 0" \
            "perf write --connect 127.0.0.1:99999" "perf write --iters -5"; do
  set +e
  # shellcheck disable=SC2086
  "$bin" $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  [ "$rc" = 2 ] || fail "'$args' exited $rc, expected 2"
  [ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; fail "'$args': not a one-line error"; }
done
echo "bad flags ok"
