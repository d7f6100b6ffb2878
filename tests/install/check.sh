#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs the build in $1 into a scratch prefix, then builds a consumer project against
# it twice: through find_package(ferry) and through pkg-config; compiles the C examples
# against the installed C interface (pkg-config ferry-c); runs the installed ferryd
# with its metrics; compiles every C++ block of the README and docs/ against it and runs
# the README's shell blocks.
set -euo pipefail
build=$1
root=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$root/consumer" -B "$scratch/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -Wno-dev --log-level=WARNING >/dev/null
cmake --build "$scratch/cmake" >/dev/null
"$scratch/cmake/consumer"

export PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig:$scratch/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
g++ -std=c++20 "$root/consumer/main.cpp" -o "$scratch/pc-consumer" $(pkg-config --cflags --libs ferry)
"$scratch/pc-consumer"

# The C interface: the C examples compile as C11 against the installed ferry.h and link
# libferry-c alone through pkg-config ferry-c; the client runs far enough to say ferryd is
# missing (examples/run.sh runs both against real endpoints).
for c in "$root/../../examples/c/"*.c; do
  # shellcheck disable=SC2046
  gcc -std=c11 -Wall -Wextra -Wpedantic -Werror "$c" -o "$scratch/$(basename "$c" .c)" \
    $(pkg-config --cflags --libs ferry-c) -Wl,-rpath,"$(pkg-config --variable=libdir ferry-c)"
done
c_out=$(XDG_RUNTIME_DIR=$scratch FERRY_SESSION=install "$scratch/client" nowhere 2>&1 || true)
grep -q "no ferry endpoint 'nowhere'" <<<"$c_out" ||
  { echo "install check: the installed C client said: $c_out" >&2; exit 1; }

# The systemd user units start the programs installed beside them.
for unit in "$scratch"/prefix/lib/systemd/user/*.service; do
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  case $exe in
    "$scratch/prefix/"*) [ -x "$exe" ] ||
      { echo "install check: $(basename "$unit") starts $exe, which is not installed" >&2; exit 1; } ;;
    *) echo "install check: $(basename "$unit") starts $exe, outside the prefix" >&2; exit 1 ;;
  esac
done
[ -e "$scratch/prefix/lib/systemd/user/ferryd.service" ] ||
  { echo "install check: no ferryd.service under lib/systemd/user" >&2; exit 1; }

# The installed ferryd runs the installed `ferry exporter` for its metrics, which finds its
# module under the prefix and serves /metrics.
if [ -e "$scratch/prefix/bin/ferryd" ] && find "$scratch/prefix" -name ferry-metrics.so | grep -q .; then
  run_dir=$(mktemp -d)
  XDG_RUNTIME_DIR=$run_dir FERRY_SESSION=install FERRY_CONFIG=/dev/null \
    "$scratch/prefix/bin/ferryd" --metrics-listen 127.0.0.1:0 2>"$scratch/ferryd.log" &
  pid=$!
  for _ in $(seq 100); do
    grep -q metrics_listening "$scratch/ferryd.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  port=$(jq -r 'select(.event == "metrics_listening") | .port' "$scratch/ferryd.log" | head -n 1)
  module=$(jq -r 'select(.event == "metrics_listening") | .module' "$scratch/ferryd.log" | head -n 1)
  exporter=$(jq -r 'select(.event == "metrics_listening") | .exporter' "$scratch/ferryd.log" | head -n 1)
  page=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" || true)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$run_dir"
  case $exporter:$module in
    "$scratch/prefix/bin/ferry:$scratch/prefix/"*) ;;
    *) echo "install check: the installed ferryd's exporter is not the prefix's ferry with its module:" >&2
       cat "$scratch/ferryd.log" >&2; exit 1 ;;
  esac
  grep -q '^ferry_connections_accepted_total{' <<<"$page" ||
    { echo "install check: no ferry metrics at the installed ferryd's /metrics" >&2; exit 1; }
fi

# Every C++ block of the README and docs/ compiles against the installed package, and the
# shell blocks run as pasted, doing what they say (or say why they are not run).
(cd "$root/../.." && tests/docs/cpp_blocks.py "$scratch/prefix" README.md docs/*.md &&
  tests/docs/sh_blocks.py README.md docs/*.md)
