#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs the examples in a private session: the request/response pair on its own endpoint,
# the publish/subscribe pair through a real ferryd, a service in an epoll loop and in an
# Asio loop, the C server and client, the ring demo. Fails if any exits non-zero or says other than it should.
set -euo pipefail
bin=$1
runtime=$(mktemp -d)
export XDG_RUNTIME_DIR=$runtime FERRY_SESSION=examples
# shellcheck source-path=SCRIPTDIR source=../scripts/ferryd-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/ferryd-ready.sh"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$runtime"; }
trap cleanup EXIT

"$bin/example-reqrep-server" & server=$!; pids+=($server)
"$bin/example-reqrep-client"
wait "$server"   # the client told it to stop: it must exit 0

"$bin/ferryd" 2>/dev/null & pids+=($!)
wait_ferryd_ready "$bin/ferry" "$!" 5 || exit 1
fifo=$runtime/sub.out; mkfifo "$fifo"
"$bin/example-subscriber" 500 > "$fifo" & sub=$!; pids+=($sub)
exec 3< "$fifo"
read -r line <&3; [ "$line" = "subscriber: subscribed" ] || { echo "examples: subscriber said: $line" >&2; exit 1; }
"$bin/example-publisher" 500
read -r line <&3; echo "$line"
[ "$line" = "subscriber: 500 readings in order, last 269.5 C" ] || exit 1
wait "$sub"

# A service in an event loop of its own (epoll, then Asio): its Server answers a request
# straight to its endpoint, its bus Client prints the notes published through ferryd, and
# SIGTERM stops the loop with a summary.
for loop in epoll asio; do
  out=$runtime/$loop.out; mkfifo "$out"
  "$bin/example-$loop-loop" "loop-$loop" > "$out" & svc=$!; pids+=($svc)
  exec 4< "$out"
  read -r line <&4; [ "$line" = "$loop-loop: ready" ] || { echo "examples: $loop-loop said: $line" >&2; exit 1; }
  for note in one two; do
    "$bin/ferry" send --type 42 --data "$note"
    read -r line <&4
    [ "$line" = "$loop-loop: note \"$note\"" ] || { echo "examples: $loop-loop said: $line" >&2; exit 1; }
  done
  reply=$("$bin/ferry" request --endpoint "loop-$loop" --type 1 --data "shout")
  [ "$reply" = "SHOUT" ] || { echo "examples: $loop-loop answered: $reply" >&2; exit 1; }
  kill -TERM "$svc"
  read -r line <&4
  [ "$line" = "$loop-loop: stopped after 1 answers and 2 notes" ] ||
    { echo "examples: $loop-loop said: $line" >&2; exit 1; }
  wait "$svc"   # it must exit 0
  exec 4<&-
done

# The C server and client (libferry-c): a request and a zero-copy note to the server, a
# publication through ferryd back to the client; the C++ `ferry request` is answered too.
out=$runtime/c.out; mkfifo "$out"
"$bin/example-c-server" c-echo > "$out" & svc=$!; pids+=($svc)
exec 4< "$out"
read -r line <&4; [ "$line" = "c-server: ready" ] || { echo "examples: c-server said: $line" >&2; exit 1; }
client=$("$bin/example-c-client" c-echo)
expected="c-client: ferry $("$bin/ferry" --version | awk '{print $NF}')
c-client: reply HELLO
c-client: bus message of type 3: from C"
[ "$client" = "$expected" ] || { echo "examples: c-client said: $client" >&2; exit 1; }
reply=$("$bin/ferry" request --endpoint c-echo --type 1 --data "shout")
[ "$reply" = "SHOUT" ] || { echo "examples: c-server answered: $reply" >&2; exit 1; }
kill -TERM "$svc"
read -r line <&4
[ "$line" = "c-server: stopped after 2 answers and 1 notes" ] ||
  { echo "examples: c-server said: $line" >&2; exit 1; }
wait "$svc"
exec 4<&-

ring=$("$bin/ferry-ring-demo" --seconds 0.5 2>/dev/null)
echo "$ring" | grep -q "^all messages arrived intact and in order$" ||
  { echo "examples: ferry-ring-demo said: $ring" >&2; exit 1; }
echo "examples: both pairs, the epoll and Asio loops, the C pair and the ring demo ran"
