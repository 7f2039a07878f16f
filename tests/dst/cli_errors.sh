#!/bin/sh
# cli_errors.sh S3RDMA: bad `s3rdma dst` flags give one short error line and exit 2.
set -u
bin=$1
fails=0
check() {  # check EXPECTED_SUBSTRING ARGS...
  want=$1; shift
  out=$("$bin" dst "$@" 2>&1); rc=$?
  lines=$(printf '%s\n' "$out" | wc -l)
  if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || [ "${#out}" -gt 200 ] ||
     ! printf '%s' "$out" | grep -q -- "$want"; then
    echo "FAIL: dst $*: exit $rc, $lines line(s), ${#out} chars: $out"; fails=1
  else
    echo "ok: dst $*: $out"
  fi
}
check "--seed must be an integer" --seed -1
check "--seed must be an integer" --seed abc
check "--seed must be an integer" --seed 99999999999999999999
check "--seeds must be A..B" --seeds 5..-1
check "--seeds must be A..B" --seeds 9..3
check "--seeds must be A..B" --seeds 1..99999999999999999999
check "not both" --seed 3 --seeds 1..2
check "give --seed S or --seeds A..B"
check "--ops must be" --seed 1 --ops 0
check "unknown planted bug" --seed 1 --plant no-such-bug
exit $fails
