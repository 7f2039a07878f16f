#!/usr/bin/env bash
# `s3rdma sim` as a user runs it: modelled and real-protocol mode of the same scenario side
# by side (from the CLI flag and from the scenario's `protocol:` key), outputs, determinism,
# sweeps over the mode, and usage errors.
set -u
bin=$1
src=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(--set workloads.0.requests=2 --set cluster.clients.count=2 --no-progress)

out=$("$bin" sim "$src/scenarios/quickstart.yaml" "${small[@]}" --protocol both --payload phantom \
      --out "$tmp/both") || fail "--protocol both exited $?: $out"
grep -q '^=== modelled ===' <<<"$out" || fail "no modelled section: $out"
grep -q '^=== real protocol (flow fidelity, phantom payloads) ===' <<<"$out" || fail "no real section: $out"
grep -q 'requests ok, 0 errors, 0 byte mismatches' <<<"$out" || fail "protocol line: $out"
grep -Eq '^  throughput +[0-9.]+ GB/s +[0-9.]+ GB/s +[-+][0-9.]+%' <<<"$out" || fail "no comparison table: $out"
for d in modelled real; do
  [ -s "$tmp/both/$d/results.json" ] || fail "--out wrote no $d/results.json"
done

# The same run chosen by the scenario file: the `protocol:` key.
sed 's/^transport: rdma$/transport: rdma\nprotocol: {mode: both, payload: phantom}/' \
    "$src/scenarios/quickstart.yaml" >"$tmp/q.yaml"
grep -q '^protocol:' "$tmp/q.yaml" || fail "could not add the protocol key"
out2=$("$bin" sim "$tmp/q.yaml" "${small[@]}" --out "$tmp/file") || fail "protocol key run exited $?"
grep -q '^=== real protocol (flow fidelity, phantom payloads) ===' <<<"$out2" || fail "protocol key ignored: $out2"
# Deterministic: the same seed gives byte-identical results from the flag and from the key.
cmp -s "$tmp/both/real/results.json" "$tmp/file/real/results.json" || fail "real results differ between runs"
cmp -s "$tmp/both/modelled/results.json" "$tmp/file/modelled/results.json" || fail "modelled results differ"
# The command line wins over the file.
out3=$("$bin" sim "$tmp/q.yaml" "${small[@]}" --protocol modelled) || fail "--protocol modelled exited $?"
grep -q 'real protocol' <<<"$out3" && fail "--protocol modelled still ran the protocol: $out3"

# A sweep over the mode: one table.
out4=$("$bin" sim "$src/scenarios/quickstart.yaml" "${small[@]}" --payload phantom \
       --sweep protocol.mode=modelled,real) || fail "sweep exited $?: $out4"
[ "$(grep -cE '^(modelled|real) ' <<<"$out4")" -eq 2 ] || fail "sweep table lacks a row per mode: $out4"

# Usage errors: one line, exit 2, naming the problem.
err=$("$bin" sim "$src/scenarios/quickstart.yaml" --protocol rael 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "bad --protocol: exit $rc"
[[ $err == "s3rdma: error: "*"rael"* ]] || fail "bad --protocol: '$err'"
err=$("$bin" sim "$src/scenarios/quickstart.yaml" --protocol real --loss 0.1 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "--loss without packet fidelity: exit $rc"
[[ $err == *"--loss 0.1: protocol.loss needs protocol.fidelity: packet"* ]] || fail "--loss message: '$err'"
sed 's/^transport: rdma$/transport: rdma\nprotocol: {mode: real, fidelty: packet}/' \
    "$src/scenarios/quickstart.yaml" >"$tmp/bad.yaml"
err=$("$bin" sim "$tmp/bad.yaml" 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "bad protocol key: exit $rc"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "bad key: not one line: $err"
[[ $err == *"bad.yaml:"*": unknown key 'fidelty' in protocol (did you mean 'fidelity'?)" ]] || fail "bad key: '$err'"
printf 'protocol: modelled\n' >>"$tmp/q.yaml"
err=$("$bin" sim "$tmp/q.yaml" 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "repeated protocol key: exit $rc"
[[ $err == *"duplicate key 'protocol' (first at line "* ]] || fail "repeated key: '$err'"
echo "sim_cli: ok"
