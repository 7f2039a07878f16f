#!/bin/bash
# aws cli v2 (Debian's awscli 2.9) against `s3rdma serve` with the filesystem store:
# aws s3 cp/sync/ls/rm/mb/rb, a 100 MiB upload split into concurrent 8 MiB parts,
# aws s3api for each operation, and `aws s3 presign` fetched with curl. Bytes are compared.
# Usage: s3_awscli_test.sh S3RDMA_BINARY
set -euo pipefail
S3RDMA=$1
AWS=/usr/bin/aws
WORK=$(mktemp -d /tmp/s3rdma-awscli.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Read all input first (no SIGPIPE for the writer under pipefail), then match.
contains() { local out; out=$(cat); grep -q -- "$1" <<< "$out"; }
containsx() { local out; out=$(cat); grep -qx -- "$1" <<< "$out"; }

export S3RDMA_CREDENTIALS="AKIDAWSCLI:awscli/secret+key"
export AWS_ACCESS_KEY_ID=AKIDAWSCLI AWS_SECRET_ACCESS_KEY="awscli/secret+key"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/none
cat > "$AWS_CONFIG_FILE" <<CFG
[default]
s3 =
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  max_concurrent_requests = 8
CFG

"$S3RDMA" serve --port 0 --data-dir "$WORK/data" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "^listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out")
[ -n "$PORT" ] || fail "server did not start: $(cat "$WORK/server.err")"
EP="--endpoint-url http://127.0.0.1:$PORT"
echo "$($AWS --version) against port $PORT"
aws() {
  if [ "$1" = s3 ] && [[ "$2" =~ ^(cp|sync|rm)$ ]]; then
    shift; timeout 120 $AWS $EP s3 "$@" --only-show-errors
  else timeout 120 $AWS $EP "$@"; fi
}

# --- aws s3 ---
aws s3 mb s3://cli-bucket
head -c 104857600 /dev/urandom > "$WORK/big.bin"
aws s3 cp "$WORK/big.bin" s3://cli-bucket/big/big.bin
ETAG=$(aws s3api head-object --bucket cli-bucket --key big/big.bin --query ETag --output text)
[[ "$ETAG" == *-13\" ]] || fail "100 MiB upload was not 13 parts of 8 MiB: ETag $ETAG"
aws s3 cp s3://cli-bucket/big/big.bin "$WORK/big.out"
cmp "$WORK/big.bin" "$WORK/big.out" || fail "100 MiB object differs"
mkdir -p "$WORK/tree/a/b" "$WORK/tree/c d"
for i in 1 2 3; do head -c $((i * 1000)) /dev/urandom > "$WORK/tree/a/b/f$i"; done
echo "spaces and +plus" > "$WORK/tree/c d/x+y z.txt"
aws s3 sync "$WORK/tree" s3://cli-bucket/tree
aws s3 sync s3://cli-bucket/tree "$WORK/tree-back"
diff -r "$WORK/tree" "$WORK/tree-back" || fail "sync round trip differs"
aws s3 ls s3://cli-bucket/tree/ | contains "PRE a/" || fail "ls lacks PRE a/"
[ "$(aws s3 ls --recursive s3://cli-bucket/tree/ | wc -l)" = 4 ] || fail "recursive ls count"
aws s3 ls | contains cli-bucket || fail "bucket not listed"
aws s3 rm --recursive s3://cli-bucket/tree
[ "$(aws s3 ls --recursive s3://cli-bucket/tree/ | wc -l)" = 0 ] || fail "rm --recursive left keys"

# --- presign + curl ---
URL=$(timeout 60 $AWS $EP s3 presign s3://cli-bucket/big/big.bin --expires-in 120)
curl -sf -o "$WORK/presigned.out" "$URL" || fail "presigned GET failed"
cmp "$WORK/big.bin" "$WORK/presigned.out" || fail "presigned GET bytes differ"
CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/cli-bucket/big/big.bin")
[ "$CODE" = 403 ] || fail "anonymous GET got $CODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -r 0-9 "$URL")
[ "$CODE" = 206 ] || fail "presigned ranged GET got $CODE"

# --- aws s3api, one call per operation ---
api() { aws s3api "$@"; }
api create-bucket --bucket api-bucket > /dev/null
api head-bucket --bucket api-bucket
api list-buckets --query 'Buckets[].Name' --output text | contains api-bucket || fail list-buckets
echo "hello s3api" > "$WORK/small.txt"
api put-object --bucket api-bucket --key k1 --body "$WORK/small.txt" --content-type text/plain \
    --metadata color=blue > /dev/null
api head-object --bucket api-bucket --key k1 --query 'Metadata.color' --output text | containsx blue \
    || fail "metadata lost"
api get-object --bucket api-bucket --key k1 --range bytes=0-4 "$WORK/range.out" > /dev/null
[ "$(cat "$WORK/range.out")" = hello ] || fail "ranged get-object"
api copy-object --bucket api-bucket --key k2 --copy-source api-bucket/k1 > /dev/null
api get-object --bucket api-bucket --key k2 "$WORK/k2.out" > /dev/null
cmp "$WORK/small.txt" "$WORK/k2.out" || fail copy-object
[ "$(api list-objects --bucket api-bucket --query 'length(Contents)')" = 2 ] || fail list-objects
[ "$(api list-objects-v2 --bucket api-bucket --no-paginate --query 'KeyCount')" = 2 ] || fail list-objects-v2
api list-object-versions --bucket api-bucket --query 'Versions[0].VersionId' --output text | containsx null \
    || fail list-object-versions
UPLOAD=$(api create-multipart-upload --bucket api-bucket --key mp --query UploadId --output text)
head -c 5242880 /dev/urandom > "$WORK/p1"; head -c 1000 /dev/urandom > "$WORK/p2"
E2=$(api upload-part --bucket api-bucket --key mp --upload-id "$UPLOAD" --part-number 2 --body "$WORK/p2" --query ETag --output text)
E1=$(api upload-part --bucket api-bucket --key mp --upload-id "$UPLOAD" --part-number 1 --body "$WORK/p1" --query ETag --output text)
[ "$(api list-parts --bucket api-bucket --key mp --upload-id "$UPLOAD" --query 'length(Parts)')" = 2 ] || fail list-parts
api list-multipart-uploads --bucket api-bucket --query 'Uploads[0].UploadId' --output text | containsx "$UPLOAD" \
    || fail list-multipart-uploads
cat > "$WORK/parts.json" <<JSON
{"Parts": [{"PartNumber": 1, "ETag": $E1}, {"PartNumber": 2, "ETag": $E2}]}
JSON
api complete-multipart-upload --bucket api-bucket --key mp --upload-id "$UPLOAD" \
    --multipart-upload "file://$WORK/parts.json" > /dev/null
api get-object --bucket api-bucket --key mp "$WORK/mp.out" > /dev/null
cat "$WORK/p1" "$WORK/p2" | cmp - "$WORK/mp.out" || fail "multipart object differs"
UPLOAD=$(api create-multipart-upload --bucket api-bucket --key gone --query UploadId --output text)
api abort-multipart-upload --bucket api-bucket --key gone --upload-id "$UPLOAD"
if api abort-multipart-upload --bucket api-bucket --key gone --upload-id "$UPLOAD" 2> "$WORK/err"; then
  fail "second abort succeeded"
fi
grep -q NoSuchUpload "$WORK/err" || fail "expected NoSuchUpload: $(cat "$WORK/err")"
api delete-objects --bucket api-bucket --delete '{"Objects":[{"Key":"k1"},{"Key":"k2"}],"Quiet":true}' > /dev/null
api delete-object --bucket api-bucket --key mp
[ "$(api list-objects-v2 --bucket api-bucket --no-paginate --query 'KeyCount')" = 0 ] || fail "objects left"
api delete-bucket --bucket api-bucket
if api head-bucket --bucket api-bucket 2> /dev/null; then fail "bucket still there"; fi
aws s3 rb --force s3://cli-bucket
kill -0 "$SERVER_PID" || fail "server died"
echo "PASS: aws cli"
