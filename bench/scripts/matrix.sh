#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark matrix behind `make bench` (docs/bench.md): every `ferry bench`
# scenario over ferry with the waits that apply and over Unix sockets, interleaved
# (ferry, uds, ferry, uds, ...) so that the machine's noise hits both alike; the same
# scenarios over the peers, ZeroMQ and iceoryx, in the same groups; fanin with
# idle connections beside the busy ones; stream and fanin with ferry's metrics on and off; the
# idle ferryd's memory with metrics off and on. Writes, in BENCH_OUT:
#
#   latest.md     the table (medians, ferry beside uds, ratio, target met/missed), ferry beside
#                 the naive floor, ferry beside its peers, ...
#   latest.jsonl  every run: {"run","rep","exit","cmd","result":<ferry bench --json line>}
#   latest.png    latency percentiles (p50, p99, p99.9) per scenario, ferry beside uds
#
# With BENCH_ONLY=peers, only the runs of the table "ferry beside its peers" (ferry, uds,
# zmq, iceoryx, alternated as in the whole matrix; about 5 minutes), written to peers.md and
# peers.jsonl in BENCH_OUT instead.
#
# Usage: bench/scripts/matrix.sh [BIN_DIR]  (BIN_DIR holds ferry, ferryd, ferry-pingpong-floor
#                                            and ferry-bench-peers; build/bin)
# Environment (defaults in brackets):
#   BENCH_OUT [bench/results]   BENCH_REPS [3]   BENCH_SECONDS [2] (stream, fanin, reqrep, rate)
#   BENCH_ONLY [all] (or peers: see above)
#   PINGPONG_SECONDS [10] (cap; pingpong ends after 200k round trips or this, first)
#   BENCH_IDLE [1000] (idle connections beside fanin's 32 busy)
#   FERRYD_CLIENTS [100] (idle subscribers for ferryd's per-connection memory)
#   FERRY_COMMIT [unknown] (written into the header; `make bench` passes the git commit)
# Exit status: 0 when every run finished with errors 0 (targets missed do not fail it),
# 1 when a run failed or counted errors (the files are written anyway), 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

bin_dir=${1:-$root/build/bin}
[ $# -le 1 ] || { echo "usage: bench/scripts/matrix.sh [BIN_DIR]" >&2; exit 2; }
FERRY=$bin_dir/ferry
FERRYD=$bin_dir/ferryd
FLOOR=$bin_dir/ferry-pingpong-floor
# `ferry bench --transport zmq|iceoryx` runs the ferry-bench-peers beside ferry.
for b in "$FERRY" "$FERRYD" "$FLOOR" "$bin_dir/ferry-bench-peers"; do
  [ -x "$b" ] || { echo "bench-matrix: $b not found (make build first)" >&2; exit 2; }
done
ONLY=${BENCH_ONLY:-all}
case $ONLY in
  all | peers) ;;
  *) echo "bench-matrix: BENCH_ONLY is all or peers, not '$ONLY'" >&2; exit 2 ;;
esac
if [ "$ONLY" = all ]; then
  command -v gnuplot >/dev/null || { echo "bench-matrix: gnuplot is missing (make deps installs gnuplot-nox)" >&2; exit 2; }
fi

OUT=${BENCH_OUT:-$root/bench/results}
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECONDS:-2}
PP_SECS=${PINGPONG_SECONDS:-10}
IDLE=${BENCH_IDLE:-1000}
NSUB=${FERRYD_CLIENTS:-100}
COMMIT=${FERRY_COMMIT:-}
[ -n "$COMMIT" ] || COMMIT=unknown

bench_init bench-matrix
mkdir -p "$OUT"
DOC_NAME=latest
[ "$ONLY" = all ] || DOC_NAME=$ONLY
JSONL=$BENCH_TMP/$DOC_NAME.jsonl
: >"$JSONL"
started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------
# The table "ferry beside its peers": per scenario and wait, the transports that run it
# ("scenario|shown as|wait|transports"); uds and zmq only block. Its labels are
# <scenario>/<wait>/<transport>, from the groups below.
PEER_ROWS=()
for s in "pingpong|pingpong" "stream|stream" "fanin|fanin 32→1" "reqrep|reqrep 32" \
         "rate|rate 32 × 1k/s"; do
  [ "${s%%|*}" = pingpong ] && PEER_ROWS+=("$s|spin|ferry iceoryx")
  PEER_ROWS+=("$s|hybrid|ferry iceoryx" "$s|block|ferry iceoryx zmq uds")
done
declare -A PEER_LABELS
for row in "${PEER_ROWS[@]}"; do
  IFS='|' read -r scen _shown wait transports <<<"$row"
  for t in $transports; do PEER_LABELS[$scen/$wait/$t]=1; done
done

# The matrix. A group is run REPS times; within a repetition its variants run one after
# the other (ferry, uds, ...), so every ferry figure has a uds figure from the same minutes.
# A variant whose arguments start with @floor runs ferry-pingpong-floor instead of ferry.
# With BENCH_ONLY=peers a group keeps only the variants of the peers' table.
GROUPS_=()     # "planned_seconds|label=args;label=args;..."
group() {
  local planned=$1 spec=""
  shift
  local v
  for v in "$@"; do
    [ "$ONLY" = all ] || [ -n "${PEER_LABELS[${v%%=*}]:-}" ] || continue
    spec+="${spec:+;}$v"
  done
  [ -z "$spec" ] || GROUPS_+=("$planned|$spec")
}
pp=$((PP_SECS + 2)) tp=$((SECS + 1))
# pingpong spin runs beside the floor under it (docs/performance.md), in the same seconds:
# the VM's round trip between its two CPUs changed 4x from one minute to the next.
group "$pp" "floor/naive=@floor --kind naive" "floor/ring=@floor --kind ring" \
            "floor/ring-crc=@floor --kind ring-crc" \
            "pingpong/spin/ferry=--scenario pingpong --transport ferry --wait spin --seconds $PP_SECS" \
            "pingpong/spin/uds=--scenario pingpong --transport uds --seconds $PP_SECS" \
            "pingpong/spin/iceoryx=--scenario pingpong --transport iceoryx --wait spin --seconds $PP_SECS"
# The peers: iceoryx with ferry's wait, ZeroMQ (which only blocks) in the block groups.
for w in hybrid block; do
  zmq=()
  [ "$w" = hybrid ] || zmq=("pingpong/$w/zmq=--scenario pingpong --transport zmq --seconds $PP_SECS")
  group "$pp" "pingpong/$w/ferry=--scenario pingpong --transport ferry --wait $w --seconds $PP_SECS" \
              "pingpong/$w/uds=--scenario pingpong --transport uds --seconds $PP_SECS" \
              "pingpong/$w/naive=--scenario pingpong --transport naive --wait $w --seconds $PP_SECS" \
              "pingpong/$w/iceoryx=--scenario pingpong --transport iceoryx --wait $w --seconds $PP_SECS" \
              "${zmq[@]}"
done
# The -metrics variants run ferry's server with its metrics on (--metrics on), alternated
# with the same run with them off: the cost of leaving them on.
group "$tp" "stream/hybrid/ferry=--scenario stream --transport ferry --wait hybrid --seconds $SECS" \
            "stream/hybrid/uds=--scenario stream --transport uds --seconds $SECS" \
            "stream/hybrid/naive=--scenario stream --transport naive --wait hybrid --seconds $SECS" \
            "stream-metrics/hybrid/ferry=--scenario stream --transport ferry --wait hybrid --seconds $SECS --metrics on" \
            "stream/hybrid/iceoryx=--scenario stream --transport iceoryx --wait hybrid --seconds $SECS"
group "$tp" "stream/spin/ferry=--scenario stream --transport ferry --wait spin --seconds $SECS" \
            "stream/spin/uds=--scenario stream --transport uds --seconds $SECS" \
            "stream/spin/naive=--scenario stream --transport naive --wait spin --seconds $SECS"
# (stream block is for the peers' table.)
group "$tp" "stream/block/ferry=--scenario stream --transport ferry --wait block --seconds $SECS" \
            "stream/block/uds=--scenario stream --transport uds --seconds $SECS" \
            "stream/block/zmq=--scenario stream --transport zmq --seconds $SECS" \
            "stream/block/iceoryx=--scenario stream --transport iceoryx --wait block --seconds $SECS"
group "$tp" "fanin/hybrid/ferry=--scenario fanin --transport ferry --wait hybrid --seconds $SECS" \
            "fanin/hybrid/uds=--scenario fanin --transport uds --seconds $SECS" \
            "fanin/hybrid/naive=--scenario fanin --transport naive --wait hybrid --seconds $SECS" \
            "fanin/spin/naive=--scenario fanin --transport naive --wait spin --seconds $SECS" \
            "fanin-metrics/hybrid/ferry=--scenario fanin --transport ferry --wait hybrid --seconds $SECS --metrics on" \
            "fanin-idle/hybrid/ferry=--scenario fanin --transport ferry --wait hybrid --seconds $SECS --idle $IDLE" \
            "fanin-idle/hybrid/uds=--scenario fanin --transport uds --seconds $SECS --idle $IDLE" \
            "fanin/hybrid/iceoryx=--scenario fanin --transport iceoryx --wait hybrid --seconds $SECS"
group "$tp" "fanin/block/ferry=--scenario fanin --transport ferry --wait block --seconds $SECS" \
            "fanin/block/uds=--scenario fanin --transport uds --seconds $SECS" \
            "fanin/block/naive=--scenario fanin --transport naive --wait block --seconds $SECS" \
            "fanin/block/iceoryx=--scenario fanin --transport iceoryx --wait block --seconds $SECS" \
            "fanin/block/zmq=--scenario fanin --transport zmq --seconds $SECS"
for s in reqrep rate; do
  for w in hybrid block; do
    zmq=()
    [ "$w" = hybrid ] || zmq=("$s/$w/zmq=--scenario $s --transport zmq --seconds $SECS")
    group "$tp" "$s/$w/ferry=--scenario $s --transport ferry --wait $w --seconds $SECS" \
                "$s/$w/uds=--scenario $s --transport uds --seconds $SECS" \
                "$s/$w/naive=--scenario $s --transport naive --wait $w --seconds $SECS" \
                "$s/$w/iceoryx=--scenario $s --transport iceoryx --wait $w --seconds $SECS" \
                "${zmq[@]}"
  done
done
# rate again, its latency from the intended send time (--stamp intended): a producer's own
# timer lateness counts too, so the floor and the baseline are stamped the same way.
group "$tp" "rate-intended/hybrid/ferry=--scenario rate --transport ferry --wait hybrid --stamp intended --seconds $SECS" \
            "rate-intended/hybrid/uds=--scenario rate --transport uds --stamp intended --seconds $SECS" \
            "rate-intended/hybrid/naive=--scenario rate --transport naive --wait hybrid --stamp intended --seconds $SECS"
# fanout: one publisher, 32 subscribers, through ferryd's bus (uds: a relay process); flat
# out, then paced at 10k msgs/s (320k deliveries/s) for the one-way latency.
group "$tp" "fanout/hybrid/ferry=--scenario fanout --transport ferry --wait hybrid --seconds $SECS" \
            "fanout/hybrid/uds=--scenario fanout --transport uds --seconds $SECS"
group "$tp" "fanout-rate/hybrid/ferry=--scenario fanout --transport ferry --wait hybrid --rate 10000 --seconds $SECS" \
            "fanout-rate/hybrid/uds=--scenario fanout --transport uds --rate 10000 --seconds $SECS"

total=0
for g in "${GROUPS_[@]}"; do
  IFS=';' read -r -a vs <<<"${g#*|}"
  total=$((total + REPS * ${#vs[@]}))
done

# ---------------------------------------------------------------------------------------
# Idle ferryd memory: a private session, VmRSS after 1 s, then with NSUB idle subscribers.
status_kb() {  # status_kb PID FIELD -> the number of kB, or null
  awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print "null" }' \
    "/proc/$1/status" 2>/dev/null || echo null
}
MEM_OK=1
declare -A MEM   # MEM[<mode>,<what>]: mode off|on (metrics), what idle|with plus _anon _file _shmem
ferryd_memory() {  # ferryd_memory off|on
  local mode=$1 d rt pid i port="" extra=()
  d=$(mktemp -d "$BENCH_TMP/ferryd.XXXXXX")
  rt=$d/run
  mkdir -m 700 "$rt"
  : >"$d/ferryd.toml"   # an empty configuration: the defaults, whatever ~/.config holds
  [ "$mode" = off ] || extra=(--metrics-listen 127.0.0.1:0)
  echo "bench-matrix: idle ferryd memory, metrics $mode ($NSUB idle subscribers)" >&2
  XDG_RUNTIME_DIR=$rt FERRY_SESSION=bench FERRY_CONFIG=$d/ferryd.toml \
    "$FERRYD" --log-level info "${extra[@]}" </dev/null >"$d/ferryd.log" 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  # Ready when it logs "listening": it does once its socket accepts connections. (Not a
  # probe connection, which would leave its traces in the idle reading.)
  listening() { grep -q '"event":"listening"' "$d/ferryd.log"; }
  for ((i = 0; i < 100; i++)); do   # up to 5 s
    ! listening || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if ! listening; then
    echo "bench-matrix: ferryd did not start: $(tail -n 1 "$d/ferryd.log")" >&2
    MEM_OK=0
    return 0
  fi
  # With metrics on, each reading follows a scrape, so the exporter has done its work.
  scrape() {
    [ "$mode" = on ] || return 0
    [ -n "$port" ] || port=$(jq -r 'select(.event == "metrics_listening") | .port' "$d/ferryd.log" | head -n 1)
    curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" >"$d/metrics.txt" || {
      echo "bench-matrix: could not scrape ferryd's metrics (port '$port')" >&2
      MEM_OK=0
    }
  }
  sleep 1
  scrape
  sleep 0.2
  MEM[$mode,idle]=$(status_kb "$pid" VmRSS) MEM[$mode,idle_anon]=$(status_kb "$pid" RssAnon)
  MEM[$mode,idle_file]=$(status_kb "$pid" RssFile) MEM[$mode,idle_shmem]=$(status_kb "$pid" RssShmem)
  local subs=()
  for ((i = 0; i < NSUB; i++)); do
    XDG_RUNTIME_DIR=$rt FERRY_SESSION=bench \
      "$FERRY" subscribe --type 4242 --timeout 600000 --ready-file "$d/ready.$i" \
      </dev/null >/dev/null 2>>"$d/subscribers.log" &
    BENCH_PIDS+=("$!")
    subs+=("$!")
  done
  local ready=0
  for ((i = 0; i < 600; i++)); do   # up to 30 s
    ready=$(find "$d" -maxdepth 1 -name 'ready.*' | wc -l)
    [ "$ready" -lt "$NSUB" ] || break
    sleep 0.05
  done
  if [ "$ready" -lt "$NSUB" ]; then
    echo "bench-matrix: only $ready of $NSUB subscribers connected: $(tail -n 1 "$d/subscribers.log" 2>/dev/null)" >&2
    MEM_OK=0
  fi
  sleep 1
  scrape
  sleep 0.2
  MEM[$mode,with]=$(status_kb "$pid" VmRSS) MEM[$mode,with_anon]=$(status_kb "$pid" RssAnon)
  MEM[$mode,with_file]=$(status_kb "$pid" RssFile) MEM[$mode,with_shmem]=$(status_kb "$pid" RssShmem)
  MEM[$mode,connected]=$ready
  for i in "${subs[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in "${subs[@]}"; do wait "$i" 2>/dev/null || true; bench_forget "$i"; done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  bench_forget "$pid"
  jq -cn --arg metrics "$mode" --argjson n "$NSUB" --argjson connected "$ready" \
    --argjson idle "${MEM[$mode,idle]}" --argjson idle_anon "${MEM[$mode,idle_anon]}" \
    --argjson idle_file "${MEM[$mode,idle_file]}" --argjson idle_shmem "${MEM[$mode,idle_shmem]}" \
    --argjson with "${MEM[$mode,with]}" --argjson with_anon "${MEM[$mode,with_anon]}" \
    --argjson with_file "${MEM[$mode,with_file]}" --argjson with_shmem "${MEM[$mode,with_shmem]}" \
    '{run: "ferryd-memory", metrics: $metrics, clients: $n, connected: $connected,
      idle_kb: {VmRSS: $idle, RssAnon: $idle_anon, RssFile: $idle_file, RssShmem: $idle_shmem},
      with_clients_kb: {VmRSS: $with, RssAnon: $with_anon, RssFile: $with_file, RssShmem: $with_shmem}}' \
    >>"$JSONL"
}
if [ "$ONLY" = all ]; then
  ferryd_memory off
  ferryd_memory on
fi

# ---------------------------------------------------------------------------------------
n=0
for g in "${GROUPS_[@]}"; do
  planned=${g%%|*}
  IFS=';' read -r -a vs <<<"${g#*|}"
  for ((rep = 1; rep <= REPS; rep++)); do
    for v in "${vs[@]}"; do
      label=${v%%=*}
      read -r -a args <<<"${v#*=}"
      bin=$FERRY
      if [ "${args[0]}" = @floor ]; then bin=$FLOOR args=("${args[@]:1}"); fi
      n=$((n + 1))
      t0=$(date +%s.%N)
      bench_run "$JSONL" "$label" "$rep" "$planned" "$bin" "${args[@]}"
      t1=$(date +%s.%N)
      if [ "$BENCH_RESULT" != null ]; then
        summary=$(jq -r '"\(.msgs_per_s) msgs/s" + (if .p50_us then ", p50 \(.p50_us) p99 \(.p99_us) us" else "" end) + (if .errors > 0 then ", errors \(.errors)" else "" end)' <<<"$BENCH_RESULT")
      else
        summary="no result"
      fi
      [ "$BENCH_RC" -eq 0 ] || summary+=" (exit $BENCH_RC)"
      printf 'bench-matrix: [%2d/%d] %-26s rep %d: %s  [%.1f s]\n' "$n" "$total" "$label" "$rep" \
        "$summary" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >&2
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started))

# ---------------------------------------------------------------------------------------
# Medians, the table, the targets.
declare -A R_REPS R_FAILED R_RATE R_P50 R_P99 R_P999 R_ERR R_CPU R_WAKES R_CMD
LABELS=()
while IFS=$'\t' read -r label reps failed rate p50 p99 p999 _max err cpu wakes cmd; do
  [ "$label" = ferryd-memory ] && continue
  LABELS+=("$label")
  R_REPS[$label]=$reps R_FAILED[$label]=$failed R_RATE[$label]=$rate R_P50[$label]=$p50
  R_P99[$label]=$p99 R_P999[$label]=$p999 R_ERR[$label]=$err R_CPU[$label]=$cpu R_CMD[$label]=$cmd
  R_WAKES[$label]=$wakes
done < <(jq -c 'select(.run != "ferryd-memory")' "$JSONL" | bench_medians /dev/stdin)

FAILED_RUNS=0
for l in "${LABELS[@]}"; do FAILED_RUNS=$((FAILED_RUNS + R_FAILED[$l])); done
MET=0 MISSED=0

# target KIND FERRY_LABEL UDS_LABEL -> sets T_TEXT and T_MET. Each target is a bound of its
# own or a ratio to what ran in the same minutes: the Unix-socket baseline, or the naive floor
# (nv: that floor's label; "max" of two labels: the faster of them).
target() {
  local kind=$1 f=$2 u=$3 miss=() nv
  local rate=${R_RATE[$f]} urate=${R_RATE[$u]} p50=${R_P50[$f]} p99=${R_P99[$f]} up50=${R_P50[$u]}
  local up99=${R_P99[$u]} ratio
  ratio=$(fdiv "$rate" "$urate")
  # at_most VALUE FACTOR BOUND NAME: VALUE ≤ FACTOR × BOUND, or a miss naming it.
  at_most() {
    fcmp "$1" '<=' "$(awk -v k="$2" -v b="$3" 'BEGIN { print (b == "null") ? "null" : k * b }')" ||
      miss+=("$(fmt_us "$1") > $2 × $4 ($(fmt_us "$3"))")
  }
  case $kind in
    pp-spin | pp-hybrid)
      local abs=0.5 k=2 nv50=${R_P50[floor/naive]}
      [ "$kind" = pp-hybrid ] && abs=1 k=2.5
      T_TEXT="p50 ≤ $abs µs, ≤ $k × naive spin p50"
      fcmp "$p50" '<=' $abs || miss+=("p50 $(fmt_us "$p50") > $abs")
      at_most "$p50" $k "$nv50" "naive" ;;
    pp-block)
      T_TEXT="p50 ≤ uds p50"
      fcmp "$p50" '<=' "$up50" || miss+=("p50 $(fmt_us "$p50") > $(fmt_us "$up50")") ;;
    stream | fanin)
      local floor=6000000 share=0.5
      if [ "$kind" = stream ]; then
        nv=$(awk -v a="${R_RATE[stream/hybrid/naive]}" -v b="${R_RATE[stream/spin/naive]}" \
          'BEGIN { if (b == "null" || (a != "null" && a + 0 > b + 0)) print a; else print b }')
        T_TEXT="≥ 6M msgs/s, ≥ 5× uds, ≥ 0.5 × naive (the faster wait)"
      else
        floor=5000000 share=0.6 nv=${R_RATE[fanin/spin/naive]}
        T_TEXT="≥ 5M msgs/s, ≥ 5× uds, ≥ 0.6 × naive spin"
      fi
      fcmp "$rate" '>=' $floor || miss+=("$(fmt_rate "$rate") < $(fmt_rate $floor)")
      fcmp "$ratio" '>=' 5 || miss+=("$(fmt_ratio "$rate" "$urate") < 5×")
      fcmp "$(fdiv "$rate" "$nv")" '>=' $share ||
        miss+=("$(fmt_ratio "$rate" "$nv") of naive ($(fmt_rate "$nv")) < $share") ;;
    reqrep)
      nv=${R_P99[reqrep/block/naive]}
      T_TEXT="≥ 350k msgs/s, ≥ 2.5× uds, p99 ≤ 300 µs, ≤ 1.5 × naive block p99"
      fcmp "$rate" '>=' 350000 || miss+=("$(fmt_rate "$rate") < 350k")
      fcmp "$ratio" '>=' 2.5 || miss+=("$(fmt_ratio "$rate" "$urate") < 2.5×")
      fcmp "$p99" '<=' 300 || miss+=("p99 $(fmt_us "$p99") > 300")
      at_most "$p99" 1.5 "$nv" "naive p99" ;;
    rate | rate-intended)
      nv=${R_P99[rate/hybrid/naive]}
      [ "$kind" = rate-intended ] && nv=${R_P99[rate-intended/hybrid/naive]}
      T_TEXT="p99 ≤ 2 × naive p99, ≤ 0.5 × uds p99"
      [ "$kind" = rate ] && T_TEXT="p99 ≤ 10 µs, ≤ 2 × naive p99, ≤ 0.5 × uds p99"
      [ "$kind" = rate ] && { fcmp "$p99" '<=' 10 || miss+=("p99 $(fmt_us "$p99") > 10"); }
      at_most "$p99" 2 "$nv" "naive p99"
      at_most "$p99" 0.5 "$up99" "uds p99" ;;
    fanout)
      T_TEXT="≥ 3M deliveries/s, ≥ 10× uds"
      fcmp "$rate" '>=' 3000000 || miss+=("$(fmt_rate "$rate") < 3M")
      fcmp "$ratio" '>=' 10 || miss+=("$(fmt_ratio "$rate" "$urate") < 10×") ;;
    fanout-rate)
      local rate_p99=${R_P99[rate/hybrid/ferry]}
      T_TEXT="p99 ≤ 2 × rate's p99 ($(fmt_us "$rate_p99") µs)"
      at_most "$p99" 2 "$rate_p99" "rate's p99" ;;
    idle)
      local alone=${R_RATE[fanin/hybrid/ferry]}
      T_TEXT="≥ 0.90 × fanin alone ($(fmt_rate "$alone"))"
      local share
      share=$(fdiv "$rate" "$alone")
      if fcmp "$share" '>=' 0.9; then T_TEXT+=": $(fmt_ratio "$rate" "$alone")"
      else miss+=("$(fmt_ratio "$rate" "$alone") < 0.90×"); fi ;;
    none)
      T_TEXT="(reference)"
      T_MET="—"
      return 0 ;;
  esac
  if [ "${R_FAILED[$f]}" -gt 0 ] || [ "${R_FAILED[$u]}" -gt 0 ]; then
    T_MET="**run failed**"
    MISSED=$((MISSED + 1))
  elif [ ${#miss[@]} -eq 0 ]; then
    T_MET="met"
    MET=$((MET + 1))
  else
    local IFS=';'
    T_MET="**missed**: ${miss[*]}"
    T_MET=${T_MET//;/; }
    MISSED=$((MISSED + 1))
  fi
}

latency() {  # latency LABEL -> "p50 / p99 / p99.9" in µs, or — for a row without latency
  local l=$1
  if [ "${R_P50[$l]:-null}" = null ]; then echo "—"; return; fi
  echo "$(fmt_us "${R_P50[$l]}") / $(fmt_us "${R_P99[$l]}") / $(fmt_us "${R_P999[$l]}")"
}

table_row() {  # table_row SCENARIO WAIT KIND FERRY_LABEL UDS_LABEL
  local scen=$1 wait=$2 kind=$3 f=$4 u=$5
  target "$kind" "$f" "$u"
  local lat_f lat_u
  lat_f=$(latency "$f") lat_u=$(latency "$u")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n' "$scen" "$wait" \
    "$(fmt_rate "${R_RATE[$f]}")" "$(fmt_rate "${R_RATE[$u]}")" \
    "$(fmt_ratio "${R_RATE[$f]}" "${R_RATE[$u]}")" "$lat_f" "$lat_u" \
    "$(fmt_us "${R_CPU[$f]}")" "$(fmt_us "${R_CPU[$u]}")" "$T_TEXT" "$T_MET"
}

naive_row() {  # naive_row SCENARIO WAIT FERRY_LABEL NAIVE_LABEL
  local f=$3 n=$4 lat_f lat_n what=$1
  lat_f=$(latency "$f") lat_n=$(latency "$n")
  [ "${R_FAILED[$f]}" -eq 0 ] && [ "${R_FAILED[$n]}" -eq 0 ] || what+=" (**run failed**)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$what" "$2" \
    "$(fmt_rate "${R_RATE[$f]}")" "$(fmt_rate "${R_RATE[$n]}")" \
    "$(fmt_ratio "${R_RATE[$f]}" "${R_RATE[$n]}")" "$lat_f" "$lat_n" \
    "$(fmt_us "${R_CPU[$f]}")" "$(fmt_us "${R_CPU[$n]}")"
}

floor_row() {  # floor_row WHAT LABEL
  local what=$1 l=$2
  [ "${R_FAILED[$l]}" -eq 0 ] || what+=" (**run failed**)"
  printf '| %s | %s | %s |\n' "$what" "$(fmt_us "${R_P50[$l]}")" "$(fmt_us "${R_P99[$l]}")"
}

metrics_row() {  # metrics_row SCENARIO OFF_LABEL ON_LABEL
  local off=${R_RATE[$2]} on=${R_RATE[$3]} cost met
  cost=$(awk -v a="$off" -v b="$on" 'BEGIN { if (a == "null" || b == "null" || a == 0) print "null"; else printf "%.1f", (1 - b / a) * 100 }')
  if [ "${R_FAILED[$2]}" -gt 0 ] || [ "${R_FAILED[$3]}" -gt 0 ] || [ "$cost" = null ]; then
    met="**run failed**"; MISSED=$((MISSED + 1))
  elif fcmp "$cost" '<=' 3; then met=met; MET=$((MET + 1))
  else met="**missed**: $cost % > 3 %"; MISSED=$((MISSED + 1)); fi
  printf '| %s | hybrid | %s | %s | %s %% | ≤ 3 %% | %s |\n' "$1" "$(fmt_rate "$off")" \
    "$(fmt_rate "$on")" "$cost" "$met"
}

peers_row() {  # peers_row SHOWN SCENARIO WAIT TRANSPORT
  local shown=$1 t=$4 l=$2/$3/$4 f=$2/$3/ferry lat="—" vs_rate="—" vs_lat="—"
  local p50=${R_P50[$l]:-null} p99=${R_P99[$l]:-null}
  [ "$p50" = null ] || lat="$(fmt_us "$p50") / $(fmt_us "$p99")"
  if [ "$t" != ferry ]; then
    vs_rate=$(fmt_ratio "${R_RATE[$f]:-null}" "${R_RATE[$l]:-null}")
    [ "$p50" = null ] ||
      vs_lat="$(fmt_ratio "$p50" "${R_P50[$f]:-null}") / $(fmt_ratio "$p99" "${R_P99[$f]:-null}")"
  fi
  [ "${R_FAILED[$l]:-1}" -eq 0 ] || t+=" (**run failed**)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$shown" "$3" "$t" \
    "$(fmt_rate "${R_RATE[$l]:-null}")" "$lat" "$(fmt_us "${R_CPU[$l]:-null}")" "$vs_rate" "$vs_lat"
}

peers_section() {
  echo "## ferry beside its peers"
  echo
  echo "The scenarios the peers run, over ferry, Unix sockets, ZeroMQ and iceoryx, from the same"
  echo "groups of runs (each group's transports alternate, ferry, uds, zmq, iceoryx, ferry, ...;"
  echo "medians of $REPS). ferry and iceoryx run with each wait; uds and ZeroMQ only block, so they"
  local zmq_version iox_version
  zmq_version=$(pkg-config --modversion libzmq 2>/dev/null || echo 4.3)
  iox_version=$(dpkg-query -W -f='${Version}' libiceoryx-posh-dev 2>/dev/null || echo 2.0)
  iox_version=${iox_version%%+*}  # Debian's 2.0.3+dfsg-1: iceoryx 2.0.3
  echo "stand in the block rows. zmq: ZeroMQ $zmq_version over \`ipc://\` (PAIR for pingpong and"
  echo "stream, PUSH/PULL for fanin and rate, DEALER/ROUTER for reqrep); iceoryx: iceoryx"
  echo "$iox_version, zero-copy publish/subscribe (request/response for reqrep), with a RouDi of the"
  echo "run's own whose CPU time counts in the run's (docs/bench.md). Aeron is not measured: Debian 12"
  echo "has no package of it. The last two columns compare with ferry in the same wait: above 1,"
  echo "ferry is ahead (more msgs/s, lower latency)."
  echo
  echo "| scenario | wait | transport | msgs/s | p50 / p99 µs | CPU µs/msg | ferry ÷ it, msgs/s | it ÷ ferry, p50 / p99 |"
  echo "|---|---|---|---|---|---|---|---|"
  local row scen shown wait transports t
  for row in "${PEER_ROWS[@]}"; do
    IFS='|' read -r scen shown wait transports <<<"$row"
    for t in $transports; do peers_row "$shown" "$scen" "$wait" "$t"; done
  done
}

runs_notes() {  # the notes on failed runs and on the machine, every document's
  if [ "$FAILED_RUNS" -eq 0 ]; then
    echo "- Every run exited 0 and reported errors 0 (lost, duplicated, reordered or corrupt messages)."
  else
    echo "- **$FAILED_RUNS runs failed or counted errors** (see $DOC_NAME.jsonl: \`exit\`, \`stderr\`,"
    echo "  \`result.errors\`); their rows show \"run failed\". Medians use the runs that printed a result:"
    for l in "${LABELS[@]}"; do
      [ "${R_FAILED[$l]}" -eq 0 ] || echo "  - $l: ${R_FAILED[$l]} of ${R_REPS[$l]} runs, max errors ${R_ERR[$l]}"
    done
  fi
  echo "- The machine is shared and noisy: absolute figures move between runs by 2-3×; the"
  echo "  ratios, from runs made minutes apart and alternated, move much less."
  if fcmp "${load_before%% *}" '>' "$(nproc)"; then
    echo "- **The machine was busy** during this run (1-minute load average ${load_before%% *} before,"
    echo "  ${load_after%% *} after, on $(nproc) CPUs): other processes competed for the CPUs. spin and"
    echo "  hybrid, which keep a process on a CPU to avoid a wake-up, suffer most when they lose it."
  elif fcmp "${load_after%% *}" '>' "$(nproc)"; then
    echo "- The 1-minute load average was ${load_after%% *} after the runs (${load_before%% *} before, on"
    echo "  $(nproc) CPUs). The last runs' own processes (33 of them) count in it, and so would anything"
    echo "  else that ran meanwhile and competed for the CPUs: if in doubt, repeat."
  fi
}

commands_section() {
  echo "## Commands"
  echo
  echo "Each with \`XDG_RUNTIME_DIR\` a fresh private directory and \`FERRY_SESSION=bench\`:"
  echo
  echo '```sh'
  for l in "${LABELS[@]}"; do echo "build/bin/${R_CMD[$l]}"; done | awk '!seen[$0]++'
  echo '```'
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
[ -n "$cpu_model" ] || cpu_model=$(uname -m)
os_name=$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}") || true)

doc_header() {  # doc_header TITLE GENERATED_BY
  echo "# $1"
  echo
  echo "Generated by $2; do not edit by hand."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| commit | $COMMIT |"
  echo "| machine | $(nproc) CPUs, $cpu_model |"
  echo "| system | ${os_name:-Linux}, kernel $(uname -r) |"
  echo "| load average (1/5/15 min) | before $load_before, after $load_after |"
  echo "| runs | $total runs of \`ferry bench\` in $((elapsed / 60)) min $((elapsed % 60)) s, $REPS repetitions per row |"
  echo
}

if [ "$ONLY" = peers ]; then
  {
    doc_header "ferry bench: ferry beside its peers" \
      "\`BENCH_ONLY=peers bench/scripts/matrix.sh\` (the peers' table of \`make bench\` alone)"
    echo "Reproduce: \`make build\`, then \`BENCH_ONLY=peers bench/scripts/matrix.sh build/bin\`."
    echo "1024-byte messages; 32 clients for fanin, reqrep and rate. Latency: round trip (pingpong,"
    echo "reqrep) or one-way (rate), µs."
    echo
    peers_section
    echo
    echo "## Notes"
    echo
    echo "- pingpong: 20k warm-up round trips, then 200k or ${PP_SECS} s, whichever ends first."
    echo "  stream: 5M messages or ${SECS} s. fanin, reqrep, rate: ${SECS} s (reqrep and rate after 0.5 s"
    echo "  of warm-up)."
    runs_notes
    echo
    commands_section
  } >"$BENCH_TMP/$DOC_NAME.md"
  mv -f "$BENCH_TMP/$DOC_NAME.md" "$OUT/$DOC_NAME.md"
  mv -f "$JSONL" "$OUT/$DOC_NAME.jsonl"
  echo "bench-matrix: wrote $OUT/$DOC_NAME.md, $DOC_NAME.jsonl ($((elapsed / 60)) min $((elapsed % 60)) s)" >&2
  [ "$FAILED_RUNS" -eq 0 ] || { echo "bench-matrix: $FAILED_RUNS runs failed or counted errors (see $OUT/$DOC_NAME.md)" >&2; exit 1; }
  exit 0
fi

{
  doc_header "ferry bench: ferry beside Unix sockets" "\`make bench\` (\`bench/scripts/matrix.sh\`)"
  echo "Reproduce: \`make bench\` (Release build, then \`bench/scripts/matrix.sh build/bin\`); one"
  echo "row by hand: the commands under [Commands](#commands), each $REPS times, alternating"
  echo "ferry and uds."
  echo
  echo "Every figure is the median of $REPS repetitions; a row's ferry and uds runs alternate"
  echo "(ferry, uds, ferry, uds, ...), so that what else the machine does hits both alike. Ratio:"
  echo "ferry msgs/s ÷ uds msgs/s. Latency: round trip (pingpong, reqrep) or one-way (rate, fanout"
  echo "at a rate), µs. 1024-byte messages; 32 clients for fanin, reqrep and rate, 32 subscribers"
  echo "for fanout (msgs/s: deliveries to all of them)."
  echo
  echo "| scenario | wait | ferry msgs/s | uds msgs/s | ratio | ferry p50 / p99 / p99.9 µs | uds p50 / p99 / p99.9 µs | CPU µs/msg ferry / uds | target | met? |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  table_row pingpong spin pp-spin pingpong/spin/ferry pingpong/spin/uds
  table_row pingpong hybrid pp-hybrid pingpong/hybrid/ferry pingpong/hybrid/uds
  table_row pingpong block pp-block pingpong/block/ferry pingpong/block/uds
  table_row stream hybrid stream stream/hybrid/ferry stream/hybrid/uds
  table_row stream spin none stream/spin/ferry stream/spin/uds
  table_row "fanin 32→1" hybrid fanin fanin/hybrid/ferry fanin/hybrid/uds
  table_row "fanin 32→1" block none fanin/block/ferry fanin/block/uds
  table_row "fanin 32→1 + $IDLE idle" hybrid idle fanin-idle/hybrid/ferry fanin-idle/hybrid/uds
  table_row "reqrep 32" hybrid reqrep reqrep/hybrid/ferry reqrep/hybrid/uds
  table_row "reqrep 32" block none reqrep/block/ferry reqrep/block/uds
  table_row "rate 32 × 1k/s" hybrid rate rate/hybrid/ferry rate/hybrid/uds
  table_row "rate 32 × 1k/s" block none rate/block/ferry rate/block/uds
  table_row "rate 32 × 1k/s, from the schedule" hybrid rate-intended rate-intended/hybrid/ferry \
    rate-intended/hybrid/uds
  table_row "fanout 1→32 (deliveries)" hybrid fanout fanout/hybrid/ferry fanout/hybrid/uds
  table_row "fanout 1→32 × 10k/s" hybrid fanout-rate fanout-rate/hybrid/ferry fanout-rate/hybrid/uds
  echo
  echo "Wake-up system calls per message (round trip, delivery), ferry's own count (\`wakes_per_msg\`:"
  echo "every futex, eventfd or socket wake of either side, warm-up included), in the order above:"
  echo
  local_wakes=""
  for l in pingpong/spin/ferry pingpong/hybrid/ferry pingpong/block/ferry stream/hybrid/ferry \
           fanin/hybrid/ferry fanin/block/ferry reqrep/hybrid/ferry reqrep/block/ferry \
           rate/hybrid/ferry rate/block/ferry fanout/hybrid/ferry fanout-rate/hybrid/ferry; do
    local_wakes+="${local_wakes:+, }${l%/ferry} $(awk -v w="${R_WAKES[$l]:-null}" 'BEGIN { if (w == "null") printf "—"; else printf "%.3g", w }')"
  done
  echo "$local_wakes."
  echo
  echo "## ferry beside the naive floor"
  echo
  echo "The same workloads over \`--transport naive\` (docs/bench.md): a ring of fixed slots each"
  echo "way per client, one copy, no header, no CRC, no connection or dispatch, a futex wake-up only"
  echo "when the consumer said it sleeps; the same wait mode as ferry's, from the same minutes."
  echo "Ratio: ferry msgs/s ÷ naive msgs/s."
  echo
  echo "| scenario | wait | ferry msgs/s | naive msgs/s | ratio | ferry p50 / p99 / p99.9 µs | naive p50 / p99 / p99.9 µs | CPU µs/msg ferry / naive |"
  echo "|---|---|---|---|---|---|---|---|"
  naive_row pingpong hybrid pingpong/hybrid/ferry pingpong/hybrid/naive
  naive_row pingpong block pingpong/block/ferry pingpong/block/naive
  naive_row stream hybrid stream/hybrid/ferry stream/hybrid/naive
  naive_row stream spin stream/spin/ferry stream/spin/naive
  naive_row "fanin 32→1" hybrid fanin/hybrid/ferry fanin/hybrid/naive
  naive_row "fanin 32→1" block fanin/block/ferry fanin/block/naive
  naive_row "fanin 32→1, the naive ring spinning" "hybrid / spin" fanin/hybrid/ferry fanin/spin/naive
  naive_row "reqrep 32" hybrid reqrep/hybrid/ferry reqrep/hybrid/naive
  naive_row "reqrep 32" block reqrep/block/ferry reqrep/block/naive
  naive_row "rate 32 × 1k/s" hybrid rate/hybrid/ferry rate/hybrid/naive
  naive_row "rate 32 × 1k/s" block rate/block/ferry rate/block/naive
  naive_row "rate 32 × 1k/s, from the schedule" hybrid rate-intended/hybrid/ferry \
    rate-intended/hybrid/naive
  echo
  peers_section
  echo
  echo "## The floor under pingpong"
  echo
  echo "Spinning 1 KB round trips between two processes below ferry's API, from the same run"
  echo "(\`ferry-pingpong-floor\`): the naive ring the pingpong targets were set with"
  echo "(fixed slots, one copy each way, no header, no CRC, no wake-up handshake), ferry's ring"
  echo "alone (no server, client, doorbell or dispatch) without and with CRC32C, and ferry's"
  echo "pingpong spin from the table above. What lies between two rows is what the layer costs."
  echo
  echo "| round trip, spin | p50 µs | p99 µs |"
  echo "|---|---|---|"
  floor_row "naive ring" floor/naive
  floor_row "ferry ring, no CRC" floor/ring
  floor_row "ferry ring, CRC32C" floor/ring-crc
  floor_row "ferry pingpong (server + client)" pingpong/spin/ferry
  echo
  echo "## ferryd memory"
  echo
  echo "\`ferryd\` alone in a private session (own \`XDG_RUNTIME_DIR\`, \`FERRY_SESSION=bench\`, an"
  echo "empty configuration file: the defaults), read from \`/proc/<pid>/status\` 1 s after start,"
  echo "then again 1 s after $NSUB \`ferry subscribe\` processes connected and subscribed (each a"
  echo "connection with its own segment, default 1 MiB rings each way)."
  echo
  if [ -n "${MEM[off,idle]:-}" ]; then
    echo "| measure | metrics off | metrics on | target | met? |"
    echo "|---|---|---|---|---|"
    per_conn() {  # per_conn MODE SUFFIX -> kB per connection
      awk -v a="${MEM[$1,with$2]:-null}" -v b="${MEM[$1,idle$2]:-null}" -v n="${MEM[$1,connected]:-0}" \
        'BEGIN { if (a == "null" || b == "null" || n == 0) print "null"; else printf "%.1f", (a - b) / n }'
    }
    mem_of() {  # mem_of MODE WHAT
      echo "${MEM[$1,$2]:-null} kB (anon ${MEM[$1,$2_anon]:-null}, file ${MEM[$1,$2_file]:-null}, shmem ${MEM[$1,$2_shmem]:-null})"
    }
    on_idle=${MEM[on,idle]:-null}
    if [ "$on_idle" != null ] && fcmp "$on_idle" '<=' 3072; then mem_met=met; MET=$((MET + 1))
    else mem_met="**missed**: $on_idle kB > 3072 kB with metrics on"; MISSED=$((MISSED + 1)); fi
    printf '| idle ferryd, VmRSS | %s | %s | ≤ 3 MiB (3072 kB), metrics on | %s |\n' \
      "$(mem_of off idle)" "$(mem_of on idle)" "$mem_met"
    printf '| with %s idle clients, VmRSS | %s | %s | | |\n' "${MEM[off,connected]:-0}" \
      "$(mem_of off with)" "$(mem_of on with)"
    printf '| per connection, (VmRSS with N − idle) ÷ N | %s kB (anon %s, shmem %s) | %s kB (anon %s, shmem %s) | a few kB besides the rings | |\n' \
      "$(per_conn off '')" "$(per_conn off _anon)" "$(per_conn off _shmem)" \
      "$(per_conn on '')" "$(per_conn on _anon)" "$(per_conn on _shmem)"
    echo
    echo "Metrics on: \`--metrics-listen 127.0.0.1:0\`, each reading 0.2 s after a scrape of"
    echo "\`/metrics\`. ferryd's figures only: the exporter (prometheus-cpp, which Debian ships only"
    echo "as shared libraries) is \`ferry exporter\`, a child process of ferryd that reads its"
    echo "counters from shared memory, and its memory is its own. See docs/observability.md."
  else
    echo "**Not measured**: ferryd did not start (see the output of \`make bench\`)."
  fi
  echo
  echo "## Metrics on and off"
  echo
  echo "\`ferry bench --metrics on\`: the server keeps its handler-latency histogram (one call in"
  echo "16 timed) and its counters are read ten times a second (\`ferry::read_process_stat\`, what"
  echo "ferryd's exporter does at each scrape), alternated with the same run with metrics off."
  echo "The counters themselves are always kept (they are part of every figure above)."
  echo
  echo "| scenario | wait | metrics off msgs/s | metrics on msgs/s | cost | target | met? |"
  echo "|---|---|---|---|---|---|---|"
  metrics_row stream stream/hybrid/ferry stream-metrics/hybrid/ferry
  metrics_row "fanin 32→1" fanin/hybrid/ferry fanin-metrics/hybrid/ferry
  echo
  echo "## Notes"
  echo
  echo "- Targets are those of docs/performance.md. For stream, fanin, reqrep and rate they apply to the default"
  echo "  wait, hybrid; the other waits are shown for reference. $MET targets met, $MISSED missed."
  echo "- Waits: pingpong runs spin, hybrid and block; stream hybrid and spin (2 processes on 2"
  echo "  cores). fanin, reqrep and rate run hybrid and block but not spin: with 33 processes on 2"
  echo "  cores everyone spinning starves everyone (the run finishes, slowly, and measures the"
  echo "  scheduler). The one exception is the naive ring's fanin spin, the floor fanin's target"
  echo "  is set against. uds always blocks (blocking sockets, epoll on the server), and so does zmq."
  echo "- rate, from the schedule (\`--stamp intended\`): latency from the time each message was due,"
  echo "  so a producer's own timer lateness counts; ferry, uds and the naive ring stamped alike."
  echo "- pingpong: 20k warm-up round trips, then 200k or ${PP_SECS} s, whichever ends first (a run"
  echo "  slower than 200k in ${PP_SECS} s, typically block and uds, stops at the cap with fewer samples)."
  echo "  stream: 5M messages or ${SECS} s. fanin, reqrep, rate: ${SECS} s (reqrep and rate after 0.5 s"
  echo "  of warm-up)."
  echo "- fanin + $IDLE idle: the same fanin with $IDLE more connections held open and silent by one"
  echo "  more process, run alternately with plain fanin; its target compares it with the"
  echo "  ferry fanin hybrid row above, from the same repetitions."
  runs_notes
  echo
  commands_section
  echo
  echo "ferryd memory: \`build/bin/ferryd\` (and \`--metrics-listen 127.0.0.1:0\`), then $NSUB × \`build/bin/ferry subscribe"
  echo "--type 4242 --timeout 600000 --ready-file F\`, reading \`/proc/<ferryd pid>/status\`."
} >"$BENCH_TMP/latest.md"

# ---------------------------------------------------------------------------------------
# The plot: p50, p99, p99.9 of every row with latency, ferry beside uds, log scale.
{
  echo "# row ferry_p50 ferry_p99 ferry_p999 uds_p50 uds_p99 uds_p999 (us)"
  for r in pingpong/spin pingpong/hybrid pingpong/block reqrep/hybrid reqrep/block rate/hybrid rate/block; do
    f=$r/ferry u=$r/uds
    printf '"%s\\n%s" %s %s %s %s %s %s\n' "${r%%/*}" "${r#*/}" \
      "${R_P50[$f]}" "${R_P99[$f]}" "${R_P999[$f]}" "${R_P50[$u]}" "${R_P99[$u]}" "${R_P999[$u]}" |
      sed 's/ null/ NaN/g'
  done
} >"$BENCH_TMP/latency.dat"
gnuplot -e "datafile='$BENCH_TMP/latency.dat'; outfile='$BENCH_TMP/latest.png'; \
            subtitle='$(date -u '+%Y-%m-%d') · commit $COMMIT · $(nproc) CPUs · median of $REPS runs'" \
  "$here/latency.gp"

mv -f "$BENCH_TMP/latest.md" "$OUT/latest.md"
mv -f "$BENCH_TMP/latest.png" "$OUT/latest.png"
mv -f "$JSONL" "$OUT/latest.jsonl"
echo "bench-matrix: wrote $OUT/latest.md, latest.png, latest.jsonl ($((elapsed / 60)) min $((elapsed % 60)) s; targets: $MET met, $MISSED missed)" >&2
status=0
if [ "$MEM_OK" -ne 1 ]; then
  echo "bench-matrix: the ferryd memory measurement failed (see above and $OUT/latest.md)" >&2
  status=1
fi
if [ "$FAILED_RUNS" -gt 0 ]; then
  echo "bench-matrix: $FAILED_RUNS runs failed or counted errors (see $OUT/latest.md)" >&2
  status=1
fi
exit "$status"
