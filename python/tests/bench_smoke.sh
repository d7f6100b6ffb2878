#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/python.sh, briefly (runs of 0.1 s, one repetition): it must exit 0 (every run
# ended and every check held) and print a row for every transport in each of its three
# tables, and for "ferry, send_batch" in the stream's, the only one it runs in. (Speed is not
# checked here: that is `make bench`.)
#   bench_smoke.sh BIN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rc=0
report=$(PYBENCH_SECONDS=0.1 PYBENCH_REPS=1 "$here/../../bench/scripts/python.sh" "$1") || rc=$?
fail() { printf '%s\n' "$report"; echo "python bench smoke: $*" >&2; exit 1; }
[ $rc -eq 0 ] || fail "bench/scripts/python.sh exited with $rc"
for transport in "ferry" "ferry, wait block" "multiprocessing.Pipe" "multiprocessing.Queue" \
  "Unix socket"; do
  rows=$(grep -c "^| $transport | [0-9]" <<<"$report" || true)
  [ "$rows" -eq 3 ] || fail "$rows rows with figures for $transport, not 3"
done
rows=$(grep -c "^| ferry, send_batch | [0-9]" <<<"$report" || true)
[ "$rows" -eq 1 ] || fail "$rows rows with figures for ferry, send_batch, not 1"
grep -q '^| commit | ' <<<"$report" || fail "no commit in the report"
echo "python bench smoke: passed"
