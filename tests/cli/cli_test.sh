#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The ferry command against a real ferryd: every subcommand, every exit code, exact outputs.
#
#   tests/cli/cli_test.sh FERRYD FERRY     (ctest runs it with the built binaries)
#
# ferryd runs in a private runtime directory (XDG_RUNTIME_DIR=a fresh temporary directory,
# FERRY_SESSION=clitest) and is always killed on exit, with every background client.
set -u

FERRYD=${1:?usage: cli_test.sh FERRYD FERRY}
FERRY=${2:?usage: cli_test.sh FERRYD FERRY}
# shellcheck source-path=SCRIPTDIR source=../../scripts/ferryd-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/ferryd-ready.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry_cli_test.XXXXXX")
export XDG_RUNTIME_DIR=$TMP/run
export FERRY_SESSION=clitest
mkdir -m 700 "$XDG_RUNTIME_DIR"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
fail() {
  echo "FAIL: $*" >&2
  FAILED=$((FAILED + 1))
}
pass() { echo "ok: $*"; }

# run NAME CMD...: runs CMD, keeps its exit code in RC and its output in $TMP/NAME.{out,err}.
run() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  RC=$?
}

# expect NAME RC STDOUT STDERR: checks the last run's exit code and exact outputs (given as
# printf formats, so "\n" is a newline).
expect() {
  local name=$1 rc=$2 out=$3 err=$4 ok=1
  if [[ $RC != "$rc" ]]; then
    fail "$name: exit code $RC, expected $rc"
    ok=0
  fi
  # shellcheck disable=SC2059
  if ! cmp -s "$TMP/$name.out" <(printf "$out"); then
    fail "$name: stdout $(od -c "$TMP/$name.out" | head -5), expected $(printf "$out" | od -c | head -5)"
    ok=0
  fi
  # shellcheck disable=SC2059
  if ! cmp -s "$TMP/$name.err" <(printf "$err"); then
    fail "$name: stderr '$(cat "$TMP/$name.err")', expected '$(printf "$err")'"
    ok=0
  fi
  [[ $ok == 1 ]] && pass "$name"
}

# wait_for PATH: waits up to 5 s for PATH to exist.
wait_for() {
  for _ in $(seq 100); do
    [[ -e $1 ]] && return 0
    sleep 0.05
  done
  fail "waited 5 s for $1"
  return 1
}

# start_bg NAME CMD...: runs CMD in the background (output in $TMP/NAME.{out,err}); BG is
# its pid.
start_bg() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  BG=$!
  PIDS+=("$BG")
}

# ferryd_pid [--session NAME] [--endpoint NAME]: the pid of the ferryd serving that
# endpoint (default bus), from ferry stat (the endpoint's own pid, not a connection's).
ferryd_pid() {
  local session=() endpoint=bus
  while [[ $# -gt 0 ]]; do
    case $1 in
      --session) session=(--session "$2"); shift 2 ;;
      --endpoint) endpoint=$2; shift 2 ;;
    esac
  done
  "$FERRY" "${session[@]}" stat --endpoint "$endpoint" --json |
    jq -r --arg e "$endpoint" '.endpoints[] | select(.endpoint == $e) | .pid'
}

# finish NAME PID: waits for a background client (at most 10 s) and sets RC.
finish() {
  local pid=$2
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$1: still running after 10 s"
    kill "$pid"
  fi
  wait "$pid"
  RC=$?
}

"$FERRYD" --log-level warn >"$TMP/ferryd.log" 2>&1 &
FERRYD_PID=$!
PIDS+=("$FERRYD_PID")
if ! wait_ferryd_ready "$FERRY" "$FERRYD_PID" 5; then
  cat "$TMP/ferryd.log" >&2
  exit 1
fi

# subscribe --count 2, then two sends (--data and stdin): both lines, in order.
start_bg subscribe "$FERRY" subscribe --type 7 --count 2 --timeout 10000 --ready-file "$TMP/sub.ready"
SUB=$BG
wait_for "$TMP/sub.ready"
run send1 "$FERRY" send --type 7 --data one
expect send1 0 "" ""
run send2 "$FERRY" send --type 0x7 <<<"two"  # <<< adds a newline; line format adds another
expect send2 0 "" ""
finish subscribe "$SUB"
expect subscribe 0 "one\ntwo\n\n" ""

# --format hex and --file.
printf 'AB\001' >"$TMP/payload.bin"
start_bg hex "$FERRY" subscribe --type 8 --count 1 --format hex --timeout 10000 --ready-file "$TMP/hex.ready"
HEX=$BG
wait_for "$TMP/hex.ready"
run send3 "$FERRY" send --type 8 --file "$TMP/payload.bin"
expect send3 0 "" ""
finish hex "$HEX"
expect hex 0 "414201\n" ""

# serve --exec 'tr a-z A-Z' answers a request with the command's output, raw.
start_bg serve "$FERRY" serve --type 9 --exec 'tr a-z A-Z' --count 1 --ready-file "$TMP/serve.ready"
SERVE=$BG
wait_for "$TMP/serve.ready"
run request "$FERRY" request --type 9 --data hello
expect request 0 "HELLO" ""
finish serve "$SERVE"
expect serve 0 "" ""

# A large payload through `cat`: stdin written while stdout is read, no deadlock.
head -c 200000 /dev/urandom >"$TMP/big.bin"
start_bg serve_cat "$FERRY" serve --type 13 --exec cat --count 1 --ready-file "$TMP/cat.ready"
CAT=$BG
wait_for "$TMP/cat.ready"
run big "$FERRY" request --type 13 --file "$TMP/big.bin"
if [[ $RC == 0 ]] && cmp -s "$TMP/big.out" "$TMP/big.bin"; then
  pass "big: 200000 bytes through serve --exec cat"
else
  fail "big: exit code $RC, $(wc -c <"$TMP/big.out") bytes back: $(cat "$TMP/big.err")"
fi
finish serve_cat "$CAT"

# A request for a type nobody serves: exit 1, ferryd's error as one line.
run noserver "$FERRY" request --type 10 --data x
if [[ $RC == 1 && $(wc -l <"$TMP/noserver.err") == 1 && -s $TMP/noserver.out ]]; then
  fail "noserver: printed to stdout"
elif [[ $RC == 1 && $(wc -l <"$TMP/noserver.err") == 1 ]] &&
  grep -q '^ferry: request type 10: .*10' "$TMP/noserver.err"; then
  pass "noserver: $(cat "$TMP/noserver.err")"
else
  fail "noserver: exit code $RC, stderr '$(cat "$TMP/noserver.err")'"
fi

# A command that fails: an error reply with its status and the first line of its stderr.
start_bg serve_fail "$FERRY" serve --type 11 --exec 'echo bad input >&2; echo more >&2; exit 3' \
  --count 1 --ready-file "$TMP/fail.ready"
FAIL_PID=$BG
wait_for "$TMP/fail.ready"
run failing "$FERRY" request --type 11 --data x
expect failing 1 "" "ferry: request type 11: command exited with status 3: bad input\n"
finish serve_fail "$FAIL_PID"
expect serve_fail 0 "" ""

# request --timeout against a server that is slower: exit 4. The server kills its command
# after --exec-timeout and answers with an error nobody waits for any more.
start_bg serve_slow "$FERRY" serve --type 12 --exec 'sleep 5' --exec-timeout 1000 --count 1 \
  --ready-file "$TMP/slow.ready"
SLOW=$BG
wait_for "$TMP/slow.ready"
run slow "$FERRY" request --type 12 --data x --timeout 200
expect slow 4 "" "ferry: request type 12: no reply within 200 ms\n"
finish serve_slow "$SLOW"
expect serve_slow 0 "" ""

# subscribe --count with --timeout that runs out: exit 4.
run sub_timeout "$FERRY" subscribe --type 14 --count 1 --timeout 200
expect sub_timeout 4 "" "ferry: subscribe type 14: timed out after 200 ms with 0 of 1 messages\n"

# A missing endpoint: exit 3, one line naming the socket path it looked at.
run noendpoint "$FERRY" request --type 1 --data x --endpoint nope
if [[ $RC == 3 && $(wc -l <"$TMP/noendpoint.err") == 1 ]] &&
  grep -q "^ferry: cannot connect: .*$XDG_RUNTIME_DIR/ferry/clitest/nope.sock" "$TMP/noendpoint.err"; then
  pass "noendpoint: $(cat "$TMP/noendpoint.err")"
else
  fail "noendpoint: exit code $RC, stderr '$(cat "$TMP/noendpoint.err")'"
fi

# --background: subscribe and serve return once subscribed and serving (no file to wait
# for), and carry on; the README's "local bus in one minute" relies on it.
run bg_sub "$FERRY" subscribe --type 15 --count 1 --timeout 10000 --background
expect bg_sub 0 "" ""
run bg_send "$FERRY" send --type 15 --data behind
expect bg_send 0 "" ""
for _ in $(seq 200); do [[ -s $TMP/bg_sub.out ]] && break; sleep 0.05; done
expect bg_sub 0 "behind\n" ""
run bg_serve "$FERRY" serve --type 16 --exec 'tr a-z A-Z' --count 1 --background
expect bg_serve 0 "" ""
run bg_request "$FERRY" request --type 16 --data quiet
expect bg_request 0 "QUIET" ""
# ... and when the command cannot start, its status and its reason.
run bg_fail "$FERRY" subscribe --type 15 --background --endpoint nope
if [[ $RC == 3 ]] && grep -q "^ferry: cannot connect: .*nope.sock" "$TMP/bg_fail.err"; then
  pass "bg_fail: $(cat "$TMP/bg_fail.err")"
else
  fail "bg_fail: exit code $RC, stderr '$(cat "$TMP/bg_fail.err")'"
fi
# ferryd --background: returns once it answers (a client right after it connects), and a
# second one for the same endpoint exits 1 saying why.
run bg_ferryd "$FERRYD" --background --log-level warn --session bgtest
expect bg_ferryd 0 "" ""
run bg_first "$FERRY" --session bgtest send --type 1 --data x
expect bg_first 0 "" ""
BG_FERRYD=$(ferryd_pid --session bgtest)
PIDS+=("$BG_FERRYD")
run bg_second "$FERRYD" --background --log-level warn --session bgtest
if [[ $RC == 1 ]] && grep -q 'another server is already serving' "$TMP/bg_second.err"; then
  pass "bg_second"
else
  fail "bg_second: exit code $RC, stderr '$(cat "$TMP/bg_second.err")'"
fi
kill "$BG_FERRYD" 2>/dev/null

# Usage errors: exit 2, one line.
run badflag "$FERRY" send --type 1 --bogus
expect badflag 2 "" "ferry: send: unknown option '--bogus' (see ferry send --help)\n"
run reserved "$FERRY" send --type 0xff00 --data x
expect reserved 2 "" \
  "ferry: send: --type: message type 0xff00 is reserved for ferry itself (0xff00..0xffff); use 0..65279 (0x0..0xfeff)\n"
run notype "$FERRY" request --data x
expect notype 2 "" "ferry: request: --type is required (see ferry request --help)\n"
# On a terminal (script(1) gives it one), send without --data or --file says it waits for
# standard input; what is typed, up to Ctrl-D, is the message.
run tty_sub "$FERRY" subscribe --type 17 --count 1 --timeout 10000 --background
expect tty_sub 0 "" ""
run tty_send bash -c "printf 'typed\n\004' | script -qec '$FERRY send --type 17' /dev/null"
for _ in $(seq 200); do [[ -s $TMP/tty_sub.out ]] && break; sleep 0.05; done
if [[ $RC == 0 ]] && grep -q 'ferry send: reading the payload from standard input' "$TMP/tty_send.out" &&
  [[ $(cat "$TMP/tty_sub.out") == typed ]]; then
  pass "tty_send"
else
  fail "tty_send: exit code $RC, terminal '$(cat "$TMP/tty_send.out")', received '$(cat "$TMP/tty_sub.out")'"
fi

# Too large for the connection: exit 1, the limit and the setting that raises it.
head -c 300000 /dev/zero >"$TMP/large.bin"
run toolarge "$FERRY" send --type 7 --file "$TMP/large.bin"
expect toolarge 1 "" "ferry: send type 7: the payload of 300000 bytes is larger than the connection's \
limit of 262144 bytes (a quarter of the ring: ferryd's ring_capacity, --ring-capacity, raises it)\n"

# --socket: a ferryd whose socket_path is elsewhere (shared with other users, say) is
# reachable by its path, before or after the command.
run sock_ferryd "$FERRYD" --background --log-level warn --endpoint shared --socket "$TMP/shared.sock"
expect sock_ferryd 0 "" ""
# (ferry stat reads the session directory, where a ferryd with socket_path is not listed.)
SOCK_FERRYD=$(pgrep -f -- "--socket $TMP/shared.sock")
[[ -n $SOCK_FERRYD ]] || fail "sock_ferryd: no ferryd serving $TMP/shared.sock"
PIDS+=("$SOCK_FERRYD")
run sock_sub "$FERRY" --socket "$TMP/shared.sock" subscribe --type 18 --count 1 --timeout 10000 --background
expect sock_sub 0 "" ""
run sock_send "$FERRY" send --socket "$TMP/shared.sock" --type 18 --data across
expect sock_send 0 "" ""
for _ in $(seq 200); do [[ -s $TMP/sock_sub.out ]] && break; sleep 0.05; done
expect sock_sub 0 "across\n" ""
run sock_missing "$FERRY" send --socket "$TMP/none.sock" --type 18 --data x
if [[ $RC == 3 ]] && grep -q "none.sock" "$TMP/sock_missing.err"; then
  pass "sock_missing: $(cat "$TMP/sock_missing.err")"
else
  fail "sock_missing: exit code $RC, stderr '$(cat "$TMP/sock_missing.err")'"
fi
kill "$SOCK_FERRYD" 2>/dev/null

# A descriptor limit too low for max_connections: ferryd says it lowered the limit and how
# to raise it, and its log and ferry stat give the same figure.
run lowfd bash -c 'ulimit -Sn 1024 && ulimit -Hn 1024 && exec "$0" --background --log-level warn --session lowfd' "$FERRYD"
LOWFD=$(ferryd_pid --session lowfd)
PIDS+=("$LOWFD")
LOGGED=$(grep -Eo 'max_connections [0-9]+, lowered from 4096 by the descriptor limit RLIMIT_NOFILE=1024; raise it' \
  "$TMP/lowfd.err" | grep -Eo '^max_connections [0-9]+' | grep -Eo '[0-9]+$')
STAT=$("$FERRY" --session lowfd stat --json | grep -Eo '"max_connections": ?[0-9]+' | grep -Eo '[0-9]+$')
if [[ $RC == 0 && -n $LOGGED && $LOGGED == "$STAT" && $LOGGED -lt 4096 ]]; then
  pass "lowfd: $LOGGED connections, logged and in ferry stat"
else
  fail "lowfd: exit code $RC, logged '$LOGGED', ferry stat '$STAT': $(cat "$TMP/lowfd.err")"
fi
kill "$LOWFD" 2>/dev/null

# A bad $FERRY_SESSION is a usage error in ferry and in ferryd alike (a unit with
# RestartPreventExitStatus=2 must not restart ferryd every second for it).
run badsession env FERRY_SESSION=bad/name "$FERRY" send --type 1 --data x
expect badsession 2 "" \
  "ferry: send: FERRY_SESSION='bad/name' is not a valid session name: use 1-64 of A-Z a-z 0-9 _ -\n"
run badsession_ferryd env FERRY_SESSION=bad/name "$FERRYD"
expect badsession_ferryd 2 "" \
  "ferryd: FERRY_SESSION='bad/name' is not a valid session name: use 1-64 of A-Z a-z 0-9 _ -\n"
# Durations name their unit.
run badtimeout "$FERRY" request --type 1 --data x --timeout 2s
expect badtimeout 2 "" "ferry: request: --timeout: expected a number of milliseconds 1..86400000, got '2s'\n"
run badcommand "$FERRY" frobnicate
expect badcommand 2 "" "ferry: unknown command 'frobnicate' (see ferry --help)\n"

# ferry exporter: ferryd's endpoint over HTTP (the session's; clitest here), where it says,
# until SIGTERM (exit 0); its usage errors.
start_bg exporter "$FERRY" exporter --listen 127.0.0.1:0 --ready-file "$TMP/exporter.ready"
EXPORTER_PID=$BG
if wait_for "$TMP/exporter.ready"; then
  URL=$(sed -n 's|^serving metrics at \(http://[^ ]*\) (module .*)$|\1|p' "$TMP/exporter.out")
  PAGE=$(curl -sf --max-time 5 "$URL" || true)
  if grep -q '^ferry_bus_published_total{session="clitest",endpoint="bus"} ' <<<"$PAGE"; then
    pass "exporter: ferryd's endpoint at $URL"
  else
    fail "exporter: nothing of ferryd's at '$URL': $(cat "$TMP/exporter.out" "$TMP/exporter.err")"
  fi
fi
kill -TERM "$EXPORTER_PID"
wait "$EXPORTER_PID"
RC=$?
if [[ $RC == 0 ]]; then
  pass "exporter: exit 0 on SIGTERM"
else
  fail "exporter: exit $RC on SIGTERM"
fi
run exp_address "$FERRY" exporter --listen localhost:9464
expect exp_address 2 "" "ferry: exporter: metrics address 'localhost:9464': the address must be a numeric IPv4 address (use PORT or IPV4-ADDRESS:PORT, e.g. 127.0.0.1:9464)\n"
run exp_scope "$FERRY" exporter --listen 0 --all-sessions --pid 1
expect exp_scope 2 "" "ferry: exporter: --all-sessions and --pid exclude each other (see ferry exporter --help)\n"
run exp_help "$FERRY" help exporter
if [[ $RC == 0 ]] && grep -q '^usage: ferry exporter' "$TMP/exp_help.out"; then
  pass "exp_help"
else
  fail "exp_help: exit code $RC"
fi
run help "$FERRY" subscribe --help
if [[ $RC == 0 ]] && grep -q '^usage: ferry subscribe' "$TMP/help.out"; then
  pass "help"
else
  fail "help: exit code $RC"
fi

# ferryd is still serving, and stops cleanly on SIGTERM.
if kill -0 "$FERRYD_PID" 2>/dev/null; then
  kill -TERM "$FERRYD_PID"
  wait "$FERRYD_PID"
  RC=$?
  if [[ $RC == 0 ]]; then
    pass "ferryd stopped"
  else
    fail "ferryd exited with $RC"
  fi
else
  fail "ferryd died: $(cat "$TMP/ferryd.log")"
fi

if [[ $FAILED != 0 ]]; then
  echo "$FAILED check(s) failed; ferryd's log:" >&2
  cat "$TMP/ferryd.log" >&2
  exit 1
fi
echo "all passed"
