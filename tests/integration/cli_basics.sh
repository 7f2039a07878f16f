#!/usr/bin/env bash
# --version, --help and usage errors of the s3rdma command.
set -u
bin=$1
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bin" --version) || fail "--version exited $?"
[[ $out =~ ^s3rdma\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$out'"

out=$("$bin" --help) || fail "--help exited $?"
grep -q -- '--log-level' <<<"$out" || fail "--help does not list --log-level"
grep -q 'S3-over-RDMA' <<<"$out" || fail "--help does not say what s3rdma is"

err=$("$bin" --no-such-flag 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "unknown flag: exit $rc, want 2"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "unknown flag: error is not one line: $err"
[[ $err == "s3rdma: error: "*"--no-such-flag"* ]] || fail "unknown flag: message '$err'"

err=$("$bin" --log-level loud 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "bad --log-level: exit $rc, want 2"
[[ $err == *"unknown log level 'loud'"* ]] || fail "bad --log-level: message '$err'"

err=$("$bin" no-such-command 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || fail "unknown subcommand: exit $rc, want 2"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "unknown subcommand: not one line: $err"
echo "cli_basics: ok"
