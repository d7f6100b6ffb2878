#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/demo/demo_smoke.sh BIN_DIR: `make demo`'s script (scripts/demo.sh) and ferry-demo,
# end to end, in a private runtime directory (never the user's session):
#   1. a 2-second run exits 0 and its table shows 0 errors;
#   2. --inject-error (publisher 0 skips a message) makes it exit 1 with the loss counted;
#   3. with a ferryd already serving session demo it says so, exits 1, leaves that one be;
#   4. Ctrl-C typed into a terminal (a pseudo-terminal, `script`) stops it with status 130;
#   5. a subscriber killed mid-run: the demo names it, stops everyone and exits 1;
# and after each, no process it started is left and no socket remains.
set -uo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
demo=$here/../../scripts/demo.sh
# shellcheck source-path=SCRIPTDIR source=../../scripts/ferryd-ready.sh
source "$here/../../scripts/ferryd-ready.sh"
runtime=$(mktemp -d)
export XDG_RUNTIME_DIR=$runtime FERRY_DEMO_BIN=$bin
unset FERRY_SESSION FERRY_CONFIG
out=$runtime/out.txt
own_ferryd=
cleanup() {
  if [ -n "$own_ferryd" ]; then kill -TERM "$own_ferryd" 2>/dev/null; wait "$own_ferryd" 2>/dev/null; fi
  rm -rf "$runtime"
}
trap cleanup EXIT

fail() {
  echo "demo_smoke: FAIL: $*" >&2
  echo "---- output:" >&2
  cat "$out" >&2
  exit 1
}

# The table's errors column for one activity ("publish/subscribe", "request/response").
errors_of() { awk -v a="$1" '$1 == a { print $NF }' "$out"; }

# No process with this runtime directory in its environment, no socket left.
check_clean() {
  local what=$1 left=() p
  sleep 0.2
  # (The list is taken before this loop starts the processes it runs.)
  for p in /proc/[0-9]*; do
    [ "$p" = "/proc/$$" ] && continue
    if grep -qsz "^XDG_RUNTIME_DIR=$runtime\$" "$p/environ" 2>/dev/null; then
      left+=("$(basename "$p"):$(cat "$p/comm" 2>/dev/null)")
    fi
  done
  [ ${#left[@]} -eq 0 ] || fail "$what: processes left behind: ${left[*]}"
  [ ! -e "$runtime/ferry/demo/bus.sock" ] || fail "$what: the socket was left behind"
}

echo "== 0. bad options: one line saying which, exit 2"
for bad in "--seconds x|--seconds: expected a number, got 'x'" \
           "--clients 3|--clients: expected a whole number 4..1000" \
           "--size 41|--size: expected a multiple of 8 from 40 to 65536" \
           "--bogus|unknown option '--bogus'"; do
  args=${bad%%|*} want=${bad#*|}
  # shellcheck disable=SC2086  # the options are words
  msg=$("$bin/ferry-demo" $args 2>&1); rc=$?
  [ "$rc" -eq 2 ] || fail "options '$args': exit status $rc, expected 2"
  [ "$msg" = "ferry-demo: $want (see ferry-demo --help)" ] || fail "options '$args' said: $msg"
done

echo "== 1. a short run: exit 0, errors 0"
"$demo" --seconds 2 > "$out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "run: exit status $rc, expected 0"
[ "$(errors_of publish/subscribe)" = 0 ] || fail "run: publish/subscribe errors not 0"
[ "$(errors_of request/response)" = 0 ] || fail "run: request/response errors not 0"
grep -q '^ferry-demo: OK' "$out" || fail "run: no OK line"
grep -Eq '^publish/subscribe +[1-9][0-9,]* ' "$out" || fail "run: no messages delivered"
grep -Eq '^request/response +[1-9][0-9,]* ' "$out" || fail "run: no requests answered"
check_clean "run"
grep -E '^(publish|request)' "$out"

echo "== 2. --inject-error: exit 1, the lost message counted"
"$demo" --seconds 2 --inject-error > "$out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "inject: exit status $rc, expected 1"
e=$(errors_of publish/subscribe)
if [ -z "$e" ] || [ "$e" = 0 ]; then
  fail "inject: publish/subscribe errors '$e', expected more than 0"
fi
grep -Eq 'errors: [1-9][0-9,]* lost' "$out" || fail "inject: the loss is not counted as lost"
grep -q '^ferry-demo: FAILED' "$out" || fail "inject: no FAILED line"
check_clean "inject"

echo "== 3. a ferryd already in session demo: left alone, exit 1"
"$bin/ferryd" --session demo 2>/dev/null &
own_ferryd=$!
wait_ferryd_ready "$bin/ferry" "$own_ferryd" 5 --session demo || fail "busy: ferryd did not start"
"$demo" --seconds 1 > "$out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "busy: exit status $rc, expected 1"
grep -q 'already running' "$out" || fail "busy: does not say a ferryd is already running"
kill -0 "$own_ferryd" 2>/dev/null || fail "busy: the demo stopped a ferryd it did not start"
[ -S "$runtime/ferry/demo/bus.sock" ] || fail "busy: the other ferryd's socket is gone"
kill -TERM "$own_ferryd"; wait "$own_ferryd"; own_ferryd=
check_clean "busy"

echo "== 4. Ctrl-C on a terminal: everything stops, exit 130"
if ! command -v script > /dev/null; then
  echo "demo_smoke: no 'script' (util-linux): Ctrl-C check skipped"
else
  # ^C is typed into script's pseudo-terminal once the progress line shows (the feeder
  # reads the output while script writes it: on purpose).
  # shellcheck disable=SC2094
  {
    for _ in $(seq 600); do grep -q ' s of ' "$out" 2>/dev/null && break; sleep 0.05; done
    printf '\003'
    for _ in $(seq 600); do grep -q 'interrupted' "$out" 2>/dev/null && break; sleep 0.05; done
    sleep 1
  } | script -qec "'$demo' --seconds 30" /dev/null > "$out" 2>&1
  rc=$?
  [ "$rc" -eq 130 ] || fail "ctrl-c: exit status $rc, expected 130"
  grep -q 'ferry-demo: interrupted' "$out" || fail "ctrl-c: ferry-demo did not report the interrupt"
  check_clean "ctrl-c"
fi
echo "== 5. a subscriber killed mid-run: named as the problem, exit 1"
"$demo" --seconds 30 > "$out" 2>&1 &
demo_pid=$!
for _ in $(seq 600); do grep -q ' s of ' "$out" 2>/dev/null && break; sleep 0.05; done
victim=
for p in $(pgrep -f -- '--role subscriber --id'); do  # this test's, not another run's
  if grep -qsz "^XDG_RUNTIME_DIR=$runtime\$" "/proc/$p/environ"; then victim=$p; break; fi
done
[ -n "$victim" ] || fail "kill: no subscriber process found"
kill -KILL "$victim"
wait "$demo_pid"
rc=$?
[ "$rc" -eq 1 ] || fail "kill: exit status $rc, expected 1"
grep -Eq 'problem: subscriber [0-9]+: ended without a result \(killed by signal 9' "$out" ||
  fail "kill: the killed subscriber is not named as the problem"
grep -q '^ferry-demo: FAILED' "$out" || fail "kill: no FAILED line"
check_clean "kill"
grep -E 'problem|FAILED' "$out"
echo "demo_smoke: all passed"
