#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ferry bench, briefly: every scenario over both transports must finish with errors 0 and
# one JSON line of the documented fields; a run with a deliberately skipped sequence number
# must report it and exit 1. (Speed is not checked here: that is `make bench`.)
#
#   bench_smoke.sh FERRY           ferry, uds and the naive floor
#   bench_smoke.sh FERRY peers     the peers, zmq and iceoryx (ferry-bench-peers beside FERRY)
set -euo pipefail
# A run that exits non-zero stops the script: say where, and what it printed.
trap 'echo "bench smoke: failed at line $LINENO (exit $?): ${line:-}" >&2' ERR
ferry=$1
runtime=$(mktemp -d)
trap 'rm -rf "$runtime"' EXIT
export XDG_RUNTIME_DIR=$runtime FERRY_SESSION=bench-smoke
fields='"system","scenario","size","clients","wait","metrics","copy","batch","msgs","seconds","msgs_per_s","mb_per_s","p50_us","p99_us","p999_us","max_us","cpu_s","cpu_us_per_msg","wakes_per_msg","peak_rss_kb","errors"'

# check_run TRANSPORT WAIT ARGS...: one run of `ferry bench --json` that must exit 0 with the
# documented fields, errors 0, and the transport and wait mode asked for.
check_run() {
  local transport=$1 wait=$2 keys rc=0
  shift 2
  line=$("$ferry" bench --transport "$transport" "$@" --json) || rc=$?
  [ $rc -eq 0 ] || { echo "bench $transport $*: exit $rc, $line" >&2; exit 1; }
  keys=$(echo "$line" | grep -o '"[a-z_0-9]*":' | tr -d ':' | paste -sd, -)
  [ "$keys" = "$fields" ] || { echo "bench $transport $*: fields $keys" >&2; exit 1; }
  echo "$line" | grep -q '"errors":0}' || { echo "bench $transport $*: $line" >&2; exit 1; }
  echo "$line" | grep -q "^{\"system\":\"$transport\",.*\"wait\":\"$wait\"," ||
    { echo "bench $transport $*: not $transport, wait $wait: $line" >&2; exit 1; }
  # ferry counts its wake-up system calls in its rings; the others do not.
  local wakes='"wakes_per_msg":null'
  [ "$transport" = ferry ] && wakes='"wakes_per_msg":[0-9]'
  echo "$line" | grep -q "$wakes" || { echo "bench $transport $*: wakes_per_msg: $line" >&2; exit 1; }
}

# check_caught TRANSPORT ERRORS ARGS...: a run with --inject-error must exit 1 and count them.
check_caught() {
  local transport=$1 errors=$2 rc=0
  shift 2
  line=$("$ferry" bench --transport "$transport" "$@" --inject-error --json) || rc=$?
  if [ $rc -ne 1 ] || ! echo "$line" | grep -q "\"errors\":$errors}"; then
    echo "bench $transport $* --inject-error: exit $rc, $line" >&2
    exit 1
  fi
}

# check_refused MESSAGE ARGS...: `ferry bench ARGS...` must be a usage error saying MESSAGE.
check_refused() {
  local want=$1 msg rc=0
  shift
  msg=$("$ferry" bench "$@" 2>&1) || rc=$?
  if [ $rc -ne 2 ] || [[ $msg != *"$want"* ]]; then
    echo "bench $*: exit $rc, $msg" >&2
    exit 1
  fi
}

if [ "${2:-}" = peers ]; then
  # ZeroMQ blocks, always: every scenario it runs, with the wait it reports.
  for run in "pingpong 1" "stream 1" "fanin 4" "reqrep 4" "rate 4"; do
    read -r scenario clients <<<"$run"
    check_run zmq block --scenario "$scenario" --clients "$clients" --seconds 0.3
  done
  # iceoryx: every scenario it runs, and every wait mode on the one-to-one scenarios.
  for run in "pingpong spin 1" "pingpong hybrid 1" "pingpong block 1" "stream spin 1" \
             "stream block 1" "fanin hybrid 4" "fanin block 4" "reqrep hybrid 4" \
             "reqrep block 4" "rate hybrid 4"; do
    read -r scenario wait clients <<<"$run"
    check_run iceoryx "$wait" --scenario "$scenario" --wait "$wait" --clients "$clients" \
      --seconds 0.3
  done
  # A skipped sequence number is caught on every path a message takes: PAIR, PUSH/PULL and
  # DEALER/ROUTER; publish/subscribe and request/response.
  for transport in zmq iceoryx; do
    check_caught "$transport" 1 --scenario fanin --clients 2 --seconds 0.3
    check_caught "$transport" 1 --scenario stream --seconds 0.3
    check_caught "$transport" 1 --scenario reqrep --clients 2 --seconds 0.3
  done
  # What they cannot do is refused, with why.
  check_refused "ZeroMQ has no spin or hybrid wait" --scenario stream --transport zmq --wait spin
  check_refused "runs pingpong, stream, fanin, reqrep and rate" --scenario fanout --transport iceoryx
  echo "bench smoke: zmq and iceoryx ran clean; injected errors were caught"
  exit 0
fi
for scenario in pingpong stream fanin reqrep rate fanout; do
  for transport in ferry uds; do
    clients=4
    case $scenario in pingpong|stream) clients=1 ;; esac
    line=$("$ferry" bench --scenario "$scenario" --transport "$transport" --clients "$clients" \
           --seconds 0.3 --json)
    keys=$(echo "$line" | grep -o '"[a-z_0-9]*":' | tr -d ':' | paste -sd, -)
    [ "$keys" = "$fields" ] || { echo "bench $scenario/$transport: fields $keys" >&2; exit 1; }
    echo "$line" | grep -q '"errors":0}' || { echo "bench $scenario/$transport: $line" >&2; exit 1; }
    echo "$line" | grep -q "\"system\":\"$transport\"" || { echo "bad system: $line" >&2; exit 1; }
  done
done
# Batches (--batch): published 8 at a time, every message still checked and a skipped
# number still caught; where batching does not apply, refused.
for run in "ferry hybrid" "uds block"; do
  read -r transport wait <<<"$run"
  for scenario in stream fanin fanout; do
    clients=3
    [ "$scenario" = stream ] && clients=1
    check_run "$transport" "$wait" --scenario "$scenario" --clients "$clients" --batch 8 --seconds 0.3
    echo "$line" | grep -q '"batch":8,' || { echo "bench --batch 8: $line" >&2; exit 1; }
  done
  check_caught "$transport" 1 --scenario fanin --clients 2 --batch 8 --seconds 0.3
done
check_refused "--batch applies to the producers of stream, fanin and fanout" --scenario rate --batch 4
check_refused "--batch applies to the producers of stream, fanin and fanout" --scenario stream \
  --transport naive --batch 4
# The naive floor under every scenario it can run, each wait mode once.
for run in "pingpong spin 1" "stream block 1" "fanin hybrid 4" "reqrep block 4" "rate hybrid 4"; do
  read -r scenario wait clients <<<"$run"
  line=$("$ferry" bench --scenario "$scenario" --transport naive --wait "$wait" \
         --clients "$clients" --seconds 0.3 --json)
  echo "$line" | grep -q '"system":"naive".*"errors":0}' ||
    { echo "bench $scenario/naive/$wait: $line" >&2; exit 1; }
done
check_caught naive 1 --scenario fanin --clients 2 --seconds 0.3
# Metrics on, and payloads copied: beside the traffic, nothing else changes.
for scenario in stream reqrep; do
  clients=4
  [ "$scenario" = stream ] && clients=1
  line=$("$ferry" bench --scenario "$scenario" --clients "$clients" --seconds 0.3 --metrics on --json)
  echo "$line" | grep -q '"metrics":true,.*"errors":0}' || { echo "bench --metrics on: $line" >&2; exit 1; }
  line=$("$ferry" bench --scenario "$scenario" --clients "$clients" --seconds 0.3 --copy on --json)
  echo "$line" | grep -q '"copy":true,.*"errors":0}' || { echo "bench --copy on: $line" >&2; exit 1; }
done
check_refused "the uds baseline has none" --scenario stream --transport uds --metrics on
check_caught ferry 1 --scenario fanin --clients 2 --seconds 0.3
# fanout, paced, through ferryd's bus and through the uds relay: one-way latency, and the
# publisher's skipped number is missed by each of the 3 subscribers.
for transport in ferry uds; do
  line=$("$ferry" bench --scenario fanout --transport "$transport" --clients 3 --rate 2000 \
         --seconds 0.3 --json)
  echo "$line" | grep -Eq '"p50_us":[0-9].*"errors":0}' ||
    { echo "bench fanout --rate over $transport: $line" >&2; exit 1; }
  check_caught "$transport" 3 --scenario fanout --clients 3 --seconds 0.3
done
echo "bench smoke: all scenarios ran clean; an injected error was caught"
