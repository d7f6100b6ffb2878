#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/gateway.sh [SECONDS [LOAD_SECONDS]]: ferry-gateway beside a plain TLS WebSocket echo, in one
# run (docs/gateway.md, "Benchmarks"). On loopback, 1 KiB payloads, wss:// with the test
# certificates (tests/gateway/make_certs.sh):
#   plain echo     ferry-gateway-bench's Boost.Beast echo, one connection, closed loop
#   gateway RTT    one requester on bus a -> gateway a -> wss -> gateway b -> bus b's echo
#   gateway 32     32 requesters the same way for LOAD_SECONDS (the pool multiplexes them,
#                  several frames per WebSocket message when traffic is heavy), and the reuse
#                  over it from a's metrics
#   swinging load  LOAD_SECONDS more, the requesters swinging between 1 and 32 every second,
#                  and the reuse over that
#   connects       200 new connections each to the echo and to gateway b, timed from the TCP
#                  connect to the first reply, with full TLS handshakes and with resumed ones
# then the cost of 1000 idle pooled connections pinged every 5 s. Prints a Markdown table;
# SECONDS per latency run (5), LOAD_SECONDS per reuse run (60).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/bin
secs=${1:-5}
load_secs=${2:-60}
for b in ferryd ferry-gateway ferry-gateway-bench; do
  [ -x "$bin/$b" ] || { echo "gateway.sh: $bin/$b is missing (make build)" >&2; exit 1; }
done
# shellcheck source-path=SCRIPTDIR source=../../scripts/private-runtime.sh
. scripts/private-runtime.sh gateway-bench
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

tests/gateway/make_certs.sh "$work/certs" >/dev/null
c=$work/certs
start_buses "$bin/ferryd" a b
port_b=$(free_port)
metrics=$(free_port)
start "$bin/ferry-gateway" --session b --listen "127.0.0.1:$port_b" --tls-cert "$c/server.crt" \
  --tls-key "$c/server.key" --accept 8 --log-level warn
gw_b=${pids[-1]}
start "$bin/ferry-gateway" --session a --upstream "b=wss://localhost:$port_b/" --tls-ca "$c/ca.crt" \
  --route "request 8 b" --metrics-listen "127.0.0.1:$metrics" --log-level warn
gw_a=${pids[-1]}
start "$bin/ferry-gateway-bench" bus-echo --session b --type 8
"$bin/ferry-gateway-bench" echo-server --cert "$c/server.crt" --key "$c/server.key" > "$work/echo" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/echo" 2>/dev/null && break; sleep 0.05; done
echo_port=$(sed -n 's/.*://p' "$work/echo")
sleep 0.5

u='{upstream="b"}'
scrape() { curl -s "http://127.0.0.1:$metrics/metrics" > "$work/metrics"; }
m() { grep -m1 "^$1 " "$work/metrics" | awk '{print $2}'; }
counts() { scrape; echo "$(m "ferry_gateway_pool_requests_total$u") $(m "ferry_gateway_pool_reused_total$u")"; }
# The reuse between two `counts`: reused requests / requests.
reuse() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
  n = y[1] - x[1]; printf "%.4f (of %d)", n ? (y[2] - x[2]) / n : 0, n }'; }
gb() { "$bin/ferry-gateway-bench" "$@"; }

plain=$(gb echo-client --port "$echo_port" --ca "$c/ca.crt" --seconds "$secs")
one=$(gb bus-client --session a --type 8 --clients 1 --seconds "$secs")
c0=$(counts)
many=$(gb bus-client --session a --type 8 --clients 32 --seconds "$load_secs")
c1=$(counts)
swing=$(gb bus-client --session a --type 8 --clients 32 --swing-ms 1000 --seconds "$load_secs")
c2=$(counts)
connect_echo=$(gb connect --port "$echo_port" --ca "$c/ca.crt")
connect_echo_resumed=$(gb connect --port "$echo_port" --ca "$c/ca.crt" --resume)
connect_gw=$(gb connect --port "$port_b" --ca "$c/ca.crt" --ferry 8)
connect_gw_resumed=$(gb connect --port "$port_b" --ca "$c/ca.crt" --ferry 8 --resume)

# 1000 idle pooled connections, pinged every 5 s: a third gateway on bus a keeps them.
idle_port=$(free_port)
start "$bin/ferry-gateway" --session a --node idle --upstream "b=wss://localhost:$port_b/" \
  --tls-ca "$c/ca.crt" --route "request 9 b" --pool-min 1000 --pool-max 1000 \
  --ping-interval-ms 5000 --metrics-listen "127.0.0.1:$idle_port" --log-level error
gw_idle=${pids[-1]}
for _ in $(seq 1200); do
  open=$( (curl -s "http://127.0.0.1:$idle_port/metrics" || true) |
    awk '/^ferry_gateway_pool_connections\{upstream="b",state="idle"\}/ {print $2}')
  [ "${open:-0}" -ge 1000 ] && break
  sleep 0.1
done
if [ "${open:-0}" -lt 1000 ]; then
  echo "gateway.sh: the idle pool has ${open:-0} of 1000 connections open after 2 minutes" >&2
  exit 1
fi
sleep 1  # (the last handshakes' work on the accepting side)
p0=$(cpu_ticks "$gw_idle") a0=$(cpu_ticks "$gw_b")
sleep 20
p1=$(cpu_ticks "$gw_idle") a1=$(cpu_ticks "$gw_b")
hz=$(getconf CLK_TCK)
pct() { awk -v d="$1" -v hz="$hz" 'BEGIN { printf "%.2f", 100 * d / hz / 20 }'; }
idle_cpu="$(pct $((p1 - p0 + a1 - a0)))% of a core ($(pct $((p1 - p0)))% pooling, $(pct $((a1 - a0)))% accepting)"
rss_a=$(awk '/VmRSS/ {print $2}' "/proc/$gw_a/status")

printf '| figure | plain Beast TLS echo | through a gateway pair | ratio | target |\n|---|---|---|---|---|\n'
p50_plain=$(echo "$plain" | json p50_us)
p50_one=$(echo "$one" | json p50_us)
rate_plain=$(echo "$plain" | json msgs_per_s)
rate_many=$(echo "$many" | json msgs_per_s)
printf '| request RTT p50, 1 KiB | %s µs | %s µs | %s× | ≤ 1.2× |\n' "$p50_plain" "$p50_one" \
  "$(awk -v a="$p50_one" -v b="$p50_plain" 'BEGIN { printf "%.2f", a / b }')"
printf '| requests/s (echo: 1 connection; gateway: 32 requesters) | %s | %s | %s× | ≥ 3× |\n' \
  "$rate_plain" "$rate_many" "$(awk -v a="$rate_many" -v b="$rate_plain" 'BEGIN { printf "%.2f", a / b }')"
printf '| gateway p99 RTT, 1 / 32 requesters | | %s / %s µs | | |\n' "$(echo "$one" | json p99_us)" \
  "$(echo "$many" | json p99_us)"
printf '| reuse, 32 requesters for %s s (requests on an already open connection) | | %s | | ≥ 0.99 |\n' \
  "$load_secs" "$(reuse "$c0" "$c1")"
printf '| reuse, load swinging between 1 and 32 requesters every second for %s s | | %s | | ≥ 0.95 |\n' \
  "$load_secs" "$(reuse "$c1" "$c2")"
printf '| requests/s, p99 RTT while it swings | | %s, %s µs | | |\n' "$(echo "$swing" | json msgs_per_s)" "$(echo "$swing" | json p99_us)"
printf '| new connection to the first reply, p50 (p99): full TLS handshake | %s (%s) µs | %s (%s) µs | %s× | gateway p50 ≤ 1.5 ms |\n' \
  "$(echo "$connect_echo" | json p50_us)" "$(echo "$connect_echo" | json p99_us)" \
  "$(echo "$connect_gw" | json p50_us)" "$(echo "$connect_gw" | json p99_us)" \
  "$(awk -v a="$(echo "$connect_gw" | json p50_us)" -v b="$(echo "$connect_echo" | json p50_us)" 'BEGIN { printf "%.2f", a / b }')"
printf '| the same, TLS session resumed (connections resumed of 200) | %s (%s) µs, %s | %s (%s) µs, %s | %s× | gateway p50 ≤ 1.0 ms |\n' \
  "$(echo "$connect_echo_resumed" | json p50_us)" "$(echo "$connect_echo_resumed" | json p99_us)" "$(echo "$connect_echo_resumed" | json resumed)" \
  "$(echo "$connect_gw_resumed" | json p50_us)" "$(echo "$connect_gw_resumed" | json p99_us)" "$(echo "$connect_gw_resumed" | json resumed)" \
  "$(awk -v a="$(echo "$connect_gw_resumed" | json p50_us)" -v b="$(echo "$connect_echo_resumed" | json p50_us)" 'BEGIN { printf "%.2f", a / b }')"
printf "| gateway a's pool: connects (of them TLS-resumed); mean handshake | | %s (%s); %s ms | | |\n" \
  "$(m "ferry_gateway_pool_connects_total{upstream=\"b\",result=\"ok\"}")" "$(m "ferry_gateway_pool_tls_resumed_total$u")" \
  "$(awk -v s="$(m "ferry_gateway_pool_handshake_seconds_sum$u")" -v n="$(m "ferry_gateway_pool_handshake_seconds_count$u")" 'BEGIN { printf "%.2f", n ? 1000 * s / n : 0 }')"
printf '| 1000 idle pooled connections, pinged every 5 s: CPU of both ends | | %s | | ≤ 1%% |\n' "$idle_cpu"
printf '| gateway a resident memory after the runs | | %s kB | | reported |\n' "$rss_a"
