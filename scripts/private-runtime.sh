# SPDX-License-Identifier: Apache-2.0
# scripts/private-runtime.sh NAME: sourced by scripts that start buses and gateways of their
# own (scripts/gateway-demo.sh, bench/scripts/gateway.sh). Makes a scratch directory $work
# with a private XDG_RUNTIME_DIR inside (so that nothing touches the user's sessions), and:
#   start CMD...   runs CMD in the background, its output appended to $work/log
#   free_port      prints a TCP port free on 127.0.0.1 now
#   start_buses FERRYD SESSION...  a ferryd per session, waiting (up to 5 s) for each socket
# Everything started and the scratch directory go when the script exits.
# shellcheck shell=bash
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$1.XXXXXX")
export XDG_RUNTIME_DIR=$work/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
unset FERRY_SESSION FERRY_CONFIG FERRY_GATEWAY_CONFIG
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
start() { "$@" >>"$work/log" 2>&1 & pids+=($!); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_buses() {
  local ferryd=$1 s
  shift
  for s in "$@"; do start "$ferryd" --session "$s"; done
  for s in "$@"; do
    for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/ferry/$s/bus.sock" ] && break; sleep 0.05; done
  done
}
