#!/bin/sh
# Test of `ctrain demo`: it trains to >= 95% test accuracy on the digits,
# gives the same result for any thread count, and refuses a missing or
# corrupt data file with exit status 1 and a message naming the file and line.
# usage: test_demo.sh CTRAIN_BINARY DATA_FILE
set -u
bin=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

accuracy() { sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$1"; }

# 1. the main job
"$bin" demo --data "$data" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "demo exited $?"; }
acc=$(accuracy "$tmp/out")
[ -n "$acc" ] || { cat "$tmp/out"; fail "no 'test accuracy:' line"; }
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' || fail "test accuracy $acc < 0.95"
grep -q '^epoch ' "$tmp/out" || fail "no per-epoch lines when stdout is not a terminal"

# 2. same numbers with 3 threads and for a second run (quiet: one line)
"$bin" demo --data "$data" --quiet --threads 1 >"$tmp/q1" || fail "quiet run failed"
"$bin" demo --data "$data" --quiet --threads 3 >"$tmp/q3" || fail "3-thread run failed"
[ "$(wc -l <"$tmp/q1")" -eq 1 ] || fail "--quiet printed more than one line"
[ "$(sed "s/  trained in.*//" "$tmp/q1")" = "$(sed "s/  trained in.*//" "$tmp/q3")" ] ||
  fail "1 and 3 threads differ: $(cat "$tmp/q1") / $(cat "$tmp/q3")"
[ "$(accuracy "$tmp/q1")" = "$acc" ] || fail "quiet run differs from the first run"

# 3. SGD with momentum also reaches 95%
"$bin" demo --data "$data" --quiet --optimizer sgd >"$tmp/sgd" || fail "sgd run failed"
awk -v a="$(accuracy "$tmp/sgd")" 'BEGIN { exit !(a >= 0.95) }' || fail "sgd: $(cat "$tmp/sgd")"

# 4. errors: exit status 1 and a message naming the file (and line)
expect_error() { # FILE PATTERN
  "$bin" demo --data "$1" >"$tmp/eout" 2>"$tmp/eerr"
  rc=$?
  [ $rc -eq 1 ] || fail "$1: exit status $rc, expected 1"
  grep -q "$1" "$tmp/eerr" || fail "$1: message does not name the file: $(cat "$tmp/eerr")"
  grep -q "$2" "$tmp/eerr" || fail "$1: message lacks '$2': $(cat "$tmp/eerr")"
}
size=$(wc -c <"$data")
head -c $((size / 2)) "$data" >"$tmp/truncated.csv.gz"
expect_error "$tmp/truncated.csv.gz" 'line [0-9]'
expect_error "$tmp/missing.csv.gz" 'cannot open'
gzip -dc "$data" | sed '7s/^[0-9]*,/x,/' >"$tmp/bad-value.csv"
expect_error "$tmp/bad-value.csv" 'line 7: column 1'
gzip -dc "$data" | sed '11s/,[0-9]*$//' >"$tmp/short-line.csv"
expect_error "$tmp/short-line.csv" 'line 11:'
echo "demo: test accuracy $acc; errors reported"
