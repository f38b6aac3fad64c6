#!/bin/sh
# Test of `ctrain train`, `ctrain eval`, `ctrain predict`:
#  1. a run interrupted after 2 epochs and resumed with --resume ends with a
#     checkpoint bit-identical to an uninterrupted run (with dropout, batch
#     norm, a per-step schedule, clipping);
#  2. the checkpoint loads with the Python safetensors package into the
#     equivalent torch.nn.Sequential and gives ctrain's predictions;
#  3. .npy data and `ctrain eval`;
#  4. bad configs, data and checkpoints: exit status 1 and a message naming
#     the file and line (or the file) and the problem; nothing overwritten.
# usage: test_nn_train.sh CTRAIN_BINARY DATA_FILE [PYTHON]
set -u
bin=$1 data=$2 py=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

cat >"$tmp/small.yaml" <<EOF
name: small
seed: 7
data: {source: digits, path: $data, shape: [1, 8, 8], test_split: 0.2, val_split: 0.1}
model:
  - conv2d: {out_channels: 6, kernel_size: 3, padding: 1}
  - batchnorm2d
  - relu
  - maxpool2d: {kernel_size: 2}
  - flatten
  - dropout: {p: 0.2}
  - linear: {out_features: 24}
  - gelu
  - linear: {in_features: 24, out_features: 10}
loss: {kind: cross_entropy, label_smoothing: 0.05}
optimizer: {name: adamw, lr: 0.01, betas: [0.9, 0.99], weight_decay: 0.01}
schedule: {name: cosine, interval: step}
clip: {max_norm: 1.0}
train: {epochs: 4, batch_size: 64}
output: {dir: $tmp/runs}
EOF

# 1. resume
"$bin" train "$tmp/small.yaml" --quiet name=full >"$tmp/full.out" 2>&1 ||
  { cat "$tmp/full.out"; fail "uninterrupted run"; }
"$bin" train "$tmp/small.yaml" name=part train.stop_after=2 >"$tmp/part.out" 2>&1 ||
  { cat "$tmp/part.out"; fail "interrupted run"; }
grep -q "stopped after epoch 2" "$tmp/part.out" || fail "no stop message: $(cat "$tmp/part.out")"
[ "$(wc -l <"$tmp/runs/part/log.csv")" -eq 3 ] || fail "log.csv of the interrupted run"
"$bin" train "$tmp/small.yaml" name=part --resume --quiet >"$tmp/resumed.out" 2>&1 ||
  { cat "$tmp/resumed.out"; fail "resumed run"; }
cmp -s "$tmp/runs/full/model.safetensors" "$tmp/runs/part/model.safetensors" ||
  fail "resumed model differs from the uninterrupted one"
cmp -s "$tmp/runs/full/train_state.safetensors" "$tmp/runs/part/train_state.safetensors" ||
  fail "resumed optimizer state differs from the uninterrupted one"
[ "$(wc -l <"$tmp/runs/part/log.csv")" -eq 5 ] || fail "log.csv after resume: $(cat "$tmp/runs/part/log.csv")"
[ "$(cat "$tmp/full.out")" = "$(cat "$tmp/resumed.out")" ] || [ "$(sed 's/ in [0-9.]* s$//' "$tmp/full.out")" = "$(sed 's/ in [0-9.]* s$//' "$tmp/resumed.out")" ] ||
  fail "final lines differ: $(cat "$tmp/full.out") / $(cat "$tmp/resumed.out")"

# early stopping: patience 1 on the validation accuracy stops long before 40 epochs
"$bin" train "$tmp/small.yaml" name=es train.epochs=40 \
  "train.early_stopping={metric: val_acc, patience: 1}" >"$tmp/es.out" 2>&1 ||
  { cat "$tmp/es.out"; fail "early-stopping run"; }
grep -q "^early stopping: val_acc has not improved for 1 epochs" "$tmp/es.out" ||
  fail "no early stop: $(tail -3 "$tmp/es.out")"
rows=$(($(wc -l <"$tmp/runs/es/log.csv") - 1))
[ "$rows" -lt 40 ] && grep -q "trained $rows epochs" "$tmp/es.out" || fail "early stop after $rows epochs"

# the shipped MLP config (batch norm, dropout, SGD + OneCycle per step) still trains
"$bin" train "$here/../configs/digits_mlp.yaml" --quiet data.path="$data" output.dir="$tmp/runs" \
  >"$tmp/mlp.out" 2>&1 || { cat "$tmp/mlp.out"; fail "configs/digits_mlp.yaml"; }
macc=$(sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$tmp/mlp.out")
awk -v a="$macc" 'BEGIN { exit !(a >= 0.95) }' || fail "digits_mlp: $(cat "$tmp/mlp.out")"

# 2. the checkpoint in torch, and ctrain predict / eval
gzip -dc "$data" | head -50 | cut -d, -f1-64 >"$tmp/x.csv"
if [ -n "$py" ]; then
  "$py" -c "import numpy as np; np.save('$tmp/x.npy', np.loadtxt('$tmp/x.csv', delimiter=',', dtype=np.float32))" ||
    fail "writing x.npy"
  "$bin" predict "$tmp/runs/full" "$tmp/x.npy" -o "$tmp/logits.npy" >"$tmp/pred.out" ||
    fail "predict: $(cat "$tmp/pred.out")"
  [ "$(wc -l <"$tmp/pred.out")" -eq 50 ] || fail "predict printed $(wc -l <"$tmp/pred.out") lines"
  "$py" "$here/ref/check_nn_checkpoint.py" "$tmp/runs/full" "$tmp/x.npy" "$tmp/logits.npy" ||
    fail "checkpoint does not reproduce in torch"
  "$py" -c "
from PIL import Image
im = Image.open('$tmp/runs/full/curves.png'); im.load()
assert im.size == (1040, 400) and im.mode == 'RGB', (im.size, im.mode)
assert len(im.getcolors(1 << 20) or []) > 3, 'an empty plot'" || fail "curves.png is not a valid plot"
  if "$py" -c "import tensorboard" 2>/dev/null; then
    "$py" "$here/ref/check_nn_events.py" "$tmp/runs/full" || fail "TensorBoard events"
  else
    echo "nn train: tensorboard not installed: event files not checked"
  fi
  # 3. .npy data: the digits as arrays train the same model
  gzip -dc "$data" >"$tmp/digits.csv"
  "$py" -c "
import numpy as np
a = np.loadtxt('$tmp/digits.csv', delimiter=',')
np.save('$tmp/dx.npy', a[:, :64].astype(np.float64)); np.save('$tmp/dy.npy', a[:, 64].astype(np.int64))
np.save('$tmp/dy_float.npy', a[:, 64].astype(np.float32)); np.save('$tmp/dx_short.npy', a[:100, :64])
np.savez_compressed('$tmp/d.npz', x=a[:, :64].astype(np.float64), y=a[:, 64].astype(np.int64))
np.savez('$tmp/d_stored.npz', x=a[:, :64].astype(np.float64), y=a[:, 64].astype(np.int64))" ||
    fail "writing npy data"
  "$bin" train "$tmp/small.yaml" --quiet name=npy data.source=npy data.x="$tmp/dx.npy" \
    data.y="$tmp/dy.npy" data.scale=0.0625 train.epochs=2 >"$tmp/npy.out" 2>&1 &&
    fail "a key of the wrong source (data.path) was accepted"
  grep -q "small.yaml:3: unknown key 'path' in data" "$tmp/npy.out" || fail "$(cat "$tmp/npy.out")"
  sed "s|path: $data, ||" "$tmp/small.yaml" >"$tmp/npy.yaml"
  "$bin" train "$tmp/npy.yaml" --quiet name=npy data.source=npy data.x="$tmp/dx.npy" \
    data.y="$tmp/dy.npy" data.scale=0.0625 train.epochs=2 >"$tmp/npy.out" 2>&1 ||
    { cat "$tmp/npy.out"; fail "npy run"; }
  "$bin" eval "$tmp/runs/npy" >"$tmp/eval.out" 2>&1 || { cat "$tmp/eval.out"; fail "eval"; }
  # the same arrays in .npz archives (deflated and stored) give the same model
  for z in d d_stored; do
    "$bin" train "$tmp/npy.yaml" --quiet name=$z data.source=npy data.x="$tmp/$z.npz:x" \
      data.y="$tmp/$z.npz:y" data.scale=0.0625 train.epochs=2 >"$tmp/$z.out" 2>&1 ||
      { cat "$tmp/$z.out"; fail "npz run ($z)"; }
    cmp -s "$tmp/runs/npy/model.safetensors" "$tmp/runs/$z/model.safetensors" ||
      fail "npz data ($z) trains a different model than the same .npy data"
  done
  "$bin" train "$tmp/npy.yaml" --quiet name=z2 data.source=npy data.x="$tmp/d.npz" \
    data.y="$tmp/d.npz:y" >"$tmp/z2.out" 2>&1 && fail "a bare .npz path was accepted"
  grep -q "name the array in the archive" "$tmp/z2.out" || fail "bare npz: $(cat "$tmp/z2.out")"
  "$bin" train "$tmp/npy.yaml" --quiet name=z3 data.source=npy data.x="$tmp/d.npz:w" \
    data.y="$tmp/d.npz:y" >"$tmp/z3.out" 2>&1 && fail "a missing npz member was accepted"
  grep -q "w.npy" "$tmp/z3.out" || fail "missing npz member: $(cat "$tmp/z3.out")"
  # the same data as a generic CSV gives the same run as the digits source
  "$bin" train "$tmp/small.yaml" --quiet name=csv data.source=csv data.features=64 \
    data.classes=10 data.scale=0.0625 train.epochs=2 >"$tmp/csv.out" 2>&1 ||
    { cat "$tmp/csv.out"; fail "csv run"; }
  "$bin" train "$tmp/small.yaml" --quiet name=dig train.epochs=2 >"$tmp/dig.out" 2>&1 ||
    { cat "$tmp/dig.out"; fail "digits run"; }
  cmp -s "$tmp/runs/csv/model.safetensors" "$tmp/runs/dig/model.safetensors" ||
    fail "csv source and digits source differ"
  # a linear warmup before the schedule: the logged lrs are torch's
  # SequentialLR([LinearLR, CosineAnnealingLR]); stopped and resumed, bit-identical
  wu="schedule={name: cosine, warmup: 2, warmup_start_factor: 0.1}"
  "$bin" train "$tmp/small.yaml" --quiet name=wu train.epochs=5 "$wu" >"$tmp/wu.out" 2>&1 ||
    { cat "$tmp/wu.out"; fail "warmup run"; }
  "$py" -W ignore -c "
import csv, torch
S = torch.optim.lr_scheduler
o = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=0.01)
s = S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=2),
                       S.CosineAnnealingLR(o, T_max=3)], milestones=[2])
want = []
for _ in range(5):
    o.step(); s.step(); want.append('%.9g' % o.param_groups[0]['lr'])
got = [r['lr'] for r in csv.DictReader(open('$tmp/runs/wu/log.csv'))]
assert got == want, (got, want)" || fail "warmup lrs differ from torch's"
  "$bin" train "$tmp/small.yaml" --quiet name=wu2 train.epochs=5 "$wu" train.stop_after=1 \
    >/dev/null 2>&1 && "$bin" train "$tmp/small.yaml" --quiet name=wu2 train.epochs=5 "$wu" \
    --resume >/dev/null 2>&1 || fail "warmup run stopped and resumed"
  cmp -s "$tmp/runs/wu/train_state.safetensors" "$tmp/runs/wu2/train_state.safetensors" ||
    fail "a resumed warmup run differs from the uninterrupted one"
  expect_error0() { "$bin" "$@" >/dev/null 2>&1 && fail "$* was accepted"; }
  expect_error0 train "$tmp/small.yaml" name=x data.source=csv data.classes=10
  a1=$(sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$tmp/npy.out")
  a2=$(sed -n 's/^test: accuracy \([0-9.]*\).*/\1/p' "$tmp/eval.out")
  [ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "eval accuracy '$a2' differs from training's '$a1'"
fi

# 4. errors
expect_error() { # PATTERN ARGS...
  pat=$1
  shift
  "$bin" "$@" >"$tmp/eout" 2>"$tmp/eerr"
  rc=$?
  [ $rc -eq 1 ] || fail "$*: exit status $rc, expected 1: $(cat "$tmp/eerr")"
  grep -q -- "$pat" "$tmp/eerr" || fail "$*: message lacks '$pat': $(cat "$tmp/eerr")"
}
sed 's/  - relu/  - relux/' "$tmp/small.yaml" >"$tmp/bad1.yaml"
expect_error "bad1.yaml:7: layer 2: unknown layer 'relux'" train "$tmp/bad1.yaml"
sed 's/batch_size: 64/batch_sise: 64/' "$tmp/small.yaml" >"$tmp/bad2.yaml"
expect_error "bad2.yaml:18: unknown key 'batch_sise' in train" train "$tmp/bad2.yaml"
sed 's/out_features: 24}/out_features: 24, colour: 1}/' "$tmp/small.yaml" >"$tmp/bad3.yaml"
expect_error "bad3.yaml:11: layer 6: linear: unknown option 'colour'" train "$tmp/bad3.yaml"
sed 's/in_features: 24,/in_features: 25,/' "$tmp/small.yaml" >"$tmp/bad4.yaml"
expect_error "bad4.yaml:13: layer 8: linear: in_features=25 but the input has 24" train "$tmp/bad4.yaml"
sed 's/lr: 0.01/lr: -1/' "$tmp/small.yaml" >"$tmp/bad5.yaml"
expect_error "bad5.yaml:15: optimizer: adamw: lr=-1" train "$tmp/bad5.yaml"
sed 's/shape: \[1, 8, 8\]/shape: [1, 8, 9]/' "$tmp/small.yaml" >"$tmp/bad6.yaml"
expect_error "bad6.yaml:3: data.shape: 72 values per sample" train "$tmp/bad6.yaml"
printf 'model: [relu\n' >"$tmp/bad7.yaml"
expect_error "bad7.yaml:2:" train "$tmp/bad7.yaml"
expect_error "output must be \[10\].*(set by an override)" train "$tmp/small.yaml" "model=[relu]" name=x
expect_error "the model's output must be \[10\]" train "$tmp/small.yaml" name=x \
  "model=[flatten, {linear: {out_features: 7}}]"
expect_error "schedule.warmup: 4 epochs of warmup leave none of the run's 4" train \
  "$tmp/small.yaml" name=x "schedule={name: cosine, warmup: 4}"
expect_error "warmup_start_factor" train "$tmp/small.yaml" name=x \
  "schedule={name: cosine, warmup: 1, warmup_start_factor: 0}"
if [ -n "$py" ]; then
  expect_error "dy_float.npy: expected integer labels" train "$tmp/npy.yaml" name=x \
    data.source=npy data.x="$tmp/dx.npy" data.y="$tmp/dy_float.npy"
  expect_error "expected integer labels \[100\]" train "$tmp/npy.yaml" name=x \
    data.source=npy data.x="$tmp/dx_short.npy" data.y="$tmp/dy.npy"
fi
# a truncated or foreign checkpoint: refused, nothing overwritten
cp "$tmp/runs/full/model.safetensors" "$tmp/good.safetensors"
head -c 300 "$tmp/good.safetensors" >"$tmp/runs/full/model.safetensors"
expect_error "model.safetensors" eval "$tmp/runs/full"
cp "$tmp/runs/full/train_state.safetensors" "$tmp/runs/full/model.safetensors"
expect_error "checkpoint: tensor '0.weight' is missing" eval "$tmp/runs/full"
cp "$tmp/runs/full/train_state.safetensors" "$tmp/state.bak"
head -c 100 "$tmp/state.bak" >"$tmp/runs/full/train_state.safetensors"
expect_error "--resume:" train "$tmp/small.yaml" name=full --resume
cmp -s "$tmp/runs/full/model.safetensors" "$tmp/runs/full/train_state.safetensors" &&
  fail "a refused resume overwrote files"
echo "nn train: resume bit-identical; checkpoint loads in torch; errors name the line"
