#!/bin/bash
# s3cmd (Debian) against `s3rdma serve` (memory store): mb, put (single and multipart),
# get (s3cmd checks the MD5 ETag), ls, la, info, sync both ways, del, rb.
# Usage: s3cmd_test.sh S3RDMA_BINARY
set -euo pipefail
S3RDMA=$1
WORK=$(mktemp -d /tmp/s3rdma-s3cmd.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
contains() { local out; out=$(cat); grep -q -- "$1" <<< "$out"; }

export S3RDMA_CREDENTIALS="AKIDS3CMD:s3cmd-secret"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
"$S3RDMA" serve --port 0 --memory > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "^listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out")
[ -n "$PORT" ] || fail "server did not start: $(cat "$WORK/server.err")"
cat > "$WORK/s3cfg" <<CFG
[default]
access_key = AKIDS3CMD
secret_key = s3cmd-secret
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
multipart_chunk_size_mb = 5
CFG
s3() { timeout 120 /usr/bin/s3cmd -c "$WORK/s3cfg" --no-progress "$@"; }
echo "$(/usr/bin/s3cmd --version) against port $PORT"

s3 mb s3://s3cmd-bucket
head -c 12000000 /dev/urandom > "$WORK/multi.bin"   # > 5 MiB chunk: multipart
echo "small file" > "$WORK/small.txt"
s3 put "$WORK/multi.bin" s3://s3cmd-bucket/multi.bin
s3 put "$WORK/small.txt" "s3://s3cmd-bucket/dir/small file.txt"
s3 get s3://s3cmd-bucket/multi.bin "$WORK/multi.out"
cmp "$WORK/multi.bin" "$WORK/multi.out" || fail "multipart object differs"
s3 get "s3://s3cmd-bucket/dir/small file.txt" "$WORK/small.out"
cmp "$WORK/small.txt" "$WORK/small.out" || fail "small object differs"
s3 ls s3://s3cmd-bucket/ | contains "DIR.*s3://s3cmd-bucket/dir/" || fail "ls lacks dir/"
s3 la | contains "multi.bin" || fail "la lacks multi.bin"
s3 info s3://s3cmd-bucket/multi.bin | contains "12000000" || fail "info size"
mkdir -p "$WORK/tree/x" "$WORK/tree/y"
for i in 1 2 3 4; do head -c $((i * 777)) /dev/urandom > "$WORK/tree/x/f$i"; done
echo y > "$WORK/tree/y/file"
s3 sync "$WORK/tree/" s3://s3cmd-bucket/tree/
s3 sync s3://s3cmd-bucket/tree/ "$WORK/back/"
diff -r "$WORK/tree" "$WORK/back" || fail "sync round trip differs"
echo changed > "$WORK/tree/y/file"
s3 sync "$WORK/tree/" s3://s3cmd-bucket/tree/ | contains "upload:" || fail "changed file not re-synced"
s3 get --force s3://s3cmd-bucket/tree/y/file "$WORK/y.out"
cmp "$WORK/tree/y/file" "$WORK/y.out" || fail "re-synced file differs"
s3 del s3://s3cmd-bucket/multi.bin
s3 del --recursive --force s3://s3cmd-bucket/
[ -z "$(s3 ls --recursive s3://s3cmd-bucket/)" ] || fail "objects left after del"
s3 rb s3://s3cmd-bucket
kill -0 "$SERVER_PID" || fail "server died"
echo "PASS: s3cmd"
