#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/bridge.sh [SECONDS]: ferry-bridge beside plain NATS clients (nats.c) on the
# same nats-server (Debian's, JetStream on, file storage), in one run (docs/bridge.md,
# "Benchmarks"). Two buses a and b on this machine, a bridge on each; 1 KiB payloads:
#   stream          plain: one connection publishes flat out, another counts;
#                   bridged: a publisher on bus a -> bridge a -> NATS -> bridge b -> a
#                   subscriber on bus b ("out 7" / "in 7", core)
#   request/reply   plain: closed-loop natsConnection_Request against a responder;
#                   bridged: a requester on bus a -> bridge a -> NATS -> bridge b (queue
#                   group) -> a responder on bus b, and back ("request 8" / "serve 8")
#   JetStream       plain: js_PublishAsync, every publication acknowledged;
#                   bridged: bus a -> bridge a (Nats-Msg-Id, acks) -> stream -> bridge b
#                   (durable consumer, acks after the bus took it) -> bus b, end to end
# and the CPU both bridges spend per bridged message of the stream. SECONDS per run (5).
# Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/bin
secs=${1:-5}
for b in ferryd ferry-bridge ferry-bridge-bench ferry-gateway-bench; do
  [ -x "$bin/$b" ] || { echo "bridge.sh: $bin/$b is missing (make build)" >&2; exit 1; }
done
command -v nats-server >/dev/null || { echo "bridge.sh: nats-server is missing (make deps)" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=../../scripts/private-runtime.sh
. scripts/private-runtime.sh bridge-bench
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
bb() { "$bin/ferry-bridge-bench" "$@"; }

nats_port=$(free_port)
start nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/js"
url=nats://127.0.0.1:$nats_port
for _ in $(seq 100); do (: < "/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.05; done
start_buses "$bin/ferryd" a b
metrics=$(free_port)
common=(--server "$url" --namespace bench --log-level warn)
start "$bin/ferry-bridge" --session a --host a "${common[@]}" --metrics-listen "127.0.0.1:$metrics" \
  --route "out 7" --route "request 8" --route "out 9 delivery=jetstream"
bridge_a=${pids[-1]}
start "$bin/ferry-bridge" --session b --host b "${common[@]}" \
  --route "in 7" --route "serve 8" --route "in 9 delivery=jetstream"
bridge_b=${pids[-1]}
start "$bin/ferry-gateway-bench" bus-echo --session b --type 8
# Ready: bridge a serves type 8 once bridge b's advert came, after both subscribed.
for _ in $(seq 200); do
  curl -s "http://127.0.0.1:$metrics/metrics" 2>/dev/null |
    grep -q '^ferry_bridge_remote_responders{route="request 8"} 1' && break
  sleep 0.05
done

# A subscriber on bus b, then a publisher on bus a: what the subscriber counted.
bridged() {
  bb bus-sub --session b --type "$1" > "$work/sub$1" &
  local sub=$!
  for _ in $(seq 100); do grep -q subscribed "$work/sub$1" 2>/dev/null && break; sleep 0.05; done
  bb bus-pub --session a --type "$1" --seconds "$secs" > "$work/pub$1"
  wait "$sub"
  tail -1 "$work/sub$1"
}

plain_stream=$(bb nats-stream --server "$url" --seconds "$secs")
t0=$(($(cpu_ticks "$bridge_a") + $(cpu_ticks "$bridge_b")))
stream=$(bridged 7)
t1=$(($(cpu_ticks "$bridge_a") + $(cpu_ticks "$bridge_b")))
sent7=$(json sent < "$work/pub7")
plain_rr=$(bb nats-reqrep --server "$url" --seconds "$secs")
rr=$("$bin/ferry-gateway-bench" bus-client --session a --type 8 --clients 1 --seconds "$secs")
plain_js=$(bb js-publish --server "$url" --seconds "$secs")
js=$(bridged 9)
sent9=$(json sent < "$work/pub9")

got7=$(echo "$stream" | json msgs)
hz=$(getconf CLK_TCK)
cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$got7" 'BEGIN { printf "%.2f", n ? 1e6 * d / hz / n : 0 }')
printf '| figure | plain NATS | through two ferry-bridges | ratio | target |\n|---|---|---|---|---|\n'
printf '| stream 1→1, 1 KiB, msgs/s (bridged: received of sent) | %s | %s (%s of %s) | %s× | ≥ 0.8× |\n' \
  "$(echo "$plain_stream" | json msgs_per_s)" "$(echo "$stream" | json msgs_per_s)" "$got7" "$sent7" \
  "$(ratio "$(echo "$stream" | json msgs_per_s)" "$(echo "$plain_stream" | json msgs_per_s)")"
printf '| request/reply RTT p50 (p99) | %s (%s) µs | %s (%s) µs | %s× | ≤ 1.3× |\n' \
  "$(echo "$plain_rr" | json p50_us)" "$(echo "$plain_rr" | json p99_us)" \
  "$(echo "$rr" | json p50_us)" "$(echo "$rr" | json p99_us)" \
  "$(ratio "$(echo "$rr" | json p50_us)" "$(echo "$plain_rr" | json p50_us)")"
printf '| JetStream msgs/s (plain: acknowledged publishes; bridged: end to end, received of sent) | %s | %s (%s of %s) | %s× | ≥ 0.7× |\n' \
  "$(echo "$plain_js" | json msgs_per_s)" "$(echo "$js" | json msgs_per_s)" "$(echo "$js" | json msgs)" "$sent9" \
  "$(ratio "$(echo "$js" | json msgs_per_s)" "$(echo "$plain_js" | json msgs_per_s)")"
printf '| CPU of both bridges per bridged stream message | | %s µs | | reported |\n' "$cpu_us"
