#!/bin/sh
# Test of the main job, `make demo` = `ctrain train configs/digits_cnn.yaml`:
# the CNN reaches >= 97% test accuracy on the digits in under a minute,
# prints per-epoch lines when stdout is not a terminal and writes the run
# folder. Then `ctrain demo` (softmax regression): >= 95%, the same result
# for any thread count, and a missing or corrupt data file refused with exit
# status 1 and a message naming the file and line.
# usage: test_demo.sh CTRAIN_BINARY DATA_FILE
set -u
bin=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

accuracy() { sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$1"; }

# 0. the main job: the digits CNN
config=$(cd "$(dirname "$0")/.." && pwd)/configs/digits_cnn.yaml
start=$(date +%s)
"$bin" train "$config" data.path="$data" output.dir="$tmp/runs" >"$tmp/cnn" 2>&1 ||
  { cat "$tmp/cnn"; fail "ctrain train $config exited $?"; }
secs=$(( $(date +%s) - start ))
cacc=$(accuracy "$tmp/cnn")
[ -n "$cacc" ] || { cat "$tmp/cnn"; fail "cnn: no 'test accuracy:' line"; }
awk -v a="$cacc" 'BEGIN { exit !(a >= 0.97) }' || fail "cnn: test accuracy $cacc < 0.97"
[ "$secs" -lt 60 ] || fail "cnn: took $secs s"
grep -q '^epoch  20/20' "$tmp/cnn" || fail "cnn: no per-epoch lines when stdout is not a terminal"
for f in model.safetensors train_state.safetensors log.csv config.yaml curves.png; do
  [ -s "$tmp/runs/digits_cnn/$f" ] || fail "cnn: run folder lacks $f"
done
[ "$(wc -l <"$tmp/runs/digits_cnn/log.csv")" -eq 21 ] || fail "cnn: log.csv rows"

# 1. `ctrain demo` (softmax regression)
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
echo "demo: digits CNN test accuracy $cacc in ${secs}s; softmax demo $acc; errors reported"
