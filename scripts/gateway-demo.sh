#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/gateway-demo.sh [--seconds N]: what `make gateway-demo` runs (docs/gateway.md).
#
# Two buses talking through two gateways, on this machine: ferryds for sessions "gw-a" and
# "gw-b" in a private runtime directory, a gateway on each (ws:// on loopback), a service on
# b answering type 8 in upper case and a subscriber on b to type 7. For N seconds (10) it
# sends requests of type 8 and publications of type 7 from a, and shows once a second what
# crossed and the state of a's pool from its Prometheus metrics. Stops everything it started,
# also on Ctrl-C. Binaries from $FERRY_DEMO_BIN (default build/bin). Exit status 0 when every
# request was answered correctly, 1 otherwise.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FERRY_DEMO_BIN:-$root/build/bin}
seconds=10
case ${1:-} in
  --seconds) seconds=${2:?--seconds needs a number} ;;
  -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "gateway-demo: unknown option '$1' (see scripts/gateway-demo.sh --help)" >&2; exit 2 ;;
esac
for b in ferryd ferry ferry-gateway; do
  [ -x "$bin/$b" ] || { echo "gateway-demo: $bin/$b is missing: build first (make build)" >&2; exit 1; }
done

say() { printf 'gateway-demo: %s\n' "$*"; }
# shellcheck source-path=SCRIPTDIR source=private-runtime.sh
. "$root/scripts/private-runtime.sh" gateway-demo
trap 'echo; say "interrupted"; exit 130' INT TERM

start_buses "$bin/ferryd" gw-a gw-b
port_b=$(free_port)
metrics=$(free_port)
start "$bin/ferry-gateway" --session gw-b --node host-b --listen "127.0.0.1:$port_b" --plain \
  --accept 7 --accept 8 --log-level warn
start "$bin/ferry-gateway" --session gw-a --node host-a --upstream "b=ws://127.0.0.1:$port_b/" \
  --route "request 8 b" --route "publish 7 b" --metrics-listen "127.0.0.1:$metrics" --log-level warn
start "$bin/ferry" serve --session gw-b --type 8 --exec 'tr a-z A-Z' --ready-file "$work/serve.ready"
start "$bin/ferry" subscribe --session gw-b --type 7 --ready-file "$work/subscribe.ready"
# Ready when the service and the subscriber say so and a request crosses the link and back
# (the gateways connect by themselves): waiting for those events, up to 20 s, not a time.
ready() {
  [ -e "$work/serve.ready" ] && [ -e "$work/subscribe.ready" ] &&
    [ "$("$bin/ferry" request --session gw-a --type 8 --data ready --timeout 1000 2>/dev/null)" = READY ]
}
deadline=$((SECONDS + 20))
until ready; do
  [ $SECONDS -lt $deadline ] || { say "the link did not come up in 20 s; the log:"; cat "$work/log"; exit 1; }
  sleep 0.1
done
say "bus a (session gw-a) -> gateway host-a -> ws://127.0.0.1:$port_b -> gateway host-b -> bus b"
say "a's pool metrics: http://127.0.0.1:$metrics/metrics"

metric() { grep -m1 "^$1 " "$work/metrics" | awk '{print $2}'; }
answered=0 wrong=0 published=0
end=$((SECONDS + seconds)) next=$((SECONDS + 1))
while [ $SECONDS -lt $end ]; do
  word="hello-$answered"
  reply=$("$bin/ferry" request --session gw-a --type 8 --data "$word" 2>&1)
  if [ "$reply" = "${word^^}" ]; then
    answered=$((answered + 1))
  else
    wrong=$((wrong + 1))
    [ $wrong -gt 1 ] || say "a wrong answer to $word: $reply"
  fi
  "$bin/ferry" send --session gw-a --type 7 --data "news-$published" && published=$((published + 1))
  if [ $SECONDS -ge $next ]; then
    next=$((SECONDS + 1))
    curl -s "http://127.0.0.1:$metrics/metrics" > "$work/metrics"
    u='{upstream="b"'
    printf 'gateway-demo: %3ss  answered %5d (wrong %d)  published %5d  pool: %s idle %s busy  reuse %s  mean request %s ms\n' \
      "$((seconds - end + SECONDS))" "$answered" "$wrong" "$published" \
      "$(metric "ferry_gateway_pool_connections${u},state=\"idle\"}")" \
      "$(metric "ferry_gateway_pool_connections${u},state=\"busy\"}")" \
      "$(metric "ferry_gateway_pool_reuse_ratio${u}}")" \
      "$(awk '/^ferry_gateway_pool_request_seconds_sum/ {s=$2} /^ferry_gateway_pool_request_seconds_count/ {c=$2} END {if (c) printf "%.2f", 1000*s/c; else print "-"}' "$work/metrics")"
  fi
done
say "$answered requests answered across the link, $wrong wrong; $published publications sent"
[ "$wrong" -eq 0 ] && [ "$answered" -gt 0 ]
