#!/bin/sh
# The issue's accuracy check of 8-bit optimizer state on the demo task:
# `ctrain train configs/digits_cnn.yaml` (AdamW, 20 epochs) with
# optimizer.state_dtype=int8 (tensors of 4096 elements or more quantized,
# bitsandbytes' min_8bit_size; and every tensor, min_8bit_size=0) and with
# bf16 state (stochastic rounding) must end with a final training loss at
# most 1% above the fp32 run's.
# usage: test_optim_precision_demo.sh CTRAIN_BINARY CONFIG DATA_FILE
set -u
bin=$1 cfg=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# final training loss (log.csv: epoch,step,lr,train_loss,...) of a run
run() {
    name=$1
    shift
    "$bin" train "$cfg" data.path="$data" output.dir="$tmp/$name" "$@" >"$tmp/$name.out" 2>&1 ||
        fail "ctrain train $* failed: $(tail -3 "$tmp/$name.out")"
    tail -1 "$tmp/$name/digits_cnn/log.csv" | cut -d, -f4
}

l32=$(run fp32) || exit 1
l8=$(run int8 optimizer.state_dtype=int8) || exit 1
l80=$(run int8all optimizer.state_dtype=int8 optimizer.min_8bit_size=0) || exit 1
l16=$(run bf16 optimizer.state_dtype=bf16 optimizer.stochastic_rounding=true) || exit 1
grep -q "state_dtype: int8\|state_dtype=int8" "$tmp/int8/digits_cnn/config.yaml" ||
    fail "the int8 run's config.yaml does not record state_dtype"
echo "final train loss: fp32 $l32  int8 $l8  int8 (every tensor) $l80  bf16 $l16"
awk -v a="$l32" -v b="$l8" -v c="$l16" -v d="$l80" 'BEGIN {
    if (!(a > 0 && a < 0.5)) { print "FAIL: fp32 run did not train (" a ")"; exit 1 }
    if (b == a) { print "FAIL: the int8 run equals the fp32 run"; exit 1 }
    if (b > 1.01 * a) { print "FAIL: int8 final loss " b " is more than 1% above fp32 " a; exit 1 }
    if (d > 1.01 * a) { print "FAIL: int8 (min_8bit_size=0) final loss " d " is more than 1% above fp32 " a; exit 1 }
    if (c > 1.01 * a) { print "FAIL: bf16-state final loss " c " is more than 1% above fp32 " a; exit 1 }
}' || exit 1
echo "ok"
