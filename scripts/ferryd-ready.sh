# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Waiting for a ferryd that a script started, until it is ready: until it answers a
# connection, not until its socket file exists (a file a dead ferryd left would exist too).
# Sourced by scripts/demo.sh, tests/cli/cli_test.sh, tests/demo/demo_smoke.sh and
# examples/run.sh. Source it; do not run it. Needs bash.

# ferryd_answers FERRY [FERRY-OPTION...]: whether a ferryd answers in the session (exit 0):
# `ferry subscribe` with a 1 ms timeout exits 3 when it cannot connect; once connected it
# exits 0, or 4 when the subscription's acknowledgement took longer than 1 ms (a busy
# machine): either way a ferryd accepted the connection. Options such as --session NAME
# go before the command.
ferryd_answers() {
  local ferry=$1 rc
  shift
  "$ferry" "$@" subscribe --type 65279 --timeout 1 >/dev/null 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ]
}

# ferryd_is FERRY PID [FERRY-OPTION...]: whether the ferryd serving the session is the one
# with process id PID (`ferry stat` names the endpoint's pid), not another one.
ferryd_is() {
  local ferry=$1 pid=$2
  shift 2
  "$ferry" "$@" stat --json 2>/dev/null | grep -Eq "\"pid\": ?$pid[,}]"
}

# wait_ferryd_ready FERRY PID SECONDS [FERRY-OPTION...]: waits up to SECONDS until the
# ferryd with process id PID answers (ferryd_answers, and ferryd_is: an answer from another
# ferryd of the session does not count). 0 once it does; 1, with a line on stderr saying
# which, when it exited first or did not answer in time.
wait_ferryd_ready() {
  local ferry=$1 pid=$2 seconds=$3 i
  shift 3
  for ((i = 0; i < seconds * 20; i++)); do
    ferryd_answers "$ferry" "$@" && ferryd_is "$ferry" "$pid" "$@" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "ferryd (pid $pid) exited before it was ready" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "ferryd (pid $pid) did not answer a connection within $seconds s" >&2
  return 1
}
