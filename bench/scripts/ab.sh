#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/ab.sh: two builds of ferry on the same workloads, alternated run by run so that both
# see the same machine state; prints the median of each and B/A.
#
#   bench/scripts/ab.sh A_BIN_DIR B_BIN_DIR [REPS] [SECONDS]
#
# A_BIN_DIR and B_BIN_DIR each hold a `ferry` binary (e.g. build/bin of a worktree of the
# commit before a change, and build/bin). REPS (default 3) runs of each workload per build,
# SECONDS (default 3) each. The workloads are ferry's rows of make bench that go through the
# publish and wake-up paths; FERRY_AB_ROWS="scenario:wait[:clients] ..." picks others.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/scripts/common.sh

[ $# -ge 2 ] || { echo "usage: $0 A_BIN_DIR B_BIN_DIR [REPS] [SECONDS]" >&2; exit 2; }
A=$1
B=$2
REPS=${3:-3}
SECS=${4:-3}
for dir in "$A" "$B"; do
  [ -x "$dir/ferry" ] || { echo "$0: no ferry binary in $dir" >&2; exit 2; }
done
ROWS=${FERRY_AB_ROWS:-"pingpong:spin pingpong:hybrid pingpong:block stream:hybrid fanin:hybrid:32 fanin:block:32 reqrep:hybrid:32 reqrep:block:32"}
bench_init bench-ab
JSONL="$BENCH_TMP/ab.jsonl"

for row in $ROWS; do
  IFS=: read -r scenario wait clients <<<"$row"
  args=(--scenario "$scenario" --wait "$wait" --seconds "$SECS")
  [ -n "${clients:-}" ] && args+=(--clients "$clients")
  for ((rep = 1; rep <= REPS; rep++)); do
    bench_run "$JSONL" "A $row" "$rep" "$SECS" "$A/ferry" "${args[@]}"
    bench_run "$JSONL" "B $row" "$rep" "$SECS" "$B/ferry" "${args[@]}"
  done
done

# Side by side: msgs/s and p50/p99 of A and B, and B/A for each.
bench_medians "$JSONL" | awk -F'\t' '
  function ratio(a, b) { return (a == "null" || b == "null" || a == 0) ? "-" : sprintf("%.2f", b / a) }
  { split($1, w, " "); row = w[2]; side = w[1]
    failed[row] += $3; rate[side, row] = $4; p50[side, row] = $5; p99[side, row] = $6
    cpu[side, row] = $10
    if (!(row in seen)) { seen[row] = 1; order[++n] = row } }
  END {
    printf "%-20s %12s %12s %6s %9s %9s %6s %9s %9s %6s %9s %9s %6s %s\n", "workload", "A msgs/s",
           "B msgs/s", "B/A", "A p50 us", "B p50 us", "B/A", "A p99 us", "B p99 us", "B/A",
           "A cpu/msg", "B cpu/msg", "B/A", "failed"
    for (i = 1; i <= n; i++) { r = order[i]
      printf "%-20s %12s %12s %6s %9s %9s %6s %9s %9s %6s %9s %9s %6s %s\n", r, rate["A", r],
             rate["B", r], ratio(rate["A", r], rate["B", r]), p50["A", r], p50["B", r],
             ratio(p50["A", r], p50["B", r]), p99["A", r], p99["B", r], ratio(p99["A", r], p99["B", r]),
             cpu["A", r], cpu["B", r], ratio(cpu["A", r], cpu["B", r]), failed[r] }
  }'

# Which runs failed, and why (their last line of stderr), so that a failure can be chased.
jq -r 'select(.exit != 0 or .result == null or (.result.errors // 0) > 0)
       | "failed: \(.run) rep \(.rep): exit \(.exit), errors \(.result.errors // "-"): \(.stderr // "")"' \
  "$JSONL" >&2
