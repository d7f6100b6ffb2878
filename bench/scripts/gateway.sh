#!/usr/bin/env bash
# bench/scripts/gateway.sh [SECONDS]: ferry-gateway beside a plain TLS WebSocket echo, in one
# run (docs/gateway.md, "Benchmarks"). On loopback, 1 KiB payloads, wss:// with the test
# certificates (tests/gateway/make_certs.sh):
#   plain echo     ferry-gateway-bench's Boost.Beast echo, one connection, closed loop
#   gateway RTT    one requester on bus a -> gateway a -> wss -> gateway b -> bus b's echo
#   gateway 32     32 requesters the same way (the pool multiplexes them, several frames per
#                  WebSocket message when traffic is heavy)
# then what a's metrics say (reuse, handshakes, TLS resumption), and the cost of 1000 idle
# pooled connections pinged every 5 s. Prints a Markdown table; SECONDS per run (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/bin
secs=${1:-5}
for b in ferryd ferry-gateway ferry-gateway-bench; do
  [ -x "$bin/$b" ] || { echo "gateway.sh: $bin/$b is missing (make build)" >&2; exit 1; }
done
# shellcheck source-path=SCRIPTDIR source=../../scripts/private-runtime.sh
. scripts/private-runtime.sh gateway-bench
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

tests/gateway/make_certs.sh "$work/certs" >/dev/null
c=$work/certs
start "$bin/ferryd" --session a
start "$bin/ferryd" --session b
for s in a b; do
  for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/ferry/$s/bus.sock" ] && break; sleep 0.05; done
done
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

plain=$("$bin/ferry-gateway-bench" echo-client --port "$echo_port" --ca "$c/ca.crt" --seconds "$secs")
one=$("$bin/ferry-gateway-bench" bus-client --session a --type 8 --clients 1 --seconds "$secs")
many=$("$bin/ferry-gateway-bench" bus-client --session a --type 8 --clients 32 --seconds "$secs")
curl -s "http://127.0.0.1:$metrics/metrics" > "$work/metrics"
m() { grep -m1 "^$1 " "$work/metrics" | awk '{print $2}'; }
u='{upstream="b"}'

# 1000 idle pooled connections, pinged every 5 s: a third gateway on bus a keeps them.
idle_port=$(free_port)
start "$bin/ferry-gateway" --session a --node idle --upstream "b=wss://localhost:$port_b/" \
  --tls-ca "$c/ca.crt" --route "request 9 b" --pool-min 1000 --pool-max 1000 \
  --ping-interval-ms 5000 --metrics-listen "127.0.0.1:$idle_port" --log-level error
gw_idle=${pids[-1]}
for _ in $(seq 300); do
  open=$( (curl -s "http://127.0.0.1:$idle_port/metrics" || true) |
    awk '/^ferry_gateway_pool_connections\{upstream="b",state="idle"\}/ {print $2}')
  [ "${open:-0}" -ge 1000 ] && break
  sleep 0.1
done
t0=$(($(cpu_ticks "$gw_idle") + $(cpu_ticks "$gw_b")))
sleep 20
t1=$(($(cpu_ticks "$gw_idle") + $(cpu_ticks "$gw_b")))
hz=$(getconf CLK_TCK)
idle_cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * d / hz / 20 }')
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
printf '| reuse (requests on an already open connection) | | %s | | ≥ 0.99 |\n' "$(m "ferry_gateway_pool_reuse_ratio$u")"
printf '| connects (of them TLS-resumed); mean handshake | | %s (%s); %s ms | | p50 ≤ 1.5 ms, resumed ≤ 1.0 ms |\n' \
  "$(m "ferry_gateway_pool_connects_total{upstream=\"b\",result=\"ok\"}")" "$(m "ferry_gateway_pool_tls_resumed_total$u")" \
  "$(awk -v s="$(m "ferry_gateway_pool_handshake_seconds_sum$u")" -v n="$(m "ferry_gateway_pool_handshake_seconds_count$u")" 'BEGIN { printf "%.2f", n ? 1000 * s / n : 0 }')"
printf '| 1000 idle pooled connections, pinged every 5 s: CPU of both ends | | %s%% of a core | | ≤ 1%% |\n' "$idle_cpu"
printf '| gateway a resident memory after the runs | | %s kB | | reported |\n' "$rss_a"
