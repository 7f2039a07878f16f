#!/bin/sh
# plant_caught.sh S3RDMA BUG MAX_SEEDS [INVARIANT]: `s3rdma dst --plant BUG` must fail
# (exit 1) within MAX_SEEDS seeds (with a violation of INVARIANT among the first failing
# seed's, if given), and the printed replay command must reproduce the failure with the same
# event-trace hash.
set -u
bin=$1 bug=$2 max=$3 invariant=${4:-}
out=$("$bin" dst --seeds "1..$max" --plant "$bug" --first-failure 2>&1)
rc=$?
echo "$out" | tail -n 8
if [ "$rc" -ne 1 ]; then
  echo "FAIL: planted bug $bug not caught in $max seeds (exit $rc)"; exit 1
fi
seed=$(echo "$out" | sed -n 's/^first failure at seed \([0-9]*\),.*/\1/p')
[ -n "$seed" ] || { echo "FAIL: no 'first failure at seed' line"; exit 1; }
if [ -n "$invariant" ] && ! echo "$out" | grep -q "^  $invariant (t="; then
  echo "FAIL: seed $seed failed, but not the $invariant invariant"; exit 1
fi
replay=$(echo "$out" | sed -n 's/^  replay: s3rdma //p' | head -n 1)
r1=$("$bin" $replay 2>&1); rc1=$?
r2=$("$bin" $replay 2>&1); rc2=$?
h1=$(echo "$r1" | sed -n 's/.*\(trace hash [0-9a-f]*, history hash [0-9a-f]*\)$/\1/p')
h2=$(echo "$r2" | sed -n 's/.*\(trace hash [0-9a-f]*, history hash [0-9a-f]*\)$/\1/p')
if [ "$rc1" -ne 1 ] || [ "$rc2" -ne 1 ] || [ -z "$h1" ] || [ "$h1" != "$h2" ]; then
  echo "FAIL: replay '$replay' did not reproduce (exit $rc1/$rc2, hash '$h1' vs '$h2')"; exit 1
fi
echo "PASS: $bug caught at seed $seed; replay '$replay' fails again with $h1"
