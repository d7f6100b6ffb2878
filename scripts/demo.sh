#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo.sh [FERRY-DEMO OPTION...]: what `make demo` runs (docs/demo.md).
#
# Starts ferryd in a session of its own, "demo" (your runtime directory, so `ferry ...
# --session demo` from another terminal reaches it; never the session your own ferryd
# serves), runs ferry-demo against it (32 client processes, 10 s, checked and measured),
# prints where to look next, and stops everything it started, also on Ctrl-C.
# Options are ferry-demo's (--seconds N, --clients N, ...). The binaries come from
# $FERRY_DEMO_BIN (default build/bin). Exit status: ferry-demo's (0: no errors), 1 when
# ferryd could not start or a ferryd already serves session demo, 128+N on signal N.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FERRY_DEMO_BIN:-$root/build/bin}
session=demo
export FERRY_SESSION=$session

say() { printf 'demo: %s\n' "$*"; }
# A path as the user would type it from the repository's root.
rel() { local p=$1; [[ $p == "$root/"* ]] && p=${p#"$root/"}; printf '%s' "$p"; }

for b in ferryd ferry ferry-demo; do
  if [ ! -x "$bin/$b" ]; then
    say "$(rel "$bin/$b") is missing: build first (make build)" >&2
    exit 1
  fi
done

for a in "$@"; do
  case $a in -h | --help) exec "$bin/ferry-demo" --help ;; esac
done

# Metrics, unless this ferryd was built without them (FERRY_METRICS=OFF).
ferryd_args=(--session "$session" --endpoint bus)
metrics=false
if "$bin/ferryd" --help 2>/dev/null | grep -q -- '--metrics-listen'; then
  metrics=true
  # 9464 may be your own ferryd's: then the next free port.
  port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  for port in $(seq 9464 9479); do port_busy "$port" || break; done
  metrics_address=127.0.0.1:$port
  ferryd_args+=(--metrics-listen "$metrics_address")
fi

# shellcheck source-path=SCRIPTDIR source=ferryd-ready.sh
source "$root/scripts/ferryd-ready.sh"
# Whether a ferryd answers in session demo.
bus_up() { ferryd_answers "$bin/ferry" --session "$session"; }
socket_guess="${XDG_RUNTIME_DIR:-/tmp/ferry-$(id -u)}"
[ -n "${XDG_RUNTIME_DIR:-}" ] && socket_guess+="/ferry"
socket_guess+="/$session/bus.sock"

log=$(mktemp "${TMPDIR:-/tmp}/ferry-demo-ferryd.XXXXXX") || exit 1
ferryd_pid=
demo_pid=

# Stops a process we started: SIGTERM, then SIGKILL after `grace` seconds; reaps it.
stop() {
  local pid=$1 grace=$2 i
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  for ((i = 0; i < grace * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap '' INT TERM HUP  # a second Ctrl-C must not cut the cleanup short
  if [ -n "$demo_pid" ]; then stop "$demo_pid" 5; fi
  if [ -n "$ferryd_pid" ]; then
    # Killed the hard way, ferryd leaves its socket: remove it once nobody listens there.
    if ! stop "$ferryd_pid" 5 && [ -S "$socket_guess" ] && ! bus_up; then rm -f "$socket_guess"; fi
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'echo >&2; say "interrupted: stopping ferry-demo and ferryd" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if bus_up; then
  say "a ferryd is already running in session '$session' ($socket_guess)." >&2
  say "The demo starts and stops its own; stop that one first. Nothing was started." >&2
  exit 1
fi

# An empty configuration: the demo runs on ferryd's defaults, whatever your ferryd.toml says.
"$bin/ferryd" --config /dev/null "${ferryd_args[@]}" 2>"$log" &
ferryd_pid=$!
if ! why=$(wait_ferryd_ready "$bin/ferry" "$ferryd_pid" 5 --session "$session" 2>&1); then
  if grep -q 'already serving' "$log"; then
    say "a ferryd is already running in session '$session' ($socket_guess); stop it first." >&2
  else
    say "ferryd did not start: $why:" >&2
    cat "$log" >&2
  fi
  exit 1
fi
say "ferryd (pid $ferryd_pid) is the bus of session '$session': $(rel "$bin/ferryd") ${ferryd_args[*]}"
if $metrics; then say "metrics while it runs: http://$metrics_address/metrics"; fi
say "watch it live from another terminal: $(rel "$bin/ferry") stat --session $session"

"$bin/ferry-demo" --session "$session" "$@" &
demo_pid=$!
rc=0
wait "$demo_pid" || rc=$?
demo_pid=

stop "$ferryd_pid" 5
ferryd_status=$?
ferryd_pid=
if [ "$ferryd_status" -ne 0 ]; then say "ferryd did not stop on SIGTERM within 5 s (killed)" >&2; fi
# Usage errors (2) need no epilogue.
if [ "$rc" -eq 2 ]; then exit 2; fi

echo
if $metrics; then
  say "ferryd served Prometheus metrics at http://$metrics_address/metrics while the demo ran"
else
  say "this ferryd was built without metrics (FERRY_METRICS=OFF): no Prometheus endpoint"
fi
say "to watch the bus live: run 'make demo' again and, in another terminal, $(rel "$bin/ferry") stat --session $session"
cat <<EOF
demo: ferryd is stopped again. To run the bus and talk to it yourself:
  $(rel "$bin/ferryd") --background                                 # the bus, in your session
  $(rel "$bin/ferry") serve --type 8 --exec 'tr a-z A-Z' --background   # answers requests of type 8
  $(rel "$bin/ferry") request --type 8 --data shout                 # -> SHOUT
  $(rel "$bin/ferry-demo") --seconds 3 --clients 8                  # this demo, against that ferryd
EOF
exit "$rc"
