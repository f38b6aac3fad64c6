#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD_DIR (configured with CC=clang
# -DCTRAIN_FUZZ=ON) for SECONDS each, from seeds written by fuzz_make_seeds.
# Corpora and crash artifacts stay under BUILD_DIR (fuzz-corpus/,
# fuzz-artifacts/), never in git; a corpus grows from run to run.
# Prints one line per target; exits non-zero if any target crashed.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$(cd "$1" && pwd) secs=$2
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/fuzz
[ -x "$bin/fuzz_make_seeds" ] || { echo "run-fuzzers: no fuzz targets in $bin (configure with CC=clang -DCTRAIN_FUZZ=ON)" >&2; exit 2; }
corpus=$build/fuzz-corpus art=$build/fuzz-artifacts logs=$build/fuzz-logs
mkdir -p "$corpus/seeds" "$art" "$logs"
"$bin/fuzz_make_seeds" "$corpus/seeds" >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
# the YAML configs in configs/ seed the config reader
mkdir -p "$corpus/seeds/config" "$corpus/seeds/model_load"
cp "$here"/configs/*.yaml "$corpus/seeds/config/" 2>/dev/null || true
for t in state_load safetensors options model_load config npy tfrecord dlio_config png sched bfo_state; do
  exe=$bin/fuzz_$t
  mkdir -p "$corpus/$t"
  dict=()
  case $t in state_load|safetensors|model_load) dict=(-dict="$here/fuzz/ctrain.dict") ;; esac
  log=$logs/fuzz_$t.log
  rc=0
  # New inputs go to the first directory; the seeds are only read.
  # (an inner shell, so a crash's "Aborted" notice goes to the log too)
  bash -c '"$@"; exit $?' fuzz "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$art/fuzz_$t-" "${dict[@]}" \
    "$corpus/$t" "$corpus/seeds/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  files=$(find "$corpus/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz_%-12s ok     %s runs in %ss, coverage %s, corpus %s files\n' \
      "$t" "${runs:-?}" "$secs" "${cov:-?}" "$files"
  else
    status=1
    crash=$(ls -t "$art"/fuzz_"$t"-* 2>/dev/null | head -1 || true)
    printf 'fuzz_%-12s FAILED (exit %s) after %s runs; input %s; log %s\n' \
      "$t" "$rc" "${runs:-?}" "${crash:-none}" "$log"
    grep -m3 -E 'ERROR|runtime error|contract broken' "$log" | sed 's/^/    /' || true
  fi
done
exit $status
