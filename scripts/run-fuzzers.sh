#!/bin/bash
# Runs every libFuzzer target in $1 for $2 seconds each, starting from its seed corpus in
# tests/fuzz/corpus/<name>/ (copied to a scratch directory so the repo stays clean).
# Fails on the first crash, leak or timeout; the reproducer is left in build-fuzz/.
set -euo pipefail
bin_dir=$1
seconds=$2
shopt -s nullglob
fuzzers=("$bin_dir"/ferry_fuzz_*)
[ ${#fuzzers[@]} -gt 0 ] || { echo "run-fuzzers: no fuzz targets in $bin_dir" >&2; exit 1; }
for f in "${fuzzers[@]}"; do
  name=$(basename "$f"); name=${name#ferry_fuzz_}
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
  echo "fuzz $name: ${seconds}s"
  "$f" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$(dirname "$bin_dir")/" "$work" 2> "$work.log" || {
    tail -n 40 "$work.log" >&2
    echo "run-fuzzers: $name failed; reproducer in $(dirname "$bin_dir")/" >&2
    exit 1
  }
  grep -E "^Done [0-9]+ runs" "$work.log" || tail -n 2 "$work.log"
  rm -rf "$work" "$work.log"
done
