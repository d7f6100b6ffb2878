#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ferry bench, briefly: every scenario over both transports must finish with errors 0 and
# one JSON line of the documented fields; a run with a deliberately skipped sequence number
# must report it and exit 1. (Speed is not checked here: that is `make bench`.)
set -euo pipefail
# A run that exits non-zero stops the script: say where, and what it printed.
trap 'echo "bench smoke: failed at line $LINENO (exit $?): ${line:-}" >&2' ERR
ferry=$1
runtime=$(mktemp -d)
trap 'rm -rf "$runtime"' EXIT
export XDG_RUNTIME_DIR=$runtime FERRY_SESSION=bench-smoke
fields='"system","scenario","size","clients","wait","metrics","copy","msgs","seconds","msgs_per_s","mb_per_s","p50_us","p99_us","p999_us","max_us","cpu_s","cpu_us_per_msg","peak_rss_kb","errors"'
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
# The naive floor under every scenario it can run, each wait mode once.
for run in "pingpong spin 1" "stream block 1" "fanin hybrid 4" "reqrep block 4" "rate hybrid 4"; do
  read -r scenario wait clients <<<"$run"
  line=$("$ferry" bench --scenario "$scenario" --transport naive --wait "$wait" \
         --clients "$clients" --seconds 0.3 --json)
  echo "$line" | grep -q '"system":"naive".*"errors":0}' ||
    { echo "bench $scenario/naive/$wait: $line" >&2; exit 1; }
done
set +e
line=$("$ferry" bench --scenario fanin --transport naive --clients 2 --seconds 0.3 --inject-error --json)
rc=$?
set -e
[ $rc -eq 1 ] && echo "$line" | grep -q '"errors":1}' ||
  { echo "bench naive --inject-error: exit $rc, $line" >&2; exit 1; }
# Metrics on, and payloads copied: beside the traffic, nothing else changes.
for scenario in stream reqrep; do
  clients=4
  [ "$scenario" = stream ] && clients=1
  line=$("$ferry" bench --scenario "$scenario" --clients "$clients" --seconds 0.3 --metrics on --json)
  echo "$line" | grep -q '"metrics":true,.*"errors":0}' || { echo "bench --metrics on: $line" >&2; exit 1; }
  line=$("$ferry" bench --scenario "$scenario" --clients "$clients" --seconds 0.3 --copy on --json)
  echo "$line" | grep -q '"copy":true,.*"errors":0}' || { echo "bench --copy on: $line" >&2; exit 1; }
done
set +e
msg=$("$ferry" bench --scenario stream --transport uds --metrics on 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] && [[ $msg == *"the uds baseline has none"* ]] ||
  { echo "bench --metrics on over uds: exit $rc, $msg" >&2; exit 1; }
set +e
line=$("$ferry" bench --scenario fanin --clients 2 --seconds 0.3 --inject-error --json)
rc=$?
set -e
[ $rc -eq 1 ] || { echo "bench --inject-error exited $rc, expected 1" >&2; exit 1; }
echo "$line" | grep -q '"errors":1}' || { echo "bench --inject-error: $line" >&2; exit 1; }
# fanout, paced, through ferryd's bus and through the uds relay: one-way latency, and the
# publisher's skipped number is missed by each of the 3 subscribers.
for transport in ferry uds; do
  line=$("$ferry" bench --scenario fanout --transport "$transport" --clients 3 --rate 2000 \
         --seconds 0.3 --json)
  echo "$line" | grep -Eq '"p50_us":[0-9].*"errors":0}' ||
    { echo "bench fanout --rate over $transport: $line" >&2; exit 1; }
  set +e
  line=$("$ferry" bench --scenario fanout --transport "$transport" --clients 3 --seconds 0.3 \
         --inject-error --json)
  rc=$?
  set -e
  [ $rc -eq 1 ] && echo "$line" | grep -q '"errors":3}' ||
    { echo "bench fanout --inject-error over $transport: exit $rc, $line" >&2; exit 1; }
done
echo "bench smoke: all scenarios ran clean; an injected error was caught"
