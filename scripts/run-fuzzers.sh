#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target in $1 for $2 seconds each, starting from its seed corpus in
# tests/fuzz/corpus/<name>/ (copied to a scratch directory so the repo stays clean), as many
# at once as there are CPUs (each fuzzer uses one). Fails if any target crashes, leaks or
# times out; the reproducer is left in build-fuzz/.
set -euo pipefail
bin_dir=$1
seconds=$2
jobs=${FUZZ_JOBS:-$(nproc)}
shopt -s nullglob
fuzzers=("$bin_dir"/ferry_fuzz_*)
[ ${#fuzzers[@]} -gt 0 ] || { echo "run-fuzzers: no fuzz targets in $bin_dir" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run_one() {  # run_one FUZZER: its report in $scratch/<name>.log, its status in <name>.rc
  local f=$1 name work
  name=$(basename "$f"); name=${name#ferry_fuzz_}
  work=$scratch/$name
  mkdir -p "$work"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
  local rc=0
  "$f" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$(dirname "$bin_dir")/" "$work" 2> "$scratch/$name.log" || rc=$?
  echo "$rc" > "$scratch/$name.rc"
}

echo "run-fuzzers: ${#fuzzers[@]} targets, ${seconds}s each, $jobs at a time"
running=0
for f in "${fuzzers[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$f" &
  running=$((running + 1))
done
wait

failed=0
for f in "${fuzzers[@]}"; do
  name=$(basename "$f"); name=${name#ferry_fuzz_}
  if [ "$(cat "$scratch/$name.rc" 2>/dev/null || echo missing)" != 0 ]; then
    tail -n 40 "$scratch/$name.log" >&2
    echo "run-fuzzers: $name failed; reproducer in $(dirname "$bin_dir")/" >&2
    failed=1
  else
    echo "fuzz $name: $(grep -E "^Done [0-9]+ runs" "$scratch/$name.log" || tail -n 1 "$scratch/$name.log")"
  fi
done
exit "$failed"
