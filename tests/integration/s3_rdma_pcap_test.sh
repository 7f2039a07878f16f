#!/bin/bash
# A pcap of one RDMA GET, as an independent dissector sees it: the client's own RoCEv2
# capture (s3rdma get --rdma udp --pcap FILE) and a tshark capture of the HTTP side on lo.
# tshark must show, in time order: the HTTP GET request for the object on TCP, then the
# server's RDMA WRITE packets (FIRST/MIDDLE/LAST, carrying the object's bytes) into the
# client, then the HTTP 200 reply (Content-Length: 0, x-amz-rdma-reply: 200).
# Exit 77 (registered as SKIP) only when capturing is impossible (no tshark, or no
# permission to capture on lo).
# Usage: s3_rdma_pcap_test.sh S3RDMA_BINARY
set -euo pipefail
S3RDMA=$1
WORK=$(mktemp -d /tmp/s3rdma-rdma-pcap.XXXXXX)
SERVER_PID=
TSHARK_PID=
cleanup() {
  [ -n "$TSHARK_PID" ] && kill "$TSHARK_PID" 2>/dev/null && wait "$TSHARK_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

command -v tshark > /dev/null || skip "tshark is not installed"
export S3RDMA_CREDENTIALS="AKIDPCAP:pcap-secret"
export AWS_ACCESS_KEY_ID=AKIDPCAP AWS_SECRET_ACCESS_KEY=pcap-secret

"$S3RDMA" serve --port 0 --memory --rdma udp > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "^rdma listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out" | head -1)
[ -n "$PORT" ] || fail "server did not start: $(cat "$WORK/server.err")"
EP="--endpoint http://127.0.0.1:$PORT"
# The server's RoCEv2 port (4791 when free): decoded as InfiniBand whatever it is.
RDMA_PORT=$(sed -n 's/^rdma listening on udp .*:\([0-9]*\).*/\1/p' "$WORK/server.out" | head -1)
[ -n "$RDMA_PORT" ] || fail "server did not report its RDMA port: $(cat "$WORK/server.out")"

SIZE=200000
head -c $SIZE /dev/urandom > "$WORK/obj"
timeout 30 "$S3RDMA" mb s3://pcap $EP > /dev/null
timeout 30 "$S3RDMA" put "$WORK/obj" s3://pcap/obj $EP > /dev/null

# The HTTP side: tshark on lo, only this server's TCP port.
tshark -n -i lo -f "tcp port $PORT" -w "$WORK/tcp.pcap" > "$WORK/tshark.out" 2> "$WORK/tshark.err" &
TSHARK_PID=$!
for _ in $(seq 100); do
  grep -q "Capturing on" "$WORK/tshark.err" 2>/dev/null && break
  kill -0 "$TSHARK_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "Capturing on" "$WORK/tshark.err"; then
  skip "cannot capture on lo: $(head -c 300 "$WORK/tshark.err")"
fi
sleep 0.3
timeout 30 "$S3RDMA" get s3://pcap/obj "$WORK/obj.out" $EP --rdma udp --pcap "$WORK/rdma.pcap" \
  > "$WORK/get.out" || fail "get --rdma failed"
grep -q "via RDMA" "$WORK/get.out" || fail "get did not use RDMA: $(cat "$WORK/get.out")"
cmp "$WORK/obj" "$WORK/obj.out" || fail "bytes differ"
sleep 0.5
kill -INT "$TSHARK_PID"
wait "$TSHARK_PID" 2>/dev/null || true
TSHARK_PID=

# HTTP request for the object on TCP (the CLI sends HEAD for the size, then the RDMA GET).
tshark -n -r "$WORK/tcp.pcap" -d tcp.port==$PORT,http -Y 'http.request' -T fields -e frame.time_epoch \
  -e http.request.method -e http.request.uri -e http.request.line > "$WORK/http-req.txt"
tshark -n -r "$WORK/tcp.pcap" -d tcp.port==$PORT,http -Y 'http.response' -T fields -e frame.time_epoch \
  -e http.response.code -e http.response.line > "$WORK/http-resp.txt"
echo "--- HTTP requests on TCP port $PORT:"; cut -f1-3 "$WORK/http-req.txt"
grep -q $'\tPOST\t/?rdmaConnect' "$WORK/http-req.txt" || fail "no POST /?rdmaConnect on TCP"
GET_LINE=$(grep $'\tGET\t/pcap/obj' "$WORK/http-req.txt" | head -1)
[ -n "$GET_LINE" ] || fail "no HTTP GET /pcap/obj on TCP"
grep -q "x-amz-rdma-token: " <<< "$GET_LINE" || fail "the GET carries no x-amz-rdma-token"
T_GET=$(cut -f1 <<< "$GET_LINE")

# RDMA WRITE packets in the RoCEv2 capture (opcodes 6 FIRST, 7 MIDDLE, 8 LAST, 10 ONLY).
tshark -n -r "$WORK/rdma.pcap" -d udp.port==$RDMA_PORT,infiniband -T fields -e frame.time_epoch -e frame.protocols \
  -e infiniband.bth.opcode -e udp.length > "$WORK/roce.txt"
grep -q "infiniband" "$WORK/roce.txt" || fail "tshark does not dissect the capture as InfiniBand"
awk -F'\t' '$3==6 || $3==7 || $3==8 || $3==10' "$WORK/roce.txt" > "$WORK/writes.txt"
WRITES=$(wc -l < "$WORK/writes.txt")
echo "--- RoCEv2 capture: $(wc -l < "$WORK/roce.txt") packets, $WRITES RDMA WRITE packets"
[ "$WRITES" -ge $((SIZE / 4096)) ] || fail "expected >= $((SIZE / 4096)) RDMA WRITE packets, got $WRITES"
grep -qP '\t6\t' "$WORK/writes.txt" || fail "no RDMA WRITE FIRST"
grep -qP '\t8\t' "$WORK/writes.txt" || fail "no RDMA WRITE LAST"
T_W0=$(head -1 "$WORK/writes.txt" | cut -f1)
T_W1=$(tail -1 "$WORK/writes.txt" | cut -f1)
# The 200 reply to the GET: the first 200 after the GET request.
T_REPLY=$(awk -F'\t' -v t="$T_GET" '$1 > t && $2 == 200 {print $1; exit}' "$WORK/http-resp.txt")
[ -n "$T_REPLY" ] || fail "no HTTP 200 after the GET"
echo "--- GET request $T_GET, RDMA WRITEs $T_W0 .. $T_W1, HTTP reply $T_REPLY"
awk -v a="$T_GET" -v b="$T_W0" -v c="$T_W1" -v d="$T_REPLY" \
  'BEGIN { exit !(a < b && b <= c && c <= d) }' || fail "wrong order: request, WRITEs, reply"
tshark -n -r "$WORK/tcp.pcap" -d tcp.port==$PORT,http -Y "http.response and frame.time_epoch == $T_REPLY" -V 2>/dev/null \
  | grep -qi "x-amz-rdma-reply: 200" || fail "the GET's reply lacks x-amz-rdma-reply: 200"
echo "PASS"
