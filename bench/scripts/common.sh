# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Helpers shared by matrix.sh, perf-gate.sh and ab.sh: a private scratch
# directory, cleanup of every background process on exit and on Ctrl-C, one `ferry bench`
# run in a private runtime directory, medians over repetitions (jq), number formatting.
# Source it; do not run it. Needs bash, jq, awk, coreutils (timeout, mktemp).

BENCH_TMP=""     # scratch directory of this script run, removed on exit
BENCH_PIDS=()    # background processes this script started and has not reaped yet
BENCH_NAME=${BENCH_NAME:-bench}

# bench_init NAME: the scratch directory and the traps. Call once, early.
bench_init() {
  BENCH_NAME=$1
  command -v jq >/dev/null || { echo "$BENCH_NAME: jq is missing (make deps installs it)" >&2; exit 1; }
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$BENCH_NAME.XXXXXX")
  chmod 700 "$BENCH_TMP"
  trap bench_cleanup EXIT
  trap 'bench_interrupted INT 130' INT
  trap 'bench_interrupted TERM 143' TERM
  trap 'bench_interrupted HUP 129' HUP
}

# Stops every process we started (TERM, then KILL after 2 s), by process id only.
bench_kill_all() {
  local pid alive=() i
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -TERM "$pid" 2>/dev/null; then alive+=("$pid"); fi
  done
  for ((i = 0; i < 20 && ${#alive[@]} > 0; i++)); do
    local still=()
    for pid in "${alive[@]}"; do kill -0 "$pid" 2>/dev/null && still+=("$pid"); done
    alive=("${still[@]}")
    [ ${#alive[@]} -eq 0 ] || sleep 0.1
  done
  for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BENCH_PIDS=()
}

bench_cleanup() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM HUP   # a second Ctrl-C must not cut the cleanup short
  bench_kill_all
  [ -n "$BENCH_TMP" ] && rm -rf "$BENCH_TMP"
  exit "$rc"
}

bench_interrupted() {
  echo >&2
  echo "$BENCH_NAME: interrupted (SIG$1), stopping everything it started" >&2
  exit "$2"   # the EXIT trap cleans up
}

# bench_forget PID: drop a reaped process from BENCH_PIDS.
bench_forget() {
  local keep=() pid
  for pid in "${BENCH_PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  BENCH_PIDS=("${keep[@]}")
}

# bench_private_env DIR: a fresh private runtime directory (0700) under DIR for one run.
bench_private_runtime() {
  local d
  d=$(mktemp -d "$BENCH_TMP/run.XXXXXX")
  chmod 700 "$d"
  printf '%s\n' "$d"
}

# bench_run JSONL LABEL REP PLANNED_SECONDS FERRY_BIN ARGS...
# Runs `FERRY_BIN bench ARGS... --json` (FERRY_BIN: ferry, or a tool that takes the same
# `bench ... --json` form such as ferry-pingpong-floor) in its own runtime directory (XDG_RUNTIME_DIR, session
# "bench"), in the background so that Ctrl-C reaches our trap at once, with a hard time limit.
# Appends one line to JSONL: {"run":LABEL,"rep":REP,"exit":RC,"cmd":"<tool> bench ...",
# "result":<the JSON line ferry bench printed, or null>,"stderr":<its last line, on failure>}.
# Sets BENCH_RC and BENCH_RESULT (the JSON line or "null"). Never fails itself.
bench_run() {
  local jsonl=$1 label=$2 rep=$3 planned=$4 bin=$5
  shift 5
  local rt out err pid limit
  rt=$(bench_private_runtime)
  out="$rt/stdout" err="$rt/stderr"
  limit=$(awk -v p="$planned" 'BEGIN { printf "%d", p * 3 + 90 }')
  XDG_RUNTIME_DIR="$rt" FERRY_SESSION=bench \
    timeout -k 5 "$limit" "$bin" bench "$@" --json >"$out" 2>"$err" </dev/null &
  pid=$!
  BENCH_PIDS+=("$pid")
  BENCH_RC=0
  wait "$pid" || BENCH_RC=$?
  bench_forget "$pid"
  BENCH_RESULT=null
  local line
  line=$(head -n 1 "$out" 2>/dev/null || true)
  if [ -n "$line" ] && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$line"; then
    BENCH_RESULT=$line   # kept byte for byte in the JSONL
  fi
  local why=""
  if [ "$BENCH_RC" -ne 0 ]; then
    why=$(grep -v '^$' "$err" 2>/dev/null | tail -n 1 || true)
    [ "$BENCH_RC" -eq 124 ] && why="killed after ${limit} s (timeout); $why"
  fi
  local meta
  meta=$(jq -cn --arg run "$label" --argjson rep "$rep" --argjson exit "$BENCH_RC" \
    --arg cmd "$(basename "$bin") bench $* --json" --arg why "$why" \
    '{run: $run, rep: $rep, exit: $exit, cmd: $cmd} + (if $why == "" then {} else {stderr: $why} end)')
  printf '%s,"result":%s}\n' "${meta%\}}" "$BENCH_RESULT" >>"$jsonl"
  rm -rf "$rt"
  return 0
}

# bench_medians JSONL: one TSV line per run label, in first-seen order:
#   label reps failed msgs_per_s p50_us p99_us p999_us max_us errors cpu_us_per_msg
#   wakes_per_msg cmd
# Each figure is the median of that field over the repetitions that printed a result (the
# mean of the middle two for an even count); "null" when none has it. failed counts the
# repetitions that exited non-zero, printed nothing, or reported errors > 0.
bench_medians() {
  jq -rs '
    def median: map(select(. != null)) | sort
      | if length == 0 then null
        elif length % 2 == 1 then .[(length - 1) / 2]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    . as $all
    | ($all | map(.run) | reduce .[] as $r ([]; if index([$r]) then . else . + [$r] end)) as $order
    | $order[] as $lbl
    | ($all | map(select(.run == $lbl))) as $runs
    | ($runs | map(.result) | map(select(. != null))) as $res
    | [ $lbl,
        ($runs | length),
        ($runs | map(select(.exit != 0 or .result == null or (.result.errors // 0) > 0)) | length),
        ($res | map(.msgs_per_s) | median),
        ($res | map(.p50_us) | median),
        ($res | map(.p99_us) | median),
        ($res | map(.p999_us) | median),
        ($res | map(.max_us) | median),
        ($res | map(.errors // 0) | max // null),
        ($res | map(.cpu_us_per_msg) | median),
        ($res | map(.wakes_per_msg) | median),
        ($runs[0].cmd) ]
    | map(if . == null then "null" else tostring end) | @tsv' "$1"
}

# Number formatting; "null" or "" prints as an em dash.
fmt_rate() {  # msgs/s: 4.57M, 411k, 950
  awk -v v="$1" 'BEGIN {
    if (v == "" || v == "null") { printf "—"; exit }
    if (v >= 1e6) printf "%.2fM", v / 1e6
    else if (v >= 1e3) printf "%.0fk", v / 1e3
    else printf "%.0f", v }'
}
fmt_us() {    # microseconds, three significant digits without exponents
  awk -v v="$1" 'BEGIN {
    if (v == "" || v == "null") { printf "—"; exit }
    if (v < 10) printf "%.2f", v
    else if (v < 100) printf "%.1f", v
    else printf "%.0f", v }'
}
fmt_ratio() { # a / b as 4.67× (a third argument replaces the ×)
  awk -v a="$1" -v b="$2" -v x="${3-×}" 'BEGIN {
    if (a == "" || a == "null" || b == "" || b == "null" || b == 0) { printf "—"; exit }
    printf "%.2f%s", a / b, x }'
}
# fcmp A OP B: floating-point comparison as an exit status (false when either is null).
fcmp() {
  awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (a == "" || a == "null" || b == "" || b == "null") exit 1
    a += 0; b += 0
    if (op == "<=") exit !(a <= b); if (op == ">=") exit !(a >= b)
    if (op == "<") exit !(a < b);   if (op == ">") exit !(a > b)
    exit 1 }'
}
# fdiv A B: A / B with 4 decimals, or null.
fdiv() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || a == "null" || b == "" || b == "null" || b == 0) { printf "null"; exit }
    printf "%.4f", a / b }'
}
